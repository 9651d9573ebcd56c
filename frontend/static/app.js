// The page: routing, the conversation list, the new-conversation form and
// the conversation view. Rendering is done by the pure modules (events.js,
// terminal.js, markdown.js, ...); this module wires them to the DOM, the
// API and the sockets.

import { h, toDOM } from './vdom.js';
import { API, APIError, createBody, defaultsFrom } from './api.js';
import { ConversationState, Stream, BashLog, eventsSocketURL, bashSocketURL, ACTIVE, SANDBOX_BUSY } from './state.js';
import * as timeline from './events.js';
import * as terminal from './terminal.js';
import { ago, crumbs, joinPath, parentPath, sandboxLabel, size, sortEntries, statusLabel, tone, truncate } from './format.js';

const $ = (sel, root = document) => root.querySelector(sel);

/** mount replaces the children of el with the DOM of vnodes. */
function mount(el, ...nodes) {
  el.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && typeof n !== 'boolean').map((n) => toDOM(n)));
}

const app = {
  api: null,
  conv: null, // the open conversation view
  listTimer: null,
  listIDs: '',
  keyDismissed: false, // the user closed the key dialog without a key
};

// ---------- API key ----------

function askKey(message) {
  const dlg = $('#key-dialog');
  $('#key-message').textContent = message;
  if (!dlg.open) {
    $('#key-input').value = '';
    dlg.showModal();
  }
  $('#key-input').focus();
}

function onUnauthorized() {
  setConn('unauthorized');
  // Once dismissed, the dialog waits for the API key button.
  if (app.keyDismissed) return;
  const had = !!app.api.key;
  askKey(had
    ? 'The server refused this API key (401). Enter the right session API key.'
    : 'This server needs a session API key. Enter it to continue.');
}

function setupKeyDialog() {
  const dlg = $('#key-dialog');
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const k = $('#key-input').value.trim();
    if (!k) return;
    app.api.key = k;
    app.keyDismissed = false;
    dlg.close();
    // Everything starts again with the new key.
    refreshList();
    route(true);
  });
  $('#key-cancel').addEventListener('click', () => dlg.close());
  dlg.addEventListener('cancel', () => {
    app.keyDismissed = true;
  });
  $('#key-cancel').addEventListener('click', () => {
    app.keyDismissed = true;
  });
  $('#key-button').addEventListener('click', () => askKey(app.api.key ? 'Replace the session API key kept in this browser.' : 'Enter the session API key, if the server needs one.'));
}

// ---------- connection state and notices ----------

const CONN_TEXT = {
  idle: '',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  unauthorized: 'Key refused',
  not_found: 'Not found',
  closed: 'Disconnected',
};

function setConn(state, detail) {
  const el = $('#conn');
  el.dataset.state = state;
  let text = CONN_TEXT[state] ?? state;
  if (state === 'reconnecting' && typeof detail === 'number') text = `Reconnecting in ${Math.ceil(detail / 1000)} s…`;
  el.textContent = text;
  el.title = state === 'open' ? 'Receiving events as they happen' : text;
}

function notify(text, kind = 'info') {
  const box = $('#toast');
  const item = toDOM(h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));
  box.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

function failure(what, err) {
  if (err instanceof APIError && err.status === 401) return; // the key dialog says it
  notify(`${what}: ${err && err.message ? err.message : err}`, 'error');
}

// ---------- conversation list ----------

async function refreshList() {
  let page;
  try {
    page = await app.api.searchConversations(100);
  } catch (err) {
    failure('Listing conversations', err);
    return;
  }
  renderList(page && Array.isArray(page.items) ? page.items : []);
}

