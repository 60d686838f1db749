import type { RecipeStepView } from '@keel/sdk-core';
import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { waitForAnchor } from './anchor.js';
import { renderMarkdown } from './markdown.js';
import { panelStyles } from './styles.js';
import { attach, close, deepActive, open } from './surface.js';

/**
 * The step to show: the engine's `RecipeStepView` (texts already resolved for the locale; `index`
 * 0-based; `anchor` ranked selectors, empty for a centred step; `advance` says what completes it;
 * `waitingForRoute` set while the user hasn't reached the step's page, when nothing is shown).
 */
export type RecipeStep = RecipeStepView;

export interface RecipeStrings {
  /** `{n}` and `{total}` are filled in. */
  progress: string;
  back: string;
  next: string;
  done: string;
  skip: string;
  close: string;
  clickHint: string;
  eventHint: string;
  missing: string;
}

export const DEFAULT_RECIPE_STRINGS: RecipeStrings = {
  progress: 'Step {n} of {total}',
  back: 'Back',
  next: 'Next',
  done: 'Done',
  skip: 'Skip step',
  close: 'Close the walkthrough',
  clickHint: 'Click it to continue.',
  eventHint: 'This step completes when you have done it.',
  missing: "This step's place isn't on this page. Skip it, or close the walkthrough and come back to it later.",
};

export interface RecipeEventDetail {
  recipeId: string;
  index: number;
}

declare global {
  interface GlobalEventHandlersEventMap {
    'keel-recipe-next': CustomEvent<RecipeEventDetail & { cause: 'next' | 'click' }>;
    'keel-recipe-back': CustomEvent<RecipeEventDetail>;
    'keel-recipe-skip': CustomEvent<RecipeEventDetail>;
    'keel-recipe-exit': CustomEvent<RecipeEventDetail>;
    'keel-recipe-step-shown': CustomEvent<RecipeEventDetail & { anchor: string | null }>;
    'keel-recipe-anchor-missing': CustomEvent<RecipeEventDetail & { selectors: readonly string[]; waitedMs: number }>;
  }
}

const fill = (s: string, vars: Record<string, string | number>) => s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
const keyOf = (s: RecipeStep | undefined) => (s ? `${s.recipeId}\n${s.index}\n${s.waitingForRoute ?? ''}` : '');

let uid = 0;

/**
 * One step of a multi-step walkthrough at a time, anchored like a nudge (ranked selectors, open
 * shadow roots, a bounded wait), in the top layer, with its progress ("Step 2 of 5"), Back, Skip
 * and Next. It does not decide anything: the engine (or the host app) sets `step`, and listens to
 * the events. A click on the step's anchor advances a `click` step; a step whose anchor is removed
 * waits for it to come back; one that never appears is shown centred, with Skip, and reported.
 *
 * @tag keel-recipe
 * @summary A guided walkthrough, one anchored step at a time.
 * @fires keel-recipe-next - Next was pressed, or the anchor clicked (`cause`).
 * @fires keel-recipe-back - Back was pressed.
 * @fires keel-recipe-skip - Skip was pressed.
 * @fires keel-recipe-exit - ✕ or Escape: the walkthrough stops here (resumable).
 * @fires keel-recipe-step-shown - A step is on screen.
 * @fires keel-recipe-anchor-missing - The step's anchor never appeared.
 * @csspart panel - The step.
 * @csspart progress - "Step 2 of 5".
 * @csspart actions - Back, Skip, Next.
 */
export class KeelRecipe extends LitElement {
  static override styles = [
    panelStyles,
    css`
    .progress { margin: 0 1.75rem 0.35rem 0; font-size: 0.8rem; color: var(--keel-color-muted, #59636e); }
    .hint, .note { font-size: 0.85rem; color: var(--keel-color-muted, #59636e); margin: 0.6rem 0 0; }
    .note { color: inherit; }
    .spacer { flex: 1; }
  `,
  ];

