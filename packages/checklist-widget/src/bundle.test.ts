import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

test('<keel-checklist> bundled with lit stays within 12 KB gzip', async () => {
  const out = await build({
    entryPoints: [new URL('./define.ts', import.meta.url).pathname],
    bundle: true, minify: true, format: 'esm', target: 'es2022', write: false, logLevel: 'silent',
  });
  expect(gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length).toBeLessThanOrEqual(12 * 1024);
});
