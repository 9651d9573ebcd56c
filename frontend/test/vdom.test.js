import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h, toHTML, textOf, safeURL, safeImage, attrAllowed } from '../static/vdom.js';

test('text is escaped, never markup', () => {
  const html = toHTML(h('p', { title: '"><script>' }, '<img src=x onerror=alert(1)>', ' & more'));
  assert.equal(html, '<p title="&quot;&gt;&lt;script&gt;">&lt;img src=x onerror=alert(1)&gt; &amp; more</p>');
});

test('children are flattened and empty ones dropped', () => {
  const n = h('div', null, ['a', null, [false, 'b', 3]], undefined, true);
  assert.deepEqual(n.children, ['a', 'b', '3']);
  assert.equal(textOf(n), 'ab3');
});

test('unknown elements and attributes are refused', () => {
  assert.throws(() => toHTML(h('script', null, 'x')), /not allowed/);
  assert.throws(() => toHTML(h('a', { onclick: 'x' })), /not allowed/);
  assert.throws(() => toHTML(h('iframe', null)), /not allowed/);
  assert.ok(attrAllowed('data-seq'));
  assert.ok(attrAllowed('aria-label'));
  assert.ok(!attrAllowed('onload'));
  assert.ok(!attrAllowed('srcdoc'));
});

test('dangerous links are dropped', () => {
  for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:x', 'java\nscript:x', 'java\tscript:x',
    'vbscript:x', 'data:text/html,<script>', '\u0000javascript:x', 'file:///etc/passwd']) {
    assert.equal(safeURL(bad), null, bad);
    assert.equal(toHTML(h('a', { href: bad }, 'x')), '<a>x</a>', bad);
  }
  for (const good of ['https://go.dev/', 'http://x.y/a?b=c#d', 'mailto:a@b.c', '/workspace', 'docs/a.md', '#top', '?q=1']) {
    assert.equal(safeURL(good), good, good);
  }
});

test('only inline raster images load', () => {
  assert.ok(safeImage('data:image/png;base64,iVBORw0KGgo='));
  assert.equal(safeImage('data:image/svg+xml;base64,PHN2Zz4='), null);
  assert.equal(safeImage('https://example.com/a.png'), null);
  assert.equal(safeImage('javascript:alert(1)'), null);
});

test('styles pass only known properties with checked values', () => {
  const html = toHTML(h('span', { style: { color: 'rgb(1, 2, 3)', 'background-color': 'url(javascript:x)', position: 'fixed', width: '50%' } }, 'x'));
  assert.equal(html, '<span style="color: rgb(1, 2, 3); width: 50%">x</span>');
});
