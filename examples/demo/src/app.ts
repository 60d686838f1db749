// Acme Analytics: a small vendor app (no framework) that embeds Keel. Its own buttons emit the
// events keel.yaml's checklist, nudges and recipe listen for; navigation is History-API routing
// with a `page()` call per page. The app's own state (sources, datasets, reports, invites) lives
// in localStorage, so a reload keeps it, with or without the ingest running.
import { init } from '@keel/sdk-core';
import '@keel/checklist-widget/define';
import '@keel/health-badge/define';

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
const host = meta('keel-ingest');
const userToken = meta('keel-user-token');

// Every message this tab's SDK accepted (`beforeSend` sees each one, the session start that
// init tracks included), kept for the tab's life (reloads included): the demo's test compares
// these ids with what the server stored.
const TRACKED = 'acme.tracked';
const tracked = (): string[] => JSON.parse(sessionStorage.getItem(TRACKED) ?? '[]') as string[];
(window as unknown as { acmeTracked: typeof tracked }).acmeTracked = tracked;
function record<M extends { messageId: string }>(msg: M): M {
  sessionStorage.setItem(TRACKED, JSON.stringify([...tracked(), msg.messageId]));
  return msg;
}

const keel = init({
  writeKey: meta('keel-write-key'),
  host,
  userToken,
  // Retries come quickly (at most 2 s apart), so a restarted ingest gets the queue soon; page
  // views are tracked by the router below.
  telemetry: { flushInterval: 1000, retry: { baseDelay: 250, maxDelay: 2000 }, autocapture: { pageviews: false }, beforeSend: record },
  onLink: (href) => navigate(href),
  // Nudges and recipes: their UI is a chunk of its own, fetched the first time one shows.
  ui: () => import('@keel/nudge-widget/ui'),
});

keel.identify('u-42', { name: 'Ada Lovelace', email: 'ada@acme.example', role: 'admin' });
keel.group('acme-corp', { name: 'Acme Corp', plan: 'pro', seats: 25 });

document.querySelector('keel-checklist')!.source = keel;
for (const el of document.querySelectorAll('keel-health-badge, keel-status')) Object.assign(el, { host, token: userToken });

// The app's state.
interface State {
  sources: string[];
  datasets: { name: string; source: string; rows: number }[];
  reports: { name: string; dataset: string }[];
  team: string[];
}
const STATE = 'acme.state';
const state: State = { sources: [], datasets: [], reports: [], team: [], ...(JSON.parse(localStorage.getItem(STATE) ?? '{}') as Partial<State>) };
const save = () => {
  localStorage.setItem(STATE, JSON.stringify(state));
  render();
};

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const li = (text: string) => Object.assign(document.createElement('li'), { textContent: text });

const SOURCES = [
  { id: 'postgres', name: 'PostgreSQL', kind: 'source', about: 'Tables from your production replica.' },
  { id: 'snowflake', name: 'Snowflake', kind: 'source', about: 'Your warehouse, read-only.' },
  { id: 'slack', name: 'Slack', kind: 'notification', about: 'Send report digests to a channel.' },
];

function render() {
  $('count-sources').textContent = String(state.sources.filter((s) => SOURCES.find((x) => x.id === s)?.kind === 'source').length);
  $('count-datasets').textContent = String(state.datasets.length);
  $('count-reports').textContent = String(state.reports.length);

  const source = state.sources.find((s) => SOURCES.find((x) => x.id === s)?.kind === 'source');
  $<HTMLButtonElement>('import-dataset').disabled = !source;
  $('datasets-hint').hidden = Boolean(source);
  $('datasets').replaceChildren(
    ...state.datasets.map((d) => {
      const tr = document.createElement('tr');
      for (const v of [d.name, d.source, d.rows.toLocaleString('en')]) tr.append(Object.assign(document.createElement('td'), { textContent: v }));
      return tr;
    }),
  );

  $('integrations').replaceChildren(
    ...SOURCES.map((s) => {
      const item = document.createElement('li');
      const on = state.sources.includes(s.id);
      const button = Object.assign(document.createElement('button'), { type: 'button', textContent: on ? 'Connected' : `Connect ${s.name}`, disabled: on });
      button.addEventListener('click', () => connect(s));
      item.append(Object.assign(document.createElement('strong'), { textContent: s.name }), ` ${s.about} `, button);
      return item;
    }),
  );

  $('report-dataset').replaceChildren(...state.datasets.map((d) => Object.assign(document.createElement('option'), { value: d.name, textContent: d.name })));
  $('reports').replaceChildren(...(state.reports.length ? state.reports.map((r) => li(`${r.name} · from ${r.dataset}`)) : [li('No reports yet.')]));
  $('team').replaceChildren(...['Ada Lovelace (you, admin)', ...state.team.map((e) => `${e} (invited)`)].map(li));
}

