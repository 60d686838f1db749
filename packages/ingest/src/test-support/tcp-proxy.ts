/**
 * A loopback TCP proxy for fault tests: put it between a client and a real server (PostgreSQL)
 * and cut, pause or restore the path without touching the server, which other tests share.
 *
 * - `cut()`: drops every connection and stops listening (new connections are refused);
 * - `cutWhen(text)`: drops everything the moment the client sends bytes containing `text`
 *   (before they are forwarded): a connection lost in the middle of a transaction;
 * - `pause()`: connections stay open but nothing is forwarded (a partition), new ones hang;
 * - `restore()`: listens and forwards again.
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  cut(): Promise<void>;
  cutWhen(text: string): void;
  pause(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; held: Buffer[]; back: Buffer[] }>();
  let paused = false;
  let trigger: Buffer | undefined;
  let accepted = 0;

  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(target.port, target.host);
    const pair = { client, upstream, held: [] as Buffer[], back: [] as Buffer[] };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (trigger && chunk.includes(trigger)) {
        trigger = undefined;
        void cut();
        return;
      }
      if (paused) pair.held.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!paused) return void client.write(chunk);
      pair.back.push(chunk); // forwarded by restore()
      upstream.pause();
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  async function cut(): Promise<void> {
    const closed = server.listening ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const p of [...pairs]) {
      p.client.destroy();
      p.upstream.destroy();
    }
    pairs.clear();
    await closed;
  }

  return {
    port,
    get accepted() {
      return accepted;
    },
    cut,
    cutWhen(text) {
      trigger = Buffer.from(text);
    },
    pause() {
      paused = true;
    },
    async restore() {
      paused = false;
      trigger = undefined;
      for (const p of pairs) {
        for (const chunk of p.held.splice(0)) p.upstream.write(chunk);
        for (const chunk of p.back.splice(0)) p.client.write(chunk);
        p.upstream.resume();
      }
      if (!server.listening) await listen(port);
    },
    async close() {
      await cut();
    },
  };
}
