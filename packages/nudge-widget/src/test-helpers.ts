// Shared by the browser tests of this package.
import axe from 'axe-core';
import { expect } from 'vitest';

/** Two animation frames: layout and floating-ui's position have settled. */
export const frame = (): Promise<unknown> => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));

/** Waits for an element's entrance animations (not a beacon's endless pulse) to finish. */
export async function settled(el: Element): Promise<void> {
  const animations = (el.shadowRoot ?? document).getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity);
  await Promise.all(animations.map((a) => a.finished.catch(() => undefined)));
}

/** No axe violation once the element has settled (mid-fade colours are not what users read). */
export async function axeClean(el: Element): Promise<void> {
  await settled(el);
  const r = await axe.run(el, { resultTypes: ['violations'] });
  expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)).toEqual([]);
}
