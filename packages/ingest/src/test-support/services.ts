/**
 * Collaborators for the services' dialect tests: a published config (read-only, version 1) and a
 * health service with no metrics, so a test exercises only the service it is about.
 */
import type { HealthService } from '../health/service.js';
import type { ConfigStore } from '../store/state-types.js';

/** `doc` as the one published config version, published at `publishedAt` (default: now). */
export const publishedConfig = (doc: unknown, publishedAt = Date.now()): ConfigStore => ({
  latest: async () => ({
    version: 1,
    document: JSON.stringify(doc),
    hash: 'h',
    publishedAt: new Date(publishedAt).toISOString(),
    publishedBy: 't',
    summary: 's',
  }),
  saveDraft: async () => undefined,
  draft: async () => undefined,
  publish: async () => {
    throw new Error('read-only');
  },
  versions: async () => [],
  audit: async () => [],
});

/** A health service whose passes have no config, no metrics and no report. */
export const noHealth = {
  tenantHealth: async (tenantId: string, now = Date.now()) => ({ tenantId, now, config: undefined, metrics: { values: {}, evidence: {} }, report: undefined }),
} as unknown as HealthService;
