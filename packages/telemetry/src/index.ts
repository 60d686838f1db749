// @keel/telemetry: a persisted, batched, never-lose-an-event queue speaking the Segment Tracking API.
import { autocapture } from './autocapture.js';
import { type Entry, memoryQueue, openQueue, type QueueStore } from './store.js';
import { body, send } from './transport.js';
import type { Message, Telemetry, TelemetryError, TelemetryOptions } from './types.js';

export type { Message, MessageContext, Telemetry, TelemetryError, TelemetryOptions } from './types.js';
/** IndexedDB as promises (also what @keel/sdk-core keeps its state with). */
export { committed, openStore, request } from './idb.js';

export const VERSION = '0.1.0';
const BEACON_BYTES = 60_000;

/** Approximate JSON length, cheap enough for the hot path; exact sizes are taken at send time. */
function approxSize(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length + 2;
  if (typeof v !== 'object' || v === null || depth > 8) return 8;
  let n = 2;
  if (Array.isArray(v)) for (const x of v) n += approxSize(x, depth + 1) + 1;
  else for (const k in v) n += k.length + 4 + approxSize((v as Record<string, unknown>)[k], depth + 1);
  return n;
}

const ls = {
  get(k: string): string | null {
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  },
  set(k: string, v: string | null) {
    try {
      if (v === null) localStorage.removeItem(k);
      else localStorage.setItem(k, v);
    } catch {
      /* storage unavailable: identity lives for this page only */
    }
  },
};

