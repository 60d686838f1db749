// The build compacts lit `css` literals (config/css-literals.mjs). Chromium must read every one
// of our stylesheets, compacted, as the same rules it reads from the text as written.
import type { CSSResultGroup } from 'lit';
import { describe, expect, it } from 'vitest';
import { compactCss, compactCssLiterals } from '../../../config/css-literals.mjs';
import { styles as checklist } from '../../checklist-widget/src/styles.js';
import { hidden as badgeHidden, styles as badge } from '../../health-badge/src/styles.js';
import { KeelDebug } from './debug.js';
import { KeelNudge } from './nudge.js';
import { KeelRecipe } from './recipe.js';

const texts = (g: CSSResultGroup): string[] => (Array.isArray(g) ? g.flatMap((x) => texts(x as CSSResultGroup)) : [(g as { cssText: string }).cssText]);
const sheets = [checklist, badge, badgeHidden, KeelNudge.styles!, KeelRecipe.styles!, KeelDebug.styles!].flatMap(texts);

/**
 * The rules as Chromium parsed and serializes them. A `var()` fallback is serialized as written,
 * so the space after its commas is set aside: it is not part of the value either way.
 */
const parsed = (text: string) => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(text);
  return [...sheet.cssRules].map((r) => r.cssText.replace(/, /g, ','));
};

describe('compacted component styles', () => {
  it.each(sheets.map((s, i) => [i, s] as const))('stylesheet %i parses to the same rules, in fewer bytes', (_, text) => {
    const compact = compactCss(text);
    expect(compact.length).toBeLessThan(text.length);
    const rules = parsed(text);
    expect(rules.length).toBeGreaterThan(0);
    expect(parsed(compact)).toEqual(rules);
  });

  it('reads comments and strings in one pass; a comment between two values still separates them', () => {
    const text = `.a::after { content: "/*"; margin: 1px/**/2px; } /* it's gone */ .b { color: red; }`;
    expect(compactCss(text)).toBe(`.a::after{content:"/*";margin:1px 2px}.b{color:red}`);
    expect(parsed(compactCss(text))).toEqual(parsed(text));
  });

  it('finds css tags, not the word in a comment, and leaves literals with escapes alone', () => {
    const code = '// lit `css` literals\nconst a = css`  .x { color: red; }  `;\nconst b = css`.\\31  .y { color: red; }`;';
    expect(compactCssLiterals(code)).toBe('// lit `css` literals\nconst a = css`.x{color:red}`;\nconst b = css`.\\31  .y { color: red; }`;');
  });

  it('keeps the spaces that carry meaning and quoted text as written', () => {
    const text = `.a :hover { content: 'x ;  } y'; width: calc(1px - 2px); }\n/* gone */ .b > .c , .d { margin : 0 ; }`;
    expect(compactCss(text)).toBe(`.a :hover{content:'x ;  } y';width:calc(1px - 2px)}.b > .c,.d{margin :0}`);
    expect(parsed(compactCss(text))).toEqual(parsed(text));
  });
});
