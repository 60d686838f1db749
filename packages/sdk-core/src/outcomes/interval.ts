/**
 * Confidence intervals for "did it help?": a proportion (Wilson's score interval) and the
 * difference of two independent proportions (Newcombe's hybrid score interval, method 10 of
 * Newcombe 1998, built from the two Wilson intervals). Both behave at small counts and at 0% or
 * 100%, where the textbook normal approximation gives intervals outside [0, 1] or of zero width.
 */

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** Wilson's score interval for `successes` of `n` (n > 0). */
export function wilson(successes: number, n: number, z = Z95): { low: number; high: number } {
  if (n <= 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/**
 * The difference p1 − p2 of two independent proportions (x1 of n1, x2 of n2) with Newcombe's
 * hybrid score interval: (d − δ, d + ε) with δ = √((p1 − l1)² + (u2 − p2)²) and
 * ε = √((u1 − p1)² + (p2 − l2)²), where (l, u) are each proportion's Wilson interval.
 */
export function newcombeDifference(x1: number, n1: number, x2: number, n2: number, z = Z95): { difference: number; low: number; high: number } {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const a = wilson(x1, n1, z);
  const b = wilson(x2, n2, z);
  const d = p1 - p2;
  return {
    difference: d,
    low: d - Math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
    high: d + Math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
  };
}
