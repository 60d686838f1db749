import { gunzipSync } from 'node:zlib';
import { HttpError } from './errors.js';

/** 500 KB, Segment's batch limit; applies to the body as sent and to the body once inflated. */
export const DEFAULT_BODY_LIMIT = 500_000;

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Raw body → JSON value. Bodies are parsed as JSON whatever their content type: browsers send
 * `text/plain` to avoid a CORS preflight, and `sendBeacon` can't choose. Gzip is recognised by
 * `Content-Encoding: gzip` or by its magic bytes (a browser can't set the header without a
 * preflight either).
 */
export function decodeBody(raw: Buffer | undefined, contentEncoding: string | undefined, limit = DEFAULT_BODY_LIMIT): unknown {
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
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(e as Error).message}`);
  }
}
