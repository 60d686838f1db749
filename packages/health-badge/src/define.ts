import { KeelHealthBadge } from './badge.js';

declare global {
  interface HTMLElementTagNameMap {
    'keel-health-badge': KeelHealthBadge;
  }
}

if (!customElements.get('keel-health-badge')) customElements.define('keel-health-badge', KeelHealthBadge);
else if (customElements.get('keel-health-badge') !== KeelHealthBadge) console.warn('<keel-health-badge> is already defined by another copy of @keel/health-badge; keeping the first');

export { KeelHealthBadge };
