import { KeelNudge } from './nudge.js';

declare global {
  interface HTMLElementTagNameMap {
    'keel-nudge': KeelNudge;
  }
}

if (!customElements.get('keel-nudge')) customElements.define('keel-nudge', KeelNudge);
else if (customElements.get('keel-nudge') !== KeelNudge) console.warn('<keel-nudge> is already defined by another copy of @keel/nudge-widget; keeping the first');

export { KeelNudge };
