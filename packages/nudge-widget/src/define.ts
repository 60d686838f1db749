// Registers <keel-nudge> and <keel-recipe> for declarative use by a host app. (The engine's lazy
// UI module, ./ui, registers them itself, with <keel-debug>.)
import { KeelNudge } from './nudge.js';
import { KeelRecipe } from './recipe.js';

declare global {
  interface HTMLElementTagNameMap {
    'keel-nudge': KeelNudge;
    'keel-recipe': KeelRecipe;
  }
}

for (const [tag, ctor] of [
  ['keel-nudge', KeelNudge],
  ['keel-recipe', KeelRecipe],
] as const) {
  const existing = customElements.get(tag);
  if (!existing) customElements.define(tag, ctor);
  else if (existing !== ctor) console.warn(`<${tag}> is already defined by another copy of @keel/nudge-widget; keeping the first`);
}

export { KeelNudge, KeelRecipe };
