import { autoUpdate, computePosition, flip, hide, offset, shift, type Placement } from '@floating-ui/dom';
import { css, html, LitElement, nothing } from 'lit';
import { waitForAnchor } from './anchor.js';
import { renderMarkdown, safeHref } from './markdown.js';

export interface NudgeAction {
  label: string;
  event?: string;
  recipe?: string;
  link?: string;
  snooze?: string;
  dismiss?: true;
}

export type HideReason = 'escape' | 'action' | 'close' | 'anchor-removed' | 'disconnected';

declare global {
  interface GlobalEventHandlersEventMap {
    'keel-nudge-show': CustomEvent<{ nudgeId: string }>;
    'keel-nudge-shown': CustomEvent<{ nudgeId: string; anchor: string | null }>;
    'keel-nudge-hidden': CustomEvent<{ nudgeId: string; reason: HideReason }>;
    'keel-nudge-action': CustomEvent<{ nudgeId: string; action: NudgeAction }>;
    'keel-anchor-missing': CustomEvent<{ nudgeId: string; selectors: readonly string[]; waitedMs: number }>;
  }
}

const styles = css`
  :host { display: contents; }
  .panel {
    margin: 0; inset: auto; position: fixed; max-width: min(22rem, 92vw);
    font: var(--keel-font, inherit); color: var(--keel-color-text, #1f2328); background: var(--keel-color-surface, #fff);
    border: 1px solid #d0d7de; border-radius: var(--keel-radius, 8px); padding: var(--keel-space, 1rem);
    box-shadow: 0 8px 24px rgba(0, 0, 0, 0.18);
  }
  .panel.banner { inset: 0 0 auto 0; max-width: none; width: auto; border-radius: 0; }
  dialog.panel { inset: 0; margin: auto; }
  dialog::backdrop { background: rgba(0, 0, 0, 0.35); }
  h2 { font-size: 1rem; margin: 0 0 0.4rem; }
  .body :first-child { margin-top: 0; }
  .actions { display: flex; gap: 0.5rem; margin-top: 0.75rem; flex-wrap: wrap; }
  button, a.button {
    font: inherit; cursor: pointer; border-radius: calc(var(--keel-radius, 8px) / 2); padding: 0.3em 0.7em;
    border: 1px solid var(--keel-color-accent, #0969da); background: var(--keel-color-accent, #0969da); color: #fff; text-decoration: none;
  }
  button.secondary { background: transparent; color: var(--keel-color-accent, #0969da); }
  .close { position: absolute; top: 0.25rem; right: 0.25rem; background: transparent; color: inherit; border: none; }
  button:focus-visible, a:focus-visible, h2:focus-visible { outline: 2px solid var(--keel-color-accent, #0969da); outline-offset: 2px; }
  @media (prefers-reduced-motion: no-preference) { .panel { transition: opacity 120ms ease; } }
`;

/**
 * CS-authored guidance anchored to the product: a tooltip pointing at an element, a modal or a
 * banner, rendered in the top layer (popover API or `<dialog>`), so host z-index and stacking
 * contexts can't hide it. The anchor is a contract: ranked selectors, open shadow roots, a
 * bounded wait, and `keel-anchor-missing` instead of a tooltip pointing at nothing.
 *
 * @summary Anchored nudges that never point at nothing.
 * @fires keel-nudge-show - Before showing; cancelable.
 * @fires keel-nudge-shown - Shown (the engine tracks `nudge.sent`).
 * @fires keel-nudge-action - An action was chosen (the engine tracks `nudge.acted`, snoozes, opens recipes).
 * @fires keel-nudge-hidden - Closed, with the reason.
 * @fires keel-anchor-missing - The anchor never appeared; the nudge was skipped.
 * @csspart panel - The nudge.
 */
export class KeelNudge extends LitElement {
  static override styles = styles;
  static override properties = {
    nudgeId: { type: String, attribute: 'nudge-id' },
    kind: { type: String, reflect: true },
    anchor: { attribute: false },
    placement: { type: String },
    heading: { type: String },
    body: { type: String },
    actions: { attribute: false },
    anchorTimeout: { type: Number, attribute: 'anchor-timeout' },
    open: { type: Boolean, reflect: true },
  };

  declare nudgeId: string;
  declare kind: 'tooltip' | 'modal' | 'banner';
  declare anchor: string | readonly string[] | undefined;
  declare placement: Placement;
  declare heading: string;
  /** CS-authored text in the safe markdown subset; never parsed as HTML. */
  declare body: string;
  declare actions: readonly NudgeAction[];
  declare anchorTimeout: number;
  declare open: boolean;
  private cleanup: (() => void) | undefined;
  private returnFocus: HTMLElement | undefined;

  constructor() {
    super();
    this.nudgeId = '';
    this.kind = 'tooltip';
    this.placement = 'bottom';
    this.heading = '';
    this.body = '';
    this.actions = [];
    this.anchorTimeout = 5000;
    this.open = false;
  }

