/**
 * Ids and keys that come from config or users (`constructor`, `__proto__`, `toString`…) are
 * looked up as own keys only: never something inherited from Object.prototype.
 */
import { describe, expect, test } from 'vitest';
import { validateConfig } from './authoring/index.js';
import { parseLedger } from './client/budget.js';
import { resolveText } from './client/text.js';
import { allows, type LifecycleModel } from './lifecycle/machine.js';
import { referencedIds } from './rules/events.js';
import { get } from './rules/match.js';
import { parseMessage } from './schema/message.js';

const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

describe('prototype names are plain unknown keys', () => {
  test.each(PROTO)('message type %s: an unknown type, named', (type) => {
    expect(parseMessage({ type, messageId: 'm', anonymousId: 'a' })).toMatchObject({
      success: false,
      issues: [{ path: 'type', message: expect.stringContaining(`found "${type}"`) }],
    });
  });

  test('a checklist id "constructor" in a rule: its items are collected, not looked up on Object', () => {
    expect(referencedIds({ checklist: 'constructor', items: ['a', 'b'] }).items).toEqual({ constructor: ['a', 'b'] });
    expect(
      referencedIds({
        all: [
          { checklist: 'constructor', items: ['a'] },
          { checklist: 'tostring', items: ['b'] },
        ],
      }).items.constructor,
    ).toEqual(['a']);
  });

  test('a config whose checklist is called "constructor" validates without throwing', () => {
    const r = validateConfig({
      version: 1,
      product: 'x',
      checklists: [{ id: 'constructor', title: 'C', items: [{ id: 'a', title: 'A', complete: { event: 'x' } }] }],
      nudges: [{ id: 'n', trigger: { checklist: 'constructor', items: ['a'] }, body: 'hi' }],
    });
    expect(typeof r.ok).toBe('boolean');
  });

  test.each(PROTO)('a config with a top-level section named %s: an unknown key, reported, never a throw', (key) => {
    // The fuzz suite found this: validation of an invalid document looked sections up with `in`.
    const doc = JSON.parse(`{"version":1,"product":"x","${key}":[{"a":1}],"nudges":[{"id":"n"}]}`);
    const r = validateConfig(doc);
    expect(r.ok).toBe(false);
    expect(r.problems.length).toBeGreaterThan(0);
  });

  test('a lifecycle state named like a prototype key is an unknown state', () => {
    const model: LifecycleModel = { initial: 'new', states: { new: {} }, transitions: [] } as unknown as LifecycleModel;
    for (const s of PROTO) expect(allows(model, s, 'nudge:x')).toEqual({ ok: false, reason: `unknown lifecycle state "${s}"` });
    expect(allows(model, 'new', 'nudge:x')).toEqual({ ok: true });
  });

  test('the fatigue ledger: a nudge id "constructor" is neither dismissed nor snoozed until someone dismisses it', () => {
    const l = parseLedger(null, 0);
    for (const id of PROTO) {
      expect(l.dismissed[id]).toBeUndefined();
      expect(l.snoozed[id]).toBeUndefined();
    }
    const stored = parseLedger(JSON.stringify({ v: 1, session: { start: 0, last: 0 }, shown: [], closedAt: 0, snoozed: {}, dismissed: { constructor: 5 } }), 0);
    expect(stored.dismissed.constructor).toBe(5);
    expect(stored.dismissed.toString).toBeUndefined();
  });

  test('text for a locale named like a prototype key falls back, never renders a function', () => {
    expect(resolveText({ fr: 'Bonjour', en: 'Hello' }, 'constructor')).toBe('Hello');
    expect(resolveText({ fr: 'Bonjour' }, 'toString')).toBe('Bonjour');
  });

  test('event properties: only own keys match', () => {
    expect(get({}, 'constructor')).toBeUndefined();
    expect(get({ a: {} }, 'a.toString')).toBeUndefined();
  });
});
