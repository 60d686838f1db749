/**
 * The config document a CS team authors (YAML or JSON): checklists, nudges, recipes, health,
 * lifecycle and status, with one rule language everywhere (`./rule.ts`). Server and CLI only.
 * Every object is strict: a typo is named with the keys that were expected. Cross-references
 * (a recipe named by a checklist item, an unreachable lifecycle state…) are checked by
 * `../config/validate.ts` once this shape holds.
 */
import * as z from 'zod';
import { SAFE_LINK } from './link.js';
import { DurationSchema, METRIC_META, RuleSchema, WhereSchema } from './rule.js';

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const q = (v: unknown) => JSON.stringify(v) ?? String(v);

/** A strict object whose unknown keys are named with the keys `what` accepts. */
function obj<S extends z.ZodRawShape>(what: string, shape: S) {
  const keys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys')
        return `unknown ${iss.keys.length > 1 ? 'keys' : 'key'} ${iss.keys.map(q).join(', ')} in ${what}; expected ${keys.join(', ')}`;
      if (iss.code === 'invalid_type') return `expected ${what} (an object), found ${typeOf(iss.input)}`;
      return undefined;
    },
  });
}
const required = (what: string, kind: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? `${what} is required` : `expected ${what} as ${kind}, found ${typeOf(iss.input)}`;

export const SLUG = /^[a-z0-9][a-z0-9-]*$/;
/** A stable id: lower-case letters, digits and dashes (`first-report`). */
export const IdSchema = z
  .string({ error: required('an id', 'a string') })
  .regex(SLUG, { error: (iss) => `expected an id of lower-case letters, digits and dashes such as "first-report", found ${q(iss.input)}` });

const LOCALE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
/** Human text: a string, or one per locale (`{ en: "…", fr: "…" }`). */
export const TextSchema = z.union(
  [
    z.string(),
    z.record(
      z.string().regex(LOCALE, { error: (iss) => `expected a locale such as "en" or "en-GB", found ${q(iss.input)}` }),
      z.string({ error: 'expected the text for this locale (a string)' }),
    ),
  ],
  {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      if (iss.input === undefined) return 'text is required';
      const errs = iss.errors[1];
      return typeof iss.input === 'object' && iss.input && !Array.isArray(iss.input) && errs?.length
        ? errs
            .map(
              (e) =>
                `${e.path.map(String).join('.')}: ${e.code === 'invalid_key' ? ((e as { issues?: { message: string }[] }).issues?.[0]?.message ?? e.message) : e.message}`,
            )
            .join('; ')
        : `expected text (a string, or a per-locale map such as { en: "…" }), found ${typeOf(iss.input)}`;
    },
  },
);

const link = z.string({ error: (iss) => `expected a link (a string), found ${q(iss.input)}` }).regex(SAFE_LINK, {
  error: (iss) =>
    `expected a link: http:// or https:// and a host, or a path on this site starting with a single /; no spaces, quotes, angle brackets, backslashes or control characters; found ${q(iss.input)}`,
});

export const ActionSchema = obj('an action', { label: TextSchema.optional(), recipe: IdSchema.optional(), link: link.optional() }).refine(
  (a) => a.recipe !== undefined || a.link !== undefined,
  { error: 'an action opens a recipe or a link: give "recipe" or "link"' },
);

export const ChecklistItemSchema = obj('a checklist item', {
  id: IdSchema,
  title: TextSchema,
  description: TextSchema.optional(),
  due: obj('due', {
    day: z.number({ error: 'expected the due day as a number (7, 14, 30…)' }).int().positive({ error: 'expected a due day >= 1' }),
  }).optional(),
  scope: z.enum(['user', 'tenant'], { error: (iss) => `expected scope "user" or "tenant", found ${q(iss.input)}` }).optional(),
  complete: RuleSchema,
  failed: RuleSchema.optional(),
  recovery: ActionSchema.optional(),
  launch: ActionSchema.optional(),
  /**
   * Who may mark this item done from the browser (`PUT /v1/progress`), stored as attested by that
   * user with the time: `user` (any user of the tenant) or `{ roles: [admin] }`. Without it an item
   * is decided by the server from stored events (event, fact, trait and metric rules) and a browser's
   * claim is ignored.
   */
  attest: z
    .union(
      [
        z.literal('user'),
        obj('attest', { roles: z.array(z.string().min(1), { error: 'expected a list of roles' }).min(1, { error: 'list at least one role' }) }),
      ],
      { error: (iss) => `expected attest: user or attest: { roles: [admin] }, found ${q(iss.input)}` },
    )
    .optional(),
});

