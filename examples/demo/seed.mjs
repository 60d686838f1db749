// The demo's seeded history: a few tenants of Acme Analytics, 30 days of sessions, feature use,
// errors and tickets each, deterministic (a seeded generator) with stable message ids, so a
// restart on the same day sends the same messages and the store keeps one of each.

/** The features in Acme's plans (each tenant's `plan_features` trait): adoption is measured against it. */
export const FEATURES = ['dataset.ingest', 'reports.create', 'reports.schedule', 'dashboard.view', 'team.invite', 'alerts.create', 'export.csv', 'sql.editor'];

/**
 * Each tenant's shape: users, how many of the plan's features they use, errors and tickets a day.
 * `trend` moves usage over the 30 days (positive: growing), so the badge's sparkline has a slope.
 */
export const SEED_TENANTS = [
  { id: 'acme-corp', name: 'Acme Corp', plan: 'pro', seats: 25, users: 9, features: 4, errors: 0.5, tickets: 0.15, trend: 0.5 },
  { id: 'globex', name: 'Globex', plan: 'pro', seats: 40, users: 5, features: 2, errors: 1.5, tickets: 0.5, trend: -0.5 },
  { id: 'initech', name: 'Initech', plan: 'enterprise', seats: 15, users: 12, features: 7, errors: 0.1, tickets: 0.05, trend: 0.2 },
  { id: 'umbrella', name: 'Umbrella', plan: 'starter', seats: 10, users: 6, features: 5, errors: 0.4, tickets: 0.2, trend: -0.3 },
];

const DAY = 86_400_000;

/** A small seeded generator (mulberry32): the same seed, the same history. */
function random(seed) {
  let a = 0;
  for (const c of seed) a = (Math.imul(a ^ c.charCodeAt(0), 2654435761) + 1) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Segment-style messages for the 30 whole UTC days before `now`'s day (today is left to real
 * use). Ids are `seed:<tenant>:<day>:<n>`, so they are the same for every run on one day.
 */
export function seedMessages(now) {
  const out = [];
  const today = Math.floor(now / DAY) * DAY;
  for (const t of SEED_TENANTS) {
    const first = new Date(today - 30 * DAY).toISOString();
    // The tenant's traits, as of the start of the history (each day's id is fixed, so one per run day is stored).
    out.push({
      type: 'group',
      messageId: `seed:${t.id}:group:${first.slice(0, 10)}`,
      userId: `${t.id}-owner`,
      groupId: t.id,
      timestamp: first,
      traits: { name: t.name, plan: t.plan, seats: t.seats, plan_features: FEATURES },
    });
    for (let d = 30; d >= 1; d--) {
      const start = today - d * DAY;
      const day = new Date(start).toISOString().slice(0, 10);
      const rnd = random(`${t.id}:${day}`);
      // Progress through the 30 days, 0 → 1; the trend scales the day's activity around 1.
      const scale = Math.max(0.2, 1 + t.trend * ((30 - d) / 30 - 0.5));
      let n = 0;
      const msg = (user, event, properties, hour) =>
        out.push({
          type: 'track',
          messageId: `seed:${t.id}:${day}:${n++}`,
          userId: `${t.id}-u${user}`,
          event,
          properties,
          timestamp: new Date(start + hour * 3_600_000 + Math.floor(rnd() * 3_000_000)).toISOString(),
          context: { groupId: t.id },
        });
      const weekend = new Date(start).getUTCDay() % 6 === 0;
      const active = Math.max(1, Math.round(t.users * scale * (weekend ? 0.3 : 1) * (0.7 + rnd() * 0.3)));
      for (let u = 0; u < active; u++) {
        const hour = 8 + Math.floor(rnd() * 9);
        msg(u, 'user.session', { action: 'start' }, hour);
        const uses = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < uses; k++)
          msg(u, 'feature.used', { feature: FEATURES[Math.floor(rnd() * Math.min(FEATURES.length, Math.round(t.features * scale)))] }, hour);
        if (rnd() < t.errors / scale) msg(u, 'error.raised', { area: 'imports', message: 'CSV header missing' }, hour);
        if (rnd() < t.tickets / scale) msg(u, 'ticket.created', { subject: 'Import failed' }, hour);
      }
    }
  }
  return out;
}
