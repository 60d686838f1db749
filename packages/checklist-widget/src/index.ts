// @keel/checklist-widget: the element class and its types, without registering it (see ./define).
export { KeelChecklist, type ActionEventDetail, type ChecklistEventDetail, type CollapseEventDetail, type ItemEventDetail } from './checklist.js';
export { DEFAULT_STRINGS, resolveText, type ChecklistStrings } from './text.js';
export type { ChecklistAction, ChecklistItemView, ChecklistSource, ChecklistView, Text } from './types.js';
