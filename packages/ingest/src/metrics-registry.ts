// Prometheus metrics (prom-client), one Registry per app: several apps in one process (the tests)
// never share or collide on a metric, and nothing is registered in prom-client's global registry.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why a request was refused before any of its events were read: each is a separate series. */
export type RefusalReason = 'rate_limited' | 'over_pressure' | 'storage_fault' | 'origin' | 'auth';

export interface Metrics {
  readonly registry: Registry;
  /** Events stored (new ones). */
  readonly accepted: Counter<never>;
  /** Events not stored, by reason code (a message's first issue, or the code that rejected its whole request). */
  readonly rejected: Counter<'reason'>;
  /** Events already stored (a retried batch): acknowledged, not stored twice. */
  readonly duplicates: Counter<never>;
  /** Ingest requests refused before their events were read, by reason. */
  readonly refused: Counter<'reason'>;
  /** Request latency by route pattern (never the raw URL: ids and keys would make a series each), method and status class. */
  readonly http: Histogram<'route' | 'method' | 'status_class'>;
  /** One SQLite transaction of the group commit (store/sqlite.ts drain). */
  readonly storeCommit: Histogram<never>;
  /** One sweep over every tenant (health/evaluator.ts). */
  readonly sweep: Histogram<never>;
  /** When this node's last upkeep run (partitions, retention) ended without an error. */
  readonly upkeepLastSuccess: Gauge<never>;
  /** PostgreSQL: rows left in events_default by the last upkeep run (0 when upkeep keeps up). */
  readonly upkeepDefaultRows: Gauge<never>;
}

/** A fresh registry and its metrics. `keel serve` makes one and hands it to the store, the evaluator and the app. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    accepted: new Counter({
      name: 'keel_events_accepted_total',
      help: 'Events stored by the ingest routes (new ones; duplicates are counted apart).',
      registers,
    }),
    rejected: new Counter({
      name: 'keel_events_rejected_total',
      help: "Events not stored, by reason code: a message's first issue, or, for a request rejected whole (bad JSON, bad envelope, too large), the error code, counted once.",
      labelNames: ['reason'],
      registers,
    }),
    duplicates: new Counter({
      name: 'keel_events_duplicates_total',
      help: 'Events already stored (a retry): acknowledged and de-duplicated on (write key, messageId).',
      registers,
    }),
    refused: new Counter({
      name: 'keel_ingest_refused_total',
      help: 'Ingest requests refused before their events were read, by reason: rate_limited, over_pressure, storage_fault, origin, auth.',
      labelNames: ['reason'],
      registers,
    }),
    http: new Histogram({
      name: 'keel_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern, method and status class (2xx, 4xx, …).',
      labelNames: ['route', 'method', 'status_class'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    storeCommit: new Histogram({
      name: 'keel_store_commit_duration_seconds',
      help: 'One group-commit transaction of the event store.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    sweep: new Histogram({
      name: 'keel_health_sweep_duration_seconds',
      help: 'One health, lifecycle and alerts sweep over every tenant.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    upkeepLastSuccess: new Gauge({
      name: 'keel_upkeep_last_success_timestamp_seconds',
      help: "When this node's last upkeep run (partitions ahead, retention) ended without an error (Unix seconds); it runs hourly.",
      registers,
    }),
    upkeepDefaultRows: new Gauge({
      name: 'keel_upkeep_default_partition_rows',
      help: 'PostgreSQL: rows left in events_default by the last upkeep run; above 0, a received_at names no month or upkeep is not keeping up.',
      registers,
    }),
  };
}

/** The refusal an ingest answer stands for, from its status and error code; undefined when it is not one. */
export function refusalOf(status: number, code: string | undefined): RefusalReason | undefined {
  if (status === 429) return 'rate_limited';
  if (code === 'overloaded') return 'over_pressure';
  if (code === 'storage_unavailable') return 'storage_fault';
  if (code === 'origin_not_allowed') return 'origin';
  if (status === 401 || status === 403) return 'auth';
  return undefined;
}
