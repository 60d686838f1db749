import type { Placement } from '@floating-ui/dom';
import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { waitForAnchor } from './anchor.js';
import { renderMarkdown, safeHref } from './markdown.js';
import { panelStyles } from './styles.js';
import { attach, close, deepActive, open } from './surface.js';

/** A button of a nudge; what it does is up to the engine (or the host app listening to `keel-nudge-action`). */
export interface NudgeAction {
  label: string;
  event?: string;
  recipe?: string;
  link?: string;
  snooze?: string;
  dismiss?: true;
}

export type NudgeKind = 'tooltip' | 'hotspot' | 'modal' | 'banner';
/** `outside`: a click elsewhere closed a tooltip (light dismiss). */
export type HideReason = 'escape' | 'action' | 'close' | 'outside' | 'anchor-removed' | 'replaced' | 'disconnected';

export interface NudgeEventDetail {
  nudgeId: string;
}

declare global {
  interface GlobalEventHandlersEventMap {
    'keel-nudge-show': CustomEvent<NudgeEventDetail>;
    'keel-nudge-shown': CustomEvent<NudgeEventDetail & { anchor: string | null }>;
    'keel-nudge-hidden': CustomEvent<NudgeEventDetail & { reason: HideReason }>;
    'keel-nudge-action': CustomEvent<NudgeEventDetail & { action: NudgeAction }>;
    'keel-anchor-missing': CustomEvent<NudgeEventDetail & { selectors: readonly string[]; waitedMs: number }>;
  }
}

const hotspotStyles = css`
  .beacon {
    margin: 0; inset: auto; position: fixed; width: 1.5rem; height: 1.5rem; padding: 0; border-radius: 50%; overflow: visible;
    border: 2px solid var(--keel-color-surface, #fff); background: var(--keel-color-accent, #0969da);
    box-shadow: 0 0 0 1px var(--keel-color-accent, #0969da); color: var(--keel-color-on-accent, #fff); font-weight: 700; line-height: 1;
  }
  @media (prefers-reduced-motion: no-preference) {
    .beacon::after {
      content: ''; position: absolute; inset: -6px; border-radius: 50%; border: 2px solid var(--keel-color-accent, #0969da);
      animation: keel-pulse 1.6s ease-out infinite; pointer-events: none;
    }
  }
  @keyframes keel-pulse { from { opacity: 0.8; transform: scale(0.7); } to { opacity: 0; transform: scale(1.4); } }
`;

let uid = 0;

/**
 * Resolves true the next time focus moves anywhere in the page (or the tab is hidden or shown),
 * false when `signal` aborts first.
 */
function focusMoves(signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const types = ['focusin', 'focusout', 'visibilitychange'];
    const done = (moved: boolean) => {
      for (const t of types) document.removeEventListener(t, onMove, true);
      signal.removeEventListener('abort', onAbort);
      resolve(moved);
    };
    // After the event: by then focus has settled where it went.
    const onMove = () => setTimeout(() => done(!signal.aborted), 0);
    const onAbort = () => done(false);
    for (const t of types) document.addEventListener(t, onMove, true);
    signal.addEventListener('abort', onAbort);
  });
}

/**
 * CS-authored guidance anchored to the product: a tooltip pointing at an element, a hotspot (a
 * beacon the user opens), a modal or a banner, rendered in the top layer (popover API or
 * `<dialog>`) so host z-index and stacking contexts can't hide it. The anchor is a contract:
 * ranked selectors, open shadow roots, a bounded wait, and `keel-anchor-missing` instead of a
 * tooltip pointing at nothing. Content is the safe markdown subset, built as DOM nodes.
 *
 * @tag keel-nudge
 * @summary Anchored nudges that never point at nothing.
 * @fires keel-nudge-show - Before showing; cancelable (the host app can veto it).
 * @fires keel-nudge-shown - On screen (for a hotspot: when the user opened it).
 * @fires keel-nudge-action - An action was chosen; cancelable: a cancelled link action does not navigate (the engine opens it).
 * @fires keel-nudge-hidden - Closed, with the reason.
 * @fires keel-anchor-missing - The anchor never appeared; the nudge was skipped.
 * @csspart panel - The nudge.
 * @csspart beacon - A hotspot's beacon.
 * @csspart actions - The row of action buttons.
 * @cssproperty --keel-nudge-surface - Panel background.
 * @cssproperty --keel-nudge-border - Panel border colour.
 * @cssproperty --keel-nudge-shadow - Panel shadow.
 * @cssproperty --keel-nudge-backdrop - Behind a modal.
 */
