/** Published config versions and their audit log. Versions are immutable once stored. */
export interface ConfigVersion {
  version: number;
  /** The document as JSON text, exactly as validated. */
  document: string;
  /** sha256 of `document`: the ETag. */
  hash: string;
  publishedAt: string;
  publishedBy: string;
  summary: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  detail: string;
}

/** An unpublished config a CS author previews in the product; expires, never served by default. */
export interface ConfigDraft {
  id: string;
  document: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
}

export interface ConfigStore {
  latest(): Promise<ConfigVersion | undefined>;
  saveDraft(d: ConfigDraft): Promise<void>;
  /** The draft, if it exists and has not expired. */
  draft(id: string, now?: number): Promise<ConfigDraft | undefined>;
  /** Stores a new version and its audit entry in one transaction. */
  publish(v: Omit<ConfigVersion, 'version'>): Promise<ConfigVersion>;
  versions(limit?: number): Promise<Omit<ConfigVersion, 'document'>[]>;
  audit(limit?: number): Promise<AuditEntry[]>;
}

export type ProgressKind = 'checklist' | 'recipe' | 'nudge';
export type ProgressScope = 'user' | 'tenant';
export type ProgressStateName = 'not_started' | 'started' | 'completed' | 'dismissed';

/** One piece of progress: a checklist item (`ref` = `checklist/item`), a recipe or a nudge. */
export interface ProgressEntry {
  scope: ProgressScope;
  kind: ProgressKind;
  ref: string;
  state: ProgressStateName;
  /** When the client observed this state (ISO). */
  updatedAt: string;
  completedAt?: string | null;
  /** Kind-specific: a recipe's `step`, a nudge's `shown`/`snoozedUntil`. */
  data?: Record<string, unknown> | null;
}

export interface ProgressStore {
  /** The user's own entries and the tenant-wide ones. */
  get(tenantId: string, userId: string): Promise<ProgressEntry[]>;
  /** Merges monotonically (see mergeProgress) and returns the merged state. */
  merge(tenantId: string, userId: string, entries: readonly ProgressEntry[]): Promise<ProgressEntry[]>;
}

/** Server-computed facts about a tenant, from its stored events. */
export interface TenantFacts {
  active_users_7d: number;
  active_users_30d: number;
  integrations_connected: number;
  datasets_ingested: number;
  events_7d: number;
}

export interface FactsStore {
  tenantFacts(tenantId: string, now?: number): Promise<TenantFacts>;
}

const RANK: Record<ProgressStateName, number> = { not_started: 0, started: 1, dismissed: 2, completed: 3 };

/**
 * Monotonic merge: a state never moves backwards (completed stays completed however late an
 * older device syncs); `completedAt` keeps the earliest; a recipe's step only advances; for equal
 * ranks the newer observation's data wins.
 */
export function mergeProgress(prev: ProgressEntry | undefined, incoming: ProgressEntry): ProgressEntry {
  // A completion without a time completed when it was observed.
  const norm = (e: ProgressEntry): ProgressEntry => (e.state === 'completed' && !e.completedAt ? { ...e, completedAt: e.updatedAt } : e);
  const next = norm(incoming);
  if (!prev) return next;
  const old = norm(prev);
  const newer = Date.parse(next.updatedAt) >= Date.parse(old.updatedAt);
  const state = RANK[next.state] > RANK[old.state] ? next.state : old.state;
  const completedAt = [old.completedAt, next.completedAt].filter((x): x is string => !!x).sort()[0] ?? null;
  let data = (newer ? { ...old.data, ...next.data } : { ...next.data, ...old.data }) as Record<string, unknown>;
  const oldStep = old.data?.step;
  const nextStep = next.data?.step;
  if (typeof oldStep === 'number' && typeof nextStep === 'number') data = { ...data, step: Math.max(oldStep, nextStep) };
  return {
    scope: old.scope, kind: old.kind, ref: old.ref, state,
    updatedAt: newer ? next.updatedAt : old.updatedAt,
    completedAt: state === 'completed' ? (completedAt ?? next.updatedAt) : completedAt,
    data: Object.keys(data).length ? data : null,
  };
}
