// A page with guidance: Keel.init (sdk-core with the guidance engine + telemetry + idb),
// <keel-checklist> (+ lit), and the nudge/recipe UI behind a dynamic import (its own chunk).
export { init } from '../../../packages/sdk-core/src/index.js';
import '../../../packages/checklist-widget/src/define.js';
export const ui = () => import('../../../packages/nudge-widget/src/ui.js');
