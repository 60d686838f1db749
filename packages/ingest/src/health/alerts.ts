/**
 * Alerts from the published health model: each rule is evaluated per tenant; a firing alert is
 * recorded (it lands on the tenant's timeline) and delivered to every webhook, signed with HMAC,
 * at most once per cooldown for the same tenant and alert, however many nodes evaluate the tenant
 * (see `claim`). Cohort rules compare a tenant with the other tenants; built-in rules
 * (BUILTIN_ALERTS) exist without config.
 */
import { createHmac } from 'node:crypto';
import { evaluate, type Rule } from '@keel/sdk-core/engine';
import type { RuleContext } from '@keel/sdk-core/engine';
import type { KeelDb } from '../store/db.js';
import type { ConfigStore } from '../store/state-types.js';
import { configCache } from './config-cache.js';
import type { LifecycleReport, LifecycleService } from './lifecycle.js';
import type { MetricName, TenantMetrics } from './metrics.js';
import type { HealthModel } from './score.js';
import type { HealthService, TenantHealth } from './service.js';

export interface Webhook {
  url: string;
  /** `json` (Keel's payload) or `slack` (an incoming-webhook `{ text }` body). */
  format?: 'json' | 'slack';
}

export interface AlertOptions {
  webhooks?: readonly Webhook[];
  /** Signs every delivery: header `keel-signature: t=<unix s>,v1=<hex hmac-sha256 of "t.body">`. */
  webhookSecret?: string;
  /** The same alert for the same tenant fires at most once per cooldown. Default 24 h. */
  cooldownMs?: number;
  fetch?: typeof fetch;
}

export interface FiredAlert {
  id: string;
  tenantId: string;
  alert: string;
  firedAt: string;
  notify: readonly string[];
  /** What made it fire: the rule's explanation, or the compared values. */
  detail: Record<string, unknown>;
  /** The tenant's lifecycle state when it fired, and the actions that state allows (null: no lifecycle). */
  lifecycle?: { state: string; owner: string | null; allows: readonly string[] | null } | null;
  deliveries: { url: string; status: number | 'error' }[];
}

export interface AlertService {
  /**
   * Evaluates every alert rule for the tenant now; returns the alerts that fired (after cooldown).
   * `pass`: what the caller (the sweep) already computed for this tenant, reused.
   */
  evaluate(tenantId: string, now?: number, pass?: AlertPass): Promise<FiredAlert[]>;
  /** Every rule's verdict for the tenant now, firing or not, with why: nothing is recorded or sent. */
  explain(tenantId: string, now?: number, pass?: AlertPass): Promise<AlertVerdict[]>;
  list(tenantId: string, limit?: number): Promise<Omit<FiredAlert, 'deliveries'>[]>;
}

/** What one sweep step already knows about a tenant. */
export interface AlertPass {
  health?: TenantHealth;
  context?: RuleContext;
  lifecycle?: LifecycleReport | undefined;
  /** Every tenant's metric values (cohort rules compare against the others). */
  cohort?: ReadonlyMap<string, TenantMetrics['values']>;
}

export interface AlertVerdict {
  alert: string;
  firing: boolean;
  detail: Record<string, unknown>;
  /** True for the rules Keel has without config (see BUILTIN_ALERTS). */
  builtin?: boolean;
}

type AlertDef = NonNullable<HealthModel['alerts']>[number];

/**
 * Alerts every health model has without config (a config alert with the same id replaces one;
 * `health.builtin_alerts: false` turns them off). sponsor-disengaged: no sponsor activity for 30 days.
 */
export const BUILTIN_ALERTS: readonly AlertDef[] = [{ id: 'sponsor-disengaged', when: { metric: 'days_since_sponsor_active', gte: 30 }, notify: ['csm'] }];
/** Below this many other tenants with a value, a cohort rule uses its fallback (or says it can't fire). */
export const DEFAULT_MIN_COHORT = 5;

