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

export const ActionSchema = obj('an action', {
  label: TextSchema.describe('The button text; a default is used when left out.').optional(),
  recipe: IdSchema.describe('The id of a recipe (under `recipes:`) the button starts.').optional(),
  link: link.describe('A page the button opens: https://… or a path on this site such as /settings/billing.').optional(),
}).refine((a) => a.recipe !== undefined || a.link !== undefined, { error: 'an action opens a recipe or a link: give "recipe" or "link"' });

export const ChecklistItemSchema = obj('a checklist item', {
  id: IdSchema.describe('A stable id for the item, unique in its checklist; progress is stored under it, so keep it when the title changes.'),
  title: TextSchema.describe('What the user does, as a short imperative ("Connect a data source").'),
  description: TextSchema.describe('One or two sentences shown under the title: why it matters, or how.').optional(),
  due: obj('due', {
    day: z
      .number({ error: 'expected the due day as a number (7, 14, 30…)' })
      .int()
      .positive({ error: 'expected a due day >= 1' })
      .describe(
        "The day of the account's life (day 1 is the tenant trait createdAt, or the user's first visit without it) by which the item should be done: 7, 14, 30…",
      ),
  })
    .describe('When the item is due; an item not done by then is labelled overdue.')
    .optional(),
  scope: z
    .enum(['user', 'tenant'], { error: (iss) => `expected scope "user" or "tenant", found ${q(iss.input)}` })
    .describe('"user" (the default): each user completes it; "tenant": done for everyone in the account once anyone does it.')
    .optional(),
  complete: RuleSchema.describe('The rule that makes the item complete, decided by the server from stored events (for example { event: "report.created" }).'),
  failed: RuleSchema.describe('A rule that marks the item as failed (a setup step that went wrong); the checklist then offers `recovery`.').optional(),
  recovery: ActionSchema.describe('The action offered when the item has failed: a recipe or a link.').optional(),
  launch: ActionSchema.describe('The action that starts the item: a recipe that walks the user through it, or the page where it is done.').optional(),
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
        obj('attest', {
          roles: z
            .array(z.string().min(1), { error: 'expected a list of roles' })
            .min(1, { error: 'list at least one role' })
            .describe('The user-token roles that may attest the item (for example [admin]); others get a 403 naming the role.'),
        }),
      ],
      { error: (iss) => `expected attest: user or attest: { roles: [admin] }, found ${q(iss.input)}` },
    )
    .describe(
      "Who may mark the item done from the browser: user (any user of the tenant) or { roles: [admin] }. Left out, the server decides the item from stored events and ignores a browser's claim.",
    )
    .optional(),
});

export const ChecklistSchema = obj('a checklist', {
  id: IdSchema.describe('A stable id; `<keel-checklist checklist="…">` names it.'),
  title: TextSchema.describe('The heading shown above the items.'),
  audience: RuleSchema.describe('Who sees the checklist (a rule over traits, lifecycle, facts…); everyone when left out.').optional(),
  items: z
    .array(ChecklistItemSchema, { error: 'expected a list of items' })
    .min(1, { error: 'a checklist needs at least one item' })
    .describe('The steps, in the order shown.'),
});

