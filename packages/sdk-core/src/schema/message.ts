/**
 * The wire format: Segment Tracking API messages (track, identify, group, page, screen, alias)
 * and the batch envelope. Lenient where Segment is (unknown keys are kept: `channel`,
 * `integrations`, `_metadata`…), strict where storage and de-duplication depend on a field.
 */
import * as z from 'zod';
import { formatIssues } from './issues.js';

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const MAX_ID = 512;
const required = (what: string, kind: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? `${what} is required` : `expected ${what} as ${kind}, found ${typeOf(iss.input)}`;
const id = (what: string) =>
  z
    .string({ error: required(what, 'a string') })
    .min(1, { error: `${what} must not be empty` })
    .max(MAX_ID, { error: `${what} is longer than ${MAX_ID} characters` });

/** ISO 8601 date-time with an offset or Z; what every Segment library sends. */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;
const dateTime = (what: string) =>
  z.string({ error: required(what, 'an ISO 8601 date-time string') }).refine((s) => ISO.test(s) && !Number.isNaN(Date.parse(s)), {
    error: (iss) => `expected ${what} as an ISO 8601 date-time such as "2026-01-31T12:00:00.000Z", found ${JSON.stringify(iss.input)}`,
  });

const dict = (what: string) => z.record(z.string(), z.unknown(), { error: (iss) => `expected ${what} as an object, found ${typeOf(iss.input)}` });

export const MESSAGE_TYPES = ['track', 'identify', 'group', 'page', 'screen', 'alias'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

const common = {
  messageId: id('messageId'),
  timestamp: dateTime('timestamp').optional(),
  sentAt: dateTime('sentAt').optional(),
  originalTimestamp: dateTime('originalTimestamp').optional(),
  userId: id('userId').nullish(),
  anonymousId: id('anonymousId').nullish(),
  context: dict('context').optional(),
  integrations: dict('integrations').optional(),
};

const shapes = {
  track: { event: id('event'), properties: dict('properties').optional() },
  identify: { traits: dict('traits').optional() },
  group: { groupId: id('groupId'), traits: dict('traits').optional() },
  page: { name: z.string().nullish(), category: z.string().nullish(), properties: dict('properties').optional() },
  screen: { name: z.string().nullish(), category: z.string().nullish(), properties: dict('properties').optional() },
  alias: { previousId: id('previousId') },
} satisfies Record<MessageType, z.ZodRawShape>;

const messageOf = <T extends MessageType>(type: T) =>
  z.looseObject({ type: z.literal(type), ...common, ...shapes[type] }).refine((m) => m.userId != null || m.anonymousId != null, {
    error: 'expected userId or anonymousId: every message names who it is about',
    path: ['userId'],
  });

export const TrackSchema = messageOf('track');
export const IdentifySchema = messageOf('identify');
export const GroupSchema = messageOf('group');
export const PageSchema = messageOf('page');
export const ScreenSchema = messageOf('screen');
export const AliasSchema = messageOf('alias');

// A null-prototype table read with Object.hasOwn: a `type` such as `constructor`, `__proto__` or
// `toString` is an unknown type, never something inherited from Object.prototype.
type MessageSchema = typeof TrackSchema | typeof IdentifySchema | typeof GroupSchema | typeof PageSchema | typeof ScreenSchema | typeof AliasSchema;
const byType: Readonly<Record<MessageType, MessageSchema>> = Object.assign(Object.create(null) as Record<MessageType, MessageSchema>, {
  track: TrackSchema,
  identify: IdentifySchema,
  group: GroupSchema,
  page: PageSchema,
  screen: ScreenSchema,
  alias: AliasSchema,
});
const isMessageType = (t: unknown): t is MessageType => typeof t === 'string' && Object.hasOwn(byType, t);

export type TrackMessage = z.infer<typeof TrackSchema>;
export type IdentifyMessage = z.infer<typeof IdentifySchema>;
export type GroupMessage = z.infer<typeof GroupSchema>;
export type PageMessage = z.infer<typeof PageSchema>;
export type ScreenMessage = z.infer<typeof ScreenSchema>;
export type AliasMessage = z.infer<typeof AliasSchema>;
export type Message = TrackMessage | IdentifyMessage | GroupMessage | PageMessage | ScreenMessage | AliasMessage;

export type MessageResult = { success: true; data: Message } | { success: false; issues: { path: string; message: string }[] };

/**
 * Validates one message. Dispatches on `type` first so an error names the fields of the type
 * the sender meant ("event: expected event as a string") rather than a union's failure.
 */
export function parseMessage(input: unknown): MessageResult {
  if (!isObj(input)) return { success: false, issues: [{ path: '', message: `expected a message object, found ${typeOf(input)}` }] };
  const type = input.type;
  if (!isMessageType(type)) {
    return {
      success: false,
      issues: [
        {
          path: 'type',
          message: `expected type to be one of ${MESSAGE_TYPES.join(', ')}, found ${typeof type === 'string' ? JSON.stringify(type.length > 64 ? `${type.slice(0, 64)}…` : type) : type === undefined ? 'nothing' : typeOf(type)}`,
        },
      ],
    };
  }
  const r = byType[type].safeParse(input);
  if (r.success) return { success: true, data: r.data as Message };
  return { success: false, issues: formatIssues(r.error) };
}

/** The `POST /v1/batch` envelope; messages are validated one by one with `parseMessage`. */
export const BatchEnvelopeSchema = z.looseObject({
  batch: z
    .array(z.unknown(), { error: (iss) => `expected batch as an array of messages, found ${typeOf(iss.input)}` })
    .min(1, { error: 'batch is empty: send at least one message' }),
  sentAt: dateTime('sentAt').optional(),
  writeKey: z.string().optional(),
  context: dict('context').optional(),
  integrations: dict('integrations').optional(),
});
export type BatchEnvelope = z.infer<typeof BatchEnvelopeSchema>;
