/**
 * The UI the engine loads the first time a nudge, a hotspot, a recipe or the debug overlay is to
 * be shown: `init({ ui: () => import('@keel/nudge-widget/ui') })`. A bundler makes this module
 * (and @floating-ui/dom, which only it uses) a separate chunk, so pages pay for it only then.
 *
 * It draws `host.state()` with `<keel-nudge>` and `<keel-recipe>` appended to `<body>` (and
 * `<keel-debug>`, its own chunk, with ?keel_debug=1), and reports what the user did back to the
 * engine. It decides nothing itself.
 */
import type { GuideHost, NudgeCloseReason, NudgeView } from '@keel/sdk-core';
import type { KeelDebug } from './debug.js';
import { KeelNudge } from './nudge.js';
import { KeelRecipe } from './recipe.js';

function define(tag: string, ctor: CustomElementConstructor) {
  if (!customElements.get(tag)) customElements.define(tag, ctor);
}

export function mountGuide(host: GuideHost, { debug = false }: { debug?: boolean } = {}): () => void {
  define('keel-nudge', KeelNudge);
  define('keel-recipe', KeelRecipe);
  const doc = document;
  const nudges = new Map<string, KeelNudge>(); // the interrupting one and the hotspots, by id

  const make = (v: NudgeView): KeelNudge => {
    const el = doc.createElement('keel-nudge') as KeelNudge;
    Object.assign(el, { nudgeId: v.id, kind: v.kind, anchor: v.anchor, heading: v.title ?? '', body: v.body, actions: v.actions });
    if (v.placement) el.placement = v.placement;
    // Not while the user types, nor into a background tab (it opens when they come back).
    el.deferWhile = () => host.typing() ?? (doc.visibilityState === 'hidden' ? 'a background tab' : undefined);
    el.addEventListener('keel-nudge-shown', (e) => host.shown(v.id, e.detail.anchor));
    el.addEventListener('keel-anchor-missing', (e) => {
      el.dataset.missing = '1';
      host.skipped(v.id, { reason: 'anchor.missing', selectors: e.detail.selectors, waitedMs: e.detail.waitedMs });
    });
    el.addEventListener('keel-nudge-action', (e) => {
      e.preventDefault(); // the engine opens links (through the app's router when it has one)
      host.acted(v.id, e.detail.action);
    });
    el.addEventListener('keel-nudge-hidden', (e) => {
      const r = e.detail.reason;
      if (r === 'action' || r === 'replaced' || nudges.get(v.id) !== el) return;
      if (r === 'anchor-removed' || r === 'disconnected') {
        // This element is done for (its anchor left, or the host app removed it): the engine
        // decides what comes next, and a new element shows it.
        nudges.delete(v.id);
        el.remove();
      }
      const reason: NudgeCloseReason = r === 'outside' ? 'close' : r;
      host.closed(v.id, reason);
    });
    return el;
  };

  const present = (v: NudgeView) => {
    const el = make(v);
    nudges.set(v.id, el);
    doc.body.append(el);
    void el.show().then((ok) => {
      // Not shown, still wanted, and not for a missing anchor (that was reported): the host app prevented it.
      if (!ok && nudges.get(v.id) === el && el.dataset.missing !== '1') host.skipped(v.id, { reason: 'prevented' });
    });
  };

  const retire = (id: string) => {
    const el = nudges.get(id);
    nudges.delete(id);
    if (!el) return;
    el.hide('replaced');
    el.remove();
  };

  const recipe = doc.createElement('keel-recipe') as KeelRecipe;
  recipe.keepFocusWhile = host.typing;
  recipe.addEventListener('keel-recipe-next', (e) => host.recipe.next(e.detail.cause));
  recipe.addEventListener('keel-recipe-back', () => host.recipe.back());
  recipe.addEventListener('keel-recipe-skip', () => host.recipe.skip());
  recipe.addEventListener('keel-recipe-exit', () => host.recipe.exit());
  recipe.addEventListener('keel-recipe-anchor-missing', (e) => host.recipe.missing(e.detail.selectors, e.detail.waitedMs));
  doc.body.append(recipe);
  // The host app may clear <body>, or swap it (a re-render, Turbo): a walkthrough in progress is
  // put back, a few times a step at most (never a tug of war with an app that keeps removing it).
  let putBack = { key: '', times: 0 };
  const keepRecipe = new MutationObserver(() => {
    if (recipe.isConnected || !recipe.step || !doc.body) return;
    const key = `${recipe.step.recipeId}/${recipe.step.index}`;
    if (putBack.key !== key) putBack = { key, times: 0 };
    if (putBack.times++ < 3) doc.body.append(recipe);
  });

  let overlay: KeelDebug | undefined;
  let unmounted = false;
  if (debug) {
    // The overlay is for CS authors with ?keel_debug=1: a chunk of its own, never fetched otherwise.
    void import('./debug.js').then(({ KeelDebug }) => {
      if (unmounted) return;
      define('keel-debug', KeelDebug);
      overlay = doc.createElement('keel-debug') as KeelDebug;
      doc.body.append(overlay);
      render();
    });
  }

  const render = () => {
    const s = host.state();
    const wanted = new Map<string, NudgeView>();
    if (s.nudge) wanted.set(s.nudge.id, s.nudge);
    for (const h of s.hotspots) wanted.set(h.id, h);
    for (const id of [...nudges.keys()]) if (!wanted.has(id)) retire(id);
    for (const [id, v] of wanted) if (!nudges.has(id)) present(v);
    if (s.step && !recipe.isConnected) doc.body.append(recipe);
    // Watched only while a step is on: no observer on every page mutation otherwise.
    if (s.step) keepRecipe.observe(doc.documentElement, { childList: true, subtree: true });
    else keepRecipe.disconnect();
    recipe.step = s.step;
    if (overlay?.isConnected) overlay.report = host.debug();
  };

  const unsubscribe = host.subscribe(render);
  render();
  return () => {
    unmounted = true;
    unsubscribe();
    keepRecipe.disconnect();
    for (const id of [...nudges.keys()]) retire(id);
    recipe.remove();
    overlay?.remove();
  };
}
