import { type IDBPDatabase, openDB } from 'idb';
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
  const db: IDBPDatabase = await openDB(name, 1, {
    upgrade(d) {
      d.createObjectStore(S, { keyPath: 'k' });
    },
  });
  return {
    async add(entries) {
      // Each put structured-clones its message in this task: a backlog goes in slices of ~8 ms,
      // one transaction each, so no slice is a long task even on a slow machine.
      for (let i = 0; i < entries.length; ) {
        const tx = db.transaction(S, 'readwrite');
        for (const end = performance.now() + 8; i < entries.length && performance.now() < end; ) void tx.store.put(entries[i++]!);
        await tx.done;
      }
    },
    head: (count) => db.getAll(S, null, count) as Promise<Entry[]>,
    async remove(keys) {
      const tx = db.transaction(S, 'readwrite');
      for (const k of keys) void tx.store.delete(k);
      await tx.done;
    },
    async trim(max) {
      const tx = db.transaction(S, 'readwrite');
      const excess = (await tx.store.count()) - max;
      if (excess > 0) for (const k of await tx.store.getAllKeys(null, excess)) void tx.store.delete(k);
      await tx.done;
      return Math.max(0, excess);
    },
    clear: () => db.clear(S),
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
