// @keel/sdk-core (browser and server): the rule language and the client that wires telemetry →
// engine → widgets. zod schemas live behind `@keel/sdk-core/schema` so this entry never pulls zod.
export * from './rules/index.js';
export * from './client/index.js';
export * from './lifecycle/index.js';
// Wire contracts (types only here; the metric and fact lists are in `@keel/sdk-core/schema`).
export type {
  FactName,
  HealthBand,
  HealthComponentResult,
  HealthMove,
  HealthReport,
  HealthScoreResult,
  HealthWords,
  MetricDef,
  MetricName,
} from './contracts/health.js';
