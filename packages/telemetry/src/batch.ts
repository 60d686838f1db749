// Batching decisions, pure: messages are serialised one by one (a message JSON refuses is
// isolated, not the batch), and bodies are cut by exact UTF-8 sizes.

let encoder: TextEncoder | undefined;
/** The UTF-8 length of `s`. */
export const utf8Length = (s: string) => (encoder ??= new TextEncoder()).encode(s).length;

/** JSON for one value, or undefined when JSON refuses it (a throw, or nothing to write). */
export function serialise(v: unknown): string | undefined {
  try {
    return JSON.stringify(v) as string | undefined;
  } catch {
    return undefined;
  }
}

/** Serialises each entry's message alone: [entries, their JSON, its UTF-8 sizes, those JSON refuses]. */
export function serialiseAll<E extends { m: unknown }>(entries: readonly E[]) {
  const ok: E[] = [];
  const parts: string[] = [];
  const sizes: number[] = [];
  const bad: E[] = [];
  for (const e of entries) {
    const s = serialise(e.m);
    if (s === undefined) bad.push(e);
    else {
      ok.push(e);
      parts.push(s);
      sizes.push(utf8Length(s));
    }
  }
  return [ok, parts, sizes, bad] as const;
}

/**
 * The envelope the ingest API reads, `{ batch, sentAt, writeKey, userToken? }`, around
 * pre-serialised messages; the user token (when the page has one) lets the server verify them.
 */
export const envelope = (parts: readonly string[], writeKey: string, sentAt = new Date(), userToken?: string) =>
  `{"batch":[${parts.join(',')}],"sentAt":"${sentAt.toISOString()}","writeKey":${JSON.stringify(writeKey)}${userToken ? `,"userToken":${JSON.stringify(userToken)}` : ''}}`;

/**
 * How many of `sizes` (bytes each, in order, from `from`) fit in one body of at most `max` bytes
 * with `overhead` around them and a comma between: at least 1, so a message too big alone is
 * sent alone and the server's answer decides (413: dropped).
 */
export function fit(sizes: readonly number[], max: number, overhead: number, from = 0): number {
  let total = overhead - 1;
  for (let i = from; i < sizes.length; i++) {
    total += sizes[i]! + 1;
    if (total > max) return Math.max(1, i - from);
  }
  return sizes.length - from;
}
