// A scriptable ingest stand-in for the SDK's browser tests: it answers each request per
// scenario from a script (network error, 500, 429 with Retry-After, 413, 400 with a rejected
// list, 200) and records what it received. The real ingest server is exercised end to end in
// test/e2e; this one produces the faults a healthy server never would on cue.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type Step = { network: true } | { status: number; headers?: Record<string, string>; rejectEvent?: string };

export interface Received {
  path: string;
  query: string;
  at: number;
  status: number | 'network';
  gzip: boolean;
  contentType: string | undefined;
  ids: string[];
  messages: Record<string, unknown>[];
  writeKey: unknown;
  userToken: unknown;
}

interface Scenario {
  script: Step[];
  received: Received[];
}

const read = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

export async function startFaultServer(): Promise<{ url: string; close(): Promise<void> }> {
  const scenarios = new Map<string, Scenario>();
  const get = (id: string) => {
    let s = scenarios.get(id);
    if (!s) scenarios.set(id, (s = { script: [], received: [] }));
    return s;
  };
  const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'retry-after', 'access-control-allow-headers': '*' };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const buf = await read(req);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, POST' });
      return res.end();
    }
    const control = /^\/_control\/([\w-]+)$/.exec(url.pathname);
    if (control) {
      const s = get(control[1]!);
      if (req.method === 'POST') s.script = (JSON.parse(buf.toString() || '{}') as { script?: Step[] }).script ?? [];
      res.writeHead(200, { ...cors, 'content-type': 'application/json' });
      return res.end(JSON.stringify({ received: s.received }));
    }
    const m = /^\/s\/([\w-]+)(\/v1\/\w+)$/.exec(url.pathname);
    if (!m || req.method !== 'POST') {
      res.writeHead(404, cors);
      return res.end();
    }
    const s = get(m[1]!);
    const gzip = buf[0] === 0x1f && buf[1] === 0x8b;
    let body: { batch?: Record<string, unknown>[]; writeKey?: unknown; userToken?: unknown } = {};
    try {
      body = JSON.parse((gzip ? gunzipSync(buf) : buf).toString());
    } catch {
      /* recorded with no messages */
    }
    const messages = body.batch ?? [];
    const step = s.script.shift() ?? { status: 200 };
    const rec: Received = {
      path: m[2]!,
      query: url.search,
      at: Date.now(),
      status: 'network' in step ? 'network' : step.status,
      gzip,
      contentType: req.headers['content-type'],
      ids: messages.map((x) => String(x.messageId)),
      messages,
      writeKey: body.writeKey,
      userToken: body.userToken,
    };
    s.received.push(rec);
    if ('network' in step) {
      req.socket.destroy();
      return;
    }
    const rejected = step.rejectEvent
      ? messages.flatMap((x, index) =>
          x.event === step.rejectEvent ? [{ index, messageId: x.messageId, errors: [{ path: 'event', message: 'rejected by the test' }] }] : [],
        )
      : [];
    res.writeHead(step.status, { ...cors, 'content-type': 'application/json', ...step.headers });
    res.end(JSON.stringify({ ok: step.status === 200 && !rejected.length, accepted: messages.length - rejected.length, duplicates: 0, rejected }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
