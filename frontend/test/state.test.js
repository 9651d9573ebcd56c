import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConversationState, Stream, BashLog, eventsSocketURL, bashSocketURL, reconnectDelay } from '../static/state.js';

const ev = (seq, kind = 'MessageEvent', extra = {}) => ({ kind, id: 'e' + seq, seq, source: 'agent', timestamp: '2025-01-01T00:00:00Z', ...extra });
const full = (value) => ({ kind: 'ConversationStateUpdateEvent', id: 'fs', source: 'environment', key: 'full_state', value });

test('events are taken once, in order', () => {
  const s = new ConversationState('c');
  assert.equal(s.apply(full({ execution_status: 'idle', sandbox: { status: 'running' } })), 'state');
  assert.equal(s.status, 'idle');
  assert.equal(s.sandbox.status, 'running');
  assert.equal(s.apply(ev(1)), 'added');
  assert.equal(s.apply(ev(2)), 'added');
  assert.equal(s.apply(ev(2)), 'duplicate');
  assert.equal(s.apply(ev(1)), 'duplicate');
  assert.equal(s.apply(ev(4)), 'gap');
  assert.equal(s.lastSeq, 2);
  assert.equal(s.apply(ev(3)), 'added');
  assert.deepEqual(s.events.map((e) => e.seq), [1, 2, 3]);
  assert.equal(s.apply(null), 'ignored');
});

test('status and sandbox follow the events', () => {
  const s = new ConversationState('c');
  s.apply(full({ execution_status: 'running' }));
  s.apply(ev(1, 'SandboxStatusEvent', { status: 'pulling', progress: 0.5, message: 'pulling img' }));
  assert.deepEqual(s.sandbox, { status: 'pulling', message: 'pulling img', progress: 0.5, image: '' });
  s.apply(ev(2, 'ConversationStateUpdateEvent', { key: 'execution_status', value: 'finished' }));
  assert.equal(s.status, 'finished');
  // A fresh snapshot after a reconnect wins.
  s.apply(full({ execution_status: 'paused', sandbox: { status: 'paused' } }));
  assert.equal(s.status, 'paused');
  assert.equal(s.sandbox.status, 'paused');
});

test('pending lists the unanswered actions while waiting', () => {
  const s = new ConversationState('c');
  s.apply(ev(1, 'MessageEvent'));
  s.apply(ev(2, 'ActionEvent', { action: { kind: 'TerminalAction', command: 'ls' }, tool_call_id: 'c1' }));
  s.apply(ev(3, 'ObservationEvent', { action_id: 'e2' }));
  s.apply(ev(4, 'ActionEvent', { action: { kind: 'TerminalAction', command: 'rm -rf /' }, tool_call_id: 'c2' }));
  s.apply(ev(5, 'ActionEvent', { action: { kind: 'TerminalAction', command: 'rm -rf ~' }, tool_call_id: 'c3' }));
  assert.deepEqual(s.pending(), [], 'not waiting yet');
  s.apply(ev(6, 'ConversationStateUpdateEvent', { key: 'execution_status', value: 'waiting_for_confirmation' }));
  assert.deepEqual(s.pending().map((e) => e.id), ['e4', 'e5']);
  assert.equal(s.answerOf(s.actionByID('e2')).id, 'e3');
  s.apply(ev(7, 'UserRejectObservation', { action_id: 'e4' }));
  s.apply(ev(8, 'UserRejectObservation', { action_id: 'e5' }));
  assert.deepEqual(s.pending(), []);
  s.apply(ev(9, 'ConversationStateUpdateEvent', { key: 'execution_status', value: 'idle' }));
  assert.deepEqual(s.pending(), []);
});

test('socket addresses ask for what is missing', () => {
  const base = 'http://localhost:3000/#/c/abc';
  assert.equal(eventsSocketURL(base, 'abc', 'k&y', 0), 'ws://localhost:3000/sockets/events/abc?resend_all=true&session_api_key=k%26y');
  assert.equal(eventsSocketURL(base, 'abc', '', 41), 'ws://localhost:3000/sockets/events/abc?resend_mode=since&after=41');
  assert.equal(eventsSocketURL('https://h/gohands/', 'a b', 'k', 0), 'wss://h/gohands/sockets/events/a%20b?resend_all=true&session_api_key=k');
  assert.equal(bashSocketURL(base, 'abc', 'k'), 'ws://localhost:3000/sockets/bash-events/abc?session_api_key=k');
});

test('reconnect delays grow and stop at 10 s', () => {
  assert.equal(reconnectDelay(0), 500);
  assert.equal(reconnectDelay(1), 1000);
  assert.equal(reconnectDelay(20), 10000);
});

// FakeSocket records what a Stream does with its sockets.
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.closed = null;
    FakeSocket.all.push(this);
  }
  open() {
    this.onopen && this.onopen();
  }
  send(obj) {
    this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
  }
  close(code = 1000, reason = '') {
    if (this.closed) return;
    this.closed = { code, reason };
    this.onclose && this.onclose({ code, reason });
  }
  // serverClose is the server (or the network) ending the connection.
  serverClose(code, reason = '') {
    this.closed = { code, reason };
    this.onclose({ code, reason });
  }
}

