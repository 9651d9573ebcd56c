import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { render, pendingCard, riskBadge, progressBar } from '../static/events.js';
import { toHTML, textOf, find, hasClass } from '../static/vdom.js';

// The event package's golden files: one of every kind and tool, as the
// server writes them.
const goldenDir = new URL('../../event/testdata/golden/', import.meta.url);
const golden = Object.fromEntries(readdirSync(goldenDir).filter((f) => f.endsWith('.json'))
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, goldenDir), 'utf8'))]));

test('every golden event renders as one item with its seq', () => {
  assert.ok(Object.keys(golden).length >= 30, 'golden files found');
  for (const [name, ev] of Object.entries(golden)) {
    const item = render(ev);
    assert.equal(item.tag, 'li', name);
    assert.equal(item.attrs['data-seq'], ev.seq, name);
    assert.equal(item.attrs['data-kind'], ev.kind, name);
    const html = toHTML(item); // throws on a disallowed element or attribute
    assert.doesNotMatch(html, /could not be shown/, name);
    assert.doesNotMatch(html, /<script/i, name);
  }
});

test('each kind reads as a person expects', () => {
  const text = (name) => textOf(render(golden[name]));
  assert.match(text('MessageEvent'), /You.*Fix the failing test in <pkg>\/x_test\.go & run it\./s);
  assert.match(text('TerminalAction'), /Run the tests\..*\$ go test \.\/\.\.\. 2>&1 \| tail -n 20/s);
  assert.match(text('TerminalObservation'), /exit 0.*ok  \tgithub\.com\/x\/y/s);
  assert.match(text('FileEditorAction'), /Edit \/workspace\/parse\.go/);
  assert.match(text('FileEditorObservation'), /\/workspace\/parse\.go.*−1|−1/s);
  assert.match(text('UserRejectObservation'), /Rejected.*Do not delete the database\./s);
  assert.match(text('AgentErrorEvent'), /Tool 'terminl' not found/);
  assert.match(text('ConversationErrorEvent'), /LLMAuthenticationError.*invalid API key/s);
  const mcp = textOf(render({ ...golden.ConversationErrorEvent, code: 'MCPServerError', detail: 'MCP server "gh": no such program' }));
  assert.match(mcp, /MCP servers: some cannot be used.*no such program/s);
  assert.doesNotMatch(mcp, /The run stopped/);
  assert.match(text('PauseEvent'), /Paused/);
  assert.match(text('SandboxStatusEvent'), /Sandbox fetching image.*Pulling python/s);
  assert.match(text('SystemPromptEvent'), /2 tools/);
  assert.match(text('CondensationSummaryEvent'), /parse\.go/);
  assert.match(text('Condensation'), /2 events set aside/);
  assert.match(text('TaskTrackerAction'), /Reproduce the bug.*Fix parse\.go/s);
  assert.match(text('GlobObservation'), /1 file found.*x_test\.go/s);
  assert.match(text('GrepObservation'), /0 files found/);
  assert.match(text('ApplyPatchObservation'), /Patch applied.*parse\.go/s);
  assert.match(text('BrowserObservation'), /go\.dev/);
  assert.match(text('ThinkAction'), /off-by-one/);
  assert.match(text('FinishAction'), /Finished.*all tests pass/s);
  assert.match(text('ActionEvent.non-executable'), /could not be run.*"ls"/s);
  assert.match(text('ActionEvent'), /search the web for go fuzzing.*go fuzzing/s);
});

test('risk and reason show on actions', () => {
  const ev = { ...golden.TerminalAction, security_risk: 'HIGH', security_reason: 'rules: deletes the root' };
  const item = render(ev);
  const [badge] = find(item, (n) => hasClass(n, 'risk'));
  assert.equal(badge.attrs['data-risk'], 'HIGH');
  assert.equal(badge.attrs.title, 'rules: deletes the root');
  assert.match(textOf(badge), /high risk/);
  assert.match(textOf(item), /Rated high: rules: deletes the root/);
  assert.equal(riskBadge(''), null);
});

