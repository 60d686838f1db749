import type { Comparison, Where } from './types.js';

/** Operators in the order they are checked and rendered. */
export const OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists', 'glob'] as const;

/** The clause kinds that compare a named value with operators: `{ trait: 'role', in: [...] }`. */
export const COMPARED = ['trait', 'tenantTrait', 'fact', 'metric'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Reads a property: the literal key first (`'user.plan'` as one key), else a dotted walk. Own
 * properties only, so `constructor` or `__proto__` never resolve to something inherited.
 */
export function get(o: unknown, path: string): unknown {
  if (!isObj(o)) return undefined;
  if (Object.hasOwn(o, path)) return o[path];
  for (const k of path.split('.')) {
    if (!isObj(o) || !Object.hasOwn(o, k)) return undefined;
    o = o[k];
  }
  return o;
}

const cache = new Map<string, RegExp>();

/**
 * Glob match of a whole string: `*` = any run without `/` (one path segment), `**` = anything,
 * `/**` at the end also matches nothing (`/reports/**` matches `/reports`), `**` + `/` matches
 * zero or more leading segments. Every other character is literal.
 */
export function glob(pattern: string, s: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const src = pattern.replace(/\/\*\*$|\*\*\/|\*\*|\*|[.+?^${}()|[\]\\]/g, (t) =>
      t === '/**' ? '(?:/.*)?' : t === '**/' ? '(?:.*/)?' : t === '**' ? '.*' : t === '*' ? '[^/]*' : '\\' + t,
    );
    cache.set(pattern, (re = new RegExp(`^${src}$`, 's')));
  }
  return re.test(s);
}

/** Does the value `v` satisfy every operator present in `c`? (`undefined`/`null` = missing.) */
export function compare(v: unknown, c: Comparison): boolean {
  for (const k of OPS) {
    const x = c[k];
    if (x === undefined) continue;
    const ok =
      k === 'eq'
        ? v === x
        : k === 'ne'
          ? v !== x
          : k === 'in'
            ? Array.isArray(x) && x.includes(v)
            : k === 'nin'
              ? !(Array.isArray(x) && x.includes(v))
              : k === 'exists'
                ? (v != null) === x
                : k === 'glob'
                  ? typeof v === 'string' && glob(String(x), v)
                  : (typeof v === 'number' || typeof v === 'string') &&
                    typeof v === typeof x &&
                    (k === 'gt' ? v > (x as typeof v) : k === 'gte' ? v >= (x as typeof v) : k === 'lt' ? v < (x as typeof v) : v <= (x as typeof v));
    if (!ok) return false;
  }
  return true;
}

/**
 * Do event properties satisfy a `where`? A scalar is equality, an object is a `Comparison`.
 * Shared by the evaluator and local rollups (which decide with it whether an event counts).
 */
export function matchWhere(where: Where | undefined, properties: unknown): boolean {
  for (const k in where) {
    const w = where[k];
    const v = get(properties, k);
    if (!(isObj(w) ? compare(v, w) : v === w)) return false;
  }
  return true;
}