function renderList(items) {
  const ul = $('#conv-list');
  $('#conv-list-empty').hidden = items.length > 0;
  const ids = items.map((c) => c.id).join(',');
  const current = app.conv ? app.conv.id : '';
  if (ids !== app.listIDs) {
    app.listIDs = ids;
    mount(ul, items.map((c) => h('li', { 'data-id': c.id },
      h('a', { href: '#/c/' + c.id, class: 'conv-link', 'aria-current': c.id === current ? 'page' : null },
        h('span', { class: 'conv-name' }, c.title || 'Conversation ' + c.id.slice(0, 8)),
        h('span', { class: 'conv-meta' },
          h('span', { class: 'badge badge-' + tone(c.execution_status), 'data-status': c.execution_status }, statusLabel(c.execution_status)),
          ' ',
          h('small', { class: 'muted conv-when' }, ago(c.updated_at)))))));
    return;
  }
  // Same conversations in the same order: update in place, so that focus
  // and scroll stay where they are.
  for (const c of items) {
    const li = ul.querySelector(`li[data-id="${CSS.escape(c.id)}"]`);
    if (!li) continue;
    const badge = li.querySelector('.badge');
    badge.className = 'badge badge-' + tone(c.execution_status);
    badge.dataset.status = c.execution_status;
    badge.textContent = statusLabel(c.execution_status);
    li.querySelector('.conv-name').textContent = c.title || 'Conversation ' + c.id.slice(0, 8);
    li.querySelector('.conv-when').textContent = ago(c.updated_at);
    const a = li.querySelector('a');
    if (c.id === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function markListStatus(id, status) {
  const li = document.querySelector(`#conv-list li[data-id="${CSS.escape(id)}"]`);
  if (!li || !status) return;
  const badge = li.querySelector('.badge');
  badge.className = 'badge badge-' + tone(status);
  badge.dataset.status = status;
  badge.textContent = statusLabel(status);
}

// ---------- routing ----------

function route(force = false) {
  const hash = location.hash || '#/';
  const m = /^#\/c\/([^/?#]+)/.exec(hash);
  if (m) {
    const id = decodeURIComponent(m[1]);
    if (!force && app.conv && app.conv.id === id) return;
    closeConversation();
    openConversation(id);
  } else {
    closeConversation();
    if (hash.startsWith('#/new')) showNewForm();
    else showHome();
  }
  for (const a of document.querySelectorAll('#conv-list a')) {
    if (m && a.getAttribute('href') === '#/c/' + m[1]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.classList.remove('menu-open');
  $('#menu-toggle').setAttribute('aria-expanded', 'false');
}

function showHome() {
  setConn('idle');
  document.title = 'GoHands';
  mount($('#main'), h('section', { class: 'home' },
    h('h1', null, 'GoHands'),
    h('p', null, 'Watch and steer agents working in their sandboxes. Pick a conversation, or start a new one.'),
    h('p', null, h('a', { class: 'btn btn-primary', href: '#/new' }, 'New conversation'))));
}

// ---------- new conversation ----------

async function showNewForm() {
  setConn('idle');
  document.title = 'New conversation · GoHands';
  const datalist = (id, values) => h('datalist', { id }, values.map((v) => h('option', { value: v })));
  const form = h('form', { id: 'new-form', class: 'new-form', autocomplete: 'off' },
    h('h1', null, 'New conversation'),
    h('label', { for: 'f-task' }, 'Task'),
    h('textarea', { id: 'f-task', name: 'task', rows: '5', placeholder: 'What should the agent do? (Ctrl+Enter starts it)' }),
    h('label', { for: 'f-title' }, 'Title ', h('small', { class: 'muted' }, '(optional)')),
    h('input', { id: 'f-title', name: 'title', type: 'text' }),
    h('fieldset', null,
      h('legend', null, 'Model'),
      h('label', { for: 'f-model' }, 'Model'),
      h('input', { id: 'f-model', name: 'model', type: 'text', list: 'models', placeholder: 'the server’s default model' }),
      h('label', { for: 'f-base' }, 'Base URL'),
      h('input', { id: 'f-base', name: 'base_url', type: 'text', list: 'base-urls', placeholder: 'the provider’s (or the server’s default)' }),
      h('label', { for: 'f-llm-key' }, 'API key'),
      h('input', { id: 'f-llm-key', name: 'api_key', type: 'password', autocomplete: 'new-password', placeholder: 'the server’s key, if it has one' })),
    h('fieldset', null,
      h('legend', null, 'Workspace'),
      h('label', { for: 'f-dir' }, 'Working directory in the sandbox'),
      h('input', { id: 'f-dir', name: 'working_dir', type: 'text', list: 'dirs', value: '/workspace' }),
      h('p', { class: 'hint' }, 'The server mounts its configured folders (SANDBOX_VOLUMES) into every sandbox; /workspace is the workspace mount.')),
    h('fieldset', null,
      h('legend', null, 'Confirmation'),
      h('label', { for: 'f-policy' }, 'Ask me before'),
      h('select', { id: 'f-policy', name: 'policy' },
        h('option', { value: 'NeverConfirm' }, 'nothing: run every action'),
        h('option', { value: 'ConfirmRisky' }, 'risky actions'),
        h('option', { value: 'AlwaysConfirm' }, 'every action')),
      h('label', { for: 'f-analyzer' }, 'Rate the risk of actions with'),
      h('select', { id: 'f-analyzer', name: 'analyzer' },
        h('option', { value: '' }, 'nothing'),
        h('option', { value: 'LLMSecurityAnalyzer' }, 'the model’s own rating'),
        h('option', { value: 'RuleAnalyzer' }, 'GoHands’ built-in rules')),
      h('div', { id: 'f-threshold-row', hidden: true },
        h('label', { for: 'f-threshold' }, 'Risky means at least'),
        h('select', { id: 'f-threshold', name: 'threshold' },
          h('option', { value: 'LOW' }, 'low'), h('option', { value: 'MEDIUM' }, 'medium'), h('option', { value: 'HIGH', selected: true }, 'high')))),
    h('fieldset', { id: 'f-tools' }, h('legend', null, 'Tools'), h('p', { class: 'hint' }, 'All of the server’s tools.')),
    h('p', { id: 'f-error', class: 'form-error', role: 'alert' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'f-submit' }, 'Start'), ' ', h('a', { class: 'btn', href: '#/' }, 'Cancel')),
    datalist('models', []), datalist('base-urls', []), datalist('dirs', ['/workspace']));
  mount($('#main'), form);
  const el = $('#new-form');
  $('#f-policy').addEventListener('change', () => {
    $('#f-threshold-row').hidden = $('#f-policy').value !== 'ConfirmRisky';
  });
  $('#f-task').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      el.requestSubmit();
    }
  });
  el.addEventListener('submit', (e) => {
    e.preventDefault();
    submitNew();
  });
  $('#f-task').focus();

  // Suggestions from the server: models, base URLs and folders in use,
  // and the tools it offers.
  try {
    const [page, tools] = await Promise.all([app.api.searchConversations(50), app.api.tools().catch(() => [])]);
    if (!document.body.contains(el)) return;
    const d = defaultsFrom(page && page.items);
    mount($('#models'), d.models.map((v) => h('option', { value: v })));
    mount($('#base-urls'), d.baseURLs.map((v) => h('option', { value: v })));
    mount($('#dirs'), d.workingDirs.map((v) => h('option', { value: v })));
    if (Array.isArray(tools) && tools.length) {
      mount($('#f-tools'), h('legend', null, 'Tools'), h('div', { class: 'tool-grid' }, tools.map((t) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'tool', value: t, checked: true, 'data-tool': t }), ' ', t))));
      for (const box of el.querySelectorAll('input[name=tool]')) box.checked = true;
    }
  } catch (err) {
    failure('Reading the server’s settings', err);
  }
}

