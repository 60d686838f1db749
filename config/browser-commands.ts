// Commands the browser tests run on the Node side (vitest's `commands`): what a vendor's backend
// or the keel CLI does. The admin key is refused on requests a browser makes, so tests that
// publish config or open incidents ask the test server to make the call.
import type { BrowserCommand } from 'vitest/node';

export interface AdminAnswer {
  status: number;
  text: string;
}

/** POSTs `body` (JSON) to `url + path` with the admin key, from Node: no Origin, no Sec-Fetch-*. */
export const keelAdmin: BrowserCommand<[url: string, adminKey: string, path: string, body?: unknown, method?: string]> = async (
  _ctx,
  url,
  adminKey,
  path,
  body,
  method = 'POST',
) => {
  const res = await fetch(`${url}${path}`, {
    method,
    // (Arguments cross from the browser as JSON: an absent body arrives as null.)
    headers: { authorization: `Bearer ${adminKey}`, ...(body == null ? {} : { 'content-type': 'application/json' }) },
    ...(body == null ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() } satisfies AdminAnswer;
};

declare module 'vitest/browser' {
  interface BrowserCommands {
    keelAdmin: (url: string, adminKey: string, path: string, body?: unknown, method?: string) => Promise<AdminAnswer>;
  }
}
