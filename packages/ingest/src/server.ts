import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from './app.js';

export interface ServerOptions extends AppOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  port: number;
  /** Stops accepting connections, waits for in-flight requests, then closes the store. */
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const app = buildApp(opts);
  let closing: Promise<void> | undefined;
  // Keep-alive sockets that were busy when close() began would otherwise hold the server open:
  // answers sent while closing tell the client to hang up.
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 4318 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 4318);
  return {
    app,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= (async () => {
        await app.close();
        await opts.store.close();
      })();
      return closing;
    },
  };
}
