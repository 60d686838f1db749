// Ingest throughput with tenant attribution vs without, in the same run: Segment-style messages
// (no context.groupId, so every one is attributed through the identity table), each user's
// `group` call sent first. "Without": the same server and store with attribution off (each
// message keeps its own claim: none here). Runs alternate (off, on, off, on); the better of each
// pair counts, which damps this machine's noise.
import { randomUUID } from 'node:crypto';
import { httpIngest, realisticEvent, startServe, WRITE_KEY } from './ingest.mjs';

const script = new URL('./serve-variant.mjs', import.meta.url).pathname;
const serveWith = (attribution) => (dataDir) => startServe(dataDir, script, [dataDir, WRITE_KEY, attribution ? 'on' : 'off']);

export async function measureAttribution({ batches: count, clients, log = () => {} }) {
  const sentAt = new Date().toISOString();
  let i = 0;
  const batches = Array.from({ length: count }, () => {
    const batch = Array.from({ length: 100 }, () => {
      const e = realisticEvent(i++, sentAt);
      delete e.context.groupId;
      e.anonymousId = `anon-${e.userId}-${(i >> 8) % 3}`; // each user on up to three devices
      return e;
    });
    return { batch, body: Buffer.from(JSON.stringify({ batch, sentAt })) };
  });
  const users = 311; // realisticEvent's userIds: user-0 … user-310
  const groups = Array.from({ length: users }, (_, u) => ({
    type: 'group',
    messageId: randomUUID(),
    userId: `user-${u}`,
    groupId: `tenant-${u % 53}`,
    traits: { plan: 'pro' },
    timestamp: new Date(Date.parse(sentAt) - 86_400_000).toISOString(),
  }));
  const seed = Buffer.from(JSON.stringify({ batch: groups, sentAt }));
  const runs = { off: [], on: [] };
  for (const attribution of [false, true, false, true]) {
    const r = await httpIngest(batches, { clients, serve: serveWith(attribution), seed });
    runs[attribution ? 'on' : 'off'].push(r);
    log(
      `  ${attribution ? 'with' : 'without'} attribution: ${Math.round(r.eventsPerSec).toLocaleString('en-US')} events/s, p99 ${r.p99.toFixed(1)} ms${r.failed ? `, ${r.failed} failed` : ''}`,
    );
  }
  const best = (rs) => rs.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
  const on = best(runs.on);
  const off = best(runs.off);
  return { on, off, ratio: on.eventsPerSec / off.eventsPerSec };
}
