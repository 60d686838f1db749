// For browser tests: an admin API call made by the test server (see browser-commands.ts), answered
// as a fetch Response so tests read it the usual way.
import { commands } from 'vitest/browser';
import './browser-commands.js';

export async function adminCall(url: string, adminKey: string, path: string, body?: unknown, method = 'POST'): Promise<Response> {
  const { status, text } = await commands.keelAdmin(url, adminKey, path, body ?? null, method);
  return new Response(status === 204 || status === 304 ? null : text, { status, headers: { 'content-type': 'application/json' } });
}
