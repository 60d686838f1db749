/**
 * The storage contract, implemented by SQLite (embedded, the default) and PostgreSQL (several
 * nodes; docs/decisions/0003-one-repository-two-dialects.md). Every query names the write key:
 * one vendor's data is never read through another's key.
 */
export interface StoredEvent {
  writeKey: string;
  messageId: string;
  type: string;
  /** `event` for track, `name` for page/screen, null otherwise. */
  event: string | null;
  userId: string | null;
  anonymousId: string | null;
  /**
   * Before insert: the tenant the message claims (`groupId` of a group call, `context.groupId`
   * of any other message). Stored: the attributed tenant (see identity.ts), which every read uses.
   */
  groupId: string | null;
  /** Skew-corrected event time (ISO). */
  timestamp: string;
  /** The client's own clock, as sent. */
  originalTimestamp: string | null;
  sentAt: string | null;
  receivedAt: string;
  /** The whole message as JSON. */
  payload: string;
  /** Who sent it, as the server established (write key kind, user token); default anonymous. */
  sender?: Sender;
  /** Stored rows: how far the row can be trusted, and how its tenant was decided (identity.ts). */
  trust?: 'verified' | 'unverified';
  attribution?: 'claim' | 'token' | 'identity' | 'disputed';
}

/**
 * `server`: a server-side (secret) write key. `user`: a browser batch with a valid user token
 * (its `sub` and `tenant`). `anonymous`: a public write key and no valid token.
 */
export type Sender = { kind: 'server' } | { kind: 'user'; userId: string; tenantId: string } | { kind: 'anonymous' };

export interface InsertResult {
  inserted: number;
  /** Rows whose (writeKey, messageId) was already stored: a retried batch. */
  duplicates: number;
}

export interface EventStore {
  readonly kind: string;
  /**
   * Stores rows, ignoring ones already stored. Resolves once the rows are durable (committed);
   * a caller acknowledges the sender only after that.
   */
  insert(rows: readonly StoredEvent[]): Promise<InsertResult>;
  list(q: { writeKey: string; limit?: number; afterRowId?: number }): Promise<(StoredEvent & { rowId: number })[]>;
  count(q: { writeKey: string }): Promise<number>;
  /** The tenants a user or anonymous id belongs to (from group calls), with when each membership began. */
  memberships?(q: { userId?: string; anonymousId?: string }): Promise<{ tenantId: string; since: string; verified: boolean }[]>;
  /** A cheap liveness check for `/healthz`. */
  ping(): Promise<void>;
  /** Commits what is pending and releases the database. */
  close(): Promise<void>;
}

/** A stored events row (snake_case columns, `rowId` selected) as the contract's StoredEvent: one mapping for both stores. */
export const storedRowOf = (r: Record<string, unknown>): StoredEvent & { rowId: number } => ({
  rowId: r.rowId as number,
  writeKey: r.write_key as string,
  messageId: r.message_id as string,
  type: r.type as string,
  event: r.event as string | null,
  userId: r.user_id as string | null,
  anonymousId: r.anonymous_id as string | null,
  groupId: r.group_id as string | null,
  timestamp: r.timestamp as string,
  originalTimestamp: r.original_timestamp as string | null,
  sentAt: r.sent_at as string | null,
  receivedAt: r.received_at as string,
  payload: r.payload as string,
  trust: r.trust as StoredEvent['trust'],
  attribution: r.attribution as StoredEvent['attribution'],
});

/** Without tenant attribution: each message's own claim, verified when a server key sent it. */
export const claimOf = (r: StoredEvent): Pick<StoredEvent, 'groupId'> & { trust: 'verified' | 'unverified'; attribution: 'claim' } => ({
  groupId: r.groupId,
  trust: r.sender?.kind === 'server' ? 'verified' : 'unverified',
  attribution: 'claim',
});

/**
 * A row's 14 values in the events table's column order (write_key … payload, trust, attribution),
 * with its tenant and trust as attributed: what both stores insert.
 */
export const columnValuesOf = (
  r: StoredEvent,
  a: { groupId: string | null; trust: string; attribution: string },
): [
  string,
  string,
  string,
  string | null,
  string | null,
  string | null,
  string | null,
  string,
  string | null,
  string | null,
  string,
  string,
  string,
  string,
] => [
  r.writeKey,
  r.messageId,
  r.type,
  r.event,
  r.userId,
  r.anonymousId,
  a.groupId,
  r.timestamp,
  r.originalTimestamp,
  r.sentAt,
  r.receivedAt,
  r.payload,
  a.trust,
  a.attribution,
];
