// What an operator's Prometheus sees of upkeep, from the real `keel serve` on PostgreSQL: when the
// last run succeeded, and how many rows it left in events_default (0 normally; a row of a month
// with no partition, which the next start's upkeep places, is counted until then).
import { afterAll, expect, test } from 'vitest';
import { freePort, IngestProcess, postgresSchema } from './harness.js';

const schema = await postgresSchema();
afterAll(() => schema.drop());

const gauge = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

test('keel serve on PostgreSQL reports upkeep: the last success, and the rows left in the default partition', async () => {
  const startedAt = Date.now() / 1000;
  const node = new IngestProcess(await freePort(), 'http://127.0.0.1', ['--metrics-public'], {}, schema);
  await node.start();
  try {
    expect(await gauge(node.url, 'keel_upkeep_default_partition_rows')).toBe(0);
    expect(await gauge(node.url, 'keel_upkeep_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(Math.floor(startedAt));
  } finally {
    await node.stop();
  }
  // A row whose received_at names no month stays in the default: the next start counts it.
  await schema.query(
    "INSERT INTO events (write_key, message_id, type, timestamp, received_at, payload) VALUES ('wk', 'odd', 'track', 'x', 'not a time', '{}')",
  );
  await node.start();
  try {
    expect(await gauge(node.url, 'keel_upkeep_default_partition_rows')).toBe(1);
  } finally {
    await node.dispose();
  }
});