  static override properties = {
    step: { attribute: false },
    anchorTimeout: { type: Number, attribute: 'anchor-timeout' },
    strings: { attribute: false },
    keepFocusWhile: { attribute: false },
    missing: { state: true },
    announcement: { state: true },
  };

  declare step: RecipeStep | undefined;
  /** How long (ms) to wait for a step's anchor to appear. */
  declare anchorTimeout: number;
  declare strings: Partial<RecipeStrings>;
  /**
   * While this returns a reason (the text field the user is typing in), a step shows without
   * taking focus; it is still announced. The engine's UI sets it (a step resumed on page load
   * must not pull the user out of an autofocused search field).
   */
  declare keepFocusWhile: (() => string | undefined) | undefined;
  declare private missing: boolean;
  declare private announcement: string;

  private readonly pid = `keel-recipe-${++uid}`;
  private presented = '';
  private anchorEl: Element | undefined;
  private stopAttach: (() => void) | undefined;
  private abort: AbortController | undefined;
  private returnFocus: HTMLElement | undefined;

  constructor() {
    super();
    this.step = undefined;
    this.anchorTimeout = 5000;
    this.strings = {};
    this.missing = false;
    this.announcement = '';
  }

  private get s(): RecipeStrings {
    return { ...DEFAULT_RECIPE_STRINGS, ...this.strings };
  }

  private get panel(): HTMLElement {
    return this.renderRoot.querySelector<HTMLElement>('.panel')!;
  }

  /** True while a step is on screen. */
  get open(): boolean {
    return !!this.renderRoot.querySelector('.panel:popover-open');
  }

  private emit<K extends keyof GlobalEventHandlersEventMap>(type: K, detail: GlobalEventHandlersEventMap[K] extends CustomEvent<infer D> ? D : never): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private detail(): RecipeEventDetail {
    return { recipeId: this.step?.recipeId ?? '', index: this.step?.index ?? 0 };
  }

  protected override updated(changed: PropertyValues<this>): void {
    const body = this.renderRoot.querySelector('.body');
    if (body && this.step && body.getAttribute('data-key') !== keyOf(this.step)) {
      body.replaceChildren(renderMarkdown(this.step.text, this.ownerDocument)); // DOM nodes, never innerHTML
      body.setAttribute('data-key', keyOf(this.step));
    }
    // After this update, not inside it: presenting sets state of its own.
    if (changed.has('step') && keyOf(this.step) !== this.presented) void Promise.resolve().then(() => this.present());
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Back in the page (the host app moved or re-added it): the step shows again.
    if (this.step && !this.presented) void this.updateComplete.then(() => this.present());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.detach();
    this.presented = '';
  }

  /** Stops following the current anchor and hides the step. */
  private detach() {
    this.abort?.abort();
    this.abort = undefined;
    this.stopAttach?.();
    this.stopAttach = undefined;
    this.anchorEl?.removeEventListener('click', this.onAnchorClick, true);
    this.anchorEl = undefined;
    close(this.renderRoot.querySelector<HTMLElement>('.panel'));
  }

  private readonly onAnchorClick = () => {
    if (this.step?.advance === 'click') this.emit('keel-recipe-next', { ...this.detail(), cause: 'click' });
  };

  private async present() {
    const step = this.step;
    const key = keyOf(step);
    if (key === this.presented) return;
    this.presented = key;
    this.detach();
    if (!step) {
      // The walkthrough ended: focus goes back where it was before it started.
      this.announcement = '';
      if (this.returnFocus?.isConnected) this.returnFocus.focus({ preventScroll: true });
      this.returnFocus = undefined;
      return;
    }
    this.returnFocus ??= deepActive();
    if (step.waitingForRoute) return; // shown once the user reaches that page
    await this.locate(step, key);
  }

