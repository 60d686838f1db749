import { html, LitElement, nothing, type PropertyValues } from 'lit';
import { hidden, styles } from './styles.js';

export interface StatusView {
  components: { id: string; name: string | Record<string, string>; status: 'operational' | 'degraded' | 'outage' }[];
  incidents: { id: string; title: string; state: string; impact: string; components: string[]; message: string; updatedAt: string }[];
  integrations: { integration: string; state: string; at: string }[];
  overall: 'operational' | 'degraded' | 'outage';
}

declare global {
  interface GlobalEventHandlersEventMap {
    'keel-status-change': CustomEvent<StatusView>;
  }
}

const LABEL = { operational: 'Operational', degraded: 'Degraded', outage: 'Outage' } as const;
const text = (t: string | Record<string, string>) => (typeof t === 'string' ? t : (t.en ?? Object.values(t)[0] ?? ''));

/** One sentence a screen reader can announce: what is wrong, or that all is well. */
export function summarise(s: StatusView): string {
  if (s.overall === 'operational') return 'All systems operational.';
  const parts = [
    ...s.components.filter((c) => c.status !== 'operational').map((c) => `${text(c.name)}: ${LABEL[c.status].toLowerCase()}`),
    ...s.incidents.map((i) => `incident "${i.title}" (${i.state})`),
    ...s.integrations.filter((i) => i.state !== 'connected').map((i) => `your ${i.integration} integration: ${i.state}`),
  ];
  return `${LABEL[s.overall]}: ${parts.join('; ')}.`;
}

/**
 * The vendor's components and incidents that affect this tenant, and the tenant's own
 * integrations, polled with ETag; changes are announced politely; a small indicator when all is well.
 *
 * @tag keel-status
 * @summary Service and integration status, in the product.
 * @fires keel-status-change - The status changed (detail: the new StatusView).
 * @csspart indicator - The all-is-well indicator.
 * @csspart panel - The details shown when something is wrong.
 */
export class KeelStatus extends LitElement {
  static override styles = [styles, hidden];
  static override properties = {
    host: { type: String },
    token: { attribute: false },
    interval: { type: Number },
    status: { attribute: false },
    announcement: { state: true },
    error: { state: true },
  };

  declare host: string;
  declare token: string;
  /** Poll interval in ms (default 60 s). */
  declare interval: number;
  declare status: StatusView | undefined;
  declare private announcement: string;
  declare private error: string | undefined;
  private etag: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Requests made and how many were answered 304 (for tests and diagnostics). */
  readonly polls = { requests: 0, notModified: 0 };

  constructor() {
    super();
    this.host = '';
    this.token = '';
    this.interval = 60_000;
    this.announcement = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.host && this.hasUpdated) void this.poll(); // reconnected: resume polling
  }

  /** Polls once the host is known, and again at once when the host or token change. */
  protected override updated(changed: PropertyValues<this>): void {
    if ((changed.has('host') || changed.has('token')) && this.host) void this.poll();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Polls now (and schedules the next poll). */
  async poll(): Promise<void> {
    clearTimeout(this.timer);
    try {
      this.polls.requests++;
      const res = await fetch(`${this.host.replace(/\/+$/, '')}/v1/status`, {
        headers: { authorization: `Bearer ${this.token}`, ...(this.etag ? { 'if-none-match': this.etag } : {}) },
        credentials: 'omit',
      });
      if (res.status === 304) this.polls.notModified++;
      else if (res.ok) {
        const next = (await res.json()) as StatusView;
        this.etag = res.headers.get('etag') ?? undefined;
        const first = !this.status;
        const changed = !first && summarise(next) !== summarise(this.status!);
        this.status = next;
        this.error = undefined;
        if (changed) {
          this.announcement = summarise(next);
          this.dispatchEvent(new CustomEvent('keel-status-change', { detail: next, bubbles: true, composed: true }));
        }
      } else {
        this.error = ((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`;
      }
    } catch (e) {
      this.error = (e as Error).message;
    }
    if (this.isConnected) this.timer = setTimeout(() => void this.poll(), this.interval);
  }

  protected override render() {
    const s = this.status;
    const live = html`<div class="visually-hidden" role="status" aria-live="polite">${this.announcement}</div>`;
    if (!s) return html`${live}${this.error ? html`<span class="muted">Status unavailable: ${this.error}</span>` : nothing}`;
    if (s.overall === 'operational') {
      return html`${live}<span part="indicator" class="operational"><span class="dot" aria-hidden="true"></span> All systems operational</span>`;
    }
    return html`${live}
      <section part="panel" class="panel" aria-label="Service status">
        <h2 class=${s.overall}><span class="dot" aria-hidden="true"></span> ${LABEL[s.overall]}</h2>
        <ul>
          ${s.components.filter((c) => c.status !== 'operational').map((c) => html`<li><span class=${c.status}>${LABEL[c.status]}</span>: ${text(c.name)}</li>`)}
          ${s.integrations.filter((i) => i.state !== 'connected').map((i) => html`<li><span class="outage">Your ${i.integration} integration</span>: ${i.state}</li>`)}
        </ul>
        ${s.incidents.map((i) => html`<h3>${i.title} <span class="muted">(${i.state})</span></h3>${i.message ? html`<p class="muted">${i.message}</p>` : nothing}`)}
      </section>`;
  }
}
