// @keel/nudge-widget: the pieces the anchored nudge and recipe elements are built on.
export { renderMarkdown, safeHref } from './markdown.js';
export { deepQuery, findAnchor, waitForAnchor, type AnchorResult } from './anchor.js';
export { KeelNudge, type HideReason, type NudgeAction } from './nudge.js';