export const ChecklistSchema = obj('a checklist', {
  id: IdSchema,
  title: TextSchema,
  audience: RuleSchema.optional(),
  items: z.array(ChecklistItemSchema, { error: 'expected a list of items' }).min(1, { error: 'a checklist needs at least one item' }),
});

const NudgeActionSchema = obj('a nudge action', {
  label: TextSchema,
  event: z.string().min(1).optional(),
  recipe: IdSchema.optional(),
  link: link.optional(),
  snooze: DurationSchema.optional(),
  dismiss: z.literal(true, { error: 'dismiss: true (or leave it out)' }).optional(),
});

export const NUDGE_KINDS = ['tooltip', 'hotspot', 'modal', 'banner'] as const;
const PLACEMENTS = [
  'top',
  'bottom',
  'left',
  'right',
  'top-start',
  'top-end',
  'bottom-start',
  'bottom-end',
  'left-start',
  'left-end',
  'right-start',
  'right-end',
] as const;
const anchor = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a CSS selector or a list of them, tried in order' });

export const NudgeSchema = obj('a nudge', {
  id: IdSchema,
  kind: z.enum(NUDGE_KINDS, { error: (iss) => `expected kind ${NUDGE_KINDS.map(q).join(', ')}, found ${q(iss.input)}` }),
  anchor: anchor.optional(),
  placement: z.enum(PLACEMENTS, { error: (iss) => `expected a placement (${PLACEMENTS.join(', ')}), found ${q(iss.input)}` }).optional(),
  title: TextSchema.optional(),
  body: TextSchema,
  /** Who may see it (targeting); `when` says at what moment (the trigger). */
  audience: RuleSchema.optional(),
  when: RuleSchema,
  actions: z.array(NudgeActionSchema).optional(),
  priority: z.number({ error: 'expected a priority (a number; higher shows first)' }).optional(),
  cap: obj('a cap', { times: z.number().int().positive(), per: DurationSchema }).optional(),
}).refine((n) => (n.kind !== 'tooltip' && n.kind !== 'hotspot') || n.anchor !== undefined, {
  error: 'a tooltip or hotspot nudge needs an "anchor" (the element it points at)',
  path: ['anchor'],
});

const advance = z.union([z.enum(['click', 'next']), RuleSchema], { error: 'expected advance "click", "next" or an event rule' });
export const RecipeStepSchema = obj('a recipe step', {
  id: IdSchema.optional(),
  anchor: anchor.optional(),
  route: z.string().startsWith('/', { error: 'expected a route starting with /' }).optional(),
  placement: z.enum(PLACEMENTS, { error: (iss) => `expected a placement (${PLACEMENTS.join(', ')}), found ${q(iss.input)}` }).optional(),
  title: TextSchema.optional(),
  text: TextSchema,
  advance: advance.optional(),
});
export const RecipeSchema = obj('a recipe', {
  id: IdSchema,
  title: TextSchema,
  steps: z.array(RecipeStepSchema).min(1, { error: 'a recipe needs at least one step' }),
});

const pair = z.tuple([z.number(), z.number()], { error: 'expected a [bound, points] pair of numbers' });
const points = z.union(
  [
    obj('linear points', { linear: z.tuple([z.number(), z.number()], { error: 'expected linear: [value for 0 points, value for 100 points]' }) }),
    obj('step points', { steps: z.array(pair).min(1), otherwise: z.number() }),
  ],
  { error: 'expected points as { linear: [low, high] } or { steps: [[bound, points], …], otherwise: points }' },
);

export const HealthComponentSchema = obj('a health component', {
  id: IdSchema,
  metric: z.string().min(1).meta(METRIC_META),
  weight: z.number({ error: 'expected a weight (a number)' }).nonnegative({ error: 'a weight is >= 0' }),
  points,
  missing: z.enum(['exclude', 'neutral', 'worst'], { error: (iss) => `expected missing "exclude", "neutral" or "worst", found ${q(iss.input)}` }).optional(),
});

