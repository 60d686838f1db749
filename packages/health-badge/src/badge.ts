import { autoUpdate, computePosition, flip, offset, shift } from '@floating-ui/dom';
import { html, LitElement, nothing, type PropertyValues, svg } from 'lit';
import { hidden, styles } from './styles.js';
import type { HealthReportView } from './types.js';

const BAND_TEXT = { healthy: 'Healthy', watch: 'Watch', 'at-risk': 'At risk' } as const;
let uid = 0;

declare global {
  interface GlobalEventHandlersEventMap {
    /** No detail: `report` on the element has what is shown. */
    'keel-health-open': CustomEvent<null>;
  }
}

/**
 * A tenant's health for its admins: score, band (text and colour), trend; activating it opens a
 * popover with the components, their reasons, what would move the score, and a 30-day sparkline.
 *
 * @tag keel-health-badge
 * @summary Transparent account health for customer admins.
 * @fires keel-health-open - The popover opened.
 * @csspart badge - The button.
 * @csspart popover - The details popover (in the top layer).
 * @cssproperty --keel-health-healthy - Colour of the healthy band.
 * @cssproperty --keel-health-watch - Colour of the watch band.
 * @cssproperty --keel-health-at-risk - Colour of the at-risk band.
 */
export class KeelHealthBadge extends LitElement {
  static override styles = [styles, hidden];
  static override properties = {
    tenant: { type: String },
    host: { type: String },
    token: { attribute: false },
    report: { attribute: false },
    error: { state: true },
    open: { type: Boolean, reflect: true },
  };

  declare tenant: string;
  declare host: string;
  /** A user token with the admin role for this tenant. */
  declare token: string;
  declare report: HealthReportView | undefined;
  declare private error: string | undefined;
  declare open: boolean;
  private readonly pid = `keel-health-${++uid}`;
  private cleanup: (() => void) | undefined;

  constructor() {
    super();
    this.tenant = '';
    this.host = '';
    this.token = '';
    this.open = false;
  }

  /** Loads the report once host and tenant are known, and again when they (or the token) change. */
  protected override updated(changed: PropertyValues<this>): void {
    if ((changed.has('host') || changed.has('tenant') || changed.has('token')) && this.host && this.tenant) void this.refresh();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.cleanup?.();
    this.cleanup = undefined;
  }

  /** Fetches the report again. */
  async refresh(): Promise<void> {
    try {
      const res = await fetch(`${this.host.replace(/\/+$/, '')}/v1/tenants/${encodeURIComponent(this.tenant)}/health`, {
        headers: { authorization: `Bearer ${this.token}` },
        credentials: 'omit',
      });
      const body = (await res.json()) as HealthReportView & { message?: string };
      if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
      this.report = body;
      this.error = undefined;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  private get panel() {
    return this.renderRoot.querySelector<HTMLElement>(`#${this.pid}`);
  }

  private async toggle() {
    const pop = this.panel;
    if (!pop) return;
    if (this.open) return pop.hidePopover();
    pop.showPopover();
  }

  private async onToggle(e: ToggleEvent) {
    const pop = e.target as HTMLElement;
    const button = this.renderRoot.querySelector<HTMLButtonElement>('[part~="badge"]')!;
    if (e.newState === 'open') {
      this.open = true;
      // Positioned after render; kept attached while the page scrolls or resizes.
      this.cleanup = autoUpdate(button, pop, () => {
        void computePosition(button, pop, {
          strategy: 'fixed',
          placement: 'bottom-start',
          middleware: [offset(6), flip(), shift({ padding: 8, crossAxis: true })],
        }).then(({ x, y }) => Object.assign(pop.style, { left: `${x}px`, top: `${y}px` }));
      });
      this.dispatchEvent(new CustomEvent('keel-health-open', { bubbles: true, composed: true }));
      await this.updateComplete;
      pop.querySelector<HTMLElement>('h2')?.focus();
    } else {
      this.open = false;
      this.cleanup?.();
      this.cleanup = undefined;
      button.focus(); // focus returns where it was
    }
  }

  private sparkline(r: HealthReportView) {
    const h = r.trend.history;
    if (h.length < 2) return nothing;
    const pts = h.map((p, i) => `${(i / (h.length - 1)) * 100},${40 - (p.score / 100) * 40}`).join(' ');
    return html`<svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="Score over the last ${h.length} days">${svg`<polyline points=${pts}></polyline>`}</svg>`;
  }

  protected override render() {
    if (this.error) return html`<span role="status" class="muted">Health unavailable: ${this.error}</span>`;
    const r = this.report;
    if (!r) return html`<span role="status" class="muted">Loading health…</span>`;
    const w = r.words;
    const wow = r.trend.wow;
    const arrow = !wow || wow.points === 0 ? '→' : wow.points > 0 ? '▲' : '▼';
    return html`
      <button type="button" part="badge" class=${r.band} aria-haspopup="dialog" aria-expanded=${String(this.open)} aria-controls=${this.pid} @click=${() => this.toggle()}>
        <span class="dot" aria-hidden="true"></span>
        <span class="score">Health ${Math.round(r.score)}</span>
        <span>${BAND_TEXT[r.band]}</span>
        <span aria-hidden="true">${arrow}</span>${w ? html`<span class="visually-hidden">${w.trend}</span>` : nothing}
        <span class="score">${wow ? `${wow.points > 0 ? '+' : ''}${wow.points}` : ''}</span>
      </button>
      <div part="popover" id=${this.pid} popover="auto" role="dialog" aria-labelledby="${this.pid}-title" @toggle=${(e: ToggleEvent) => this.onToggle(e)}>
        <h2 id="${this.pid}-title" tabindex="-1">${w?.headline ?? `Account health ${Math.round(r.score)}`}</h2>
        ${
          w
            ? html`<p class="muted">${w.trend} ${w.coverage}</p>
              ${this.sparkline(r)}
              <ul class="components">
                ${w.components.map(
                  (c) => html`<li>
                    <div class="row"><span class="label">${c.label}</span> <span class="value">${c.value}</span></div>
                    <p>${c.summary} <span class="muted">${c.points}</span></p>
                  </li>`,
                )}
              </ul>
              ${w.moves.length ? html`<h3>What would raise it</h3><ul>${w.moves.slice(0, 4).map((m) => html`<li>${m}</li>`)}</ul>` : nothing}`
            : nothing
        }
        <button type="button" class="close" @click=${() => this.panel?.hidePopover()}>Close</button>
      </div>`;
  }
}
