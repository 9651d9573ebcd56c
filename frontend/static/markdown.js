// A small Markdown renderer for agent and user messages. It returns
// vnodes (see vdom.js), never HTML: raw HTML in the input is shown as
// text, links go through safeURL, and images are shown as links (the page
// loads nothing from other origins).
//
// Supported: ATX headings, paragraphs with hard line breaks, fenced and
// indented code, block quotes, bullet and numbered lists (nested by
// indentation), GFM tables, thematic breaks; inline code, bold, italic,
// strikethrough, links, autolinks and bare URLs. Intra-word underscores
// (snake_case) are not emphasis.

import { h, safeURL } from './vdom.js';

// Messages longer than this are shown as plain text: rendering is close to
// linear, but a page of megabytes of Markdown helps nobody.
const MAX_MARKDOWN = 200000;

/** render turns Markdown text into an array of block vnodes. */
export function render(text) {
  if (typeof text !== 'string' || text === '') return [];
  if (text.length > MAX_MARKDOWN) return [h('pre', { class: 'md-plain' }, text)];
  const lines = text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n');
  return blocks(lines, 0);
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const HR = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const BULLET = /^( {0,3})([-*+])\s+(.*)$/;
const ORDERED = /^( {0,3})(\d{1,9})[.)]\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

function blank(line) {
  return line.trim() === '';
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  if (depth > 20) return [h('p', null, lines.join('\n'))];
  while (i < lines.length) {
    const line = lines[i];
    if (blank(line)) {
      i++;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const lang = m[2].toLowerCase().replace(/[^a-z0-9+#-]/g, '');
      const body = [];
      i++;
      while (i < lines.length && !new RegExp('^ {0,3}' + fence[0] + '{' + fence.length + ',}\\s*$').test(lines[i])) {
        body.push(lines[i]);
        i++;
      }
      i++; // the closing fence, or past the end
      out.push(h('pre', { class: 'md-code' }, h('code', lang ? { 'data-lang': lang } : null, body.join('\n'))));
      continue;
    }
    if (/^ {4}/.test(line)) {
      const body = [];
      while (i < lines.length && (/^ {4}/.test(lines[i]) || blank(lines[i]))) {
        body.push(lines[i].slice(4));
        i++;
      }
      while (body.length && blank(body[body.length - 1])) body.pop();
      out.push(h('pre', { class: 'md-code' }, h('code', null, body.join('\n'))));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      // Message headings sit under the page's own: h3 and below.
      const level = Math.min(m[1].length + 2, 6);
      out.push(h('h' + level, { class: 'md-h' }, inline(m[2] || '')));
      i++;
      continue;
    }
    if (HR.test(line)) {
      out.push(h('hr', null));
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && !blank(lines[i])) {
        const q = QUOTE.exec(lines[i]);
        body.push(q ? q[1] : lines[i]);
        i++;
      }
      out.push(h('blockquote', null, blocks(body, depth + 1)));
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const [node, next] = list(lines, i, depth);
      out.push(node);
      i = next;
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const [node, next] = table(lines, i);
      out.push(node);
      i = next;
      continue;
    }
    // A paragraph: up to a blank line or the start of another block.
    const para = [];
    while (i < lines.length && !blank(lines[i])) {
      const l = lines[i];
      if (para.length && (FENCE.test(l) || HEADING.test(l) || HR.test(l) || QUOTE.test(l) || BULLET.test(l) || ORDERED.test(l))) break;
      para.push(l);
      i++;
    }
    out.push(h('p', null, paragraph(para)));
  }
  return out;
}

// paragraph renders the lines of a paragraph, each line break a <br>:
// people and models alike write one line per thought.
function paragraph(lines) {
  const out = [];
  lines.forEach((l, k) => {
    if (k > 0) out.push(h('br', null));
    out.push(...inline(l.trim().replace(/\\$/, '')));
  });
  return out;
}

function list(lines, start, depth) {
  const first = BULLET.exec(lines[start]) || ORDERED.exec(lines[start]);
  const ordered = !BULLET.test(lines[start]);
  const indent = first[1].length;
  const items = [];
  let i = start;
  while (i < lines.length) {
    const m = ordered ? ORDERED.exec(lines[i]) : BULLET.exec(lines[i]);
    if (!m || m[1].length !== indent) break;
    // The item's content column: where its text starts.
    const col = lines[i].length - m[3].length;
    const body = [m[3]];
    i++;
    while (i < lines.length) {
      const l = lines[i];
      if (blank(l)) {
        // A blank line ends the item unless the next line is indented
        // into it.
        if (i + 1 < lines.length && lines[i + 1].search(/\S/) >= col) {
          body.push('');
          i++;
          continue;
        }
        break;
      }
      const ind = l.search(/\S/);
      if (ind >= col) {
        body.push(l.slice(col));
      } else if (ind <= indent && (BULLET.test(l) || ORDERED.test(l))) {
        break;
      } else if (ind > indent && (BULLET.test(l.slice(Math.min(ind, indent + 3))) || ORDERED.test(l.slice(Math.min(ind, indent + 3))))) {
        // A nested list indented less than the content column.
        body.push(l.slice(Math.min(ind, col)));
      } else {
        body.push(l.trim()); // a lazy continuation line
      }
      i++;
    }
    const content = blocks(body, depth + 1);
    // A tight item: a single paragraph is shown without its <p>.
    if (content.length >= 1 && content[0].tag === 'p' && !body.includes('')) {
      items.push(h('li', null, content[0].children, content.slice(1)));
    } else {
      items.push(h('li', null, content));
    }
    while (i < lines.length && blank(lines[i]) && i + 1 < lines.length && (ordered ? ORDERED : BULLET).test(lines[i + 1])) i++;
  }
  const attrs = ordered && first[2] !== '1' ? { start: String(parseInt(first[2], 10)) } : null;
  return [h(ordered ? 'ol' : 'ul', attrs, items), i];
}

function cells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const out = [];
  let cur = '';
  let code = false;
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (c === '\\' && s[k + 1] === '|') {
      cur += '|';
      k++;
    } else if (c === '`') {
      code = !code;
      cur += c;
    } else if (c === '|' && !code) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur.trim());
  return out;
}

