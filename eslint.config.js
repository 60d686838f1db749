// ESLint for the whole workspace (`npm run lint`). Not type-aware on purpose: typescript-eslint's
// syntactic rules only, so a lint run stays a few seconds and `tsc --noEmit` does the type work.
// Formatting is prettier's (`npm run format`): eslint-config-prettier, last, turns off every rule
// that would fight it.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import lit from 'eslint-plugin-lit';
import litA11y from 'eslint-plugin-lit-a11y';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The Lit elements: the widget packages. */
const ELEMENTS = ['packages/checklist-widget/src/**/*.ts', 'packages/health-badge/src/**/*.ts', 'packages/nudge-widget/src/**/*.ts'];

/**
 * Code shared by browser and server: @keel/sdk-core (the rule language, schemas, the guidance engine's
 * decisions, progress), which the ingest server imports and the browser bundles. Its tests run in
 * Node and may read fixtures. Two client files are the page's side of the client by design (they
 * read `location`, `document`, `localStorage`): the rest of the client gets the page through them.
 */
const SHARED = ['packages/sdk-core/src/**/*.ts'];
const SHARED_TESTS = ['packages/sdk-core/src/**/*.test.ts'];
const PAGE_ADAPTERS = ['packages/sdk-core/src/client/client.ts', 'packages/sdk-core/src/client/guide-browser.ts'];
/** Code that only runs in a browser: no Node globals or modules there either. */
const BROWSER = ['packages/telemetry/src/**/*.ts', ...ELEMENTS, ...PAGE_ADAPTERS, 'packages/sdk-core/src/**/*.browser.test.ts'];
/** Tests that run in Node (the browser project's are `*.browser.test.ts`). */
const NODE_TESTS = ['**/!(*.browser).test.ts'];

const DOM_GLOBALS = [
  'window',
  'self',
  'document',
  'navigator',
  'location',
  'history',
  'screen',
  'localStorage',
  'sessionStorage',
  'indexedDB',
  'customElements',
  'HTMLElement',
  'Element',
  'Node',
  'ShadowRoot',
  'MutationObserver',
  'ResizeObserver',
  'IntersectionObserver',
  'getComputedStyle',
  'matchMedia',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'addEventListener',
  'removeEventListener',
  'dispatchEvent',
  'innerWidth',
  'innerHeight',
  'scrollX',
  'scrollY',
].map((name) => ({ name, message: 'shared code (browser and server) gets the page from its caller, not from DOM globals' }));

const NODE_GLOBALS = ['process', 'Buffer', 'require', 'module', 'exports', '__dirname', '__filename', 'global', 'setImmediate', 'clearImmediate'].map(
  (name) => ({ name, message: 'code that runs in a browser cannot use Node globals' }),
);

const NODE_IMPORTS = {
  paths: builtinModules.filter((m) => !m.startsWith('_')).map((name) => ({ name, message: 'code that runs in a browser cannot import Node modules' })),
  patterns: [{ group: ['node:*'], message: 'code that runs in a browser cannot import Node modules' }],
};

/** `globalThis.window` and friends would get around no-restricted-globals. */
const viaGlobalThis = (names, message) => names.map((property) => ({ object: 'globalThis', property, message }));

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/coverage/**',
      '**/.keel-data/**',
      '**/.vitest-attachments/**',
      '**/__screenshots__/**',
      'tmp/**',
      // Generated: the config's JSON Schema and the custom-elements manifests.
      'packages/sdk-core/keel-config.schema.json',
      '**/custom-elements.json',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are deliberately unused (a parameter a signature needs, a discarded tuple slot).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // The control characters in our regexes are the point: they keep them out of links (SAFE_LINK) and
      // mark placeholders no input can forge (health/progress.ts).
      'no-control-regex': 'off',
    },
  },
  // Plain JavaScript: the build config, scripts and the bench run in Node.
  { files: ['**/*.{js,mjs,cjs}'], languageOptions: { globals: { ...globals.node } } },
  {
    files: ['scripts/bench/entries/**', 'examples/demo/src/**', 'examples/react/src/**', 'examples/vue/src/**', 'test/e2e/guide-app/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  // The Lit elements: template checks and accessibility.
  { files: ELEMENTS, ...lit.configs['flat/recommended'] },
  { files: ELEMENTS, ...litA11y.configs.recommended },
  {
    files: BROWSER,
    // Their Node tests (bundle sizes, batching) read files and gzip; the *.browser.test.ts run in Chromium and stay covered.
    ignores: NODE_TESTS,
    rules: {
      'no-restricted-globals': ['error', ...NODE_GLOBALS],
      'no-restricted-imports': ['error', NODE_IMPORTS],
      'no-restricted-properties': [
        'error',
        ...viaGlobalThis(
          NODE_GLOBALS.map((g) => g.name),
          'code that runs in a browser cannot use Node globals',
        ),
      ],
    },
  },
  {
    files: SHARED,
    ignores: [...SHARED_TESTS, ...PAGE_ADAPTERS],
    rules: {
      'no-restricted-globals': ['error', ...DOM_GLOBALS, ...NODE_GLOBALS],
      'no-restricted-imports': ['error', NODE_IMPORTS],
      'no-restricted-properties': [
        'error',
        ...viaGlobalThis(
          DOM_GLOBALS.map((g) => g.name),
          'shared code (browser and server) gets the page from its caller, not from DOM globals',
        ),
        ...viaGlobalThis(
          NODE_GLOBALS.map((g) => g.name),
          'shared code (browser and server) cannot use Node globals',
        ),
      ],
    },
  },
  prettier,
);
