/**
 * The one rule for links CS-authored config may open (nudge and checklist actions, links in
 * nudge and recipe text). The schema refuses config that breaks it, the engine refuses to open
 * such a link, and the nudge renderer (@keel/nudge-widget's markdown.ts keeps a byte-for-byte
 * copy) refuses to render it; link-cases.ts is the table of cases all of them are tested with.
 *
 * Allowed: `http://` or `https://` with a host (an optional `:port`, then the end or `/`, `?`,
 * `#`), or a path on this site starting with a single `/`. Refused anywhere in the string:
 * whitespace, quotes (`"` `'` `` ` ``), angle brackets, backslashes, control characters (C0, DEL,
 * C1) and invisible format characters (soft hyphen, zero-width and bidi controls). Refused
 * hosts: empty, with userinfo (`user@`), with `%`, IPv6 literals. So `javascript:`, `data:`,
 * `//other.site`, `/\other.site` (browsers read `\` as `/`) and `/x"><svg/onload=…>` never pass.
 *
 * No flags (`i`, `u`), so the JSON Schema generated from the config schema carries the same
 * pattern to editors: the scheme's case is spelt out instead.
 */
export const SAFE_LINK =
  /^(?=[^\s"'`<>\\\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufff9-\ufffb]*$)(?:[hH][tT][tT][pP][sS]?:\/\/[^/?#@:%[\]]+(?::\d{1,5})?(?:[/?#]|$)|\/(?!\/))/;
