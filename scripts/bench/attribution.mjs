// Ingest throughput with tenant attribution vs without, in the same run: Segment-style messages
// (no context.groupId, so every one is attributed through the identity table), each user's
// `group` call sent first. "Without": the same server and store with attribution off (each
// message keeps its own claim: none here). The variants alternate for several rounds, the order
// flipped every round (off, on | on, off | …), so drift on this shared machine hits both alike;
// each round's ratio compares two runs made back to back, and the median round counts.
import { randomUUID } from 'node:crypto';
import { httpIngest, realisticEvent, startServe, WRITE_KEY } from './ingest.mjs';

const script = new URL('./serve-variant.mjs', import.meta.url).pathname;
const serveWith = (attribution) => (dataDir) => {
  const prof = process.env.KEEL_BENCH_PROFILE;
  return startServe(dataDir, script, [dataDir, WRITE_KEY, attribution ? 'on' : 'off'], prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []);
};

/** The median of numbers (the mean of the middle two for an even count). */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function measureAttribution({ batches: count, clients, rounds = 5, log = () => {} }) {
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
  const ratios = [];
  const cpuRatios = []; // the server's CPU per event, with / without: what attribution costs, less swayed by other load than throughput
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? [false, true] : [true, false];
    const pair = {};
    for (const attribution of order) {
      const r = await httpIngest(batches, { clients, serve: serveWith(attribution), seed });
      const v = attribution ? 'on' : 'off';
      runs[v].push(r);
      pair[v] = r;
      log(
        `  round ${round}: ${attribution ? 'with' : 'without'} attribution: ${Math.round(r.eventsPerSec).toLocaleString('en-US')} events/s, p99 ${r.p99.toFixed(1)} ms${r.failed ? `, ${r.failed} failed` : ''}`,
      );
    }
    ratios.push(pair.on.eventsPerSec / pair.off.eventsPerSec);
    if (pair.on.cpuMsPerKEvents && pair.off.cpuMsPerKEvents) cpuRatios.push(pair.on.cpuMsPerKEvents / pair.off.cpuMsPerKEvents);
    log(
      `  round ${round}: throughput with / without ${(ratios.at(-1) * 100).toFixed(1)}%${cpuRatios.length === round ? `; server CPU per event with / without ${(cpuRatios.at(-1) * 100).toFixed(1)}% (${pair.on.cpuMsPerKEvents.toFixed(1)} / ${pair.off.cpuMsPerKEvents.toFixed(1)} ms per 1,000 events)` : ''}`,
    );
  }
  // The run of median throughput of each variant (with its latencies), and the median round's ratio.
  const mid = (rs) => [...rs].sort((a, b) => a.eventsPerSec - b.eventsPerSec)[(rs.length - 1) >> 1];
  return {
    on: mid(runs.on),
    off: mid(runs.off),
    ratio: median(ratios),
    ratios,
    spread: { min: Math.min(...ratios), max: Math.max(...ratios) },
    cpuRatio: cpuRatios.length ? median(cpuRatios) : undefined,
    cpuRatios,
    runs,
  };
}
