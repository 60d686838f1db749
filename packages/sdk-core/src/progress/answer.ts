/**
 * The wire contract of `GET|PUT /v1/progress` (the server builds it, the browser client reads it),
 * and the helpers both sides use to agree on it: which checklist items the server decides, which
 * event clauses the history reports, and the key each clause is reported under. Pure: no DOM, no Node.
 */
import { walkRule, referencedEvents } from '../rules/events.js';
import { durationMs } from '../rules/duration.js';
import type { Rule, Where } from '../rules/types.js';
import type { ProgressEntry, ProgressScope, ProgressKind } from './merge.js';

/**
 * Where a progress entry's state comes from:
 * - `server`: decided by the server from stored events (the item's rule holds now); never stored.
 * - `attested`: a user marked it in the browser (a recipe walked through, an item with `attest:`);
 *   stored with who and when (`attestedBy`, `attestedAt`).
 * - `claim`: stored before attestation existed; counts for nothing.
 */
export type ProgressSource = 'server' | 'attested' | 'claim';

export interface ProgressAnswerEntry extends ProgressEntry {
  source: ProgressSource;
  /** The user id that attested it, its role then, and when the server stored it (ISO). */
  attestedBy?: string;
  attestedRole?: string;
  attestedAt?: string;
}

/** A `PUT` entry the server did not store, and why (`server-decided`, `tenant-scope`, `unknown-item`). */
export interface IgnoredClaim {
  scope: ProgressScope;
  kind: ProgressKind;
  ref: string;
  reason: string;
}

/**
 * One event clause's history for this user from the server's stored events: per UTC day
 * (`Math.floor(ts / 86_400_000)` → count) from `fromDay`, and `before`: how many are older than
 * `fromDay` (for clauses without a window).
 */
export interface HistoryClause {
  key: string;
  event: string;
  where?: Where;
  days: Record<string, number>;
  before: number;
}

/**
 * This user's history as the server knows it, for the browser's rules.
 *
 * No message is counted twice: the server's counts (`clauses`) and `messageIds` are read in one
 * snapshot. The client keeps its own recent messages (`messageId`, event, properties, time) until
 * an answer lists their id in `messageIds`: a listed one is in the server's counts; one not listed
 * (still queued, in flight, or refused) is added to them locally. The client asks with
 * `?pendingSince=<ISO>` (its oldest unconfirmed message); `messageIds` lists this user's stored
 * events from then on.
 */
export interface ProgressHistory {
  /** First day (UTC day number) of `days`. */
  fromDay: number;
  /** When the server first saw an event of this user in this tenant (ISO), and of the tenant. */
  firstSeen: string | null;
  tenantFirstSeen: string | null;
  clauses: HistoryClause[];
  /** Ids of this user's stored events with a timestamp at or after `pendingSince` (at most 5000). */
  messageIds: string[];
}

/** The answer of `GET /v1/progress` and `PUT /v1/progress`. */
export interface ProgressAnswer {
  userId: string;
  tenantId: string;
  /** The user's own entries: server-decided items (`source: server`) and stored attestations. */
  user: ProgressAnswerEntry[];
  /** Tenant-wide entries, shared by every user of the tenant. */
  tenant: ProgressAnswerEntry[];
  facts: Record<string, unknown>;
  /** The tenant's lifecycle state and what it allows (null: the config has no lifecycle). */
  lifecycle: { state: string; allows: readonly string[] | null } | null;
  history: ProgressHistory;
  /** `PUT` only: the entries that were not stored, with the reason. */
  ignored?: IgnoredClaim[];
}

/** The key an event clause's counts are reported and looked up under. */
export const clauseKey = (event: string, where?: Where): string => (where ? `${event} ${JSON.stringify(where)}` : event);

const SERVER_LEAVES = ['event', 'trait', 'tenantTrait', 'fact', 'metric'] as const;
/**
 * Whether the server can decide this rule from what it stores: every leaf is an event, trait,
 * tenant trait, fact or metric clause (no page, recipe, checklist, lifecycle or health clause).
 */
export function serverDecidable(rule: Rule): boolean {
  let ok = true;
  walkRule(rule, (leaf) => {
    if (!SERVER_LEAVES.some((k) => k in leaf)) ok = false;
  });
  return ok;
}

interface RuleSource {
  checklists?: readonly { audience?: Rule; items: readonly { complete: Rule; failed?: Rule }[] }[];
  nudges?: readonly { when: Rule; audience?: Rule }[];
}

/** Every rule the browser evaluates: checklist audiences, completion and failure rules, nudge triggers and audiences. */
export function clientRules(config: RuleSource | undefined): Rule[] {
  const rules: Rule[] = [];
  for (const c of config?.checklists ?? []) {
    if (c.audience) rules.push(c.audience);
    for (const i of c.items) rules.push(i.complete, ...(i.failed ? [i.failed] : []));
  }
  for (const n of config?.nudges ?? []) rules.push(n.when, ...(n.audience ? [n.audience] : []));
  return rules;
}

const DAY = 86_400_000;
/** Days of per-day history the server reports: the longest window the config uses, in days (+1 for the partial first day), at most 90. */
export function historyDays(rules: readonly Rule[]): number {
  let longest = 0;
  for (const r of rules) for (const ref of referencedEvents(r)) if (ref.within) longest = Math.max(longest, durationMs(ref.within) || 0);
  return Math.min(90, Math.ceil(longest / DAY) + 1);
}
