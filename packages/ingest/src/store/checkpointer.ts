// The WAL is copied back into the database file (a checkpoint, with its fsync) by a worker thread
// with a connection of its own, not by the connection that commits batches: better-sqlite3 is
// synchronous, so a checkpoint on the main thread stalled every request behind it. PASSIVE
// checkpoints never block a writer; SQLite restarts the WAL from its beginning once a checkpoint
// has caught up, so it stays bounded.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS, run with `eval`: the same code from sources (tests) and from dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); });
`;

export interface Checkpointer {
  /** Checkpoints once more, closes the worker's connection and ends the thread. */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `path` every `everyMs` from a worker thread. Returns undefined when a
 * worker can't be started (the caller then leaves checkpoints to SQLite's automatic ones).
 */
export function startCheckpointer(path: string, everyMs = 200): Checkpointer | undefined {
  let worker: Worker;
  try {
    worker = new Worker(WORKER, { eval: true, workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), path, everyMs } });
  } catch {
    return undefined;
  }
  worker.unref(); // never what keeps the process alive
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  worker.on('error', () => undefined); // a failed checkpoint thread costs latency, never data
  return {
    async stop() {
      worker.ref(); // whoever awaits this must not see the process end first (an unfinished await)
      worker.postMessage('stop');
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5000)));
      const how = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (how === 'timeout') await worker.terminate();
    },
  };
}
