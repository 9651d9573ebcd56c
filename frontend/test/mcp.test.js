import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render, pendingCard } from '../static/events.js';
import { label, jsonBlock, isTool } from '../static/mcp.js';
import { toHTML, textOf, find, hasClass } from '../static/vdom.js';

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

function call(action, extra = {}) {
  return {
    kind: 'ActionEvent', id: 'a1', seq: 4, source: 'agent', timestamp: '2026-01-02T03:04:05Z',
    tool_name: 'everything_greet', tool_call_id: 'c1', action: { kind: 'MCPToolAction', ...action }, ...extra,
  };
}

function result(observation, extra = {}) {
  return {
    kind: 'ObservationEvent', id: 'o1', seq: 5, source: 'environment', timestamp: '2026-01-02T03:04:06Z',
    tool_name: 'everything_greet', tool_call_id: 'c1', action_id: 'a1',
    observation: { kind: 'MCPToolObservation', tool_name: 'everything_greet', is_error: false, ...observation }, ...extra,
  };
}

const byClass = (tree, cls) => find(tree, (n) => hasClass(n, cls));

test('a call shows its server, its tool and its arguments', () => {
  const item = render(call({ server: 'everything', tool: 'greet', data: { name: 'Ada' } }));
  assert.ok(hasClass(item, 'ev-mcp'));
  assert.equal(textOf(byClass(item, 'mcp-server')[0]), 'everything');
  assert.equal(textOf(byClass(item, 'mcp-tool')[0]), 'greet');
  assert.match(textOf(item), /Call everything · greet/);
  assert.match(textOf(item), /\(as everything_greet\)/);
  const [args] = byClass(item, 'mcp-args');
  assert.equal(textOf(args), '{\n  "name": "Ada"\n}');
  // Short arguments are open, not folded.
  assert.equal(find(item, (n) => n.tag === 'details').length, 0);
});

test('long arguments are folded, empty ones said to be none', () => {
  const data = Object.fromEntries(Array.from({ length: 20 }, (_, i) => ['k' + i, i]));
  const item = render(call({ server: 's', tool: 't', data }));
  const [block] = byClass(item, 'mcp-block');
  assert.equal(block.tag, 'details');
  assert.match(textOf(block), /^Arguments \(22 lines\)/);
  assert.match(textOf(block), /"k19": 19/);
  assert.match(textOf(render(call({ server: 's', tool: 't', data: {} }))), /no arguments/);
  assert.match(textOf(render(call({ server: 's', tool: 't' }))), /no arguments/);
});

test('a call recorded without server is named by the tool the model called', () => {
  const ev = call({ data: { q: 'x' } }, { tool_name: 'search' });
  assert.equal(label(ev.action, ev.tool_name), 'search');
  const item = render(ev);
  assert.equal(byClass(item, 'mcp-server').length, 0);
  assert.equal(textOf(byClass(item, 'mcp-tool')[0]), 'search');
  assert.match(textOf(item), /Call search/);
});

test('a call keeps its risk rating and shows in the pending card', () => {
  const ev = call({ server: 'db', tool: 'drop_table', data: { table: 'users' } }, { security_risk: 'UNKNOWN', security_reason: 'no rule knows this MCP tool' });
  const item = render(ev);
  assert.equal(find(item, (n) => hasClass(n, 'risk'))[0].attrs['data-risk'], 'UNKNOWN');
  assert.match(textOf(item), /Rated unknown: no rule knows this MCP tool/);
  const card = textOf(pendingCard(ev));
  assert.match(card, /db · drop_table/);
  assert.match(card, /"table": "users"/);
});

test('a result shows its text, images, structured content and full output', () => {
  const act = call({ server: 'everything', tool: 'greet', data: { name: 'Ada' } });
  const item = render(result({
    content: [
      { type: 'text', text: 'Hi Ada' },
      { type: 'image', image_urls: [PNG] },
      { type: 'text', text: 'second part' },
    ],
    structured_content: { greeting: 'Hi Ada', n: 2 },
    full_output_path: '/workspace/.gohands/mcp/out-1.txt',
  }), { actionOf: (id) => (id === 'a1' ? act : null) });
  const text = textOf(item);
  assert.match(text, /Result of everything · greet/);
  assert.deepEqual(byClass(item, 'mcp-text').map(textOf), ['Hi Ada', 'second part']);
  const imgs = find(item, (n) => n.tag === 'img');
  assert.equal(imgs.length, 1);
  assert.equal(imgs[0].attrs.src, PNG);
  assert.match(toHTML(item), /<img class="msg-image mcp-image" src="data:image\/png;base64,iVBOR/);
  assert.equal(textOf(byClass(item, 'mcp-structured')[0]), '{\n  "greeting": "Hi Ada",\n  "n": 2\n}');
  assert.match(text, /full output kept in \/workspace\/\.gohands\/mcp\/out-1\.txt/);
  assert.ok(!hasClass(item, 'ev-failed'));
});

test('hostile text stays text', () => {
  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)> **bold** [x](javascript:alert(3))';
  const item = render(result({ content: [{ type: 'text', text: evil }], structured_content: { html: '<b onclick="x()">' } }));
  const [pre] = byClass(item, 'mcp-text');
  assert.equal(pre.children.length, 1);
  assert.equal(pre.children[0], evil, 'the text is one text node, as it came');
  assert.equal(find(item, (n) => n.tag === 'img' || n.tag === 'a' || n.tag === 'strong').length, 0);
  const html = toHTML(item);
  assert.doesNotMatch(html, /<script|<img|<b /i);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /&lt;b onclick=\\&quot;x\(\)\\&quot;&gt;/);
});

