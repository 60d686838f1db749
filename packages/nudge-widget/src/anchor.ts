/**
 * Anchors are a contract: a nudge names ranked selectors; lookup reaches into open shadow roots;
 * a missing anchor is waited for (MutationObserver, bounded); one that never appears is reported,
 * never pointed at.
 */

/** `querySelector` that also searches every open shadow root, depth first, document order. */
export function deepQuery(selector: string, root: Document | ShadowRoot | Element = document): Element | null {
  let found: Element | null = null;
  try {
    found = root.querySelector(selector);
  } catch {
    return null; // an invalid selector matches nothing (the config validator warns about it)
  }
  if (found) return found;
  const walker = (root instanceof Document ? root : root.ownerDocument ?? document).createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const sr = (n as Element).shadowRoot;
    if (sr) {
      const hit = deepQuery(selector, sr);
      if (hit) return hit;
    }
  }
  return null;
}

/**
 * The first selector, in rank order, that matches an element with a box on the page: one that is
 * `display: none` (or inside such) is not there to point at, so a lower-ranked match wins, or the
 * wait goes on until it shows.
 */
export function findAnchor(selectors: string | readonly string[], root: Document = document): { element: Element; selector: string } | undefined {
  for (const selector of typeof selectors === 'string' ? [selectors] : selectors) {
    const element = deepQuery(selector, root);
    if (element?.isConnected && element.getClientRects().length > 0) return { element, selector };
  }
  return undefined;
}

export type AnchorResult =
  | { ok: true; element: Element; selector: string; waitedMs: number }
  | { ok: false; reason: 'anchor.missing'; selectors: readonly string[]; waitedMs: number };

/**
 * Resolves the anchor now, or waits for it to appear (DOM mutations anywhere, including open
 * shadow roots attached later) for at most `timeoutMs`. Never rejects.
 */
export function waitForAnchor(selectors: string | readonly string[], { timeoutMs = 5000, root = document, signal }: { timeoutMs?: number; root?: Document; signal?: AbortSignal } = {}): Promise<AnchorResult> {
  const list = typeof selectors === 'string' ? [selectors] : selectors;
  const start = performance.now();
  const now = findAnchor(list, root);
  if (now) return Promise.resolve({ ok: true, ...now, waitedMs: 0 });
  return new Promise((resolve) => {
    const observers: MutationObserver[] = [];
    let pending: ReturnType<typeof setTimeout> | undefined;
    const done = (r: AnchorResult) => {
      for (const o of observers) o.disconnect();
      clearTimeout(timer);
      clearTimeout(pending);
      signal?.removeEventListener('abort', abort);
      resolve(r);
    };
    const missing = () => done({ ok: false, reason: 'anchor.missing', selectors: list, waitedMs: Math.round(performance.now() - start) });
    const abort = () => missing();
    let added = false;
    const check = () => {
      pending = undefined;
      const hit = findAnchor(list, root);
      if (hit) return done({ ok: true, ...hit, waitedMs: Math.round(performance.now() - start) });
      if (added) observeShadowRoots();
      added = false;
    };
    // A busy page mutates constantly: look at most every 50 ms, and walk for new shadow roots
    // only when elements were added.
    const onMutations = (records: MutationRecord[]) => {
      added ||= records.some((r) => r.addedNodes.length > 0);
      pending ??= setTimeout(check, 50);
    };
    const observed = new WeakSet<Node>();
    const observe = (target: Node) => {
      if (observed.has(target)) return;
      observed.add(target);
      const o = new MutationObserver(onMutations);
      o.observe(target, { childList: true, subtree: true, attributes: true, attributeFilter: ['id', 'class', 'style', 'hidden', 'data-keel'] });
      observers.push(o);
    };
    // Mutations inside a shadow root are not seen from the document: observe each open root too.
    const observeShadowRoots = (within: Document | ShadowRoot = root) => {
      const walker = root.createTreeWalker(within, NodeFilter.SHOW_ELEMENT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const sr = (n as Element).shadowRoot;
        if (sr) {
          observe(sr);
          observeShadowRoots(sr); // roots inside roots
        }
      }
    };
    observe(root);
    observeShadowRoots();
    const timer = setTimeout(missing, timeoutMs);
    signal?.addEventListener('abort', abort);
  });
}
