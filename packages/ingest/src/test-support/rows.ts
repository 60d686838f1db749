/**
 * Stored events written straight into a KeelDb, for tests of the services that read them (health,
 * lifecycle, progress, alerts, timeline, status) on either dialect, without an event store. On
 * PostgreSQL the de-duplication ledger (event_ids) is written too, as the event store does.
 */
import type { KeelDb } from '../store/db.js';
import type { StoredEvent } from '../store/types.js';

export type TestRow = Partial<StoredEvent> & Pick<StoredEvent, 'type'> & { properties?: Record<string, unknown>; traits?: Record<string, unknown> };

let seq = 0;
export async function insertRows(k: KeelDb, rows: readonly TestRow[]): Promise<void> {
  if (rows.length === 0) return;
  const now = new Date().toISOString();
  const values = rows.map((r) => {
    const messageId = r.messageId ?? `m${++seq}-${Math.random().toString(36).slice(2)}`;
    const timestamp = r.timestamp ?? now;
    const payload =
      r.payload ??
      JSON.stringify({
        type: r.type,
        messageId,
        timestamp,
        userId: r.userId ?? undefined,
        anonymousId: r.anonymousId ?? undefined,
        groupId: r.groupId ?? undefined,
        event: r.type === 'track' ? r.event : undefined,
        name: r.type === 'page' ? r.event : undefined,
        properties: r.properties,
        traits: r.traits,
      });
    return {
      write_key: r.writeKey ?? 'wk',
      message_id: messageId,
      type: r.type,
      event: r.event ?? null,
      user_id: r.userId ?? null,
      anonymous_id: r.anonymousId ?? null,
      group_id: r.groupId ?? null,
      timestamp,
      original_timestamp: r.originalTimestamp ?? null,
      sent_at: r.sentAt ?? null,
      received_at: r.receivedAt ?? now,
      payload,
      trust: r.trust ?? 'verified',
      attribution: r.attribution ?? 'claim',
    };
  });
  await k.db.transaction().execute(async (trx) => {
    if (k.dialect === 'postgres') {
      await trx
        .insertInto('event_ids')
        .values(values.map((v) => ({ write_key: v.write_key, message_id: v.message_id, received_at: v.received_at })))
        .execute();
    }
    await trx.insertInto('events').values(values).execute();
  });
}