/** `t=…,v1=…` for a body, as receivers recompute it to verify a delivery. */
export function signWebhook(body: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Every tenant's values of one metric, sorted, per cohort map: sorted once per pass, not once per tenant. */
const sortedCache = new WeakMap<ReadonlyMap<string, TenantMetrics['values']>, Map<MetricName, { values: number[]; index: Map<string, number> }>>();
function sortedOf(cohort: ReadonlyMap<string, TenantMetrics['values']>, metric: MetricName) {
  let byMetric = sortedCache.get(cohort);
  if (!byMetric) sortedCache.set(cohort, (byMetric = new Map()));
  let s = byMetric.get(metric);
  if (!s) {
    const index = new Map<string, number>();
    for (const [t, vs] of cohort) if (typeof vs[metric] === 'number') index.set(t, vs[metric]);
    s = { values: [...index.values()].sort((a, b) => a - b), index };
    byMetric.set(metric, s);
  }
  return s;
}
/** First index of `x` in the sorted `a`. */
const lowerBound = (a: readonly number[], x: number) => {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
/**
 * The p95 of the other tenants' values (nearest rank), and how many they are: the sorted values
 * of all tenants with the tenant's own value taken out by index arithmetic (no copy, no re-sort).
 */
export function cohortP95(cohort: ReadonlyMap<string, TenantMetrics['values']>, metric: MetricName, tenantId: string): { n: number; p95: number | undefined } {
  const { values, index } = sortedOf(cohort, metric);
  const own = index.get(tenantId);
  const skip = own === undefined ? -1 : lowerBound(values, own);
  const n = values.length - (skip >= 0 ? 1 : 0);
  if (!n) return { n, p95: undefined };
  const k = Math.min(n - 1, Math.ceil(0.95 * n) - 1);
  return { n, p95: values[skip >= 0 && k >= skip ? k + 1 : k] };
}

export function alertService(k: KeelDb, config: ConfigStore, health: HealthService, lifecycle: LifecycleService, o: AlertOptions = {}): AlertService {
  const cooldown = o.cooldownMs ?? 24 * 3_600_000;
  const doFetch = o.fetch ?? fetch;
  const cache = configCache(config);

  /**
   * Records the firing if the alert is out of its cooldown for the tenant, and returns its id;
   * undefined when it is not. The check and the write are one statement on the tenant's
   * alert_cooldowns row: inserted when it never fired, else updated only if the last firing is a
   * cooldown old. On PostgreSQL a second node's upsert of the same row waits for the first's
   * transaction and then finds it fresh (nothing returned); on SQLite writers take turns. Only
   * the caller that got a row back records the alert and delivers it.
   */
  async function claim(tenantId: string, alert: string, now: number, notify: readonly string[], detail: Record<string, unknown>): Promise<number | undefined> {
    const firedAt = new Date(now).toISOString();
    const due = new Date(now - cooldown).toISOString();
    return k.db.transaction().execute(async (trx) => {
      const won = await trx
        .insertInto('alert_cooldowns')
        .values({ tenant_id: tenantId, alert, fired_at: firedAt })
        .onConflict((c) => c.columns(['tenant_id', 'alert']).doUpdateSet({ fired_at: firedAt }).where('alert_cooldowns.fired_at', '<=', due))
        .returning('fired_at')
        .executeTakeFirst();
      if (!won) return undefined;
      const { id } = await trx
        .insertInto('alerts')
        .values({ tenant_id: tenantId, alert, fired_at: firedAt, notify: JSON.stringify(notify), detail: JSON.stringify(detail) })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(id);
    });
  }

  const defsOf = (model: HealthModel | undefined): { def: AlertDef; builtin: boolean }[] => {
    if (!model) return [];
    const own = (model.alerts ?? []).map((def) => ({ def, builtin: false }));
    if (model.builtin_alerts === false) return own;
    return [...own, ...BUILTIN_ALERTS.filter((b) => !own.some((x) => x.def.id === b.id)).map((def) => ({ def, builtin: true }))];
  };

  /** The rule's verdict: whether it holds now, and the values that say why. */
  async function condition(
    a: AlertDef,
    tenantId: string,
    now: number,
    p: Required<Pick<AlertPass, 'health'>> & AlertPass,
    cohortOf: () => Promise<ReadonlyMap<string, TenantMetrics['values']>>,
  ): Promise<{ firing: boolean; detail: Record<string, unknown> }> {
    const w = a.when as Record<string, unknown>;
    if ('score_change_wow' in w) {
      const lte = (w.score_change_wow as { lte: number | string }).lte;
      const limit = typeof lte === 'string' ? Number.parseFloat(lte) : lte;
      const r = p.health.report;
      const wow = r?.trend.wow;
      if (!r || !wow) return { firing: false, detail: { explanation: 'no snapshot 6–8 days old to compare with' } };
      const pct = wow.percent;
      return { firing: typeof pct === 'number' && pct <= limit, detail: { score: r.score, changePercent: pct, limitPercent: limit, against: wow.against } };
    }
    if ('above' in w) {
      const metric = w.metric as MetricName;
      const value = p.health.metrics.values[metric];
      const min = (w.min_cohort as number | undefined) ?? DEFAULT_MIN_COHORT;
      const fallback = w.fallback as number | undefined;
      // The cohort is every other tenant with a value: a tenant is never compared with itself.
      const { n, p95: bound } = cohortP95(await cohortOf(), metric, tenantId);
      if (typeof value !== 'number')
        return { firing: false, detail: { metric, value: null, cohortSize: n, explanation: `no ${metric} value for this tenant` } };
      if (n < min) {
        if (fallback === undefined) {
          return {
            firing: false,
            detail: {
              metric,
              value,
              cohortSize: n,
              explanation: `cohort too small (n=${n}, at least ${min} needed) and no fallback: add fallback to the alert`,
            },
          };
        }
        return {
          firing: value > fallback,
          detail: { metric, value, fallback, cohortSize: n, explanation: `cohort too small (n=${n}): compared with the fallback ${fallback}` },
        };
      }
      return { firing: bound !== undefined && value > bound, detail: { metric, value, cohortP95: bound, cohortSize: n } };
    }
    const ctx = p.context ?? (await lifecycle.context(tenantId, now, p.health));
    if (!ctx) return { firing: false, detail: { explanation: 'no published config' } };
    const state = p.lifecycle?.state;
    const e = evaluate(a.when as Rule, state && ctx.lifecycle === undefined ? { ...ctx, lifecycle: state } : ctx);
    return { firing: e.ok, detail: { explanation: e } };
  }

  async function verdicts(tenantId: string, now: number, pass: AlertPass = {}) {
    const current = pass.health?.config ?? (await cache.current());
    const defs = defsOf(current?.config.health);
    if (!defs.length) return [];
    const p = { ...pass, health: pass.health ?? (await health.tenantHealth(tenantId, now)) };
    let cohort = pass.cohort;
    const cohortOf = async () => (cohort ??= await health.allMetrics(now));
    const out: (AlertVerdict & { def: AlertDef })[] = [];
    for (const { def, builtin } of defs) {
      const v = await condition(def, tenantId, now, p, cohortOf);
      out.push({ alert: def.id, def, ...v, ...(builtin ? { builtin } : {}) });
    }
    return out;
  }

  async function deliver(fired: Omit<FiredAlert, 'deliveries'>): Promise<FiredAlert['deliveries']> {
    const lc = fired.lifecycle;
    const out: FiredAlert['deliveries'] = [];
    for (const hook of o.webhooks ?? []) {
      const body = JSON.stringify(
        hook.format === 'slack'
          ? {
              text: `:rotating_light: Keel alert *${fired.alert}* for *${fired.tenantId}* (${fired.notify.join(', ')})${lc ? ` [lifecycle: ${lc.state}; allows: ${lc.allows?.join(', ') ?? 'anything'}]` : ''}: ${JSON.stringify(fired.detail).slice(0, 500)}`,
            }
          : {
              type: 'keel.alert',
              id: fired.id,
              alert: fired.alert,
              tenant: fired.tenantId,
              firedAt: fired.firedAt,
              notify: fired.notify,
              detail: fired.detail,
              lifecycle: lc,
            },
      );
      const headers: Record<string, string> = { 'content-type': 'application/json', 'keel-event-id': fired.id };
      if (o.webhookSecret) headers['keel-signature'] = signWebhook(body, o.webhookSecret);
      let status: number | 'error' = 'error';
      for (let attempt = 0; attempt < 3 && (status === 'error' || status >= 500); attempt++) {
        if (attempt) await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        try {
          status = (await doFetch(hook.url, { method: 'POST', headers, body })).status;
        } catch {
          status = 'error';
        }
      }
      out.push({ url: hook.url, status });
    }
    return out;
  }

  return {
    async evaluate(tenantId, now = Date.now(), pass = {}) {
      const fired: FiredAlert[] = [];
      let lc: FiredAlert['lifecycle'] | undefined;
      for (const v of await verdicts(tenantId, now, pass)) {
        if (!v.firing) continue;
        const id = await claim(tenantId, v.alert, now, v.def.notify, v.detail);
        if (id === undefined) continue; // de-duplicated within the cooldown (here or on another node)
        const firedAt = new Date(now).toISOString();
        // The tenant's lifecycle state and what it allows: a playbook receiver knows what it may do.
        if (lc === undefined) {
          const r = pass.lifecycle ?? (await lifecycle.state(tenantId));
          lc = r ? { state: r.state, owner: r.owner, allows: r.allows } : null;
        }
        const base = { id: `alert-${id}`, tenantId, alert: v.alert, firedAt, notify: v.def.notify, detail: v.detail, lifecycle: lc };
        fired.push({ ...base, deliveries: await deliver(base) });
      }
      return fired;
    },
    async explain(tenantId, now = Date.now(), pass = {}) {
      return (await verdicts(tenantId, now, pass)).map(({ def: _d, ...v }) => v);
    },
    async list(tenantId, limit = 50) {
      const rows = await k.db
        .selectFrom('alerts')
        .select(['id', 'tenant_id as tenantId', 'alert', 'fired_at as firedAt', 'notify', 'detail'])
        .where('tenant_id', '=', tenantId)
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        id: `alert-${r.id}`,
        tenantId: r.tenantId,
        alert: r.alert,
        firedAt: r.firedAt,
        notify: JSON.parse(r.notify) as string[],
        detail: JSON.parse(r.detail) as Record<string, unknown>,
      }));
    },
  };
}
