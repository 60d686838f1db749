// @keel/nudge-widget: anchored nudges and recipe steps, and the UI the engine loads lazily.
// This entry registers nothing (see ./define); `./ui` is the lazily loaded module.
export { renderMarkdown, safeHref } from './markdown.js';
export { deepQuery, findAnchor, waitForAnchor, type AnchorResult } from './anchor.js';
export { attach, deepActive, type AttachOptions } from './surface.js';
export { KeelNudge, type HideReason, type NudgeAction, type NudgeEventDetail, type NudgeKind } from './nudge.js';
export { DEFAULT_RECIPE_STRINGS, KeelRecipe, type RecipeEventDetail, type RecipeStep, type RecipeStrings } from './recipe.js';
export { KeelDebug, type DebugReport } from './debug.js';
