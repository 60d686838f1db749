import { matchWhere } from './match.js';
import type { EventQuery, RuleContext } from './types.js';

/** An event as the in-memory context stores it: name, timestamp (ms), properties. */
export interface MemoryEvent {
  event: string;
  ts: number;
  properties?: Readonly<Record<string, unknown>>;
}

/**
 * A `RuleContext` over an in-memory event list: the reference semantics of `countEvents`
 * (`since <= ts <= until`, both inclusive, `where` via `matchWhere`). For tests, previews in the
 * config editor and small local sets; the browser rollups and the server's SQL must agree with it.
 */
export function memoryContext(events: readonly MemoryEvent[], rest: Omit<RuleContext, 'countEvents'>): RuleContext {
  return {
    ...rest,
    countEvents: ({ event, where, since = -Infinity, until }: EventQuery) =>
      events.filter((e) => e.event === event && e.ts >= since && e.ts <= until && matchWhere(where, e.properties)).length,
  };
}
