// The page of the guidance end-to-end test, as a vendor would write it: Keel.init with every
// widget on the page, and the nudge/recipe UI loaded lazily (a separate chunk, fetched the first
// time something is shown). Served under `Content-Security-Policy: default-src 'self'`.
import { init } from '../../../packages/sdk-core/src/index.js';
import '../../../packages/checklist-widget/src/define.js';
import '../../../packages/health-badge/src/define.js';

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
const userToken = meta('keel-user-token');
const keel = init({
  writeKey: meta('keel-write-key'),
  host: location.origin, // the page's server forwards /v1 to Keel: nothing but 'self' is contacted
  userToken,
  telemetry: { flushInterval: 100 },
  fatigue: { quietMs: Number(meta('keel-quiet-ms')) || undefined },
  ui: () => import('../../../packages/nudge-widget/src/ui.js'),
});
(window as unknown as { keel: typeof keel }).keel = keel;
keel.identify('ada', { role: 'admin' });
keel.group('acme');

for (const el of document.querySelectorAll('keel-checklist')) el.source = keel;
for (const el of document.querySelectorAll('keel-health-badge, keel-status')) Object.assign(el, { host: location.origin, token: userToken });

const on = (id: string, fn: () => void) => document.getElementById(id)?.addEventListener('click', fn);
on('ingest', () => keel.track('feature.used', { feature: 'dataset.ingest' }));
on('save', () => keel.track('feature.used', { feature: 'reports.create' }));
on('boom', () => keel.track('error.raised', { area: 'imports', message: 'CSV header missing' }));
