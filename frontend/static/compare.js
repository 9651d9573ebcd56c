// The side-by-side view of forks (#/compare/ID1,ID2,...): for each, its
// status, the last message of the agent, the last observation and the
// files it changed, refreshed while the page is visible.

import { h } from './vdom.js';
import * as md from './markdown.js';
import { FIELDS, forkedFrom, latest, messageText, observationText } from './branches.js';
import { statusLabel, tone, truncate } from './format.js';
import { $, app, mount, setConn } from './ui.js';

// The most pages of events read per conversation (of 100 each): a longer
// log is summed up from its latest pages.
const MAX_PAGES = 20;
// The lines of an observation a card shows, from its end.
const TAIL_LINES = 16;
const STATUS_MARK = { ADDED: 'A', DELETED: 'D', UPDATED: 'M', MOVED: 'R' };

/**
 * card renders one conversation's column from what was read of it:
 * {id, info, summary (branches.latest), changes (list or null), changesError, error}.
 */
export function card(d) {
  const info = d.info || {};
  const title = info.title || 'Conversation ' + d.id.slice(0, 8);
  const status = info.execution_status || '';
  const s = d.summary;
  const from = forkedFrom(info);
  return h('article', { class: 'compare-card', 'data-id': d.id, 'data-status': status },
    h('header', { class: 'compare-head' },
      h('h2', null, h('a', { href: '#/c/' + encodeURIComponent(d.id) }, title)),
      h('span', { class: 'badge badge-' + tone(status), 'data-status': status }, statusLabel(status)),
      h('small', { class: 'muted', title: d.id }, d.id.slice(0, 8) + (from ? ', a fork of ' + from.id.slice(0, 8) : ''))),
    d.error ? h('p', { class: 'ev-error-text compare-error' }, d.error) : null,
    s ? [
      h('section', { class: 'compare-part compare-message' },
        h('h3', null, 'Last message of the agent'),
        s.message ? h('div', { class: 'md' }, md.render(truncate(messageText(s.message), 2000))) : h('p', { class: 'muted' }, 'None yet.')),
      h('section', { class: 'compare-part compare-observation' },
        h('h3', null, 'Last observation' + (s.observation ? ` (#${s.observation.seq})` : '')),
        s.observation
          ? [
            s.action ? h('p', { class: 'ev-meta' }, actionLine(s.action)) : null,
            observationText(s.observation).trim()
              ? h('pre', { class: 'term-output' }, tail(observationText(s.observation), TAIL_LINES))
              : h('p', { class: 'muted' }, '(no output)'),
          ]
          : h('p', { class: 'muted' }, 'None yet.')),
      s.error ? h('section', { class: 'compare-part' }, h('h3', null, 'Last error'), h('p', { class: 'ev-error-text' }, truncate(s.error.error || s.error.reason || s.error.detail || 'error', 400))) : null,
    ] : null,
    h('section', { class: 'compare-part compare-changes' },
      h('h3', null, 'Changed files'),
      d.changes
        ? d.changes.length
          ? h('ul', { class: 'change-list' }, d.changes.map((ch) => h('li', { class: 'change change-' + String(ch.status).toLowerCase(), 'data-path': ch.path },
            h('span', { class: 'change-mark', title: ch.status }, STATUS_MARK[ch.status] || '?'), ' ', h('code', null, ch.path))))
          : h('p', { class: 'muted' }, 'No changes against HEAD.')
        : h('p', { class: 'muted' }, d.changesError || 'Loading…')));
}

function actionLine(a) {
  const act = a.action || {};
  if (act.kind === 'TerminalAction' && act.command) return '$ ' + truncate(act.command, 200);
  if (act.kind === 'FileEditorAction') return `${act.command || 'edit'} ${act.path || ''}`;
  return a.summary || a.tool_name || 'action';
}

/** tail keeps the last n lines of text. */
export function tail(text, n) {
  const lines = String(text || '').split('\n');
  if (lines.length <= n) return lines.join('\n');
  return `… ${lines.length - n} lines above\n` + lines.slice(-n).join('\n');
}

