/**
 * `keel config validate`: parse a YAML or JSON config, check its shape against the schema and,
 * in the same pass, what a schema can't: references to ids that don't exist, metric and fact
 * names the server doesn't compute, lifecycle states nothing can reach, health weights whose
 * meaning is ambiguous. A shape problem in one entry doesn't hide the reference problems of the
 * others. Every problem has a path and, for YAML and JSON files, the line it is on.
 */
import { REPAIR_PREFIX } from './repairs.js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { FACT_NAMES, KNOWN_EVENT_NAMES, METRIC_NAMES } from '../contracts/health.js';
import { referencedIds } from '../rules/events.js';
import type { Rule } from '../rules/types.js';
import { ActionSchema, ChecklistItemSchema, ChecklistSchema, ConfigSchema, IdSchema, type KeelConfig, NudgeSchema, RecipeSchema } from '../schema/document.js';
import { RuleSchema } from '../schema/rule.js';
import { formatPath } from '../schema/issues.js';
import { SAFE_LINK } from '../schema/link.js';

export interface Problem {
  /** `checklists[0].items[2].complete.within`; `` for the whole document. */
  path: string;
  message: string;
  /** 1-based line in the source file, when known. */
  line?: number;
}

export interface Validation {
  ok: boolean;
  config?: KeelConfig;
  problems: Problem[];
}

type Path = (string | number)[];

