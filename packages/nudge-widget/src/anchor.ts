/**
 * Anchors are a contract: a nudge names ranked selectors; lookup reaches into open shadow roots;
 * a missing anchor is waited for (MutationObserver, bounded); one that never appears is reported,
 * never pointed at.
 */

/**
 * `querySelector` that also searches every open shadow root, depth first, document order: the
 * first match that `accept`s (by default, any).
 */
export function deepQuery(selector: string, root: Document | ShadowRoot | Element = document, accept: (el: Element) => boolean = () => true): Element | null {
  let found: NodeListOf<Element>;
  try {
    found = root.querySelectorAll(selector);
  } catch {
    return null; // an invalid selector matches nothing (the config validator warns about it)
  }
  for (const el of found) if (accept(el)) return el;
  const walker = (root instanceof Document ? root : (root.ownerDocument ?? document)).createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const sr = (n as Element).shadowRoot;
    if (sr) {
      const hit = deepQuery(selector, sr, accept);
      if (hit) return hit;
    }
  }
  return null;
}

/** An element on the page with a box to point at (not `display: none`, nor inside such). */
const hasBox = (el: Element) => el.isConnected && el.getClientRects().length > 0;

/**
 * The first selector, in rank order, that matches an element with a box on the page: a hidden
 * match (the mobile copy of a nav, say) is passed over for a visible one, then for a lower-ranked
 * selector, or the wait goes on until one shows.
 */
export function findAnchor(selectors: string | readonly string[], root: Document = document): { element: Element; selector: string } | undefined {
  for (const selector of typeof selectors === 'string' ? [selectors] : selectors) {
    const element = deepQuery(selector, root, hasBox);
    if (element) return { element, selector };
  }
  return undefined;
}

export type AnchorResult =
  { ok: true; element: Element; selector: string; waitedMs: number } | { ok: false; reason: 'anchor.missing'; selectors: readonly string[]; waitedMs: number };

/**
 * Resolves the anchor now, or waits for it to appear (DOM mutations anywhere, including open
 * shadow roots attached later) for at most `timeoutMs`. Never rejects.
 */
export function waitForAnchor(
  selectors: string | readonly string[],
  { timeoutMs = 5000, root = document, signal }: { timeoutMs?: number; root?: Document; signal?: AbortSignal } = {},
): Promise<AnchorResult> {
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
      clearInterval(poll);
      signal?.removeEventListener('abort', abort);
      resolve(r);
    };
    const missing = () => done({ ok: false, reason: 'anchor.missing', selectors: list, waitedMs: Math.round(performance.now() - start) });
    const abort = () => missing();
    const check = () => {
      pending = undefined;
      const hit = findAnchor(list, root);
      if (hit) return done({ ok: true, ...hit, waitedMs: Math.round(performance.now() - start) });
      observeShadowRoots();
    };
    // A busy page mutates constantly: look at most every 50 ms.
    const onMutations = () => {
      pending ??= setTimeout(check, 50);
    };
    // And every 250 ms regardless: a shadow root attached when an element upgrades (a late
    // customElements.define) is not a mutation anyone observes, nor is what renders inside it.
    const poll = setInterval(onMutations, 250);
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
