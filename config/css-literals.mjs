// Our components' styles are lit `css` template literals. A minifier keeps a template's text as
// written, so each package's build (config/rollup.mjs) compacts them first, and the bench
// (scripts/bench/sizes.mjs) measures the same compacted text a vendor's bundler receives from dist/.
//
// Only changes that cannot alter what the CSS means: comments go, whitespace runs become one
// space, and the space next to `{`, `}`, `;` and `,` or after a `:` goes. Quoted strings are left
// as they are, and so is every other space (`a :hover` is not `a:hover`, `calc(1px - 2px)` needs
// its spaces).
// A template with `${…}` interpolations is left alone.

const LITERAL = /\bcss`([^`]*)`/g;
const QUOTED = /("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/;

/** Compacts one stylesheet's text (outside quoted strings). @param {string} text */
export function compactCss(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split(QUOTED)
    .map((part, i) => (i % 2 ? part : part.replace(/\s+/g, ' ').replace(/ ?([{};,]) ?/g, '$1').replace(/: /g, ':').replace(/;}/g, '}')))
    .join('')
    .trim();
}

/** Compacts every interpolation-free css`…` literal in a module's source. @param {string} code */
export function compactCssLiterals(code) {
  return code.replace(LITERAL, (whole, body) => (body.includes('${') ? whole : `css\`${compactCss(body)}\``));
}
