// The config says who may attest an item, and where a lifecycle proof accepts attestation.
import { describe, expect, test } from 'vitest';
import { validateConfig } from '../authoring/validate.js';
import { ChecklistItemSchema } from './document.js';
import { RuleSchema } from './rule.js';

const item = (attest: unknown) => ({ id: 'contract', title: 'Sign', complete: { page: '/signed' }, attest });

describe('attest and accept', () => {
  test('attest: user, or { roles: [...] }; anything else is named', () => {
    expect(ChecklistItemSchema.safeParse(item('user')).success).toBe(true);
    expect(ChecklistItemSchema.safeParse(item({ roles: ['admin'] })).success).toBe(true);
    const bad = ChecklistItemSchema.safeParse(item('anyone'));
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/expected attest: user or attest: \{ roles: \[admin\] \}, found "anyone"/);
    expect(ChecklistItemSchema.safeParse(item({ roles: [] })).success).toBe(false);
  });

  test('a checklist clause may accept attested items; nothing else may', () => {
    expect(RuleSchema.safeParse({ checklist: 'onboarding', accept: 'attested' }).success).toBe(true);
    expect(RuleSchema.safeParse({ checklist: 'onboarding', accept: 'claims' }).error!.issues[0]!.message).toMatch(/expected accept: "attested"/);
    expect(
      RuleSchema.safeParse({ event: 'x', accept: 'attested' })
        .error!.issues.map((i) => i.message)
        .join(),
    ).toMatch(/"accept" does not belong in an "event" clause/);
  });

  test('a whole config with both validates', () => {
    const r = validateConfig({
      version: 1,
      product: 'acme',
      checklists: [{ id: 'onboarding', title: 'x', items: [item({ roles: ['admin'] })] }],
      lifecycle: {
        initial: 'a',
        states: { a: {}, b: { proof: { checklist: 'onboarding', items: ['contract'], accept: 'attested' } } },
        transitions: [{ from: 'a', to: 'b' }],
      },
    });
    expect(r.problems ?? []).toEqual([]);
  });
});
