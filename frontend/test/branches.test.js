import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FIELDS, Tree, offHistory, returnTarget, branchPoint, forkCount, forkBody, forksOf, afterFork,
  forkedFrom, groupForks, forkIDsOf, compareHash, compareIDs, latest, messageText, observationText,
} from '../static/branches.js';
import { card, tail } from '../static/compare.js';
import { render } from '../static/events.js';
import { find, hasClass, textOf, toHTML } from '../static/vdom.js';

// logOf numbers events as a stored log: seq from 1, id "e<seq>".
function logOf(...evs) {
  return evs.map((e, i) => ({ source: 'agent', ...e, seq: i + 1, id: 'e' + (i + 1) }));
}
const msg = (source = 'user') => ({ kind: 'MessageEvent', source });
const status = () => ({ kind: 'ConversationStateUpdateEvent', key: 'execution_status', value: 'idle' });
const sandbox = () => ({ kind: 'SandboxStatusEvent', status: 'running' });
const move = (to, from) => ({ kind: 'HeadMovedEvent', leaf_seq: to, leaf_event_id: to ? 'e' + to : '', previous_leaf_event_id: from ? 'e' + from : '' });
const sorted = (set) => [...set].sort((a, b) => a - b);

// The same cases as the server's event.TestActiveBranch: the page must
// read the tree as the server does.
test('offHistory: the events a rewind left', () => {
  const cases = [
    { name: 'linear', log: logOf(msg(), msg(), status(), msg()), head: 4, off: [] },
    { name: 'rewound', log: logOf(msg(), msg(), msg(), move(1, 3)), head: 1, off: [2, 3] },
    { name: 'new branch', log: logOf(msg(), msg(), status(), move(1, 2), msg()), head: 5, off: [2] },
    { name: 'back again', log: logOf(msg(), msg(), msg(), move(1, 3), msg(), move(3, 5)), head: 3, off: [5] },
    { name: 'branch of a branch', log: logOf(msg(), msg(), move(1, 2), msg(), move(2, 4), move(4, 2), msg()), head: 7, off: [2] },
    { name: 'bad move', log: logOf(msg(), status(), move(2), move(9)), head: 1, off: [] },
    { name: 'empty tree', log: logOf(msg(), move(0, 1), msg()), head: 3, off: [1] },
    { name: 'sandbox updates are never off', log: logOf(msg(), sandbox(), msg(), move(1, 3)), head: 1, off: [3] },
  ];
  for (const c of cases) {
    assert.equal(new Tree(c.log).head, c.head, c.name + ': head');
    assert.deepEqual(sorted(offHistory(c.log)), c.off, c.name + ': off');
  }
});

test('offHistory given leaf_event_id: a log read in part', () => {
  // The log from seq 3 on: the head move to 1 was read, the one back to 3 was not.
  const all = logOf(msg(), msg(), msg(), move(1, 3), msg(), move(3, 5));
  const part = all.slice(0, 5);
  assert.deepEqual(sorted(offHistory(part)), [2, 3], 'without the leaf: the head of what was read');
  assert.deepEqual(sorted(offHistory(part, 'e3')), [5], 'the leaf says where the head is');
  assert.deepEqual(sorted(offHistory(part, 'e4')), [2, 3], 'a head move is no leaf: ignored');
  assert.deepEqual(sorted(offHistory(part, 'nope')), [2, 3], 'an unknown leaf: ignored');
  assert.deepEqual(sorted(offHistory(all)), sorted(offHistory(part, 'e3')));
});

test('Tree paths and ids', () => {
  const t = new Tree(logOf(msg(), msg(), msg(), move(1, 3), msg(), msg()));
  assert.deepEqual(t.path(6), [1, 5, 6]);
  assert.deepEqual(t.path(3), [1, 2, 3]);
  assert.deepEqual(t.path(4), [], 'a head move is on no branch');
  assert.ok(t.has('e5'));
  assert.ok(!t.has('e4'));
});

test('returnTarget: back to the head a move left, while it is off the active history', () => {
  const log = logOf(msg(), msg(), msg(), move(1, 3));
  assert.equal(returnTarget(log[3], log), 'e3');
  // Once returned, the first move's "Return here" has nothing to return to.
  const back = [...log, { kind: 'HeadMovedEvent', seq: 5, id: 'e5', leaf_seq: 3, leaf_event_id: 'e3', previous_leaf_event_id: 'e1' }];
  assert.equal(returnTarget(back[3], back), null);
  // ... and the second move's goes back to e1? No: e1 is on the active path.
  assert.equal(returnTarget(back[4], back), null);
  assert.equal(returnTarget({ kind: 'HeadMovedEvent' }, log), null);
  assert.equal(returnTarget({ kind: 'HeadMovedEvent', previous_leaf_event_id: 'nope' }, log), null);
});

