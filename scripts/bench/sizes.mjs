// Bytes a page pays: each browser bundle built the way PERFORMANCE.md measured the peers
// (esbuild --bundle --minify, ESM), then gzip -9 and brotli (quality 11).
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('../../', import.meta.url).pathname;
/** Workspace packages resolve to their sources, so the figure is never that of a stale dist/. */
const alias = {
  '@keel/telemetry': `${root}packages/telemetry/src/index.ts`,
  '@keel/sdk-core': `${root}packages/sdk-core/src/index.ts`,
};

/** @param {string} label @param {string} entry @param {number} budget gzip bytes */
export async function measureBundle(label, entry, budget) {
  const out = await build({
    entryPoints: [entry],
    alias,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0].contents;
  const gzip = gzipSync(code, { level: 9 }).length;
  const brotli = brotliCompressSync(code, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: code.length },
  }).length;
  const inputs = Object.keys(out.metafile.inputs).filter((p) => p.includes('node_modules'));
  const deps = [...new Set(inputs.map((p) => p.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1')))];
  return { label, minified: code.length, gzip, brotli, budget, ok: gzip <= budget, deps };
}

export const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
