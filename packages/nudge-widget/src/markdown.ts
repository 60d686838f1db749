/**
 * CS-authored content → DOM nodes. A small safe subset: paragraphs, **bold**, *italic*,
 * `code`, [links](https://…) and "- " / "1. " lists. Text is only ever set with text nodes,
 * never innerHTML, so `<script>`, `<img onerror>` or a quote that breaks an attribute render as
 * the literal characters; links are kept only for http(s) (and relative paths) and open safely.
 */

/**
 * sdk-core's SAFE_LINK (packages/sdk-core/src/schema/link.ts: what it allows and why), copied
 * rather than imported: the UI chunk importing it at run time made a bundler split it into one
 * more file that every page with the guide UI loads up front. links.test.ts (sdk-core) holds the
 * copy to the same source and runs it over the shared table of link cases.
 */
export const SAFE_URL =
  /^(?=[^\s"'`<>\\\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufff9-\ufffb]*$)(?:[hH][tT][tT][pP][sS]?:\/\/[^/?#@:%[\]]+(?::\d{1,5})?(?:[/?#]|$)|\/(?!\/))/;

/** A link target a nudge may open (SAFE_URL), or undefined: nothing is trimmed or repaired. */
export function safeHref(href: string): string | undefined {
  return SAFE_URL.test(href) ? href : undefined;
}

type Inline = { kind: 'text' | 'strong' | 'em' | 'code'; text: string } | { kind: 'link'; text: string; href: string };

export const INLINE = /(\*\*([^*]+)\*\*)|(\*([^*]+)\*)|(`([^`]+)`)|(\[([^\]]+)\]\(([^)\s]+)\))/g;

function inline(src: string): Inline[] {
  const out: Inline[] = [];
  let last = 0;
  for (const m of src.matchAll(INLINE)) {
    if (m.index > last) out.push({ kind: 'text', text: src.slice(last, m.index) });
    if (m[2] !== undefined) out.push({ kind: 'strong', text: m[2] });
    else if (m[4] !== undefined) out.push({ kind: 'em', text: m[4] });
    else if (m[6] !== undefined) out.push({ kind: 'code', text: m[6] });
    else {
      const href = safeHref(m[9]!);
      // An unsafe link keeps its label as plain text: the author sees the link is missing, users see no trap.
      out.push(href ? { kind: 'link', text: m[8]!, href } : { kind: 'text', text: m[8]! });
    }
    last = m.index + m[0].length;
  }
  if (last < src.length) out.push({ kind: 'text', text: src.slice(last) });
  return out;
}

function appendInline(doc: Document, parent: Node, src: string) {
  for (const part of inline(src)) {
    if (part.kind === 'text') {
      parent.appendChild(doc.createTextNode(part.text));
      continue;
    }
    const el = doc.createElement(part.kind === 'link' ? 'a' : part.kind);
    el.textContent = part.text;
    if (part.kind === 'link') {
      const a = el as HTMLAnchorElement;
      a.href = part.href;
      if (/^https?:/i.test(part.href)) {
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
      }
    }
    parent.appendChild(el);
  }
}

/** Renders the subset into a fragment of DOM nodes. */
export function renderMarkdown(src: string, doc: Document = document): DocumentFragment {
  const frag = doc.createDocumentFragment();
  const blocks = src.replace(/\r\n?/g, '\n').split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (!lines.length) continue;
    const bullet = lines.every((l) => /^\s*[-*] /.test(l));
    const numbered = lines.every((l) => /^\s*\d+\. /.test(l));
    if (bullet || numbered) {
      const list = doc.createElement(bullet ? 'ul' : 'ol');
      for (const l of lines) {
        const li = doc.createElement('li');
        appendInline(doc, li, l.replace(bullet ? /^\s*[-*] / : /^\s*\d+\. /, ''));
        list.appendChild(li);
      }
      frag.appendChild(list);
    } else {
      const p = doc.createElement('p');
      lines.forEach((l, i) => {
        if (i) p.appendChild(doc.createElement('br'));
        appendInline(doc, p, l);
      });
      frag.appendChild(p);
    }
  }
  return frag;
}
