// Keel.init: telemetry → local rollups and rules → views for the widgets, config and progress synced.
export { init, type Keel, type KeelOptions } from './client.js';
export { Rollups, type Rollup } from './rollups.js';
export type {
  ChecklistItemView, ChecklistSource, ChecklistView, ClientChecklist, ClientChecklistItem, ClientConfig, ItemAction,
  ProgressEntry, Text,
} from './types.js';
