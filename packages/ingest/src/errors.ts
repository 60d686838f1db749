/**
 * An error the API answers with its own status and a JSON body that names the problem.
 * `retryAfter` (seconds) is sent as `Retry-After`: only errors that a retry can cure carry it
 * (a store that is full or read-only, a rate limit), so a client never resends a request that
 * will fail the same way.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}
