// Sending: drains the shared IndexedDB queue in batches (one tab at a time, under a Web Lock),
// classifies the server's answers, retries with backoff, and beacons what this tab holds on unload.
// The drain and the transport (./drain.ts) are a chunk of their own, imported by the first flush:
// a page pays for them seconds after it starts, not up front. The beacon stays here: pagehide
// cannot wait for a chunk.
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { envelope, fit, serialiseAll, utf8Length } from './batch.js';
import type { DrainState } from './drain.js';
import type { Queue } from './queue.js';
import type { Entry } from './store.js';
import type { Message, TelemetryError } from './types.js';

const BEACON_BYTES = 60_000;

export interface SenderOptions {
  host: string;
  writeKey: string;
  /** The page's user token, sent in every body (batch and beacon) so the server can verify its events. */
  userToken: () => string | undefined;
  dbName: string;
  compress: boolean;
  flushAt: number;
  maxBatchBytes: number;
  retry: BackoffPolicy;
  enabled: () => boolean;
  report: (e: TelemetryError) => void;
  /** Messages dropped for good (unserialisable, or refused by the server): reported and counted. */
  refuse: (why: string, messages: Message[], kind?: 'invalid' | 'rejected') => void;
}

export interface Sender {
  /** Sends everything queued; resolves when sent or when the attempt failed (it is retried). */
  flush(): Promise<void>;
  /** A flush no later than `delay` ms from now (and not before a pending retry). */
  schedule(delay: number): void;
  /** When the next flush is due (ms since the epoch), or Infinity. */
  due(): number;
  /** Unload: what this tab still holds, by beacon, in chunks within the 64 KB budget. */
  beacon(): void;
  /** Cancels the timers (consent withdrawn, shutdown). */
  cancel(): void;
  stop(): void;
}

export function createSender(o: SenderOptions, queue: Queue): Sender {
  const overheadOf = () => utf8Length(envelope([], o.writeKey, undefined, o.userToken()));
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let flushDue = 0;
  let attempt = 0;
  let retryAt = 0;
  let stopped = false;
  const state: DrainState = {
    retryAt: () => retryAt,
    backoff,
    sent: () => {
      attempt = 0;
    },
    lib: { envelope, fit, serialiseAll },
    overhead: overheadOf,
  };

  function schedule(delay: number) {
    if (stopped || !o.enabled()) return;
    const now = Date.now();
    const at = Math.max(delay, retryAt - now);
    if (flushTimer) {
      if (flushDue <= now + at) return; // already due no later than asked
      clearTimeout(flushTimer);
    }
    flushDue = now + at;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush();
    }, at);
  }

  let flushing: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  function flush(): Promise<void> {
    if (!o.enabled()) return Promise.resolve();
    // A flush already running may have read the queue before the newest messages were written:
    // callers meanwhile share one follow-up flush that starts when it ends.
    if (flushing) {
      return (next ??= flushing.then(() => {
        next = undefined;
        return flush();
      }));
    }
    flushing = (async () => {
      try {
        // Imported before the lock is taken: no other tab waits while this one fetches the chunk.
        const { drain } = await import('./drain.js');
        const run = () => drain(o, queue, state);
        const locks = navigator.locks;
        if (locks) await locks.request(`keel-flush:${o.dbName}`, run);
        else await run();
      } catch (e) {
        // Storage or the network stack failed in a way send() does not classify (or the drain's
        // chunk could not be fetched): try again later.
        o.report({ kind: 'storage', message: `sending failed, will retry: ${e}` });
        backoff();
      }
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  function cancel() {
    clearTimeout(flushTimer);
    clearTimeout(retryTimer);
    flushTimer = undefined;
  }

  function backoff(after?: number) {
    const wait = backoffDelay(attempt++, o.retry, Math.random(), after);
    retryAt = Date.now() + wait;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryAt = 0;
      void flush();
    }, wait);
  }

  function beacon() {
    if (!o.enabled() || !queue.size || typeof navigator.sendBeacon !== 'function') return;
    const url = `${o.host}/v1/beacon?writeKey=${encodeURIComponent(o.writeKey)}`;
    const [ok, parts, sizes, bad] = serialiseAll(queue.held());
    if (bad.length) queue.forget(bad, true);
    const gone: Entry[] = [];
    for (let i = 0, n; i < ok.length; i += n) {
      n = Math.min(100, fit(sizes, BEACON_BYTES, overheadOf(), i));
      const text = envelope(parts.slice(i, i + n), o.writeKey, undefined, o.userToken());
      if (utf8Length(text) > BEACON_BYTES || !navigator.sendBeacon(url, new Blob([text], { type: 'text/plain' }))) break;
      gone.push(...ok.slice(i, i + n));
    }
    // sendBeacon's true means the browser queued the request, not that the server stored it (it may
    // be down, or the network gone): what went stays in IndexedDB and is sent again by the next
    // flush or page, and the server's ledger stores each message id once. This tab won't beacon it again.
    if (gone.length) queue.forget(gone);
  }

  return {
    flush,
    schedule,
    due: () => (flushTimer ? flushDue : Infinity),
    beacon,
    cancel,
    stop() {
      stopped = true;
      cancel();
    },
  };
}