function connect(s: (typeof SOURCES)[number]) {
  if (state.sources.includes(s.id)) return;
  state.sources.push(s.id);
  keel.track('integration.state', { integration: s.id, kind: s.kind, state: 'connected' });
  save();
}

$('import-dataset').addEventListener('click', () => {
  const source = state.sources.find((s) => SOURCES.find((x) => x.id === s)?.kind === 'source') ?? 'postgres';
  const name = state.datasets.some((d) => d.name === 'orders') ? `orders_${state.datasets.length + 1}` : 'orders';
  state.datasets.push({ name, source, rows: 12_480 });
  keel.track('feature.used', { feature: 'dataset.ingest', source, rows: 12_480 });
  save();
});
// The sample upload has no header row: the import fails as a real one would, and says so.
$('upload-csv').addEventListener('click', () => {
  const message = 'CSV header missing: the first row of orders.csv must name the columns';
  const el = $('upload-error');
  el.textContent = `Import failed. ${message}.`;
  el.hidden = false;
  keel.track('error.raised', { area: 'imports', message });
});

$('new-report').addEventListener('click', () => {
  $('report-form').hidden = false;
});
$('report-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const dataset = $<HTMLSelectElement>('report-dataset').value;
  const error = $('report-error');
  error.hidden = Boolean(dataset);
  if (!dataset) {
    error.textContent = 'Import a dataset first: a report reads one.';
    return;
  }
  state.reports.push({ name: $<HTMLInputElement>('report-name').value || 'Untitled report', dataset });
  keel.track('feature.used', { feature: 'reports.create', dataset });
  $('report-form').hidden = true;
  save();
});

// SSO: a metadata URL must be https and end in .xml, or the test fails (and the checklist offers recovery).
$('sso-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = $<HTMLInputElement>('sso-url').value.trim();
  const ok = /^https:\/\/[^\s/]+\/\S*\.xml$/.test(url);
  $('sso-result').textContent = ok ? 'Single sign-on is connected.' : "Couldn't read the identity provider's metadata: enter its https URL ending in .xml.";
  keel.track(
    'integration.state',
    ok ? { integration: 'sso', kind: 'identity', state: 'connected' } : { integration: 'sso', kind: 'identity', state: 'failed', reason: 'metadata_invalid' },
  );
});

$('invite-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const email = $<HTMLInputElement>('invite-email').value.trim();
  if (!email || state.team.includes(email)) return;
  state.team.push(email);
  $<HTMLInputElement>('invite-email').value = '';
  keel.track('feature.used', { feature: 'team.invite', role: 'member' });
  save();
});

// Routing: History API; every page shown is a `page()` call.
const TITLES: Record<string, string> = {
  '/': 'Home',
  '/datasets': 'Datasets',
  '/integrations': 'Integrations',
  '/reports': 'Reports',
  '/settings': 'Settings',
};
let first = true;
function show() {
  const path = TITLES[location.pathname] ? location.pathname : '/';
  for (const s of document.querySelectorAll<HTMLElement>('section[data-route]')) s.hidden = s.dataset.route !== path;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a[data-nav]')) {
    if (new URL(a.href).pathname === path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[path]} · Acme Analytics`;
  // The admin page's badge is fetched again each time the page is shown (it may have been loaded while the ingest was down).
  if (path === '/settings' && !first) void document.querySelector('keel-health-badge')?.refresh();
  first = false;
  keel.telemetry.page(TITLES[path]);
}
function navigate(href: string) {
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) {
    location.assign(url.href);
    return;
  }
  if (url.pathname === location.pathname) return;
  history.pushState({}, '', url.pathname);
  show();
}
for (const a of document.querySelectorAll<HTMLAnchorElement>('a[data-nav]')) {
  a.addEventListener('click', (e) => {
    e.preventDefault();
    navigate(a.href);
  });
}
addEventListener('popstate', show);
render();
show();