export class KeelNudge extends LitElement {
  static override styles = [panelStyles, hotspotStyles];
  static override properties = {
    nudgeId: { type: String, attribute: 'nudge-id', reflect: true },
    kind: { type: String, reflect: true },
    anchor: {},
    placement: { type: String },
    heading: { type: String },
    body: { type: String },
    actions: { attribute: false },
    anchorTimeout: { type: Number, attribute: 'anchor-timeout' },
    closeLabel: { type: String, attribute: 'close-label' },
    beaconLabel: { type: String, attribute: 'beacon-label' },
    open: { type: Boolean, reflect: true },
    deferWhile: { attribute: false },
  };

  declare nudgeId: string;
  declare kind: NudgeKind;
  /**
   * Ranked CSS selectors; the first that matches (open shadow roots included) is the anchor. The
   * `anchor` attribute takes one selector; the property also takes a ranked list.
   */
  declare anchor: string | readonly string[] | undefined;
  declare placement: Placement;
  declare heading: string;
  /** CS-authored text in the safe markdown subset; never parsed as HTML. */
  declare body: string;
  declare actions: readonly NudgeAction[];
  /** How long (ms) to wait for the anchor to appear. */
  declare anchorTimeout: number;
  declare closeLabel: string;
  /** The hotspot beacon's accessible name; default "Tip: <heading>". */
  declare beaconLabel: string;
  /** True while the panel is on screen (a hotspot's beacon alone is not "open"). */
  declare open: boolean;
  /**
   * While this returns a reason (say, the text field the user is typing in), a tooltip, modal or
   * banner waits to open, and looks again each time focus moves. The engine's UI sets it.
   */
  declare deferWhile: (() => string | undefined) | undefined;

  private readonly pid = `keel-nudge-${++uid}`;
  private stopPanel: (() => void) | undefined;
  private stopBeacon: (() => void) | undefined;
  private anchorEl: Element | undefined;
  private returnFocus: HTMLElement | undefined;
  private escaping = false;
  private showing: Promise<boolean> | undefined;
  /** A show() not finished yet: waiting for the anchor, or for the user to stop typing. */
  private pending = false;
  /** What `open` is as far as this element knows; a different value was set from outside. */
  private selfOpen = false;
  private abort: AbortController | undefined;

  constructor() {
    super();
    this.nudgeId = '';
    this.kind = 'tooltip';
    this.placement = 'bottom';
    this.heading = '';
    this.body = '';
    this.actions = [];
    this.anchorTimeout = 5000;
    this.closeLabel = 'Close';
    this.beaconLabel = '';
    this.open = false;
  }

