// One merge for the browser and the server: the progress types and merge live in sdk-core.
import type { ProgressEntry } from '@keel/sdk-core/engine';
export { mergeProgress, type ProgressEntry, type ProgressKind, type ProgressScope, type ProgressStateName } from '@keel/sdk-core/engine';

/** Published config versions and their audit log. Versions are immutable once stored. */
export interface ConfigVersion {
  version: number;
  /** The document as JSON text, exactly as validated. */
  document: string;
  /** sha256 of `document`: the ETag. */
  hash: string;
  publishedAt: string;
  publishedBy: string;
  summary: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  detail: string;
}

/** An unpublished config a CS author previews in the product; expires, never served by default. */
export interface ConfigDraft {
  id: string;
  document: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
}

export interface ConfigStore {
  latest(): Promise<ConfigVersion | undefined>;
  saveDraft(d: ConfigDraft): Promise<void>;
  /** The draft, if it exists and has not expired. */
  draft(id: string, now?: number): Promise<ConfigDraft | undefined>;
  /** Stores a new version and its audit entry in one transaction. */
  publish(v: Omit<ConfigVersion, 'version'>): Promise<ConfigVersion>;
  versions(limit?: number): Promise<Omit<ConfigVersion, 'document'>[]>;
  audit(limit?: number): Promise<AuditEntry[]>;
}

export interface ProgressStore {
  /** The user's own entries and the tenant-wide ones. */
  get(tenantId: string, userId: string): Promise<ProgressEntry[]>;
  /** Merges monotonically (see mergeProgress) and returns the merged state. */
  merge(tenantId: string, userId: string, entries: readonly ProgressEntry[]): Promise<ProgressEntry[]>;
}

/** Server-computed facts about a tenant, from its stored events. */
export interface TenantFacts {
  active_users_7d: number;
  active_users_30d: number;
  integrations_connected: number;
  datasets_ingested: number;
  events_7d: number;
}

export interface FactsStore {
  tenantFacts(tenantId: string, now?: number): Promise<TenantFacts>;
}
