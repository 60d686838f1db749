/**
 * `keel config validate`: parse a YAML or JSON config, check its shape against the schema, then
 * check what a schema can't: references to ids that don't exist, lifecycle states nothing can
 * reach, health weights whose meaning is ambiguous. Every problem has a path and, for YAML and
 * JSON files, the line it is on.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { referencedIds } from '../rules/events.js';
import type { Rule } from '../rules/types.js';
import { ConfigSchema, type KeelConfig } from '../schema/document.js';
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

/** Cross-reference checks on a config whose shape is valid. */
export function checkReferences(c: KeelConfig): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  const recipes = new Set((c.recipes ?? []).map((r) => r.id));
  const nudges = new Set((c.nudges ?? []).map((n) => n.id));
  const checklists = new Map((c.checklists ?? []).map((x) => [x.id, new Set(x.items.map((i) => i.id))]));
  const states = new Set(Object.keys(c.lifecycle?.states ?? {}));
  const bands = new Set(['healthy', 'watch', 'at-risk']);

  const dupes = (what: string, key: string, ids: string[]) => {
    const seen = new Map<string, number>();
    ids.forEach((id, i) => {
      if (seen.has(id)) out.push({ path: [key, i, 'id'], message: `duplicate ${what} id "${id}" (also at ${key}[${seen.get(id)}])` });
      else seen.set(id, i);
    });
  };
  dupes('checklist', 'checklists', (c.checklists ?? []).map((x) => x.id));
  dupes('nudge', 'nudges', (c.nudges ?? []).map((x) => x.id));
  dupes('recipe', 'recipes', (c.recipes ?? []).map((x) => x.id));
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
      if (!checklists.has(id)) out.push({ path: [...path, 'checklist'], message: `unknown checklist "${id}"; checklists: ${[...checklists.keys()].join(', ') || 'none defined'}` });
    }
    for (const [cl, items] of Object.entries(ids.items)) {
      const known = checklists.get(cl);
      items.forEach((it) => {
        if (known && !known.has(it)) out.push({ path: [...path, 'items'], message: `checklist "${cl}" has no item "${it}"; its items: ${[...known].join(', ')}` });
      });
    }
    for (const id of ids.recipe) recipeRef([...path, 'recipe'], id);
    for (const st of ids.lifecycle) {
      if (!states.has(st)) out.push({ path: [...path, 'lifecycle'], message: `unknown lifecycle state "${st}"; states: ${[...states].join(', ') || 'no lifecycle defined'}` });
    }
    for (const b of ids.health) if (!bands.has(b)) out.push({ path: [...path, 'health', 'band'], message: `unknown health band "${b}"; bands: healthy, watch, at-risk` });
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
          out.push({ path: loc === undefined ? path : [...path, loc], message: `a link Keel will not open (it would show as plain text): ${JSON.stringify(m[9])}; expected http:// or https:// and a host, or a path on this site starting with a single /, with no quotes, angle brackets, backslashes or control characters` });
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
  (c.recipes ?? []).forEach((r, ri) => r.steps.forEach((s, si) => {
    textLinks(['recipes', ri, 'steps', si, 'text'], s.text);
    if (s.advance && typeof s.advance === 'object') rule(['recipes', ri, 'steps', si, 'advance'], s.advance);
    if (s.advance === 'click' && !s.anchor) out.push({ path: ['recipes', ri, 'steps', si, 'advance'], message: 'a step that advances on "click" needs an "anchor" (the element the user clicks)' });
  }));
  (c.health?.alerts ?? []).forEach((a, ai) => {
    if (!('score_change_wow' in a.when) && !('above' in a.when)) rule(['health', 'alerts', ai, 'when'], a.when as Rule);
  });

  if (c.health) {
    const h = c.health;
    if (h.bands.watch >= h.bands.healthy) out.push({ path: ['health', 'bands', 'watch'], message: `the watch band (${h.bands.watch}) must start below the healthy band (${h.bands.healthy})` });
    const sum = h.components.reduce((s, x) => s + x.weight, 0);
    if (h.weights === 'sum-to-100' && Math.abs(sum - 100) > 1e-9) {
      out.push({ path: ['health', 'weights'], message: `weights: sum-to-100, but the component weights sum to ${sum}; fix them or say weights: normalise` });
    }
    if (sum === 0) out.push({ path: ['health', 'components'], message: 'every weight is 0: the score would be undefined' });
    const seen = new Set<string>();
    h.components.forEach((x, i) => {
      if (seen.has(x.id)) out.push({ path: ['health', 'components', i, 'id'], message: `duplicate health component id "${x.id}"` });
      seen.add(x.id);
    });
  }

  if (c.lifecycle) {
    const l = c.lifecycle;
    if (!states.has(l.initial)) out.push({ path: ['lifecycle', 'initial'], message: `the initial state "${l.initial}" is not one of the states: ${[...states].join(', ')}` });
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
      if (!reach.has(s)) out.push({ path: ['lifecycle', 'states', s], message: `lifecycle state "${s}" can never be reached from "${l.initial}": add a transition to it` });
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

/** Validates a parsed document (an object from JSON or YAML). */
export function validateConfig(input: unknown, lineOf?: (path: Path) => number | undefined): Validation {
  const withLine = (path: Path, message: string): Problem => {
    const line = lineOf?.(path);
    return line === undefined ? { path: formatPath(path), message } : { path: formatPath(path), message, line };
  };
  const r = ConfigSchema.safeParse(input);
  if (!r.success) {
    return {
      ok: false,
      problems: r.error.issues.map((i) =>
        // An unknown key is reported on its object, but its line is the key's own.
        i.code === 'unrecognized_keys' && lineOf
          ? { ...withLine(i.path as Path, i.message), ...(lineOf([...(i.path as Path), i.keys[0]!]) ? { line: lineOf([...(i.path as Path), i.keys[0]!])! } : {}) }
          : withLine(i.path as Path, i.message)),
    };
  }
  const problems = checkReferences(r.data).map((p) => withLine(p.path, p.message));
  return problems.length ? { ok: false, config: r.data, problems } : { ok: true, config: r.data, problems };
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
