/** What changed between two config documents, per id: the audit log's summary and `keel config diff`. */
export interface ConfigDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

type Doc = Record<string, unknown>;

const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Doc).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );

const isDoc = (x: unknown): x is Doc => !!x && typeof x === 'object' && !Array.isArray(x);
/** A list whose every entry has a string id (checklists, nudges, recipes…): diffed per id. */
const isCollection = (v: unknown): v is Doc[] => Array.isArray(v) && v.every((x) => isDoc(x) && typeof x.id === 'string');
const byId = (v: unknown) => new Map((Array.isArray(v) ? v : []).filter(isDoc).map((x) => [x.id as string, x]));

/**
 * Changes as `checklists/onboarding`, `nudges/reports-unused`, `health`, `fatigue`…: every
 * top-level section of either document is compared (none is left out because it is new), lists
 * of entries with ids per id, anything else as a whole, ignoring key order.
 */
export function diffConfig(before: Doc | undefined, after: Doc): ConfigDiff {
  const d: ConfigDiff = { added: [], removed: [], changed: [] };
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after)])].filter((k) => k !== '$schema');
  for (const s of keys) {
    const was = before?.[s];
    const now = after[s];
    if ((isCollection(was) || was === undefined) && (isCollection(now) || now === undefined) && (was !== undefined || now !== undefined)) {
      const a = byId(was);
      const b = byId(now);
      for (const [id, x] of b) {
        const old = a.get(id);
        if (!old) d.added.push(`${s}/${id}`);
        else if (stable(old) !== stable(x)) d.changed.push(`${s}/${id}`);
      }
      for (const id of a.keys()) if (!b.has(id)) d.removed.push(`${s}/${id}`);
      continue;
    }
    const had = was !== undefined;
    const has = now !== undefined;
    if (!had && has && before) d.added.push(s);
    else if (had && !has) d.removed.push(s);
    else if (had && has && stable(was) !== stable(now)) d.changed.push(s);
  }
  return d;
}

export const isEmptyDiff = (d: ConfigDiff): boolean => !d.added.length && !d.changed.length && !d.removed.length;

export function summariseDiff(d: ConfigDiff, first: boolean): string {
  if (first) return 'first version';
  const parts = [
    d.added.length ? `added ${d.added.join(', ')}` : '',
    d.changed.length ? `changed ${d.changed.join(', ')}` : '',
    d.removed.length ? `removed ${d.removed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no changes';
}