export function createTelemetry(options: TelemetryOptions): Telemetry {
  if (!options?.writeKey) throw new Error('@keel/telemetry: createTelemetry needs `writeKey` (your Keel write key)');
  if (!options.host) throw new Error('@keel/telemetry: createTelemetry needs `host` (the Keel ingest URL)');
  const o = options;
  const host = o.host.replace(/\/+$/, '');
  const flushAt = o.flushAt ?? 20;
  const flushInterval = o.flushInterval ?? 5000;
  const maxBatchBytes = o.maxBatchBytes ?? 500_000;
  const maxEventBytes = o.maxEventBytes ?? 32_000;
  const maxQueue = o.maxQueueSize ?? 10_000;
  const baseDelay = o.retry?.baseDelay ?? 1000;
  const maxDelay = o.retry?.maxDelay ?? 60_000;
  const compress = o.compress ?? true;
  const dbName = o.dbName ?? 'keel-telemetry';
  const report = (e: TelemetryError) => o.onError?.(e);
  let userToken = o.userToken;

  let enabled = o.consent ?? true;
  let anonymousId = ls.get('keel.anonymousId') ?? '';
  if (!anonymousId) ls.set('keel.anonymousId', (anonymousId = crypto.randomUUID()));
  let userId = ls.get('keel.userId') ?? undefined;
  let groupId = ls.get('keel.groupId') ?? undefined;

  // Computed once: no navigator lookup per event.
  const base = {
    library: { name: '@keel/telemetry', version: VERSION },
    userAgent: navigator.userAgent,
    locale: navigator.language,
  };
  // The time zone needs Intl, and a page's first Intl call can take tens of milliseconds: it is
  // looked up when the page is idle (or at the first write to the queue, if that comes first),
  // never in createTelemetry() or track(), and stamped on messages as they are written.
  let timezone: string | undefined;
  const zone = () => (timezone ??= Intl.DateTimeFormat().resolvedOptions().timeZone);
  if (typeof requestIdleCallback === 'function') requestIdleCallback(zone, { timeout: 2000 });
  // Page context, re-read at most every 250 ms and on navigation: reading location and the
  // title through the DOM on every call would cost more than the rest of track().
  let pageAt = -Infinity;
  let pageCtx = { url: '', path: '', referrer: '', title: '' };
  let ctxBytes = 0;
  const pageInfo = (now: number, force = false) => {
    if (force || now - pageAt > 250) {
      pageAt = now;
      pageCtx = { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title };
      ctxBytes = approxSize(base) + approxSize(pageCtx) + 200;
    }
    return pageCtx;
  };
  const navigated = () => {
    pageAt = -Infinity;
  };
  addEventListener('popstate', navigated);
  addEventListener('hashchange', navigated);

  // The queue: `fresh` holds messages not yet written to IndexedDB; `mine` mirrors what this tab
  // wrote and has not seen sent (for the synchronous unload beacon). Sending always reads from
  // IndexedDB inside a Web Lock, so whichever tab sends, each message goes out once.
  let fresh: Entry[] = [];
  const mine = new Map<string, Entry>();
  let seq = 0;
  let dropped = 0;
  const storeP: Promise<QueueStore> = openQueue(dbName).catch((e: unknown) => {
    report({ kind: 'storage', message: `IndexedDB unavailable, queueing in memory only: ${String(e)}` });
    return memoryQueue();
  });
  const subscribers = new Set<(m: Message) => void>();
  let persistTimer: ReturnType<typeof setTimeout> | undefined;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let reported = 0;
  let retryAt = 0;
  let stopped = false;

  function enqueue(m: Message | null) {
    if (!m) return;
    const key: Entry['k'] = [Date.now() * 1000 + (seq++ % 1000), m.messageId];
    const e = { k: key, m };
    fresh.push(e);
    mine.set(m.messageId, e);
    if (mine.size > maxQueue) {
      // Oldest first. The mirror never outgrows the bound; IndexedDB is trimmed (and the drops
      // counted) when it is written, so only a message that never got there is counted here.
      const [id, oldest] = mine.entries().next().value as [string, Entry];
      mine.delete(id);
      if (fresh[0] === oldest) {
        fresh.shift();
        dropped++;
      }
    }
    for (const fn of subscribers) fn(m);
    persistTimer ??= setTimeout(persist, 50);
    if (mine.size >= flushAt) schedule(0);
    else if (!flushTimer) schedule(flushInterval);
  }

  let flushDue = 0;
  function schedule(delay: number) {
    if (stopped || !enabled) return;
    const now = Date.now();
    const at = Math.max(delay, retryAt - now);
    if (flushTimer) {
      if (flushDue <= now + at) return; // already due no later than asked
      clearTimeout(flushTimer);
    }
    flushDue = now + at;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush();
    }, at);
  }

  let persisting: Promise<void> = Promise.resolve();
  function persist(): Promise<void> {
    clearTimeout(persistTimer);
    persistTimer = undefined;
    const batch = fresh;
    fresh = [];
    persisting = persisting.then(async () => {
      if (!batch.length) return;
      for (const e of batch) e.m.context.timezone ??= zone();
      const store = await storeP;
      try {
        await store.add(batch); // in slices of a few ms: never a long task
        const n = await store.trim(maxQueue);
        if (n) dropped += n;
      } catch (e) {
        report({ kind: 'storage', message: `could not persist ${batch.length} messages: ${String(e)}` });
        fresh = batch.concat(fresh);
      }
      if (dropped > reported) {
        reported = dropped;
        report({ kind: 'dropped', message: `the queue is full (${maxQueue}); dropped the ${dropped} oldest messages so far`, count: dropped });
      }
    });
    return persisting;
  }

  function build(type: Message['type'], fields: Partial<Message>): Message | null {
    if (!enabled) return null;
    const now = Date.now();
    const context: Message['context'] = {
      library: base.library, page: pageInfo(now, type === 'page'), userAgent: base.userAgent, locale: base.locale,
    };
    if (groupId) context.groupId = groupId;
    let m: Message | null = { type, messageId: crypto.randomUUID(), timestamp: new Date(now).toISOString(), anonymousId, context, ...fields };
    if (userId) m.userId = userId;
    if (o.beforeSend) {
      try {
        m = o.beforeSend(m);
      } catch (e) {
        report({ kind: 'rejected', message: `beforeSend threw, message dropped: ${String(e)}` });
        return null;
      }
      if (!m) return null;
    }
    const size = ctxBytes + approxSize(m.properties) + approxSize(m.traits) + (m.event?.length ?? 0);
    if (size > maxEventBytes) {
      console.warn(`@keel/telemetry: "${m.event ?? m.type}" is about ${size} bytes, over the ${maxEventBytes}-byte limit; it was not queued`);
      report({ kind: 'oversized', message: `"${m.event ?? m.type}" is ${size} bytes (limit ${maxEventBytes})`, messages: [m] });
      return null;
    }
    return m;
  }

  let flushing: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  function flush(): Promise<void> {
    if (!enabled) return Promise.resolve();
    // A flush already running may have read the queue before the newest messages were written:
    // callers meanwhile share one follow-up flush that starts when it ends.
    if (flushing) {
      return (next ??= flushing.then(() => {
        next = undefined;
        return flush();
      }));
    }
    flushing = (async () => {
      try {
        await persist();
        const locks = navigator.locks;
        if (locks) await locks.request(`keel-flush:${dbName}`, drain);
        else await drain();
      } catch (e) {
        // Storage or the network stack failed in a way send() does not classify: try again later.
        report({ kind: 'storage', message: `sending failed, will retry: ${String(e)}` });
        backoff();
      }
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  /** Sends from IndexedDB until it is empty or a send fails (then a retry is scheduled). */
  async function drain(): Promise<void> {
    const store = await storeP;
    const batchMax = Math.max(flushAt, 100);
    let limit = batchMax;
    for (;;) {
      if (!enabled || Date.now() < retryAt) return;
      const entries = await store.head(limit);
      if (!entries.length) {
        // Everything this tab persisted is gone from the shared queue: sent, by whichever tab.
        const unpersisted = new Set(fresh.map((e) => e.m.messageId));
        for (const id of mine.keys()) if (!unpersisted.has(id)) mine.delete(id);
        return;
      }
      // As many as fit in one body.
      let text = '';
      let n = entries.length;
      for (;;) {
        text = body(entries.slice(0, n).map((e) => e.m), o.writeKey, userToken);
        if (n === 1 || new TextEncoder().encode(text).length <= maxBatchBytes) break;
        n = Math.ceil(n / 2);
      }
      const sent = entries.slice(0, n);
      const r = await send(`${host}/v1/batch`, text, compress);
      const done = (list: Entry[]) => store.remove(list.map((e) => e.k)).then(() => list.forEach((e) => mine.delete(e.m.messageId)));
      if (r.kind === 'ok' || r.kind === 'partial') {
        const bad = r.rejected.map((i) => sent[i]).filter((e): e is Entry => !!e);
        if (bad.length) report({ kind: 'rejected', message: `the server rejected ${bad.length} message(s)`, messages: bad.map((e) => e.m) });
        await done(r.kind === 'ok' ? sent : bad);
        attempt = 0;
        limit = batchMax;
        continue;
      }
      if (r.kind === 'too-large' && n > 1) {
        limit = Math.ceil(n / 2);
        continue;
      }
      if (r.kind === 'drop' || r.kind === 'too-large') {
        report({ kind: 'rejected', message: `the server refused a batch of ${n}: ${r.kind === 'drop' ? r.reason : 'too large'}`, messages: sent.map((e) => e.m) });
        await done(sent);
        continue;
      }
      if (r.kind === 'unauthorized') report({ kind: 'unauthorized', message: `the write key was refused (${r.reason}); messages are kept and retried` });
      backoff(r.kind === 'retry' ? r.after : undefined);
      return;
    }
  }

  /** Exponential backoff with full jitter; a server's Retry-After is a floor. */
  function backoff(after?: number) {
    const jitter = Math.random() * Math.min(maxDelay, baseDelay * 2 ** attempt++);
    const wait = after !== undefined ? Math.max(after, jitter / 4) : jitter;
    retryAt = Date.now() + wait;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryAt = 0;
      void flush();
    }, wait);
  }

  /** Unload: what this tab still holds, by beacon, in chunks within the 64 KB budget. */
  function beacon() {
    if (!enabled || !mine.size || typeof navigator.sendBeacon !== 'function') return;
    const url = `${host}/v1/beacon?writeKey=${encodeURIComponent(o.writeKey)}`;
    const all = [...mine.values()];
    const gone: Entry[] = [];
    let i = 0;
    while (i < all.length) {
      let n = Math.min(all.length - i, 100);
      let text = body(all.slice(i, i + n).map((e) => e.m), o.writeKey, userToken);
      while (n > 1 && text.length > BEACON_BYTES) {
        n = Math.ceil(n / 2);
        text = body(all.slice(i, i + n).map((e) => e.m), o.writeKey, userToken);
      }
      if (text.length > BEACON_BYTES || !navigator.sendBeacon(url, new Blob([text], { type: 'text/plain' }))) break;
      gone.push(...all.slice(i, i + n));
      i += n;
    }
    if (!gone.length) return;
    for (const e of gone) mine.delete(e.m.messageId);
    const goneIds = new Set(gone.map((e) => e.m.messageId));
    fresh = fresh.filter((e) => !goneIds.has(e.m.messageId));
    void storeP.then((s) => s.remove(gone.map((e) => e.k))).catch(() => undefined);
  }

  const onPageHide = () => beacon();
  const onVisibility = () => {
    if (document.visibilityState === 'hidden') void flush();
  };
  addEventListener('pagehide', onPageHide);
  document.addEventListener('visibilitychange', onVisibility);

  const api: Telemetry = {
    track(event, properties) {
      enqueue(build('track', properties ? { event, properties } : { event, properties: {} }));
    },
    identify(id, traits) {
      if (!enabled) return;
      userId = id;
      ls.set('keel.userId', id);
      enqueue(build('identify', { traits: traits ?? {} }));
    },
    group(id, traits) {
      if (!enabled) return;
      groupId = id;
      ls.set('keel.groupId', id);
      enqueue(build('group', { groupId: id, traits: traits ?? {} }));
    },
    page(name, properties) {
      const fields: Partial<Message> = { properties: properties ?? {} };
      if (name) fields.name = name;
      enqueue(build('page', fields));
    },
    reset() {
      userId = groupId = undefined;
      ls.set('keel.userId', null);
      ls.set('keel.groupId', null);
      ls.set('keel.anonymousId', (anonymousId = crypto.randomUUID()));
    },
    flush,
    consent(granted) {
      enabled = granted;
      if (granted) {
        if (mine.size) schedule(0);
        return;
      }
      fresh = [];
      mine.clear();
      clearTimeout(flushTimer);
      clearTimeout(retryTimer);
      flushTimer = undefined;
      void persisting.then(() => storeP).then((s) => s.clear());
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    async shutdown() {
      await flush();
      stopped = true;
      stopCapture();
      removeEventListener('pagehide', onPageHide);
      removeEventListener('popstate', navigated);
      removeEventListener('hashchange', navigated);
      document.removeEventListener('visibilitychange', onVisibility);
      clearTimeout(flushTimer);
      clearTimeout(retryTimer);
      clearTimeout(persistTimer);
      await persist();
    },
    setUserToken(token) {
      userToken = token;
    },
    get anonymousId() {
      return anonymousId;
    },
    get dropped() {
      return dropped;
    },
  };

  const stopCapture = autocapture(api, o.autocapture, o.sessionTimeout ?? 30 * 60_000);
  // Whatever an earlier page left in IndexedDB goes out now.
  void storeP.then((s) => s.head(1)).then((h) => h.length && schedule(0));
  return api;
}
