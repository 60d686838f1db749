/**
 * zod schema of the rule language (types and semantics: `../rules/types.ts`). Server and CLI
 * only: the browser evaluates rules that were validated before they shipped.
 *
 * Shape: one strict object listing every key of every clause kind, plus a check that exactly one
 * kind is present and that the other keys belong to that kind. Compared with a union of 13
 * objects this keeps errors at their real path (`all[1].within`) with one readable message each,
 * instead of "Invalid input" at the root, and exports to a JSON Schema editors can complete.
 */
import * as z from 'zod';
import { FACTS, KNOWN_EVENTS, METRICS } from '../contracts/health.js';
import { DURATION } from '../rules/duration.js';
import { OPS } from '../rules/match.js';
import type { Duration, Rule } from '../rules/types.js';

const KINDS = ['all', 'any', 'not', 'event', 'trait', 'tenantTrait', 'fact', 'metric', 'page', 'lifecycle', 'checklist', 'recipe', 'health'] as const;
type Kind = (typeof KINDS)[number];
const NUM_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const;
const NUM_OP_TEXT = {
  eq: 'Equal to this.',
  ne: 'Not equal to this.',
  gt: 'More than this.',
  gte: 'At least this.',
  lt: 'Less than this.',
  lte: 'At most this.',
} as const;
/** Keys each kind accepts besides its own. */
const EVIDENCED = [...OPS, 'evidence'] as const;
const EXTRA: Partial<Record<Kind, readonly string[]>> = {
  event: ['where', 'count', 'within', 'evidence'],
  trait: OPS,
  tenantTrait: EVIDENCED,
  fact: EVIDENCED,
  metric: OPS,
  checklist: ['items', 'state', 'accept'],
  recipe: ['state'],
};

const q = (v: unknown): string => JSON.stringify(v) ?? String(v);
const list = (xs: readonly string[]) => xs.join(', ');
const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const clause = (k: Kind) => `${/^[aeiou]/.test(k) ? 'an' : 'a'} "${k}" clause`;
const kindsOf = (v: unknown): Kind[] => (isObj(v) ? KINDS.filter((k) => v[k] !== undefined) : []);
/** Messages for a strict object: its unknown keys, and (with `shape`) a non-object input. */
const unknownKeys = (what: string, allowed: readonly string[], shape?: string) => (iss: z.core.$ZodRawIssue) =>
  iss.code === 'unrecognized_keys'
    ? `unknown ${iss.keys.length > 1 ? 'keys' : 'key'} ${iss.keys.map(q).join(', ')} in ${what}; expected ${list(allowed)}`
    : iss.code === 'invalid_type' && shape
      ? `expected ${shape}, found ${typeOf(iss.input)}`
      : undefined;

/**
 * JSON Schema metadata for the names the server computes: editors complete them and show each
 * one's definition. The zod check stays a string: `checkReferences` reports an unknown name with
 * the list, in the same pass as shape problems.
 */
const listed = (defs: readonly { name: string; description: string }[], what: string) => ({
  description: `${what}: ${defs.map((d) => d.name).join(', ')}`,
  enum: defs.map((d) => d.name),
  enumDescriptions: defs.map((d) => d.description),
  markdownEnumDescriptions: defs.map((d) => d.description),
});
export const METRIC_META = listed(METRICS, 'a metric the server computes');
export const FACT_META = listed(FACTS, 'a fact the server computes');
/** Event names are the product's own: the known ones are suggestions, not a limit. */
const EVENT_META = { description: "an event name: your product's own, or one Keel reads (see examples)", examples: KNOWN_EVENTS.map((e) => e.name) };

const name = (what: string) =>
  z.string({ error: (iss) => `expected ${what} (a string), found ${typeOf(iss.input)}` }).min(1, { error: `${what} must not be empty` });

/** `'7d'`: a whole number then m, h, d or w. */
export const DurationSchema = z
  .string({ error: (iss) => `expected "7d"-style duration, found ${q(iss.input)}` })
  .regex(DURATION, { error: (iss) => `expected "7d"-style duration, found ${q(iss.input)}` }) as unknown as z.ZodType<Duration>;

const scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: (iss) => `expected a string, number or boolean, found ${typeOf(iss.input)}`,
});
const ordered = z.union([z.number(), z.string()], {
  error: (iss) => `expected a number or string, found ${typeOf(iss.input)}`,
});
const scalars = z.array(scalar, { error: (iss) => `expected a list of values, found ${typeOf(iss.input)}` });
const opShape = {
  eq: scalar.describe('Equal to this value.').optional(),
  ne: scalar.describe('Not equal to this value.').optional(),
  gt: ordered.describe('Greater than this (numbers, or ISO dates and other strings compared in order).').optional(),
  gte: ordered.describe('At least this.').optional(),
  lt: ordered.describe('Less than this.').optional(),
  lte: ordered.describe('At most this.').optional(),
  in: scalars.describe('One of these values.').optional(),
  nin: scalars.describe('None of these values.').optional(),
  exists: z.boolean({ error: 'expected true or false' }).describe('true: the value is present; false: it is absent.').optional(),
  glob: z.string({ error: 'expected a glob pattern (a string)' }).describe('Matches this glob pattern (* within a segment, ** across /).').optional(),
};
const has = (keys: readonly string[]) => (v: object) => keys.some((k) => (v as Record<string, unknown>)[k] !== undefined);
/**
 * Run a follow-up check only on a well-formed object without unknown keys (a typo's message
 * already lists what was expected). zod never aborts on unknown keys, so say it here.
 */
const known = { when: (p: z.core.ParsePayload) => !p.issues.some((i) => i.continue !== true || i.code === 'unrecognized_keys') };

const Comparison = z
  .strictObject(opShape, { error: unknownKeys('a comparison', OPS) })
  .refine(has(OPS), { error: `a comparison needs an operator: ${list(OPS)}`, ...known });

const whereValue = z.union([z.string(), z.number(), z.boolean(), Comparison], {
  error: (iss) => {
    if (iss.code !== 'invalid_union') return undefined;
    // An object was meant as a comparison: report what is wrong with it, not "invalid union".
    const errs = iss.errors[3];
    return isObj(iss.input) && errs
      ? errs.map((e) => (e.path.length ? `${e.path.join('.')}: ${e.message}` : e.message)).join('; ')
      : `expected a value (string, number, boolean) or a comparison such as { gte: 3 }, found ${typeOf(iss.input)}`;
  },
});
/** Event property filter: `{ feature: 'reports', size: { gte: 3 } }`. */
export const WhereSchema = z.record(z.string(), whereValue, {
  error: (iss) => `expected property filters such as { feature: "reports" }, found ${typeOf(iss.input)}`,
});

const count = (n: z.ZodNumber) => {
  const shape = Object.fromEntries(NUM_OPS.map((k) => [k, n.describe(NUM_OP_TEXT[k]).optional()])) as Record<
    (typeof NUM_OPS)[number],
    z.ZodOptional<z.ZodNumber>
  >;
  return z
    .strictObject(shape, { error: unknownKeys('a count', NUM_OPS, 'a comparison such as { gte: 1 }') })
    .refine(has(NUM_OPS), { error: `needs an operator: ${list(NUM_OPS)}`, ...known });
};
const whole = z.number({ error: 'expected a number' }).int({ error: 'expected a whole number' }).nonnegative({ error: 'expected a count >= 0' });
const num = z.number({ error: 'expected a number' });
const names = (what: string) => z.array(name(what), { error: `expected a list of ${what}s` }).min(1, { error: `list at least one ${what}` });
const nameOrNames = (what: string) =>
  z.union([name(what), names(what)], {
    error: (iss) => (iss.code === 'invalid_union' ? `expected a ${what} or a list of them, found ${typeOf(iss.input)}` : undefined),
  });
const STATES = ['completed', 'started', 'not_started'] as const;

