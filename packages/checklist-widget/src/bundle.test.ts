import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

const BUDGET = 12 * 1024;

test('<keel-checklist> bundled with lit stays within 12 KB gzip', async () => {
  const out = await build({
    entryPoints: [new URL('./define.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    // Lit's production build, as a consumer's bundler picks it (no "development" condition).
    conditions: ['production'],
  });
  const raw = out.outputFiles[0]!.contents;
  const gzip = gzipSync(raw, { level: 9 }).length;
  console.log(`<keel-checklist> + lit: ${(raw.length / 1024).toFixed(1)} KB minified, ${(gzip / 1024).toFixed(2)} KB gzip -9 (budget ${BUDGET / 1024} KB)`);
  expect(gzip).toBeLessThanOrEqual(BUDGET);
});
