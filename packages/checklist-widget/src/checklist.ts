import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { styles } from './styles.js';
import { type ChecklistStrings, DEFAULT_STRINGS, fill, resolveText, SAFE_LINK } from './text.js';
import type { ChecklistAction, ChecklistItemView, ChecklistSource, ChecklistView } from './types.js';

export interface ChecklistEventDetail {
  checklistId: string;
}
export interface ItemEventDetail extends ChecklistEventDetail {
  itemId: string;
}
export interface ActionEventDetail extends ItemEventDetail {
  kind: 'launch' | 'recovery';
  action: ChecklistAction;
}
export interface CollapseEventDetail extends ChecklistEventDetail {
  collapsed: boolean;
}

declare global {
  interface GlobalEventHandlersEventMap {
    'keel-item-completed': CustomEvent<ItemEventDetail>;
    'keel-checklist-completed': CustomEvent<ChecklistEventDetail>;
    'keel-action': CustomEvent<ActionEventDetail>;
    'keel-collapse': CustomEvent<CollapseEventDetail>;
    'keel-dismiss': CustomEvent<ChecklistEventDetail>;
    'keel-show': CustomEvent<ChecklistEventDetail>;
  }
}

let uid = 0;

/**
 * A guided-setup checklist whose items complete themselves from what the user (or the whole
 * account) does. Give it a `source` (`Keel.init(...)`) and a `checklist-id`, or a static `view`.
 *
 * @tag keel-checklist
 * @summary Guided setup: progress, due days, launch and recovery actions.
 * @fires keel-item-completed - An item turned done while shown (engine-driven).
 * @fires keel-checklist-completed - The last item turned done.
 * @fires keel-action - The user activated an item's launch or recovery action; cancelable (the source's `act` is skipped).
 * @fires keel-collapse - Collapsed or expanded by the user.
 * @fires keel-dismiss - Dismissed by the user.
 * @fires keel-show - Shown again after a dismissal.
 * @csspart base - The card.
 * @csspart header - Title row with the collapse and dismiss buttons.
 * @csspart title - The checklist title.
 * @csspart progress - The progress bar (a `<progress>` element).
 * @csspart progress-label - "2 of 5 done", or "All done" with a check mark (a polite live region).
 * @csspart item - One item row.
 * @csspart item-title - An item's title.
 * @csspart action - A launch action button.
 * @csspart recovery - A recovery action button.
 * @csspart show - The "Show checklist" button shown after a dismissal.
 * @cssproperty --keel-color-accent - Progress, done marks, focus rings.
 * @cssproperty --keel-color-danger - Failed items, overdue labels, recovery actions.
 * @cssproperty --keel-color-text - Text colour.
 * @cssproperty --keel-color-surface - Card background.
 * @cssproperty --keel-radius - Corner radius.
 * @cssproperty --keel-font - Font.
 * @cssproperty --keel-space - Padding.
 * @cssproperty --keel-checklist-border - Card border colour.
 * @cssproperty --keel-checklist-track - Progress track colour.
 * @cssproperty --keel-checklist-surface - Card background (defaults to `--keel-color-surface`).
 * @cssproperty --keel-checklist-font - Font (defaults to `--keel-font`).
 * @cssproperty --keel-checklist-max-height - Tallest the card gets (default: the viewport less 16px); the items scroll inside.
 * @cssproperty --keel-checklist-muted - Secondary text: due days, descriptions, done items.
 * @cssproperty --keel-checklist-mark - The border of a pending item's state mark.
 */
export class KeelChecklist extends LitElement {
  static override styles = styles;
  static override properties = {
    checklistId: { type: String, attribute: 'checklist-id' },
    source: { attribute: false },
    view: { attribute: false },
    locale: { type: String },
    strings: { attribute: false },
    collapsed: { type: Boolean, reflect: true },
    dismissed: { type: Boolean, reflect: true },
  };