/**
 * readEvents reads a conversation's log, oldest first: at most MAX_PAGES
 * pages, the latest kept ({events, partial}).
 */
async function readEvents(id) {
  const pages = [];
  let pageID;
  let partial = false;
  for (let i = 0; ; i++) {
    const page = await app.api.eventsPage(id, pageID);
    pages.push(Array.isArray(page && page.items) ? page.items : []);
    if (pages.length > MAX_PAGES) {
      pages.shift();
      partial = true;
    }
    pageID = page && page.next_page_id;
    if (!pageID || i > 1000) break;
  }
  return { events: pages.flat().sort((a, b) => a.seq - b.seq), partial };
}

async function load(view, id, info) {
  const d = { id, info, summary: null, changes: null, changesError: '', error: '' };
  try {
    // A log read whole says where its head is; one read in part may
    // miss the head moves, and the info's leaf says it instead.
    const { events, partial } = await readEvents(id);
    d.summary = latest(events, partial ? info && info[FIELDS.leaf] : undefined);
  } catch (err) {
    d.error = 'The events cannot be read: ' + err.message;
  }
  const dir = info && info.workspace && info.workspace.working_dir;
  try {
    const list = await app.api.gitChanges(id, dir || '/workspace');
    d.changes = Array.isArray(list) ? list : [];
  } catch (err) {
    d.changesError = 'No changes to show: ' + err.message;
  }
  return d;
}

/** showCompare opens the side-by-side view of the conversations ids. */
export function showCompare(ids) {
  const view = { ids, stamps: new Map(), cards: new Map(), timer: null, closed: false };
  app.compare = view;
  setConn('idle');
  document.title = `${ids.length} forks · GoHands`;
  mount($('#main'), h('section', { class: 'compare', 'aria-labelledby': 'compare-title' },
    h('header', { class: 'compare-top' },
      h('h1', { id: 'compare-title' }, ids.length === 1 ? 'One conversation' : `${ids.length} conversations side by side`),
      h('button', { type: 'button', class: 'btn', id: 'btn-compare-refresh', title: 'Read them again' }, '↻')),
    ids.length ? null : h('p', { class: 'muted' }, 'No conversation named in the address.'),
    h('div', { class: 'compare-grid', id: 'compare-grid' },
      ids.map((id) => h('div', { class: 'compare-slot', 'data-id': id }, card({ id, info: null, summary: null, changes: null, changesError: 'Loading…' }))))));
  $('#btn-compare-refresh').addEventListener('click', () => refresh(view, true));
  refresh(view, true);
  view.timer = setInterval(() => {
    if (document.visibilityState === 'visible') refresh(view, false);
  }, 5000);
}

/** closeCompare stops the side-by-side view's refreshing. */
export function closeCompare() {
  const view = app.compare;
  if (!view) return;
  app.compare = null;
  view.closed = true;
  clearInterval(view.timer);
}

// refresh reads each conversation's info, and its events and changes
// again when it changed since the last read (or always, with force).
async function refresh(view, force) {
  if (view.busy) return;
  view.busy = true;
  try {
    await Promise.all(view.ids.map(async (id) => {
      let info;
      try {
        info = await app.api.getConversation(id);
      } catch (err) {
        if (!view.closed) put(view, id, { id, info: null, summary: null, changes: null, changesError: '', error: err.message });
        return;
      }
      const stamp = `${info.updated_at}|${info.execution_status}|${info[FIELDS.leaf] || ''}`;
      if (!force && view.stamps.get(id) === stamp) return;
      view.stamps.set(id, stamp);
      const d = await load(view, id, info);
      if (!view.closed) put(view, id, d);
    }));
  } finally {
    view.busy = false;
  }
}

function put(view, id, d) {
  const slot = document.querySelector(`#compare-grid .compare-slot[data-id="${CSS.escape(id)}"]`);
  if (slot) mount(slot, card(d));
}
