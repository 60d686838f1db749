/**
 * What every anchored surface (a nudge's tooltip or beacon, a recipe step) needs once its anchor
 * is found: stay attached to it, and know when it goes away.
 *
 * Positioning is @floating-ui/dom's `computePosition` (offset, flip, shift, size, arrow, hide) re-run by
 * `autoUpdate` on scroll, resize and layout changes of either element. Styles are set through the
 * CSSOM (`el.style.left = …`), which a strict CSP allows, never as `style` attributes in markup.
 */
import { arrow, autoUpdate, computePosition, flip, hide, offset, type Placement, shift, size } from '@floating-ui/dom';

export interface AttachOptions {
  placement: Placement;
  /** Distance from the anchor (px). */
  gap?: number;
  /** A square element inside the panel that points at the anchor. */
  arrow?: HTMLElement | null;
  /** The anchor left the DOM (a re-render, a navigation): the panel must not point at nothing. */
  onRemoved(): void;
}

const SIDE = { top: 'bottom', right: 'left', bottom: 'top', left: 'right' } as const;

/** Keeps `panel` next to `anchor` until the returned function is called. */
export function attach(anchor: Element, panel: HTMLElement, o: AttachOptions): () => void {
  let stopped = false;
  const update = () => {
    if (stopped) return;
    if (!anchor.isConnected) return removed();
    void computePosition(anchor, panel, {
      strategy: 'fixed',
      placement: o.placement,
      middleware: [
        offset(o.gap ?? 10),
        flip(),
        shift({ padding: 8 }),
        // No taller than the room on its side of the anchor: long content scrolls inside (styles.ts).
        size({ padding: 8, apply: ({ availableHeight }) => void (panel.style.maxHeight = `${Math.max(availableHeight, 96)}px`) }),
        ...(o.arrow ? [arrow({ element: o.arrow, padding: 6 })] : []),
        hide(),
      ],
    }).then(({ x, y, placement, middlewareData }) => {
      if (stopped) return;
      // Scrolled out of view (behind a scroll container's edge): hidden, never pointing at nothing.
      Object.assign(panel.style, { left: `${x}px`, top: `${y}px`, visibility: middlewareData.hide?.referenceHidden ? 'hidden' : 'visible' });
      panel.dataset.placement = placement;
      const a = middlewareData.arrow;
      if (o.arrow && a) {
        const side = SIDE[placement.split('-')[0] as keyof typeof SIDE];
        Object.assign(o.arrow.style, { left: a.x != null ? `${a.x}px` : '', top: a.y != null ? `${a.y}px` : '', right: '', bottom: '', [side]: '-6px' });
      }
    });
  };
  const cleanup = autoUpdate(anchor, panel, update);
  // Removal is seen directly: a mutation anywhere above the anchor (its document, or the shadow
  // root it lives in and the document around its host) that disconnects it.
  const observer = new MutationObserver(() => {
    if (!anchor.isConnected) removed();
  });
  for (let root = anchor.getRootNode(); ; root = (root as ShadowRoot).host.getRootNode()) {
    observer.observe(root, { childList: true, subtree: true });
    if (!(root instanceof ShadowRoot)) break;
  }
  function stop() {
    if (stopped) return;
    stopped = true;
    cleanup();
    observer.disconnect();
    // Unattached again (a recipe's next step may be centred): no position or height left behind.
    Object.assign(panel.style, { left: '', top: '', maxHeight: '', visibility: '' });
  }
  function removed() {
    if (stopped) return;
    stop();
    o.onRemoved();
  }
  return stop;
}

/** The focused element, through open shadow roots (where focus returns when a surface closes). */
export function deepActive(): HTMLElement | undefined {
  let a: Element | null = document.activeElement;
  while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
  return a instanceof HTMLElement && a !== document.body ? a : undefined;
}

/** Shows a popover or dialog element if it isn't showing (idempotent). */
export function open(el: HTMLElement): void {
  if (el instanceof HTMLDialogElement) {
    if (!el.open) el.showModal();
  } else if (!el.matches(':popover-open')) el.showPopover();
}

/** Hides a popover or dialog element if it is showing (idempotent). */
export function close(el: HTMLElement | null | undefined): void {
  if (!el) return;
  if (el instanceof HTMLDialogElement) {
    if (el.open) el.close();
  } else if (el.matches(':popover-open')) el.hidePopover();
}
