// The conversation view: header with status and sandbox, the timeline,
// actions waiting for confirmation, the message box, and the terminal and
// files panes. Events come over the events socket, resumed after a drop
// from the last seq; commands run through the API come over the bash
// socket.

import { h, toDOM } from './vdom.js';
import { ConversationState, Stream, BashLog, eventsSocketURL, bashSocketURL, ACTIVE, SANDBOX_BUSY } from './state.js';
import * as timeline from './events.js';
import * as terminal from './terminal.js';
import { sandboxLabel, statusLabel, tone, truncate } from './format.js';
import { $, app, failure, mount, notify, onUnauthorized, setConn } from './ui.js';
import { markListStatus, refreshList } from './list.js';
import { loadFiles } from './files.js';
import { loadChanges } from './changes.js';
import { showPreview } from './preview.js';
import { markBranches, wireBranching } from './branching.js';
import { forkedFrom } from './branches.js';

export function closeConversation() {
  const c = app.conv;
  if (!c) return;
  app.conv = null;
  c.events.stop();
  c.bash.stop();
  clearTimeout(c.termTimer);
  if (c.unwatch) c.unwatch();
}

function convSkeleton(id) {
  return h('section', { class: 'conv', 'data-id': id },
    h('header', { class: 'conv-head' },
      h('div', { class: 'conv-title-row' },
        h('h1', { class: 'conv-title', id: 'conv-title' }, 'Conversation ' + id.slice(0, 8)),
        h('span', { id: 'conv-status', class: 'badge badge-idle', role: 'status' }, '…')),
      h('p', { id: 'conv-origin', class: 'muted conv-origin', hidden: true }),
      h('div', { class: 'conv-tools' },
        h('div', { id: 'sandbox', class: 'sandbox-state', 'aria-live': 'polite' }),
        h('div', { class: 'conv-actions' },
          h('button', { type: 'button', id: 'btn-pause', class: 'btn', hidden: true }, '‖ Pause'),
          h('button', { type: 'button', id: 'btn-run', class: 'btn', hidden: true }, '▷ Resume'),
          h('button', { type: 'button', id: 'btn-delete', class: 'btn btn-ghost', title: 'Delete this conversation and its sandbox' }, 'Delete')))),
    h('div', { class: 'conv-body', id: 'conv-body', 'data-tab': 'timeline' },
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Views' },
        tab('timeline', 'Timeline'), tab('terminal', 'Terminal'), tab('files', 'Files'), tab('changes', 'Changes'), tab('preview', 'Preview')),
      h('div', { class: 'timeline-col', id: 'panel-timeline', role: 'tabpanel', 'aria-labelledby': 'tab-timeline' },
        h('div', { class: 'timeline-scroll', id: 'timeline-scroll' },
          h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Events' }),
          h('p', { class: 'muted timeline-empty', id: 'timeline-empty' }, 'Waiting for events…')),
        h('div', { class: 'pending', id: 'pending', hidden: true, role: 'region', 'aria-label': 'Actions waiting for you' }),
        h('form', { class: 'composer', id: 'composer' },
          h('label', { class: 'visually-hidden', for: 'message' }, 'Message to the agent'),
          h('textarea', { id: 'message', rows: '2', placeholder: 'Message the agent — Enter sends, Shift+Enter adds a line' }),
          h('button', { type: 'submit', class: 'btn btn-primary', id: 'btn-send' }, 'Send'))),
      h('div', { class: 'side-col', id: 'panel-terminal', role: 'tabpanel', 'aria-labelledby': 'tab-terminal' },
        h('div', { class: 'term-scroll', id: 'terminal' }),
        h('form', { class: 'bash-form', id: 'bash-form' },
          h('label', { class: 'visually-hidden', for: 'bash-input' }, 'Command to run in the sandbox'),
          h('span', { class: 'term-prompt', 'aria-hidden': 'true' }, '$'),
          h('input', { id: 'bash-input', type: 'text', placeholder: 'Run a command in the sandbox', autocomplete: 'off' }),
          h('button', { type: 'submit', class: 'btn' }, 'Run'))),
      h('div', { class: 'side-col', id: 'panel-files', role: 'tabpanel', 'aria-labelledby': 'tab-files' },
        h('div', { class: 'files-bar' },
          h('nav', { id: 'crumbs', class: 'crumbs', 'aria-label': 'Folder' }),
          h('div', { class: 'files-actions' },
            h('button', { type: 'button', class: 'btn', id: 'btn-refresh', title: 'Refresh the list' }, '↻'),
            h('input', { type: 'file', id: 'file-input', class: 'visually-hidden', multiple: true, tabindex: '-1' }),
            h('label', { for: 'file-input', class: 'btn', id: 'upload-label', tabindex: '0', role: 'button' }, '⇧ Upload'))),
        h('p', { id: 'files-state', class: 'muted', 'aria-live': 'polite' }),
        h('ul', { class: 'file-list', id: 'file-list' }),
        h('div', { class: 'file-view', id: 'file-view', hidden: true })),
      h('div', { class: 'side-col', id: 'panel-changes', role: 'tabpanel', 'aria-labelledby': 'tab-changes' },
        h('div', { class: 'files-bar' },
          h('p', { id: 'changes-state', class: 'muted', 'aria-live': 'polite' }),
          h('button', { type: 'button', class: 'btn', id: 'btn-changes-refresh', title: 'Refresh the changes' }, '↻')),
        h('ul', { class: 'change-list', id: 'change-list' }),
        h('div', { class: 'change-diff', id: 'change-diff', hidden: true })),
      h('div', { class: 'side-col', id: 'panel-preview', role: 'tabpanel', 'aria-labelledby': 'tab-preview' },
        h('form', { class: 'files-bar preview-bar', id: 'preview-form' },
          h('label', { class: 'visually-hidden', for: 'preview-target' }, 'What to preview'),
          h('input', { id: 'preview-target', type: 'text', autocomplete: 'off', placeholder: 'a file of the workspace (index.html), or :PORT/ for a server in the sandbox' }),
          h('button', { type: 'submit', class: 'btn' }, 'Show')),
        h('p', { id: 'preview-state', class: 'muted', 'aria-live': 'polite' }),
        h('div', { class: 'preview-box', id: 'preview-box' }))));
}