/** The nudge renderer's inline markdown (nudge-widget's markdown.ts INLINE; links.test.ts holds them equal): group 9 is a link's target. */
export const MARKDOWN_INLINE = /(\*\*([^*]+)\*\*)|(\*([^*]+)\*)|(`([^`]+)`)|(\[([^\]]+)\]\(([^)\s]+)\))/g;

/** Parses YAML (a superset of JSON) and keeps the positions of nodes for line numbers. */
export function parseConfigText(text: string): { value?: unknown; problems: Problem[]; lineOf(path: Path): number | undefined } {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = doc.errors.map((e) => ({
    path: '',
    message: `${e.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'syntax error'}: ${e.message.split('\n')[0]}`,
    line: lines.linePos(e.pos[0]).line,
  }));
  const lineOf = (path: Path) => {
    // The deepest node that exists on the path: a missing key is reported where its parent is.
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (node && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) {
        // For a map entry, prefer the key's line.
        if (n > 0) {
          const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
          if (isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[n - 1]);
            const k = pair?.key as { range?: [number, number, number] } | undefined;
            if (k?.range) return lines.linePos(k.range[0]).line;
          }
          if (isSeq(parent) || isMap(parent) || n === 1) return lines.linePos((node.range as [number, number, number])[0]).line;
        }
        return lines.linePos((node.range as [number, number, number])[0]).line;
      }
    }
    return undefined;
  };
  return { value: problems.length ? undefined : doc.toJS({ maxAliasCount: 100 }), problems, lineOf };
}

/** The ids a document defines, read from any input (also one whose shape is invalid). */
export interface KnownIds {
  recipes: Set<string>;
  nudges: Set<string>;
  checklists: Map<string, Set<string>>;
  states: Set<string>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const idsOf = (v: unknown) =>
  Array.isArray(v)
    ? v
        .filter(isObj)
        .map((x) => x.id)
        .filter((x): x is string => typeof x === 'string')
    : [];

export function knownIds(input: unknown): KnownIds {
  const d = isObj(input) ? input : {};
  return {
    recipes: new Set(idsOf(d.recipes)),
    nudges: new Set(idsOf(d.nudges)),
    checklists: new Map(
      (Array.isArray(d.checklists) ? d.checklists.filter(isObj) : [])
        .filter((x) => typeof x.id === 'string')
        .map((x) => [x.id as string, new Set(idsOf(x.items))]),
    ),
    states: new Set(isObj(d.lifecycle) && isObj(d.lifecycle.states) ? Object.keys(d.lifecycle.states) : []),
  };
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
const nearest = (name: string, names: readonly string[]) => {
  let best: string | undefined;
  let d = 3;
  for (const n of names) {
    const x = distance(name, n);
    if (x < d) [best, d] = [n, x];
  }
  return best;
};

/** An unknown metric or fact name: the list the server computes (sdk-core's METRICS / FACTS). */
export function nameProblem(kind: 'metric' | 'fact', name: string): string | undefined {
  const names = kind === 'metric' ? METRIC_NAMES : FACT_NAMES;
  if ((names as readonly string[]).includes(name)) return undefined;
  const near = nearest(name, names);
  const hint = kind === 'fact' ? " (a tenant's own group traits are read with tenantTrait)" : '';
  return `unknown ${kind} "${name}"${near ? `; did you mean "${near}"?` : ''} The server computes: ${names.join(', ')}${hint}`;
}

/** An event name one or two letters away from one Keel reads is a typo (other names are the product's own). */
export function eventProblem(name: string): string | undefined {
  if (KNOWN_EVENT_NAMES.includes(name)) return undefined;
  const near = nearest(name, KNOWN_EVENT_NAMES);
  return near ? `unknown event "${name}": did you mean "${near}"? (Keel reads ${near}; a name of your own must not be this close to it)` : undefined;
}

/** Cross-reference checks on a config whose shape is valid (or its valid parts, with `known` ids from the whole input). */
export function checkReferences(c: KeelConfig, known?: KnownIds): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  const recipes = known?.recipes ?? new Set((c.recipes ?? []).map((r) => r.id));
  const nudges = known?.nudges ?? new Set((c.nudges ?? []).map((n) => n.id));
  const checklists = known?.checklists ?? new Map((c.checklists ?? []).map((x) => [x.id, new Set(x.items.map((i) => i.id))]));
  const states = known?.states ?? new Set(Object.keys(c.lifecycle?.states ?? {}));
  const bands = new Set(['healthy', 'watch', 'at-risk']);

  const dupes = (what: string, key: string, ids: string[]) => {
    const seen = new Map<string, number>();
    ids.forEach((id, i) => {
      if (seen.has(id)) out.push({ path: [key, i, 'id'], message: `duplicate ${what} id "${id}" (also at ${key}[${seen.get(id)}])` });
      else seen.set(id, i);
    });
  };
  dupes(
    'checklist',
    'checklists',
    (c.checklists ?? []).map((x) => x.id),
  );
  dupes(
    'nudge',
    'nudges',
    (c.nudges ?? []).map((x) => x.id),
  );
  dupes(
    'recipe',
    'recipes',
    (c.recipes ?? []).map((x) => x.id),
  );
  dupes(
    'error repair',
    'errors',
    (c.errors ?? []).map((x) => x.id),
  );
  (c.checklists ?? []).forEach((cl, ci) => {
    const seen = new Set<string>();
    cl.items.forEach((it, ii) => {
      if (seen.has(it.id)) out.push({ path: ['checklists', ci, 'items', ii, 'id'], message: `duplicate item id "${it.id}" in checklist "${cl.id}"` });
      seen.add(it.id);
    });
  });

  const recipeRef = (path: Path, id: string | undefined) => {
    if (id !== undefined && !recipes.has(id)) out.push({ path, message: `unknown recipe "${id}"; recipes: ${[...recipes].join(', ') || 'none defined'}` });
  };
  /** Checks each leaf of a rule, reporting at the leaf's own path (`when.all[0].lifecycle`). */
  const rule = (path: Path, r: Rule | undefined): void => {
    if (!r) return;
    if ('all' in r || 'any' in r) {
      const k = 'all' in r ? 'all' : 'any';
      return ('all' in r ? r.all : r.any).forEach((x, i) => rule([...path, k, i], x));
    }
    if ('not' in r) return rule([...path, 'not'], r.not);
    const ids = referencedIds(r);
    for (const id of ids.checklist) {
      if (!checklists.has(id))
        out.push({ path: [...path, 'checklist'], message: `unknown checklist "${id}"; checklists: ${[...checklists.keys()].join(', ') || 'none defined'}` });
    }
    for (const [cl, items] of Object.entries(ids.items)) {
      const known = checklists.get(cl);
      items.forEach((it) => {
        if (known && !known.has(it))
          out.push({ path: [...path, 'items'], message: `checklist "${cl}" has no item "${it}"; its items: ${[...known].join(', ')}` });
      });
    }
    for (const id of ids.recipe) recipeRef([...path, 'recipe'], id);
    for (const st of ids.lifecycle) {
      if (!states.has(st))
        out.push({ path: [...path, 'lifecycle'], message: `unknown lifecycle state "${st}"; states: ${[...states].join(', ') || 'no lifecycle defined'}` });
    }
    for (const b of ids.health)
      if (!bands.has(b)) out.push({ path: [...path, 'health', 'band'], message: `unknown health band "${b}"; bands: healthy, watch, at-risk` });
    for (const m of ids.metric) {
      const p = nameProblem('metric', m);
      if (p) out.push({ path: [...path, 'metric'], message: p });
    }
    for (const f of ids.fact) {
      const p = nameProblem('fact', f);
      if (p) out.push({ path: [...path, 'fact'], message: p });
    }
    for (const e of ids.event) {
      const p = eventProblem(e);
      if (p) out.push({ path: [...path, 'event'], message: p });
    }
  };

  (c.checklists ?? []).forEach((cl, ci) => {
    rule(['checklists', ci, 'audience'], cl.audience);
    cl.items.forEach((it, ii) => {
      const p: Path = ['checklists', ci, 'items', ii];
      rule([...p, 'complete'], it.complete);
      rule([...p, 'failed'], it.failed);
      recipeRef([...p, 'launch', 'recipe'], it.launch?.recipe);
      recipeRef([...p, 'recovery', 'recipe'], it.recovery?.recipe);
      if (it.recovery && !it.failed) out.push({ path: [...p, 'recovery'], message: 'a recovery action needs a "failed" rule saying when the step has failed' });
    });
  });
  /**
   * Links inside nudge and recipe text follow the same rule as action links: the renderer
   * (nudge-widget's markdown.ts, whose inline syntax this pattern repeats: no link inside **, *
   * or `code`) shows a refused one as plain text.
   */
  const textLinks = (path: Path, t: string | Readonly<Record<string, string>> | undefined) => {
    for (const [loc, src] of t === undefined ? [] : typeof t === 'string' ? [[undefined, t] as const] : Object.entries(t)) {
      for (const m of src.matchAll(MARKDOWN_INLINE)) {
        if (m[9] !== undefined && !SAFE_LINK.test(m[9])) {
          out.push({
            path: loc === undefined ? path : [...path, loc],
            message: `a link Keel will not open (it would show as plain text): ${JSON.stringify(m[9])}; expected http:// or https:// and a host, or a path on this site starting with a single /, with no quotes, angle brackets, backslashes or control characters`,
          });
        }
      }
    }
  };
  (c.nudges ?? []).forEach((n, ni) => {
    textLinks(['nudges', ni, 'body'], n.body);
    rule(['nudges', ni, 'audience'], n.audience);
    rule(['nudges', ni, 'when'], n.when);
    (n.actions ?? []).forEach((a, ai) => recipeRef(['nudges', ni, 'actions', ai, 'recipe'], a.recipe));
  });
  const repairIds = new Set((c.errors ?? []).map((e) => `${REPAIR_PREFIX}${e.id}`));
  (c.nudges ?? []).forEach((n, ni) => {
    if (repairIds.has(n.id))
      out.push({
        path: ['nudges', ni, 'id'],
        message: `nudge id "${n.id}" is taken: errors "${n.id.slice(REPAIR_PREFIX.length)}" is served as that nudge; rename one`,
      });
  });
  (c.errors ?? []).forEach((e, ei) => {
    textLinks(['errors', ei, 'body'], e.body);
    rule(['errors', ei, 'audience'], e.audience);
    (e.actions ?? []).forEach((a, ai) => recipeRef(['errors', ei, 'actions', ai, 'recipe'], a.recipe));
  });
  (c.recipes ?? []).forEach((r, ri) =>
    r.steps.forEach((s, si) => {
      textLinks(['recipes', ri, 'steps', si, 'text'], s.text);
      if (s.advance && typeof s.advance === 'object') rule(['recipes', ri, 'steps', si, 'advance'], s.advance);
      if (s.advance === 'click' && !s.anchor)
        out.push({ path: ['recipes', ri, 'steps', si, 'advance'], message: 'a step that advances on "click" needs an "anchor" (the element the user clicks)' });
    }),
  );
  (c.health?.alerts ?? []).forEach((a, ai) => {
    if (!('score_change_wow' in a.when) && !('above' in a.when)) rule(['health', 'alerts', ai, 'when'], a.when as Rule);
    if ('above' in a.when) {
      const p = nameProblem('metric', a.when.metric);
      if (p) out.push({ path: ['health', 'alerts', ai, 'when', 'metric'], message: p });
    }
  });

  if (c.health) {
    const h = c.health;
    if (h.bands.watch >= h.bands.healthy)
      out.push({ path: ['health', 'bands', 'watch'], message: `the watch band (${h.bands.watch}) must start below the healthy band (${h.bands.healthy})` });
    const sum = h.components.reduce((s, x) => s + x.weight, 0);
    if (h.weights === 'sum-to-100' && Math.abs(sum - 100) > 1e-9) {
      out.push({ path: ['health', 'weights'], message: `weights: sum-to-100, but the component weights sum to ${sum}; fix them or say weights: normalise` });
    }
    if (sum === 0) out.push({ path: ['health', 'components'], message: 'every weight is 0: the score would be undefined' });
    const seen = new Set<string>();
    h.components.forEach((x, i) => {
      const p = nameProblem('metric', x.metric);
      if (p) out.push({ path: ['health', 'components', i, 'metric'], message: p });
      if (seen.has(x.id)) out.push({ path: ['health', 'components', i, 'id'], message: `duplicate health component id "${x.id}"` });
      seen.add(x.id);
    });
  }

  if (c.lifecycle) {
    const l = c.lifecycle;
    if (!states.has(l.initial))
      out.push({ path: ['lifecycle', 'initial'], message: `the initial state "${l.initial}" is not one of the states: ${[...states].join(', ')}` });
    l.transitions.forEach((t, ti) => {
      for (const f of Array.isArray(t.from) ? t.from : [t.from]) {
        if (!states.has(f)) out.push({ path: ['lifecycle', 'transitions', ti, 'from'], message: `unknown lifecycle state "${f}"` });
      }
      if (!states.has(t.to)) out.push({ path: ['lifecycle', 'transitions', ti, 'to'], message: `unknown lifecycle state "${t.to}"` });
    });
    // Reachability from the initial state.
    const reach = new Set([l.initial]);
    for (let grew = true; grew;) {
      grew = false;
      for (const t of l.transitions) {
        const from = Array.isArray(t.from) ? t.from : [t.from];
        if (from.some((f) => reach.has(f)) && !reach.has(t.to)) {
          reach.add(t.to);
          grew = true;
        }
      }
    }
    for (const s of states) {
      if (!reach.has(s))
        out.push({ path: ['lifecycle', 'states', s], message: `lifecycle state "${s}" can never be reached from "${l.initial}": add a transition to it` });
    }
    for (const [s, def] of Object.entries(l.states)) {
      rule(['lifecycle', 'states', s, 'proof'], def.proof);
      (def.allows ?? []).forEach((a, ai) => {
        const [kind, id] = a.split(':') as [string, string];
        if (id.includes('*')) return;
        const known = kind === 'nudge' ? nudges : kind === 'recipe' ? recipes : kind === 'checklist' ? new Set(checklists.keys()) : undefined;
        if (known && !known.has(id)) out.push({ path: ['lifecycle', 'states', s, 'allows', ai], message: `unknown ${kind} "${id}" in allows` });
      });
    }
  }
  return out;
}

