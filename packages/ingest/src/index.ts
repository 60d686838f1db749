// @keel/ingest: the ingest API, its stores and the pieces `keel serve` is made of.
export { buildApp, type AppOptions, type IngestResponse } from './app.js';
export { startServer, type RunningServer, type ServerOptions } from './server.js';
export { decodeBody, DEFAULT_BODY_LIMIT } from './body.js';
export { HttpError } from './errors.js';
export { correctedTimestamp, toRows, type Envelope, type Rejected } from './messages.js';
export { INSERT_EVENT_SQL, migrate, openDatabase, openSqliteStore, type Durability, type SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export { mergeProgress, type AuditEntry, type ConfigStore, type ConfigVersion, type FactsStore, type ProgressEntry, type ProgressStore, type TenantFacts } from './store/state-types.js';
export { signUserToken, verifyUserToken, MAX_TOKEN_LIFETIME_S, type UserClaims } from './token.js';
export { diffConfig, summariseDiff, type ConfigDiff } from './config-diff.js';
export type { ConfigValidation } from './routes-state.js';
export type { EventStore, InsertResult, StoredEvent } from './store/types.js';
export { HELP, parseServeArgs, UsageError, type ServeConfig } from './serve-config.js';
export { scoreHealth, pointsFor, bandOf, type HealthScore, type ComponentResult, type Move, type Band, type HealthModel } from './health/score.js';
export { healthService, type HealthReport, type HealthService } from './health/service.js';
export { tenantMetricsQuery, METRICS, type MetricName, type TenantMetrics } from './health/metrics.js';
export { lifecycleService, type LifecycleReport, type LifecycleService, type RecordedTransition } from './health/lifecycle.js';
