// The queue: accepted messages in memory first, written to IndexedDB in one coalesced write per
// burst (in idle time), bounded, with a per-tab mirror of what this tab holds for the unload beacon.
import { type Entry, memoryQueue, openQueue, type QueueStore } from './store.js';
import type { Message, TelemetryError } from './types.js';

export interface QueueOptions {
  dbName: string;
  maxQueue: number;
  /** A burst of messages is written this long (ms) after its first, in the next idle period. */
  persistDelay: number;
  /** Stamps the time zone on messages as they are written. */
  zone: () => string;
  report: (e: TelemetryError) => void;
  /** A flush (which writes first) is due within the persist delay: the timer need not write. */
  covered: () => boolean;
  /** Messages the store refused: reported, counted and dropped. */
  refuse: (why: string, messages: Message[]) => void;
}

export interface Queue {
  readonly store: Promise<QueueStore>;
  push(m: Message): void;
  /**
   * Writes what is pending now (put back if the store failed); with `head`, then reads the oldest
   * `head` entries of the shared queue, in the same transaction.
   */
  persist(head?: number): Promise<Entry[]>;
  /** What this tab accepted and has not seen sent, oldest first (the unload beacon's source). */
  held(): Entry[];
  /** These are gone (sent, refused): no longer held; with `pending`, not written if not yet. */
  forget(entries: readonly Entry[], pending?: boolean): void;
  /** The store was found empty: everything this tab wrote has been sent, by whichever tab. */
  settled(): void;
  /** Messages held by this tab. */
  readonly size: number;
  /** Dropped by the bound since start. */
  readonly dropped: number;
  /** Forgets everything, here and in the store (consent withdrawn). */
  clear(): void;
  stop(): void;
}

export function createQueue(o: QueueOptions): Queue {
  // `fresh` holds messages not yet written to IndexedDB; `mine` mirrors what this tab wrote and
  // has not seen sent (for the synchronous unload beacon). Sending always reads from IndexedDB
  // inside a Web Lock, so whichever tab sends, each message goes out once.
  let fresh: Entry[] = [];
  const mine = new Map<string, Entry>();
  let seq = 0;
  let dropped = 0;
  let reported = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let idle: number | undefined;
  const store: Promise<QueueStore> = openQueue(o.dbName).catch((e: unknown) => {
    o.report({ kind: 'storage', message: `IndexedDB unavailable, queueing in memory only: ${e}` });
    return memoryQueue();
  });

  let persisting: Promise<unknown> = Promise.resolve();
  function stop() {
    clearTimeout(timer);
    timer = undefined;
    if (idle !== undefined) cancelIdleCallback(idle);
    idle = undefined;
  }

  function persist(head = 0): Promise<Entry[]> {
    stop();
    const batch = fresh;
    fresh = [];
    const done = persisting.then(async () => {
      const s = await store;
      if (!batch.length) return head ? s.head(head) : [];
      for (const e of batch) e.m.context.timezone ??= o.zone();
      try {
        // In slices of a few ms: never a long task.
        const { refused, trimmed, head: read } = await s.add(batch, o.maxQueue, head);
        dropped += trimmed;
        if (refused.length) {
          for (const e of refused) mine.delete(e.m.messageId);
          o.refuse(
            'the browser refused to store it',
            refused.map((e) => e.m),
          );
        }
        return read;
      } catch (e) {
        o.report({ kind: 'storage', message: `could not persist: ${e}` });
        fresh = batch.concat(fresh);
        return head ? s.head(head) : [];
      } finally {
        if (dropped > reported) {
          reported = dropped;
          o.report({ kind: 'dropped', message: `the queue is full (${o.maxQueue}); dropped the ${dropped} oldest messages so far`, count: dropped });
        }
      }
    });
    persisting = done.catch(() => undefined);
    return done;
  }

  function later() {
    if (timer !== undefined) return;
    // One timer per burst, then the next idle period (within the same delay again at most): a
    // steady trickle of calls costs one IndexedDB transaction per delay, not one per call.
    timer = setTimeout(() => {
      if (o.covered()) {
        timer = undefined; // the flush due by then writes them
        return;
      }
      if (typeof requestIdleCallback === 'function') idle = requestIdleCallback(() => void persist(), { timeout: o.persistDelay });
      else void persist();
    }, o.persistDelay);
  }

  return {
    store,
    push(m) {
      const e: Entry = { k: [Date.now() * 1000 + (seq++ % 1000), m.messageId], m };
      fresh.push(e);
      mine.set(m.messageId, e);
      if (mine.size > o.maxQueue) {
        // Oldest first. The mirror never outgrows the bound; IndexedDB is trimmed (and the drops
        // counted) when it is written, so only a message that never got there is counted here.
        const [id, oldest] = mine.entries().next().value as [string, Entry];
        mine.delete(id);
        if (fresh[0] === oldest) {
          fresh.shift();
          dropped++;
        }
      }
      later();
    },
    persist,
    held: () => [...mine.values()],
    forget(entries, pending = false) {
      const ids = new Set<string>();
      for (const e of entries) {
        mine.delete(e.m.messageId);
        ids.add(e.m.messageId);
      }
      if (pending && fresh.length) fresh = fresh.filter((e) => !ids.has(e.m.messageId));
    },
    settled() {
      const unpersisted = new Set(fresh.map((e) => e.m.messageId));
      for (const id of mine.keys()) if (!unpersisted.has(id)) mine.delete(id);
    },
    get size() {
      return mine.size;
    },
    get dropped() {
      return dropped;
    },
    clear() {
      fresh = [];
      mine.clear();
      void persisting.then(() => store).then((s) => s.clear());
    },
    stop,
  };
}
