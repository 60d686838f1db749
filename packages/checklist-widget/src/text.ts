// One resolver for every widget's CS-authored text, and one link rule: sdk-core's.
export { resolveText, SAFE_LINK } from '@keel/sdk-core';

/** `"{done} of {total} done"` with values. */
export const fill = (s: string, vars: Record<string, string | number>) => s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));

export interface ChecklistStrings {
  progress: string;
  day: string;
  overdue: string;
  collapse: string;
  expand: string;
  dismiss: string;
  show: string;
  completed: string;
  done: string;
  failed: string;
  todo: string;
}

export const DEFAULT_STRINGS: ChecklistStrings = {
  progress: '{done} of {total} done',
  day: 'Day {n}',
  overdue: 'Overdue',
  collapse: 'Collapse checklist',
  expand: 'Expand checklist',
  dismiss: 'Dismiss checklist',
  show: 'Show checklist',
  completed: 'All done',
  done: 'done',
  failed: 'needs attention',
  todo: 'to do',
};