function table(lines, start) {
  const head = cells(lines[start]);
  const align = cells(lines[start + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : ''));
  let i = start + 2;
  const rows = [];
  while (i < lines.length && !blank(lines[i]) && lines[i].includes('|')) {
    rows.push(cells(lines[i]));
    i++;
  }
  const cell = (tag, text, k) => h(tag, align[k] ? { class: 'md-' + align[k] } : null, inline(text));
  return [
    h('div', { class: 'md-table' },
      h('table', null,
        h('thead', null, h('tr', null, head.map((c, k) => cell('th', c, k)))),
        h('tbody', null, rows.map((r) => h('tr', null, head.map((_, k) => cell('td', r[k] || '', k))))))),
    i,
  ];
}

const PUNCT = /[!-/:-@[-`{-~]/;

// SCAN bounds the search for a closing delimiter or bracket.
const SCAN = 4000;

// SCAN_BUDGET bounds all such searches of one line together: past it,
// the rest of the line is read without looking for closers.
const SCAN_BUDGET = 200000;

/** inline renders the inline Markdown of one line into vnodes and strings. */
export function inline(text, depth = 0, budget = { left: SCAN_BUDGET }) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(buf);
    buf = '';
  };
  let i = 0;
  const n = text.length;
  const unclosed = new Set();
  while (i < n) {
    const c = text[i];
    if (c === '\\' && i + 1 < n && PUNCT.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      let run = 1;
      while (text[i + run] === '`') run++;
      const fence = '`'.repeat(run);
      // No closing run after here means none after any later place either.
      let j = unclosed.has(run) ? -1 : text.indexOf(fence, i + run);
      while (j !== -1 && text[j + run] === '`') {
        // A longer run of backticks is not the closing one.
        let k = j;
        while (text[k] === '`') k++;
        j = text.indexOf(fence, k);
      }
      if (j !== -1) {
        let code = text.slice(i + run, j);
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ')) code = code.slice(1, -1);
        flush();
        out.push(h('code', null, code));
        i = j + run;
        continue;
      }
      unclosed.add(run);
      buf += fence;
      i += run;
      continue;
    }
    if (c === '<') {
      const m = /^<((?:https?|mailto):[^\s<>]+)>/i.exec(text.slice(i));
      if (m) {
        flush();
        out.push(link(m[1], [m[1]]));
        i += m[0].length;
        continue;
      }
    }
    if (c === '!' && text[i + 1] === '[') {
      const l = linkAt(text, i + 1, budget);
      if (l) {
        flush();
        // Images are links: the page does not load remote content.
        out.push(link(l.url, ['image: ' + (l.label || l.url)], l.title));
        i = l.end;
        continue;
      }
    }
    if (c === '[' && depth < 5) {
      const l = linkAt(text, i, budget);
      if (l) {
        flush();
        out.push(link(l.url, inline(l.label, depth + 1, budget), l.title));
        i = l.end;
        continue;
      }
    }
    if ((c === 'h' || c === 'H') && /^https?:\/\//i.test(text.slice(i, i + 8)) && (i === 0 || /[\s(*_~]/.test(text[i - 1]))) {
      let m = /^https?:\/\/[^\s<>]+/i.exec(text.slice(i))[0];
      // Trailing punctuation ends a sentence, not the URL; a closing
      // parenthesis belongs to the URL only if it opened one.
      while (/[.,;:!?'"*_~]$/.test(m) || (m.endsWith(')') && count(m, '(') < count(m, ')'))) m = m.slice(0, -1);
      flush();
      out.push(link(m, [m]));
      i += m.length;
      continue;
    }
    if ((c === '*' || c === '_' || c === '~') && depth < 10) {
      const e = emphasisAt(text, i, budget);
      if (e) {
        flush();
        out.push(h(e.tag, null, inline(e.inner, depth + 1, budget)));
        i = e.end;
        continue;
      }
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}

function count(s, ch) {
  let k = 0;
  for (const c of s) if (c === ch) k++;
  return k;
}

function link(url, children, title) {
  const href = safeURL(url);
  if (href === null) return h('span', { class: 'md-unsafe-link' }, children);
  const attrs = { href, rel: 'noopener noreferrer nofollow', target: '_blank' };
  if (title) attrs.title = title;
  return h('a', attrs, children);
}

// linkAt reads [label](url "title") at text[i] === '['.
function linkAt(text, i, budget) {
  if (budget.left <= 0) return null;
  let level = 0;
  let j = i;
  const stop = Math.min(text.length, i + SCAN);
  for (; j < stop; j++, budget.left--) {
    const c = text[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '[') level++;
    else if (c === ']' && --level === 0) break;
  }
  if (j >= stop || text[j + 1] !== '(') return null;
  const m = /^\(\s*(<[^<>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+"([^"]*)")?\s*\)/.exec(text.slice(j + 1));
  if (!m) return null;
  let url = m[1];
  if (url.startsWith('<')) url = url.slice(1, -1);
  return { label: text.slice(i + 1, j), url, title: m[2] || '', end: j + 1 + m[0].length };
}

// emphasisAt reads **strong**, *em*, __strong__, _em_ or ~~del~~ at
// text[i]. The closing delimiter must follow a non-space; an underscore
// must not be inside a word on the outside (snake_case stays as is).
function emphasisAt(text, i, budget) {
  if (budget.left <= 0) return null;
  const c = text[i];
  let run = 1;
  while (text[i + run] === c) run++;
  if (c === '~' ? run !== 2 : run > 3) return null;
  const open = run;
  const next = text[i + open];
  if (next === undefined || /\s/.test(next)) return null;
  const word = /[\p{L}\p{N}]/u;
  if (c === '_' && i > 0 && word.test(text[i - 1])) return null;
  // Look no further than SCAN characters: keeps a line full of lone
  // delimiters from taking quadratic time.
  for (let j = i + open + 1, stop = Math.min(text.length, i + SCAN); j < stop; budget.left--) {
    if (text[j] !== c) {
      j++;
      continue;
    }
    let r = 1;
    while (text[j + r] === c) r++;
    const ok = r >= open && !/\s/.test(text[j - 1]) && !(c === '_' && word.test(text[j + r] || ''));
    if (!ok) {
      j += r;
      continue;
    }
    const inner = text.slice(i + open, j);
    const end = j + open;
    if (c === '~') return { tag: 'del', inner, end };
    if (open === 3) return { tag: 'strong', inner: c + inner + c, end };
    return { tag: open === 2 ? 'strong' : 'em', inner, end };
  }
  return null;
}
