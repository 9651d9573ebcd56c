// Line diffs for file edits: Myers' O(ND) algorithm, grouped into hunks
// with a few lines of context, rendered as a unified diff.

import { h } from './vdom.js';

/** @typedef {{op: ' '|'-'|'+', text: string, a: (number|null), b: (number|null)}} Line */

// Beyond this many differing lines the diff is not searched for: the old
// text is shown removed and the new one added.
const MAX_D = 1000;

/** lines splits text into lines; a final newline does not make an empty line. */
export function lines(text) {
  if (text === null || text === undefined || text === '') return [];
  const l = String(text).replace(/\r\n/g, '\n').split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

/**
 * diffLines compares two texts line by line. Each line of the result has
 * its 1-based line numbers in the old (a) and new (b) text.
 */
export function diffLines(oldText, newText) {
  const a = lines(oldText);
  const b = lines(newText);
  // Common prefix and suffix first: edits are usually small.
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const mid = myers(am, bm);
  const out = [];
  for (let k = 0; k < pre; k++) out.push({ op: ' ', text: a[k], a: k + 1, b: k + 1 });
  let ia = pre;
  let ib = pre;
  for (const op of mid) {
    if (op === ' ') {
      out.push({ op, text: a[ia], a: ia + 1, b: ib + 1 });
      ia++;
      ib++;
    } else if (op === '-') {
      out.push({ op, text: a[ia], a: ia + 1, b: null });
      ia++;
    } else {
      out.push({ op, text: b[ib], a: null, b: ib + 1 });
      ib++;
    }
  }
  for (let k = 0; k < suf; k++) out.push({ op: ' ', text: a[ia + k], a: ia + k + 1, b: ib + k + 1 });
  return out;
}

// myers returns the edit script from a to b as a list of ' ', '-', '+'.
function myers(a, b) {
  const n = a.length;
  const m = b.length;
  if (n === 0) return Array(m).fill('+');
  if (m === 0) return Array(n).fill('-');
  const max = Math.min(n + m, MAX_D);
  const off = max;
  const v = new Int32Array(2 * max + 2);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x;
      if (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) x = v[off + k + 1];
      else x = v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, off, n, m, d);
    }
  }
  return [...Array(n).fill('-'), ...Array(m).fill('+')];
}

function backtrack(trace, off, n, m, dEnd) {
  const ops = [];
  let x = n;
  let y = m;
  for (let d = dEnd; d > 0; d--) {
    const v = trace[d];
    const k = x - y;
    const prevK = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? k + 1 : k - 1;
    const prevX = v[off + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push(' ');
      x--;
      y--;
    }
    ops.push(x === prevX ? '+' : '-');
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    ops.push(' ');
    x--;
    y--;
  }
  return ops.reverse();
}

/**
 * hunks groups a diff into hunks of changes with `context` lines around
 * them. Each hunk is {aStart, aLen, bStart, bLen, lines}.
 */
export function hunks(diff, context = 3) {
  const groups = [];
  for (let i = 0; i < diff.length; i++) {
    if (diff[i].op === ' ') continue;
    const g = groups[groups.length - 1];
    if (g && i - g.last <= 2 * context) g.last = i;
    else groups.push({ first: i, last: i });
  }
  return groups.map(({ first, last }) => {
    const ls = diff.slice(Math.max(first - context, 0), Math.min(last + context + 1, diff.length));
    const firstA = ls.find((l) => l.a !== null);
    const firstB = ls.find((l) => l.b !== null);
    return {
      aStart: firstA ? firstA.a : 0,
      aLen: ls.filter((l) => l.op !== '+').length,
      bStart: firstB ? firstB.b : 0,
      bLen: ls.filter((l) => l.op !== '-').length,
      lines: ls,
    };
  });
}

/** stats counts the added and removed lines of a diff. */
export function stats(diff) {
  let added = 0;
  let removed = 0;
  for (const l of diff) {
    if (l.op === '+') added++;
    else if (l.op === '-') removed++;
  }
  return { added, removed };
}

/**
 * render shows the change from oldText to newText as a unified diff:
 * a header with the path and counts, then the hunks.
 */
export function render(path, oldText, newText, context = 3) {
  const d = diffLines(oldText, newText);
  const { added, removed } = stats(d);
  const hs = hunks(d, context);
  return h('div', { class: 'diff' },
    h('div', { class: 'diff-head' },
      h('span', { class: 'diff-path' }, path || ''),
      h('span', { class: 'diff-stat' }, h('span', { class: 'diff-added' }, `+${added}`), ' ', h('span', { class: 'diff-removed' }, `−${removed}`))),
    hs.length === 0
      ? h('div', { class: 'diff-empty' }, 'no change')
      : h('pre', { class: 'diff-body' }, hs.map((hk) => [
        h('span', { class: 'diff-hunk' }, `@@ -${hk.aStart},${hk.aLen} +${hk.bStart},${hk.bLen} @@\n`),
        hk.lines.map((l) => h('span', { class: l.op === '+' ? 'diff-line diff-add' : l.op === '-' ? 'diff-line diff-del' : 'diff-line' },
          (l.op === ' ' ? '  ' : l.op + ' ') + l.text + '\n')),
      ])));
}

/**
 * renderPatch colours a patch that is already written out (unified diff or
 * the "*** Begin Patch" format) line by line.
 */
export function renderPatch(text) {
  return h('pre', { class: 'diff-body' }, lines(text).map((l) => {
    let cls = 'diff-line';
    if (/^(\*\*\*|@@|diff |index |--- |\+\+\+ )/.test(l)) cls += ' diff-hunk';
    else if (l.startsWith('+')) cls += ' diff-add';
    else if (l.startsWith('-')) cls += ' diff-del';
    return h('span', { class: cls }, l + '\n');
  }));
}