test('file edits show as diffs', () => {
  const create = { ...golden.FileEditorAction, action: { kind: 'FileEditorAction', command: 'create', path: '/workspace/hello.sh', file_text: '#!/bin/bash\necho hello\n' } };
  const html = toHTML(render(create));
  assert.match(html, /Create \/workspace\/hello\.sh/);
  assert.match(html, /diff-add">\+ echo hello/);
  const obs = toHTML(render(golden.FileEditorObservation));
  assert.match(obs, /diff-del">- if n &gt; 0 \{/);
});

test('terminal output keeps colours and exit codes', () => {
  const ev = structuredClone(golden.TerminalObservation);
  ev.observation.content = [{ type: 'text', text: '\x1b[31mFAIL\x1b[0m <b>x</b>' }];
  ev.observation.exit_code = 1;
  const html = toHTML(render(ev));
  assert.match(html, /<span class="ansi-fg-1">FAIL<\/span> &lt;b&gt;x&lt;\/b&gt;/);
  assert.match(html, /badge-err[^>]*>exit 1/);
  ev.observation.exit_code = -1;
  assert.match(textOf(render(ev)), /still running/);
});

test('long output is folded', () => {
  const ev = structuredClone(golden.TerminalObservation);
  ev.observation.content = [{ type: 'text', text: Array.from({ length: 100 }, (_, i) => 'line ' + i).join('\n') }];
  const item = render(ev);
  assert.equal(find(item, (n) => n.tag === 'details').length, 1);
  assert.match(textOf(item), /70 more lines/);
});

test('hook events and hook rejections', () => {
  const hook = { kind: 'HookEvent', id: 'h1', seq: 40, source: 'environment', timestamp: '2025-06-01T12:00:00Z', hook: 'no-rm', event: 'pre_action', decision: 'deny', reason: 'rm is not allowed', exit_code: 2, duration_ms: 12.4, tool_name: 'terminal' };
  const t = textOf(render(hook));
  assert.match(t, /Hook no-rm before terminal.*deny.*12 ms.*rm is not allowed/s);
  const rej = { ...golden.UserRejectObservation, rejection_source: 'hook', rejection_reason: 'blocked by no-rm' };
  assert.match(textOf(render(rej)), /Blocked by a hook.*blocked by no-rm/s);
});

test('repository hooks and skills', () => {
  assert.match(textOf(render(golden.HookExecutionEvent)), /Repository hook PreToolUse for terminal.*blocked.*exit 2.*no-push\.sh.*pushing is not allowed here/s);
  const ok = { ...golden.HookExecutionEvent, blocked: false, success: true, exit_code: 0, reason: undefined, additional_context: 'branch main' };
  assert.match(textOf(render(ok)), /ok.*Adds: branch main/s);
  assert.match(textOf(render(golden.SkillActivatedEvent)), /Skill used: release.*Tag with vX\.Y\.Z\./s);
});

test('status changes and unknown kinds', () => {
  const st = { kind: 'ConversationStateUpdateEvent', id: 's', seq: 3, source: 'environment', key: 'execution_status', value: 'waiting_for_confirmation' };
  assert.match(textOf(render(st)), /Status: waiting for you/);
  const odd = { kind: 'SomethingNew', id: 'x', seq: 9, source: 'agent', field: '<b>' };
  const html = toHTML(render(odd));
  assert.match(html, /SomethingNew/);
  assert.match(html, /&lt;b&gt;/);
});

test('a malformed event does not throw', () => {
  for (const ev of [
    { kind: 'ActionEvent', seq: 1, action: { kind: 'FileEditorAction', command: 'create', file_text: 42 } },
    { kind: 'ObservationEvent', seq: 2, observation: null },
    { kind: 'MessageEvent', seq: 3, llm_message: { content: [null, { type: 'image', image_urls: ['javascript:alert(1)'] }] } },
    { kind: 'SandboxStatusEvent', seq: 4, progress: 'lots' },
  ]) {
    const html = toHTML(render(ev));
    assert.doesNotMatch(html, /href="javascript/);
  }
});

test('messages render Markdown safely', () => {
  const ev = { ...golden.MessageEvent, source: 'agent', llm_message: { role: 'assistant', content: [{ type: 'text', text: '**Done.** See [the docs](javascript:alert(1)) and `<b>`' }] } };
  const html = toHTML(render(ev));
  assert.match(html, /<strong>Done\.<\/strong>/);
  assert.match(html, /<code>&lt;b&gt;<\/code>/);
  assert.doesNotMatch(html, /javascript:/);
  const img = toHTML(render(golden.MessageEvent));
  assert.match(img, /<img class="msg-image" src="data:image\/png;base64,iVBORw0KGgo="/);
});

test('pending card shows what, risk and why', () => {
  const ev = { ...golden.TerminalAction, action: { kind: 'TerminalAction', command: 'rm -rf /workspace/important' }, security_risk: 'HIGH', security_reason: 'deletes files' };
  const t = textOf(pendingCard(ev));
  assert.match(t, /\$ rm -rf \/workspace\/important/);
  assert.match(t, /high risk/);
  assert.match(t, /Why: deletes files/);
});

test('progress bars', () => {
  const bar = progressBar(0.42, 'pull');
  assert.equal(bar.attrs['aria-valuenow'], '42');
  assert.match(toHTML(bar), /width: 42\.0%/);
  assert.ok(hasClass(progressBar(null), 'progress-busy'));
});