/** Alert conditions: a rule, or a comparison the rule language can't say (week-over-week, cohort). */
const alertWhen = z.union(
  [
    obj('a week-over-week condition', { score_change_wow: obj('a change', { lte: z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?%$/)]) }) }),
    obj('a cohort condition', {
      metric: z.string().min(1).meta(METRIC_META),
      above: z.literal('cohort_p95'),
      /** The fewest other tenants with a value for the p95 to mean something (default 5). */
      min_cohort: z
        .number({ error: 'expected min_cohort (a whole number)' })
        .int({ error: 'expected min_cohort (a whole number)' })
        .positive({ error: 'min_cohort is >= 1' })
        .optional(),
      /** The absolute bound used instead while the cohort is smaller than min_cohort. */
      fallback: z.number({ error: 'expected fallback (a number: the bound used while the cohort is too small)' }).optional(),
    }),
    RuleSchema,
  ],
  { error: 'expected an alert condition: a rule, { score_change_wow: { lte: -20% } } or { metric, above: cohort_p95 }' },
);

export const HealthSchema = obj('health', {
  bands: obj('bands', { healthy: z.number().min(0).max(100), watch: z.number().min(0).max(100) }),
  weights: z.enum(['sum-to-100', 'normalise'], {
    error: (iss) => `expected weights "sum-to-100" (checked) or "normalise" (scaled to 100), found ${q(iss.input)}`,
  }),
  components: z.array(HealthComponentSchema).min(1),
  alerts: z.array(obj('an alert', { id: IdSchema, when: alertWhen, notify: z.array(z.string().min(1)).min(1) })).optional(),
  /** The alerts Keel has without config (sponsor-disengaged); false turns them off. Default true. */
  builtin_alerts: z.boolean({ error: 'expected builtin_alerts: true or false' }).optional(),
});

/** Which events the tenant's timeline shows besides its lifecycle, alerts, incidents and config (defaults: TIMELINE_EVENTS). */
export const TimelineSchema = obj('timeline', {
  /** Expansion events, shown as `expansion` items (default plan.changed, seats.changed). */
  expansion: z.array(z.string().min(1)).optional(),
  /** Other events shown as they are. */
  events: z.array(z.string().min(1)).optional(),
});

export const LifecycleSchema = obj('lifecycle', {
  initial: IdSchema,
  states: z.record(
    IdSchema,
    obj('a lifecycle state', {
      owner: z.string().min(1).optional(),
      proof: RuleSchema.optional(),
      allows: z
        .array(
          z.string().regex(/^(checklist|nudge|recipe|playbook):[a-z0-9*][a-z0-9*-]*$/, {
            error: (iss) => `expected an allowed action such as "nudge:reports-unused" or "recipe:*", found ${q(iss.input)}`,
          }),
        )
        .optional(),
    }),
  ),
  transitions: z.array(obj('a transition', { from: z.union([IdSchema, z.array(IdSchema).min(1)]), to: IdSchema })),
});

export const StatusSchema = obj('status', {
  components: z.array(obj('a status component', { id: IdSchema, name: TextSchema })),
});

const count = (what: string) =>
  z
    .number({ error: `expected ${what} (a whole number)` })
    .int({ error: `expected ${what} (a whole number)` })
    .nonnegative({ error: `${what} is >= 0` });
/**
 * One fatigue budget for every surface that interrupts (nudges, recipes, checklists reopening):
 * at most `perSession` in a session (30 min of inactivity ends one) and `perDay` in 24 hours,
 * and none for `quiet` after the user closes one.
 */
export const FatigueSchema = obj('fatigue', {
  perSession: count('interruptions per session').optional(),
  perDay: count('interruptions per day').optional(),
  quiet: DurationSchema.optional(),
});

export const ConfigSchema = obj('the config', {
  $schema: z.string().optional(),
  version: z.literal(1, { error: (iss) => `expected version: 1, found ${q(iss.input)}` }),
  product: IdSchema,
  checklists: z.array(ChecklistSchema).optional(),
  nudges: z.array(NudgeSchema).optional(),
  recipes: z.array(RecipeSchema).optional(),
  health: HealthSchema.optional(),
  lifecycle: LifecycleSchema.optional(),
  status: StatusSchema.optional(),
  fatigue: FatigueSchema.optional(),
  timeline: TimelineSchema.optional(),
});

export type KeelConfig = z.infer<typeof ConfigSchema>;
export { WhereSchema };
