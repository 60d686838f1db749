// custom-elements.json for each widget package (`cem analyze --config ../../config/cem.config.mjs`
// in its build): the elements' tags, attributes, properties, events, parts and CSS properties,
// from the JSDoc tags on each class. Editors and docs read it (package.json "customElements").
// From the same manifest, the framework types each package ships (docs/frameworks.md):
// dist/custom-elements-jsx.d.ts (`CustomElements` for React 19's, Preact's or Solid's JSX) and
// dist/custom-elements-vue.d.ts (Vue's `GlobalComponents`), by break-stuff's generators.
import { readFileSync, writeFileSync } from 'node:fs';
import { generateJsxTypes } from 'custom-element-jsx-integration';
import { generateVuejsTypes } from 'custom-element-vuejs-integration';

/**
 * The generators type a handler as `(e: CustomEvent<T>) => void` with T the event's `type` in the
 * manifest. Each element declares its events in `GlobalEventHandlersEventMap` (so
 * `addEventListener` is typed too): T is that declaration's detail, from the element's own .d.ts.
 */
function withDetailTypes(manifest) {
  const copy = structuredClone(manifest);
  for (const mod of copy.modules) {
    for (const d of mod.declarations ?? []) {
      for (const e of d.events ?? []) e.type = { text: `GlobalEventHandlersEventMap['${e.name}']['detail']` };
    }
  }
  return copy;
}

/**
 * Vue compiles `@keel-item-completed` to the prop `onKeelItemCompleted` (and its runtime listens
 * to `keel-item-completed` for it); vue-tsc looks the handler up under that name. The generator
 * names it `"onkeel-item-completed"`, which types no handler: renamed.
 */
function vueHandlerNames(file) {
  const text = readFileSync(file, 'utf8');
  writeFileSync(
    file,
    text.replace(/"on(keel-[a-z-]+)"\?:/g, (_, name) => `on${name.replace(/(^|-)([a-z])/g, (_m, _d, c) => c.toUpperCase())}?:`),
  );
}

export default {
  globs: ['src/**/*.ts'],
  exclude: ['src/**/*.test.ts', 'src/test-helpers.ts'],
  outdir: 'dist',
  litelement: true,
  packagejson: false,
  plugins: [
    {
      name: 'keel-public-api-only',
      packageLinkPhase({ customElementsManifest }) {
        for (const mod of customElementsManifest.modules) {
          for (const d of mod.declarations ?? []) {
            if (!d.customElement) continue;
            // `emit(type, …)` helpers dispatch every event: only the named ones are the API.
            if (d.events) d.events = d.events.filter((e) => e.name?.startsWith('keel-'));
            // Internal reactive state (`state: true`, private fields) is not an attribute.
            const hidden = new Set((d.members ?? []).filter((m) => m.privacy === 'private' || m.privacy === 'protected').map((m) => m.name));
            if (d.attributes) d.attributes = d.attributes.filter((a) => !hidden.has(a.fieldName ?? a.name));
            if (d.members) d.members = d.members.filter((m) => !m.privacy || m.privacy === 'public');
          }
        }
      },
    },
    {
      name: 'keel-framework-types',
      packageLinkPhase({ customElementsManifest }) {
        // Property and attribute types come from the classes themselves (dist/index.d.ts).
        const options = { outdir: 'dist', globalTypePath: './index.js', hideLogs: true };
        generateJsxTypes(withDetailTypes(customElementsManifest), { ...options, fileName: 'custom-elements-jsx.d.ts' });
        generateVuejsTypes(withDetailTypes(customElementsManifest), { ...options, fileName: 'custom-elements-vue.d.ts' });
        vueHandlerNames('dist/custom-elements-vue.d.ts');
      },
    },
  ],
};
