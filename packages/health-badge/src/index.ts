// @keel/health-badge: the element class and its types, without registering it (see ./define).
export { KeelHealthBadge } from './badge.js';
export type { HealthReportView } from './types.js';
export { KeelStatus, summarise, type StatusView } from './status.js';
