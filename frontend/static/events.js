// The timeline: one item per event, rendered so that a person reads it at
// a glance. Every event kind has a view; a kind this page does not know is
// shown by name with its fields as JSON text.

import { h } from './vdom.js';
import * as md from './markdown.js';
import * as ansi from './ansi.js';
import * as diff from './diff.js';
import { contentText } from './terminal.js';
import * as mcp from './mcp.js';
import * as browser from './browser.js';
import { clock, riskTone, sandboxLabel, statusLabel, tone, truncate } from './format.js';

// Output longer than this is folded: the first lines show, the rest opens
// on demand.
const FOLD_LINES = 30;

/**
 * render returns the timeline item of an event. ctx.actionOf(id) finds the
 * ActionEvent an observation answers, when the page has it; with
 * ctx.branching, actions carry "Fork from here" and "Rewind to here".
 */
export function render(ev, ctx = {}) {
  const view = VIEWS[ev.kind] || unknown;
  let body;
  try {
    body = view(ev, ctx);
  } catch (err) {
    // A malformed event must not take the timeline down with it.
    body = { title: ev.kind || 'event', cls: 'ev-error', content: [h('p', null, 'This event could not be shown: ' + String(err && err.message)), json(ev)] };
  }
  const source = ev.source || '';
  return h('li', {
    class: `event ev-${source} ${body.cls || ''}`.trim(),
    'data-seq': ev.seq,
    'data-kind': ev.kind,
    'data-id': ev.id,
  },
  h('div', { class: 'ev-head' },
    h('span', { class: 'ev-icon', 'aria-hidden': 'true' }, body.icon || '•'),
    h('span', { class: 'ev-title' }, body.title),
    body.badges || null,
    h('time', { class: 'ev-time', datetime: ev.timestamp || '', title: ev.timestamp || '' }, clock(ev.timestamp)),
    h('span', { class: 'ev-seq', title: 'event number' }, '#' + ev.seq)),
  h('div', { class: 'ev-body' }, body.content || null),
  ctx.branching && ev.kind === 'ActionEvent' ? branchTools(ev) : null);
}

// branchTools are an action's buttons to fork the conversation from it or
// rewind it to it; the conversation view answers their clicks (by
// data-branch) and enables them once the action has its result.
function branchTools(ev) {
  return h('div', { class: 'ev-branch' },
    h('button', { type: 'button', class: 'btn btn-small', 'data-branch': 'fork', 'data-action-id': ev.id, title: 'A new conversation from after this action, with the files as they were then' }, '↱ Fork from here'),
    h('button', { type: 'button', class: 'btn btn-small', 'data-branch': 'rewind', 'data-action-id': ev.id, title: 'Go back to after this action: later events leave the active history and the files go back too' }, '↶ Rewind to here'));
}

const VIEWS = {
  MessageEvent: message,
  ActionEvent: action,
  ObservationEvent: observation,
  UserRejectObservation: rejection,
  AgentErrorEvent: agentError,
  ConversationErrorEvent: conversationError,
  ServerErrorEvent: serverError,
  ConversationStateUpdateEvent: stateUpdate,
  PauseEvent: () => ({ icon: '‖', title: 'Paused', cls: 'ev-note' }),
  InterruptEvent: () => ({ icon: '‖', title: 'Interrupted', cls: 'ev-note' }),
  SystemPromptEvent: systemPrompt,
  CondensationSummaryEvent: (ev) => ({ icon: '≡', title: 'Summary of earlier history', cls: 'ev-note', content: fold('Summary', md.render(ev.summary || '')) }),
  Condensation: condensation,
  SandboxStatusEvent: sandboxStatus,
  HookEvent: hook,
  HookExecutionEvent: hookExecution,
  SkillActivatedEvent: skillActivated,
  HeadMovedEvent: headMoved,
};

function badge(text, t, title) {
  return h('span', { class: `badge badge-${t}`, title: title || null }, text);
}

/** riskBadge shows an action's security rating. */
export function riskBadge(risk, reason) {
  if (!risk) return null;
  return h('span', { class: `badge badge-${riskTone(risk)} risk`, title: reason || 'security risk', 'data-risk': risk },
    risk === 'UNKNOWN' ? 'risk unknown' : `${risk.toLowerCase()} risk`);
}

function json(v) {
  return h('pre', { class: 'ev-json' }, JSON.stringify(v, null, 2));
}

