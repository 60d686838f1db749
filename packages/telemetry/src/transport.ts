import type { Message } from './types.js';

export type SendResult =
  /** Stored, but for the `rejected` indexes (refused for good). */
  | { kind: 'ok'; rejected: number[] }
  /**
   * A 4xx a retry cannot cure (400, 413…): the server refused the `rejected` indexes for good and
   * stored none; with no list, the batch as a whole (too large, or one message it cannot name).
   */
  | { kind: 'refused'; rejected: number[]; reason: string }
  | { kind: 'unauthorized'; reason: string }
  | { kind: 'retry'; after?: number };

const hasCompression = typeof CompressionStream === 'function';

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `Retry-After` as ms: delta-seconds or an HTTP date. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** `userToken`: the page's user token, so the server can verify the batch's user and tenant. */
export const body = (batch: Message[], writeKey: string, userToken?: string) =>
  JSON.stringify({ batch, sentAt: new Date().toISOString(), writeKey, userToken });

/**
 * One POST of `{ batch, sentAt, writeKey }` as text/plain with no custom header, so the browser
 * sends it without a CORS preflight; gzip is recognised by the server from the magic bytes.
 */
export async function send(url: string, text: string, compress: boolean): Promise<SendResult> {
  let payload: BodyInit = text;
  let size = text.length;
  if (compress && hasCompression) {
    const z = await gzip(text);
    payload = new Blob([z as BlobPart], { type: 'text/plain' });
    size = z.byteLength;
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      body: payload,
      keepalive: size <= 60_000,
      credentials: 'omit',
      mode: 'cors',
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    return { kind: 'retry' };
  }
  const s = res.status;
  let json: { rejected?: { index: number }[]; message?: string } | undefined;
  try {
    json = (await res.json()) as typeof json;
  } catch {
    json = undefined;
  }
  const rejected = Array.isArray(json?.rejected) ? json.rejected.map((r) => r.index) : [];
  if (s >= 200 && s < 300) return { kind: 'ok', rejected };
  if (s === 429 || s >= 500 || s === 408) return { kind: 'retry', after: retryAfter(res.headers.get('retry-after')) };
  const reason = json?.message ?? `HTTP ${s}`;
  return { kind: s === 401 || s === 403 ? 'unauthorized' : 'refused', rejected, reason };
}
