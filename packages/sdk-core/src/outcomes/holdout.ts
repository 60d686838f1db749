/**
 * Holdouts: which users are counted as exposed to an item but not shown it. Deterministic (a hash
 * of the item and the user), so the server, which decides it, and anyone re-checking it agree
 * without storing an assignment. Pure: no DOM, no Node.
 */

/** FNV-1a, 32 bits, over the UTF-16 code units: small, fast and well spread for short ids. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The user's bucket for an item, in [0, 100) with steps of 0.01: compared with a holdout percentage. */
export const holdoutBucket = (itemId: string, userId: string): number => (fnv1a(`${itemId}\u0000${userId}`) % 10_000) / 100;

/** True when the user is in the item's holdout of `percent` (0–50) of eligible users. */
export const inHoldout = (itemId: string, userId: string, percent: number): boolean => percent > 0 && holdoutBucket(itemId, userId) < percent;
