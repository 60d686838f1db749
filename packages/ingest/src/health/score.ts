/**
 * Transparent health scoring: each component maps a metric's value to 0–100 points (linear
 * between two bounds, or steps), weighted; missing data follows the component's declared policy;
 * the score says how much of the model it covers, and why it is what it is.
 */
import type { HealthBand, HealthComponentResult, HealthMove, HealthScoreResult } from '@keel/sdk-core/engine';
import type { KeelConfig } from '@keel/sdk-core/schema';

export type HealthModel = NonNullable<KeelConfig['health']>;
export type Component = HealthModel['components'][number];
/** The report's parts are sdk-core's wire contract (`HealthReport`); these names stay for the server's code. */
export type Band = HealthBand;
export type ComponentResult = HealthComponentResult;
export type Move = HealthMove;
export type HealthScore = HealthScoreResult;

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Points for a value, and the rule that gave them. */
export function pointsFor(c: Component, value: number): { points: number; rule: string } {
  const p = c.points;
  if ('linear' in p) {
    const [zero, full] = p.linear;
    const t = full === zero ? (value >= full ? 1 : 0) : (value - zero) / (full - zero);
    return { points: round(Math.min(1, Math.max(0, t)) * 100), rule: `linear ${zero} → ${full}` };
  }
  for (const [bound, pts] of p.steps) if (value <= bound) return { points: pts, rule: `≤ ${bound} → ${pts}` };
  return { points: p.otherwise, rule: `otherwise → ${p.otherwise}` };
}

export function bandOf(score: number, bands: HealthModel['bands']): Band {
  return score >= bands.healthy ? 'healthy' : score >= bands.watch ? 'watch' : 'at-risk';
}

/** The better values a component could reach, best first: its next step, or the top of its range. */
function nextTargets(c: Component, value: number | null, points: number): { target: number; points: number }[] {
  const p = c.points;
  if ('linear' in p) return points < 100 ? [{ target: p.linear[1], points: 100 }] : [];
  // Steps are "value ≤ bound": better points at lower bounds are reachable by going below them.
  return p.steps
    .filter(([b, pts]) => pts > points && (value === null || b < value))
    .map(([b, pts]) => ({ target: b, points: pts }))
    .sort((a, b) => b.target - a.target); // the nearest bound first
}

export function scoreHealth(
  model: HealthModel,
  metrics: Readonly<Record<string, number | null | undefined>>,
  evidence: Readonly<Record<string, { event: string; at: string }[]>> = {},
): HealthScore {
  const totalWeight = model.components.reduce((s, c) => s + c.weight, 0);
  const parts = model.components.map((c) => {
    const raw = Object.hasOwn(metrics, c.metric) ? metrics[c.metric] : undefined;
    const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
    const policy = c.missing ?? 'exclude';
    if (value === null) {
      const points = policy === 'neutral' ? 50 : 0;
      return { c, value, points, rule: `missing → ${policy}`, included: policy !== 'exclude', missing: policy };
    }
    const { points, rule } = pointsFor(c, value);
    return { c, value, points, rule, included: true, missing: undefined };
  });
  const included = parts.filter((p) => p.included).reduce((s, p) => s + p.c.weight, 0);
  const score = included ? parts.reduce((s, p) => s + (p.included ? (p.points * p.c.weight) / included : 0), 0) : 0;
  const components: ComponentResult[] = parts.map((p) => {
    const r: ComponentResult = {
      id: p.c.id,
      metric: p.c.metric,
      value: p.value,
      rule: p.rule,
      points: p.points,
      weight: p.c.weight,
      contribution: included && p.included ? round((p.points * p.c.weight) / included, 2) : 0,
      included: p.included,
    };
    if (p.missing) r.missing = p.missing;
    const ev = Object.hasOwn(evidence, p.c.metric) ? evidence[p.c.metric] : undefined;
    if (ev?.length) r.evidence = ev;
    return r;
  });
  const whatWouldMove: Move[] = [];
  for (const p of parts) {
    if (p.value === null) continue;
    for (const t of nextTargets(p.c, p.value, p.points)) {
      const denom = included;
      const gain = round(((t.points - p.points) * p.c.weight) / denom);
      if (gain > 0) {
        whatWouldMove.push({
          component: p.c.id,
          target: t.target,
          gain,
          description: `${p.c.metric} ${'linear' in p.c.points ? 'reaching' : 'at or below'} ${t.target} (now ${round(p.value, 3)}): +${gain} points`,
        });
        break; // the nearest improvement per component
      }
    }
  }
  whatWouldMove.sort((a, b) => b.gain - a.gain);
  const s = round(score);
  return { score: s, band: bandOf(s, model.bands), coverage: totalWeight ? round(included / totalWeight, 3) : 0, components, whatWouldMove };
}
