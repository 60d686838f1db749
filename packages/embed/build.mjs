// Builds the script-tag bundle: dist/keel.js (a stable name: the tag points at it) and its lazy
// chunks (content-hashed names: cached for good), minified ESM with code splitting. Writes
// dist/manifest.json (bytes, gzip and the SRI hash of every file) and prints the hashes; each
// file also gets its .gz and .br, so the server sends what a browser accepts without compressing.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { compactCssLiterals } from '../../config/css-literals.mjs';

const packages = new URL('../', import.meta.url).pathname;

rmSync('dist', { recursive: true, force: true });
const out = await build({
  entryPoints: { keel: 'src/keel.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: 'es2022',
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
  plugins: [
    {
      // @keel/* from their sources, lit `css` literals compacted as each package's build does:
      // what `pnpm bench` measures for the other pages, and smaller than re-bundling their dist/.
      name: 'keel-sources',
      setup(b) {
        b.onResolve({ filter: /^@keel\// }, ({ path }) => {
          const [, pkg, sub] = path.match(/^@keel\/([^/]+)(?:\/(.+))?$/);
          const src = `${packages}${pkg}/src/`;
          return { path: !sub ? `${src}index.ts` : pkg === 'sdk-core' ? `${src}${sub}/index.ts` : `${src}${sub}.ts` };
        });
        b.onLoad({ filter: /\/packages\/[^/]+\/src\/.*\.ts$/ }, (a) => ({ contents: compactCssLiterals(readFileSync(a.path, 'utf8')), loader: 'ts' }));
      },
    },
  ],
});
const files = {};
const initial = new Set();
const visit = (p) => {
  if (initial.has(p)) return;
  initial.add(p);
  for (const i of out.metafile.outputs[p].imports) if (i.kind === 'import-statement') visit(i.path);
};
visit('dist/keel.js');
for (const path of Object.keys(out.metafile.outputs).sort()) {
  const body = readFileSync(path);
  const name = path.slice('dist/'.length);
  // Compressed siblings, served as the browser accepts (keel serve's /sdk/ sends them as they are).
  writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
  writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  files[name] = {
    bytes: body.length,
    gzip: gzipSync(body, { level: 9 }).length,
    integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
    initial: initial.has(path),
  };
}
// Which chunk each lazily imported module became (what tests and `pnpm bench` look for).
const lazy = {};
for (const [path, o] of Object.entries(out.metafile.outputs)) {
  const m = o.entryPoint?.match(/(checklist-widget|health-badge|nudge-widget)\/src\/(define|ui)\.ts$/);
  if (m) lazy[`@keel/${m[1]}/${m[2]}`] = path.slice('dist/'.length);
}
writeFileSync('dist/manifest.json', `${JSON.stringify({ entry: 'keel.js', lazy, files }, null, 2)}\n`);
const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
for (const [name, f] of Object.entries(files))
  console.log(`${name.padEnd(40)} ${kb(f.gzip).padStart(9)} gzip  ${f.integrity}${f.initial ? '  (initial)' : ''}`);
const up = Object.values(files)
  .filter((f) => f.initial)
  .reduce((s, f) => s + f.gzip, 0);
console.log(`initial (keel.js and what it imports): ${kb(up)} gzip; the rest loads when an element or a nudge first needs it`);
