/**
 * The lifecycle: a small typed state machine whose transitions are taken when the target state's
 * entry proof (a rule) holds. Pure and deterministic: the same facts in the same order give the
 * same states, in the browser and in the server. Exports to XState-shaped JSON for visualisers.
 */
import { evaluate } from '../rules/evaluate.js';
import type { Explanation, Rule, RuleContext } from '../rules/types.js';

export interface LifecycleState {
  owner?: string;
  /** Entry proof: the state is entered when this holds (states without one are entered only as `initial`). */
  proof?: Rule;
  /** Actions allowed in this state: `nudge:reports-unused`, `recipe:*`, `checklist:onboarding`. Absent = all. */
  allows?: readonly string[];
}

export interface LifecycleModel {
  initial: string;
  states: Readonly<Record<string, LifecycleState>>;
  transitions: readonly { from: string | readonly string[]; to: string }[];
}

export interface Transition {
  from: string;
  to: string;
  /** When it was taken (the evaluation time). */
  at: number;
  /** The proof's evaluation: which clauses held, with what values. */
  evidence: Explanation;
}

const froms = (t: LifecycleModel['transitions'][number]) => (typeof t.from === 'string' ? [t.from] : t.from);

/** The first transition out of `current` whose target's proof holds, in config order. */
export function nextTransition(model: LifecycleModel, current: string, ctx: RuleContext): Transition | undefined {
  for (const t of model.transitions) {
    if (!froms(t).includes(current) || t.to === current) continue;
    const proof = Object.hasOwn(model.states, t.to) ? model.states[t.to]?.proof : undefined;
    if (!proof) continue;
    const evidence = evaluate(proof, { ...ctx, lifecycle: current });
    if (evidence.ok) return { from: current, to: t.to, at: ctx.now, evidence };
  }
  return undefined;
}

/**
 * Takes transitions until none applies (several may chain in one evaluation). A state is never
 * entered twice in one run, so a cycle in the config cannot loop forever.
 */
export function advance(model: LifecycleModel, current: string, ctx: RuleContext): { state: string; transitions: Transition[] } {
  const transitions: Transition[] = [];
  const visited = new Set([current]);
  let state = current;
  for (;;) {
    const t = nextTransition(model, state, ctx);
    if (!t || visited.has(t.to)) break;
    transitions.push(t);
    visited.add(t.to);
    state = t.to;
  }
  return { state, transitions };
}

/** Replays evaluation points (e.g. each stored event's time) from the initial state, in order. */
export function replay(model: LifecycleModel, points: readonly RuleContext[]): { state: string; transitions: Transition[] } {
  let state = model.initial;
  const all: Transition[] = [];
  for (const ctx of points) {
    const r = advance(model, state, ctx);
    state = r.state;
    all.push(...r.transitions);
  }
  return { state, transitions: all };
}

const matchesPattern = (pattern: string, action: string) => {
  if (!pattern.includes('*')) return pattern === action;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(action);
};

/** Whether `action` (`nudge:upgrade-seats`) may run in `state`; with the reason when it may not. */
export function allows(model: LifecycleModel, state: string, action: string): { ok: true } | { ok: false; reason: string } {
  const def = Object.hasOwn(model.states, state) ? model.states[state] : undefined;
  if (!def) return { ok: false, reason: `unknown lifecycle state "${state}"` };
  if (!def.allows) return { ok: true };
  return def.allows.some((p) => matchesPattern(p, action))
    ? { ok: true }
    : { ok: false, reason: `"${action}" is not allowed in lifecycle state "${state}" (allows: ${def.allows.join(', ') || 'nothing'})` };
}

/** XState-shaped JSON (`createMachine` config), for visualisers; guards name the proof. */
export function toXState(model: LifecycleModel, id = 'lifecycle') {
  const states: Record<string, { on?: Record<string, { target: string; guard: string }[]>; meta?: Record<string, unknown> }> = {};
  for (const [name, def] of Object.entries(model.states)) {
    const on: Record<string, { target: string; guard: string }[]> = {};
    for (const t of model.transitions) {
      if (!froms(t).includes(name)) continue;
      (on.EVALUATE ??= []).push({ target: t.to, guard: `proof:${t.to}` });
    }
    const meta: Record<string, unknown> = {};
    if (def.owner) meta.owner = def.owner;
    if (def.allows) meta.allows = def.allows;
    if (def.proof) meta.proof = def.proof;
    states[name] = { ...(Object.keys(on).length ? { on } : {}), ...(Object.keys(meta).length ? { meta } : {}) };
  }
  return { id, initial: model.initial, states };
}
