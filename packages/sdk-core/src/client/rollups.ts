import { durationMs } from '../rules/duration.js';
import { referencedEvents } from '../rules/events.js';
import { matchWhere } from '../rules/match.js';
import type { EventQuery, Rule, Where } from '../rules/types.js';

const DAY = 86_400_000;
/** One counter per event clause the config uses: counts per UTC day, and when last seen. */
export interface Rollup { event: string; where?: Where; days: Record<number, number>; last: number }

const keyOf = (event: string, where?: Where) => (where ? `${event} ${JSON.stringify(where)}` : event);

/**
 * Local rollups of the user's own events: per event clause, per day. Enough to answer every
 * `event` rule of the config without keeping raw events; a window is counted in whole days
 * (an event on the window's first day counts), kept 90 days.
 */
export class Rollups {
  private byKey = new Map<string, Rollup>();
  private byEvent = new Map<string, Rollup[]>();

  constructor(saved: Record<string, Rollup> = {}) {
    for (const [k, r] of Object.entries(saved)) this.add(k, r);
  }

  private add(k: string, r: Rollup) {
    this.byKey.set(k, r);
    const list = this.byEvent.get(r.event) ?? [];
    list.push(r);
    this.byEvent.set(r.event, list);
  }

  /** Starts counting every event clause these rules use (idempotent). */
  watch(rules: readonly Rule[]): void {
    for (const rule of rules) {
      for (const ref of referencedEvents(rule)) {
        const k = keyOf(ref.event, ref.where);
        if (!this.byKey.has(k)) this.add(k, ref.where ? { event: ref.event, where: ref.where, days: {}, last: 0 } : { event: ref.event, days: {}, last: 0 });
      }
    }
  }

  /** Counts an event; true when some watched clause matched it. */
  record(event: string, properties: Readonly<Record<string, unknown>> | undefined, ts: number): boolean {
    const list = this.byEvent.get(event);
    if (!list) return false;
    let hit = false;
    const day = Math.floor(ts / DAY);
    for (const r of list) {
      if (!matchWhere(r.where, properties)) continue;
      r.days[day] = (r.days[day] ?? 0) + 1;
      r.last = Math.max(r.last, ts);
      hit = true;
    }
    if (hit) this.prune(day);
    return hit;
  }

  private prune(today: number) {
    for (const r of this.byKey.values()) for (const d of Object.keys(r.days)) if (Number(d) < today - 90) delete r.days[Number(d)];
  }

  count(q: EventQuery): number {
    const r = this.byKey.get(keyOf(q.event, q.where));
    if (!r) return 0;
    const from = q.since === undefined ? -Infinity : Math.floor(q.since / DAY);
    const to = Math.floor(q.until / DAY);
    let n = 0;
    for (const [d, c] of Object.entries(r.days)) if (Number(d) >= from && Number(d) <= to) n += c;
    return n;
  }

  toJSON(): Record<string, Rollup> {
    return Object.fromEntries(this.byKey);
  }
}

export { durationMs };
