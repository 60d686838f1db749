import { defineConfig } from '../../config/rollup.mjs';
export default defineConfig({ entries: { schema: 'src/schema/index.ts' } });
