/**
 * Size and shape limits of what Keel accepts, checked before anything recursive touches a value
 * (`JSON.stringify`, zod, SQLite's JSON functions, which give up at 1,000 levels). Plain code, no
 * zod: the SDK may use the same numbers and the same walk.
 */

/** Deepest nesting accepted in a message or a request body: the value itself is level 1. */
export const MAX_JSON_DEPTH = 64;
/** Most object keys in one message, counted over every level. */
export const MAX_MESSAGE_KEYS = 10_000;
/** Largest message, serialised as JSON (UTF-8 bytes): the SDK's per-event limit, 32 KB. */
export const MAX_MESSAGE_BYTES = 32 * 1024;

export interface ShapeLimits {
  maxDepth: number;
  maxKeys: number;
}

export interface LimitIssue {
  /** Where the limit was crossed (`properties.a.b…`); `` for the root. */
  path: string;
  /** What is wrong, to follow the name of the value: "is nested deeper than 64 levels". */
  message: string;
  limit: 'depth' | 'keys' | 'bytes';
}

const SHOWN_SEGMENTS = 6;

interface Frame {
  value: object;
  depth: number;
  key: string | number;
  parent: Frame | undefined;
}

function pathOf(f: Frame | undefined, prefix: readonly (string | number)[]): string {
  const own: (string | number)[] = [];
  for (let x = f; x?.parent; x = x.parent) own.push(x.key);
  const segs = [...prefix, ...own.reverse()];
  const shown = segs.slice(0, SHOWN_SEGMENTS);
  let out = '';
  for (const s of shown) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return segs.length > SHOWN_SEGMENTS ? `${out}…` : out;
}

/**
 * Checks nesting depth and key count of a parsed JSON value without recursion (a value nested
 * 100,000 deep is walked like a flat one, and the walk stops at the first level too deep).
 * `skip` leaves out a top-level key (a batch's messages are checked one by one). `prefix` is
 * prepended to the reported path.
 */
export function checkShape(value: unknown, limits: ShapeLimits, opts: { skip?: string; prefix?: readonly (string | number)[] } = {}): LimitIssue | null {
  if (typeof value !== 'object' || value === null) return null;
  const prefix = opts.prefix ?? [];
  const stack: Frame[] = [{ value, depth: 1, key: '', parent: undefined }];
  let keys = 0;
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (f.depth > limits.maxDepth) {
      return {
        path: pathOf(f, prefix),
        message: `is nested deeper than ${limits.maxDepth} levels (the limit)`,
        limit: 'depth',
      };
    }
    const v = f.value;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const x: unknown = v[i];
        if (typeof x === 'object' && x !== null) stack.push({ value: x, depth: f.depth + 1, key: i, parent: f });
      }
      continue;
    }
    const ks = Object.keys(v);
    keys += ks.length;
    if (keys > limits.maxKeys) {
      return { path: prefix.length ? pathOf(undefined, prefix) : '', message: `has more than ${limits.maxKeys} keys (the limit)`, limit: 'keys' };
    }
    for (let i = ks.length - 1; i >= 0; i--) {
      const k = ks[i]!;
      if (f.parent === undefined && k === opts.skip) continue;
      const x: unknown = (v as Record<string, unknown>)[k];
      if (typeof x === 'object' && x !== null) stack.push({ value: x, depth: f.depth + 1, key: k, parent: f });
    }
  }
  return null;
}

// Buffer is not in browsers; TextEncoder is in both.
const encoder = new TextEncoder();

/**
 * The limits of one message: depth and keys first (so nothing recursive sees a value too deep),
 * then its size serialised. Null when the message is within every limit.
 */
export function checkMessage(message: unknown, limits: { maxDepth?: number; maxKeys?: number; maxBytes?: number } = {}): LimitIssue | null {
  const shape = checkShape(message, { maxDepth: limits.maxDepth ?? MAX_JSON_DEPTH, maxKeys: limits.maxKeys ?? MAX_MESSAGE_KEYS });
  if (shape) return shape;
  const maxBytes = limits.maxBytes ?? MAX_MESSAGE_BYTES;
  const json = JSON.stringify(message);
  // A UTF-8 byte is at least one UTF-16 unit and at most three: skip the encoding when the answer is certain.
  if (json === undefined || json.length <= maxBytes / 3) return null;
  const bytes = encoder.encode(json).length;
  if (bytes > maxBytes) {
    return { path: '', message: `is ${bytes} bytes as JSON, over the limit of ${maxBytes} bytes per message`, limit: 'bytes' };
  }
  return null;
}