  private emit<K extends keyof GlobalEventHandlersEventMap>(
    type: K,
    detail: GlobalEventHandlersEventMap[K] extends CustomEvent<infer D> ? D : never,
    cancelable = false,
  ): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }

  private get panel(): HTMLElement {
    return this.renderRoot.querySelector<HTMLElement>('.panel')!;
  }

  private get beacon(): HTMLElement | null {
    return this.renderRoot.querySelector<HTMLElement>('.beacon');
  }

  private get anchored(): boolean {
    return this.kind === 'tooltip' || this.kind === 'hotspot';
  }

  /**
   * Shows the nudge (a hotspot: its beacon); resolves false when the host app prevented it or its
   * anchor never appeared (then `keel-anchor-missing` has fired).
   */
  show(): Promise<boolean> {
    this.showing ??= this.doShow().finally(() => (this.showing = undefined));
    return this.showing;
  }

  private async doShow(): Promise<boolean> {
    if (this.open || this.stopBeacon) return true;
    if (!this.emit('keel-nudge-show', { nudgeId: this.nudgeId }, true)) return false;
    this.pending = true;
    const signal = (this.abort = new AbortController()).signal;
    const fail = () => ((this.pending = false), false);
    let selector: string | null = null;
    for (;;) {
      if (this.anchored) {
        const r = await waitForAnchor(this.anchor ?? [], { timeoutMs: this.anchorTimeout, signal });
        if (signal.aborted) return fail(); // hidden or removed while waiting
        if (!r.ok) {
          fail();
          this.emit('keel-anchor-missing', { nudgeId: this.nudgeId, selectors: r.selectors, waitedMs: r.waitedMs });
          return false;
        }
        this.anchorEl = r.element;
        selector = r.selector;
      }
      // Never over a text field the user is typing in: wait for focus to move, then look again
      // (the anchor too: the page may have changed meanwhile).
      if (this.kind === 'hotspot' || !this.deferWhile?.()) break;
      if (!(await focusMoves(signal))) return fail();
    }
    await this.updateComplete;
    if (signal.aborted || !this.isConnected) return fail();
    this.pending = false;
    if (this.kind === 'hotspot') {
      const beacon = this.beacon!;
      open(beacon);
      this.stopBeacon = attach(this.anchorEl!, beacon, { placement: 'right-start', gap: 4, onRemoved: () => this.hide('anchor-removed') });
      return true;
    }
    this.openPanel(selector);
    return true;
  }

  private setOpen(open: boolean) {
    this.open = this.selfOpen = open;
  }

  private openPanel(selector: string | null) {
    this.returnFocus = deepActive();
    const panel = this.panel;
    open(panel); // a <dialog> opens modal: the page behind becomes inert
    this.setOpen(true);
    if (this.anchorEl) {
      this.stopPanel = attach(this.anchorEl, panel, {
        placement: this.placement,
        arrow: panel.querySelector<HTMLElement>('.arrow'),
        onRemoved: () => this.hide('anchor-removed'),
      });
    }
    this.renderRoot.querySelector<HTMLElement>('h2, .body, .actions > *')?.focus({ preventScroll: true });
    this.emit('keel-nudge-shown', { nudgeId: this.nudgeId, anchor: selector });
  }

  /** Closes the panel (a hotspot's too, and its beacon unless `keepBeacon`). */
  hide(reason: HideReason = 'close', { keepBeacon = false } = {}): void {
    // A show still pending (waiting for the anchor, or for the user to stop typing) ends here.
    const pending = this.pending;
    this.pending = false;
    this.abort?.abort();
    const hadFocus = !!this.renderRoot.querySelector(':focus');
    const beacon = !keepBeacon && !!this.stopBeacon;
    if (!keepBeacon) {
      this.stopBeacon?.();
      this.stopBeacon = undefined;
      close(this.beacon);
    }
    if (!this.open) {
      // A hotspot's beacon gone with its anchor, or a nudge removed before it showed: said too.
      if ((beacon && reason !== 'replaced') || (pending && reason === 'disconnected')) this.emit('keel-nudge-hidden', { nudgeId: this.nudgeId, reason });
      // A keyboard user on a beacon that goes (its tip capped once closed) lands on what it pointed at, not on <body>.
      if (hadFocus && beacon && reason !== 'disconnected') this.refocus(this.anchorEl);
      return;
    }
    this.setOpen(false);
    this.stopPanel?.();
    this.stopPanel = undefined;
    close(this.panel);
    this.emit('keel-nudge-hidden', { nudgeId: this.nudgeId, reason });
    // Focus returns where it was (for a hotspot: to its beacon, when it is still there; else to its anchor).
    if (reason !== 'disconnected' && reason !== 'outside') this.refocus(this.stopBeacon ? this.beacon : this.returnFocus, this.anchorEl);
  }

  /** Focuses the first of these that takes focus (a closed beacon, or an element gone or not focusable, doesn't). */
  private refocus(...to: (Element | null | undefined)[]): void {
    for (const el of to) {
      if (!el?.isConnected || !('focus' in el)) continue;
      (el as HTMLElement).focus({ preventScroll: true });
      if (deepActive() === el) return;
    }
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    // `open` set from outside (`<keel-nudge open>` in markup, a framework binding): show or hide.
    if (changed.has('open') && this.open !== this.selfOpen) {
      const want = this.open;
      this.open = this.selfOpen;
      if (want) void this.show();
      else this.hide('close');
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.hide('disconnected');
  }

  private act(action: NudgeAction, e: Event) {
    if (!this.emit('keel-nudge-action', { nudgeId: this.nudgeId, action }, true)) e.preventDefault();
    this.hide('action');
  }

  protected override updated(changed: PropertyValues<this>): void {
    // Content is built as DOM nodes from the safe subset: never innerHTML of a config string.
    const target = this.renderRoot.querySelector('.body');
    if (target && (changed.has('body') || !target.hasChildNodes())) target.replaceChildren(renderMarkdown(this.body, this.ownerDocument));
  }

  private onKeydown(e: KeyboardEvent) {
    if (e.key === 'Escape') this.escaping = true;
  }

  private onToggle(e: ToggleEvent) {
    // A hotspot's panel is opened by its beacon (popovertarget): the user asked for it.
    if (e.newState === 'open' && !this.open && this.kind === 'hotspot' && this.stopBeacon) return this.openPanel(null);
    if (e.newState !== 'closed' || !this.open) return;
    // The popover closed itself: Escape, or a click elsewhere (light dismiss).
    const reason = this.escaping ? 'escape' : 'outside';
    this.escaping = false;
    this.hide(reason, { keepBeacon: true });
  }

  private renderActions(): TemplateResult | typeof nothing {
    if (!this.actions.length) return nothing;
    return html`<div class="actions" part="actions">${this.actions.map((a, i) => {
      const href = a.link ? safeHref(a.link) : undefined;
      return href
        ? html`<a class="button" href=${href} rel="noopener noreferrer" @click=${(e: Event) => this.act(a, e)}>${a.label}</a>`
        : html`<button type="button" class=${i ? 'secondary' : ''} @click=${(e: Event) => this.act(a, e)}>${a.label}</button>`;
    })}</div>`;
  }

  protected override render(): TemplateResult {
    const id = this.pid;
    const labelled = this.heading ? `${id}-title` : nothing;
    const content = html`
      ${this.anchored ? html`<div class="arrow" aria-hidden="true"></div>` : nothing}
      <button type="button" class="close" aria-label=${this.closeLabel} @click=${() => this.hide('close', { keepBeacon: true })}>✕</button>
      <div class="scroll">${this.heading ? html`<h2 id="${id}-title" tabindex="-1">${this.heading}</h2>` : nothing}
      <div class="body" id="${id}-body" tabindex=${this.heading ? nothing : '-1'}></div></div>
      ${this.renderActions()}`;
    if (this.kind === 'modal') {
      return html`<dialog part="panel" class="panel" aria-label=${this.heading ? nothing : 'Tip'} aria-labelledby=${labelled} aria-describedby="${id}-body"
        @cancel=${(e: Event) => {
          e.preventDefault();
          this.hide('escape');
        }}>${content}</dialog>`;
    }
    const panel = html`<div part="panel" class="panel ${this.kind}" id="${id}-panel" popover=${this.kind === 'banner' ? 'manual' : 'auto'}
      role=${this.kind === 'banner' ? 'region' : 'dialog'} aria-label=${this.heading ? nothing : 'Tip'} aria-labelledby=${labelled} aria-describedby="${id}-body"
      @keydown=${(e: KeyboardEvent) => this.onKeydown(e)} @toggle=${(e: ToggleEvent) => this.onToggle(e)}
      @keyup=${(e: KeyboardEvent) => {
        if (this.kind === 'banner' && e.key === 'Escape') this.hide('escape');
      }}>${content}</div>`;
    if (this.kind !== 'hotspot') return panel;
    return html`<button part="beacon" class="beacon" popover="manual" type="button" popovertarget="${id}-panel" aria-haspopup="dialog"
      aria-expanded=${String(this.open)} aria-controls="${id}-panel" aria-label=${this.beaconLabel || `Tip: ${this.heading || 'open'}`}>?</button>${panel}`;
  }
}