function tab(name, label) {
  return h('button', { type: 'button', role: 'tab', id: 'tab-' + name, class: 'tab tab-' + name, 'aria-controls': 'panel-' + name, 'aria-selected': name === 'timeline' ? 'true' : 'false', 'data-tab': name }, label);
}

export function openConversation(id) {
  mount($('#main'), convSkeleton(id));
  const state = new ConversationState(id);
  const bashLog = new BashLog();
  const c = {
    id, state, bashLog,
    filesDir: '',
    filesLoaded: false,
    changesLoaded: false,
    previewTarget: undefined,
    queue: [],
    termTimer: null,
    events: null,
    bash: null,
  };
  app.conv = c;
  document.title = 'Conversation · GoHands';

  c.events = new Stream({
    url: () => eventsSocketURL(location.href, id, app.api.key, state.lastSeq),
    WebSocket,
    onStatus: (s, detail) => {
      if (app.conv !== c) return;
      setConn(s, detail);
      if (s === 'unauthorized') onUnauthorized();
      if (s === 'not_found') mount($('#timeline'), h('li', { class: 'event ev-error' }, 'This conversation does not exist (any more).'));
    },
    onMessage: (ev) => {
      if (app.conv !== c) return 'ok';
      const r = state.apply(ev);
      if (r === 'gap') return 'resync';
      if (r === 'delta') showTyping(c);
      if (r === 'added') appendEvent(c, ev);
      if (r === 'state' && !state.typing && !state.thinking) showTyping(c);
      if (r === 'added' || r === 'state') updateHead(c);
      return 'ok';
    },
  });
  c.bash = new Stream({
    url: () => bashSocketURL(location.href, id, app.api.key),
    WebSocket,
    onStatus: () => {},
    onMessage: (ev) => {
      if (app.conv === c && bashLog.add(ev)) scheduleTerminal(c);
      return 'ok';
    },
  });
  c.events.start();
  c.bash.start();
  app.api.bashEvents(id).then((page) => {
    if (app.conv !== c || !page) return;
    let added = false;
    for (const ev of page.items || []) added = bashLog.add(ev) || added;
    if (added) scheduleTerminal(c);
  }).catch((err) => failure('Reading the command history', err));

  wireConversation(c);
  wireBranching(c);
  renderTerminal(c);
}

