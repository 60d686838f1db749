// What a page embedding the checklist pays: Keel.init (sdk-core + telemetry + idb) and <keel-checklist> (+ lit).
export { init } from '../../../packages/sdk-core/src/index.js';
import '../../../packages/checklist-widget/src/define.js';
