// Keel's elements in React's JSX: typed props (`source`, `checklist-id`, …) and events
// (`onkeel-item-completed`, …), from the types each package generates from its custom-elements.json.
import type { CustomElements as ChecklistElements } from '@keel/checklist-widget/jsx';
import type { CustomElements as HealthElements } from '@keel/health-badge/jsx';
import type { CustomElements as NudgeElements } from '@keel/nudge-widget/jsx';

declare module 'react' {
  namespace JSX {
    interface IntrinsicElements extends ChecklistElements, HealthElements, NudgeElements {}
  }
}
