// Our components' styles are lit `css` template literals. A minifier keeps a template's text as
// written, so each package's build (config/rollup.mjs) compacts them first, and the bench
// (scripts/bench/sizes.mjs) measures the same compacted text a vendor's bundler receives from dist/.
//
// Only changes that cannot alter what the CSS means: comments go, whitespace runs become one
// space, and the space next to `{`, `}`, `;` and `,` or after a `:` goes. Quoted strings are left
// as they are, and so is every other space (`a :hover` is not `a:hover`, `calc(1px - 2px)` needs
// its spaces).
// A template with `${…}` interpolations or a backslash is left alone.

// A `css` tag, not the word in a comment such as "lit `css` literals".
const LITERAL = /(?<![`\w$.])css`([^`]*)`/g;
// Strings and comments, found in one pass, so neither is mistaken for the other.
const TOKENS = /("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\/\*[\s\S]*?\*\/)/;

/** Compacts one stylesheet's text; quoted strings are kept as written. @param {string} text */
export function compactCss(text) {
  let out = '';
  let run = ''; // the text between two strings, comments already turned into spaces
  const flush = () => {
    out += run
      .replace(/\s+/g, ' ')
      .replace(/ ?([{};,]) ?/g, '$1')
      .replace(/: /g, ':')
      .replace(/;}/g, '}');
    run = '';
  };
  for (const [i, part] of text.split(TOKENS).entries()) {
    if (i % 2 === 0) run += part;
    else if (part.startsWith('/*'))
      run += ' '; // `1px/**/2px` is two values
    else {
      flush();
      out += part;
    }
  }
  flush();
  return out.trim();
}

/**
 * Compacts every `css` literal in a module's source, except those with `${…}` interpolations or
 * a backslash (a CSS escape can end with a space that matters).
 * @param {string} code
 */
export function compactCssLiterals(code) {
  return code.replace(LITERAL, (whole, body) => (body.includes('${') || body.includes('\\') ? whole : `css\`${compactCss(body)}\``));
}