// fold shows content inside a closed <details> with a summary line.
function fold(summary, content, open = false) {
  return h('details', open ? { open: true } : null, h('summary', null, summary), content);
}

// output shows tool output as terminal text, folding long output.
function output(text, cls = 'term-output') {
  if (!text) return null;
  const lines = text.split('\n');
  if (lines.length <= FOLD_LINES) return h('pre', { class: cls }, ansi.render(text));
  return [
    h('pre', { class: cls }, ansi.render(lines.slice(0, FOLD_LINES).join('\n'))),
    fold(`${lines.length - FOLD_LINES} more lines`, h('pre', { class: cls }, ansi.render(lines.slice(FOLD_LINES).join('\n')))),
  ];
}

function contentParts(content) {
  if (typeof content === 'string') return md.render(content);
  if (!Array.isArray(content)) return [];
  const out = [];
  for (const c of content) {
    if (!c) continue;
    if (c.type === 'image' || Array.isArray(c.image_urls)) {
      for (const url of c.image_urls || []) {
        if (/^data:image\/(png|jpeg|gif|webp);base64,/i.test(url)) out.push(h('img', { class: 'msg-image', src: url, alt: 'image in the message' }));
        else out.push(h('p', null, h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, 'image: ' + truncate(url, 80))));
      }
    } else if (typeof c.text === 'string') {
      out.push(...md.render(c.text));
    }
  }
  return out;
}

function message(ev) {
  const m = ev.llm_message || {};
  const role = m.role || ev.source;
  const who = role === 'user' ? 'You' : role === 'assistant' || ev.source === 'agent' ? 'Agent' : role;
  const skills = Array.isArray(ev.activated_skills) && ev.activated_skills.length
    ? h('div', { class: 'chips' }, ev.activated_skills.map((s) => h('span', { class: 'chip' }, 'skill: ' + s)))
    : null;
  const extended = Array.isArray(ev.extended_content) && ev.extended_content.length
    ? fold('Context added to the message', h('pre', { class: 'ev-pre' }, contentText(ev.extended_content)))
    : null;
  return {
    icon: role === 'user' ? '◉' : '✦',
    title: who + (ev.sender ? ` (${ev.sender})` : ''),
    cls: 'ev-message ev-role-' + role,
    content: [h('div', { class: 'md' }, contentParts(m.content)), skills, extended],
  };
}

const TOOL_ICONS = {
  terminal: '⌨', file_editor: '✎', task_tracker: '☑', glob: '⌕', grep: '⌕', apply_patch: '±',
  browser: '◎', think: '…', finish: '⚑',
};

// MCP_ICON marks the calls to an MCP server's tools and their results.
const MCP_ICON = '⇄';

function thoughtOf(ev) {
  const parts = [];
  const t = contentText(ev.thought);
  if (t.trim()) parts.push(h('div', { class: 'thought md' }, md.render(t)));
  if (ev.reasoning_content) parts.push(fold('Reasoning', h('div', { class: 'thought md' }, md.render(ev.reasoning_content))));
  return parts;
}

