// The page's entry point: the key dialog, routing between the home page,
// the new-conversation form and a conversation, and the polling of the
// conversation list. The views live in their own modules; rendering is
// done by the pure modules (events.js, terminal.js, markdown.js, ...).

import { h } from './vdom.js';
import { API } from './api.js';
import { $, app, askKey, mount, onUnauthorized, setConn } from './ui.js';
import { refreshList } from './list.js';
import { showNewForm } from './newconv.js';
import { closeConversation, openConversation } from './conversation.js';
import { closeCompare, showCompare } from './compare.js';
import { compareIDs } from './branches.js';

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
  // Closing the dialog without a key: it stays closed until asked for.
  $('#key-cancel').addEventListener('click', () => {
    app.keyDismissed = true;
    dlg.close();
  });
  dlg.addEventListener('cancel', () => {
    app.keyDismissed = true;
  });
  $('#key-button').addEventListener('click', () => askKey(app.api.key ? 'Replace the session API key kept in this browser.' : 'Enter the session API key, if the server needs one.'));
}

function route(force = false) {
  const hash = location.hash || '#/';
  const m = /^#\/c\/([^/?#]+)/.exec(hash);
  const compare = compareIDs(hash);
  if (m) {
    const id = decodeURIComponent(m[1]);
    if (!force && app.conv && app.conv.id === id) return;
    closeCompare();
    closeConversation();
    openConversation(id);
  } else {
    closeCompare();
    closeConversation();
    if (compare) showCompare(compare);
    else if (hash.startsWith('#/new')) showNewForm();
    else showHome();
  }
  for (const a of document.querySelectorAll('#conv-list a.conv-link')) {
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
  window.gohandsStarted = true; // boot.js: the modules loaded
}

start();
