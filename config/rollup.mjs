// One rollup definition for every package: ESM JavaScript (esbuild transpile, no minify so
// consumers' bundlers see readable code) plus a bundled .d.ts per entry point.
import { rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dts } from 'rollup-plugin-dts';
import esbuild from 'rollup-plugin-esbuild';
import { compactCssLiterals } from './css-literals.mjs';

const isExternal = (id) => (!id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0')) || builtinModules.includes(id) || id.startsWith('node:');

/**
 * @param {{ entries: Record<string, string>, platform?: 'browser' | 'node', banner?: Record<string,string> }} opts
 * entries: output name -> source path, e.g. { index: 'src/index.ts' }
 */
export function defineConfig({ entries, platform = 'browser', banner = {} }) {
  return [
    {
      input: entries,
      external: isExternal,
      // Our dependencies are imported for what they export, never for side effects: no bare
      // `import 'x'` is left behind for a module whose bindings were all tree-shaken.
      treeshake: { moduleSideEffects: (_id, external) => !external },
      plugins: [
        // A fresh dist/ each build: no chunk of an earlier build is left to be imported by mistake.
        { name: 'clean-dist', buildStart: () => rmSync('dist', { recursive: true, force: true }) },
        // lit `css` literals compacted: a minifier leaves a template's text as written.
        { name: 'compact-css', transform: (code, id) => (id.endsWith('.ts') && code.includes('css`') ? { code: compactCssLiterals(code), map: null } : null) },
        esbuild({ target: platform === 'node' ? 'node20' : 'es2022', platform }),
      ],
      output: {
        dir: 'dist',
        format: 'es',
        // Only the imports a file needs: no `import 'lit'` hoisted into define.js for load order.
        hoistTransitiveImports: false,
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        banner: (chunk) => banner[chunk.name] ?? '',
      },
    },
    {
      input: entries,
      external: isExternal,
      plugins: [dts()],
      output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' },
    },
  ];
}
