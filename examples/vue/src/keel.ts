// Keel for the whole app, created once: when this module is first imported, outside any
// component (a component's setup runs for every instance; two clients would queue every event twice).
import { init, type Keel } from '@keel/sdk-core';
import '@keel/checklist-widget/define';
import '@keel/health-badge/define';

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';

/** Keel's API, proxied by this app's server under /v1 (so the page talks to its own origin only). */
export const host = location.origin;
export const userToken = meta('keel-user-token');
export const tenant = meta('keel-tenant');

// In development, a hot update runs this module again: keep the client it already made.
const previous = import.meta.hot?.data.keel as Keel | undefined;
export const keel: Keel =
  previous ??
  init({
    writeKey: meta('keel-write-key'),
    host,
    userToken,
    telemetry: { flushInterval: 200 },
    // Nudges and recipes: their UI is a chunk of its own, fetched the first time one shows.
    ui: () => import('@keel/nudge-widget/ui'),
  });
if (!previous) keel.group(tenant);
if (import.meta.hot) import.meta.hot.data.keel = keel;
