// The shared decision engine without the browser client: the rule language and the lifecycle
// machine. What the server imports (`@keel/sdk-core/engine`); no zod, no DOM, no IndexedDB.
export * from '../rules/index.js';
export * from '../lifecycle/index.js';
export * from '../progress/merge.js';
export * from '../progress/answer.js';
export * from '../contracts/health.js';
// Per-locale text (`{ en: …, fr: … }`), resolved the same way in the browser and on the server.
export { resolveText } from '../client/text.js';
export * from '../outcomes/index.js';
