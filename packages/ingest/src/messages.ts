import { createHash } from 'node:crypto';
import { checkMessage, type Issue, MESSAGE_TYPES, type Message, parseMessage } from '@keel/sdk-core/schema';
import type { StoredEvent } from './store/types.js';

export interface Rejected {
  index: number;
  messageId: string | null;
  errors: Issue[];
}

export interface Envelope {
  sentAt?: string | undefined;
  context?: Record<string, unknown> | undefined;
  integrations?: Record<string, unknown> | undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A message without a messageId gets one derived from its content and the write key, as
 * Segment's API does, but deterministic: a retried identical message still de-duplicates.
 */
function derivedId(writeKey: string, msg: Record<string, unknown>): string {
  return `keel-${createHash('sha256').update(writeKey).update('\0').update(JSON.stringify(msg)).digest('hex').slice(0, 32)}`;
}

/**
 * Clock-skew correction: the client's clock may be off, but the gap between `timestamp` and
 * `sentAt` was measured on that one clock, so the event happened that long before we received
 * it. Without `sentAt` the client's timestamp is kept as is.
 */
export function correctedTimestamp(timestamp: string | undefined, sentAt: string | undefined, receivedAtMs: number): string {
  if (!timestamp) return new Date(receivedAtMs).toISOString();
  if (!sentAt) return new Date(Date.parse(timestamp)).toISOString();
  const lag = Date.parse(sentAt) - Date.parse(timestamp);
  return new Date(receivedAtMs - lag).toISOString();
}

/**
 * Validates each message on its own and turns the valid ones into rows; one bad message never
 * costs the others their place. `forcedType` is the type a single-message route implies.
 * A message's depth, key count and size are checked first (see sdk-core's limits), so nothing
 * recursive (`JSON.stringify`, zod, SQLite's JSON functions on what is stored) sees one too deep.
 */
export function toRows(
  inputs: readonly unknown[],
  writeKey: string,
  envelope: Envelope,
  receivedAtMs: number,
  forcedType?: string,
): { rows: StoredEvent[]; rejected: Rejected[] } {
  const rows: StoredEvent[] = [];
  const rejected: Rejected[] = [];
  const receivedAt = new Date(receivedAtMs).toISOString();
  for (let index = 0; index < inputs.length; index++) {
    let input = inputs[index];
    const limit = checkMessage(input);
    if (limit) {
      const messageId = isObj(input) && typeof input.messageId === 'string' && input.messageId.length <= 512 ? input.messageId : null;
      rejected.push({ index, messageId, errors: [{ path: limit.path, message: `the message ${limit.message}` }] });
      continue;
    }
    if (isObj(input)) {
      if (forcedType) {
        if (input.type === undefined) input = { ...input, type: forcedType };
        else if (input.type !== forcedType) {
          rejected.push({
            index,
            messageId: typeof input.messageId === 'string' ? input.messageId : null,
            errors: [
              {
                path: 'type',
                // Never String(input.type): an object with its own `toString` key throws.
                message:
                  typeof input.type === 'string'
                    ? (MESSAGE_TYPES as readonly string[]).includes(input.type)
                      ? `a "${input.type}" message was sent to /v1/${forcedType}; send it to /v1/batch, or to /v1/${input.type}`
                      : `a ${JSON.stringify(input.type.slice(0, 64))} message was sent to /v1/${forcedType}; send it to /v1/batch, or to /v1/${forcedType} as a ${forcedType}`
                    : `expected type to be "${forcedType}" (or absent) on /v1/${forcedType}, found ${Array.isArray(input.type) ? 'array' : input.type === null ? 'null' : typeof input.type}`,
              },
            ],
          });
          continue;
        }
      }
      if ((input as Record<string, unknown>).messageId === undefined) {
        input = { ...(input as Record<string, unknown>), messageId: derivedId(writeKey, input as Record<string, unknown>) };
      }
    }
    const r = parseMessage(input);
    if (!r.success) {
      const mid = isObj(input) && typeof input.messageId === 'string' ? input.messageId : null;
      rejected.push({ index, messageId: mid, errors: r.issues });
      continue;
    }
    rows.push(rowOf(r.data, writeKey, envelope, receivedAt, receivedAtMs));
  }
  return { rows, rejected };
}

function rowOf(msg: Message, writeKey: string, env: Envelope, receivedAt: string, receivedAtMs: number): StoredEvent {
  const sentAt = msg.sentAt ?? env.sentAt;
  const original = msg.timestamp ?? msg.originalTimestamp;
  const timestamp = correctedTimestamp(original, sentAt, receivedAtMs);
  const context = env.context ? { ...env.context, ...msg.context } : msg.context;
  const integrations = env.integrations ? { ...env.integrations, ...msg.integrations } : msg.integrations;
  const groupId = msg.type === 'group' ? msg.groupId : typeof context?.groupId === 'string' ? context.groupId : null;
  const event = msg.type === 'track' ? msg.event : msg.type === 'page' || msg.type === 'screen' ? (msg.name ?? null) : null;
  const stored: Record<string, unknown> = { ...msg, timestamp, receivedAt };
  if (original) stored.originalTimestamp = original;
  if (sentAt) stored.sentAt = sentAt;
  if (context) stored.context = context;
  if (integrations) stored.integrations = integrations;
  return {
    writeKey,
    messageId: msg.messageId,
    type: msg.type,
    event,
    userId: msg.userId ?? null,
    anonymousId: msg.anonymousId ?? null,
    groupId,
    timestamp,
    originalTimestamp: original ?? null,
    sentAt: sentAt ?? null,
    receivedAt,
    payload: JSON.stringify(stored),
  };
}
