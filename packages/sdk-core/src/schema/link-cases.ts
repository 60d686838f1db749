/**
 * The table of link cases every implementation of the link rule (./link.ts) is tested with: the
 * schema and validateConfig (./links.test.ts), the nudge renderer's copy (same test, and its
 * markdown in Chromium), and real clicks on nudge and checklist actions
 * (packages/nudge-widget/src/links.browser.test.ts). A test fixture: nothing ships it.
 */
export interface LinkCase {
  link: string;
  ok: boolean;
  /** Why it is allowed or refused, for the test's name. */
  why: string;
}

const ok = (link: string, why: string): LinkCase => ({ link, ok: true, why });
const no = (link: string, why: string): LinkCase => ({ link, ok: false, why });

export const LINK_CASES: readonly LinkCase[] = [
  ok('https://acme.example/reports', 'https with a host and a path'),
  ok('http://acme.example', 'http with a host alone'),
  ok('HTTPS://Acme.Example/Path', 'the scheme in capitals'),
  ok('https://acme.example:8443/settings', 'a port'),
  ok('https://acme.example?tab=new', 'a query straight after the host'),
  ok('https://acme.example#top', 'a fragment straight after the host'),
  ok('https://localhost:3000/x', 'a host without a dot'),
  ok('https://docs.acme.example/a/@team/b?q=1&r=2#h', 'an @ in the path, a query and a fragment'),
  ok('/settings/sso', 'a path on this site'),
  ok('/', 'the site root'),
  ok('/reports?tab=new#top', 'a path with a query and a fragment'),
  ok('/docs/%20encoded%22quote', 'percent-encoded space and quote'),
  ok('/docs/über', 'non-ASCII letters in the path'),

  no('/x"><svg/onload=alert(1)>', 'a double quote and angle brackets (breaking out of an attribute)'),
  no('https://acme.example/"onmouseover=alert(1)', 'a double quote'),
  no("/x'onmouseover='alert(1)", 'a single quote'),
  no('/x`y', 'a backtick'),
  no('/a<b', 'an opening angle bracket'),
  no('/a>b', 'a closing angle bracket'),
  no('/\\evil.example', 'a backslash after the slash (browsers read /\\ as //)'),
  no('https:\\\\evil.example', 'backslashes for slashes'),
  no('https://acme.example\\@evil.example', 'a backslash in the host'),
  no('/a\\b', 'a backslash in the path'),
  no('/a\u0000b', 'NUL'),
  no('/a\u0007b', 'a C0 control (BEL)'),
  no('/a\u007fb', 'DEL'),
  no('/a\u0085b', 'a C1 control (NEL)'),
  no('java\nscript:alert(1)', 'a newline inside a scheme'),
  no('/\t/evil.example', 'a tab (browsers drop it, joining //)'),
  no('/a\u200bb', 'a zero-width space'),
  no('/a\u202eb', 'a right-to-left override'),
  no('/a\u00adb', 'a soft hyphen'),
  no('/a\ufeffb', 'a byte-order mark'),
  no(' /settings', 'leading whitespace'),
  no('/settings ', 'trailing whitespace'),
  no('/a b', 'a space'),
  no('/a\u00a0b', 'a no-break space'),
  no('/a\u2028b', 'a line separator'),
  no('/a\u3000b', 'an ideographic space'),
  no('javascript:alert(1)', 'javascript:'),
  no('JavaScript:alert(1)', 'javascript: in mixed case'),
  no('data:text/html,<script>alert(1)</script>', 'data:'),
  no('vbscript:msgbox(1)', 'vbscript:'),
  no('file:///etc/passwd', 'file:'),
  no('ftp://acme.example/x', 'ftp:'),
  no('mailto:cs@acme.example', 'mailto:'),
  no('//evil.example/x', 'protocol-relative (another site)'),
  no('reports', 'a relative path without /'),
  no('./reports', 'a dot-relative path'),
  no('?tab=new', 'a bare query'),
  no('#top', 'a bare fragment'),
  no('', 'empty'),
  no('https://', 'no host'),
  no('https:///x', 'an empty host then a path'),
  no('https://?x', 'an empty host then a query'),
  no('https:/acme.example', 'one slash after the scheme'),
  no('https://user@evil.example', 'userinfo'),
  no('https://acme.example@evil.example', 'userinfo that looks like the host'),
  no('https://user:pw@evil.example', 'userinfo with a password'),
  no('https://%65vil.example/', 'a percent-encoded host'),
  no('https://[::1]/', 'an IPv6 literal'),
  no('https://acme.example:/x', 'an empty port'),
  no('https://acme.example:80x/', 'a port that is not a number'),
];
