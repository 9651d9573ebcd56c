// What the views share: the page's state, DOM helpers, notices, the
// connection indicator and the API key dialog.

import { toDOM, h } from './vdom.js';
import { APIError } from './api.js';

/** $ finds the first element matching a selector. */
export const $ = (sel, root = document) => root.querySelector(sel);

/** mount replaces the children of el with the DOM of vnodes. */
export function mount(el, ...nodes) {
  el.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && typeof n !== 'boolean').map((n) => toDOM(n)));
}

/** app is the page's state. */
export const app = {
  api: null,
  conv: null, // the open conversation view
  compare: null, // the open side-by-side view of forks
  listTimer: null,
  listIDs: '',
  keyDismissed: false, // the user closed the key dialog without a key
};

/** askKey opens the key dialog with a message. */
export function askKey(message) {
  const dlg = $('#key-dialog');
  $('#key-message').textContent = message;
  if (!dlg.open) {
    $('#key-input').value = '';
    dlg.showModal();
  }
  $('#key-input').focus();
}

/** onUnauthorized says that the server refused the key, and asks for it. */
export function onUnauthorized() {
  setConn('unauthorized');
  // Once dismissed, the dialog waits for the API key button.
  if (app.keyDismissed) return;
  const had = !!app.api.key;
  askKey(had
    ? 'The server refused this API key (401). Enter the right session API key.'
    : 'This server needs a session API key. Enter it to continue.');
}

const CONN_TEXT = {
  idle: '',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  unauthorized: 'Key refused',
  not_found: 'Not found',
  closed: 'Disconnected',
};

export function setConn(state, detail) {
  const el = $('#conn');
  el.dataset.state = state;
  let text = CONN_TEXT[state] ?? state;
  if (state === 'reconnecting' && typeof detail === 'number') text = `Reconnecting in ${Math.ceil(detail / 1000)} s…`;
  el.textContent = text;
  el.title = state === 'open' ? 'Receiving events as they happen' : text;
}

export function notify(text, kind = 'info') {
  const box = $('#toast');
  const item = toDOM(h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));
  box.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

export function failure(what, err) {
  if (err instanceof APIError && err.status === 401) return; // the key dialog says it
  notify(`${what}: ${err && err.message ? err.message : err}`, 'error');
}
