/**
 * The fatigue budget: one ledger of interruptions for every surface (nudges, recipes, a checklist
 * reopening itself), kept per browser in localStorage so every tab of the app shares it and a
 * reload doesn't reset it. It is written only when something is shown or closed (rare), and read
 * synchronously when the engine decides (so a decision never waits on IndexedDB).
 *
 * Pure apart from the `Storage` it is given: no DOM, no timers; time is always passed in.
 */

const MIN = 60_000;
const DAY = 86_400_000;
/** A session ends after 30 minutes without activity (as `user.session` does in @keel/telemetry). */
export const SESSION_GAP_MS = 30 * MIN;
const KEEP_MS = 90 * DAY;
const KEEP_ENTRIES = 500;

export interface FatiguePolicy {
  /** Interrupting surfaces shown per session. */
  perSession: number;
  /** Interrupting surfaces shown in any 24 hours. */
  perDay: number;
  /** Nothing interrupts for this long after the user closes something that did. */
  quietMs: number;
}

export const DEFAULT_FATIGUE: FatiguePolicy = { perSession: 3, perDay: 5, quietMs: 10 * MIN };

export type SurfaceKind = 'nudge' | 'recipe' | 'checklist';

export interface ShownEntry {
  kind: SurfaceKind;
  id: string;
  at: number;
  /** Counted by the session and day caps (a hotspot the user opened is not). */
  interrupting: boolean;
}

/** The running recipe, as this browser last saw it: the authority for a reload or a new tab. */
export interface RecipeMark {
  id: string;
  step: number;
  active: boolean;
  at: number;
}

export interface LedgerData {
  v: 1;
  session: { start: number; last: number };
  shown: ShownEntry[];
  /** When the user last closed an interrupting surface: the quiet period runs from here. */
  closedAt: number;
  /** Nudge id → snoozed until. */
  snoozed: Record<string, number>;
  /** Nudge id → dismissed at (forever). */
  dismissed: Record<string, number>;
  recipe?: RecipeMark;
}

/** Id → number maps without a prototype: a nudge id such as `constructor` reads as absent, not as Object's. */
const idMap = (entries: Iterable<readonly [string, number]> = []): Record<string, number> =>
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(entries));
const fresh = (now: number): LedgerData => ({ v: 1, session: { start: now, last: now }, shown: [], closedAt: 0, snoozed: idMap(), dismissed: idMap() });
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const numbers = (v: unknown): Record<string, number> =>
  idMap(isObj(v) ? (Object.entries(v).filter(([, x]) => typeof x === 'number') as [string, number][]) : []);

/** Reads a stored ledger defensively: whatever another version (or a user) left there never breaks a page. */
export function parseLedger(text: string | null, now: number): LedgerData {
  let v: unknown;
  try {
    v = text ? JSON.parse(text) : undefined;
  } catch {
    v = undefined;
  }
  if (!isObj(v) || v.v !== 1) return fresh(now);
  const s = isObj(v.session) ? v.session : {};
  const shown = Array.isArray(v.shown)
    ? v.shown
        .filter(
          (e): e is ShownEntry =>
            isObj(e) && typeof e.id === 'string' && typeof e.at === 'number' && (e.kind === 'nudge' || e.kind === 'recipe' || e.kind === 'checklist'),
        )
        .map((e) => ({ kind: e.kind, id: e.id, at: e.at, interrupting: e.interrupting !== false }))
    : [];
  const r = v.recipe;
  const recipe =
    isObj(r) && typeof r.id === 'string' && typeof r.step === 'number'
      ? { id: r.id, step: Math.max(0, Math.floor(r.step)), active: r.active === true, at: num(r.at) }
      : undefined;
  const data: LedgerData = {
    v: 1,
    session: { start: num(s.start, now), last: num(s.last, now) },
    shown,
    closedAt: num(v.closedAt),
    snoozed: numbers(v.snoozed),
    dismissed: numbers(v.dismissed),
  };
  if (recipe) data.recipe = recipe;
  return data;
}

export class Ledger {
  data: LedgerData;
  private persistedLast = 0;

  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined,
    private readonly key: string,
    now: number,
  ) {
    this.data = fresh(now);
    this.reload(now);
  }

  /** Re-reads the stored ledger (another tab wrote it). */
  reload(now: number): void {
    let text: string | null = null;
    try {
      text = this.storage?.getItem(this.key) ?? null;
    } catch {
      /* storage disabled: memory only */
    }
    this.data = parseLedger(text, now);
    this.persistedLast = this.data.session.last;
  }

  save(): void {
    this.persistedLast = this.data.session.last;
    try {
      this.storage?.setItem(this.key, JSON.stringify(this.data));
    } catch {
      /* quota or disabled storage: the budget still holds for this page */
    }
  }

  /** Activity: starts a new session after `SESSION_GAP_MS` without any. Persists at most once a minute. */
  touch(now: number): void {
    const s = this.data.session;
    if (now - s.last > SESSION_GAP_MS) this.data.session = { start: now, last: now };
    else s.last = Math.max(s.last, now);
    if (now - this.persistedLast > MIN || this.data.session.start === now) this.save();
  }

  record(kind: SurfaceKind, id: string, now: number, interrupting = true): void {
    this.touch(now);
    this.data.shown.push({ kind, id, at: now, interrupting });
    const cutoff = now - KEEP_MS;
    this.data.shown = this.data.shown.filter((e) => e.at >= cutoff).slice(-KEEP_ENTRIES);
    this.save();
  }

  /** The user closed an interrupting surface: the quiet period starts now. */
  closed(now: number): void {
    this.data.closedAt = now;
    this.save();
  }

  snooze(id: string, until: number): void {
    this.data.snoozed[id] = until;
    this.save();
  }

  dismiss(id: string, now: number): void {
    this.data.dismissed[id] = now;
    this.save();
  }

  setRecipe(mark: RecipeMark | undefined): void {
    if (mark) this.data.recipe = mark;
    else delete this.data.recipe;
    this.save();
  }

  /** Interrupting surfaces shown in the current session. */
  sessionCount(now: number): number {
    const s = this.data.session;
    if (now - s.last > SESSION_GAP_MS) return 0; // this is a new session that hasn't started yet
    return this.data.shown.filter((e) => e.interrupting && e.at >= s.start).length;
  }

  /** Interrupting surfaces shown in the last 24 hours. */
  dayCount(now: number): number {
    return this.data.shown.filter((e) => e.interrupting && e.at > now - DAY).length;
  }

  /** Times this surface was shown in the last `perMs`; and when the oldest of them leaves the window. */
  countOf(kind: SurfaceKind, id: string, perMs: number, now: number): { count: number; oldest?: number } {
    const hits = this.data.shown.filter((e) => e.kind === kind && e.id === id && e.at > now - perMs);
    return hits.length ? { count: hits.length, oldest: Math.min(...hits.map((e) => e.at)) } : { count: 0 };
  }

  /** When the n-th most recent interruption (of those counted since `from`) was shown: the window frees after it. */
  oldestInterruptionSince(from: number): number | undefined {
    const hits = this.data.shown.filter((e) => e.interrupting && e.at > from);
    return hits.length ? Math.min(...hits.map((e) => e.at)) : undefined;
  }
}

/** `3h 20m`, `45s`, `2d 4h`: how long until `until`. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}
