/**
 * The engine in a page (loaded lazily with ./guide.ts): what it reads of the page (path, focus,
 * `<html lang>`), where its ledger lives (localStorage), how links open.
 */
import { createGuide, type Guide, type GuideLib } from './guide.js';
import type { GuideCore } from './lazy-guide.js';

const TEXT_INPUT = /^(text|search|email|url|tel|password|number|date|datetime-local|month|week|time)$/;

/** The text field the user is typing in (through open shadow roots), described for the trace. */
function typing(): string | undefined {
  let a: Element | null = document.activeElement;
  while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
  if (!(a instanceof HTMLElement)) return undefined;
  const field = a instanceof HTMLTextAreaElement || (a instanceof HTMLInputElement && TEXT_INPUT.test(a.type)) || a.isContentEditable;
  if (!field) return undefined;
  const name = a.id ? `#${a.id}` : a.getAttribute('name') ? `[name="${a.getAttribute('name')}"]` : '';
  return `<${a.localName}${name ? ` ${name}` : ''}>`;
}

function storage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined; // storage blocked: the budget holds per page
  }
}

export function startGuide(c: GuideCore, lib: GuideLib): Guide {
  const g = createGuide({
    lib,
    storageKey: c.storageKey,
    storage: storage(),
    now: Date.now,
    config: c.config,
    ctx: c.ctx,
    refused: c.refused,
    lifecycleState: c.lifecycleState,
    track: c.track,
    progress: (kind, id) => c.progress(`user:${kind}:${id}`),
    saveProgress(kind, ref, state, data) {
      const at = new Date().toISOString();
      c.record({ scope: 'user', kind, ref, state, updatedAt: at, ...(state === 'completed' ? { completedAt: at } : {}), ...(data ? { data } : {}) });
    },
    recipeCompleted: c.recompute,
    openLink: (href) => (c.onLink ?? ((h: string) => location.assign(h)))(href),
    path: () => location.pathname,
    typing,
    hidden: () => document.visibilityState === 'hidden',
    locale: () => document.documentElement.lang || undefined,
    loader: c.ui,
    fatigue: c.fatigue,
    debug: c.debug,
  });
  g.resume();
  g.schedule();
  return g;
}
