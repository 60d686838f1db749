/**
 * The rules engine ships in the browser bundle: it must stay dependency-free (no zod, no DOM, no
 * Node) and small. Bundles `index.ts` the way a browser build would and checks both.
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('.', import.meta.url));

async function bundle(contents: string) {
  const out = await build({
    stdin: { contents, resolveDir: dir, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]?.text ?? '';
  return { code, gzip: gzipSync(code, { level: 9 }).length, inputs: Object.keys(out.metafile.inputs) };
}

describe('rules/ bundle', () => {
  it('imports nothing outside rules/ and touches no browser or Node global', async () => {
    const { code, inputs } = await bundle(`export * from './index.ts';`);
    for (const input of inputs) expect(input).toMatch(/^(<stdin>|(?:.*\/)?rules\/(?!.*\.test\.)[a-z-]+\.ts)$/);
    // `window` and `document` as globals are read with a dot; the words may appear in messages ("history shorter than the window").
    expect(code).not.toMatch(/\bimport\b|\brequire\(|\bwindow\.|\bdocument\.|\bprocess\b|\bglobalThis\b|zod/);
  });

  it('the browser decides with matches.ts alone: no explanation (describe.ts, explain.ts) in it', async () => {
    // The client imports `matches` statically and explain.ts with a dynamic import(), so a page
    // whose checklists only decide never loads the explanations.
    const decide = await bundle(`export { matches } from './matches.ts';`);
    const names = decide.inputs.map((i) => i.split('/').pop());
    expect(names).not.toContain('describe.ts');
    expect(names).not.toContain('explain.ts');
  });

  it('stays within the size budget (gzip)', async () => {
    const engine = await bundle(`export { evaluate, matches, describeRule, matchWhere, referencedEvents } from './index.ts';`);
    const all = await bundle(`export * from './index.ts';`);
    // What the browser SDK imports (evaluator, explanations, rollup matching): the ~2 KB budget,
    // plus ~350 B for absences checked against the known history and attested checklist items.
    expect(engine.gzip).toBeLessThan(2900);
    // Everything, including the validator's referencedIds and the in-memory context.
    expect(all.gzip).toBeLessThan(3500);
  });
});
