/**
 * One way to open Keel's store, whichever database it lives in: the embedded SQLite file
 * (`--data-dir`, the default) or PostgreSQL (`--database-url`), shared by several stateless
 * `keel serve` nodes. Both give the same `KeelStore`: the event store, the repository layer's
 * stores and services on one KeelDb, the evaluator, and the upkeep that keeps partitions and
 * retention (store/partitions.ts).
 */
import { alertService, type AlertOptions, type AlertService } from '../health/alerts.js';
import { type Evaluator, type EvaluatorOptions, startEvaluator } from '../health/evaluator.js';
import { lifecycleService, type LifecycleService } from '../health/lifecycle.js';
import { outcomeService, type OutcomeService } from '../health/outcomes.js';
import { healthService, type HealthService } from '../health/service.js';
import type { StatusService } from '../health/status.js';
import type { timelineQuery } from '../health/timeline.js';
import type { KeelDb } from './db.js';
import { guardFaults, type StorageFaultError } from './faults.js';
import { partitionUpkeep, type UpkeepOptions, type UpkeepResult } from './partitions.js';
import { openPostgresRepository } from './postgres.js';
import { type Durability, openSqliteStore } from './sqlite.js';
import { configStore as configStoreOf, factsStore } from './state.js';
import type { ConfigStore, FactsStore, ProgressStore } from './state-types.js';
import type { EventStore } from './types.js';

export interface KeelStore extends EventStore {
  /** Where the data lives, for the start-up line: a file path, or a PostgreSQL location without credentials. */
  readonly location: string;
  readonly db: KeelDb;
  readonly config: ConfigStore;
  readonly progress: ProgressStore;
  readonly facts: FactsStore;
  readonly health: HealthService;
  readonly lifecycle: LifecycleService;
  readonly alerts: AlertService;
  readonly outcomes: OutcomeService;
  readonly timeline: ReturnType<typeof timelineQuery>;
  readonly status: StatusService;
  /** The storage fault the store is in (a full disk, the database unreachable), if any. */
  readonly fault: StorageFaultError | undefined;
  memberships: NonNullable<EventStore['memberships']>;
  /** Re-evaluates changed tenants every interval and every tenant every sweep (on PostgreSQL, one node at a time). */
  startEvaluator(opts?: EvaluatorOptions): Evaluator;
  /** Partitions ahead (PostgreSQL) and retention (both): safe to run from every node at once. */
  upkeep(opts: Omit<UpkeepOptions, 'now'> & { now?: Date }): Promise<UpkeepResult>;
}

/** The services `buildApp`/`startServer` take from a store: `startServer({ store, ...storeServices(store), … })`. */
export const storeServices = (
  s: Pick<KeelStore, 'config' | 'progress' | 'facts' | 'health' | 'lifecycle' | 'alerts' | 'outcomes' | 'status' | 'timeline'>,
) => ({
  config: s.config,
  progress: s.progress,
  facts: s.facts,
  health: s.health,
  lifecycle: s.lifecycle,
  alerts: s.alerts,
  outcomes: s.outcomes,
  status: s.status,
  timeline: s.timeline,
});

export interface OpenStoreOptions {
  /** SQLite: the data directory (default ./.keel-data). Ignored with `databaseUrl`. */
  dataDir?: string;
  /** PostgreSQL instead of SQLite. */
  databaseUrl?: string;
  /** PostgreSQL: the schema Keel's tables live in (created if missing); default the server's (public). */
  databaseSchema?: string;
  /** PostgreSQL: connections in this node's pool (default 10). */
  poolSize?: number;
  durability?: Durability;
  alerts?: AlertOptions;
  attribution?: boolean;
  onCommit?: (seconds: number) => void;
}

/** A PostgreSQL URL with its password taken out: what logs and errors may show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '…';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export async function openStore(opts: OpenStoreOptions): Promise<KeelStore> {
  if (opts.databaseUrl) return openPostgresStore(opts.databaseUrl, opts);
  const s = await openSqliteStore(opts.dataDir ?? './.keel-data', {
    ...(opts.durability ? { durability: opts.durability } : {}),
    ...(opts.alerts ? { alerts: opts.alerts } : {}),
    ...(opts.attribution === undefined ? {} : { attribution: opts.attribution }),
    ...(opts.onCommit ? { onCommit: opts.onCommit } : {}),
  });
  return Object.assign(s, {
    location: s.path,
    upkeep: ({ now = new Date(), ...rest }: Omit<UpkeepOptions, 'now'> & { now?: Date }) => partitionUpkeep(s.db, { now, ...rest }),
  });
}

/** PostgreSQL: migrated at open (the migrator's lock lets several nodes start together), every service on one pool and one fault state. */
export async function openPostgresStore(
  url: string,
  opts: Omit<OpenStoreOptions, 'databaseUrl' | 'dataDir'> & { connectTimeoutMs?: number } = {},
): Promise<KeelStore> {
  const base = await openPostgresRepository(url, {
    ...(opts.databaseSchema ? { schema: opts.databaseSchema } : {}),
    ...(opts.poolSize ? { max: opts.poolSize } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.attribution === undefined ? {} : { attribution: opts.attribution }),
    ...(opts.onCommit ? { onCommit: opts.onCommit } : {}),
  });
  const k = base.db;
  const location = redactUrl(url) + (opts.databaseSchema ? ` (schema ${opts.databaseSchema})` : '');
  // Unguarded instances for the services to share; the guarded ones (a lost database: 503) are what routes get.
  const configStore = configStoreOf(k);
  const health = healthService(k, configStore);
  const facts = factsStore(k);
  const lifecycle = lifecycleService(k, configStore, health, facts);
  const alerts = alertService(k, configStore, health, lifecycle, opts.alerts);
  const outcomes = outcomeService(k, configStore);
  return Object.assign(base, {
    location,
    health: guardFaults(health, base.faults),
    lifecycle: guardFaults(lifecycle, base.faults),
    alerts: guardFaults(alerts, base.faults),
    outcomes: guardFaults(outcomes, base.faults),
    startEvaluator: (o?: EvaluatorOptions) => startEvaluator(k, { health, lifecycle, alerts }, o),
    upkeep: ({ now = new Date(), ...rest }: Omit<UpkeepOptions, 'now'> & { now?: Date }) => partitionUpkeep(k, { now, ...rest }),
  });
}