/**
 * The parts of an invalid document that are valid on their own: each checklist, nudge and recipe
 * that parses, and each other section that does. Reference checks run on these, so one bad entry
 * doesn't hide the others' problems.
 */
function validParts(input: unknown): KeelConfig | undefined {
  /** An item with a shape problem: the parts of it that parse, so their references are checked too. */
  const partialItem = (item: unknown) => {
    if (!isObj(item) || !IdSchema.safeParse(item.id).success) return undefined;
    const out: Record<string, unknown> = { id: item.id, title: '', complete: { all: [] } };
    for (const [key, schema] of [
      ['complete', RuleSchema],
      ['failed', RuleSchema],
      ['launch', ActionSchema],
      ['recovery', ActionSchema],
    ] as const) {
      const r = schema.safeParse(item[key]);
      if (r.success && r.data !== undefined) out[key] = r.data;
      // Present but malformed (its own problem is reported): still there, for the checks that ask whether it is.
      else if (key === 'failed' && item[key] !== undefined) out[key] = { all: [] };
    }
    return out;
  };
  if (!isObj(input)) return undefined;
  const shape = ConfigSchema.shape;
  const out: Record<string, unknown> = {};
  const lists = { checklists: ChecklistSchema, nudges: NudgeSchema, recipes: RecipeSchema } as const;
  for (const [k, v] of Object.entries(input)) {
    // Own keys only: a section named `hasOwnProperty` or `toString` is an unknown key, not a lookup.
    if (Object.hasOwn(lists, k)) {
      if (Array.isArray(v)) {
        // A sparse array: invalid entries leave holes, so the valid ones keep their index (and the
        // paths of their problems stay right); forEach and map skip the holes.
        const kept: unknown[] = new Array(v.length);
        v.forEach((x, i) => {
          const r = lists[k as keyof typeof lists].safeParse(x);
          if (r.success) kept[i] = r.data;
          else if (k === 'checklists') {
            // A checklist with one bad item: its other items (sparse, at their index) are still checked.
            const c = x as { id?: unknown; items?: unknown };
            if (isObj(c) && IdSchema.safeParse(c.id).success && Array.isArray(c.items)) {
              const items: unknown[] = new Array(c.items.length);
              c.items.forEach((item, j) => {
                const ri = ChecklistItemSchema.safeParse(item);
                const kept = ri.success ? ri.data : partialItem(item);
                if (kept) items[j] = kept; // else a hole: forEach skips it
              });
              kept[i] = { id: c.id, title: '', items };
            }
          }
        });
        out[k] = kept;
      }
      continue;
    }
    const schema = Object.hasOwn(shape, k) ? shape[k as keyof typeof shape] : undefined;
    const r = schema?.safeParse(v);
    if (r?.success) out[k] = r.data;
  }
  // Health sections that fail as a whole still have their metric names checked.
  return out as KeelConfig;
}

