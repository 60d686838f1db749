/**
 * Progress (checklist items, recipes, nudges) merges the same way in the browser and in the
 * server, so two devices that sync in any order agree. Pure: no DOM, no Node.
 */

export type ProgressKind = 'checklist' | 'recipe' | 'nudge';
export type ProgressScope = 'user' | 'tenant';
export type ProgressStateName = 'not_started' | 'started' | 'completed' | 'dismissed';

/** One piece of progress: a checklist item (`ref` = `checklist/item`), a recipe or a nudge. */
export interface ProgressEntry {
  scope: ProgressScope;
  kind: ProgressKind;
  ref: string;
  state: ProgressStateName;
  /** When the client observed this state (ISO). */
  updatedAt: string;
  completedAt?: string | null;
  /** Kind-specific: a recipe's `step` and `active`. */
  data?: Record<string, unknown> | null;
}

const RANK: Record<ProgressStateName, number> = { not_started: 0, started: 1, dismissed: 2, completed: 3 };

/**
 * Monotonic merge: a state never moves backwards (completed stays completed however late an
 * older device syncs); `completedAt` keeps the earliest; a recipe's step only advances; for equal
 * ranks the newer observation's data wins.
 */
export function mergeProgress(prev: ProgressEntry | undefined, incoming: ProgressEntry): ProgressEntry {
  // A completion without a time completed when it was observed.
  const norm = (e: ProgressEntry): ProgressEntry => (e.state === 'completed' && !e.completedAt ? { ...e, completedAt: e.updatedAt } : e);
  const next = norm(incoming);
  if (!prev) return next;
  const old = norm(prev);
  const newer = Date.parse(next.updatedAt) >= Date.parse(old.updatedAt);
  const state = RANK[next.state] > RANK[old.state] ? next.state : old.state;
  const completedAt = [old.completedAt, next.completedAt].filter((x): x is string => !!x).sort()[0] ?? null;
  let data = (newer ? { ...old.data, ...next.data } : { ...next.data, ...old.data }) as Record<string, unknown>;
  const oldStep = old.data?.step;
  const nextStep = next.data?.step;
  if (typeof oldStep === 'number' && typeof nextStep === 'number') data = { ...data, step: Math.max(oldStep, nextStep) };
  return {
    scope: old.scope,
    kind: old.kind,
    ref: old.ref,
    state,
    updatedAt: newer ? next.updatedAt : old.updatedAt,
    completedAt: state === 'completed' ? (completedAt ?? next.updatedAt) : completedAt,
    data: Object.keys(data).length ? data : null,
  };
}
