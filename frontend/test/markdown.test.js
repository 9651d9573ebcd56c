import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render, inline } from '../static/markdown.js';
import { toHTML } from '../static/vdom.js';

const html = (md) => toHTML(render(md));

test('blocks', () => {
  const cases = [
    ['# Title', '<h3 class="md-h">Title</h3>'],
    ['###### deep', '<h6 class="md-h">deep</h6>'],
    ['one\ntwo\n\nthree', '<p>one<br>two</p><p>three</p>'],
    ['```go\nfunc main() {}\n```', '<pre class="md-code"><code data-lang="go">func main() {}</code></pre>'],
    ['~~~\n<b>raw</b>\n~~~', '<pre class="md-code"><code>&lt;b&gt;raw&lt;/b&gt;</code></pre>'],
    ['```\nunclosed', '<pre class="md-code"><code>unclosed</code></pre>'],
    ['    indented\n    code', '<pre class="md-code"><code>indented\ncode</code></pre>'],
    ['> quoted\n> text', '<blockquote><p>quoted<br>text</p></blockquote>'],
    ['---', '<hr>'],
    ['- a\n- b', '<ul><li>a</li><li>b</li></ul>'],
    ['1. a\n2. b', '<ol><li>a</li><li>b</li></ol>'],
    ['3. c\n4. d', '<ol start="3"><li>c</li><li>d</li></ol>'],
    ['- a\n  - nested\n- b', '<ul><li>a<ul><li>nested</li></ul></li><li>b</li></ul>'],
    ['| a | b |\n|---|--:|\n| 1 | 2 |', '<div class="md-table"><table><thead><tr><th>a</th><th class="md-right">b</th></tr></thead><tbody><tr><td>1</td><td class="md-right">2</td></tr></tbody></table></div>'],
    ['text\n# heading', '<p>text</p><h3 class="md-h">heading</h3>'],
  ];
  for (const [md, want] of cases) assert.equal(html(md), want, md);
});

test('inline', () => {
  const cases = [
    ['**bold** and *em*', '<strong>bold</strong> and <em>em</em>'],
    ['__bold__ _em_', '<strong>bold</strong> <em>em</em>'],
    ['***both***', '<strong><em>both</em></strong>'],
    ['~~gone~~', '<del>gone</del>'],
    ['`a <b> c`', '<code>a &lt;b&gt; c</code>'],
    ['``with ` tick``', '<code>with ` tick</code>'],
    ['snake_case_name and my_var_', 'snake_case_name and my_var_'],
    ['2 * 3 * 4', '2 * 3 * 4'],
    ['a\\*b\\*', 'a*b*'],
    ['[GoHands](https://example.com "t")', '<a href="https://example.com" rel="noopener noreferrer nofollow" target="_blank" title="t">GoHands</a>'],
    ['see https://go.dev/doc.', 'see <a href="https://go.dev/doc" rel="noopener noreferrer nofollow" target="_blank">https://go.dev/doc</a>.'],
    ['(https://en.wikipedia.org/wiki/Go_(language))', '(<a href="https://en.wikipedia.org/wiki/Go_(language)" rel="noopener noreferrer nofollow" target="_blank">https://en.wikipedia.org/wiki/Go_(language)</a>)'],
    ['<https://a.b/c>', '<a href="https://a.b/c" rel="noopener noreferrer nofollow" target="_blank">https://a.b/c</a>'],
    ['![logo](https://x.y/l.png)', '<a href="https://x.y/l.png" rel="noopener noreferrer nofollow" target="_blank">image: logo</a>'],
    ['**`code` in bold**', '<strong><code>code</code> in bold</strong>'],
  ];
  for (const [md, want] of cases) assert.equal(toHTML(inline(md)), want, md);
});

test('raw HTML and script stay text', () => {
  const evil = [
    '<script>alert(1)</script>',
    '<img src=x onerror="alert(1)">',
    '[click](javascript:alert(1))',
    '[click](JAVASCRIPT:alert(1))',
    '[x](data:text/html;base64,PHNjcmlwdD4=)',
    '<a href="javascript:alert(1)">x</a>',
    '![x](javascript:alert(1))',
    '<https://x" onmouseover="alert(1)>',
    '```"><script>\nx\n```',
    '| <b>x</b> |\n|---|\n| <i>y</i> |',
  ];
  for (const md of evil) {
    const out = html(md);
    assert.doesNotMatch(out, /<(script|img|iframe)/i, md);
    assert.doesNotMatch(out, /href="\s*(javascript|data):/i, md);
    assert.doesNotMatch(out, /\son[a-z]+="/i, md);
  }
  assert.equal(html('[click](javascript:alert(1))'), '<p><span class="md-unsafe-link">click</span></p>');
});

test('pathological input stays fast', () => {
  const inputs = ['*a '.repeat(30000), '`'.repeat(50000), '['.repeat(20000) + ']', '_x'.repeat(30000), '> '.repeat(5000) + 'x', '- '.repeat(3000) + 'x'];
  for (const s of inputs) {
    const t0 = Date.now();
    render(s);
    // Generous: a quadratic renderer takes minutes on these.
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms on ${s.slice(0, 10)}...`);
  }
});

test('empty and odd input', () => {
  assert.deepEqual(render(''), []);
  assert.deepEqual(render(undefined), []);
  assert.equal(html('\r\nline\r\n'), '<p>line</p>');
});
