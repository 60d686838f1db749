import { createApp } from 'vue';
import App from './App.vue';
import './keel';

createApp(App).mount('#app');
