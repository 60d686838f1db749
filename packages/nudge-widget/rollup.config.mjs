import { defineConfig } from '../../config/rollup.mjs';
export default defineConfig({ entries: { index: 'src/index.ts', define: 'src/define.ts', ui: 'src/ui.ts' } });