  /** Finds the step's anchor (or gives up on it) and shows the step. */
  private async locate(step: RecipeStep, key: string) {
    this.missing = false;
    let selector: string | null = null;
    if (step.anchor.length) {
      const abort = (this.abort = new AbortController());
      const r = await waitForAnchor(step.anchor, { timeoutMs: this.anchorTimeout, signal: abort.signal });
      if (abort.signal.aborted || this.presented !== key) return;
      if (r.ok) {
        this.anchorEl = r.element;
        selector = r.selector;
        r.element.addEventListener('click', this.onAnchorClick, true);
      } else {
        this.missing = true;
        this.emit('keel-recipe-anchor-missing', { ...this.detail(), selectors: r.selectors, waitedMs: r.waitedMs });
      }
    }
    await this.updateComplete;
    if (this.presented !== key) return;
    const panel = this.panel;
    open(panel);
    if (this.anchorEl) {
      this.stopAttach = attach(this.anchorEl, panel, {
        placement: step.placement ?? 'bottom',
        arrow: panel.querySelector<HTMLElement>('.arrow'),
        onRemoved: () => {
          // Re-rendered or navigated away: wait for it to come back rather than point at nothing.
          this.detach();
          if (this.presented === key) void this.locate(step, key);
        },
      });
    }
    if (!this.keepFocusWhile?.()) panel.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
    this.announcement = `${fill(this.s.progress, { n: step.index + 1, total: step.total })}: ${step.title ?? step.recipeTitle}`;
    this.emit('keel-recipe-step-shown', { ...this.detail(), anchor: selector });
  }

  private onKeydown(e: KeyboardEvent) {
    if (e.key === 'Escape') {
      e.stopPropagation();
      this.emit('keel-recipe-exit', this.detail());
    }
  }

  protected override render(): TemplateResult {
    const step = this.step;
    // The live region stays the same node from step to step, so each new text is announced.
    return html`<div class="sr-only" role="status" aria-live="polite">${this.announcement}</div>${step && !step.waitingForRoute ? this.renderStep(step) : nothing}`;
  }

  private renderStep(step: RecipeStep): TemplateResult {
    const s = this.s;
    const id = this.pid;
    const anchored = step.anchor.length > 0 && !this.missing;
    const last = step.index + 1 === step.total;
    const hint = this.missing
      ? html`<p class="note">${s.missing}</p>`
      : step.advance === 'click'
        ? html`<p class="hint">${s.clickHint}</p>`
        : step.advance === 'event'
          ? html`<p class="hint">${s.eventHint}</p>`
          : nothing;
    return html`<div part="panel" class="panel ${anchored ? '' : 'centered'}" popover="manual" role="dialog"
        aria-labelledby="${id}-title" aria-describedby="${id}-body" @keydown=${(e: KeyboardEvent) => this.onKeydown(e)}>
        ${anchored ? html`<div class="arrow" aria-hidden="true"></div>` : nothing}
        <button type="button" class="close" aria-label=${s.close} @click=${() => this.emit('keel-recipe-exit', this.detail())}>✕</button>
        <div class="scroll"><p part="progress" class="progress">${fill(s.progress, { n: step.index + 1, total: step.total })}${step.title ? ` · ${step.recipeTitle}` : ''}</p>
        <h2 id="${id}-title" tabindex="-1">${step.title ?? step.recipeTitle}</h2>
        <div class="body" id="${id}-body"></div>
        ${hint}</div>
        <div class="actions" part="actions">
          ${step.index > 0 ? html`<button type="button" class="secondary" @click=${() => this.emit('keel-recipe-back', this.detail())}>${s.back}</button>` : nothing}
          <span class="spacer"></span>
          <button type="button" class="secondary" @click=${() => this.emit('keel-recipe-skip', this.detail())}>${s.skip}</button>
          ${
            step.advance === 'next' && !this.missing
              ? html`<button type="button" @click=${() => this.emit('keel-recipe-next', { ...this.detail(), cause: 'next' })}>${last ? s.done : s.next}</button>`
              : nothing
          }
        </div>
      </div>`;
  }
}
