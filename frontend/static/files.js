// The files pane: a folder of the sandbox, with view, download and
// upload.

import { h } from './vdom.js';
import { APIError } from './api.js';
import { crumbs, joinPath, parentPath, size, sortEntries } from './format.js';
import { $, app, failure, mount } from './ui.js';

export async function loadFiles(c, dir) {
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
