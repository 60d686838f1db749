import { defineConfig } from '../../config/rollup.mjs';
export default defineConfig({
  entries: { index: 'src/index.ts', schema: 'src/schema/index.ts', authoring: 'src/authoring/index.ts', engine: 'src/engine/index.ts' },
});
