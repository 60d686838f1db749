/** A Segment Tracking API message as @keel/telemetry builds it. */
export interface Message {
  type: 'track' | 'identify' | 'group' | 'page';
  messageId: string;
  timestamp: string;
  anonymousId: string;
  userId?: string;
  event?: string;
  name?: string;
  groupId?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context: MessageContext;
}

export interface MessageContext {
  library: { name: string; version: string };
  page: { url: string; path: string; referrer: string; title: string };
  userAgent: string;
  locale: string;
  /**
   * The IANA time zone, stamped when the message is written to the queue (a page's first Intl
   * call is slow, so not when it is built): a message that leaves by the unload beacon before its
   * first write has none.
   */
  timezone?: string;
  /** The tenant from the last `group()` call. */
  groupId?: string;
  [key: string]: unknown;
}

export interface TelemetryError {
  /**
   * `rejected`: the server refused these messages (they are dropped); `dropped`: the bounded queue
   * dropped the oldest; `oversized`: an event over `maxEventBytes`; `unauthorized`: the write key
   * was refused (messages are kept and retried); `storage`: IndexedDB is unavailable (memory only);
   * `invalid`: a message that cannot be serialised or stored (a cyclic, too deep, BigInt, function
   * or symbol value, or one the browser's store refused): dropped alone, the queue goes on.
   */
  kind: 'rejected' | 'dropped' | 'oversized' | 'unauthorized' | 'storage' | 'invalid';
  message: string;
  messages?: Message[];
  /** `dropped`: messages dropped by the bound so far; `invalid`, `rejected`: messages refused so far (see `refused`). */
  count?: number;
}

export interface TelemetryOptions {
  writeKey: string;
  /** Base URL of the Keel ingest API, e.g. `https://keel.example.com`. */
  host: string;
  /** Send when this many messages are queued. Default 20. */
  flushAt?: number;
  /** Send at most this long (ms) after a message is queued. Default 5000. */
  flushInterval?: number;
  /** Largest request body in bytes. Default 500,000 (the server's limit). */
  maxBatchBytes?: number;
  /** Largest message in bytes; a larger one is refused at `track()`. Default 32,000. */
  maxEventBytes?: number;
  /** Messages kept at most; beyond it the oldest are dropped and reported. Default 10,000. */
  maxQueueSize?: number;
  retry?: { baseDelay?: number; maxDelay?: number };
  autocapture?: false | { errors?: boolean; sessions?: boolean; pageviews?: boolean };
  /** Inactivity (ms) after which a new `user.session` starts. Default 30 minutes. */
  sessionTimeout?: number;
  /** Redact or drop (return null) a message before it is queued. */
  beforeSend?: (msg: Message) => Message | null;
  /** Start collecting at once (default) or wait for `consent(true)`. */
  consent?: boolean;
  /** Gzip bodies with CompressionStream where the browser has it. Default true. */
  compress?: boolean;
  /** IndexedDB database name; tabs sharing it share one queue and one sender. */
  dbName?: string;
  onError?: (err: TelemetryError) => void;
  /**
   * The user token your backend minted (HS256 JWT: sub = user, tenant). Sent in every batch body
   * (and beacon), so the server can mark the events verified; see `setUserToken`.
   */
  userToken?: string;
}

export interface Telemetry {
  track(event: string, properties?: Record<string, unknown>): void;
  identify(userId: string, traits?: Record<string, unknown>): void;
  group(groupId: string, traits?: Record<string, unknown>): void;
  page(name?: string, properties?: Record<string, unknown>): void;
  /** Forgets the user and tenant and starts a new anonymous id (e.g. on logout). */
  reset(): void;
  /** Sends everything queued now; resolves when sent or when the attempt failed (it is retried). */
  flush(): Promise<void>;
  /** `false` stops collection and sending and clears the queue; `true` resumes. */
  consent(granted: boolean): void;
  /** Called synchronously with every accepted message. Returns an unsubscribe function. */
  subscribe(fn: (msg: Message) => void): () => void;
  /** Removes listeners and timers after a last flush. */
  shutdown(): Promise<void>;
  /** Replaces the user token sent with each batch (a re-minted one), or stops sending it. */
  setUserToken(token: string | undefined): void;
  readonly anonymousId: string;
  /** Messages dropped by the bounded queue since start. */
  readonly dropped: number;
  /**
   * Messages refused since start, each dropped alone and reported: invalid or oversized at
   * `track()`, refused by the browser's store, or rejected by the server.
   */
  readonly refused: number;
}
