// The `context` every message carries: library, page, user agent, locale, time zone. Computed
// once or cached, so track() reads no DOM and calls no Intl.
import { measure } from './check.js';
import type { MessageContext } from './types.js';

export interface ContextSource {
  /** A fresh context object for one message; `navigation` re-reads the page at once. */
  context(now: number, navigation: boolean, groupId: string | undefined): MessageContext;
  /** Approximate JSON size of the last context built (for the event size check). */
  readonly bytes: number;
  /** The IANA time zone (the first call makes the page's Intl lookup). */
  zone(): string;
  stop(): void;
}

export function createContext(version: string): ContextSource {
  // Computed once: no navigator lookup per event.
  const library = { name: '@keel/telemetry', version };
  const userAgent = navigator.userAgent;
  const locale = navigator.language;
  // The time zone needs Intl, and a page's first Intl call can take tens of milliseconds: it is
  // looked up when the page is idle (or at the first write to the queue, if that comes first),
  // never in createTelemetry() or track(), and stamped on messages as they are written.
  let timezone: string | undefined;
  const zone = () => (timezone ??= Intl.DateTimeFormat().resolvedOptions().timeZone);
  if (typeof requestIdleCallback === 'function') requestIdleCallback(zone, { timeout: 2000 });
  // Page context, re-read at most every 250 ms and on navigation: reading location and the
  // title through the DOM on every call would cost more than the rest of track().
  let pageAt = -Infinity;
  let page = { url: '', path: '', referrer: '', title: '' };
  let bytes = 0;
  const navigated = () => {
    pageAt = -Infinity;
  };
  addEventListener('popstate', navigated);
  addEventListener('hashchange', navigated);
  return {
    context(now, navigation, groupId) {
      if (navigation || now - pageAt > 250) {
        pageAt = now;
        page = { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title };
        bytes = measure({ library, userAgent, locale, page }, Infinity) + 200;
      }
      const c: MessageContext = { library, page, userAgent, locale };
      if (groupId) c.groupId = groupId;
      return c;
    },
    get bytes() {
      return bytes;
    },
    zone,
    stop() {
      removeEventListener('popstate', navigated);
      removeEventListener('hashchange', navigated);
    },
  };
}
