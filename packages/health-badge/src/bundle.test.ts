import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

test('<keel-health-badge> and <keel-status> bundled with lit and @floating-ui/dom stay within 16 KB gzip (lit is shared with the other widgets on a page)', async () => {
  const out = await build({
    entryPoints: [new URL('./define.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const gzip = gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length;
  console.log(`<keel-health-badge> + <keel-status> + lit + floating-ui: ${(gzip / 1024).toFixed(2)} KB gzip`);
  expect(gzip).toBeLessThanOrEqual(16 * 1024);
});
