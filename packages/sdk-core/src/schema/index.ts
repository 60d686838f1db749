// Server and CLI entry point (`@keel/sdk-core/schema`): every zod schema Keel validates with.
// Browser bundles never import this file, so they never pay for zod.
export { formatIssues, formatPath, type Issue } from './issues.js';
export {
  AliasSchema,
  BatchEnvelopeSchema,
  GroupSchema,
  IdentifySchema,
  MESSAGE_TYPES,
  PageSchema,
  parseMessage,
  ScreenSchema,
  TrackSchema,
  type AliasMessage,
  type BatchEnvelope,
  type GroupMessage,
  type IdentifyMessage,
  type Message,
  type MessageResult,
  type MessageType,
  type PageMessage,
  type ScreenMessage,
  type TrackMessage,
} from './message.js';
export { SAFE_LINK } from './link.js';
export { DurationSchema, RuleSchema, WhereSchema } from './rule.js';
export {
  ActionSchema,
  ChecklistItemSchema,
  ChecklistSchema,
  ConfigSchema,
  FatigueSchema,
  HealthSchema,
  IdSchema,
  LifecycleSchema,
  NudgeSchema,
  RecipeSchema,
  StatusSchema,
  TextSchema,
  TimelineSchema,
  type KeelConfig,
} from './document.js';
export { checkMessage, checkShape, MAX_JSON_DEPTH, MAX_MESSAGE_BYTES, MAX_MESSAGE_KEYS, type LimitIssue, type ShapeLimits } from './limits.js';
export {
  FACT_NAMES,
  FACTS,
  KNOWN_EVENT_NAMES,
  KNOWN_EVENTS,
  METRIC_NAMES,
  METRICS,
  type FactName,
  type HealthReport,
  type MetricName,
} from '../contracts/health.js';
