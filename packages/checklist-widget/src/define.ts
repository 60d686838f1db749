import { KeelChecklist } from './checklist.js';

declare global {
  interface HTMLElementTagNameMap {
    'keel-checklist': KeelChecklist;
  }
}

if (!customElements.get('keel-checklist')) customElements.define('keel-checklist', KeelChecklist);
else if (customElements.get('keel-checklist') !== KeelChecklist)
  console.warn('<keel-checklist> is already defined by another copy of @keel/checklist-widget; keeping the first');

export { KeelChecklist };
