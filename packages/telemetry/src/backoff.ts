// The retry delay, pure: exponential backoff with full jitter, a server's Retry-After as a floor.

export interface BackoffPolicy {
  /** The first retry waits up to this long (ms). */
  baseDelay: number;
  /** No retry waits longer than this (ms), unless the server asked for longer. */
  maxDelay: number;
}

/**
 * How long to wait before retry number `attempt` (0 for the first): a uniform draw (`random`, in
 * [0, 1)) under `min(maxDelay, baseDelay × 2^attempt)`. A server's `Retry-After` (`after`, ms) is
 * honoured as a floor, with a quarter of the jitter on top so tabs told the same do not return at once.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number, after?: number): number {
  const cap = Math.min(policy.maxDelay, policy.baseDelay * 2 ** Math.min(attempt, 30));
  const jitter = random * cap;
  return after !== undefined ? Math.max(after, jitter / 4) : jitter;
}
