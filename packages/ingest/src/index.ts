// @keel/ingest: the ingest API, its stores and the pieces `keel serve` is made of.
export { buildApp, type AppOptions, type IngestResponse } from './app.js';
export { startServer, type RunningServer, type ServerOptions } from './server.js';
export { decodeBody, DEFAULT_BODY_LIMIT } from './body.js';
export { HttpError } from './errors.js';
export { correctedTimestamp, toRows, type Envelope, type Rejected } from './messages.js';
export { INSERT_EVENT_SQL, migrate, openDatabase, openSqliteStore, type Durability, type SqliteStoreOptions } from './store/sqlite.js';
export type { EventStore, InsertResult, StoredEvent } from './store/types.js';
export { HELP, parseServeArgs, UsageError, type ServeConfig } from './serve-config.js';
