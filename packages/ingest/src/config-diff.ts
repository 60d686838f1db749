/** What changed between two config documents, per id: the audit log's summary and `keel config diff`. */
export interface ConfigDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

type Doc = Record<string, unknown>;
const COLLECTIONS = ['checklists', 'nudges', 'recipes'] as const;
const SECTIONS = ['health', 'lifecycle', 'status', 'product', 'version'] as const;

const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Doc).sort(([a], [b]) => (a < b ? -1 : 1))) : x);

const byId = (v: unknown) =>
  new Map((Array.isArray(v) ? v : []).filter((x): x is Doc => !!x && typeof x === 'object' && typeof (x as Doc).id === 'string').map((x) => [x.id as string, x]));

/** Changes as `checklists/onboarding`, `nudges/reports-unused`, `health`… */
export function diffConfig(before: Doc | undefined, after: Doc): ConfigDiff {
  const d: ConfigDiff = { added: [], removed: [], changed: [] };
  for (const c of COLLECTIONS) {
    const a = byId(before?.[c]);
    const b = byId(after[c]);
    for (const [id, x] of b) {
      const old = a.get(id);
      if (!old) d.added.push(`${c}/${id}`);
      else if (stable(old) !== stable(x)) d.changed.push(`${c}/${id}`);
    }
    for (const id of a.keys()) if (!b.has(id)) d.removed.push(`${c}/${id}`);
  }
  for (const s of SECTIONS) {
    const had = before?.[s] !== undefined;
    const has = after[s] !== undefined;
    if (!had && has && before) d.added.push(s);
    else if (had && !has) d.removed.push(s);
    else if (had && has && stable(before![s]) !== stable(after[s])) d.changed.push(s);
  }
  return d;
}

export function summariseDiff(d: ConfigDiff, first: boolean): string {
  if (first) return 'first version';
  const parts = [
    d.added.length ? `added ${d.added.join(', ')}` : '',
    d.changed.length ? `changed ${d.changed.join(', ')}` : '',
    d.removed.length ? `removed ${d.removed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no changes';
}