function wireConversation(c) {
  const body = $('#conv-body');
  const tabs = [...document.querySelectorAll('.tabs [role=tab]')];
  const select = (name, focus) => {
    body.dataset.tab = name;
    for (const t of tabs) {
      const on = t.dataset.tab === name;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      if (on && focus) t.focus();
    }
    if (name === 'files' && !c.filesLoaded) loadFiles(c, c.filesDir || workingDir(c));
    if (name === 'changes' && !c.changesLoaded) loadChanges(c, workingDir(c));
    if (name === 'preview' && c.previewTarget === undefined) showPreview(c, '');
    if (name === 'terminal') scrollTerminal();
  };
  // A wide screen shows the timeline beside the other views: start on
  // the terminal there, on the timeline on a narrow one.
  const wide = window.matchMedia('(min-width: 821px)');
  const fit = () => {
    if (wide.matches && body.dataset.tab === 'timeline') select('terminal', false);
  };
  wide.addEventListener('change', fit);
  c.unwatch = () => wide.removeEventListener('change', fit);
  for (const t of tabs) {
    t.addEventListener('click', () => select(t.dataset.tab, false));
    t.addEventListener('keydown', (e) => {
      // Arrow keys move between tabs, as the ARIA tabs pattern has it.
      const visible = tabs.filter((x) => x.offsetParent !== null);
      const i = visible.indexOf(t);
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        const next = visible[(i + (e.key === 'ArrowRight' ? 1 : visible.length - 1)) % visible.length];
        select(next.dataset.tab, true);
      }
    });
  }

  select(wide.matches ? 'terminal' : 'timeline', false);

  const msg = $('#message');
  msg.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('#composer').requestSubmit();
    }
  });
  $('#composer').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = msg.value;
    if (!text.trim()) return;
    const button = $('#btn-send');
    button.disabled = true;
    try {
      await app.api.sendMessage(c.id, text, true);
      if (app.conv === c) msg.value = '';
    } catch (err) {
      failure('The message was not sent', err);
    } finally {
      button.disabled = false;
    }
  });

  $('#btn-pause').addEventListener('click', () => control(c, 'pause'));
  $('#btn-run').addEventListener('click', () => control(c, 'run'));
  $('#btn-delete').addEventListener('click', async () => {
    if (!window.confirm('Delete this conversation, its events and its sandbox?')) return;
    try {
      await app.api.deleteConversation(c.id);
      location.hash = '#/';
      refreshList();
    } catch (err) {
      failure('Delete', err);
    }
  });

  $('#bash-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('#bash-input');
    const command = input.value;
    if (!command.trim()) return;
    input.value = '';
    try {
      await app.api.bash(c.id, command, c.filesDir || undefined);
    } catch (err) {
      failure('The command did not run', err);
    }
  });

  $('#btn-refresh').addEventListener('click', () => loadFiles(c, c.filesDir || workingDir(c)));
  $('#btn-changes-refresh').addEventListener('click', () => loadChanges(c, workingDir(c)));
  $('#preview-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showPreview(c, $('#preview-target').value);
  });
  $('#upload-label').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      $('#file-input').click();
    }
  });
  $('#file-input').addEventListener('change', async (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    for (const f of files) {
      try {
        await app.api.upload(c.id, c.filesDir || workingDir(c), f);
        notify(`Uploaded ${f.name}`);
      } catch (err) {
        failure(`Upload of ${f.name}`, err);
      }
    }
    if (app.conv === c) loadFiles(c, c.filesDir || workingDir(c));
  });
}

async function control(c, what) {
  try {
    if (what === 'pause') await app.api.pause(c.id);
    else await app.api.run(c.id);
  } catch (err) {
    failure(what === 'pause' ? 'Pause' : 'Resume', err);
  }
}

function workingDir(c) {
  return (c.state.info && c.state.info.workspace && c.state.info.workspace.working_dir) || '/workspace';
}

// appendEvent queues one event for the timeline; queued events are added
// together once per frame, keeping the view at the bottom if it was there.
function appendEvent(c, ev) {
  c.queue.push(ev);
  if (c.queue.length === 1) requestAnimationFrame(() => flushEvents(c));
}

function flushEvents(c) {
  if (app.conv !== c || !c.queue.length) return;
  const evs = c.queue;
  c.queue = [];
  const scroller = scrollerOf($('#timeline-scroll'));
  const stick = atBottom(scroller);
  const frag = document.createDocumentFragment();
  let term = false;
  for (const ev of evs) {
    frag.appendChild(toDOM(timeline.render(ev, { actionOf: (id) => c.state.actionByID(id), branching: true })));
    term = term || ev.kind === 'ActionEvent' || ev.kind === 'ObservationEvent' || ev.kind === 'UserRejectObservation';
  }
  $('#timeline').appendChild(frag);
  $('#timeline-empty').hidden = true;
  markBranches(c);
  showTyping(c); // after the new events, or gone once the answer is stored
  if (stick) scroller.scrollTop = scroller.scrollHeight;
  if (term) scheduleTerminal(c);
}

// showTyping shows the answer the model is writing (streamed), as the
// last entry of the timeline, and removes it when there is none: the
// stored answer takes its place.
function showTyping(c) {
  if (app.conv !== c) return;
  let li = document.getElementById('typing');
  const { typing, thinking } = c.state;
  if (!typing && !thinking) {
    if (li) li.remove();
    return;
  }
  if (!li) {
    li = h('li', { class: 'event ev-typing', id: 'typing', 'aria-live': 'polite' },
      h('div', { class: 'typing-thinking muted' }), h('div', { class: 'typing-text' }));
    li = toDOM(li);
  }
  li.querySelector('.typing-thinking').textContent = thinking;
  li.querySelector('.typing-text').textContent = typing;
  const tl = $('#timeline');
  if (tl.lastElementChild !== li) tl.appendChild(li);
  $('#timeline-empty').hidden = true;
  const scroller = scrollerOf($('#timeline-scroll'));
  if (atBottom(scroller)) scroller.scrollTop = scroller.scrollHeight;
}

