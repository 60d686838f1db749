// Not part of the app: `tsc` fails if the elements' JSX types stop catching these mistakes.
import { keel } from './keel';

export const wrong = (
  <>
    {/* @ts-expect-error collapsed is a boolean */}
    <keel-checklist collapsed="yes" />
    {/* @ts-expect-error source is a ChecklistSource, not a string */}
    <keel-checklist source="keel" />
    {/* @ts-expect-error the detail has itemId, not item */}
    <keel-checklist source={keel} onkeel-item-completed={(e) => e.detail.item} />
    {/* @ts-expect-error no such element */}
    <keel-checklistt />
    {/* @ts-expect-error kind is one of tooltip, hotspot, modal, banner */}
    <keel-nudge kind="popup" />
  </>
);
