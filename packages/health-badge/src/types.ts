/** What `GET /v1/tenants/:id/health` answers: the wire contract is sdk-core's (types only, no bytes). */
import type { HealthReport } from '@keel/sdk-core';

export type HealthReportView = Pick<HealthReport, 'tenantId' | 'score' | 'band' | 'coverage' | 'components' | 'whatWouldMove' | 'trend' | 'words'>;
