// Draining the shared queue: a chunk of its own (sender.ts imports it when the first flush is due,
// seconds after the page starts), with the transport; the unload beacon stays in the page.
import type * as batching from './batch.js';
import type { Queue } from './queue.js';
import type { SenderOptions } from './sender.js';
import type { Entry } from './store.js';
import { send } from './transport.js';

/** What the drain reads and changes of the sender's retry state. */
export interface DrainState {
  /** No send before this time (ms since the epoch): a retry is pending. */
  retryAt(): number;
  /** A send failed: schedule a retry (`after`: the server's Retry-After, ms). */
  backoff(after?: number): void;
  /** A send succeeded: the next failure starts the backoff over. */
  sent(): void;
  /**
   * The batching functions the page already has for its beacon: passed in, not imported, so a
   * bundler that splits code makes no shared chunk of them (a file more to load up front).
   */
  lib: Pick<typeof batching, 'envelope' | 'fit' | 'serialiseAll'>;
  /** The UTF-8 size of an empty body (the envelope around the messages). */
  overhead(): number;
}

/**
 * Writes what is pending, then sends from IndexedDB until it is empty or a send fails (then a
 * retry is scheduled). Two transactions for a short queue: the write with the first read, and
 * the delete of what was sent (with the next read when more may be left).
 */
export async function drain(o: SenderOptions, queue: Queue, st: DrainState): Promise<void> {
  const { envelope, fit, serialiseAll } = st.lib;
  const store = await queue.store;
  const batchMax = Math.max(o.flushAt, 100);
  let limit = batchMax;
  let read = o.enabled() && Date.now() >= st.retryAt() ? limit : 0; // backing off: only write
  let entries = await queue.persist(read);
  for (;;) {
    if (!entries.length) {
      if (read) queue.settled(); // everything this tab persisted is gone from the shared queue
      return;
    }
    if (!o.enabled() || Date.now() < st.retryAt()) return;
    // Each message serialised alone: one JSON refuses is dropped alone, never the batch.
    const [ok, parts, sizes, bad] = serialiseAll(entries);
    let gone = bad;
    if (bad.length)
      o.refuse(
        'JSON refused it',
        bad.map((e) => e.m),
      );
    let stop = false;
    if (ok.length) {
      const n = fit(sizes, o.maxBatchBytes, st.overhead()); // as many as fit in one body
      const sent = ok.slice(0, n);
      const r = await send(`${o.host}/v1/batch`, envelope(parts.slice(0, n), o.writeKey, undefined, o.userToken()), o.compress);
      const rejected = 'rejected' in r ? r.rejected.map((i) => sent[i]).filter((e): e is Entry => !!e) : [];
      if (rejected.length)
        o.refuse(
          'the server rejected it',
          rejected.map((e) => e.m),
          'rejected',
        );
      if (r.kind === 'ok' || rejected.length) {
        // 2xx: all are done (stored or rejected); 400 with a list: the rejected are, the rest go again.
        gone = gone.concat(r.kind === 'ok' ? sent : rejected);
        st.sent();
        limit = batchMax;
      } else if (r.kind === 'retry' || r.kind === 'unauthorized') {
        if (r.kind === 'unauthorized') o.report({ kind: 'unauthorized', message: `the write key was refused (${r.reason}); messages are kept and retried` });
        st.backoff(r.kind === 'retry' ? r.after : undefined);
        stop = true;
      } else if (n > 1) {
        // Too large, or refused as a whole without saying which message: halve the batch until
        // the message the server refuses is alone, so only that one is dropped.
        limit = Math.ceil(n / 2);
      } else {
        o.refuse(
          `the server refused it: ${r.reason}`,
          sent.map((e) => e.m),
          'rejected',
        );
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
