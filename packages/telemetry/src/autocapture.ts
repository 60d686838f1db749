import type { Telemetry, TelemetryOptions } from './types.js';

const SESSION_KEY = 'keel.session';

/**
 * Error, session and SPA page-view capture, each switchable. Returns a function that removes
 * every listener and restores the History methods it wrapped.
 */
export function autocapture(api: Telemetry, opts: TelemetryOptions['autocapture'], timeout: number): () => void {
  const off: (() => void)[] = [];
  if (opts === false) return () => undefined;
  const on = <K extends keyof WindowEventMap>(type: K, fn: (e: WindowEventMap[K]) => void) => {
    addEventListener(type, fn);
    off.push(() => removeEventListener(type, fn));
  };

  if (opts?.errors !== false) {
    on('error', (e) => {
      if (!(e instanceof ErrorEvent)) return; // resource load errors are not script errors
      const err = e.error as Error | undefined;
      api.track('error.raised', {
        kind: 'error',
        message: String(e.message || err?.message || 'Script error'),
        source: e.filename,
        line: e.lineno,
        column: e.colno,
        stack: err?.stack?.slice(0, 2000),
      });
    });
    on('unhandledrejection', (e) => {
      const r = e.reason as { message?: unknown; stack?: unknown } | undefined;
      api.track('error.raised', {
        kind: 'unhandledrejection',
        message: String(r?.message ?? r),
        stack: typeof r?.stack === 'string' ? r.stack.slice(0, 2000) : undefined,
      });
    });
  }

  if (opts?.sessions !== false) {
    // A session ends after `timeout` without a tracked message; the next message starts another.
    let s: { id: string; start: number; last: number } | undefined;
    try {
      s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') ?? undefined;
    } catch {
      s = undefined;
    }
    let savedAt = 0;
    let inSession = false;
    const save = () => {
      savedAt = Date.now();
      try {
        localStorage.setItem(SESSION_KEY, JSON.stringify(s));
      } catch {
        /* memory only */
      }
    };
    const touch = () => {
      if (inSession) return;
      const now = Date.now();
      if (!s || now - s.last > timeout) {
        inSession = true;
        if (s) api.track('user.session', { action: 'end', sessionId: s.id, durationMs: s.last - s.start });
        s = { id: crypto.randomUUID(), start: now, last: now };
        save();
        api.track('user.session', { action: 'start', sessionId: s.id });
        inSession = false;
        return;
      }
      s.last = now;
      if (now - savedAt > 5000) save(); // at most one storage write every 5 s
    };
    touch();
    off.push(api.subscribe(touch));
    on('pagehide', save);
  }

  if (opts?.pageviews !== false) {
    let last = location.pathname + location.search;
    api.page();
    const changed = () => {
      const now = location.pathname + location.search;
      if (now !== last) {
        last = now;
        api.page();
      }
    };
    const { pushState, replaceState } = history;
    history.pushState = function (...args: Parameters<History['pushState']>) {
      pushState.apply(this, args);
      changed();
    };
    history.replaceState = function (...args: Parameters<History['replaceState']>) {
      replaceState.apply(this, args);
      changed();
    };
    on('popstate', changed);
    off.push(() => {
      history.pushState = pushState;
      history.replaceState = replaceState;
    });
  }
  return () => off.forEach((f) => f());
}
