import type { Text } from './types.js';

/** Resolves CS-authored text for a locale: exact (`fr-CA`), then language (`fr`), then `en`, then any. */
export function resolveText(t: Text | undefined, locale: string): string {
  if (t === undefined) return '';
  if (typeof t === 'string') return t;
  const lang = locale.split('-')[0]!;
  const own = (k: string) => (Object.hasOwn(t, k) ? t[k] : undefined);
  return own(locale) ?? own(lang) ?? own('en') ?? Object.values(t)[0] ?? '';
}

/**
 * A link CS-authored config may open: http(s), or a path on this site (`/reports`). Not
 * `javascript:` or `data:`, not `//other.site` nor `/\\other.site` (which browsers read as
 * `//other.site`), and no whitespace or control characters (browsers drop some, joining the rest).
 */
export const SAFE_LINK = /^(?:https?:\/\/[^\s\\/\x00-\x1f]|\/(?![/\\]))[^\s\\\x00-\x1f]*$/i;
