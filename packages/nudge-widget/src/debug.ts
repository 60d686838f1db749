import { css, html, LitElement, nothing, type TemplateResult } from 'lit';

/** What the engine reports (`keel.debug.report()`), as far as the overlay reads it. */
export interface DebugReport {
  configVersion?: number;
  nudges: readonly {
    nudgeId: string;
    status: 'showing' | 'eligible' | 'blocked' | 'unknown';
    summary: string;
    checks: readonly { check: string; ok: boolean; detail: string }[];
  }[];
  recipe?: { id: string; step: number; total: number; waitingForRoute?: string };
  budget: { session: { count: number; limit: number }; day: { count: number; limit: number }; quietUntil?: number };
}

const MARK = { showing: '●', eligible: '○', blocked: '✕', unknown: '?' } as const;

/**
 * The `?keel_debug=1` overlay for CS authors: every nudge, eligible or blocked, with the reason
 * and each check (rules with their values, caps with their counts); the running recipe and the
 * fatigue budget. Read-only; lives in the top layer so the host page can't cover it.
 *
 * @tag keel-debug
 * @summary "Why didn't it show?", on the page.
 * @csspart panel - The overlay.
 */
export class KeelDebug extends LitElement {
  static override styles = css`
    :host { display: contents; }
    .panel {
      margin: 0; inset: auto 0.75rem 0.75rem auto; position: fixed; width: min(30rem, calc(100vw - 1.5rem)); max-height: 60vh; overflow: auto;
      box-sizing: border-box; padding: 0.75rem; border-radius: 8px; border: 1px solid #57606a;
      background: #0d1117; color: #e6edf3; font: 12px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
      box-shadow: 0 8px 24px rgba(0, 0, 0, 0.3);
    }
    h2 { font-size: 13px; margin: 0 2rem 0.5rem 0; }
    p { margin: 0.25rem 0; }
    ul { list-style: none; margin: 0.5rem 0 0; padding: 0; }
    li { border-top: 1px solid #30363d; padding: 0.4rem 0; }
    summary { cursor: pointer; }
    .showing, .eligible { color: #7ee787; }
    .blocked { color: #ffa198; }
    .id { font-weight: 700; }
    table { border-collapse: collapse; margin: 0.35rem 0 0 1rem; }
    td { padding: 0.1rem 0.5rem 0.1rem 0; vertical-align: top; }
    button { position: absolute; top: 0.4rem; right: 0.4rem; font: inherit; background: transparent; color: inherit; border: 1px solid #57606a; border-radius: 4px; cursor: pointer; }
    button:focus-visible, summary:focus-visible { outline: 2px solid #58a6ff; outline-offset: 2px; }
  `;

  static override properties = { report: { attribute: false } };
  declare report: DebugReport | undefined;

  protected override firstUpdated(): void {
    this.renderRoot.querySelector<HTMLElement>('.panel')?.showPopover();
  }

  private line(n: DebugReport['nudges'][number]): TemplateResult {
    return html`<li class=${n.status}><details>
      <summary><span aria-hidden="true">${MARK[n.status]}</span> <span class="id">${n.nudgeId}</span>: ${n.summary}</summary>
      <table><tbody>${n.checks.map((c) => html`<tr><td>${c.ok ? '✓' : '✕'} ${c.check}</td><td>${c.detail}</td></tr>`)}</tbody></table>
    </details></li>`;
  }

  protected override render(): TemplateResult {
    const r = this.report;
    const b = r?.budget;
    const quiet = b?.quietUntil ? `, quiet until ${new Date(b.quietUntil).toISOString().slice(11, 19)} UTC` : '';
    return html`<section part="panel" class="panel" popover="manual" aria-labelledby="keel-debug-title">
      <h2 id="keel-debug-title">Keel debug · config v${r?.configVersion ?? '?'}</h2>
      <button type="button" aria-label="Close the Keel debug overlay" @click=${() => this.remove()}>✕</button>
      ${b ? html`<p>budget: ${b.session.count}/${b.session.limit} this session, ${b.day.count}/${b.day.limit} in 24 h${quiet}</p>` : nothing}
      ${r?.recipe ? html`<p>recipe ${r.recipe.id}: step ${r.recipe.step} of ${r.recipe.total}${r.recipe.waitingForRoute ? `, waiting for ${r.recipe.waitingForRoute}` : ''}</p>` : nothing}
      <ul aria-label="Nudges">${(r?.nudges ?? []).map((n) => this.line(n))}</ul>
    </section>`;
  }
}
