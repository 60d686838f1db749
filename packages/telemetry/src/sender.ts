// Sending: drains the shared IndexedDB queue in batches (one tab at a time, under a Web Lock),
// classifies the server's answers, retries with backoff, and beacons what this tab holds on unload.
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { envelope, fit, serialise, utf8Length } from './batch.js';
import type { Queue } from './queue.js';
import type { Entry } from './store.js';
import { send } from './transport.js';
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

/** Serialises each entry alone: [entries, their JSON, its UTF-8 sizes, those JSON refuses]. */
function serialiseAll(entries: Entry[]) {
  const ok: Entry[] = [];
  const parts: string[] = [];
  const sizes: number[] = [];
  const bad: Entry[] = [];
  for (const e of entries) {
    const s = serialise(e.m);
    if (s === undefined) bad.push(e);
    else {
      ok.push(e);
      parts.push(s);
      sizes.push(utf8Length(s));
    }
  }
  return [ok, parts, sizes, bad] as const;
}

export function createSender(o: SenderOptions, queue: Queue): Sender {
  const overheadOf = () => utf8Length(envelope([], o.writeKey, undefined, o.userToken()));
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let flushDue = 0;
  let attempt = 0;
  let retryAt = 0;
  let stopped = false;

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
        const locks = navigator.locks;
        if (locks) await locks.request(`keel-flush:${o.dbName}`, drain);
        else await drain();
      } catch (e) {
        // Storage or the network stack failed in a way send() does not classify: try again later.
        o.report({ kind: 'storage', message: `sending failed, will retry: ${String(e)}` });
        backoff();
      }
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  /**
   * Writes what is pending, then sends from IndexedDB until it is empty or a send fails (then a
   * retry is scheduled). Two transactions for a short queue: the write with the first read, and
   * the delete of what was sent (with the next read when more may be left).
   */
  async function drain(): Promise<void> {
    const store = await queue.store;
    const batchMax = Math.max(o.flushAt, 100);
    let limit = batchMax;
    let read = o.enabled() && Date.now() >= retryAt ? limit : 0; // backing off: only write
    let entries = await queue.persist(read);
    for (;;) {
      if (!entries.length) {
        if (read) queue.settled(); // everything this tab persisted is gone from the shared queue
        return;
      }
      if (!o.enabled() || Date.now() < retryAt) return;
      // Each message serialised alone: one JSON refuses is dropped alone, never the batch.
      const [ok, parts, sizes, bad] = serialiseAll(entries);
      let gone = bad;
      if (bad.length) o.refuse('JSON refused it', bad.map((e) => e.m));
      let stop = false;
      if (ok.length) {
        const n = fit(sizes, o.maxBatchBytes, overheadOf()); // as many as fit in one body
        const sent = ok.slice(0, n);
        const r = await send(`${o.host}/v1/batch`, envelope(parts.slice(0, n), o.writeKey, undefined, o.userToken()), o.compress);
        const rejected = 'rejected' in r ? r.rejected.map((i) => sent[i]).filter((e): e is Entry => !!e) : [];
        if (rejected.length) o.refuse('the server rejected it', rejected.map((e) => e.m), 'rejected');
        if (r.kind === 'ok' || rejected.length) {
          // 2xx: all are done (stored or rejected); 400 with a list: the rejected are, the rest go again.
          gone = gone.concat(r.kind === 'ok' ? sent : rejected);
          attempt = 0;
          limit = batchMax;
        } else if (r.kind === 'retry' || r.kind === 'unauthorized') {
          if (r.kind === 'unauthorized') o.report({ kind: 'unauthorized', message: `the write key was refused (${r.reason}); messages are kept and retried` });
          backoff(r.kind === 'retry' ? r.after : undefined);
          stop = true;
        } else if (n > 1) {
          // Too large, or refused as a whole without saying which message: halve the batch until
          // the message the server refuses is alone, so only that one is dropped.
          limit = Math.ceil(n / 2);
        } else {
          o.refuse(`the server refused it: ${r.reason}`, sent.map((e) => e.m), 'rejected');
          gone = gone.concat(sent);
          limit = batchMax;
        }
      }
      const keys = gone.map((e) => e.k);
      // The head was shorter than asked and all of it is gone: the queue was empty behind it.
      const short = !stop && entries.length < read && gone.length === entries.length;
      if (stop || short) {
        if (keys.length) await store.remove(keys);
        entries = [];
      } else entries = await store.head(limit, keys);
      queue.forget(gone);
      if (stop) return;
      read = limit;
    }
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
    if (!gone.length) return;
    queue.forget(gone, true);
    void queue.store.then((s) => s.remove(gone.map((e) => e.k))).catch(() => undefined);
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
