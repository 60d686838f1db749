import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  // Keel's tags are custom elements, not Vue components: Vue sets their properties and listens to their events.
  plugins: [vue({ template: { compilerOptions: { isCustomElement: (tag) => tag.startsWith('keel-') } } })],
});