test('branchPoint is the action\'s answer', () => {
  const action = { kind: 'ActionEvent', id: 'a1' };
  assert.equal(branchPoint(action, { kind: 'ObservationEvent', id: 'o1', action_id: 'a1' }), 'o1');
  assert.equal(branchPoint(action, null), null);
  assert.equal(branchPoint(null, { id: 'o1' }), null);
});

test('fork count, body and answer', () => {
  assert.equal(forkCount(''), 1);
  assert.equal(forkCount('1'), 1);
  assert.equal(forkCount(' 8 '), 8);
  for (const bad of ['0', '9', '-1', '2.5', 'two', '1e1']) assert.equal(forkCount(bad), null, bad);
  assert.equal(forkCount('12', 16), 12);
  assert.deepEqual(forkBody('o1'), { from_event_id: 'o1' });
  assert.deepEqual(forkBody('o1', 3), { from_event_id: 'o1', count: 3 });
  assert.deepEqual(forkBody('', 1), {});
  assert.deepEqual(forksOf({ id: 'f' }).map((c) => c.id), ['f']);
  assert.deepEqual(forksOf([{ id: 'f-1' }, { id: 'f-2' }, null, {}]).map((c) => c.id), ['f-1', 'f-2']);
  assert.deepEqual(forksOf(null), []);
  assert.equal(afterFork([{ id: 'f 1' }]), '#/c/f%201');
  assert.equal(afterFork([{ id: 'a' }, { id: 'b,c' }]), '#/compare/a,b%2Cc');
});

test('forkedFrom reads the info\'s fields, or a nested object', () => {
  assert.deepEqual(forkedFrom({ [FIELDS.forkedFrom]: 'p', [FIELDS.forkedFromEvent]: 'e3' }), { id: 'p', eventID: 'e3' });
  assert.deepEqual(forkedFrom({ [FIELDS.forkedFrom]: 'p', [FIELDS.forkedFromEvent]: null }), { id: 'p', eventID: '' });
  assert.deepEqual(forkedFrom({ forked_from: { conversation_id: 'p', event_id: 'e1' } }), { id: 'p', eventID: 'e1' });
  assert.deepEqual(forkedFrom({ forked_from: { id: 'p' } }), { id: 'p', eventID: '' });
  assert.equal(forkedFrom({ id: 'x' }), null);
  assert.equal(forkedFrom(null), null);
});

test('groupForks lists forks under their parent, oldest first', () => {
  const f = (id, parent, created) => ({ id, created_at: created, ...(parent ? { forked_from_conversation_id: parent } : {}) });
  // Most recently updated first, as the search route lists them.
  const items = [
    f('p2-fork', 'p2', '2025-01-01T00:00:05Z'),
    f('p1-b', 'p1', '2025-01-01T00:00:03Z'),
    f('p1', null, '2025-01-01T00:00:00Z'),
    f('p1-a', 'p1', '2025-01-01T00:00:02Z'),
    f('p1-a-x', 'p1-a', '2025-01-01T00:00:04Z'),
    f('orphan', 'gone', '2025-01-01T00:00:01Z'),
  ];
  const got = groupForks(items).map((g) => [g.conv.id, g.depth, g.forks]);
  assert.deepEqual(got, [
    ['p2-fork', 0, 0], // its parent is not in the list: it stays where it is
    ['p1', 0, 2],
    ['p1-a', 1, 1],
    ['p1-a-x', 2, 0],
    ['p1-b', 1, 0],
    ['orphan', 0, 0],
  ]);
  assert.deepEqual(forkIDsOf(items, 'p1'), ['p1-b', 'p1-a']);
  // A cycle (never from the server) does not hang and loses nobody.
  const cyc = groupForks([f('a', 'b'), f('b', 'a')]);
  assert.deepEqual(cyc.map((g) => g.conv.id).sort(), ['a', 'b']);
  assert.deepEqual(groupForks(null), []);
});

test('compare addresses', () => {
  assert.equal(compareHash(['a', 'b c']), '#/compare/a,b%20c');
  assert.deepEqual(compareIDs('#/compare/a,b%20c'), ['a', 'b c']);
  assert.deepEqual(compareIDs('#/compare/a,,a,%E0%A4%A,b'), ['a', 'b']);
  assert.deepEqual(compareIDs('#/compare/'), []);
  assert.equal(compareIDs('#/c/a'), null);
  assert.equal(compareIDs('#/compare/' + Array.from({ length: 30 }, (_, i) => 'c' + i).join(',')).length, 16);
});

