import { createTelemetry, type Message, openStore, request, type Telemetry, type TelemetryOptions } from '@keel/telemetry';
import { durationMs } from '../rules/duration.js';
import type { evaluate } from '../rules/evaluate.js';
import { matches } from '../rules/matches.js';
import { glob } from '../rules/match.js';
import { memoryContext } from '../rules/memory.js';
import type { ChecklistProgress, Explanation, Rule, RuleContext } from '../rules/types.js';
import { mergeProgress } from '../progress/merge.js';
import type { FatiguePolicy } from './budget.js';
import type { Outcome } from './guide.js';
import { lazyGuide } from './lazy-guide.js';
import type { ProgressAnswer } from '../progress/answer.js';
import { clientRules } from '../progress/answer.js';
import { type Rollup, Rollups, type SavedHistory } from './rollups.js';
import { resolveText, SAFE_LINK } from './text.js';
import type {
  ChecklistSource,
  ChecklistView,
  ClientChecklist,
  ClientConfig,
  GuideLoader,
  GuideReport,
  ItemAction,
  NudgeDecision,
  ProgressEntry,
} from './types.js';

export interface KeelOptions {
  writeKey: string;
  /** The Keel ingest API, e.g. `https://keel.example.com`. */
  host: string;
  /** Short-lived token minted by your backend (user, tenant, role); enables progress sync. */
  userToken?: string;
  /** Passed to @keel/telemetry. */
  telemetry?: Omit<TelemetryOptions, 'writeKey' | 'host'>;
  /** How often (ms) the published config and tenant facts are revalidated. Default 5 minutes. */
  refreshInterval?: number;
  /** Called when a checklist item's action opens a recipe (before Keel runs it). */
  onRecipe?: (recipeId: string) => void;
  /**
   * The nudge and recipe UI, loaded the first time something is to be shown:
   * `ui: () => import('@keel/nudge-widget/ui')`. Without it the engine still decides (and
   * `debug.explain` says why), but nothing is drawn.
   */
  ui?: GuideLoader;
  /** Overrides of the config's `fatigue` section (interruptions per session and per day, quiet period in ms). */
  fatigue?: Partial<FatiguePolicy>;
  /** Shows the "why (not)" overlay listing every nudge. Default: the page URL has `?keel_debug=1`. */
  debug?: boolean;
  /**
   * A draft id to preview instead of the published config (`keel config preview`). Default: the
   * page URL's `?keel_preview=` parameter. A draft is never cached.
   */
  preview?: string | null;
  /** Opens a link action; default `location.assign`. */
  onLink?: (href: string) => void;
}

export interface Keel extends ChecklistSource {
  readonly telemetry: Telemetry;
  track: Telemetry['track'];
  identify: Telemetry['identify'];
  group: Telemetry['group'];
  /** Resolves once the cached state is loaded and the network has answered (or failed). */
  ready: Promise<void>;
  /** The published config in use, and its version. */
  readonly config: ClientConfig | undefined;
  /**
   * Why a checklist item is (not) done: the evaluator's explanation of its completion rule (the
   * explanation code is a chunk of its own, loaded by the first call).
   */
  explain(checklistId: string, itemId: string): Promise<Explanation | undefined>;
  /** Opens an item's recipe or link (refused, with a console warning, when the lifecycle state doesn't allow it). */
  act(checklistId: string, itemId: string, kind: 'launch' | 'recovery', action: ItemAction): void;
  /** The tenant's lifecycle state and its allow-list, from the server (null until known). */
  readonly lifecycle: { state: string; allows: readonly string[] | null } | null;
  /** Whether an action (`recipe:first-report`, `nudge:x`) may run in the tenant's lifecycle state. */
  allows(action: string): { ok: true } | { ok: false; reason: string };
  /** Re-fetches config and progress now. */
  refresh(): Promise<void>;
  /** Recipes: multi-step walkthroughs (`start` resumes one at the step where the user left it). */
  recipes: {
    start(recipeId: string, options?: { source?: string }): Promise<Outcome>;
    /** The running recipe and its step (1-based). */
    readonly active: { id: string; step: number; total: number } | undefined;
    exit(): void;
  };
  /** "Why didn't it show?": every rule with its value and every cap with its count. */
  debug: {
    explain(nudgeId: string): Promise<NudgeDecision>;
    report(): Promise<GuideReport>;
  };
  shutdown(): Promise<void>;
}

