import type { Text } from '@keel/sdk-core';

/** Resolves CS-authored text for a locale: exact (`fr-CA`), then language (`fr`), then `en`, then any. */
export function resolveText(t: Text | undefined, locale: string): string {
  if (t === undefined) return '';
  if (typeof t === 'string') return t;
  const lang = locale.split('-')[0]!;
  return t[locale] ?? t[lang] ?? t.en ?? Object.values(t)[0] ?? '';
}

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