test('only inline raster images show; other URLs are named, not loaded or linked', () => {
  const bad = [
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)//data:image/png;base64,AAAA',
    'data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+',
    'data:text/html;base64,PHNjcmlwdD4=',
    'https://tracker.example/pixel.png',
    'data:image/png;base64,AAAA"><script>alert(1)</script>',
  ];
  const item = render(result({ content: [{ type: 'image', image_urls: [...bad, PNG] }] }));
  const imgs = find(item, (n) => n.tag === 'img');
  assert.deepEqual(imgs.map((n) => n.attrs.src), [PNG]);
  assert.equal(find(item, (n) => n.tag === 'a').length, 0);
  const notes = byClass(item, 'mcp-image-refused');
  assert.equal(notes.length, bad.length);
  assert.match(textOf(notes[0]), /not shown.*javascript:alert\(1\)/);
  const html = toHTML(item);
  assert.doesNotMatch(html, /src="(?!data:image\/png;base64,iVBOR)/);
  assert.doesNotMatch(html, /href=/);
  assert.doesNotMatch(html, /<script/);
});

test('an error result looks like other failed observations', () => {
  const item = render(result({ is_error: true, content: [{ type: 'text', text: 'MCP server everything: call timed out after 120s' }] }));
  assert.ok(hasClass(item, 'ev-failed'));
  assert.match(textOf(item), /everything_greet failed/);
  assert.ok(find(item, (n) => hasClass(n, 'badge-err')).some((b) => textOf(b) === 'error'));
  assert.ok(hasClass(byClass(item, 'mcp-text')[0], 'ev-error-text'));
});

test('JSON text is indented, odd parts do not break the item', () => {
  const item = render(result({
    content: [{ type: 'text', text: '{"rows":[1,2]}' }, null, 'x', { type: 'audio', data: 'AAAA' }, { type: 'image' }, { type: 'text', text: '{not json' }],
  }));
  const html = toHTML(item);
  assert.doesNotMatch(html, /could not be shown/);
  assert.match(textOf(item), /"rows": \[\n    1,\n    2\n  \]/);
  assert.match(textOf(item), /A part of type audio/);
  assert.match(textOf(item), /An image part without an image/);
  assert.match(textOf(item), /\{not json/);
  assert.match(textOf(render(result({ content: [] }))), /\(no output\)/);
});

test('long text is folded after its first lines', () => {
  const text = Array.from({ length: 100 }, (_, i) => 'line ' + i).join('\n');
  const item = render(result({ content: [{ type: 'text', text }] }));
  const [details] = find(item, (n) => n.tag === 'details');
  assert.match(textOf(details), /^70 more lines/);
  assert.match(textOf(details), /line 99/);
});

test('the tool list marks the MCP servers\' tools', () => {
  const ev = {
    kind: 'SystemPromptEvent', id: 's', seq: 1, source: 'agent', system_prompt: { type: 'text', text: 'x' },
    tools: [{ kind: 'TerminalTool', name: 'terminal' }, { kind: 'MCPToolDefinition', name: 'everything_greet', description: 'Say hi' }],
  };
  const chips = find(render(ev), (n) => hasClass(n, 'chip'));
  assert.deepEqual(chips.map((c) => [textOf(c), hasClass(c, 'chip-mcp')]), [['terminal', false], ['everything_greet', true]]);
  assert.equal(chips[1].attrs.title, 'MCP tool: Say hi');
  assert.ok(!isTool(null));
});

test('jsonBlock survives values JSON cannot write', () => {
  const loop = {};
  loop.self = loop;
  assert.match(textOf(jsonBlock('X', loop)), /object Object/);
  assert.match(textOf(jsonBlock('X', undefined)), /undefined/);
});
