// @keel/telemetry: a persisted, batched, never-lose-an-event queue speaking the Segment Tracking API.
// createTelemetry composes small modules: identity (who), context (where), check (what can be
// queued), queue (memory, then IndexedDB), sender (drain and beacon) and backoff (when to retry).
import { autocapture } from './autocapture.js';
import { measure } from './check.js';
import { createContext } from './context.js';
import { createIdentity } from './identity.js';
import { createQueue } from './queue.js';
import { createSender } from './sender.js';
import type { Message, Telemetry, TelemetryError, TelemetryOptions } from './types.js';

export type { Message, MessageContext, Telemetry, TelemetryError, TelemetryOptions } from './types.js';
/** IndexedDB as promises (also what @keel/sdk-core keeps its state with). */
export { committed, openStore, request } from './idb.js';

export const VERSION = '0.1.0';
/** A burst of messages is written to IndexedDB this long after its first (ms), in idle time. */
const PERSIST_DELAY = 1000;

export function createTelemetry(options: TelemetryOptions): Telemetry {
  if (!options?.writeKey) throw new Error('@keel/telemetry: createTelemetry needs `writeKey` (your Keel write key)');
  if (!options.host) throw new Error('@keel/telemetry: createTelemetry needs `host` (the Keel ingest URL)');
  const o = options;
  const flushAt = o.flushAt ?? 20;
  const flushInterval = o.flushInterval ?? 5000;
  const maxEventBytes = o.maxEventBytes ?? 32_000;
  const dbName = o.dbName ?? 'keel-telemetry';
  const report = (e: TelemetryError) => o.onError?.(e);
  let userToken = o.userToken;
  let refused = 0;
  const refuse = (why: string, messages: Message[], kind: 'invalid' | 'rejected' = 'invalid') => {
    refused += messages.length;
    report({ kind, message: why, messages, count: refused });
  };

  let enabled = o.consent ?? true;
  const id = createIdentity();
  const ctx = createContext(VERSION);
  const persistDelay = Math.min(PERSIST_DELAY, flushInterval);
  // One object for both: the queue and the sender read the options they need from it.
  const shared = {
    dbName,
    maxQueue: o.maxQueueSize ?? 10_000,
    persistDelay,
    zone: ctx.zone,
    report,
    refuse,
    covered: () => sender.due() - Date.now() <= persistDelay,
    host: o.host.replace(/\/+$/, ''),
    writeKey: o.writeKey,
    userToken: () => userToken,
    compress: o.compress ?? true,
    flushAt,
    maxBatchBytes: o.maxBatchBytes ?? 500_000,
    retry: { baseDelay: o.retry?.baseDelay ?? 1000, maxDelay: o.retry?.maxDelay ?? 60_000 },
    enabled: () => enabled,
  };
  const queue = createQueue(shared);
  const sender = createSender(shared, queue);
  const subscribers = new Set<(m: Message) => void>();

  function enqueue(m: Message | null) {
    if (!m) return;
    queue.push(m);
    for (const fn of subscribers) fn(m);
    sender.schedule(queue.size >= flushAt ? 0 : flushInterval);
  }

  // toISOString is the dearest step of track(): calls in the same millisecond share one.
  let at = NaN;
  let iso = '';
  function build(type: Message['type'], fields: Partial<Message>): Message | null {
    if (!enabled) return null;
    const now = Date.now();
    if (now !== at) iso = new Date((at = now)).toISOString();
    const context = ctx.context(now, type === 'page', id.groupId);
    let m: Message | null = { type, messageId: crypto.randomUUID(), timestamp: iso, anonymousId: id.anonymousId, context, ...fields };
    if (id.userId) m.userId = id.userId;
    if (o.beforeSend) {
      try {
        m = o.beforeSend(m);
      } catch (e) {
        report({ kind: 'rejected', message: `beforeSend threw, message dropped: ${String(e)}` });
        return null;
      }
      if (!m) return null;
    }
    // What JSON or IndexedDB would choke on (cyclic, too deep, BigInt, functions, symbols, a
    // getter that throws) is refused here, alone, so it never blocks the queue.
    let size: number;
    try {
      // All but the context (its size is known): the user's fields and the ids.
      const { context: _, ...rest } = m;
      size = ctx.bytes + measure(rest, maxEventBytes);
    } catch (e) {
      refuse(typeof e === 'string' ? e.slice(1) : `unreadable: ${e}`, [m]);
      return null;
    }
    if (size > maxEventBytes) {
      const why = `"${m.event ?? m.type}" is about ${size} bytes, over the ${maxEventBytes}-byte limit; it was not queued`;
      console.warn(`@keel/telemetry: ${why}`);
      refused++;
      report({ kind: 'oversized', message: why, messages: [m] });
      return null;
    }
    return m;
  }

  // Unload: what this tab holds goes by beacon; what the beacon budget refused is written now.
  const onPageHide = () => {
    sender.beacon();
    void queue.persist();
  };
  const onVisibility = () => {
    if (document.visibilityState === 'hidden') void sender.flush();
  };
  addEventListener('pagehide', onPageHide);
  document.addEventListener('visibilitychange', onVisibility);

  const api: Telemetry = {
    track(event, properties) {
      enqueue(build('track', { event, properties: properties ?? {} }));
    },
    identify(userId, traits) {
      if (!enabled) return;
      id.setUser(userId);
      enqueue(build('identify', { traits: traits ?? {} }));
    },
    group(groupId, traits) {
      if (!enabled) return;
      id.setGroup(groupId);
      enqueue(build('group', { groupId, traits: traits ?? {} }));
    },
    page(name, properties) {
      const fields: Partial<Message> = { properties: properties ?? {} };
      if (name) fields.name = name;
      enqueue(build('page', fields));
    },
    reset: () => id.reset(),
    flush: () => sender.flush(),
    consent(granted) {
      enabled = granted;
      if (granted) {
        if (queue.size) sender.schedule(0);
        return;
      }
      sender.cancel();
      queue.clear();
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    async shutdown() {
      await sender.flush();
      sender.stop();
      stopCapture();
      ctx.stop();
      removeEventListener('pagehide', onPageHide);
      document.removeEventListener('visibilitychange', onVisibility);
      queue.stop();
      await queue.persist();
    },
    setUserToken(token) {
      userToken = token;
    },
    get anonymousId() {
      return id.anonymousId;
    },
    get dropped() {
      return queue.dropped;
    },
    get refused() {
      return refused;
    },
  };

  const stopCapture = autocapture(api, o.autocapture, o.sessionTimeout ?? 30 * 60_000);
  // Whatever an earlier page left in IndexedDB goes out now.
  void queue.store.then((s) => s.head(1)).then((h) => h.length && sender.schedule(0));
  return api;
}