  private emit<K extends keyof GlobalEventHandlersEventMap>(type: K, detail: GlobalEventHandlersEventMap[K] extends CustomEvent<infer D> ? D : never, cancelable = false) {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }

  private get panel(): HTMLElement {
    return this.renderRoot.querySelector<HTMLElement>('.panel')!;
  }

  /** Shows the nudge; resolves false when it was prevented or its anchor never appeared. */
  async show(): Promise<boolean> {
    if (this.open) return true;
    if (!this.emit('keel-nudge-show', { nudgeId: this.nudgeId }, true)) return false;
    let anchorEl: Element | undefined;
    let selector: string | null = null;
    if (this.kind === 'tooltip') {
      const selectors = this.anchor ?? [];
      const r = await waitForAnchor(selectors, { timeoutMs: this.anchorTimeout });
      if (!r.ok) {
        this.emit('keel-anchor-missing', { nudgeId: this.nudgeId, selectors: r.selectors, waitedMs: r.waitedMs });
        return false;
      }
      anchorEl = r.element;
      selector = r.selector;
    }
    await this.updateComplete;
    this.returnFocus = deepActive();
    const panel = this.panel;
    if (panel instanceof HTMLDialogElement) panel.showModal(); // the page behind becomes inert
    else panel.showPopover();
    this.open = true;
    if (anchorEl) this.follow(anchorEl, panel);
    this.renderRoot.querySelector<HTMLElement>('h2')?.focus();
    this.emit('keel-nudge-shown', { nudgeId: this.nudgeId, anchor: selector });
    return true;
  }

  /** Keeps the tooltip attached (scroll, resize, layout); hides it while the anchor is scrolled out of view. */
  private follow(anchorEl: Element, panel: HTMLElement) {
    this.cleanup = autoUpdate(anchorEl, panel, () => {
      if (!anchorEl.isConnected) return void this.hide('anchor-removed');
      void computePosition(anchorEl, panel, {
        strategy: 'fixed', placement: this.placement, middleware: [offset(8), flip(), shift({ padding: 8 }), hide()],
      }).then(({ x, y, middlewareData }) => {
        Object.assign(panel.style, { left: `${x}px`, top: `${y}px`, visibility: middlewareData.hide?.referenceHidden ? 'hidden' : 'visible' });
      });
    });
  }

  hide(reason: HideReason = 'close'): void {
    if (!this.open) return;
    this.open = false;
    this.cleanup?.();
    this.cleanup = undefined;
    const panel = this.panel;
    if (panel instanceof HTMLDialogElement) {
      if (panel.open) panel.close();
    } else if (panel.matches(':popover-open')) panel.hidePopover();
    this.emit('keel-nudge-hidden', { nudgeId: this.nudgeId, reason });
    if (reason !== 'disconnected' && this.returnFocus?.isConnected) this.returnFocus.focus(); // focus returns where it was
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.hide('disconnected');
  }

  private act(action: NudgeAction) {
    this.emit('keel-nudge-action', { nudgeId: this.nudgeId, action });
    this.hide('action');
  }

  protected override updated(): void {
    // Content is built as DOM nodes from the safe subset: never innerHTML of a config string.
    const target = this.renderRoot.querySelector('.body');
    if (target && target.getAttribute('data-src') !== this.body) {
      target.replaceChildren(renderMarkdown(this.body, this.ownerDocument));
      target.setAttribute('data-src', this.body);
    }
  }

  private onToggle(e: ToggleEvent) {
    if (e.newState === 'closed' && this.open) this.hide('escape'); // light dismiss or Escape
  }

  protected override render() {
    const id = `keel-nudge-${this.nudgeId || 'x'}`;
    const content = html`
      <button type="button" class="close" aria-label="Close" @click=${() => this.hide('close')}>✕</button>
      ${this.heading ? html`<h2 id="${id}-title" tabindex="-1">${this.heading}</h2>` : nothing}
      <div class="body"></div>
      ${this.actions.length
        ? html`<div class="actions">${this.actions.map((a, i) => {
            const href = a.link ? safeHref(a.link) : undefined;
            return href
              ? html`<a class="button" href=${href} rel="noopener noreferrer" @click=${() => this.act(a)}>${a.label}</a>`
              : html`<button type="button" class=${i ? 'secondary' : ''} @click=${() => this.act(a)}>${a.label}</button>`;
          })}</div>`
        : nothing}`;
    if (this.kind === 'modal') {
      return html`<dialog part="panel" class="panel" aria-labelledby="${id}-title" @cancel=${(e: Event) => { e.preventDefault(); this.hide('escape'); }}>${content}</dialog>`;
    }
    return html`<div part="panel" class="panel ${this.kind}" popover="auto" role=${this.kind === 'banner' ? 'region' : 'dialog'}
      aria-labelledby="${id}-title" @toggle=${(e: ToggleEvent) => this.onToggle(e)}>${content}</div>`;
  }
}

/** The focused element, through open shadow roots. */
function deepActive(): HTMLElement | undefined {
  let a: Element | null = document.activeElement;
  while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
  return a instanceof HTMLElement && a !== document.body ? a : undefined;
}
