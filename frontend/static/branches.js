// Forks and rewinds as the page sees them. Pure: no DOM, no network.
//
// A conversation's events are one log numbered by seq, and its history is
// a tree in that log: every event on a branch follows the head as it was
// when the event was stored, and a HeadMovedEvent (a rewind, POST
// .../navigate) moves the head. The active history is the path from the
// first event to the head; the events off it stay stored and are shown
// dimmed. A fork is a conversation of its own whose info says where it
// came from.

/**
 * FIELDS names the fields of the server's answers that forks and rewinds
 * read, in one place.
 */
export const FIELDS = {
  leaf: 'leaf_event_id', // ConversationInfo: the head
  forkedFrom: 'forked_from_conversation_id', // ConversationInfo of a fork
  forkedFromEvent: 'forked_from_event_id',
  headMoved: 'HeadMovedEvent', // the kind of the event that moves the head
  movedTo: 'leaf_event_id', // HeadMovedEvent: the new head's id
  movedToSeq: 'leaf_seq', //                   and seq
  movedFrom: 'previous_leaf_event_id', //     the head before the move
};

/** MAX_FORKS is the most forks one request makes (the server's default max_forks). */
export const MAX_FORKS = 8;

/**
 * onBranch reports whether an event is a node of the tree: everything but
 * head moves and the state and sandbox updates, which say what happened
 * to the conversation rather than in it.
 */
export function onBranch(ev) {
  return !!ev && ev.kind !== FIELDS.headMoved && ev.kind !== 'ConversationStateUpdateEvent' && ev.kind !== 'SandboxStatusEvent';
}

/**
 * Tree reads a conversation's events, in seq order, into its branches, as
 * the server does.
 */
export class Tree {
  constructor(events = []) {
    this.parent = new Map(); // seq -> seq of the event it follows (0: none)
    this.ids = new Map(); // event id -> seq, for the events on a branch
    this.head = 0;
    for (const ev of events) this.add(ev);
  }

  /** add reads the next event of the log. */
  add(ev) {
    if (!ev || typeof ev.seq !== 'number') return;
    if (ev.kind === FIELDS.headMoved) {
      const to = ev[FIELDS.movedToSeq];
      if (to === 0 || this.parent.has(to)) this.head = to;
      return;
    }
    if (!onBranch(ev)) return;
    this.parent.set(ev.seq, this.head);
    if (ev.id) this.ids.set(ev.id, ev.seq);
    this.head = ev.seq;
  }

  /** path returns the seqs from the first event to seq, or [] when seq is not on a branch. */
  path(seq) {
    if (!this.parent.has(seq)) return [];
    const out = [];
    for (let s = seq; s !== 0; s = this.parent.get(s)) out.push(s);
    return out.reverse();
  }

  /**
   * active is the set of seqs on the path to the head, or, given the id
   * of an event on a branch (a conversation's leaf_event_id), to that
   * event: for a log read in part, whose head moves may be missing.
   */
  active(leafEventID) {
    const leaf = leafEventID && this.ids.has(leafEventID) ? this.ids.get(leafEventID) : this.head;
    return new Set(this.path(leaf));
  }

  /** has reports whether the event id is on a branch. */
  has(id) {
    return this.ids.has(id);
  }
}

/**
 * offHistory returns the seqs of the events (a conversation's log, in seq
 * order) that are on a branch but not on the path to the head: those a
 * rewind left. Head moves and state updates are never in it. leafEventID,
 * when given and on a branch, is the head (see Tree.active).
 */
export function offHistory(events, leafEventID) {
  const tree = new Tree(events);
  const on = tree.active(leafEventID);
  const off = new Set();
  for (const ev of events) {
    if (ev && typeof ev.seq === 'number' && tree.parent.has(ev.seq) && !on.has(ev.seq)) off.add(ev.seq);
  }
  return off;
}

/**
 * returnTarget is the event a "Return here" on a head move goes back to:
 * the head it left, while that is off the active history; else null.
 */
export function returnTarget(move, events) {
  const to = move && move[FIELDS.movedFrom];
  if (!to) return null;
  const tree = new Tree(events);
  const seq = tree.ids.get(to);
  if (seq === undefined || tree.active().has(seq)) return null;
  return to;
}

/**
 * branchPoint is the event a fork or rewind "from" an action names: the
 * event that answered it (its observation, rejection or error), so that
 * the action's result and the files after it go with the fork; null while
 * it has no answer.
 */
export function branchPoint(action, answer) {
  if (!action || !answer || !answer.id) return null;
  return answer.id;
}

/** forkCount reads the count asked in the fork dialog: an integer 1..max, else null. */
export function forkCount(value, max = MAX_FORKS) {
  const s = String(value ?? '').trim();
  if (s === '') return 1;
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= max ? n : null;
}

/** forkBody is the body of POST .../fork. */
export function forkBody(fromEventID, count = 1) {
  const body = {};
  if (fromEventID) body.from_event_id = fromEventID;
  if (count > 1) body.count = count;
  return body;
}

/** forksOf reads the fork route's answer: one info, or a list for a count above 1. */
export function forksOf(answer) {
  const list = Array.isArray(answer) ? answer : answer ? [answer] : [];
  return list.filter((c) => c && typeof c.id === 'string' && c.id);
}

