import { committed, openStore, request } from './idb.js';
import type { Message } from './types.js';

/** A queued message and its key: [queued-at ms, messageId] keeps FIFO order across tabs. */
export interface Entry {
  k: [number, string];
  m: Message;
}

/** The persisted queue. IndexedDB when available, else memory (one tab, lost on reload). */
export interface QueueStore {
  add(entries: Entry[]): Promise<void>;
  /** Oldest first. */
  head(count: number): Promise<Entry[]>;
  remove(keys: Entry['k'][]): Promise<void>;
  /** Drops the oldest beyond `max`; returns how many were dropped. */
  trim(max: number): Promise<number>;
  clear(): Promise<void>;
}

const S = 'q';

export async function openQueue(name: string): Promise<QueueStore> {
  const db = await openStore(name, S, 'k');
  const tx = (mode: IDBTransactionMode = 'readonly') => db.transaction(S, mode);
  return {
    async add(entries) {
      // Each put structured-clones its message in this task: a backlog goes in slices of ~8 ms,
      // one transaction each, so no slice is a long task even on a slow machine.
      for (let i = 0; i < entries.length; ) {
        const t = tx('readwrite');
        const s = t.objectStore(S);
        for (const end = performance.now() + 8; i < entries.length && performance.now() < end; ) s.put(entries[i++]!);
        await committed(t);
      }
    },
    head: (count) => request(tx().objectStore(S).getAll(null, count)) as Promise<Entry[]>,
    async remove(keys) {
      const t = tx('readwrite');
      for (const k of keys) t.objectStore(S).delete(k);
      await committed(t);
    },
    async trim(max) {
      const t = tx('readwrite');
      const s = t.objectStore(S);
      const excess = (await request(s.count())) - max;
      if (excess > 0) for (const k of await request(s.getAllKeys(null, excess))) s.delete(k);
      await committed(t);
      return Math.max(0, excess);
    },
    clear: () => request(tx('readwrite').objectStore(S).clear()),
  };
}

export function memoryQueue(): QueueStore {
  let q: Entry[] = [];
  const same = (a: Entry['k'], b: Entry['k']) => a[0] === b[0] && a[1] === b[1];
  return {
    async add(entries) {
      q.push(...entries);
    },
    async head(count) {
      return q.slice(0, count);
    },
    async remove(keys) {
      q = q.filter((e) => !keys.some((k) => same(k, e.k)));
    },
    async trim(max) {
      const excess = q.length - max;
      if (excess > 0) q = q.slice(excess);
      return Math.max(0, excess);
    },
    async clear() {
      q = [];
    },
  };
}