test('latest sums up the active history only', () => {
  const agentMsg = (text) => ({ kind: 'MessageEvent', source: 'agent', llm_message: { role: 'assistant', content: [{ type: 'text', text }] } });
  const act = (command) => ({ kind: 'ActionEvent', action: { kind: 'TerminalAction', command } });
  const obs = (actionSeq, text) => ({ kind: 'ObservationEvent', source: 'environment', action_id: 'e' + actionSeq, observation: { kind: 'TerminalObservation', content: [{ type: 'text', text }] } });
  const log = logOf(msg(), act('echo A > a'), obs(2, 'wrote A'), agentMsg('A done'),
    act('echo B > b'), obs(5, 'wrote B'), agentMsg('B done'), move(4, 7));
  let s = latest(log);
  assert.equal(s.head, 4);
  assert.equal(messageText(s.message), 'A done');
  assert.equal(observationText(s.observation), 'wrote A');
  assert.equal(s.action.action.command, 'echo A > a');
  assert.equal(s.actions, 1);
  // Before the move: the last of everything.
  s = latest(log.slice(0, 7));
  assert.equal(messageText(s.message), 'B done');
  assert.equal(observationText(s.observation), 'wrote B');
  assert.equal(s.actions, 2);
  // The info's leaf, for a log read in part.
  s = latest(log.slice(0, 7), 'e4');
  assert.equal(messageText(s.message), 'A done');
  s = latest([]);
  assert.equal(s.message, null);
  assert.equal(s.observation, null);
  assert.equal(observationText({ kind: 'UserRejectObservation', rejection_reason: 'no' }), 'Rejected: no');
});

test('compare card shows status, last message, observation and changes', () => {
  const summary = {
    message: { kind: 'MessageEvent', source: 'agent', llm_message: { content: [{ type: 'text', text: 'Wrote **b.txt**' }] } },
    observation: { kind: 'ObservationEvent', seq: 6, observation: { content: [{ type: 'text', text: 'ok' }] } },
    action: { kind: 'ActionEvent', action: { kind: 'TerminalAction', command: 'echo B > b.txt' } },
    error: null,
  };
  const node = card({
    id: 'fork-1', info: { title: 'try B', execution_status: 'finished', forked_from_conversation_id: 'parent-123456' },
    summary, changes: [{ path: 'b.txt', status: 'ADDED' }],
  });
  const text = textOf(node);
  assert.match(text, /try B/);
  assert.match(text, /finished/);
  assert.match(text, /fork of parent-1/);
  assert.match(text, /Wrote b\.txt/);
  assert.match(text, /\$ echo B > b\.txt/);
  assert.match(text, /Last observation \(#6\)/);
  assert.equal(find(node, (n) => n.tag === 'li' && n.attrs['data-path'] === 'b.txt' && hasClass(n, 'change-added')).length, 1);
  const html = toHTML(card({ id: 'x', info: { title: '<img src=x onerror=alert(1)>' }, summary: null, changes: null, changesError: 'no git' }));
  assert.ok(!html.includes('<img'), 'a title is text, never markup');
  assert.match(html, /no git/);
  assert.equal(tail('1\n2\n3\n4', 2), '… 2 lines above\n3\n4');
  assert.equal(tail('1\n2', 2), '1\n2');
});

test('actions carry fork and rewind buttons; a head move offers to return', () => {
  const action = { kind: 'ActionEvent', id: 'a1', seq: 2, source: 'agent', action: { kind: 'TerminalAction', command: 'ls' } };
  const plain = render(action);
  assert.equal(find(plain, (n) => n.tag === 'button').length, 0, 'only when asked');
  const withTools = render(action, { branching: true });
  const buttons = find(withTools, (n) => n.tag === 'button');
  assert.deepEqual(buttons.map((b) => [b.attrs['data-branch'], b.attrs['data-action-id']]), [['fork', 'a1'], ['rewind', 'a1']]);
  assert.match(textOf(withTools), /Fork from here/);
  assert.match(textOf(withTools), /Rewind to here/);
  const msgEv = render({ kind: 'MessageEvent', id: 'm', seq: 1, source: 'user', llm_message: { content: [] } }, { branching: true });
  assert.equal(find(msgEv, (n) => n.tag === 'button').length, 0);
  const moved = render({ kind: 'HeadMovedEvent', id: 'h', seq: 9, source: 'user', leaf_event_id: 'o3', leaf_seq: 3, previous_leaf_event_id: 'e8', files_restored: true, checkpoint_seq: 3, restored_files: 2 });
  assert.match(textOf(moved), /History moved to #3/);
  assert.match(textOf(moved), /checkpoint after #3 \(2 files written\)/);
  const ret = find(moved, (n) => n.tag === 'button' && n.attrs['data-branch'] === 'return');
  assert.equal(ret.length, 1);
  assert.equal(ret[0].attrs['data-event-id'], 'e8');
});
