// The conversation list, kept current by polling the search route. Forks
// are listed under the conversation they came from.

import { h } from './vdom.js';
import { compareHash, forkIDsOf, forkedFrom, groupForks } from './branches.js';
import { ago, statusLabel, tone } from './format.js';
import { $, app, failure, mount } from './ui.js';

export async function refreshList() {
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
  const grouped = groupForks(items);
  const ids = grouped.map((g) => `${g.conv.id}:${g.depth}:${g.forks}`).join(',');
  const current = app.conv ? app.conv.id : '';
  if (ids !== app.listIDs) {
    app.listIDs = ids;
    mount(ul, grouped.map(({ conv: c, depth, forks }) => {
      const from = forkedFrom(c);
      return h('li', { 'data-id': c.id, 'data-depth': depth, 'data-forked-from': from ? from.id : null, class: depth ? 'conv-fork' : null, style: depth ? { 'padding-left': Math.min(depth, 6) * 0.9 + 'em' } : null },
        h('a', { href: '#/c/' + c.id, class: 'conv-link', 'aria-current': c.id === current ? 'page' : null },
          h('span', { class: 'conv-name' }, from ? h('span', { class: 'fork-mark', title: 'a fork' }, '↳ ') : null, h('span', { class: 'conv-title-text' }, c.title || 'Conversation ' + c.id.slice(0, 8))),
          h('span', { class: 'conv-meta' },
            h('span', { class: 'badge badge-' + tone(c.execution_status), 'data-status': c.execution_status }, statusLabel(c.execution_status)),
            ' ',
            h('small', { class: 'muted conv-when' }, ago(c.updated_at)),
            from ? h('small', { class: 'muted conv-short-id', title: c.id }, ' · ' + c.id.slice(0, 8)) : null)),
        forks > 1 ? h('a', { href: compareHash(forkIDsOf(items, c.id)), class: 'compare-link', title: 'Its forks side by side' }, `⇆ Compare ${forks} forks`) : null);
    }));
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
    li.querySelector('.conv-title-text').textContent = c.title || 'Conversation ' + c.id.slice(0, 8);
    li.querySelector('.conv-when').textContent = ago(c.updated_at);
    const a = li.querySelector('a');
    if (c.id === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

export function markListStatus(id, status) {
  const li = document.querySelector(`#conv-list li[data-id="${CSS.escape(id)}"]`);
  if (!li || !status) return;
  const badge = li.querySelector('.badge');
  badge.className = 'badge badge-' + tone(status);
  badge.dataset.status = status;
  badge.textContent = statusLabel(status);
}
