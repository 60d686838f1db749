// @keel/embed: Keel from one script tag, no bundler.
//
//   <script type="module" src="https://keel.example.com/sdk/keel.js"
//           data-write-key="wk_live_…" data-user-token-url="/api/keel-token"></script>
//
// It starts the SDK (telemetry, config, progress, nudges and recipes), exposes it as
// `window.keel`, and registers each element lazily: an element's code is fetched the first time
// one appears in the document (now or later), so a page pays only for what it shows. Kept small
// by hand (a page pays for these bytes before anything else): no framework, one observer.
import { init, type Keel } from '@keel/sdk-core';

/** Tag → the module that defines it: a chunk of its own each, fetched on first sight. */
const LOADERS: Record<string, () => Promise<unknown>> = {
  'keel-checklist': () => import('@keel/checklist-widget/define'),
  'keel-health-badge': () => import('@keel/health-badge/define'),
  'keel-status': () => import('@keel/health-badge/define'),
  'keel-nudge': () => import('@keel/nudge-widget/define'),
  'keel-recipe': () => import('@keel/nudge-widget/define'),
};
const TAGS = Object.keys(LOADERS);
const SELECTOR = TAGS.join();

/**
 * `window.keel`, one object for the page's whole life: `track`, `identify`, `group` and `page`
 * work at once (queued until the SDK has its token, then replayed in order, and forwarded after);
 * `ready` resolves to the SDK; anything else (`recipes`, `debug`, `explain`…) is the SDK's once
 * it has started.
 */
export type EmbeddedKeel = Keel & { page: Keel['telemetry']['page']; ready: Promise<Keel> };
// Typed here, not as a global, so a page's own declaration stays its own.
const w = window as unknown as { keel: EmbeddedKeel };

// This script's own tag (module scripts have no document.currentScript): the one whose src is
// this file, else the first tag carrying a write key.
const tags = [...document.querySelectorAll<HTMLScriptElement>('script[data-write-key]')];
const d = (tags.find((s) => s.src === import.meta.url) ?? tags[0])?.dataset ?? {};
// The API lives where this file was served from, one level up from /sdk/ (or data-host).
const host = (d.host ?? new URL('..', import.meta.url).href).replace(/\/+$/, '');

type Call = 'track' | 'identify' | 'group' | 'page';
const queue: [Call, unknown[]][] = [];
let real: Keel | undefined;
let resolveReady!: (k: Keel) => void;
const ready = new Promise<Keel>((r) => (resolveReady = r));
const call = (name: Call, args: unknown[]) => (real ? (real.telemetry[name] as (...a: unknown[]) => void)(...args) : void queue.push([name, args]));
const own: Record<string, unknown> = { ready };
for (const name of ['track', 'identify', 'group', 'page'] as const) own[name] = (...args: unknown[]) => call(name, args);
w.keel = new Proxy(own, {
  get(t, k) {
    if (k in t) return t[k as string];
    const v: unknown = real && Reflect.get(real, k);
    return typeof v === 'function' ? v.bind(real) : v;
  },
}) as unknown as EmbeddedKeel;

/** The user token: data-user-token, or what data-user-token-url answers (text, or JSON `{ token }`). */
async function userToken(): Promise<string | undefined> {
  if (d.userToken) return d.userToken;
  if (!d.userTokenUrl) return undefined;
  try {
    const res = await fetch(d.userTokenUrl, { credentials: 'include' });
    if (!res.ok) throw new Error(`${d.userTokenUrl} answered ${res.status}`);
    const text = (await res.text()).trim();
    return text.startsWith('{') ? (JSON.parse(text) as { token?: string }).token : text;
  } catch (e) {
    console.warn('keel: no user token, so no progress sync or health badge:', e);
    return undefined;
  }
}

/** The token's tenant claim (read, not verified: the server verifies), for a badge without `tenant`. */
const tenantOf = (token: string | undefined) => {
  try {
    return (JSON.parse(atob(token!.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { tenant?: string }).tenant;
  } catch {
    return undefined;
  }
};

async function start() {
  if (!d.writeKey) return console.warn('keel: the script tag needs data-write-key');
  const token = await userToken();
  const keel = init({
    writeKey: d.writeKey,
    host,
    ...(token ? { userToken: token } : {}),
    ui: () => import('@keel/nudge-widget/ui'),
  });
  real = keel;
  for (const [name, args] of queue.splice(0)) call(name, args);
  resolveReady(keel);

  // Wires an element once its code is defined: what it reads from the SDK, unless the page set it.
  const wire = (el: Element) => {
    const e = el as HTMLElement & { source?: unknown; host?: string; token?: string; tenant?: string };
    if (e.localName === 'keel-checklist') e.source ??= keel;
    else if (e.localName === 'keel-health-badge' || e.localName === 'keel-status') {
      e.host ||= host;
      if (token) e.token ||= token;
      if (e.localName === 'keel-health-badge') e.tenant ||= tenantOf(token) ?? '';
    }
  };
  const seen = new WeakSet<Element>();
  const found = (el: Element) => {
    if (seen.has(el)) return;
    seen.add(el);
    const tag = el.localName;
    LOADERS[tag]!().then(
      () => customElements.whenDefined(tag).then(() => wire(el)),
      (e: unknown) => console.warn(`keel: could not load <${tag}>:`, e),
    );
  };
  const scan = (root: ParentNode) => {
    if (root instanceof Element && TAGS.includes(root.localName)) found(root);
    root.querySelectorAll(SELECTOR).forEach(found);
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) if (n instanceof Element) scan(n);
  }).observe(document, { childList: true, subtree: true });
  scan(document);
}

void start();
