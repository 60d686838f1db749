// Storage faults a retry can cure (a full disk, a read-only or unwritable data directory), told
// apart from bugs: they are answered 503 with Retry-After and named, with the database's path,
// in the log and at start-up.
import { closeSync, constants, existsSync, openSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HttpError } from '../errors.js';

/** What is wrong with the storage, in words an operator acts on. */
export type FaultCause =
  | 'disk full'
  | 'read-only file system'
  | 'permission denied'
  | 'I/O error'
  | 'database busy'
  | 'cannot open the database file'
  /** PostgreSQL: the server refuses connections, a connection dropped, or it does not answer in time. */
  | 'database unavailable';

/** Seconds a client waits before retrying a write the store refused. */
export const STORAGE_RETRY_AFTER_S = 5;

/** Below this much free space the disk counts as full (a batch is up to 500 KB once parsed). */
export const MIN_FREE_BYTES = 64 * 1024;

const ERRNO_CAUSE: Record<string, FaultCause> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk full',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'I/O error',
};

/** A write (or an open) the storage refused for a reason a retry can cure once it is fixed. */
export class StorageFaultError extends HttpError {
  constructor(
    /** The database file. */
    readonly path: string,
    readonly reason: FaultCause,
    /** The SQLite or errno code that revealed it. */
    readonly sourceCode: string,
    /** When the fault was first seen (ISO). */
    readonly since: string,
  ) {
    super(503, 'storage_unavailable', messageOf(reason), STORAGE_RETRY_AFTER_S);
  }
}

// A connection lost while COMMIT was on its way may have committed: the answer can't say "nothing
// was stored", only that a retry is safe (a retried batch is de-duplicated by message id).
const messageOf = (reason: FaultCause) =>
  reason === 'database unavailable'
    ? 'the server cannot reach its database (database unavailable); this request was not acknowledged: retry later (a retried batch is never stored twice)'
    : `the server cannot write its database (${reason}); nothing in this request was stored: retry later`;

const codeOf = (e: unknown): string | undefined => {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
};

/**
 * Asks the file system what is wrong with `dir` by trying what SQLite needs: creating a file
 * (with the effective user's rights; `access(2)` would use the real user's) and free space.
 * Walks up to the nearest directory that exists (recursive mkdir reports ENOENT for EROFS).
 */
export function probeDirectory(dir: string): FaultCause | undefined {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const probe = join(d, `.keel-write-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY));
    unlinkSync(probe);
  } catch (e) {
    const cause = ERRNO_CAUSE[codeOf(e) ?? ''];
    if (cause) return cause;
  }
  try {
    const s = statfsSync(d);
    if (s.bavail * s.bsize < MIN_FREE_BYTES) return 'disk full';
  } catch {
    // no statfs here: nothing more to learn
  }
  return undefined;
}

/**
 * The cause of a storage error, or undefined when it is not a storage fault (a bug, a corrupt
 * file: those stay 500s). SQLite's codes say "full" or "read-only" or only "I/O error" or "cannot
 * open"; the directory is probed to tell read-only, permission and full disks apart.
 */
export function faultCause(e: unknown, dir: string): FaultCause | undefined {
  const code = codeOf(e);
  if (!code) return undefined;
  if (code === 'SQLITE_FULL') return 'disk full';
  if (ERRNO_CAUSE[code]) return ERRNO_CAUSE[code];
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'database busy';
  if (code.startsWith('SQLITE_READONLY')) return probeDirectory(dir) ?? 'read-only file system';
  if (code.startsWith('SQLITE_IOERR')) return probeDirectory(dir) ?? 'I/O error';
  if (code.startsWith('SQLITE_CANTOPEN')) return probeDirectory(dir) ?? 'cannot open the database file';
  return undefined;
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a lost or timed-out connection with these messages and no code.
const PG_LOST = /connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|not queryable|query read timeout/i;

/** The code that revealed a PostgreSQL fault: the SQLSTATE or errno, else what node-postgres said. */
export const pgFaultCode = (e: unknown) => codeOf(e) ?? (e instanceof Error && PG_LOST.test(e.message) ? 'connection lost' : 'unknown');

/**
 * The cause of a PostgreSQL error, or undefined when a retry would not cure it (a bug, a
 * constraint, bad SQL: those stay 500s). Connection classes (08), shutdowns (57P01–03) and lost
 * sockets are the database being unavailable; class 53 is the server out of room or connections;
 * deadlocks and serialization failures (the transaction rolled back) are a busy database.
 */
export function pgFaultCause(e: unknown): FaultCause | undefined {
  const code = codeOf(e);
  if (code === 'KEEL_DB_TIMEOUT' || (code && NET_CODES.has(code))) return 'database unavailable';
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '25006') return 'database unavailable';
    if (code === '53100') return 'disk full';
    if (code.startsWith('53') || code === '40P01' || code === '40001' || code === '55P03' || code === '57014') return 'database busy';
    return undefined;
  }
  return e instanceof Error && PG_LOST.test(e.message) ? 'database unavailable' : undefined;
}

/** Remembers the fault a store is in, so `/healthz` reports it until writes succeed again. */
export interface FaultState {
  readonly current: StorageFaultError | undefined;
  /** The error to answer with: a StorageFaultError for a storage fault, `e` itself otherwise. */
  classify(e: unknown): unknown;
  clear(): void;
}

/** `path`: the database (a file, or a PostgreSQL location without credentials); `causeOf`: SQLite's by default. */
export function faultState(path: string, causeOf?: (e: unknown) => FaultCause | undefined, codeFor: (e: unknown) => string = (e) => codeOf(e)!): FaultState {
  let current: StorageFaultError | undefined;
  const dir = dirname(path);
  const cause = causeOf ?? ((e: unknown) => faultCause(e, dir));
  return {
    get current() {
      return current;
    },
    classify(e) {
      if (e instanceof StorageFaultError) return e;
      const c = cause(e);
      if (!c) return e;
      if (!current || current.reason !== c) current = new StorageFaultError(path, c, codeFor(e), new Date().toISOString());
      return current;
    },
    clear() {
      current = undefined;
    },
  };
}

/**
 * Wraps every method of a store object so a storage fault thrown (or rejected) by it becomes a
 * StorageFaultError; other errors pass through unchanged.
 */
export function guardFaults<T extends object>(target: T, faults: FaultState): T {
  const rethrow = (e: unknown): never => {
    throw faults.classify(e);
  };
  const wrap = (fn: (...a: unknown[]) => unknown, self: unknown) =>
    function guarded(...args: unknown[]) {
      try {
        const r = fn.apply(self, args);
        return r instanceof Promise ? r.catch(rethrow) : r;
      } catch (e) {
        return rethrow(e);
      }
    };
  if (typeof target === 'function') return wrap(target as (...a: unknown[]) => unknown, undefined) as T;
  const out: Record<PropertyKey, unknown> = {};
  for (const key of Object.keys(target)) {
    const v = (target as Record<string, unknown>)[key];
    out[key] = typeof v === 'function' ? wrap(v as (...a: unknown[]) => unknown, target) : v;
  }
  return out as T;
}
