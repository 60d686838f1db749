import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

test('the SDK bundled with idb stays within 6 KB gzip', async () => {
  const out = await build({
    entryPoints: [new URL('./index.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const gzip = gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length;
  expect(gzip).toBeLessThanOrEqual(6 * 1024);
});
