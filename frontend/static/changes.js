// The changes pane: the files of the workspace's git repository that
// differ from HEAD, and the diff of the one chosen.

import { h } from './vdom.js';
import { APIError } from './api.js';
import { render } from './diff.js';
import { joinPath } from './format.js';
import { $, app, mount } from './ui.js';

const STATUS_MARK = { ADDED: 'A', DELETED: 'D', UPDATED: 'M', MOVED: 'R' };

export async function loadChanges(c, dir) {
  c.changesLoaded = true;
  const state = $('#changes-state');
  state.textContent = 'Loading…';
  let changes;
  try {
    changes = await app.api.gitChanges(c.id, dir);
  } catch (err) {
    if (app.conv !== c) return;
    c.changesLoaded = false;
    mount($('#change-list'));
    state.textContent = err instanceof APIError && err.status === 401 ? '' : err.message;
    return;
  }
  if (app.conv !== c) return;
  const list = Array.isArray(changes) ? changes : [];
  state.textContent = list.length ? `${list.length} changed file${list.length === 1 ? '' : 's'} against HEAD` : 'No changes against HEAD.';
  mount($('#change-list'), list.map((ch) => h('li', { class: 'change change-' + String(ch.status).toLowerCase(), 'data-path': ch.path },
    h('span', { class: 'change-mark', title: ch.status }, STATUS_MARK[ch.status] || '?'),
    h('button', { type: 'button', class: 'linklike change-name', 'data-path': ch.path, title: 'Show the diff' }, ch.path))));
  for (const b of document.querySelectorAll('#change-list button[data-path]')) {
    b.addEventListener('click', () => showDiff(c, joinPath(dir, b.dataset.path), b.dataset.path));
  }
}

async function showDiff(c, full, label) {
  const box = $('#change-diff');
  box.hidden = false;
  mount(box, h('p', { class: 'muted' }, 'Loading the diff of ' + label + '…'));
  let view;
  try {
    const d = await app.api.gitDiff(c.id, full);
    view = render(label, d && d.original, d && d.modified);
  } catch (err) {
    view = h('p', { class: 'muted' }, 'The diff cannot be read: ' + err.message);
  }
  if (app.conv !== c) return;
  mount(box, view);
}