function action(ev) {
  const a = ev.action;
  const tool = ev.tool_name || (ev.tool_call && ev.tool_call.name) || 'tool';
  const badges = [riskBadge(ev.security_risk, ev.security_reason)];
  const content = [...thoughtOf(ev)];
  let title = ev.summary || '';
  if (!a) {
    // The model's call could not be turned into an action.
    content.push(h('p', { class: 'ev-warn' }, `The call to ${tool} could not be run.`));
    if (ev.tool_call && ev.tool_call.arguments) content.push(h('pre', { class: 'ev-pre' }, ev.tool_call.arguments));
    return { icon: '⚠', title: title || `Call to ${tool}`, cls: 'ev-action', badges, content };
  }
  switch (a.kind) {
    case 'TerminalAction':
      title = title || (a.is_input ? 'Input to the terminal' : a.reset ? 'Reset the terminal' : 'Run a command');
      if (a.command) content.push(h('pre', { class: 'term-cmdline-block' }, h('span', { class: 'term-prompt' }, a.is_input ? '⌨ ' : '$ '), a.command));
      if (a.timeout) badges.push(badge(`timeout ${a.timeout}s`, 'idle'));
      break;
    case 'FileEditorAction':
      title = title || editorTitle(a);
      content.push(editorBody(a));
      break;
    case 'TaskTrackerAction':
      title = title || (a.command === 'plan' ? 'Update the task list' : 'Look at the task list');
      if (Array.isArray(a.task_list) && a.command === 'plan') content.push(tasks(a.task_list));
      break;
    case 'GlobAction':
      title = title || 'Find files';
      content.push(h('p', null, h('code', null, a.pattern || ''), a.path ? [' in ', h('code', null, a.path)] : null));
      break;
    case 'GrepAction':
      title = title || 'Search file contents';
      content.push(h('p', null, h('code', null, a.pattern || ''), a.include ? [' in files ', h('code', null, a.include)] : null, a.path ? [' under ', h('code', null, a.path)] : null));
      break;
    case 'ApplyPatchAction':
      title = title || 'Apply a patch';
      content.push(diff.renderPatch(a.patch || ''));
      break;
    case mcp.ACTION:
      title = title || 'Call ' + mcp.label(a, tool);
      content.push(...mcp.callBody(a, ev.tool_name));
      break;
    case 'ThinkAction':
      return { icon: '…', title: 'Thought', cls: 'ev-thought', badges: [], content: [...content, h('div', { class: 'thought md' }, md.render(a.thought || ''))] };
    case 'FinishAction':
      return { icon: '⚑', title: 'Finished', cls: 'ev-finish', badges: [], content: [...content, h('div', { class: 'md' }, md.render(a.message || ''))] };
    default: {
      if (browser.isAction(a.kind)) {
        const v = browser.actionView(a);
        title = title || v.title;
        content.push(...v.content);
        break;
      }
      title = title || `Call ${tool}`;
      const { kind, ...rest } = a;
      content.push(json(rest));
    }
  }
  if (ev.security_reason) content.push(h('p', { class: 'ev-meta ev-verdict' }, `Rated ${String(ev.security_risk || 'UNKNOWN').toLowerCase()}: ${ev.security_reason}`));
  if (a.kind === mcp.ACTION) return { icon: MCP_ICON, title, cls: 'ev-action ev-mcp', badges, content };
  if (browser.isAction(a.kind)) return { icon: browser.ICON, title, cls: 'ev-action ev-browser', badges, content };
  return { icon: TOOL_ICONS[tool] || '⚙', title, cls: 'ev-action', badges, content };
}

function editorTitle(a) {
  const p = a.path || '';
  switch (a.command) {
    case 'view': return `View ${p}`;
    case 'create': return `Create ${p}`;
    case 'str_replace': return `Edit ${p}`;
    case 'insert': return `Insert into ${p}`;
    case 'undo_edit': return `Undo the last edit of ${p}`;
    default: return `${a.command || 'edit'} ${p}`;
  }
}

function editorBody(a) {
  switch (a.command) {
    case 'create':
      return diff.render(a.path, '', a.file_text || '');
    case 'str_replace':
      return diff.render(a.path, a.old_str || '', a.new_str || '', 2);
    case 'insert':
      return [h('p', { class: 'ev-meta' }, `after line ${a.insert_line ?? 0}`), diff.render(a.path, '', a.new_str || '')];
    case 'view':
      return Array.isArray(a.view_range) ? h('p', { class: 'ev-meta' }, `lines ${a.view_range[0]} to ${a.view_range[1] === -1 ? 'the end' : a.view_range[1]}`) : null;
    default:
      return null;
  }
}

function tasks(list) {
  const mark = { done: '✔', in_progress: '◐', todo: '○' };
  return h('ul', { class: 'tasks' }, list.map((t) => h('li', { class: 'task task-' + (t.status || 'todo') },
    h('span', { class: 'task-mark', 'aria-label': t.status || 'todo' }, mark[t.status] || '○'), ' ', t.title || '',
    t.notes ? h('small', { class: 'task-notes' }, ' — ' + t.notes) : null)));
}

