import type { Text } from './types.js';

/** Resolves CS-authored text for a locale: exact (`fr-CA`), then language (`fr`), then `en`, then any. */
export function resolveText(t: Text | undefined, locale: string): string {
  if (t === undefined) return '';
  if (typeof t === 'string') return t;
  const lang = locale.split('-')[0]!;
  const own = (k: string) => (Object.hasOwn(t, k) ? t[k] : undefined);
  return own(locale) ?? own(lang) ?? own('en') ?? Object.values(t)[0] ?? '';
}

// The link rule lives with the config schema (one rule for the schema, the engine and the renderers).
export { SAFE_LINK } from '../schema/link.js';
