// custom-elements.json for each widget package (`cem analyze --config ../../config/cem.config.mjs`
// in its build): the elements' tags, attributes, properties, events, parts and CSS properties,
// from the JSDoc tags on each class. Editors and docs read it (package.json "customElements").
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
  ],
};
