import type * as z from 'zod';

/** One problem in an input, as every Keel API and CLI reports it. */
export interface Issue {
  /** Where the problem is, e.g. `context.page.url` or `batch[3].event`; `` for the root. */
  path: string;
  message: string;
}

/** `["batch", 3, "event"]` → `batch[3].event`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** zod issues as `{ path, message }` pairs, in the order zod found them. */
export function formatIssues(error: z.core.$ZodError | { issues: readonly z.core.$ZodIssue[] }): Issue[] {
  return error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}
