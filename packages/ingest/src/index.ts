// @keel/ingest: the ingest API, its stores and the pieces `keel serve` is made of.
export { buildApp, type AppOptions, type IngestResponse } from './app.js';
export { startServer, type RunningServer, type ServerOptions } from './server.js';
export { decodeBody, DEFAULT_BODY_LIMIT } from './body.js';
export { HttpError } from './errors.js';
export { DEFAULT_RATE_LIMITS, DEFAULT_SHEDDING, fromBrowser, type AccessStats, type RateLimitOptions, type SheddingOptions } from './access.js';
export { dialectSql, postgresKeelDb, sqliteKeelDb, type DialectName, type KeelDb, type Kdb, type PostgresOptions, type Schema } from './store/db.js';
export { migrateToLatest, MIGRATION_COUNT } from './store/migrations.js';
export { DEFAULT_AHEAD, monthRange, partitionUpkeep, type MonthRange, type UpkeepOptions, type UpkeepResult } from './store/partitions.js';
export { StorageFaultError, type FaultCause } from './store/faults.js';
export { startCheckpointer, type Checkpointer } from './store/checkpointer.js';
export { correctedTimestamp, toRows, type Envelope, type Rejected } from './messages.js';
export {
  INSERT_ATTRIBUTED_SQL,
  INSERT_EVENT_SQL,
  openDatabase,
  openSqliteStore,
  type Durability,
  type SqliteStore,
  type SqliteStoreOptions,
} from './store/sqlite.js';
export { openPostgresStore, openStore, redactUrl, storeServices, type KeelStore, type OpenStoreOptions } from './store/open.js';
export {
  mergeProgress,
  type AuditEntry,
  type ConfigStore,
  type ConfigVersion,
  type FactsStore,
  type ProgressEntry,
  type ProgressStore,
  type TenantFacts,
} from './store/state-types.js';
export { signUserToken, verifyUserToken, MAX_TOKEN_LIFETIME_S, type UserClaims } from './token.js';
export { diffConfig, summariseDiff, type ConfigDiff } from './config-diff.js';
export type { ConfigValidation } from './routes/common.js';
export { createMetrics, type Metrics } from './metrics-registry.js';
export type { EventStore, InsertResult, StoredEvent } from './store/types.js';
export { HELP, MIN_RETENTION_MS, parseRetention, parseServeArgs, UsageError, type ServeConfig } from './serve-config.js';
export { scoreHealth, pointsFor, bandOf, type HealthScore, type ComponentResult, type Move, type Band, type HealthModel } from './health/score.js';
export { healthService, type HealthReport, type HealthService, type TenantHealth } from './health/service.js';
export { configCache, type ConfigCache, type CurrentConfig } from './health/config-cache.js';
export { tenantMetricsQuery, METRICS, type MetricName, type TenantMetrics } from './health/metrics.js';
export { lifecycleService, type LifecycleReport, type LifecycleService, type RecordedTransition } from './health/lifecycle.js';
export {
  alertService,
  BUILTIN_ALERTS,
  cohortP95,
  DEFAULT_MIN_COHORT,
  signWebhook,
  type AlertOptions,
  type AlertPass,
  type AlertService,
  type AlertVerdict,
  type FiredAlert,
  type Webhook,
} from './health/alerts.js';
export { EXPANSION_EVENTS, timelineQuery, TIMELINE_EVENTS, type Timeline, type TimelineItem } from './health/timeline.js';
export { startEvaluator, type Evaluator, type EvaluatorOptions, type PassResult } from './health/evaluator.js';
export { statusService, IMPACTS, INCIDENT_STATES, type Incident, type StatusService, type TenantStatus } from './health/status.js';
export { openApiDocument, renderApiDoc } from './api-doc.js';
