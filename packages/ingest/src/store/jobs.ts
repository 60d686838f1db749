/**
 * Background work that runs once across nodes. A job is its row in `keel_jobs`.
 *
 * PostgreSQL: a run takes the row with `SELECT … FOR UPDATE SKIP LOCKED` in a transaction it holds
 * for as long as it runs; a node that finds the row locked skips the run (another node is doing
 * it). A node that dies mid-run loses its connection, and with it the lock. The row also keeps the
 * job's state (the evaluator's cursor), read and written under the lock: a job that moves between
 * nodes starts where the last run, on whichever node, ended.
 *
 * SQLite (one process): the run just runs; its state and who ran it are kept in the same row.
 *
 * A run that throws saves nothing: the next run starts from the same state.
 */
import { hostname } from 'node:os';
import type { KeelDb } from './db.js';

export interface JobRun {
  /** What the last completed run saved (null: none yet). */
  readonly state: string | null;
  /** The state the next run starts from, stored when this run completes. */
  save(state: string): void;
}

export type JobResult<T> = { ran: true; value: T } | { ran: false };

/** This process's name in `keel_jobs.last_node` unless told otherwise. */
export const defaultNode = () => `${hostname()}:${process.pid}`;

export async function runExclusive<T>(k: KeelDb, name: string, node: string, fn: (job: JobRun) => Promise<T>): Promise<JobResult<T>> {
  if (k.dialect === 'sqlite') {
    const row = await k.db.selectFrom('keel_jobs').select('state').where('name', '=', name).executeTakeFirst();
    let state = row?.state ?? null;
    const value = await fn({ state, save: (s) => void (state = s) });
    const done = { last_run_at: new Date().toISOString(), last_node: node, state };
    await k.db
      .insertInto('keel_jobs')
      .values({ name, ...done })
      .onConflict((c) => c.column('name').doUpdateSet(done))
      .execute();
    return { ran: true, value };
  }
  // The row exists before anyone locks it, committed on its own: inserting it inside the run's
  // transaction would make a second node's insert wait for the whole run, then run again after it.
  await k.db
    .insertInto('keel_jobs')
    .values({ name, last_run_at: new Date(0).toISOString(), last_node: '', state: null })
    .onConflict((c) => c.column('name').doNothing())
    .execute();
  // The run's own queries use the pool's other connections; this one only holds the lock.
  return k.db.transaction().execute(async (trx): Promise<JobResult<T>> => {
    const row = await trx.selectFrom('keel_jobs').select('state').where('name', '=', name).forUpdate().skipLocked().executeTakeFirst();
    if (!row) return { ran: false }; // another node is running it
    let state = row.state;
    const value = await fn({ state, save: (s) => void (state = s) });
    await trx.updateTable('keel_jobs').set({ last_run_at: new Date().toISOString(), last_node: node, state }).where('name', '=', name).execute();
    return { ran: true, value };
  });
}