function observation(ev, ctx) {
  const o = ev.observation || {};
  const text = contentText(o.content);
  const err = !!o.is_error;
  const act = ctx.actionOf ? ctx.actionOf(ev.action_id) : null;
  const badges = [];
  if (err) badges.push(badge('error', 'err'));
  const base = { icon: '↳', cls: 'ev-observation' + (err ? ' ev-failed' : ''), badges };
  switch (o.kind) {
    case 'TerminalObservation': {
      const code = typeof o.exit_code === 'number' ? o.exit_code : o.metadata && typeof o.metadata.exit_code === 'number' ? o.metadata.exit_code : null;
      if (o.timeout) badges.push(badge('timed out', 'err'));
      else if (code === -1) badges.push(badge('still running', 'busy'));
      else if (code !== null) badges.push(badge(`exit ${code}`, code === 0 ? 'ok' : 'err', 'exit code'));
      const cmd = o.command || (act && act.action && act.action.command) || '';
      return {
        ...base, icon: '⌨', title: 'Terminal output', cls: base.cls + ' ev-terminal',
        content: [
          cmd ? h('div', { class: 'term-cmd' }, h('span', { class: 'term-prompt' }, '$'), ' ', h('span', { class: 'term-cmdline' }, cmd)) : null,
          output(text) || h('p', { class: 'ev-meta' }, '(no output)'),
          o.metadata && o.metadata.working_dir ? h('p', { class: 'ev-meta' }, 'in ', h('code', null, o.metadata.working_dir)) : null,
          o.full_output_save_dir ? h('p', { class: 'ev-meta' }, 'full output kept in ', h('code', null, o.full_output_save_dir)) : null,
        ],
      };
    }
    case 'FileEditorObservation': {
      const content = [];
      const changed = o.command !== 'view' && (typeof o.old_content === 'string' || typeof o.new_content === 'string');
      if (err) content.push(h('p', { class: 'ev-error-text' }, text));
      else if (changed) content.push(diff.render(o.path, o.old_content || '', o.new_content || ''));
      else if (o.command === 'view') content.push(output(text, 'ev-pre'));
      else content.push(h('p', null, text));
      return { ...base, icon: '✎', title: (o.path ? o.path + ': ' : '') + (err ? 'edit failed' : o.command === 'view' ? 'contents' : o.prev_exist === false ? 'created' : 'edited'), content };
    }
    case 'TaskTrackerObservation':
      return { ...base, icon: '☑', title: 'Task list', content: Array.isArray(o.task_list) && o.task_list.length ? tasks(o.task_list) : h('p', null, text) };
    case 'GlobObservation':
    case 'GrepObservation': {
      const files = o.files || o.matches || [];
      return {
        ...base, icon: '⌕', title: `${files.length} file${files.length === 1 ? '' : 's'} found${o.truncated ? ' (more not shown)' : ''}`,
        content: files.length ? h('ul', { class: 'file-hits' }, files.map((f) => h('li', null, h('code', null, f)))) : h('p', null, text),
      };
    }
    case 'ApplyPatchObservation': {
      const changes = (o.commit && o.commit.changes) || {};
      const content = [h('p', null, o.message || text)];
      for (const [path, c] of Object.entries(changes)) {
        const label = c.type === 'delete' ? `${path} (deleted)` : c.move_path ? `${path} → ${c.move_path}` : path;
        content.push(diff.render(label, c.old_content || '', c.new_content || ''));
      }
      if (o.fuzz) badges.push(badge(`fuzz ${o.fuzz}`, 'warn'));
      return { ...base, icon: '±', title: err ? 'Patch failed' : 'Patch applied', content };
    }
    case 'BrowserObservation':
      return { ...base, icon: browser.ICON, cls: base.cls + ' ev-browser', ...browser.observationView(o, act) };
    case mcp.OBSERVATION: {
      const name = mcp.label(act && act.action && act.action.kind === mcp.ACTION ? act.action : null, (act && act.tool_name) || o.tool_name || ev.tool_name);
      return { ...base, icon: MCP_ICON, title: err ? `${name} failed` : `Result of ${name}`, cls: base.cls + ' ev-mcp', content: mcp.resultBody(o) };
    }
    case 'ThinkObservation':
      return { ...base, icon: '…', title: 'Thought noted', cls: base.cls + ' ev-quiet' };
    case 'FinishObservation':
      return { ...base, icon: '⚑', title: 'Done', cls: base.cls + ' ev-quiet' };
    default:
      return { ...base, title: `Result of ${ev.tool_name || 'the tool'}`, content: output(text, 'ev-pre') || json(o) };
  }
}

function rejection(ev) {
  const byHook = ev.rejection_source === 'hook';
  return {
    icon: '✖', title: byHook ? 'Blocked by a hook' : 'Rejected', cls: 'ev-rejected',
    badges: ev.tool_name ? [badge(ev.tool_name, 'idle')] : [],
    content: h('p', { class: 'reject-reason' }, ev.rejection_reason || 'No reason given.'),
  };
}

function agentError(ev) {
  return {
    icon: '⚠', title: 'Agent error' + (ev.tool_name ? ` (${ev.tool_name})` : ''), cls: 'ev-error',
    content: h('pre', { class: 'ev-error-text' }, ev.error || ''),
  };
}

