// The terminal pane: the commands run in the sandbox, the agent's (its
// terminal actions and their observations) and those run through the API
// (bash events), in the order they started, with their output and exit
// codes.

import { h } from './vdom.js';
import * as ansi from './ansi.js';

/**
 * @typedef {{key: string, by: 'agent'|'api', command: string, output: string, exitCode: (number|null),
 *   running: boolean, timedOut: boolean, cwd: string, time: string, input: boolean}} Entry
 */

/** entries builds the command history from conversation and bash events. */
export function entries(events, bashEvents) {
  const out = [];
  const byAction = new Map();
  for (const e of events) {
    if (e.kind === 'ActionEvent' && e.action && e.action.kind === 'TerminalAction') {
      const a = e.action;
      const entry = {
        key: 'a:' + e.id, by: 'agent', command: a.command || '', output: '', exitCode: null, running: true,
        timedOut: false, cwd: '', time: e.timestamp || '', input: !!a.is_input, reset: !!a.reset,
      };
      byAction.set(e.id, entry);
      out.push(entry);
    } else if (e.kind === 'ObservationEvent' && e.observation && e.observation.kind === 'TerminalObservation') {
      const o = e.observation;
      let entry = byAction.get(e.action_id);
      if (!entry) {
        entry = { key: 'o:' + e.id, by: 'agent', command: o.command || '', output: '', exitCode: null, running: false, timedOut: false, cwd: '', time: e.timestamp || '', input: false };
        out.push(entry);
      }
      entry.output = contentText(o.content);
      const code = typeof o.exit_code === 'number' ? o.exit_code : o.metadata && typeof o.metadata.exit_code === 'number' ? o.metadata.exit_code : null;
      entry.exitCode = code === -1 ? null : code;
      entry.running = code === -1;
      entry.timedOut = !!o.timeout;
      entry.cwd = (o.metadata && o.metadata.working_dir) || '';
      entry.error = !!o.is_error;
    } else if (e.kind === 'UserRejectObservation') {
      const entry = byAction.get(e.action_id);
      if (entry) {
        entry.running = false;
        entry.rejected = e.rejection_reason || 'rejected';
      }
    }
  }
  const byCommand = new Map();
  const chunks = new Map();
  for (const b of bashEvents) {
    if (b.kind === 'BashCommand') {
      const entry = {
        key: 'b:' + b.id, by: 'api', command: b.command || '', output: '', exitCode: null, running: true,
        timedOut: false, cwd: b.cwd || '', time: b.timestamp || '', input: false,
      };
      byCommand.set(b.id, entry);
      out.push(entry);
    } else if (b.kind === 'BashOutput') {
      if (!chunks.has(b.command_id)) chunks.set(b.command_id, []);
      chunks.get(b.command_id).push(b);
    }
  }
  for (const [id, list] of chunks) {
    const entry = byCommand.get(id);
    if (!entry) continue;
    list.sort((x, y) => x.order - y.order);
    entry.output = list.map((c) => (c.stdout || '') + (c.stderr || '')).join('');
    const last = list.find((c) => typeof c.exit_code === 'number');
    if (last) {
      entry.exitCode = last.exit_code;
      entry.running = false;
    }
  }
  // Stable order by start time; the agent's and the API's commands
  // interleave as they happened.
  return out
    .map((e, i) => [e, i])
    .sort((x, y) => (x[0].time < y[0].time ? -1 : x[0].time > y[0].time ? 1 : x[1] - y[1]))
    .map(([e]) => e);
}

/** contentText joins the text parts of a content list (or a plain string). */
export function contentText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((c) => c && typeof c.text === 'string').map((c) => c.text).join('');
}

/** exitBadge shows an exit code: ok, failed, still running, timed out. */
export function exitBadge(entry) {
  if (entry.rejected) return h('span', { class: 'badge badge-warn' }, 'rejected');
  if (entry.timedOut) return h('span', { class: 'badge badge-err' }, 'timed out');
  if (entry.running) return h('span', { class: 'badge badge-busy' }, 'running');
  if (entry.exitCode === null) return null;
  return h('span', { class: 'badge ' + (entry.exitCode === 0 ? 'badge-ok' : 'badge-err'), title: 'exit code' }, `exit ${entry.exitCode}`);
}

/** render shows the history as a terminal. */
export function render(list) {
  if (!list.length) return h('div', { class: 'term-empty' }, 'No command has run in the sandbox yet.');
  return h('div', { class: 'term' }, list.map((e) => h('div', { class: 'term-entry', 'data-by': e.by },
    h('div', { class: 'term-cmd' },
      h('span', { class: 'term-prompt', title: e.by === 'agent' ? 'run by the agent' : 'run through the API' }, e.input ? 'agent ⌨' : e.by === 'agent' ? 'agent $' : 'api $'),
      ' ',
      h('span', { class: 'term-cmdline' }, e.command || (e.input ? '(input)' : '(more output)')),
      ' ',
      exitBadge(e)),
    e.output ? h('pre', { class: 'term-output' }, ansi.render(e.output)) : null)));
}
