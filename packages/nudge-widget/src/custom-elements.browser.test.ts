// Each widget package ships dist/custom-elements.json (its build runs the analyzer with
// config/cem.config.mjs). Editors and docs trust it, so it must say what the elements really are:
// every element with its tag, exactly the attributes the browser observes, and named events.
import { expect, test } from 'vitest';
import '../../checklist-widget/src/define.js';
import '../../health-badge/src/define.js';
import { KeelDebug } from './debug.js';
import './define.js';

if (!customElements.get('keel-debug')) customElements.define('keel-debug', KeelDebug);

interface Manifest {
  modules: {
    declarations?: { customElement?: boolean; tagName?: string; attributes?: { name: string }[]; events?: { name: string }[]; cssParts?: unknown[] }[];
  }[];
}
declare global {
  interface ImportMeta {
    glob<T>(pattern: string, options: { eager: true; import: 'default' }): Record<string, T>;
  }
}
// Built by `npm test`'s setup step (each package's build).
const manifests = import.meta.glob<Manifest>('/packages/*/dist/custom-elements.json', { eager: true, import: 'default' });
const elements = (m: Manifest) => m.modules.flatMap((mod) => mod.declarations ?? []).filter((d) => d.customElement);

test.each([
  ['checklist-widget', ['keel-checklist']],
  ['health-badge', ['keel-health-badge', 'keel-status']],
  ['nudge-widget', ['keel-debug', 'keel-nudge', 'keel-recipe']],
])('@keel/%s: custom-elements.json lists its elements with the attributes the browser observes', (pkg, tags) => {
  const manifest = manifests[`/packages/${pkg}/dist/custom-elements.json`];
  expect(manifest, `packages/${pkg}/dist/custom-elements.json (run the build)`).toBeDefined();
  const els = elements(manifest!);
  expect(els.map((d) => d.tagName).sort()).toEqual(tags);
  for (const d of els) {
    const ctor = customElements.get(d.tagName!) as unknown as { observedAttributes: string[] };
    expect((d.attributes ?? []).map((a) => a.name).sort(), d.tagName).toEqual([...ctor.observedAttributes].sort());
    for (const e of d.events ?? []) expect(e.name, d.tagName).toMatch(/^keel-[a-z-]+$/);
    expect(d.cssParts?.length, `${d.tagName} documents its ::part()s`).toBeGreaterThan(0);
  }
});
