// Keel's rule language: types, evaluator, renderer, helpers. Pure TypeScript shared by the browser
// and the server: no zod (the schema is in ../schema/rule.ts), no DOM, no Node modules.
export type {
  AllRule,
  AnyRule,
  ChecklistProgress,
  ChecklistRule,
  Comparison,
  Duration,
  EventQuery,
  EventRule,
  Explanation,
  FactRule,
  Health,
  HealthRule,
  LeafRule,
  LifecycleRule,
  MetricRule,
  NotRule,
  NumberComparison,
  PageRule,
  ProgressState,
  Reason,
  RecipeRule,
  Rule,
  RuleContext,
  Scalar,
  TenantTraitRule,
  TraitRule,
  Where,
} from './types.js';
export { evaluate, matches } from './evaluate.js';
export { describeComparison, describeCount, describeRule } from './describe.js';
export { DURATION, durationMs, parseDuration } from './duration.js';
export { OPS, compare, glob, matchWhere } from './match.js';
export { referencedEvents, referencedIds, walkRule, type EventRef, type RuleIds } from './events.js';
export { memoryContext, type MemoryEvent } from './memory.js';
