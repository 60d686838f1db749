/**
 * The health report in words, for a customer admin: component labels from config (or the
 * metric's own name), values with their units, one sentence per component, the trend and what
 * would raise the score as sentences, and no ids. `<keel-health-badge>` shows these as they are,
 * so the badge carries no table of metric names and every client says the same thing.
 */
import { type HealthReport, type HealthWords, resolveText } from '@keel/sdk-core/engine';
import type { HealthModel } from './score.js';

type Unit = { label: string; value: (v: number) => string; summary: (v: number) => string };

const pct = (v: number) => `${Math.round(v * 100)}%`;
const num = (v: number, d = 2) => String(Math.round(v * 10 ** d) / 10 ** d);
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Each metric the server computes, as an admin reads it. */
const METRIC_WORDS: Record<string, Unit> = {
  features_used_ratio_30d: {
    label: 'Feature adoption',
    value: pct,
    summary: (v) => `${pct(v)} of the features in your plan were used in the last 30 days.`,
  },
  active_users_over_seats: {
    label: 'Seat usage',
    value: pct,
    summary: (v) => `${pct(v)} of your seats had an active user in the last 30 days.`,
  },
  dau_over_wau: {
    label: 'Stickiness',
    value: pct,
    summary: (v) => `On an average day this week, ${pct(v)} of this week's active users were active.`,
  },
  errors_per_session_7d: {
    label: 'Errors',
    value: (v) => `${num(v)} per session`,
    summary: (v) => `Users met ${num(v)} errors per session over the last 7 days.`,
  },
  errors_per_session_1d: {
    label: 'Errors today',
    value: (v) => `${num(v)} per session`,
    summary: (v) => `Users met ${num(v)} errors per session over the last 24 hours.`,
  },
  tickets_per_active_user_30d: {
    label: 'Support tickets',
    value: (v) => `${num(v)} per user`,
    summary: (v) => `${num(v)} support tickets per active user in the last 30 days.`,
  },
  csat_90d: {
    label: 'Satisfaction',
    value: (v) => `${num(v, 1)} out of 5`,
    summary: (v) => `Satisfaction answers averaged ${num(v, 1)} out of 5 over the last 90 days.`,
  },
  nps_90d: {
    label: 'Net Promoter Score',
    value: (v) => num(v, 0),
    summary: (v) => `Your Net Promoter Score over the last 90 days is ${num(v, 0)} (from −100 to 100).`,
  },
  days_since_sponsor_active: {
    label: 'Sponsor engagement',
    value: (v) => plural(Math.round(v), 'day', 'days'),
    summary: (v) => (v < 1 ? 'Your sponsor was active today.' : `Your sponsor was last active ${plural(Math.round(v), 'day', 'days')} ago.`),
  },
  invoices_overdue: {
    label: 'Billing',
    value: (v) => plural(Math.round(v), 'invoice overdue', 'invoices overdue'),
    summary: (v) => (v < 1 ? 'No invoice is overdue.' : `${plural(Math.round(v), 'invoice is', 'invoices are')} overdue.`),
  },
};
/** A metric this table doesn't know (added to the server but not here): its name, its number. */
const fallback = (metric: string): Unit => ({ label: metric, value: (v) => num(v, 3), summary: (v) => `${metric} is ${num(v, 3)}.` });

const BAND = { healthy: 'healthy', watch: 'watch', 'at-risk': 'at risk' } as const;
const MISSING = {
  exclude: 'Not counted in the score until there is data.',
  neutral: 'Counted as half its points until there is data.',
  worst: 'Counted as no points until there is data.',
} as const;

/** `2026-11-24` → `24 Nov` (UTC: days are UTC days in the snapshots). */
const dayOf = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** The words for `report`, scored by `model` (whose components carry the labels). */
export function healthWords(report: HealthReport, model: HealthModel | undefined, locale = 'en'): HealthWords {
  const byId = new Map((model?.components ?? []).map((c) => [c.id, c]));
  const unitOf = (metric: string) => (Object.hasOwn(METRIC_WORDS, metric) ? METRIC_WORDS[metric]! : fallback(metric));
  const labelOf = (id: string, metric: string) => {
    const own = byId.get(id)?.label;
    return own === undefined ? unitOf(metric).label : resolveText(own, locale) || unitOf(metric).label;
  };
  const included = report.components.filter((c) => c.included).reduce((s, c) => s + c.weight, 0);
  const round = (n: number) => Math.round(n * 10) / 10;

  const components = report.components.map((c) => {
    const unit = unitOf(c.metric);
    const points = c.included && included > 0 ? `+${round(c.contribution)} of ${round((c.weight / included) * 100)} points` : 'not counted';
    const value = c.value === null ? 'No data yet' : unit.value(c.value);
    const summary = c.value === null ? MISSING[c.missing ?? 'exclude'] : unit.summary(c.value);
    return { id: c.id, label: labelOf(c.id, c.metric), value, summary, points };
  });

  const h = report.trend.history;
  const wow = report.trend.wow;
  const trend = wow
    ? wow.points === 0
      ? `Unchanged since ${dayOf(wow.against)}.`
      : `${wow.points > 0 ? 'Up' : 'Down'} ${plural(Math.abs(wow.points), 'point', 'points')} since ${dayOf(wow.against)}.`
    : h.length >= 2
      ? `From ${Math.round(h[0]!.score)} on ${dayOf(h[0]!.day)} to ${Math.round(h[h.length - 1]!.score)} on ${dayOf(h[h.length - 1]!.day)}; the weekly change appears after 7 days of scores.`
      : 'The trend appears once there are a few days of scores.';

  const missing = report.components.filter((c) => c.value === null).length;
  const coverage =
    missing === 0
      ? `Based on all ${plural(report.components.length, 'measure', 'measures')}.`
      : `Based on ${report.components.length - missing} of ${plural(report.components.length, 'measure', 'measures')}; ${missing} ${missing === 1 ? 'has' : 'have'} no data yet.`;

  const moves = report.whatWouldMove.map((m) => {
    const c = report.components.find((x) => x.id === m.component);
    const metric = c?.metric ?? m.component;
    const unit = unitOf(metric);
    const now = c?.value === null || c?.value === undefined ? '' : ` (now ${unit.value(c.value)})`;
    return `${labelOf(m.component, metric)} at ${unit.value(m.target)}${now} would add ${plural(round(m.gain), 'point', 'points')}.`;
  });

  return { headline: `Account health ${Math.round(report.score)}: ${BAND[report.band]}`, trend, coverage, components, moves };
}

/** The first language of an Accept-Language header (`fr-CH, fr;q=0.9` → `fr-CH`), or `en`. */
export function localeOf(header: string | string[] | undefined): string {
  const first = (Array.isArray(header) ? header[0] : header)?.slice(0, 200).split(',')[0]?.split(';')[0]?.trim();
  return first && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(first) ? first : 'en';
}
