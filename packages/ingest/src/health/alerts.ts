/**
 * Alerts from the published health model: each rule is evaluated per tenant; a firing alert is
 * recorded (it lands on the tenant's timeline) and delivered to every webhook, signed with HMAC,
 * at most once per cooldown for the same tenant and alert.
 */
import { createHmac } from 'node:crypto';
import { evaluate, type Rule } from '@keel/sdk-core/engine';
import type Database from 'better-sqlite3';
import type { ConfigStore } from '../store/state-types.js';
import type { LifecycleService } from './lifecycle.js';
import { tenantMetricsQuery } from './metrics.js';
import type { HealthModel } from './score.js';
import type { HealthService } from './service.js';

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
  deliveries: { url: string; status: number | 'error' }[];
}

export interface AlertService {
  /** Evaluates every alert rule for the tenant now; returns the alerts that fired (after cooldown). */
  evaluate(tenantId: string, now?: number): Promise<FiredAlert[]>;
  list(tenantId: string, limit?: number): Promise<Omit<FiredAlert, 'deliveries'>[]>;
}

type AlertDef = NonNullable<HealthModel['alerts']>[number];

/** `t=…,v1=…` for a body, as receivers recompute it to verify a delivery. */
export function signWebhook(body: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!;
};

export function alertService(db: Database.Database, config: ConfigStore, health: HealthService, lifecycle: LifecycleService, o: AlertOptions = {}): AlertService {
  const cooldown = o.cooldownMs ?? 24 * 3_600_000;
  const doFetch = o.fetch ?? fetch;
  const metricsOf = tenantMetricsQuery(db);
  const lastFired = db.prepare('SELECT fired_at AS firedAt FROM alerts WHERE tenant_id = ? AND alert = ? ORDER BY id DESC LIMIT 1');
  const insert = db.prepare('INSERT INTO alerts (tenant_id, alert, fired_at, notify, detail) VALUES (?, ?, ?, ?, ?)');
  const list = db.prepare('SELECT id, tenant_id AS tenantId, alert, fired_at AS firedAt, notify, detail FROM alerts WHERE tenant_id = ? ORDER BY id DESC LIMIT ?');
  const tenants = db.prepare('SELECT DISTINCT group_id AS id FROM events WHERE group_id IS NOT NULL');

  /** The cohort's p95 of a metric: every tenant with a value. */
  const cohort = (metric: string, now: number) => {
    const values = (tenants.all() as { id: string }[])
      .map((t) => metricsOf(t.id, now).values[metric as keyof ReturnType<typeof metricsOf>['values']])
      .filter((v): v is number => typeof v === 'number');
    return values.length ? p95(values) : undefined;
  };

  async function condition(a: AlertDef, tenantId: string, now: number): Promise<Record<string, unknown> | undefined> {
    const w = a.when as Record<string, unknown>;
    if ('score_change_wow' in w) {
      const lte = (w.score_change_wow as { lte: number | string }).lte;
      const limit = typeof lte === 'string' ? Number.parseFloat(lte) : lte;
      const r = await health.report(tenantId, now);
      const pct = r?.trend.wow?.percent;
      return typeof pct === 'number' && pct <= limit ? { score: r!.score, changePercent: pct, limitPercent: limit } : undefined;
    }
    if ('above' in w) {
      const metric = w.metric as string;
      const value = metricsOf(tenantId, now).values[metric as keyof ReturnType<typeof metricsOf>['values']];
      const bound = cohort(metric, now);
      return typeof value === 'number' && bound !== undefined && value > bound ? { metric, value, cohortP95: bound } : undefined;
    }
    const ctx = await lifecycle.context(tenantId, now);
    if (!ctx) return undefined;
    const e = evaluate(a.when as Rule, ctx);
    return e.ok ? { explanation: e } : undefined;
  }

  async function deliver(fired: Omit<FiredAlert, 'deliveries'>): Promise<FiredAlert['deliveries']> {
    const out: FiredAlert['deliveries'] = [];
    for (const hook of o.webhooks ?? []) {
      const body = JSON.stringify(hook.format === 'slack'
        ? { text: `:rotating_light: Keel alert *${fired.alert}* for *${fired.tenantId}* (${fired.notify.join(', ')}): ${JSON.stringify(fired.detail).slice(0, 500)}` }
        : { type: 'keel.alert', id: fired.id, alert: fired.alert, tenant: fired.tenantId, firedAt: fired.firedAt, notify: fired.notify, detail: fired.detail });
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
    async evaluate(tenantId, now = Date.now()) {
      const latest = await config.latest();
      const defs = latest ? ((JSON.parse(latest.document) as { health?: HealthModel }).health?.alerts ?? []) : [];
      const fired: FiredAlert[] = [];
      for (const a of defs) {
        const detail = await condition(a, tenantId, now);
        if (!detail) continue;
        const prev = lastFired.get(tenantId, a.id) as { firedAt: string } | undefined;
        if (prev && now - Date.parse(prev.firedAt) < cooldown) continue; // de-duplicated within the cooldown
        const firedAt = new Date(now).toISOString();
        const { lastInsertRowid } = insert.run(tenantId, a.id, firedAt, JSON.stringify(a.notify), JSON.stringify(detail));
        const base = { id: `alert-${lastInsertRowid}`, tenantId, alert: a.id, firedAt, notify: a.notify, detail };
        fired.push({ ...base, deliveries: await deliver(base) });
      }
      return fired;
    },
    async list(tenantId, limit = 50) {
      return (list.all(tenantId, limit) as { id: number; tenantId: string; alert: string; firedAt: string; notify: string; detail: string }[]).map((r) => ({
        id: `alert-${r.id}`, tenantId: r.tenantId, alert: r.alert, firedAt: r.firedAt, notify: JSON.parse(r.notify) as string[], detail: JSON.parse(r.detail) as Record<string, unknown>,
      }));
    },
  };
}
