// The view model <keel-checklist> renders and the source it reads it from. The engine that
// computes views, and the `Keel` client that implements ChecklistSource, live in sdk-core: the
// types are defined there once and re-exported here, so the widget and the client can't drift.
//
//   Text               string | { [locale]: string }   (e.g. { en: 'Connect SSO', fr: '…' })
//   ChecklistItemView  { id, title, description?, state: done|pending|failed, dueDay?, overdue?,
//                        scope?: user|tenant, launch?, recovery? }
//   ChecklistView      { id, title, items }
//   ChecklistSource    { checklist(id), subscribe(listener) → unsubscribe, act?(…),
//                        uiState?(id), setUiState?(id, state) }   (collapsed/dismissed kept per browser)
import type { ItemAction } from '@keel/sdk-core';

export type { ChecklistItemView, ChecklistSource, ChecklistView, Text } from '@keel/sdk-core';

/** An item's launch or recovery action: a label, and a recipe to open or a link to follow. */
export type ChecklistAction = ItemAction;
