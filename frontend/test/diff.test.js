import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffLines, hunks, stats, render, renderPatch, lines } from '../static/diff.js';
import { toHTML, textOf } from '../static/vdom.js';

const ops = (d) => d.map((l) => l.op + l.text).join('|');

test('lines', () => {
  assert.deepEqual(lines(''), []);
  assert.deepEqual(lines('a\n'), ['a']);
  assert.deepEqual(lines('a\r\nb'), ['a', 'b']);
});

test('diffLines finds the smallest change', () => {
  assert.equal(ops(diffLines('a\nb\nc\n', 'a\nB\nc\n')), ' a|-b|+B| c');
  assert.equal(ops(diffLines('', 'x\ny\n')), '+x|+y');
  assert.equal(ops(diffLines('x\ny\n', '')), '-x|-y');
  assert.equal(ops(diffLines('a\nb\nc\nd', 'b\nc\nd\ne')), '-a| b| c| d|+e');
  assert.equal(ops(diffLines('same', 'same')), ' same');
});

test('diffLines numbers lines on both sides', () => {
  const d = diffLines('a\nb\n', 'a\nx\nb\n');
  assert.deepEqual(d.map((l) => [l.op, l.a, l.b]), [[' ', 1, 1], ['+', null, 2], [' ', 2, 3]]);
});

test('every edit script rebuilds both texts', () => {
  let seed = 7;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let k = 0; k < 200; k++) {
    const a = Array.from({ length: rnd(12) }, () => 'abc'[rnd(3)]);
    const b = Array.from({ length: rnd(12) }, () => 'abcd'[rnd(4)]);
    const d = diffLines(a.join('\n'), b.join('\n'));
    assert.deepEqual(d.filter((l) => l.op !== '+').map((l) => l.text), a);
    assert.deepEqual(d.filter((l) => l.op !== '-').map((l) => l.text), b);
  }
});

test('hunks keep context and merge close changes', () => {
  const old = Array.from({ length: 30 }, (_, i) => 'line ' + i).join('\n');
  const nu = old.replace('line 3', 'LINE 3').replace('line 5', 'LINE 5').replace('line 25', 'LINE 25');
  const hs = hunks(diffLines(old, nu), 2);
  assert.equal(hs.length, 2);
  assert.equal(hs[0].aStart, 2);
  assert.equal(hs[0].aLen, 7); // lines 2 to 8: two of context each side
  assert.equal(hs[1].aStart, 24);
  assert.deepEqual(stats(diffLines(old, nu)), { added: 3, removed: 3 });
});

test('big rewrites fall back to remove and add', () => {
  const a = Array.from({ length: 3000 }, (_, i) => 'a' + i).join('\n');
  const b = Array.from({ length: 3000 }, (_, i) => 'b' + i).join('\n');
  const d = diffLines(a, b);
  assert.deepEqual(stats(d), { added: 3000, removed: 3000 });
});

test('render shows path, counts and escaped lines', () => {
  const out = toHTML(render('/workspace/hello.sh', '', '#!/bin/bash\necho "<hello>"\n'));
  assert.match(out, /\/workspace\/hello\.sh/);
  assert.match(out, /\+2/);
  assert.match(out, /<span class="diff-line diff-add">\+ echo &quot;&lt;hello&gt;&quot;\n<\/span>/);
  assert.match(textOf(render('f', 'x', 'x')), /no change/);
});

test('renderPatch colours lines', () => {
  const out = toHTML(renderPatch('*** Begin Patch\n@@\n-a\n+b\n c'));
  assert.match(out, /diff-hunk">\*\*\* Begin Patch/);
  assert.match(out, /diff-del">-a/);
  assert.match(out, /diff-add">\+b/);
});