function conversationError(ev) {
  if (ev.code === 'MCPServerError') {
    // Servers that did not start or tools left out: the run goes on.
    return {
      icon: '⚠', title: 'MCP servers: some cannot be used', cls: 'ev-error',
      content: h('pre', { class: 'ev-error-text' }, ev.detail || ''),
    };
  }
  return {
    icon: '✖', title: 'The run stopped: ' + (ev.code || 'error'), cls: 'ev-error',
    content: h('pre', { class: 'ev-error-text' }, ev.detail || ''),
  };
}

function serverError(ev) {
  return {
    icon: '✖', title: 'Server error: ' + (ev.code || 'error'), cls: 'ev-error',
    content: h('pre', { class: 'ev-error-text' }, ev.detail || ''),
  };
}

function stateUpdate(ev) {
  if (ev.key === 'execution_status') {
    return { icon: '●', title: 'Status: ' + statusLabel(ev.value), cls: `ev-status ev-note tone-${tone(ev.value)}` };
  }
  if (ev.key === 'full_state') return { icon: '●', title: 'State snapshot', cls: 'ev-note', content: fold('Fields', json(ev.value)) };
  return { icon: '●', title: `${ev.key} changed`, cls: 'ev-note', content: fold('New value', json(ev.value)) };
}

function systemPrompt(ev) {
  const tools = Array.isArray(ev.tools) ? ev.tools : [];
  const prompt = ev.system_prompt && ev.system_prompt.text;
  return {
    icon: '⚙', title: `Agent set up with ${tools.length} tool${tools.length === 1 ? '' : 's'}`, cls: 'ev-note',
    content: [
      tools.length ? h('div', { class: 'chips' }, tools.map((t) => mcp.isTool(t)
        ? h('span', { class: 'chip chip-mcp', title: 'MCP tool' + (t.description ? ': ' + t.description : '') }, t.name)
        : h('span', { class: 'chip', title: t.description || '' }, t.name))) : null,
      fold('System prompt', h('pre', { class: 'ev-pre' }, prompt || '')),
      ev.dynamic_context && ev.dynamic_context.text ? fold('Context', h('pre', { class: 'ev-pre' }, ev.dynamic_context.text)) : null,
    ],
  };
}

function condensation(ev) {
  const n = Array.isArray(ev.forgotten_event_ids) ? ev.forgotten_event_ids.length : 0;
  return {
    icon: '≡', title: `History condensed: ${n} event${n === 1 ? '' : 's'} set aside`, cls: 'ev-note',
    content: ev.summary ? fold('Summary', h('div', { class: 'md' }, md.render(ev.summary))) : null,
  };
}

/** progressBar shows a fraction (0..1), or an activity bar when null. */
export function progressBar(fraction, label) {
  if (typeof fraction === 'number' && Number.isFinite(fraction)) {
    const pct = Math.max(0, Math.min(100, fraction * 100));
    return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(pct)), 'aria-label': label || 'progress' },
      h('div', { class: 'progress-fill', style: { width: pct.toFixed(1) + '%' } }));
  }
  return h('div', { class: 'progress progress-busy', role: 'progressbar', 'aria-label': label || 'in progress' }, h('div', { class: 'progress-fill' }));
}

function sandboxStatus(ev) {
  return {
    icon: '▣', title: 'Sandbox ' + sandboxLabel(ev.status), cls: `ev-sandbox ev-note tone-${ev.status === 'running' ? 'ok' : tone(ev.status)}`,
    badges: ev.image ? [badge(ev.image, 'idle', 'image')] : [],
    content: [
      ev.message ? h('p', { class: 'ev-meta' }, ev.message) : null,
      // Only a measured progress: the header shows what goes on now.
      typeof ev.progress === 'number' ? progressBar(ev.progress, 'sandbox ' + sandboxLabel(ev.status)) : null,
    ],
  };
}

function hook(ev) {
  const denied = ev.decision === 'deny' || ev.decision === 'error';
  return {
    icon: '⚓', title: `Hook ${ev.hook || ''} ${ev.event === 'pre_action' ? 'before' : 'after'} ${ev.tool_name || 'the action'}`,
    cls: 'ev-hook ev-note' + (denied ? ' ev-failed' : ''),
    badges: [badge(ev.decision || '?', denied ? 'err' : 'ok', 'decision'), typeof ev.duration_ms === 'number' ? badge(`${Math.round(ev.duration_ms)} ms`, 'idle') : null],
    content: [
      ev.reason ? h('p', null, ev.reason) : null,
      ev.error ? h('p', { class: 'ev-error-text' }, ev.error) : null,
      ev.output ? fold('Output', h('pre', { class: 'ev-pre' }, ev.output)) : null,
    ],
  };
}

