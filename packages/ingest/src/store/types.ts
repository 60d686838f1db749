/**
 * The storage contract. SQLite (embedded, the default) implements it now; a PostgreSQL store
 * for scale-out implements the same interface (DESIGN.md, Storage). Every query names the
 * write key: one vendor's data is never read through another's key.
 */
export interface StoredEvent {
  writeKey: string;
  messageId: string;
  type: string;
  /** `event` for track, `name` for page/screen, null otherwise. */
  event: string | null;
  userId: string | null;
  anonymousId: string | null;
  /** The tenant: `groupId` of a group call, `context.groupId` of any other message. */
  groupId: string | null;
  /** Skew-corrected event time (ISO). */
  timestamp: string;
  /** The client's own clock, as sent. */
  originalTimestamp: string | null;
  sentAt: string | null;
  receivedAt: string;
  /** The whole message as JSON. */
  payload: string;
}

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
  /** A cheap liveness check for `/healthz`. */
  ping(): Promise<void>;
  /** Commits what is pending and releases the database. */
  close(): Promise<void>;
}
