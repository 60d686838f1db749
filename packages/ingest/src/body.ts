import { gunzipSync } from 'node:zlib';
import { checkShape, MAX_JSON_DEPTH, type ShapeLimits } from '@keel/sdk-core/schema';
import { HttpError } from './errors.js';

/** 500 KB, Segment's batch limit; applies to the body as sent and to the body once inflated. */
export const DEFAULT_BODY_LIMIT = 500_000;

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Shape limits of a whole body (config documents, progress, incidents): no deeper than a message
 * may be, and at most 100,000 keys (a 500 KB body of small objects stays under it).
 */
export const BODY_SHAPE: ShapeLimits = { maxDepth: MAX_JSON_DEPTH, maxKeys: 100_000 };

/**
 * Raw body → JSON value, checked against `shape` (depth and key count) before any code walks it
 * recursively. `shape: false` for the batch routes, which check each message on its own. Bodies are parsed as JSON whatever their content type: browsers send
 * `text/plain` to avoid a CORS preflight, and `sendBeacon` can't choose. Gzip is recognised by
 * `Content-Encoding: gzip` or by its magic bytes (a browser can't set the header without a
 * preflight either).
 */
export function decodeBody(
  raw: Buffer | undefined,
  contentEncoding: string | undefined,
  limit = DEFAULT_BODY_LIMIT,
  shape: ShapeLimits | false = BODY_SHAPE,
): unknown {
  if (!raw || raw.length === 0) throw new HttpError(400, 'empty_body', 'the request body is empty: send a JSON message or {"batch": [...]}');
  let buf = raw;
  const enc = contentEncoding?.trim().toLowerCase();
  if (enc && enc !== 'identity' && enc !== 'gzip' && enc !== 'x-gzip') {
    throw new HttpError(415, 'unsupported_encoding', `content-encoding "${enc}" is not supported: send gzip or an uncompressed body`);
  }
  if (enc === 'gzip' || enc === 'x-gzip' || isGzip(raw)) {
    try {
      buf = gunzipSync(raw, { maxOutputLength: limit });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw new HttpError(413, 'payload_too_large', `the body inflates to more than ${limit} bytes; send smaller batches`);
      }
      throw new HttpError(400, 'invalid_gzip', `the body is not valid gzip: ${err.message}`);
    }
  }
  const text = buf.toString('utf8');
  let value: unknown;
  try {
    // V8's JSON.parse is not recursive: any depth parses, and the walk below checks it.
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (shape) {
    const issue = checkShape(value, shape);
    if (issue) {
      throw new HttpError(
        400,
        issue.limit === 'depth' ? 'body_too_deep' : 'body_too_many_keys',
        `the body${issue.path ? ` at ${issue.path}` : ''} ${issue.message}`,
      );
    }
  }
  return value;
}