/** afterFork is where the page goes once forks are made: the fork, or the side-by-side view of several. */
export function afterFork(forks) {
  if (forks.length === 1) return '#/c/' + encodeURIComponent(forks[0].id);
  return compareHash(forks.map((c) => c.id));
}

/** forkedFrom says where a conversation was forked from: {id, eventID}, or null for one made by create. */
export function forkedFrom(info) {
  if (!info || typeof info !== 'object') return null;
  let id = info[FIELDS.forkedFrom];
  let eventID = info[FIELDS.forkedFromEvent];
  // A nested {conversation_id | id, event_id} as well, should the server say it so.
  const nested = info.forked_from;
  if (!id && nested && typeof nested === 'object') {
    id = nested.conversation_id || nested.id;
    eventID = nested.event_id;
  }
  return typeof id === 'string' && id ? { id, eventID: typeof eventID === 'string' ? eventID : '' } : null;
}

/**
 * groupForks orders a conversation list so that forks follow their
 * parent, nearest first, oldest fork first; a fork whose parent is not in
 * the list stays where it is. Each entry is {conv, depth, forks} where
 * forks counts its direct forks in the list.
 */
export function groupForks(items) {
  const list = (Array.isArray(items) ? items : []).filter((c) => c && typeof c.id === 'string');
  const byID = new Map(list.map((c) => [c.id, c]));
  const children = new Map();
  const roots = [];
  for (const c of list) {
    const from = forkedFrom(c);
    if (from && from.id !== c.id && byID.has(from.id)) {
      if (!children.has(from.id)) children.set(from.id, []);
      children.get(from.id).push(c);
    } else {
      roots.push(c);
    }
  }
  for (const kids of children.values()) {
    kids.sort((a, b) => String(a.created_at || '').localeCompare(String(b.created_at || '')) || a.id.localeCompare(b.id));
  }
  const out = [];
  const seen = new Set();
  const walk = (c, depth) => {
    if (seen.has(c.id)) return; // a cycle cannot come from the server, but must not hang the page
    seen.add(c.id);
    const kids = children.get(c.id) || [];
    out.push({ conv: c, depth, forks: kids.length });
    for (const k of kids) walk(k, depth + 1);
  };
  for (const c of roots) walk(c, 0);
  // Anything left is in a cycle: shown flat.
  for (const c of list) if (!seen.has(c.id)) walk(c, 0);
  return out;
}

/** forkIDsOf lists the ids of a conversation's direct forks in the list. */
export function forkIDsOf(items, id) {
  return (Array.isArray(items) ? items : []).filter((c) => {
    const f = forkedFrom(c);
    return f && f.id === id;
  }).map((c) => c.id);
}

/** compareHash is the address of the side-by-side view of conversations. */
export function compareHash(ids) {
  return '#/compare/' + ids.map(encodeURIComponent).join(',');
}

/** compareIDs reads the conversations of a side-by-side view's address, each once, at most max. */
export function compareIDs(hash, max = 16) {
  const m = /^#\/compare\/([^?#]*)/.exec(hash || '');
  if (!m) return null;
  const out = [];
  for (const part of m[1].split(',')) {
    let id;
    try {
      id = decodeURIComponent(part).trim();
    } catch {
      continue;
    }
    if (id && !out.includes(id)) out.push(id);
  }
  return out.slice(0, max);
}

/**
 * latest sums up a conversation's latest state from its events (its log,
 * in seq order), looking only at its active history (to leafEventID when
 * given, see Tree.active): the last message of the agent, the last
 * observation (with the action it answered) and the last error, each null
 * when there is none, and the count of actions.
 */
export function latest(events, leafEventID) {
  const list = Array.isArray(events) ? events : [];
  const tree = new Tree(list);
  const on = tree.active(leafEventID);
  const actions = new Map();
  const out = { message: null, observation: null, action: null, error: null, actions: 0, head: tree.head };
  for (const ev of list) {
    if (!ev || !on.has(ev.seq)) continue;
    switch (ev.kind) {
      case 'ActionEvent':
        actions.set(ev.id, ev);
        out.actions++;
        break;
      case 'MessageEvent':
        if (ev.source === 'agent') out.message = ev;
        break;
      case 'ObservationEvent':
      case 'UserRejectObservation':
        out.observation = ev;
        out.action = actions.get(ev.action_id) || null;
        break;
      case 'AgentErrorEvent':
      case 'ConversationErrorEvent':
        out.error = ev;
        break;
    }
  }
  return out;
}

/** messageText is the text of a MessageEvent. */
export function messageText(ev) {
  const c = ev && ev.llm_message ? ev.llm_message.content : null;
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  return c.filter((p) => p && typeof p.text === 'string').map((p) => p.text).join('\n');
}

/** observationText is the text an observation shows. */
export function observationText(ev) {
  if (!ev) return '';
  if (ev.kind === 'UserRejectObservation') return 'Rejected' + (ev.rejection_reason ? ': ' + ev.rejection_reason : '');
  const o = ev.observation || {};
  const c = o.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.filter((p) => p && typeof p.text === 'string').map((p) => p.text).join('\n');
  if (typeof o.output === 'string') return o.output;
  return '';
}