  // Reactive properties are declared, not initialised as class fields (fields would shadow
  // Lit's accessors under standard class-field semantics); defaults are set in the constructor.
  declare checklistId: string;
  declare source: ChecklistSource | undefined;
  declare view: ChecklistView | undefined;
  declare locale: string;
  declare strings: Partial<ChecklistStrings>;
  declare collapsed: boolean;
  declare dismissed: boolean;

  constructor() {
    super();
    this.checklistId = '';
    this.locale = '';
    this.strings = {};
    this.collapsed = false;
    this.dismissed = false;
  }

  private unsubscribe: (() => void) | undefined;
  private seen = new Map<string, ChecklistItemView['state']>();
  private justDone = new Set<string>();
  private readonly listId = `keel-checklist-${++uid}`;

  override connectedCallback(): void {
    super.connectedCallback();
    this.listen();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe?.();
    this.unsubscribe = this.subscribedTo = undefined;
  }

  /** The checklist whose UI state was restored and whose item states `seen` holds. */
  private tracking: string | undefined;

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('source') && this.isConnected) this.listen();
    const view = this.current();
    this.justDone.clear();
    if (!view) return;
    if (view.id !== this.tracking) {
      // A first render, or another checklist (checklist-id changed): nothing "turned" done, and
      // its own collapsed/dismissed state from an earlier visit applies.
      this.tracking = view.id;
      this.seen.clear();
      const st = this.source?.uiState?.(view.id);
      if (st?.collapsed !== undefined) this.collapsed = st.collapsed;
      if (st?.dismissed !== undefined) this.dismissed = st.dismissed;
    }
    // Items that turned done since the last render: animated, and announced to the host app.
    // An item that turned failed while the checklist is collapsed: it asks to reopen, to show the
    // recovery (an interruption, so the shared fatigue budget decides).
    const first = this.seen.size === 0;
    for (const item of view.items) {
      const before = this.seen.get(item.id);
      if (!first && before !== undefined && before !== 'done' && item.state === 'done') this.justDone.add(item.id);
      if (!first && before !== undefined && before !== 'failed' && item.state === 'failed' && this.collapsed && !this.dismissed) this.reopen(view.id, item.id);
      this.seen.set(item.id, item.state);
    }
  }

  private async reopen(checklistId: string, itemId: string) {
    if (!(await this.source?.interrupt?.(checklistId, itemId)) || !this.collapsed) return;
    this.collapsed = false;
    this.source?.setUiState?.(checklistId, { collapsed: false });
  }

  protected override updated(): void {
    const view = this.current();
    if (!view || !this.justDone.size) return;
    for (const itemId of this.justDone) this.emit('keel-item-completed', { checklistId: view.id, itemId });
    if (view.items.every((i) => i.state === 'done')) this.emit('keel-checklist-completed', { checklistId: view.id });
  }

  private subscribedTo: ChecklistSource | undefined;
  private listen() {
    if (this.unsubscribe && this.subscribedTo === this.source) return;
    this.unsubscribe?.();
    this.subscribedTo = this.source;
    this.unsubscribe = this.source?.subscribe(() => this.requestUpdate());
  }

  private current(): ChecklistView | undefined {
    return this.source?.checklist(this.checklistId) ?? this.view;
  }

  private get s(): ChecklistStrings {
    return { ...DEFAULT_STRINGS, ...this.strings };
  }

  private get resolvedLocale(): string {
    return this.locale || document.documentElement.lang || 'en';
  }

  private emit<K extends keyof GlobalEventHandlersEventMap>(
    type: K,
    detail: GlobalEventHandlersEventMap[K] extends CustomEvent<infer D> ? D : never,
    cancelable = false,
  ): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }

  private act(view: ChecklistView, item: ChecklistItemView, kind: 'launch' | 'recovery', action: ChecklistAction) {
    if (this.emit('keel-action', { checklistId: view.id, itemId: item.id, kind, action }, true)) {
      this.source?.act?.(view.id, item.id, kind, action);
    }
  }

  private toggle(view: ChecklistView) {
    this.collapsed = !this.collapsed;
    this.source?.setUiState?.(view.id, { collapsed: this.collapsed });
    this.emit('keel-collapse', { checklistId: view.id, collapsed: this.collapsed });
  }

  private async dismiss(view: ChecklistView) {
    this.dismissed = true;
    this.source?.setUiState?.(view.id, { dismissed: true });
    this.emit('keel-dismiss', { checklistId: view.id });
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('[part~="show"]')?.focus();
  }

  private async show(view: ChecklistView) {
    this.dismissed = false;
    this.source?.setUiState?.(view.id, { dismissed: false });
    this.emit('keel-show', { checklistId: view.id });
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('[part~="title"]')?.focus();
  }

  private renderItem(view: ChecklistView, item: ChecklistItemView): TemplateResult {
    const s = this.s;
    const t = (x: Parameters<typeof resolveText>[0]) => resolveText(x, this.resolvedLocale);
    const offered = item.state === 'failed' ? item.recovery : item.state === 'pending' ? item.launch : undefined;
    // A link the link rule refuses (sdk-core's SAFE_LINK) is never offered, not even to the host app's keel-action listener.
    const action = offered && (offered.recipe || offered.link === undefined || SAFE_LINK.test(offered.link)) ? offered : undefined;
    const kind = item.state === 'failed' && item.recovery ? 'recovery' : 'launch';
    const stateText = item.state === 'done' ? s.done : item.state === 'failed' ? s.failed : s.todo;
    return html`<li part="item" class="${item.state}${this.justDone.has(item.id) ? ' just-done' : ''}" data-item=${item.id}>
      <span class="mark" aria-hidden="true">${item.state === 'done' ? '✓' : item.state === 'failed' ? '!' : ''}</span>
      <div>
        <span part="item-title">${t(item.title)}</span><span class="visually-hidden">, ${stateText}</span>
        ${item.description ? html`<div class="meta">${t(item.description)}</div>` : nothing}
        ${
          item.dueDay !== undefined && item.state !== 'done'
            ? html`<div class="meta"><span>${fill(s.day, { n: item.dueDay })}</span>${item.overdue ? html`<span class="overdue">${s.overdue}</span>` : nothing}</div>`
            : nothing
        }
      </div>
      ${
        action
          ? html`<button type="button" part=${kind === 'recovery' ? 'recovery' : 'action'} @click=${() => this.act(view, item, kind, action)}>
            ${t(action.label) || (kind === 'recovery' ? 'Fix it' : 'Start')}<span class="visually-hidden">: ${t(item.title)}</span>
          </button>`
          : html`<span></span>`
      }
    </li>`;
  }

  protected override render(): TemplateResult | typeof nothing {
    const view = this.current();
    if (!view) return nothing;
    const s = this.s;
    const title = resolveText(view.title, this.resolvedLocale);
    if (this.dismissed) {
      return html`<button type="button" part="show" @click=${() => this.show(view)}>${s.show}: ${title}</button>`;
    }
    const total = view.items.length;
    const done = view.items.filter((i) => i.state === 'done').length;
    const complete = total > 0 && done === total;
    const label = complete ? s.completed : fill(s.progress, { done, total });
    return html`<section part="base" class=${complete ? 'completed' : ''} aria-labelledby="${this.listId}-title">
      <div part="header">
        <h2 part="title" id="${this.listId}-title" tabindex="-1">${title}</h2>
        <button type="button" class="icon-button" aria-expanded=${String(!this.collapsed)} aria-controls=${this.listId}
          aria-label=${this.collapsed ? s.expand : s.collapse} @click=${() => this.toggle(view)}>${this.collapsed ? '▸' : '▾'}</button>
        <button type="button" class="icon-button" aria-label=${s.dismiss} @click=${() => this.dismiss(view)}>✕</button>
      </div>
      <p part="progress-label" aria-live="polite">${complete ? html`<span class="seal" aria-hidden="true">✓</span>` : nothing}<span id="${this.listId}-progress">${label}</span></p>
      <progress part="progress" max=${total || 1} value=${done} aria-labelledby="${this.listId}-progress"></progress>
      <ol id=${this.listId} ?hidden=${this.collapsed}>${view.items.map((i) => this.renderItem(view, i))}</ol>
    </section>`;
  }
}
