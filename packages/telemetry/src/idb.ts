// The few IndexedDB promises Keel needs (the queue here, sdk-core's state store), without a
// wrapper library: a request's result, a transaction's end, and opening a one-store database.

/** A request's result. */
export const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

/** A transaction's end: resolves when it commits, rejects when it fails or aborts. */
export const committed = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    // A failed request's error reaches the transaction first (it aborts after): that error says why.
    tx.onerror = (e) => reject((e.target as IDBRequest).error);
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });

/**
 * Opens database `name` (version 1) with one object store, `store`, created on first use (with
 * `keyPath`, or out-of-line keys). `onVersionChange`: another tab wants to upgrade or delete it.
 */
export function openStore(name: string, store: string, keyPath?: string, onVersionChange?: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => void r.result.createObjectStore(store, keyPath ? { keyPath } : undefined);
  return request(r).then((db) => {
    if (onVersionChange) db.onversionchange = () => onVersionChange(db);
    return db;
  });
}
