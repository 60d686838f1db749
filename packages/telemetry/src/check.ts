// What track() can accept, decided before a message is queued (pure, no DOM): a value that JSON
// or IndexedDB's structured clone would choke on is refused here, so it never reaches the queue.

/** Property values nest at most this deep (a cyclic value is infinitely deep). */
export const MAX_DEPTH = 32;

/**
 * The approximate size of `v` as JSON (UTF-16 units), cheap enough for track(). Stops early once
 * the size passes `budget`, so a wide value is not walked to its end.
 *
 * Throws a string naming the path and the problem (`"properties.a.b is a function"`, not an
 * Error: nothing to capture) for a BigInt, a function or a symbol (JSON cannot carry them,
 * structured clone throws on the last two) and for nesting deeper than `MAX_DEPTH`, which is also
 * what a cycle looks like. A getter that throws propagates its own error.
 */
export function measure(v: unknown, budget: number, depth = 0): number {
  const t = typeof v;
  if (t === 'string') return (v as string).length + 2;
  if (t === 'bigint' || t === 'function' || t === 'symbol') throw ` is a ${t === 'bigint' ? 'BigInt' : t}`;
  if (t !== 'object' || v === null) return 8;
  if (depth >= MAX_DEPTH) throw ` nests deeper than ${MAX_DEPTH} levels (or is cyclic)`;
  // A sparse array's holes are written as nulls: its length counts, not only its entries.
  let n = 2 + (Array.isArray(v) ? v.length : 0);
  for (const k in v as object) {
    try {
      n += k.length + 4 + measure((v as Record<string, unknown>)[k], budget - n, depth + 1);
    } catch (e) {
      throw typeof e === 'string' ? `.${k}${e}` : e;
    }
    if (n > budget) break;
  }
  return n;
}