function harness() {
  FakeSocket.all = [];
  const timers = [];
  const state = new ConversationState('c');
  const statuses = [];
  const stream = new Stream({
    url: () => eventsSocketURL('http://h/', 'c', 'k', state.lastSeq),
    WebSocket: FakeSocket,
    onMessage: (m) => (state.apply(m) === 'gap' ? 'resync' : 'ok'),
    onStatus: (s, d) => statuses.push(d === undefined ? s : `${s}:${d}`),
    setTimeout: (fn, ms) => {
      timers.push({ fn, ms });
      return timers.length;
    },
    clearTimeout: () => {},
  });
  return { state, stream, statuses, timers, sock: () => FakeSocket.all[FakeSocket.all.length - 1] };
}

test('a dropped stream resumes after the last seq, without duplicates', () => {
  const { state, stream, statuses, timers, sock } = harness();
  stream.start();
  assert.match(sock().url, /resend_all=true/);
  sock().open();
  sock().send(full({ execution_status: 'running' }));
  sock().send(ev(1));
  sock().send(ev(2));
  sock().serverClose(1006);
  assert.deepEqual(statuses, ['connecting', 'open', 'reconnecting:500']);
  timers.shift().fn();
  assert.match(sock().url, /resend_mode=since&after=2/);
  sock().open();
  // A server replaying too much is harmless: seen events are skipped.
  sock().send(ev(2));
  sock().send(ev(3));
  assert.deepEqual(state.events.map((e) => e.seq), [1, 2, 3]);
  assert.equal(FakeSocket.all.length, 2);
});

test('a gap makes the stream reconnect from the last seq at once', () => {
  const { state, stream, sock } = harness();
  stream.start();
  sock().open();
  sock().send(ev(1));
  sock().send(ev(3));
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(FakeSocket.all[0].closed, { code: 1000, reason: 'resync' });
  assert.match(sock().url, /after=1/);
  sock().open();
  sock().send(ev(2));
  sock().send(ev(3));
  assert.deepEqual(state.events.map((e) => e.seq), [1, 2, 3]);
});

test('a refused key or unknown conversation stops the stream', () => {
  let h = harness();
  h.stream.start();
  h.sock().serverClose(4001, 'invalid API key');
  assert.deepEqual(h.statuses, ['connecting', 'unauthorized:invalid API key']);
  assert.equal(h.timers.length, 0);
  h = harness();
  h.stream.start();
  h.sock().serverClose(4004, 'not found');
  assert.equal(h.statuses.at(-1), 'not_found:not found');
  assert.equal(h.timers.length, 0);
});

test('a slow-consumer close reconnects quickly; stop ends it', () => {
  const h = harness();
  h.stream.start();
  h.sock().open();
  h.sock().send(ev(1));
  h.sock().serverClose(4008, 'slow consumer: reconnect with resend_mode=since&after=1');
  assert.equal(h.timers[0].ms, 500);
  h.stream.stop();
  h.timers[0].fn();
  assert.equal(FakeSocket.all.length, 1, 'no connection after stop');
  assert.equal(h.statuses.at(-1), 'closed');
});

test('bad frames are ignored', () => {
  const h = harness();
  h.stream.start();
  h.sock().open();
  h.sock().onmessage({ data: 'not json' });
  h.sock().send(ev(1));
  assert.equal(h.state.lastSeq, 1);
});

test('bash log keeps each event once', () => {
  const log = new BashLog();
  assert.ok(log.add({ kind: 'BashCommand', id: 'a', command: 'ls' }));
  assert.ok(!log.add({ kind: 'BashCommand', id: 'a', command: 'ls' }));
  assert.ok(!log.add({ kind: 'ConversationErrorEvent', id: 'b' }));
  assert.ok(log.add({ kind: 'BashOutput', id: 'c', command_id: 'a', order: 0 }));
  assert.equal(log.events.length, 2);
});

test('streamed deltas type the answer until it is stored, and are never events', () => {
  const s = new ConversationState('c');
  s.apply(full({ execution_status: 'running' }));
  const delta = (content, reasoning) => ({ kind: 'StreamingDeltaEvent', id: 'd', source: 'agent', content, reasoning_content: reasoning });
  assert.equal(s.apply(delta(null, 'thinking')), 'delta');
  assert.equal(s.apply(delta('Hello', null)), 'delta');
  assert.equal(s.apply(delta(' world', null)), 'delta');
  assert.equal(s.typing, 'Hello world');
  assert.equal(s.thinking, 'thinking');
  assert.deepEqual(s.events, []);
  assert.equal(s.lastSeq, 0);
  assert.equal(s.apply(ev(1, 'MessageEvent', { source: 'user' })), 'added');
  assert.equal(s.typing, 'Hello world', 'a user message does not end the typing');
  assert.equal(s.apply(ev(2)), 'added');
  assert.equal(s.typing, '');
  assert.equal(s.thinking, '');
  s.apply(delta('cut', null));
  s.apply(ev(3, 'ConversationStateUpdateEvent', { key: 'execution_status', value: 'paused' }));
  assert.equal(s.typing, '', 'an interrupted answer is not left typing');
});