async function submitNew() {
  const err = $('#f-error');
  err.textContent = '';
  const boxes = [...document.querySelectorAll('#new-form input[name=tool]')];
  const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
  const fields = {
    task: $('#f-task').value,
    title: $('#f-title').value,
    model: $('#f-model').value,
    baseURL: $('#f-base').value,
    apiKey: $('#f-llm-key').value,
    workingDir: $('#f-dir').value,
    policy: $('#f-policy').value,
    threshold: $('#f-threshold').value,
    analyzer: $('#f-analyzer').value,
    // Every tool ticked: leave the choice to the server's defaults.
    tools: boxes.length && chosen.length < boxes.length ? chosen : [],
  };
  if (boxes.length && chosen.length === 0) {
    err.textContent = 'Give the agent at least one tool.';
    return;
  }
  const button = $('#f-submit');
  button.disabled = true;
  try {
    const info = await app.api.createConversation(createBody(fields));
    refreshList();
    location.hash = '#/c/' + encodeURIComponent(info.id);
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) err.textContent = 'The conversation was not created: ' + e.message;
  } finally {
    button.disabled = false;
  }
}

// ---------- conversation view ----------

function closeConversation() {
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
      h('div', { class: 'conv-tools' },
        h('div', { id: 'sandbox', class: 'sandbox-state', 'aria-live': 'polite' }),
        h('div', { class: 'conv-actions' },
          h('button', { type: 'button', id: 'btn-pause', class: 'btn', hidden: true }, '‖ Pause'),
          h('button', { type: 'button', id: 'btn-run', class: 'btn', hidden: true }, '▷ Resume'),
          h('button', { type: 'button', id: 'btn-delete', class: 'btn btn-ghost', title: 'Delete this conversation and its sandbox' }, 'Delete')))),
    h('div', { class: 'conv-body', id: 'conv-body', 'data-tab': 'timeline' },
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Views' },
        tab('timeline', 'Timeline'), tab('terminal', 'Terminal'), tab('files', 'Files')),
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
        h('div', { class: 'file-view', id: 'file-view', hidden: true }))));
}

