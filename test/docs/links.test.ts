// The docs are self-contained: every relative link in README.md and docs/ names a file (or a
// folder) in this repository, and none points at design notes kept outside it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

/** Markdown links `[text](target)`, outside code spans and fences. */
function linksOf(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

describe('docs', () => {
  test.each(docs)('%s: relative links resolve inside the repository', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const broken = linksOf(text)
      .filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l) && !l.startsWith('#'))
      .map((l) => decodeURIComponent(l.split('#')[0]!))
      .filter((l) => l !== '')
      .filter((l) => {
        const target = join(dirname(join(root, file)), l);
        return relative(root, target).startsWith('..') || !existsSync(target);
      });
    expect(broken).toEqual([]);
  });

  test.each(docs)('%s: names no design note kept outside the repository', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    expect(text).not.toMatch(/\b(DESIGN|PERFORMANCE|CONVENTIONS)\.md\b|\.\.\/shared\//);
  });
});
