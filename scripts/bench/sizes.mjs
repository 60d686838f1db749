// Bytes a page pays: each browser bundle built the way docs/targets.md measured the peers
// (esbuild --bundle --minify, ESM), then gzip -9 and brotli (quality 11).
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { compactCssLiterals } from '../../config/css-literals.mjs';

const root = new URL('../../', import.meta.url).pathname;
/** Workspace packages resolve to their sources, so the figure is never that of a stale dist/. */
const alias = {
  '@keel/telemetry': `${root}packages/telemetry/src/index.ts`,
  '@keel/sdk-core': `${root}packages/sdk-core/src/index.ts`,
};

/** Our sources as each package's build leaves them in dist/: lit `css` literals compacted. */
const plugins = [
  {
    name: 'compact-css',
    setup(b) {
      b.onLoad({ filter: /\/packages\/[^/]+\/src\/.*\.ts$/ }, async (a) => ({ contents: compactCssLiterals(await readFile(a.path, 'utf8')), loader: 'ts' }));
    },
  },
];

const gz = (code) => gzipSync(code, { level: 9 }).length;
const br = (code) => brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: code.length } }).length;

/** One bundle, no splitting. @param {string} label @param {string} entry @param {number} budget gzip bytes */
export async function measureBundle(label, entry, budget) {
  const out = await build({
    entryPoints: [entry],
    alias,
    plugins,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0].contents;
  const gzip = gz(code);
  return { label, minified: code.length, gzip, brotli: br(code), budget, ok: gzip <= budget, deps: depsOf(Object.values(out.metafile.outputs)[0]) };
}

/**
 * A page built with code splitting, as a vendor's bundler would: what it loads up front (the entry
 * and the chunks it imports statically), and each chunk it fetches only through a dynamic
 * `import()`, named after the module that starts it (`guide-browser`, `ui`, `debug`). Each file
 * is compressed on its own, as it travels.
 * @param {string} entry
 */
export async function measureSplit(entry) {
  const outdir = `${root}.bench-split`;
  const out = await build({
    entryPoints: { page: entry },
    alias,
    plugins,
    outdir,
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = new Map(out.outputFiles.map((f) => [f.path.slice(outdir.length + 1), f.contents]));
  const outputs = Object.fromEntries(Object.entries(out.metafile.outputs).map(([k, v]) => [k.split('/').pop(), v]));
  const initial = new Set();
  const visit = (name) => {
    if (initial.has(name)) return;
    initial.add(name);
    for (const i of outputs[name]?.imports ?? []) if (i.kind === 'import-statement') visit(i.path.split('/').pop());
  };
  visit('page.js');
  const size = (names) =>
    names.reduce(
      (a, n) => {
        const c = code.get(n);
        return { files: a.files + 1, minified: a.minified + c.length, gzip: a.gzip + gz(c), brotli: a.brotli + br(c) };
      },
      { files: 0, minified: 0, gzip: 0, brotli: 0 },
    );
  const js = [...code.keys()].filter((n) => n.endsWith('.js'));
  const lazy = js.filter((n) => !initial.has(n));
  const nameOf = (n) => (outputs[n]?.entryPoint ?? 'shared').split('/').pop().replace(/\.ts$/, '');
  const chunks = Object.fromEntries(lazy.map((n) => [nameOf(n), { ...size([n]), deps: depsOf(outputs[n]) }]));
  return { initial: { ...size(js.filter((n) => initial.has(n))), deps: [...new Set([...initial].flatMap((n) => depsOf(outputs[n])))] }, chunks };
}

/** The npm packages a built file contains. */
const depsOf = (o) => [
  ...new Set(
    Object.keys(o?.inputs ?? {})
      .filter((p) => p.includes('node_modules'))
      .map((p) => p.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1')),
  ),
];

export const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
