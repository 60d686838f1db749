import { defineConfig } from '../../config/rollup.mjs';
export default defineConfig({
  platform: 'node',
  entries: { index: 'src/index.ts', cli: 'src/cli.ts' },
  banner: { cli: '#!/usr/bin/env node' },
});
