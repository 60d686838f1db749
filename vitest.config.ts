import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import { keelAdmin } from './config/browser-commands.js';
import { chromiumArgs, chromiumPath } from './config/chromium.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Workspace packages resolve to their TypeScript sources in tests, so a test never runs
 * against a stale `dist/`. Built output is exercised by the end-to-end tests and the bench.
 */
const alias = [
  { find: /^@keel\/sdk-core\/(schema|authoring|engine)$/, replacement: `${root}packages/sdk-core/src/$1/index.ts` },
  { find: /^@keel\/([a-z-]+-widget)\/(define|ui)$/, replacement: `${root}packages/$1/src/$2.ts` },
  { find: /^@keel\/([a-z-]+)$/, replacement: `${root}packages/$1/src/index.ts` },
];

export default defineConfig({
  resolve: { alias },
  // Pre-bundled for the browser project up front: found mid-run, Vite reloads the page under test.
  optimizeDeps: { include: ['fast-check'] },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['packages/*/src/**/*.test.ts', 'examples/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.browser.test.ts', '**/node_modules/**', '**/dist/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The end-to-end checklist and demo flows again, with `keel serve` on PostgreSQL (a schema per run).
        extends: true,
        test: {
          name: 'e2e-postgres',
          environment: 'node',
          include: ['test/e2e/checklist.test.ts', 'examples/demo/demo.test.ts'],
          env: { KEEL_E2E_STORE: 'postgres' },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['packages/*/src/**/*.browser.test.ts'],
          testTimeout: 30_000,
          // expect.poll waits for the page to get somewhere (a lazy chunk loaded, a nudge shown);
          // with both projects running on 2 cores, 1 s (the default) was sometimes too short.
          expect: { poll: { timeout: 5_000 } },
          globalSetup: ['./config/browser-global-setup.ts'],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
            }),
            instances: [{ browser: 'chromium' }],
            // Admin calls from the Node side: the server refuses the admin key from a page.
            commands: { keelAdmin },
          },
        },
      },
    ],
  },
});