function tab(name, label) {
  return h('button', { type: 'button', role: 'tab', id: 'tab-' + name, class: 'tab tab-' + name, 'aria-controls': 'panel-' + name, 'aria-selected': name === 'timeline' ? 'true' : 'false', 'data-tab': name }, label);
}

function openConversation(id) {
  mount($('#main'), convSkeleton(id));
  const state = new ConversationState(id);
  const bashLog = new BashLog();
  const c = {
    id, state, bashLog,
    filesDir: '',
    filesLoaded: false,
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
      if (r === 'added') appendEvent(c, ev);
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
    frag.appendChild(toDOM(timeline.render(ev, { actionOf: (id) => c.state.actionByID(id) })));
    term = term || ev.kind === 'ActionEvent' || ev.kind === 'ObservationEvent' || ev.kind === 'UserRejectObservation';
  }
  $('#timeline').appendChild(frag);
  $('#timeline-empty').hidden = true;
  if (stick) scroller.scrollTop = scroller.scrollHeight;
  if (term) scheduleTerminal(c);
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

// ---------- files ----------

async function loadFiles(c, dir) {
  c.filesDir = dir;
  c.filesLoaded = true;
  const state = $('#files-state');
  state.textContent = 'Loading…';
  renderCrumbs(c, dir);
  let listing;
  try {
    listing = await app.api.listFiles(c.id, dir);
  } catch (err) {
    if (app.conv !== c) return;
    state.textContent = err instanceof APIError && err.status === 401 ? '' : 'The folder cannot be listed: ' + err.message;
    c.filesLoaded = false;
    return;
  }
  if (app.conv !== c || c.filesDir !== dir) return;
  const entries = sortEntries((listing && listing.entries) || []);
  state.textContent = entries.length ? (listing.truncated ? 'Only the first entries are shown.' : '') : 'This folder is empty.';
  const up = dir !== '/' ? h('li', { class: 'file file-up' },
    h('button', { type: 'button', class: 'linklike', 'data-path': parentPath(dir), 'data-type': 'dir' }, '↰ ..')) : null;
  mount($('#file-list'), up, entries.map((e) => {
    const p = e.path || joinPath(dir, e.name);
    const isDir = e.type === 'dir';
    return h('li', { class: 'file file-' + e.type, 'data-name': e.name },
      h('button', { type: 'button', class: 'linklike file-name', 'data-path': p, 'data-type': e.type, title: isDir ? 'Open the folder' : 'View the file' },
        h('span', { 'aria-hidden': 'true' }, isDir ? '▸ ' : e.type === 'symlink' ? '↪ ' : '▤ '), e.name),
      h('span', { class: 'file-size muted' }, isDir ? '' : size(e.size)),
      h('a', { class: 'file-download', href: app.api.downloadURL(c.id, p), download: isDir ? e.name + '.tar' : e.name, 'data-path': p, title: 'Download' + (isDir ? ' as a tar archive' : ''), 'aria-label': 'Download ' + e.name }, '⇩'));
  }));
  for (const b of document.querySelectorAll('#file-list button[data-path]')) {
    b.addEventListener('click', () => {
      if (b.dataset.type === 'dir') loadFiles(c, b.dataset.path);
      else viewFile(c, b.dataset.path);
    });
  }
  for (const a of document.querySelectorAll('#file-list a.file-download')) {
    a.addEventListener('click', (e) => {
      // A link cannot carry the key header: fetch the file with it.
      if (!app.api.key) return;
      e.preventDefault();
      download(c, a.dataset.path, a.getAttribute('download'));
    });
  }
}

function renderCrumbs(c, dir) {
  const list = crumbs(dir, '/');
  mount($('#crumbs'), list.map((cr, i) => [
    i > 0 && cr.path !== '/' && list[i - 1].path !== '/' ? h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/') : null,
    i === list.length - 1
      ? h('span', { class: 'crumb', 'aria-current': 'location' }, cr.name)
      : h('button', { type: 'button', class: 'linklike crumb', 'data-path': cr.path }, cr.name),
  ]));
  for (const b of document.querySelectorAll('#crumbs button')) b.addEventListener('click', () => loadFiles(c, b.dataset.path));
}

async function download(c, path, name) {
  try {
    const blob = await app.api.download(c.id, path);
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    failure('Download', err);
  }
}

// Files larger than this are not shown in the page.
const VIEW_LIMIT = 1 << 20;

async function viewFile(c, path) {
  const box = $('#file-view');
  box.hidden = false;
  mount(box, h('p', { class: 'muted' }, 'Loading ' + path + '…'));
  let text = null;
  let note = '';
  try {
    const blob = await app.api.download(c.id, path);
    if (blob.size > VIEW_LIMIT) note = `This file is ${size(blob.size)}: download it to read it.`;
    else {
      const buf = new Uint8Array(await blob.arrayBuffer());
      if (buf.subarray(0, 8000).includes(0)) note = 'This file is binary: download it to read it.';
      else text = new TextDecoder().decode(buf);
    }
  } catch (err) {
    note = 'The file cannot be read: ' + err.message;
  }
  if (app.conv !== c) return;
  mount(box,
    h('div', { class: 'file-view-head' },
      h('strong', null, path),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'file-view-close', 'aria-label': 'Close the file' }, '✕')),
    text !== null ? h('pre', { class: 'file-text', tabindex: '0' }, text) : h('p', { class: 'muted' }, note));
  $('#file-view-close').addEventListener('click', () => {
    box.hidden = true;
    box.replaceChildren();
  });
}

// ---------- start ----------

function start() {
  app.api = new API({ base: location.href, storage: window.localStorage, onUnauthorized });
  setupKeyDialog();
  $('#menu-toggle').addEventListener('click', () => {
    const open = document.body.classList.toggle('menu-open');
    $('#menu-toggle').setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) $('#sidebar a').focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('menu-open')) {
      document.body.classList.remove('menu-open');
      $('#menu-toggle').setAttribute('aria-expanded', 'false');
      $('#menu-toggle').focus();
    }
  });
  window.addEventListener('hashchange', () => {
    route();
    $('#main').focus({ preventScroll: true });
  });
  app.api.serverInfo().then((i) => {
    if (i && i.version) $('#server-version').textContent = 'v' + i.version;
  }).catch(() => {});
  refreshList();
  // The list's statuses stay current while the page is visible.
  app.listTimer = setInterval(() => {
    if (document.visibilityState === 'visible' && !$('#key-dialog').open) refreshList();
  }, 4000);
  route();
}

start();
