// The explanation of a rule (which clauses passed, with what value, in words): what `Keel.explain`,
// the guidance engine's trace and the server's rule previews show. The browser client imports it
// with a dynamic import(): its checklists decide with `matches` alone (./matches.ts).
import { describeLeaf, describeRule } from './describe.js';
import { fetch, INVALID, shortHistory, test } from './matches.js';
import type { EventRule, Explanation, Rule, RuleContext } from './types.js';

/**
 * Evaluates every clause (no short-circuit) and returns the tree of which passed or failed and
 * with what value. all/any nodes report `actual` = children passing; `not` of a leaf carries the
 * leaf's value as `actual`, and `not` of a one-operator event count reads as the opposite count
 * (`no "x" in the last 7d`, expected `no`).
 */
export function evaluate(r: Rule, ctx: RuleContext): Explanation {
  if ('all' in r || 'any' in r) {
    const all = 'all' in r;
    const children = (all ? r.all : r.any).map((c) => evaluate(c, ctx));
    const n = children.filter((c) => c.ok).length;
    const len = children.length;
    return { ok: all ? n === len : n > 0, clause: `${all ? 'all' : 'any'} of ${len}`, actual: n, expected: all ? `${len}` : 'at least 1', children };
  }
  if ('not' in r) {
    const c = evaluate(r.not, ctx);
    const leaf = describeLeaf(r);
    const short = shortHistory(r.not, ctx, true);
    const e: Explanation = { ok: !short && !c.ok, clause: leaf?.[0] ?? describeRule(r), children: [c] };
    if ('actual' in c && !('all' in r.not || 'any' in r.not)) e.actual = c.actual;
    if (leaf) e.expected = leaf[1];
    if (short) Object.assign(e, { reason: 'history', note: short });
    return e;
  }
  const v = fetch(r, ctx);
  const short = shortHistory(r, ctx, false);
  const ok = !short && test(r, v);
  const [clause, expected] = describeLeaf(r) ?? ['', ''];
  const e: Explanation = { ok, clause, expected };
  if (v !== undefined && v !== INVALID) e.actual = v;
  if (short) Object.assign(e, { reason: 'history', note: short });
  else if (!ok && (v == null || v === INVALID)) e.reason = v === INVALID ? 'invalid' : 'missing';
  if ('checklist' in r && r.accept) {
    const used = ctx.checklist?.(r.checklist)?.attestedItems?.filter((i) => !r.items || r.items.includes(i));
    if (used?.length) e.attested = used;
  }
  // Server side: say when leaving unverified events out made a difference.
  const x = ctx.anyEvidence?.explain;
  if (x && !short && (r as EventRule).evidence !== 'any') {
    const w = fetch(r, ctx, true);
    if (w !== v) e.note = x(r, v, w, test(r, w));
  }
  return e;
}
