import { init } from '@keel/sdk-core';
import '@keel/checklist-widget/define';

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';

const keel = init({
  writeKey: meta('keel-write-key'),
  host: meta('keel-ingest'),
  userToken: meta('keel-user-token'),
  telemetry: { flushInterval: 1000 },
  onLink: (href) => history.pushState({}, '', href),
  // Nudges and recipes: their UI is a chunk of its own, fetched the first time one shows.
  ui: () => import('@keel/nudge-widget/ui'),
});
document.querySelector('keel-checklist')!.source = keel;

const local = document.getElementById('local')!;
keel.telemetry.subscribe((msg) => {
  const li = document.createElement('li');
  li.textContent = `${msg.type} ${'event' in msg && msg.event ? msg.event : ''} ${msg.messageId.slice(0, 8)}`;
  local.prepend(li);
});

const on = (id: string, fn: () => void) => document.getElementById(id)!.addEventListener('click', fn);
on('identify', () => keel.identify('u-42', { role: 'admin', email: 'ada@acme.example' }));
on('group', () => keel.group('acme-corp', { plan: 'pro', seats: 25 }));
on('reset', () => keel.telemetry.reset());
on('ingest', () => keel.track('feature.used', { feature: 'dataset.ingest', rows: 1200 }));
on('report', () => keel.track('feature.used', { feature: 'reports.create' }));
on('sso-ok', () => keel.track('integration.state', { integration: 'sso', state: 'connected' }));
on('sso-fail', () => keel.track('integration.state', { integration: 'sso', state: 'failed', reason: 'metadata_invalid' }));
on('burst', () => {
  for (let i = 0; i < 500; i++) keel.track('feature.used', { feature: 'dashboard.view', i });
});
on('boom', () => {
  setTimeout(() => {
    throw new Error('Demo: something broke in the import wizard');
  });
});
on('flush', () => void keel.telemetry.flush());

// SPA navigation: the nav links change the URL without a reload; autocapture records page views.
for (const a of document.querySelectorAll<HTMLAnchorElement>('a[data-nav]')) {
  a.addEventListener('click', (e) => {
    e.preventDefault();
    history.pushState({}, '', a.href);
  });
}

const stored = document.getElementById('stored')!;
const total = document.getElementById('total')!;
async function poll() {
  try {
    const res = await fetch('/api/stored');
    const body = (await res.json()) as { total: number; rows: { type: string; event: string | null; messageId?: string; message_id?: string }[] };
    total.textContent = `(${body.total})`;
    stored.replaceChildren(
      ...body.rows.map((r) => {
        const li = document.createElement('li');
        li.textContent = `${r.type} ${r.event ?? ''} ${(r.messageId ?? r.message_id ?? '').slice(0, 8)}`;
        return li;
      }),
    );
  } catch {
    total.textContent = '(server unreachable)';
  }
}
setInterval(poll, 1500);
void poll();
