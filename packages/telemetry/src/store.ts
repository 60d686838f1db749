import { committed, openStore, request } from './idb.js';
import type { Message } from './types.js';

/** A queued message and its key: [queued-at ms, messageId] keeps FIFO order across tabs. */
export interface Entry {
  k: [number, string];
  m: Message;
}

/** What a write did: the entries the store refused (not written), how many old ones it trimmed, the head read after. */
export interface Added {
  refused: Entry[];
  trimmed: number;
  head: Entry[];
}

/** The persisted queue. IndexedDB when available, else memory (one tab, lost on reload). */
export interface QueueStore {
  /**
   * Writes `entries`, then drops the oldest beyond `max`. An entry the store refuses (structured
   * clone throws on it, its key is invalid) is left out and returned; the others are written.
   * Rejects when the store fails as a whole (quota, I/O, a closed database). With `head`, the
   * oldest `head` entries are read in the same (last) transaction.
   */
  add(entries: Entry[], max: number, head?: number): Promise<Added>;
  /** The oldest `count`, after deleting `remove` (one transaction). */
  head(count: number, remove?: Entry['k'][]): Promise<Entry[]>;
  remove(keys: Entry['k'][]): Promise<void>;
  clear(): Promise<void>;
}

const S = 'q';
/** The next idle period (within a second), where the browser has one. */
const idle = () => new Promise<unknown>((r) => (typeof requestIdleCallback === 'function' ? requestIdleCallback(r, { timeout: 1000 }) : r(0)));

/**
 * Deletes `keys`: when they are the oldest in the store (what a send read from the head, the
 * usual case), one request for the range up to the newest, else one request each.
 */
async function drop(s: IDBObjectStore, keys: Entry['k'][]) {
  if (!keys.length) return;
  const ids = new Set(keys.map((k) => k[1]));
  const found = (await request(s.getAllKeys(null, keys.length))) as Entry['k'][];
  if (found.length === ids.size && found.every((k) => ids.has(k[1]))) s.delete(IDBKeyRange.upperBound(found.at(-1)));
  else for (const k of keys) s.delete(k);
}

export async function openQueue(name: string): Promise<QueueStore> {
  const db = await openStore(name, S, 'k');
  const tx = (mode: IDBTransactionMode = 'readonly') => db.transaction(S, mode);
  return {
    async add(entries, max, head = 0) {
      // Each put structured-clones its message in this task: a backlog goes in slices of ~8 ms,
      // one transaction each, so no slice is a long task even on a slow machine, and each waits
      // for an idle period (a second at most), so a busy page is not interrupted. The clone is
      // where a value the store cannot take fails (DataCloneError, a RangeError from a deep
      // value, a DataError for a bad key), synchronously: that entry alone is refused, the
      // others go on. A failure after that (quota, I/O) aborts the slice: nothing is refused,
      // the caller keeps the entries and tries again later.
      const refused: Entry[] = [];
      let trimmed = 0;
      let read: Entry[] = [];
      for (let i = 0; i < entries.length;) {
        // Each slice in an idle period: a backlog written while the page is busy waits for a gap.
        await idle();
        const t = tx('readwrite');
        const s = t.objectStore(S);
        for (const end = performance.now() + 8; i < entries.length && performance.now() < end;) {
          const e = entries[i++]!;
          try {
            s.put(e);
          } catch {
            refused.push(e);
          }
        }
        // The last slice trims the queue to `max`, oldest first, then reads the head.
        const last =
          i < entries.length
            ? undefined
            : request(s.count()).then(async (count) => {
                if (count > max) for (const k of await request(s.getAllKeys(null, count - max))) s.delete(k);
                return [Math.max(0, count - max), head ? ((await request(s.getAll(null, head))) as Entry[]) : []] as const;
              });
        const [, done] = await Promise.all([committed(t), last]);
        if (done) [trimmed, read] = done;
      }
      return { refused, trimmed, head: read };
    },
    async head(count, remove = []) {
      const t = tx(remove.length ? 'readwrite' : 'readonly');
      const s = t.objectStore(S);
      const [entries] = await Promise.all([drop(s, remove).then(() => request(s.getAll(null, count))), committed(t)]);
      return entries as Entry[];
    },
    async remove(keys) {
      const t = tx('readwrite');
      await Promise.all([drop(t.objectStore(S), keys), committed(t)]);
    },
    clear: () => request(tx('readwrite').objectStore(S).clear()),
  };
}

export function memoryQueue(): QueueStore {
  let q: Entry[] = [];
  const store: QueueStore = {
    async add(entries, max, head = 0) {
      q = q.concat(entries);
      const trimmed = Math.max(0, q.length - max);
      q = q.slice(trimmed);
      return { refused: [], trimmed, head: q.slice(0, head) };
    },
    async head(count, remove = []) {
      await store.remove(remove);
      return q.slice(0, count);
    },
    async remove(keys) {
      const gone = new Set(keys.map(String));
      q = q.filter((e) => !gone.has(String(e.k)));
    },
    async clear() {
      q = [];
    },
  };
  return store;
}
