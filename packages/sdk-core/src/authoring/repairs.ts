/**
 * Error repairs (`errors:`) as the browser receives them: each one a nudge, `repair-<id>`, whose
 * `when` is its error within its window. The engine then chooses it under the one fatigue budget,
 * the debug overlay explains it, and its exposure and actions are the nudge events every other
 * surface sends (decision 0006): the browser needs no code, and no bytes, of its own for repairs.
 * The stored document keeps `errors:` as authored; only what `GET /v1/config` serves is compiled.
 */
import type { KeelConfig } from '../schema/document.js';

type Nudge = NonNullable<KeelConfig['nudges']>[number];
type Repair = NonNullable<KeelConfig['errors']>[number];

export const REPAIR_PREFIX = 'repair-';
const DEFAULTS = { within: '10m', priority: 100, cap: { times: 3, per: '1d' } } as const;

/** The nudge a repair is served as. */
export function repairNudge(r: Repair): Nudge {
  const n: Nudge = {
    id: `${REPAIR_PREFIX}${r.id}`,
    kind: r.anchor ? 'tooltip' : 'banner',
    body: r.body,
    when: { event: r.event ?? 'error.raised', where: r.match, within: r.within ?? DEFAULTS.within },
    priority: r.priority ?? DEFAULTS.priority,
    cap: r.cap ?? DEFAULTS.cap,
  };
  if (r.anchor) n.anchor = r.anchor;
  if (r.placement) n.placement = r.placement;
  if (r.title !== undefined) n.title = r.title;
  if (r.actions) n.actions = r.actions;
  if (r.audience) n.audience = r.audience;
  return n;
}

/** The document as browsers get it: its repairs in place of `errors:`, after its nudges. The same object when it has none. */
export function servedConfig(c: KeelConfig): KeelConfig {
  if (c.errors === undefined) return c;
  const { errors, ...rest } = c;
  return { ...rest, nudges: [...(c.nudges ?? []), ...errors.map(repairNudge)] };
}
