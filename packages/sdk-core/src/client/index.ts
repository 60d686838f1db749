// Keel.init: telemetry → local rollups and rules → views for the widgets, config and progress synced;
// the guidance engine (nudges, recipes, one fatigue budget) and the contract of its lazy UI.
export { init, type Keel, type KeelOptions } from './client.js';
export { Rollups, type Rollup } from './rollups.js';
export type { FatiguePolicy, SurfaceKind } from './budget.js';
export type { Outcome } from './guide.js';
export { resolveText, SAFE_LINK } from './text.js';
export type {
  ChecklistItemView,
  ChecklistSource,
  ChecklistView,
  ClientChecklist,
  ClientChecklistItem,
  ClientConfig,
  ClientNudge,
  ClientRecipe,
  ClientRecipeStep,
  FatigueConfig,
  GuideCheck,
  GuideHost,
  GuideLoader,
  GuideReport,
  GuideState,
  ItemAction,
  NudgeAction,
  NudgeActionView,
  NudgeCloseReason,
  NudgeDecision,
  NudgeKind,
  NudgeView,
  Placement,
  ProgressEntry,
  RecipeStepView,
  Text,
} from './types.js';
export { mergeProgress, type ProgressKind, type ProgressScope, type ProgressStateName } from '../progress/merge.js';
export {
  clauseKey,
  clientRules,
  historyDays,
  serverDecidable,
  type HistoryClause,
  type IgnoredClaim,
  type ProgressAnswer,
  type ProgressAnswerEntry,
  type ProgressHistory,
  type ProgressSource,
} from '../progress/answer.js';