/** Metric names of a health section whose shape is invalid (the parsed path checks valid ones). */
function rawMetricNames(input: unknown): { path: Path; message: string }[] {
  if (!isObj(input) || !isObj(input.health) || ConfigSchema.shape.health.safeParse(input.health).success) return [];
  const out: { path: Path; message: string }[] = [];
  const h = input.health;
  (Array.isArray(h.components) ? h.components : []).forEach((c, i) => {
    const p = isObj(c) && typeof c.metric === 'string' ? nameProblem('metric', c.metric) : undefined;
    if (p) out.push({ path: ['health', 'components', i, 'metric'], message: p });
  });
  (Array.isArray(h.alerts) ? h.alerts : []).forEach((a, i) => {
    const when = isObj(a) && isObj(a.when) ? a.when : undefined;
    const p = when && 'above' in when && typeof when.metric === 'string' ? nameProblem('metric', when.metric) : undefined;
    if (p) out.push({ path: ['health', 'alerts', i, 'when', 'metric'], message: p });
  });
  return out;
}

/** Validates a parsed document (an object from JSON or YAML): shape and reference problems in one pass. */
export function validateConfig(input: unknown, lineOf?: (path: Path) => number | undefined): Validation {
  const withLine = (path: Path, message: string): Problem => {
    const line = lineOf?.(path);
    return line === undefined ? { path: formatPath(path), message } : { path: formatPath(path), message, line };
  };
  const r = ConfigSchema.safeParse(input);
  if (r.success) {
    const problems = checkReferences(r.data).map((p) => withLine(p.path, p.message));
    return problems.length ? { ok: false, config: r.data, problems } : { ok: true, config: r.data, problems };
  }
  const shape = r.error.issues.map((i) =>
    // An unknown key is reported on its object, but its line is the key's own.
    i.code === 'unrecognized_keys' && lineOf
      ? { ...withLine(i.path as Path, i.message), ...(lineOf([...(i.path as Path), i.keys[0]!]) ? { line: lineOf([...(i.path as Path), i.keys[0]!])! } : {}) }
      : withLine(i.path as Path, i.message),
  );
  const parts = validParts(input);
  const refs = parts ? [...checkReferences(parts, knownIds(input)), ...rawMetricNames(input)].map((p) => withLine(p.path, p.message)) : [];
  const seen = new Set(shape.map((p) => `${p.path}\0${p.message}`));
  const problems = [...shape, ...refs.filter((p) => !seen.has(`${p.path}\0${p.message}`))];
  // In file order when lines are known (a stable sort: problems on one line keep their order).
  if (lineOf) problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return { ok: false, problems };
}

/** Validates a config file's text (YAML or JSON). */
export function validateConfigText(text: string): Validation {
  const parsed = parseConfigText(text);
  if (parsed.problems.length) return { ok: false, problems: parsed.problems };
  return validateConfig(parsed.value, parsed.lineOf);
}

/** `file:line path: message`, one problem a line, for a terminal. */
export function formatProblems(file: string, problems: readonly Problem[]): string {
  return problems.map((p) => `${file}${p.line ? `:${p.line}` : ''}  ${p.path || '(document)'}: ${p.message}`).join('\n');
}
