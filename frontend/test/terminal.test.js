import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entries, render, contentText } from '../static/terminal.js';
import { textOf, toHTML } from '../static/vdom.js';

const action = (id, command, ts) => ({ kind: 'ActionEvent', id, seq: 1, timestamp: ts, action: { kind: 'TerminalAction', command } });
const obs = (actionID, text, code, ts) => ({
  kind: 'ObservationEvent', id: 'o' + actionID, timestamp: ts, action_id: actionID,
  observation: { kind: 'TerminalObservation', content: [{ type: 'text', text }], exit_code: code, metadata: { working_dir: '/workspace', exit_code: code } },
});

test('agent commands pair with their output', () => {
  const list = entries([action('a1', 'bash hello.sh', '2025-01-01T00:00:01Z'), obs('a1', 'hello\n', 0, '2025-01-01T00:00:02Z'), action('a2', 'sleep 100', '2025-01-01T00:00:03Z')], []);
  assert.equal(list.length, 2);
  assert.deepEqual([list[0].command, list[0].output, list[0].exitCode, list[0].running], ['bash hello.sh', 'hello\n', 0, false]);
  assert.deepEqual([list[1].command, list[1].running], ['sleep 100', true]);
  assert.match(textOf(render(list)), /agent \$ bash hello\.sh exit 0hello/);
});

test('API commands come from bash events, chunks in order', () => {
  const bash = [
    { kind: 'BashCommand', id: 'b1', timestamp: '2025-01-01T00:00:05Z', command: 'ls --color', cwd: '/workspace' },
    { kind: 'BashOutput', id: 'x2', command_id: 'b1', order: 1, stdout: 'b\n', exit_code: null },
    { kind: 'BashOutput', id: 'x1', command_id: 'b1', order: 0, stdout: '\x1b[34ma\x1b[0m\n', exit_code: null },
    { kind: 'BashOutput', id: 'x3', command_id: 'b1', order: 2, stdout: '', exit_code: 2 },
  ];
  const list = entries([action('a1', 'echo first', '2025-01-01T00:00:01Z')], bash);
  assert.deepEqual(list.map((e) => e.by), ['agent', 'api']);
  assert.equal(list[1].output, '\x1b[34ma\x1b[0m\nb\n');
  assert.equal(list[1].exitCode, 2);
  const html = toHTML(render(list));
  assert.match(html, /<span class="ansi-fg-4">a<\/span>/);
  assert.match(html, /exit 2/);
});

test('a rejected command says so', () => {
  const list = entries([action('a1', 'rm -rf /', 't1'), { kind: 'UserRejectObservation', id: 'r', action_id: 'a1', rejection_reason: 'no' }], []);
  assert.equal(list[0].rejected, 'no');
  assert.match(textOf(render(list)), /rejected/);
});

test('empty history and content shapes', () => {
  assert.match(textOf(render([])), /No command/);
  assert.equal(contentText('plain'), 'plain');
  assert.equal(contentText([{ type: 'text', text: 'a' }, { type: 'image', image_urls: [] }, { type: 'text', text: 'b' }]), 'ab');
  assert.equal(contentText(null), '');
});