type Kv = IDBDatabase;
const DAY = 86_400_000;
export function init(options: KeelOptions): Keel {
  const o = options;
  const host = o.host.replace(/\/+$/, '');
  // The user token goes with every batch: the server marks the events it proves as verified.
  const telemetry = createTelemetry({ writeKey: o.writeKey, host, ...(o.userToken ? { userToken: o.userToken } : {}), ...o.telemetry });
  const listeners = new Set<() => void>();
  let config: ClientConfig | undefined;
  let etag: string | undefined;
  let rollups = new Rollups();
  const progress = new Map<string, ProgressEntry>();
  let facts: Record<string, unknown> = {};
  let userTraits: Record<string, unknown> = {};
  let tenantTraits: Record<string, unknown> = {};
  let startedAt = Date.now();
  let views = new Map<string, ChecklistView>();
  let dirty: ProgressEntry[] = [];
  let kv: Kv | undefined;
  let cachedConfig: ClientConfig | undefined;
  let ui: Record<string, { collapsed?: boolean; dismissed?: boolean }> = {};
  let lifecycle: { state: string; allows: readonly string[] | null } | null = null;
  const preview = o.preview !== undefined ? o.preview : new URLSearchParams(location.search).get('keel_preview');

  let closed = false;
  // Another tab upgrades or deletes the database: let it, and keep working from memory.
  const dbP: Promise<Kv | undefined> = openStore(`keel-state:${o.writeKey}`, 'kv', undefined, (d) => {
    d.close();
    closed = true;
  }).catch(() => undefined);
  const kvStore = (d: Kv, mode?: IDBTransactionMode) => d.transaction('kv', mode).objectStore('kv');
  const save = (key: string, value: unknown) =>
    void dbP.then((d) => (closed || !d ? undefined : request(kvStore(d, 'readwrite').put(value, key)))).catch(() => undefined);

  const pkey = (e: { scope: string; kind: string; ref: string }) => `${e.scope}:${e.kind}:${e.ref}`;
  /** Merges like the server does (a state never moves back, a recipe's step only advances). */
  function setProgress(e: ProgressEntry, sync: boolean) {
    const old = progress.get(pkey(e));
    const merged = mergeProgress(old, e);
    if (old && old.state === merged.state && JSON.stringify(old.data ?? null) === JSON.stringify(merged.data ?? null)) return false;
    progress.set(pkey(e), merged);
    if (sync) dirty.push(e);
    return true;
  }

  const checklistProgress = (c: ClientChecklist): ChecklistProgress => {
    const completedItems = c.items.filter((i) => views.get(c.id)?.items.find((v) => v.id === i.id)?.state === 'done').map((i) => i.id);
    return { completedItems, completed: completedItems.length === c.items.length };
  };
  const ctx = (): RuleContext => ({
    now: Date.now(),
    // The known history: the server's first sight of this user or this browser's first run, whichever is older.
    historySince: Math.min(startedAt, rollups.serverFirstSeen ?? Infinity),
    countEvents: (q) => rollups.count(q),
    userTraits,
    tenantTraits,
    facts,
    page: { path: location.pathname },
    ...(lifecycle ? { lifecycle: lifecycle.state } : {}),
    checklist: (id) => {
      const c = config?.checklists?.find((x) => x.id === id);
      return c ? checklistProgress(c) : undefined;
    },
    recipe: (id) => {
      const p = progress.get(`user:recipe:${id}`);
      return p ? (p.state === 'dismissed' ? 'not_started' : p.state) : 'not_started';
    },
  });

  const guideKey = `keel-guide:${o.writeKey}`;
  const debugMode = o.debug ?? new URLSearchParams(location.search).get('keel_debug') === '1';
  // The explanations (`evaluate`, ../rules/explain.ts) are a chunk of their own: the checklists
  // need only `matches`; `explain` and the guidance engine load them.
  let explainer: Promise<typeof evaluate> | undefined;
  const explanations = () => (explainer ??= import('../rules/explain.js').then((m) => m.evaluate));
  const guide = lazyGuide(
    {
      lib: { durationMs, glob, memoryContext, resolveText, SAFE_LINK },
      explanations,
      storageKey: guideKey,
      config: () => config,
      ctx,
      refused: allowed,
      lifecycleState: () => lifecycle?.state,
      track: (event, properties) => void telemetry.track(event, properties),
      progress: (key) => progress.get(key),
      record: (e) => setProgress(e, true) && persist(),
      recompute: () => recompute(true),
      onLink: o.onLink,
      ui: o.ui,
      fatigue: o.fatigue,
      debug: debugMode,
    },
    guideWanted,
  );
  /** This browser's ledger says a recipe is running (read at start and when another tab writes it). */
  const recipeRunning = () => {
    try {
      return (JSON.parse(localStorage.getItem(guideKey) ?? 'null') as { recipe?: { active?: unknown } } | null)?.recipe?.active === true;
    } catch {
      return false;
    }
  };
  let ledgerRecipe = recipeRunning();
  /** Is the engine needed now? Cheap: the nudges' own rules (no explanations), the running recipe, debug. */
  function guideWanted(): boolean {
    if (debugMode || ledgerRecipe) return true;
    for (const e of progress.values()) if (e.kind === 'recipe' && e.state === 'started' && e.data?.active === true) return true;
    const c0 = ctx();
    return (config?.nudges ?? []).some(
      (n) =>
        !allowed(`nudge:${n.id}`) &&
        progress.get(`user:nudge:${n.id}`)?.state !== 'dismissed' &&
        matches(n.when, c0) &&
        (!n.audience || matches(n.audience, c0)),
    );
  }
  // What makes the engine decide again besides events: navigation, focus leaving a text field,
  // the tab coming to the front, another tab spending the budget.
  const onStorage = (e: StorageEvent) => {
    if (e.key !== guideKey) return;
    ledgerRecipe = recipeRunning();
    guide.reload();
  };
  const onNav = () => guide.wake();
  addEventListener('popstate', onNav);
  addEventListener('storage', onStorage);
  document.addEventListener('focusout', onNav, true);
  document.addEventListener('visibilitychange', onNav);

  /** Re-derives every checklist view; emits completion events for items that just turned done. */
  function recompute(emit: boolean) {
    const next = new Map<string, ChecklistView>();
    const c0 = ctx();
    const begun = typeof tenantTraits.createdAt === 'string' ? Date.parse(tenantTraits.createdAt) || startedAt : startedAt;
    const day = Math.floor((c0.now - begun) / DAY) + 1;
    for (const c of config?.checklists ?? []) {
      if (c.audience && !matches(c.audience, c0)) continue;
      if (allowed(`checklist:${c.id}`)) continue; // the lifecycle state doesn't run this checklist
      const items = c.items.map((i) => {
        const scope = i.scope ?? 'user';
        const ref = `${c.id}/${i.id}`;
        let done = progress.get(`${scope}:checklist:${ref}`)?.state === 'completed';
        // An item is also done when the recipe it launches was completed (without skipping a step).
        const walked = i.launch?.recipe ? progress.get(`user:recipe:${i.launch.recipe}`) : undefined;
        const served = walked?.state === 'completed' && !walked.data?.skipped;
        if (!done && (served || matches(i.complete, c0))) {
          done = true;
          const at = new Date(c0.now).toISOString();
          setProgress({ scope, kind: 'checklist', ref, state: 'completed', updatedAt: at, completedAt: at }, true);
          if (emit) telemetry.track('checklist.item_completed', { checklist: c.id, item: i.id, scope });
        }
        const failed = !done && !!i.failed && matches(i.failed, c0);
        const v: ChecklistView['items'][number] = { id: i.id, title: i.title, state: done ? 'done' : failed ? 'failed' : 'pending', scope };
        if (i.description) v.description = i.description;
        if (i.due) {
          v.dueDay = i.due.day;
          v.overdue = !done && day > i.due.day;
        }
        if (i.launch) v.launch = i.launch;
        if (i.recovery) v.recovery = i.recovery;
        return v;
      });
      const view = { id: c.id, title: c.title, items };
      const before = views.get(c.id);
      if (emit && items.length && items.every((x) => x.state === 'done') && before && !before.items.every((x) => x.state === 'done')) {
        telemetry.track('checklist.completed', { checklist: c.id });
      }
      next.set(c.id, view);
    }
    const changed = JSON.stringify([...next]) !== JSON.stringify([...views]);
    views = next;
    if (dirty.length) persist();
    if (changed) for (const l of listeners) l();
    guide.wake();
  }

  function applyConfig(c: ClientConfig | undefined) {
    config = c;
    const rules: Rule[] = clientRules(c);
    rollups.watch(rules); // counts the recent messages tracked before this config arrived, too
  }

  let saveTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * What messages changed since the last save: only those are written (200 ms after the first
   * change). A track changes the history (its recent messages), the rollups only when a watched
   * clause counted it; identify and group with traits change the traits; a page changes none.
   */
  const unsaved = new Set<'rollups' | 'history' | 'traits'>();
  telemetry.subscribe((m: Message) => {
    if (m.type === 'identify' && m.traits) userTraits = { ...userTraits, ...m.traits };
    if (m.type === 'group' && m.traits) tenantTraits = { ...tenantTraits, ...m.traits };
    if ((m.type === 'identify' || m.type === 'group') && m.traits) unsaved.add('traits');
    const hit = m.type === 'track' && m.event ? rollups.record(m.event, m.properties, Date.parse(m.timestamp), m.messageId) : false;
    if (m.type === 'track' && m.event) {
      unsaved.add('history');
      if (hit) unsaved.add('rollups');
      guide.onMessage(m.event, m.properties, Date.parse(m.timestamp));
    }
    if (m.type === 'page') guide.wake();
    if (unsaved.size) {
      saveTimer ??= setTimeout(() => {
        saveTimer = undefined;
        for (const k of unsaved) save(k, k === 'rollups' ? rollups.toJSON() : k === 'history' ? rollups.history() : { userTraits, tenantTraits });
        unsaved.clear();
      }, 200);
    }
    if (hit || m.type !== 'track') recompute(true);
  });

  const authed = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${o.userToken}` },
    credentials: 'omit',
  });

  /** Saves progress here and sends what changed. */
  function persist() {
    save('progress', [...progress.values()]);
    void pushProgress();
  }

  /**
   * One PUT at a time, in order: a checklist item completed by the recipe that launches it must
   * reach the server after (or with) that recipe's completion, which is its evidence. Entries
   * changed while a PUT is in flight go in the next one.
   */
  let pushing: Promise<void> = Promise.resolve();
  function pushProgress(): Promise<void> {
    return (pushing = pushing.then(sendProgress).catch(() => undefined));
  }

  async function sendProgress() {
    if (!o.userToken || !dirty.length) return;
    const entries = dirty;
    dirty = [];
    try {
      // keepalive: a step saved as the page navigates away still reaches the server.
      const res = await fetch(
        `${host}/v1/progress${pending()}`,
        authed({ method: 'PUT', keepalive: true, body: JSON.stringify({ entries }), headers: { 'content-type': 'application/json' } }),
      );
      if (res.status >= 400 && res.status < 500 && ![401, 408, 429].includes(res.status)) {
        // Refused for good (the lifecycle state doesn't allow it, a role may not attest it): retrying can't help.
        console.warn(`Keel: progress not stored: ${((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`}`);
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      applyProgress(await res.json());
      recompute(true); // the server's history may complete items here
    } catch {
      dirty = entries.concat(dirty); // retried with the next change or refresh
    }
  }

  /** `?pendingSince=`: the oldest message the server has not acknowledged yet, less a day for clock-skew correction. */
  const pending = () => {
    const t = rollups.pendingSince();
    return t === undefined ? '' : `?pendingSince=${encodeURIComponent(new Date(t - DAY).toISOString())}`;
  };

  /**
   * Server-decided items (`source: server`) and attestations become local progress; the user's
   * history from the server becomes the base of the local rollups (see `Rollups`).
   */
  function applyProgress(body: Partial<ProgressAnswer>) {
    for (const e of [...(body.user ?? []), ...(body.tenant ?? [])]) setProgress(e, false);
    if (body.facts) facts = body.facts;
    if (body.lifecycle !== undefined) lifecycle = body.lifecycle;
    if (body.history) {
      rollups.applyServer(body.history);
      save('history', rollups.history());
    }
    save('progress', [...progress.values()]);
    save('facts', facts);
    guide.wake(); // a recipe left running on another device
  }

  async function refresh() {
    try {
      const draft = preview ? `&draft=${encodeURIComponent(preview)}` : '';
      const res = await fetch(`${host}/v1/config?writeKey=${encodeURIComponent(o.writeKey)}${draft}`, {
        credentials: 'omit',
        headers: etag && !preview ? { 'if-none-match': etag } : {},
      });
      if (res.status === 200) {
        const body = (await res.json()) as { version: number; config: ClientConfig };
        applyConfig({ ...body.config, version: body.version });
        if (!preview) {
          etag = res.headers.get('etag') ?? undefined;
          save('config', { etag, config });
        }
      } else if (preview && res.status === 404) {
        console.warn(`Keel: draft ${preview} not found or expired; showing the cached published config`);
        if (!config && cachedConfig) applyConfig(cachedConfig);
      }
    } catch {
      /* offline: the cached config stays in use */
    }
    if (o.userToken) {
      try {
        if (dirty.length) await pushProgress();
        const res = await fetch(`${host}/v1/progress${pending()}`, authed());
        if (res.ok) applyProgress(await res.json());
      } catch {
        /* offline */
      }
    }
    recompute(true);
  }

  const ready = (async () => {
    kv = await dbP;
    if (kv) {
      const st = kvStore(kv); // one transaction for every key
      const [c, r, p, f, t, s, u, h] = await Promise.all(
        ['config', 'rollups', 'progress', 'facts', 'traits', 'startedAt', 'ui', 'history'].map((k) => request(st.get(k))),
      );
      if (u) ui = u as typeof ui;
      if (r || h) {
        // Events tracked while the saved state loaded are kept (counted once the config watches them).
        const early = rollups;
        rollups = new Rollups((r ?? {}) as Record<string, Rollup>, h as SavedHistory | undefined);
        rollups.absorb(early);
      }
      if (c) {
        cachedConfig = (c as { config: ClientConfig }).config;
        if (!preview) {
          etag = (c as { etag?: string }).etag;
          applyConfig(cachedConfig);
        }
      }
      for (const e of (p as ProgressEntry[] | undefined) ?? []) setProgress(e, false);
      if (f) facts = f as Record<string, unknown>;
      if (t) ({ userTraits, tenantTraits } = t as { userTraits: Record<string, unknown>; tenantTraits: Record<string, unknown> });
      if (typeof s === 'number') startedAt = s;
      else save('startedAt', startedAt);
    }
    // The user token's role is a user trait too (audiences such as { trait: role, in: [admin] }).
    if (o.userToken) {
      try {
        const claims = JSON.parse(atob(o.userToken.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { role?: unknown };
        if (typeof claims.role === 'string') userTraits = { role: claims.role, ...userTraits };
      } catch {
        /* not a JWT we can read: the server will say so */
      }
    }
    recompute(false); // render from cache first…
    await refresh(); // …then revalidate
  })();

  /** The lifecycle state's allow-list, as the server evaluated it; undefined = allowed. */
  function allowed(action: string): string | undefined {
    if (!lifecycle?.allows) return undefined;
    const ok = lifecycle.allows.some((p) => (p.endsWith('*') ? action.startsWith(p.slice(0, -1)) : p === action));
    return ok ? undefined : `"${action}" is not allowed in lifecycle state "${lifecycle.state}" (allows: ${lifecycle.allows.join(', ')})`;
  }

  const timer = setInterval(() => void refresh(), o.refreshInterval ?? 300_000);

  return {
    telemetry,
    track: telemetry.track,
    identify: telemetry.identify,
    group: telemetry.group,
    ready,
    get config() {
      return config;
    },
    checklist: (id) => views.get(id),
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    act(checklistId: string, itemId: string, kind: 'launch' | 'recovery', action: ItemAction) {
      const refusal = action.recipe ? allowed(`recipe:${action.recipe}`) : undefined;
      if (refusal) {
        console.warn(`Keel: ${refusal}`);
        telemetry.track('lifecycle.action_refused', { action: `recipe:${action.recipe}`, state: lifecycle?.state, checklist: checklistId, item: itemId });
        return;
      }
      telemetry.track('checklist.item_action', { checklist: checklistId, item: itemId, kind, recipe: action.recipe, link: action.link });
      if (action.recipe) {
        o.onRecipe?.(action.recipe);
        const recipe = action.recipe;
        void guide.load().then((g) => {
          const started = g.recipes.start(recipe, { source: `checklist:${checklistId}/${itemId}` });
          if (!started.ok) console.warn(`Keel: ${started.reason}`);
        });
      } else if (action.link && SAFE_LINK.test(action.link)) (o.onLink ?? ((h: string) => location.assign(h)))(action.link);
    },
    uiState: (id) => (Object.hasOwn(ui, id) ? ui[id] : undefined),
    get lifecycle() {
      return lifecycle;
    },
    allows: (action: string) => {
      const why = allowed(action);
      return why ? { ok: false as const, reason: why } : { ok: true as const };
    },
    interrupt: async (checklistId, itemId) => (await guide.load()).interrupt('checklist', checklistId, itemId).ok,
    setUiState(id, state) {
      ui = { ...ui, [id]: { ...(Object.hasOwn(ui, id) ? ui[id] : undefined), ...state } };
      save('ui', ui);
      if (state.collapsed || state.dismissed) guide.loaded?.settled(id); // a reopened checklist closed
      if (state.dismissed !== undefined) telemetry.track(state.dismissed ? 'checklist.dismissed' : 'checklist.shown', { checklist: id });
    },
    async explain(checklistId, itemId) {
      const item = config?.checklists?.find((c) => c.id === checklistId)?.items.find((i) => i.id === itemId);
      return item ? (await explanations())(item.complete, ctx()) : undefined;
    },
    refresh,
    recipes: {
      start: async (id, options) => (await guide.load()).recipes.start(id, options),
      get active() {
        return guide.loaded?.recipes.active;
      },
      exit: () => guide.loaded?.recipes.exit(),
    },
    debug: {
      explain: async (id) => (await guide.load()).explain(id),
      report: async () => (await guide.load()).report(),
    },
    async shutdown() {
      guide.dispose();
      removeEventListener('popstate', onNav);
      removeEventListener('storage', onStorage);
      document.removeEventListener('focusout', onNav, true);
      document.removeEventListener('visibilitychange', onNav);
      clearInterval(timer);
      clearTimeout(saveTimer);
      await telemetry.shutdown();
      closed = true;
      (await dbP)?.close();
    },
  };
}
