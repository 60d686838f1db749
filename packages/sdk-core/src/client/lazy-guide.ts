/**
 * The guidance engine (./guide.ts: caps, priority, recipes, the decision trace) is a chunk of its
 * own, loaded the first time it is wanted: a nudge's rules hold, a recipe is running or started,
 * the debug overlay is on, or someone asks `debug.explain`. A page whose config has no nudge that
 * applies never pays for it. Only types are imported here, statically.
 */
import type { evaluate } from '../rules/evaluate.js';
import type { RuleContext } from '../rules/types.js';
import type { FatiguePolicy } from './budget.js';
import type { Guide, GuideLib } from './guide.js';
import type { ClientConfig, GuideLoader, ProgressEntry } from './types.js';

/** What the client gives the engine; ./guide-browser.ts adds the page (path, focus, storage, links). */
export interface GuideCore {
  /** The rule and text functions the page already has (the engine imports none: see `GuideLib`). */
  lib: Omit<GuideLib, 'evaluate'>;
  /** `evaluate`, from the explanations' own chunk (loaded with the engine). */
  explanations(): Promise<typeof evaluate>;
  storageKey: string;
  config(): ClientConfig | undefined;
  ctx(): RuleContext;
  refused(action: string): string | undefined;
  lifecycleState(): string | undefined;
  track(event: string, properties: Record<string, unknown>): void;
  /** A progress entry by key (`user:recipe:first-report`). */
  progress(key: string): ProgressEntry | undefined;
  /** Records a progress entry (merged, saved, synced). */
  record(entry: ProgressEntry): void;
  /** Re-derives the checklists (a completed recipe completes the item it serves). */
  recompute(): void;
  onLink: ((href: string) => void) | undefined;
  ui: GuideLoader | undefined;
  fatigue: Partial<FatiguePolicy> | undefined;
  debug: boolean;
}

export interface LazyGuide {
  /** Something changed (an event, navigation, progress): decide again, loading the engine if it is wanted now. */
  wake(): void;
  /** A tracked event (a recipe step may advance on it; only a loaded engine runs recipes). */
  onMessage(event: string, properties: Readonly<Record<string, unknown>> | undefined, ts: number): void;
  /** Another tab changed the ledger. */
  reload(): void;
  /** The engine, loading it if needed. */
  load(): Promise<Guide>;
  readonly loaded: Guide | undefined;
  dispose(): void;
}

export function lazyGuide(core: GuideCore, wanted: () => boolean): LazyGuide {
  let guide: Guide | undefined;
  let loading: Promise<Guide> | undefined;
  let disposed = false;
  const load = () =>
    (loading ??= Promise.all([import('./guide-browser.js'), core.explanations()]).then(([m, evaluate]) => {
      const g = (guide = m.startGuide(core, { ...core.lib, evaluate }));
      if (disposed) g.dispose();
      return g;
    }));
  const wake = () => {
    if (guide) guide.schedule();
    else if (!loading && !disposed && wanted()) void load();
  };
  return {
    wake,
    onMessage: (event, properties, ts) => guide?.onMessage(event, properties, ts),
    reload: () => (guide ? guide.reload() : wake()),
    load,
    get loaded() {
      return guide;
    },
    dispose() {
      disposed = true;
      guide?.dispose();
    },
  };
}
