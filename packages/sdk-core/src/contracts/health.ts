/**
 * Wire contracts of the health API, owned here so the server (ingest), the badge and the config
 * validator share one definition: the metrics and facts the server computes (with what each
 * means), and the health report `GET /v1/tenants/:id/health` answers. Plain data and types: no
 * zod, no DOM, no Node.
 */

/** A metric the server computes per tenant from its stored events (null when it has no data). */
export interface MetricDef {
  name: string;
  description: string;
}

export const METRICS = [
  {
    name: 'features_used_ratio_30d',
    description:
      "distinct `feature.used` features (properties.feature) in the last 30 days ÷ features in the plan (the tenant's group trait `plan_features` list length, or `features_in_plan`); null without a plan size",
  },
  {
    name: 'active_users_over_seats',
    description: "distinct active users (any event) in the last 30 days ÷ the tenant's group trait `seats`; null without seats",
  },
  {
    name: 'dau_over_wau',
    description:
      'stickiness: the mean of daily active users over the 7 UTC calendar days ending today (a day without activity counts 0) ÷ weekly active users (distinct users over those 7 days); null with no active user',
  },
  {
    name: 'errors_per_session_7d',
    description: '`error.raised` events ÷ `user.session` events with properties.action = "start", last 7 days; null without sessions',
  },
  { name: 'errors_per_session_1d', description: 'the same over the last 24 hours' },
  { name: 'tickets_per_active_user_30d', description: '`ticket.created` events in the last 30 days ÷ active users in the last 30 days' },
  { name: 'csat_90d', description: 'mean properties.score of `csat.submitted` events in the last 90 days' },
  { name: 'nps_90d', description: 'NPS of `nps.submitted` properties.score in the last 90 days: % promoters (9–10) − % detractors (0–6), −100..100' },
  {
    name: 'days_since_sponsor_active',
    description:
      'whole days since any sponsor (a user whose identify call, under this tenant, has traits.role = "sponsor") last sent an event; null when the tenant has no sponsor',
  },
  {
    name: 'invoices_overdue',
    description: 'invoices whose latest `billing.invoice` event (by properties.invoice or invoiceId) has properties.status = "overdue"; null without invoices',
  },
] as const satisfies readonly MetricDef[];

export type MetricName = (typeof METRICS)[number]['name'];
export const METRIC_NAMES: readonly MetricName[] = /*#__PURE__*/ METRICS.map((m) => m.name);

/** A fact the server computes per tenant (rules say `{ fact: name, gte: … }`). */
export const FACTS = [
  { name: 'active_users_7d', description: 'distinct users (userId, else anonymousId) with a track event in the last 7 days' },
  { name: 'active_users_30d', description: 'the same over the last 30 days' },
  { name: 'integrations_connected', description: 'integrations whose latest `integration.state` event has properties.state = "connected"' },
  { name: 'datasets_ingested', description: '`feature.used` events with properties.feature = "dataset.ingest", ever' },
  { name: 'events_7d', description: 'events of any type stored for the tenant in the last 7 days' },
  {
    name: 'hours_since_checklist_progress',
    description: "whole hours since the tenant's last checklist progress, or since its first event when it has none (server only: alerts and lifecycle proofs)",
  },
] as const satisfies readonly MetricDef[];

export type FactName = (typeof FACTS)[number]['name'];
export const FACT_NAMES: readonly FactName[] = /*#__PURE__*/ FACTS.map((f) => f.name);

/** Event names the server reads with a meaning (metrics, facts, timeline); other names are the product's own. */
export const KNOWN_EVENTS = [
  { name: 'feature.used', description: 'a feature was used: properties.feature names it' },
  { name: 'error.raised', description: 'an error the user saw' },
  { name: 'user.session', description: 'a session boundary: properties.action = "start" | "end"' },
  { name: 'ticket.created', description: 'a support ticket was opened' },
  { name: 'ticket.resolved', description: 'a support ticket was resolved' },
  { name: 'csat.submitted', description: 'a CSAT answer: properties.score' },
  { name: 'nps.submitted', description: 'an NPS answer: properties.score 0–10' },
  { name: 'billing.invoice', description: 'an invoice changed: properties.invoice, properties.status ("paid", "overdue"…)' },
  { name: 'integration.state', description: 'an integration\'s state: properties.integration, properties.state ("connected"…)' },
  { name: 'plan.changed', description: 'the tenant changed plan (expansion): properties.from, properties.to' },
  { name: 'seats.changed', description: 'the tenant changed its seat count (expansion): properties.from, properties.to' },
  { name: 'deployment.published', description: 'a deployment reached the tenant' },
] as const satisfies readonly MetricDef[];
export const KNOWN_EVENT_NAMES: readonly string[] = /*#__PURE__*/ KNOWN_EVENTS.map((e) => e.name);

export type HealthBand = 'healthy' | 'watch' | 'at-risk';

export interface HealthComponentResult {
  id: string;
  metric: string;
  /** The metric's value, or null when the tenant has no data for it. */
  value: number | null;
  /** How the points were found: `linear 0.2 → 0.8`, `≤ 0.02 → 100`, `otherwise → 0`, `missing → neutral`. */
  rule: string;
  points: number;
  weight: number;
  /** Points × weight / total included weight: what this component adds to the score. */
  contribution: number;
  included: boolean;
  missing?: 'exclude' | 'neutral' | 'worst';
  /** Recent events behind the value, for the explanation. */
  evidence?: { event: string; at: string }[];
}

export interface HealthMove {
  component: string;
  /** The value the metric would need. */
  target: number;
  /** Score points gained if it got there. */
  gain: number;
  description: string;
}

export interface HealthScoreResult {
  score: number;
  band: HealthBand;
  /** Share of the model's weight that had data (1 = every component). */
  coverage: number;
  components: HealthComponentResult[];
  whatWouldMove: HealthMove[];
}

/**
 * The report in words, for a customer admin (what `<keel-health-badge>` shows): written by the
 * server from the config (component labels) and the metric's unit, so the badge ships no table of
 * metric names and every client says the same thing.
 */
export interface HealthWords {
  /** `Account health 72: healthy`. */
  headline: string;
  /** The trend in one sentence: `Up 5 points since 24 Nov.`, or why there is none yet. */
  trend: string;
  /** How much of the model had data, in words. */
  coverage: string;
  components: {
    id: string;
    /** The component's label from config, or the metric's own name (`Feature adoption`). */
    label: string;
    /** The value with its unit (`62%`, `3 days`, `0.4 per session`), or `No data yet`. */
    value: string;
    /** One sentence: what the value means, or how missing data is counted. */
    summary: string;
    /** What it adds to the score: `+18 of 30 points`, or `not counted`. */
    points: string;
  }[];
  /** What would raise the score, one sentence each (`Feature adoption at 80% (now 62%) would add 12 points.`). */
  moves: string[];
}

/** `GET /v1/tenants/:id/health`. */
export interface HealthReport extends HealthScoreResult {
  /** The same report in words, for customer admins (the health endpoint always includes it). */
  words?: HealthWords;
  tenantId: string;
  configVersion: number;
  computedAt: string;
  metrics: Record<string, number | null>;
  trend: {
    /**
     * Score change against the snapshot nearest to 7 days before (6–8 days old), in points and
     * percent; `against` is that snapshot's day. Null when no snapshot is 6–8 days old.
     */
    wow: { points: number; percent: number | null; against: string } | null;
    /** Daily snapshots (written by the sweep), oldest first, up to 30 days. */
    history: { day: string; score: number; band: string }[];
  };
}