// scrollerOf is the element that scrolls the timeline: its own box on a
// wide screen, the page on a narrow one.
function scrollerOf(el) {
  const oy = getComputedStyle(el).overflowY;
  return oy === 'auto' || oy === 'scroll' ? el : document.scrollingElement;
}

function atBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}

function updateHead(c) {
  const s = c.state;
  const info = s.info || {};
  const title = info.title || 'Conversation ' + c.id.slice(0, 8);
  $('#conv-title').textContent = title;
  document.title = `${truncate(title, 40)} · GoHands`;
  const st = $('#conv-status');
  st.className = 'badge badge-' + tone(s.status);
  st.dataset.status = s.status;
  st.textContent = statusLabel(s.status);
  markListStatus(c.id, s.status);
  showOrigin(c, info);

  const sb = s.sandbox.status ? s.sandbox : { status: (info.sandbox && info.sandbox.status) || '', message: '', progress: null };
  const busy = SANDBOX_BUSY.has(sb.status);
  const sbEl = $('#sandbox');
  sbEl.dataset.status = sb.status;
  mount(sbEl,
    h('span', { class: 'sandbox-label' }, 'Sandbox: ', h('strong', null, sandboxLabel(sb.status))),
    sb.message && (busy || sb.status === 'error') ? h('small', { class: 'muted sandbox-msg' }, ' ' + truncate(sb.message, 80)) : null,
    busy ? timeline.progressBar(sb.progress, 'sandbox ' + sandboxLabel(sb.status)) : null);

  $('#btn-pause').hidden = !ACTIVE.has(s.status);
  const run = $('#btn-run');
  run.hidden = ACTIVE.has(s.status) || s.status === 'finished' || s.status === '';
  run.textContent = s.status === 'paused' ? '▷ Resume' : '▷ Run';
  renderPending(c);
}

// showOrigin says, for a fork, which conversation and event it came from.
function showOrigin(c, info) {
  const from = forkedFrom(info);
  const el = $('#conv-origin');
  const at = from && from.eventID ? c.state.events.find((e) => e.id === from.eventID) : null;
  const key = from ? `${from.id}/${from.eventID}/${at ? at.seq : ''}` : '';
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.hidden = !from;
  if (!from) return;
  mount(el, '↳ Fork of ', h('a', { href: '#/c/' + encodeURIComponent(from.id), class: 'origin-link' }, 'conversation ' + from.id.slice(0, 8)),
    from.eventID ? (at ? ` from event #${at.seq}` : ' from an earlier event') : ' as it was');
}

function renderPending(c) {
  const box = $('#pending');
  const list = c.state.pending();
  const key = list.map((e) => e.id).join(',');
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  if (!list.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  mount(box,
    h('h2', { class: 'pending-title' }, list.length === 1 ? 'An action waits for your confirmation' : `${list.length} actions wait for your confirmation`),
    list.map((ev) => timeline.pendingCard(ev)),
    h('form', { class: 'pending-form', id: 'pending-form' },
      h('label', { for: 'reject-reason' }, 'Reason (sent to the agent if you reject)'),
      h('input', { id: 'reject-reason', type: 'text', placeholder: 'optional' }),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-primary accept', id: 'btn-accept' }, '✔ Accept'),
        ' ',
        h('button', { type: 'button', class: 'btn btn-danger reject', id: 'btn-reject' }, '✖ Reject'))));
  const answer = async (accept) => {
    for (const b of box.querySelectorAll('button')) b.disabled = true;
    try {
      await app.api.respond(c.id, accept, $('#reject-reason').value);
    } catch (err) {
      failure(accept ? 'Accept' : 'Reject', err);
      for (const b of box.querySelectorAll('button')) b.disabled = false;
    }
  };
  $('#btn-accept').addEventListener('click', () => answer(true));
  $('#btn-reject').addEventListener('click', () => answer(false));
  $('#pending-form').addEventListener('submit', (e) => e.preventDefault());
}

function scheduleTerminal(c) {
  if (c.termTimer) return;
  c.termTimer = setTimeout(() => {
    c.termTimer = null;
    if (app.conv === c) renderTerminal(c);
  }, 50);
}

function renderTerminal(c) {
  const el = $('#terminal');
  const stick = atBottom(el);
  mount(el, terminal.render(terminal.entries(c.state.events, c.bashLog.events)));
  if (stick) el.scrollTop = el.scrollHeight;
}

function scrollTerminal() {
  const el = $('#terminal');
  if (el) el.scrollTop = el.scrollHeight;
}
