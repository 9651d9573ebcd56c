// Fork and rewind in the conversation view: the timeline's "Fork from
// here", "Rewind to here" and "Return here" buttons, the dialog that asks
// how many forks, and the dimming of the events a rewind left.

import { h, toDOM } from './vdom.js';
import { FIELDS, MAX_FORKS, afterFork, branchPoint, forkBody, forkCount, forksOf, offHistory, returnTarget } from './branches.js';
import { $, app, failure, notify } from './ui.js';
import { refreshList } from './list.js';

/** wireBranching answers the clicks of the timeline's branch buttons. */
export function wireBranching(c) {
  $('#timeline').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-branch]');
    if (!b || b.disabled) return;
    if (b.dataset.branch === 'return') {
      move(c, b.dataset.eventId, b);
      return;
    }
    const action = c.state.actionByID(b.dataset.actionId);
    const point = branchPoint(action, action && c.state.answerOf(action));
    if (!point) {
      notify('This action has no result yet: fork or rewind once it has one.', 'error');
      return;
    }
    if (b.dataset.branch === 'fork') fork(c, point, b);
    else rewind(c, action, point, b);
  });
}

async function fork(c, point, button) {
  const count = await askCount();
  if (count === null || app.conv !== c) return;
  button.disabled = true;
  try {
    const forks = forksOf(await app.api.fork(c.id, forkBody(point, count)));
    if (!forks.length) throw new Error('the server answered no fork');
    notify(forks.length === 1 ? 'Fork made.' : `${forks.length} forks made.`);
    refreshList();
    location.hash = afterFork(forks);
  } catch (err) {
    failure('Fork', err);
  } finally {
    button.disabled = false;
  }
}

async function rewind(c, action, point, button) {
  if (!window.confirm(`Rewind this conversation to after event #${action.seq}? The later events leave the active history (you can return to them) and the sandbox's files go back to how they were then.`)) return;
  await move(c, point, button);
}

async function move(c, eventID, button) {
  button.disabled = true;
  try {
    await app.api.navigate(c.id, eventID);
    // The HeadMovedEvent comes over the socket and the timeline follows it.
  } catch (err) {
    failure('Moving the history', err);
  } finally {
    button.disabled = false;
  }
}

/**
 * markBranches dims the timeline's events that are off the active
 * history, enables the branch buttons of the actions that have a result,
 * and shows "Return here" where there is a branch to return to.
 */
export function markBranches(c) {
  const events = c.state.events;
  const off = offHistory(events);
  const tl = $('#timeline');
  for (const li of tl.querySelectorAll('li.event[data-seq]')) {
    const isOff = off.has(Number(li.dataset.seq));
    li.classList.toggle('ev-off', isOff);
    if (isOff) li.title = 'Not in the active history: a rewind left it';
    else li.removeAttribute('title');
  }
  // An action's answer never goes away: a button enabled once is done with.
  for (const b of tl.querySelectorAll('button[data-branch="fork"]:not([data-ready]), button[data-branch="rewind"]:not([data-ready])')) {
    const action = c.state.actionByID(b.dataset.actionId);
    const ready = !!branchPoint(action, action && c.state.answerOf(action));
    b.disabled = !ready;
    if (ready) b.dataset.ready = '1';
  }
  const byID = new Map();
  for (const ev of events) if (ev.kind === FIELDS.headMoved) byID.set(ev.id, ev);
  // The latest move away from a head offers the return to it, not every one.
  const offered = new Set();
  for (const b of [...tl.querySelectorAll('button[data-branch="return"]')].reverse()) {
    const li = b.closest('li.event');
    const to = returnTarget(li && byID.get(li.dataset.id), events);
    b.hidden = !to || offered.has(to);
    if (to) offered.add(to);
  }
}

/** askCount asks how many forks to make: 1..MAX_FORKS, or null when cancelled. */
function askCount() {
  return new Promise((resolve) => {
    const dlg = toDOM(h('dialog', { id: 'fork-dialog', 'aria-labelledby': 'fork-title' },
      h('form', { id: 'fork-form' },
        h('h2', { id: 'fork-title' }, 'Fork from here'),
        h('p', null, 'Each fork is a new conversation with the events up to here and its own copy of the files as they were then. Several forks let the agent try different ways from the same point.'),
        h('label', { for: 'fork-count' }, `How many forks (1–${MAX_FORKS})`),
        h('input', { id: 'fork-count', type: 'number', min: '1', max: String(MAX_FORKS), step: '1', value: '1', inputmode: 'numeric', required: true }),
        h('p', { class: 'hint', id: 'fork-error', role: 'alert' }),
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'btn btn-primary', id: 'fork-go' }, 'Fork'),
          h('button', { type: 'button', class: 'btn', id: 'fork-cancel' }, 'Cancel')))));
    document.body.appendChild(dlg);
    let answer = null;
    dlg.querySelector('#fork-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const n = forkCount(dlg.querySelector('#fork-count').value);
      if (n === null) {
        dlg.querySelector('#fork-error').textContent = `A whole number from 1 to ${MAX_FORKS}.`;
        return;
      }
      answer = n;
      dlg.close();
    });
    dlg.querySelector('#fork-cancel').addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(answer);
    });
    dlg.showModal();
    dlg.querySelector('#fork-count').select();
  });
}