const NudgeActionSchema = obj('a nudge action', {
  label: TextSchema.describe('The button text.'),
  event: z
    .string()
    .min(1)
    .describe(
      'An event tracked when the button is pressed; the host app hears the press as a keel-nudge-action event on document (detail.action.event names it).',
    )
    .optional(),
  recipe: IdSchema.describe('A recipe the button starts.').optional(),
  link: link.describe('A page the button opens: https://… or a path on this site.').optional(),
  snooze: DurationSchema.describe('Hide the nudge for this long ("3d") instead of for good.').optional(),
  dismiss: z.literal(true, { error: 'dismiss: true (or leave it out)' }).describe('true: the button closes the nudge for good.').optional(),
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
const anchor = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a CSS selector or a list of them, tried in order' })
  .describe('The element it points at: a CSS selector, or a list of them tried in order (shadow roots are searched).');
const placement = z
  .enum(PLACEMENTS, { error: (iss) => `expected a placement (${PLACEMENTS.join(', ')}), found ${q(iss.input)}` })
  .describe('Which side of the anchor it prefers; it flips and shifts to stay in the viewport.');

const PrioritySchema = z.number({ error: 'expected a priority (a number; higher shows first)' });
const CapSchema = obj('a cap', {
  times: z.number().int().positive().describe('How many times it may show…'),
  per: DurationSchema.describe('…in this window ("7d").'),
});

/** What a nudge is for: an event the user tracks within a window after being exposed to it. */
export const GoalSchema = obj('a goal', {
  event: z.string({ error: 'expected the goal event name (a string)' }).min(1).describe('The event that means the nudge did its job ("report.created").'),
  where: WhereSchema.describe('Only events whose properties match.').optional(),
  within: DurationSchema.describe('How long after the user was exposed (shown it, or held out) the event still counts ("7d").'),
}).describe('What the nudge is for: an event within a window after exposure. Outcomes (GET /v1/admin/outcomes) measure it, against the holdout.');

export const NudgeSchema = obj('a nudge', {
  id: IdSchema.describe('A stable id; what the user did with the nudge (seen, dismissed, snoozed) is kept under it.'),
  kind: z
    .enum(NUDGE_KINDS, { error: (iss) => `expected kind ${NUDGE_KINDS.map(q).join(', ')}, found ${q(iss.input)}` })
    .describe('tooltip (points at an anchor), hotspot (a beacon on an anchor that opens a tooltip), modal (a dialog) or banner (a strip at the top).'),
  anchor: anchor.optional(),
  placement: placement.optional(),
  title: TextSchema.describe('A short heading.').optional(),
  body: TextSchema.describe('The message, in a small Markdown subset (emphasis, links, lists).'),
  /** Who may see it (targeting); `when` says at what moment (the trigger). */
  audience: RuleSchema.describe('Who may see it (targeting); everyone when left out. `when` says at what moment.').optional(),
  when: RuleSchema.describe('The moment it shows (the trigger), for example after an error or on a page.'),
  actions: z.array(NudgeActionSchema).describe('Its buttons, in order.').optional(),
  priority: PrioritySchema.describe('When several nudges could show at once, the higher one shows first.').optional(),
  cap: CapSchema.describe('How often it may show to one user, on top of the fatigue budget.').optional(),
  goal: GoalSchema.optional(),
  holdout: z
    .number({ error: 'expected a holdout percentage (a number from 0 to 50)' })
    .min(0, { error: 'expected a holdout from 0 to 50 (percent)' })
    .max(50, { error: 'expected a holdout from 0 to 50 (percent)' })
    .describe(
      'The percentage of eligible users (0–50) who are counted but not shown it, chosen by the server from a hash of the user and the nudge: the comparison that says whether it helped.',
    )
    .optional(),
})
  .refine((n) => (n.kind !== 'tooltip' && n.kind !== 'hotspot') || n.anchor !== undefined, {
    error: 'a tooltip or hotspot nudge needs an "anchor" (the element it points at)',
    path: ['anchor'],
  })
  .refine((n) => !n.holdout || n.goal !== undefined, { error: 'a holdout needs a goal to measure: add goal: { event: …, within: 7d }', path: ['holdout'] });

/** The events a repair can answer: an error the user saw, or an integration reporting its state. */
export const REPAIR_EVENTS = ['error.raised', 'integration.state'] as const;
/**
 * An error mapped to its repair, shown in place when the error happens. Served to browsers as a
 * nudge (`repair-<id>`, see `servedConfig`), so it is chosen under the same budget and measured
 * with the same events as any nudge.
 */
export const ErrorRepairSchema = obj('an error repair', {
  id: IdSchema.describe('A stable id; the repair is served, explained and counted as the nudge "repair-<id>".'),
  event: z
    .enum(REPAIR_EVENTS, { error: (iss) => `expected event ${REPAIR_EVENTS.map(q).join(' or ')}, found ${q(iss.input)}` })
    .describe('The event that carries the error: "error.raised" (the default) or "integration.state".')
    .optional(),
  match: WhereSchema.describe(
    'Which errors: filters on the event\'s properties, for example { code: "E_NO_DATASET" } or { message: { glob: "*timed out*" } }.',
  ),
  within: DurationSchema.describe('How long after the error the repair may still show ("10m", the default).').optional(),
  anchor: anchor.describe('Where to show it: the element the error is about (a tooltip by it); a banner when left out.').optional(),
  placement: placement.optional(),
  title: TextSchema.describe('A short heading.').optional(),
  body: TextSchema.describe('What went wrong and what to do, in a small Markdown subset.'),
  actions: z
    .array(NudgeActionSchema)
    .describe(
      'Its buttons: a retry the host app handles (event: tracked, and heard by the host app as a keel-nudge-action event), a recipe, a link to an article.',
    )
    .optional(),
  audience: RuleSchema.describe('Who may see it; everyone when left out.').optional(),
  priority: PrioritySchema.describe('Against other nudges (default 100: a user who is stuck comes first).').optional(),
  cap: CapSchema.describe('How often it may show to one user, on top of the fatigue budget (default 3 a day).').optional(),
});

const advance = z
  .union([z.enum(['click', 'next']), RuleSchema], { error: 'expected advance "click", "next" or an event rule' })
  .describe('What moves to the next step: "next" (a Next button, the default), "click" (a click on the anchor) or a rule (an event the product tracks).');
export const RecipeStepSchema = obj('a recipe step', {
  id: IdSchema.describe('A stable id for the step (progress and the friction log name it); its position when left out.').optional(),
  anchor: anchor.optional(),
  route: z
    .string()
    .regex(/^\//, { error: 'expected a route starting with /' })
    .describe('The page the step is on (a path starting with /); the recipe waits for the user to get there.')
    .optional(),
  placement: placement.optional(),
  title: TextSchema.describe('A short heading.').optional(),
  text: TextSchema.describe('What to do in this step, in a small Markdown subset.'),
  advance: advance.optional(),
});
export const RecipeSchema = obj('a recipe', {
  id: IdSchema.describe('A stable id; checklist items and nudge actions start the recipe by it.'),
  title: TextSchema.describe('The name shown while the recipe runs.'),
  steps: z.array(RecipeStepSchema).min(1, { error: 'a recipe needs at least one step' }).describe('The steps, in order; a recipe may cross pages.'),
});

const pair = z.tuple([z.number(), z.number()], { error: 'expected a [bound, points] pair of numbers' });
const points = z
  .union(
    [
      obj('linear points', {
        linear: z
          .tuple([z.number(), z.number()], { error: 'expected linear: [value for 0 points, value for 100 points]' })
          .describe(
            '[value for 0 points, value for 100 points]; values between are scaled, values beyond are clamped. Put the larger value first when less is better.',
          ),
      }),
      obj('step points', {
        steps: z.array(pair).min(1).describe('[bound, points] pairs tried in order: the first pair whose bound is at or above the value gives its points.'),
        otherwise: z.number().describe('The points when no step matches.'),
      }),
    ],
    { error: 'expected points as { linear: [low, high] } or { steps: [[bound, points], …], otherwise: points }' },
  )
  .describe("How the metric's value becomes 0–100 points.");

export const HealthComponentSchema = obj('a health component', {
  id: IdSchema.describe('A stable id for the component; snapshots and explanations name it.'),
  label: TextSchema.describe('What customer admins read in the health badge ("Feature adoption"); the metric\'s own name when left out.').optional(),
  metric: z.string().min(1).meta(METRIC_META),
  weight: z
    .number({ error: 'expected a weight (a number)' })
    .nonnegative({ error: 'a weight is >= 0' })
    .describe("The component's share of the score (see weights: sum-to-100 or normalise)."),
  points,
  missing: z
    .enum(['exclude', 'neutral', 'worst'], { error: (iss) => `expected missing "exclude", "neutral" or "worst", found ${q(iss.input)}` })
    .describe('When the metric has no value: exclude (the default: left out and the other weights scaled up), neutral (50 points) or worst (0 points).')
    .optional(),
});

/** Alert conditions: a rule, or a comparison the rule language can't say (week-over-week, cohort). */
const alertWhen = z
  .union(
    [
      obj('a week-over-week condition', {
        score_change_wow: obj('a change', {
          lte: z
            .union([z.number(), z.string().regex(/^-?\d+(\.\d+)?%$/)])
            .describe('Fires when the change, in percent of last week\'s score, is at most this: -20 or "-20%".'),
        }).describe('The change of the score against the snapshot 6–8 days old.'),
      }),
      obj('a cohort condition', {
        metric: z.string().min(1).meta(METRIC_META),
        above: z.literal('cohort_p95').describe("Fires when the tenant's value is above the 95th percentile of the other tenants' values."),
        min_cohort: z
          .number({ error: 'expected min_cohort (a whole number)' })
          .int({ error: 'expected min_cohort (a whole number)' })
          .positive({ error: 'min_cohort is >= 1' })
          .describe('The fewest other tenants with a value for the p95 to mean something (default 5); below it the alert says "cohort too small".')
          .optional(),
        fallback: z
          .number({ error: 'expected fallback (a number: the bound used while the cohort is too small)' })
          .describe('The absolute bound used instead while the cohort is smaller than min_cohort.')
          .optional(),
      }),
      RuleSchema,
    ],
    { error: 'expected an alert condition: a rule, { score_change_wow: { lte: -20% } } or { metric, above: cohort_p95 }' },
  )
  .describe('When the alert fires: a rule, a week-over-week change of the score, or a metric above its cohort.');

export const HealthSchema = obj('health', {
  bands: obj('bands', {
    healthy: z.number().min(0).max(100).describe('A score at or above this is healthy.'),
    watch: z.number().min(0).max(100).describe('A score at or above this (and below healthy) is watch; below it, at-risk.'),
  }).describe('The score thresholds of the bands.'),
  weights: z
    .enum(['sum-to-100', 'normalise'], {
      error: (iss) => `expected weights "sum-to-100" (checked) or "normalise" (scaled to 100), found ${q(iss.input)}`,
    })
    .describe('sum-to-100: the weights must add up to 100 (checked); normalise: any weights, scaled to 100.'),
  components: z.array(HealthComponentSchema).min(1).describe('What the score is made of: each a metric, its weight and how its value becomes points.'),
  alerts: z
    .array(
      obj('an alert', {
        id: IdSchema.describe('A stable id; the same alert fires at most once per cooldown (24 h by default) for a tenant.'),
        when: alertWhen,
        notify: z
          .array(z.string().min(1))
          .min(1)
          .describe(
            "Who should act (labels such as csm or the owner's team), carried in the delivery; every webhook the server is started with receives it, signed.",
          ),
      }),
    )
    .describe('Alerts to the CS team.')
    .optional(),
  /** The alerts Keel has without config (sponsor-disengaged); false turns them off. Default true. */
  builtin_alerts: z
    .boolean({ error: 'expected builtin_alerts: true or false' })
    .describe('The alerts Keel has without config (sponsor-disengaged: 30 days without sponsor activity); false turns them off. Default true.')
    .optional(),
});

/** Which events the tenant's timeline shows besides its lifecycle, alerts, incidents and config (defaults: TIMELINE_EVENTS). */
export const TimelineSchema = obj('timeline', {
  /** Expansion events, shown as `expansion` items (default plan.changed, seats.changed). */
  expansion: z.array(z.string().min(1)).describe('Events shown as expansion items (default plan.changed, seats.changed).').optional(),
  /** Other events shown as they are. */
  events: z.array(z.string().min(1)).describe('Other events shown on the timeline as they are.').optional(),
});

export const LifecycleSchema = obj('lifecycle', {
  initial: IdSchema.describe('The state a new tenant starts in.'),
  states: z
    .record(
      IdSchema,
      obj('a lifecycle state', {
        owner: z.string().min(1).describe('Who on the CS team owns tenants in this state (a name or team; alerts carry it).').optional(),
        proof: RuleSchema.describe('The evidence that puts a tenant in this state, checked by the server from verified events.').optional(),
        allows: z
          .array(
            z.string().regex(/^(checklist|nudge|recipe|playbook):[a-z0-9*][a-z0-9*-]*$/, {
              error: (iss) => `expected an allowed action such as "nudge:reports-unused" or "recipe:*", found ${q(iss.input)}`,
            }),
          )
          .describe('What may run for tenants in this state ("nudge:reports-unused", "recipe:*"); enforced by the server and the browser.')
          .optional(),
      }),
    )
    .describe('The states, by id.'),
  transitions: z
    .array(
      obj('a transition', {
        from: z.union([IdSchema, z.array(IdSchema).min(1)]).describe('The state (or states) it leaves.'),
        to: IdSchema.describe("The state it enters once that state's proof holds."),
      }),
    )
    .describe('The moves allowed between states.'),
});

export const StatusSchema = obj('status', {
  components: z
    .array(
      obj('a status component', {
        id: IdSchema.describe('The id integrations report their state under (integration.state events).'),
        name: TextSchema.describe('The name shown to the customer.'),
      }),
    )
    .describe('The parts of the product whose state <keel-status> shows.'),
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
  perSession: count('interruptions per session').describe('At most this many interruptions in a session (30 minutes of inactivity ends one).').optional(),
  perDay: count('interruptions per day').describe('At most this many interruptions in 24 hours.').optional(),
  quiet: DurationSchema.describe('None for this long after the user closes one ("10m").').optional(),
});

export const ConfigSchema = obj('the config', {
  $schema: z.string().describe('The JSON Schema this document follows (for editors); ignored by Keel.').optional(),
  version: z.literal(1, { error: (iss) => `expected version: 1, found ${q(iss.input)}` }).describe('The config format version: 1.'),
  product: IdSchema.describe('The product this config is for (an id).'),
  checklists: z.array(ChecklistSchema).describe('Guided-setup checklists.').optional(),
  nudges: z.array(NudgeSchema).describe('Tooltips, hotspots, modals and banners, shown when their rules hold.').optional(),
  recipes: z.array(RecipeSchema).describe('Multi-step walkthroughs, started by checklist items, nudge actions or keel.recipes.start(id).').optional(),
  health: HealthSchema.describe("How a tenant's health score is computed, its bands and its alerts.").optional(),
  lifecycle: LifecycleSchema.describe('The lifecycle states of a tenant, their proofs and what each allows.').optional(),
  status: StatusSchema.describe('The components <keel-status> reports on.').optional(),
  fatigue: FatigueSchema.describe('One budget for every surface that interrupts: nudges, recipes and checklists reopening.').optional(),
  errors: z
    .array(ErrorRepairSchema)
    .describe('Errors mapped to a repair shown in place when they happen: a message, a retry, a recipe or an article.')
    .optional(),
  timeline: TimelineSchema.describe("Which events the tenant's timeline shows besides its lifecycle, alerts, incidents and config.").optional(),
});

export type KeelConfig = z.infer<typeof ConfigSchema>;
export { WhereSchema };