// hookExecution shows a run of one of the repository's hooks, run in the
// sandbox.
function hookExecution(ev) {
  const failed = ev.blocked || !ev.success;
  const verdict = ev.blocked ? 'blocked' : ev.success ? 'ok' : 'failed';
  const output = [ev.stdout, ev.stderr].filter(Boolean).join('\n');
  return {
    icon: '⚓', title: `Repository hook ${ev.hook_event_type || ''}${ev.tool_name ? ' for ' + ev.tool_name : ''}`,
    cls: 'ev-hook ev-note' + (failed ? ' ev-failed' : ''),
    badges: [badge(verdict, failed ? 'err' : 'ok', 'result'), badge(`exit ${ev.exit_code}`, 'idle')],
    content: [
      h('p', null, h('code', null, ev.hook_command || '')),
      ev.reason ? h('p', null, ev.reason) : null,
      ev.error ? h('p', { class: 'ev-error-text' }, ev.error) : null,
      ev.additional_context ? h('p', null, 'Adds: ' + ev.additional_context) : null,
      output ? fold('Output', h('pre', { class: 'ev-pre' }, output)) : null,
    ],
  };
}

// skillActivated shows the skills a user's message brought in.
function skillActivated(ev) {
  const names = Array.isArray(ev.skills) ? ev.skills : [];
  return {
    icon: '✦', title: `Skill${names.length === 1 ? '' : 's'} used: ${names.join(', ')}`, cls: 'ev-note',
    content: fold('What the agent is shown', h('pre', { class: 'ev-pre' }, contentText(ev.content))),
  };
}

// headMoved shows a rewind (or a move back to a branch left before). Its
// "Return here" goes back to the head it left; the conversation view
// shows it only while that head is off the active history.
function headMoved(ev) {
  const files = ev.files_restored
    ? `Files brought back to the checkpoint after #${ev.checkpoint_seq || 0}` + (typeof ev.restored_files === 'number' ? ` (${ev.restored_files} file${ev.restored_files === 1 ? '' : 's'} written).` : '.')
    : 'Files left as they were.';
  return {
    icon: '↶', title: `History moved to #${ev.leaf_seq ?? '?'}`, cls: 'ev-note ev-head-moved',
    content: [
      h('p', { class: 'ev-meta' }, 'Later events left the active history; a new message continues from #' + (ev.leaf_seq ?? '?') + '. ' + files),
      ev.previous_leaf_event_id
        ? h('p', null, h('button', { type: 'button', class: 'btn btn-small', 'data-branch': 'return', 'data-event-id': ev.previous_leaf_event_id, hidden: true, title: 'Go back to where the history was before this move' }, '↷ Return here'))
        : null,
    ],
  };
}

function unknown(ev) {
  const { kind, id, timestamp, source, seq, ...rest } = ev;
  return { icon: '•', title: kind || 'Event', cls: 'ev-note', content: fold('Fields', json(rest)) };
}

/**
 * pendingCard shows an action waiting for the user: what it does, its risk
 * and the reason for it.
 */
export function pendingCard(ev) {
  const a = ev.action || {};
  let what;
  if (a.kind === 'TerminalAction') what = h('pre', { class: 'term-cmdline-block' }, '$ ', a.command || '');
  else if (a.kind === 'FileEditorAction') what = [h('p', null, editorTitle(a)), editorBody(a)];
  else if (a.kind === mcp.ACTION) what = mcp.callBody(a, ev.tool_name);
  else if (browser.isAction(a.kind)) what = [h('p', null, browser.actionView(a).title), ...browser.actionView(a).content];
  else what = h('p', null, ev.summary || `Call ${ev.tool_name || 'a tool'}`);
  return h('div', { class: 'pending-card', 'data-id': ev.id },
    h('div', { class: 'pending-head' },
      h('strong', null, ev.summary || `${ev.tool_name || 'tool'} wants to run`),
      ' ', riskBadge(ev.security_risk || 'UNKNOWN', ev.security_reason)),
    what,
    h('p', { class: 'pending-reason' }, ev.security_reason ? 'Why: ' + ev.security_reason : 'No reason given for the rating.'));
}
