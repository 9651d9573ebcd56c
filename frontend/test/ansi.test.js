import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, render, strip, sgr, rgb256 } from '../static/ansi.js';
import { toHTML } from '../static/vdom.js';

const html = (s) => toHTML(render(s));

test('plain text passes through', () => {
  assert.equal(html('hello\nworld'), 'hello\nworld');
});

test('basic colours become classes', () => {
  assert.equal(html('\x1b[31mred\x1b[0m plain'), '<span class="ansi-fg-1">red</span> plain');
  assert.equal(html('\x1b[1;92mok\x1b[m'), '<span class="ansi-fg-10 ansi-bold">ok</span>');
  assert.equal(html('\x1b[44mbg\x1b[49m'), '<span class="ansi-bg-4">bg</span>');
  assert.equal(html('\x1b[4;3;9mx\x1b[24;23;29my'), '<span class="ansi-italic ansi-underline ansi-strike">x</span>y');
});

test('256 and true colours become checked styles', () => {
  assert.equal(html('\x1b[38;5;196mx'), '<span style="color: rgb(255, 0, 0)">x</span>');
  assert.equal(html('\x1b[38;5;9mx'), '<span class="ansi-fg-9">x</span>');
  assert.equal(html('\x1b[48;2;10;20;30mx'), '<span style="background-color: rgb(10, 20, 30)">x</span>');
  assert.equal(html('\x1b[38:2::1:2:3mx'), '<span style="color: rgb(1, 2, 3)">x</span>');
  assert.equal(html('\x1b[38;2;999;300;256mx'), '<span style="color: rgb(255, 255, 255)">x</span>');
  assert.equal(rgb256(232), 'rgb(8, 8, 8)');
  assert.equal(rgb256(16), 'rgb(0, 0, 0)');
  assert.equal(rgb256(231), 'rgb(255, 255, 255)');
});

test('other escapes are dropped', () => {
  assert.equal(strip('\x1b]0;title\x07a\x1b[2Kb\x1b[10;20Hc\x1b(Bd\x1b]8;;http://x\x1b\\e'), 'abcde');
  assert.equal(strip('\x9b31mx'), 'x');
});

test('carriage return overwrites, CRLF does not', () => {
  assert.equal(strip('10%\r50%\r100%\ndone'), '100%\ndone');
  assert.equal(strip('a\r\nb'), 'a\nb');
  assert.equal(strip('abc\b\bX'), 'aX');
});

test('markup in output is text', () => {
  assert.equal(html('\x1b[31m<script>alert(1)</script>'), '<span class="ansi-fg-1">&lt;script&gt;alert(1)&lt;/script&gt;</span>');
});

test('inverse swaps colours', () => {
  assert.equal(html('\x1b[7;31mx'), '<span class="ansi-inverse-fg ansi-bg-1">x</span>');
});

test('sgr reset and malformed sequences', () => {
  const s = sgr(sgr({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false }, '1;31'), '');
  assert.equal(s.bold, false);
  assert.equal(s.fg, null);
  assert.doesNotThrow(() => parse('\x1b[38;5mx\x1b[38;2;1mx\x1b[' + ';'.repeat(1000) + 'm\x1b'));
});
