import { KeelHealthBadge } from './badge.js';
import { KeelStatus } from './status.js';

declare global {
  interface HTMLElementTagNameMap {
    'keel-health-badge': KeelHealthBadge;
    'keel-status': KeelStatus;
  }
}

if (!customElements.get('keel-status')) customElements.define('keel-status', KeelStatus);
else if (customElements.get('keel-status') !== KeelStatus)
  console.warn('<keel-status> is already defined by another copy of @keel/health-badge; keeping the first');

if (!customElements.get('keel-health-badge')) customElements.define('keel-health-badge', KeelHealthBadge);
else if (customElements.get('keel-health-badge') !== KeelHealthBadge)
  console.warn('<keel-health-badge> is already defined by another copy of @keel/health-badge; keeping the first');

export { KeelHealthBadge, KeelStatus };
