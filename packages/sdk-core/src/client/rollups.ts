import { clauseKey as keyOf, type HistoryClause, type ProgressHistory } from '../progress/answer.js';
import { durationMs } from '../rules/duration.js';
import { referencedEvents } from '../rules/events.js';
import { matchWhere } from '../rules/match.js';
import type { EventQuery, Rule, Where } from '../rules/types.js';

const DAY = 86_400_000;
/** One counter per event clause the config uses: counts per UTC day, and when last seen. */
export interface Rollup {
  event: string;
  where?: Where;
  days: Record<number, number>;
  last: number;
}

/** A message this browser tracked, kept until the server's history lists its id (then `confirmed`). */
export interface RecentMessage {
  id: string;
  event: string;
  properties?: Readonly<Record<string, unknown>>;
  ts: number;
  confirmed?: boolean;
}

/** What survives a reload besides the rollups: the server's history and the recent messages. */
export interface SavedHistory {
  server?: { fromDay: number; firstSeen: string | null; clauses: HistoryClause[] };
  recent: RecentMessage[];
}

/** Recent messages kept (for counting what the server has not acknowledged, and for clauses the config adds later). */
export const RECENT_LIMIT = 1000;

/**
 * Local rollups of the user's own events: per event clause, per day. Enough to answer every
 * `event` rule of the config without keeping raw events; a window is counted in whole days
 * (an event on the window's first day counts), kept 90 days.
 *
 * History from the server: once a progress answer arrived, a clause it reports is counted as the
 * server's per-day counts plus this browser's recent messages the server has not acknowledged
 * (their id is not in the answer's `messageIds`: still queued, in flight, or refused), so a new
 * device starts from the user's whole history and no message is counted twice. A clause the server
 * did not report is counted from the local rollups alone.
 *
 * Events tracked before the config arrived (nothing watched them yet) are kept as recent messages
 * and counted into a clause when it is first watched.
 */
export class Rollups {
  private byKey = new Map<string, Rollup>();
  private byEvent = new Map<string, Rollup[]>();
  private server: SavedHistory['server'];
  private serverByKey = new Map<string, HistoryClause>();
  private recent: RecentMessage[] = [];

  constructor(saved: Record<string, Rollup> = {}, history?: SavedHistory) {
    for (const [k, r] of Object.entries(saved)) this.add(k, r);
    if (history) {
      this.recent = history.recent ?? [];
      if (history.server) this.setServer(history.server);
    }
  }

  private setServer(h: NonNullable<SavedHistory['server']>) {
    this.server = h;
    this.serverByKey = new Map(h.clauses.map((c) => [c.key, c]));
  }

  /** The server's history of this user (from a progress answer): its counts, and which recent messages it holds. */
  applyServer(h: ProgressHistory): void {
    this.setServer({ fromDay: h.fromDay, firstSeen: h.firstSeen, clauses: h.clauses });
    const ids = new Set(h.messageIds);
    for (const m of this.recent) if (ids.has(m.id)) m.confirmed = true;
  }

  /** When the server first saw this user (ms), if it said. */
  get serverFirstSeen(): number | undefined {
    const t = this.server?.firstSeen ? Date.parse(this.server.firstSeen) : NaN;
    return Number.isNaN(t) ? undefined : t;
  }

  /** The oldest recent message the server has not acknowledged (ms): what `?pendingSince=` asks about. */
  pendingSince(): number | undefined {
    let t: number | undefined;
    for (const m of this.recent) if (!m.confirmed && (t === undefined || m.ts < t)) t = m.ts;
    return t;
  }

  /** Takes in the recent messages another instance recorded (events tracked while the saved state was loading). */
  absorb(other: Rollups): void {
    const seen = new Set(this.recent.map((m) => m.id));
    for (const m of other.recent) if (!seen.has(m.id)) this.record(m.event, m.properties, m.ts, m.id);
  }

  history(): SavedHistory {
    return this.server ? { server: this.server, recent: this.recent } : { recent: this.recent };
  }

  private add(k: string, r: Rollup) {
    this.byKey.set(k, r);
    const list = this.byEvent.get(r.event) ?? [];
    list.push(r);
    this.byEvent.set(r.event, list);
  }

  /** Starts counting every event clause these rules use (idempotent); a new clause counts the recent messages already seen. */
  watch(rules: readonly Rule[]): void {
    for (const rule of rules) {
      for (const ref of referencedEvents(rule)) {
        const k = keyOf(ref.event, ref.where);
        if (this.byKey.has(k)) continue;
        const r: Rollup = ref.where ? { event: ref.event, where: ref.where, days: {}, last: 0 } : { event: ref.event, days: {}, last: 0 };
        this.add(k, r);
        for (const m of this.recent) if (m.event === r.event) this.bump(r, m.properties, m.ts);
      }
    }
  }

  private bump(r: Rollup, properties: Readonly<Record<string, unknown>> | undefined, ts: number): boolean {
    if (!matchWhere(r.where, properties)) return false;
    const day = Math.floor(ts / DAY);
    r.days[day] = (r.days[day] ?? 0) + 1;
    r.last = Math.max(r.last, ts);
    return true;
  }

  /** Counts an event (`id`: its messageId, kept as a recent message); true when some watched clause matched it. */
  record(event: string, properties: Readonly<Record<string, unknown>> | undefined, ts: number, id?: string): boolean {
    if (id !== undefined) {
      this.recent.push(properties ? { id, event, properties, ts } : { id, event, ts });
      if (this.recent.length > RECENT_LIMIT) this.recent.splice(0, this.recent.length - RECENT_LIMIT);
    }
    const list = this.byEvent.get(event);
    if (!list) return false;
    let hit = false;
    for (const r of list) if (this.bump(r, properties, ts)) hit = true;
    if (hit) this.prune(Math.floor(ts / DAY));
    return hit;
  }

  private prune(today: number) {
    for (const r of this.byKey.values()) for (const d of Object.keys(r.days)) if (Number(d) < today - 90) delete r.days[Number(d)];
  }

  count(q: EventQuery): number {
    const key = keyOf(q.event, q.where);
    const from = q.since === undefined ? -Infinity : Math.floor(q.since / DAY);
    const to = Math.floor(q.until / DAY);
    let n = 0;
    const s = this.serverByKey.get(key);
    if (s) {
      // The server's counts, plus what it doesn't have yet.
      for (const [d, c] of Object.entries(s.days)) if (Number(d) >= from && Number(d) <= to) n += c;
      if (from <= this.server!.fromDay - 1) n += s.before;
      for (const m of this.recent) {
        const d = Math.floor(m.ts / DAY);
        if (!m.confirmed && m.event === q.event && d >= from && d <= to && matchWhere(q.where, m.properties)) n++;
      }
      return n;
    }
    const r = this.byKey.get(key);
    if (!r) return 0;
    for (const [d, c] of Object.entries(r.days)) if (Number(d) >= from && Number(d) <= to) n += c;
    return n;
  }

  toJSON(): Record<string, Rollup> {
    return Object.fromEntries(this.byKey);
  }
}

export { durationMs };
