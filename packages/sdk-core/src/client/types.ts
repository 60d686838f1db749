import type { Rule } from '../rules/types.js';

/** Human text: a string or a per-locale map (`{ en: 'Connect SSO', fr: 'Connecter le SSO' }`). */
export type Text = string | Readonly<Record<string, string>>;

export interface ItemAction { label?: Text; recipe?: string; link?: string }

/** The parts of a published config the browser client reads (validated server-side). */
export interface ClientChecklistItem {
  id: string;
  title: Text;
  description?: Text;
  due?: { day: number };
  scope?: 'user' | 'tenant';
  complete: Rule;
  failed?: Rule;
  recovery?: ItemAction;
  launch?: ItemAction;
}
export interface ClientChecklist { id: string; title: Text; audience?: Rule; items: readonly ClientChecklistItem[] }
export interface ClientConfig { version?: number; product?: string; checklists?: readonly ClientChecklist[]; [section: string]: unknown }

export interface ChecklistItemView {
  id: string;
  title: Text;
  description?: Text;
  state: 'done' | 'pending' | 'failed';
  dueDay?: number;
  overdue?: boolean;
  scope?: 'user' | 'tenant';
  launch?: ItemAction;
  recovery?: ItemAction;
}
export interface ChecklistView { id: string; title: Text; items: ChecklistItemView[] }

/** What `<keel-checklist>` reads from and reports to. */
export interface ChecklistSource {
  checklist(id: string): ChecklistView | undefined;
  subscribe(listener: () => void): () => void;
  act?(checklistId: string, itemId: string, kind: 'launch' | 'recovery', action: ItemAction): void;
  /** UI state that should survive a reload (collapsed, dismissed), kept per browser. */
  uiState?(checklistId: string): { collapsed?: boolean; dismissed?: boolean } | undefined;
  setUiState?(checklistId: string, state: { collapsed?: boolean; dismissed?: boolean }): void;
}

export interface ProgressEntry {
  scope: 'user' | 'tenant';
  kind: 'checklist' | 'recipe' | 'nudge';
  ref: string;
  state: 'not_started' | 'started' | 'completed' | 'dismissed';
  updatedAt: string;
  completedAt?: string | null;
  data?: Record<string, unknown> | null;
}
