// The health report in words (what the badge shows a customer admin): labels from config or the
// metric's name, values with units, sentences for the trend, the missing data and the moves.
import { describe, expect, test } from 'vitest';
import type { HealthReport } from '@keel/sdk-core/engine';
import { scoreHealth, type HealthModel } from './score.js';
import { healthWords, localeOf } from './words.js';

const model: HealthModel = {
  bands: { healthy: 70, watch: 40 },
  weights: 'sum-to-100',
  components: [
    {
      id: 'adoption',
      label: { en: 'Features in use', fr: 'Fonctionnalités utilisées' },
      metric: 'features_used_ratio_30d',
      weight: 50,
      points: { linear: [0.2, 0.8] },
    },
    { id: 'errors', metric: 'errors_per_session_7d', weight: 30, points: { steps: [[0.1, 100]], otherwise: 0 } },
    { id: 'sponsor', metric: 'days_since_sponsor_active', weight: 20, points: { linear: [30, 0] }, missing: 'neutral' },
  ],
};
const reportOf = (values: Record<string, number | null>, trend: HealthReport['trend']): HealthReport => ({
  tenantId: 'acme',
  configVersion: 1,
  computedAt: '2026-12-02T00:00:00Z',
  metrics: values,
  ...scoreHealth(model, values, {}),
  trend,
});

describe('healthWords', () => {
  test('labels, units, one sentence each, points in words; no ids or metric names', () => {
    const r = reportOf(
      { features_used_ratio_30d: 0.5, errors_per_session_7d: 0.25, days_since_sponsor_active: null },
      { wow: { points: -6, percent: -12, against: '2026-11-25' }, history: [] },
    );
    const w = healthWords(r, model);
    expect(w.headline).toBe(`Account health ${Math.round(r.score)}: ${r.band === 'at-risk' ? 'at risk' : r.band}`);
    expect(w.trend).toBe('Down 6 points since 25 Nov.');
    expect(w.coverage).toBe('Based on 2 of 3 measures; 1 has no data yet.');
    expect(w.components.map(({ label, value, summary }) => [label, value, summary])).toEqual([
      ['Features in use', '50%', '50% of the features in your plan were used in the last 30 days.'],
      ['Errors', '0.25 per session', 'Users met 0.25 errors per session over the last 7 days.'],
      ['Sponsor engagement', 'No data yet', 'Counted as half its points until there is data.'],
    ]);
    expect(w.components[0]!.points).toBe(`+${r.components[0]!.contribution} of 50 points`);
    expect(w.moves[0]).toMatch(/^(Features in use at 80% \(now 50%\)|Errors at 0\.1 per session \(now 0\.25 per session\)) would add [\d.]+ points\.$/);
    const all = JSON.stringify(w);
    for (const raw of ['features_used_ratio_30d', 'errors_per_session_7d', 'linear', 'otherwise', '×']) expect(all).not.toContain(raw);
  });

  test('labels follow the locale; an unknown metric falls back to its name', () => {
    const r = reportOf({ features_used_ratio_30d: 1, errors_per_session_7d: 0, days_since_sponsor_active: 0 }, { wow: null, history: [] });
    expect(healthWords(r, model, 'fr-CH').components[0]!.label).toBe('Fonctionnalités utilisées');
    expect(healthWords(r, model, 'de').components[0]!.label).toBe('Features in use');
    expect(healthWords(r, model).components[2]!.summary).toBe('Your sponsor was active today.');
    const odd = { ...r, components: [{ ...r.components[0]!, id: 'x', metric: 'new_metric' }] };
    expect(healthWords(odd, undefined).components[0]).toMatchObject({ label: 'new_metric', value: '1' });
  });

  test('the trend says why there is none yet, once', () => {
    const values = { features_used_ratio_30d: 0.5, errors_per_session_7d: 0, days_since_sponsor_active: 3 };
    expect(healthWords(reportOf(values, { wow: null, history: [] }), model).trend).toBe('The trend appears once there are a few days of scores.');
    const history = [
      { day: '2026-11-29', score: 50, band: 'watch' },
      { day: '2026-12-01', score: 61, band: 'watch' },
    ];
    expect(healthWords(reportOf(values, { wow: null, history }), model).trend).toBe(
      'From 50 on 29 Nov to 61 on 1 Dec; the weekly change appears after 7 days of scores.',
    );
    expect(healthWords(reportOf(values, { wow: { points: 0, percent: 0, against: '2026-11-25' }, history }), model).trend).toBe('Unchanged since 25 Nov.');
  });

  test('Accept-Language: the first tag, or en for anything else', () => {
    expect(localeOf('fr-CH, fr;q=0.9, en;q=0.8')).toBe('fr-CH');
    expect(localeOf(undefined)).toBe('en');
    expect(localeOf('*')).toBe('en');
    expect(localeOf('"><script>')).toBe('en');
    expect(localeOf(['de', 'fr'])).toBe('de');
    expect(localeOf('x'.repeat(10_000))).toBe('en');
  });
});