const ruleObject = z
  .strictObject(
    {
      all: z
        .array(
          z.lazy(() => RuleSchema),
          { error: 'expected a list of rules' },
        )
        .optional()
        // Named: the first list in the rule's cycle becomes a $defs entry of the JSON Schema.
        .meta({ id: 'all-rules', description: 'Holds when every rule in the list holds.' }),
      any: z
        .array(
          z.lazy(() => RuleSchema),
          { error: 'expected a list of rules' },
        )
        .describe('Holds when at least one rule in the list holds.')
        .optional(),
      not: z
        .lazy(() => RuleSchema)
        .describe('Holds when this rule does not; with an event and within, "not in the last 7 days" (false while the history is shorter than the window).')
        .optional(),
      event: name('an event name').meta(EVENT_META).optional(),
      where: WhereSchema.describe('Only events whose properties match: { feature: "reports", size: { gte: 3 } }.').optional(),
      count: count(whole).describe('How many matching events: { gte: 3 } (default: at least one).').optional(),
      within: DurationSchema.describe('Only events in this window before now ("7d").').optional(),
      evidence: z
        .enum(['verified', 'any'], {
          error: (iss) => `expected evidence "verified" (the default: events the server could verify) or "any", found ${q(iss.input)}`,
        })
        .describe('verified (the default): only events the server could verify count on the server; any: unverified browser events count too.')
        .optional(),
      trait: name('a trait name').describe('A trait of the user (from identify), compared with the operators beside it.').optional(),
      tenantTrait: name('a tenant trait name').describe('A trait of the tenant (from group), compared with the operators beside it.').optional(),
      fact: name('a fact name').meta(FACT_META).optional(),
      metric: name('a metric name').meta(METRIC_META).optional(),
      ...opShape,
      page: z
        .string({ error: (iss) => `expected a path glob such as "/reports/**", found ${typeOf(iss.input)}` })
        .describe('Holds on pages whose path matches this glob ("/reports/**").')
        .optional(),
      lifecycle: nameOrNames('lifecycle state').describe("Holds when the tenant's lifecycle state is this one (or one of these).").optional(),
      checklist: name('a checklist id').describe('A checklist, by id, with its state (and optionally some of its items).').optional(),
      items: names('checklist item id').describe('Only these items of the checklist.').optional(),
      accept: z
        .literal('attested', { error: (iss) => `expected accept: "attested" (attested items count as completed), found ${q(iss.input)}` })
        .describe('attested: items a user attested count as completed too (otherwise only server-decided ones do).')
        .optional(),
      state: z
        .enum(STATES, { error: (iss) => `expected ${STATES.map(q).join(', ')}, found ${q(iss.input)}` })
        .describe('The state the checklist or recipe is in: completed, started or not_started.')
        .optional(),
      recipe: name('a recipe id').describe('A recipe, by id, with its state.').optional(),
      health: z
        .strictObject(
          {
            band: nameOrNames('band').describe('healthy, watch or at-risk (or a list of them).').optional(),
            score: count(num).describe('A comparison of the 0–100 score: { lt: 40 }.').optional(),
          },
          { error: unknownKeys('health', ['band', 'score'], 'health such as { band: "at-risk" } or { score: { lt: 40 } }') },
        )
        .refine(has(['band', 'score']), { error: 'health needs band and/or score', ...known })
        .describe("The tenant's health: its band and/or its score.")
        .optional(),
    },
    {
      error: (iss) => {
        if (iss.code === 'invalid_type') return `expected a rule such as { event: "feature.used" } or { all: [...] }, found ${typeOf(iss.input)}`;
        const [k] = kindsOf(iss.input);
        if (k && !EXTRA[k] && iss.code === 'unrecognized_keys') return `unknown key ${iss.keys.map(q).join(', ')}: ${clause(k)} has no other key`;
        return unknownKeys(k ? clause(k) : 'a rule', k ? (EXTRA[k] ?? []) : KINDS)(iss);
      },
    },
  )
  .check((ctx) => {
    const v = ctx.value;
    const issue = (message: string, path: string[] = []) => ctx.issues.push({ code: 'custom', message, path, input: v });
    const kinds = kindsOf(v);
    const [k] = kinds;
    // An unknown key's message already lists what was expected: don't pile up "needs" messages.
    const typo = ctx.issues.some((i) => i.code === 'unrecognized_keys' && !i.path?.length);
    if (!k) return void (typo || issue(`a rule needs one of ${list(KINDS)}`));
    if (kinds.length > 1) return void issue(`a clause has one kind, found ${kinds.map(q).join(' and ')}: combine conditions with all/any`);
    const extra = EXTRA[k] ?? [];
    for (const key of Object.keys(v) as (keyof typeof v)[]) {
      if (key !== k && !extra.includes(key) && v[key] !== undefined) issue(`${q(key)} does not belong in ${clause(k)}`, [key]);
    }
    if ((extra === OPS || extra === EVIDENCED) && !typo && !OPS.some((o) => v[o] !== undefined)) issue(`${clause(k)} needs an operator: ${list(OPS)}`);
  });

/**
 * The rule language. Parsed output is a `Rule` (the cast is backed by the exactly-one-kind check
 * and by the property test that every generated `Rule` parses to itself).
 */
export const RuleSchema: z.ZodType<Rule> = ruleObject.meta({
  id: 'rule',
  description:
    'A rule: exactly one clause kind (event, trait, tenantTrait, fact, metric, page, lifecycle, checklist, recipe, health) or a combination (all, any, not).',
}) as unknown as z.ZodType<Rule>;
