// The state of one conversation as the page knows it: its events in seq
// order, each once, and what they say about the conversation (status,
// sandbox, actions waiting for the user). Pure: no DOM, no network.

/** The execution statuses in which the agent works or waits for the user. */
export const ACTIVE = new Set(['running', 'waiting_for_confirmation']);

/** The sandbox states in which it is on its way up. */
export const SANDBOX_BUSY = new Set(['pulling', 'creating', 'starting']);

export class ConversationState {
  constructor(id) {
    this.id = id;
    /** @type {Array<Object>} the events with a seq, in seq order */
    this.events = [];
    this.seqs = new Set();
    this.lastSeq = 0;
    /** @type {Object|null} the latest ConversationInfo (full_state) */
    this.info = null;
    this.status = '';
    this.sandbox = { status: '', message: '', progress: null, image: '' };
    // action id -> the event that answered it
    this.answers = new Map();
    /** the streamed answer being written (StreamingDeltaEvents), until it is stored */
    this.typing = '';
    this.thinking = '';
  }

  /**
   * apply takes one event from the socket. It returns 'added' for a new
   * event, 'duplicate' for one already seen, 'gap' when events are
   * missing before it (the caller should resync from lastSeq; the event
   * is not taken), and 'state' for a snapshot or other event without seq.
   */
  apply(ev) {
    if (!ev || typeof ev !== 'object') return 'ignored';
    const seq = typeof ev.seq === 'number' ? ev.seq : 0;
    if (seq <= 0) {
      if (ev.kind === 'StreamingDeltaEvent') {
        this.typing += typeof ev.content === 'string' ? ev.content : '';
        this.thinking += typeof ev.reasoning_content === 'string' ? ev.reasoning_content : '';
        return 'delta';
      }
      if (ev.kind === 'ConversationStateUpdateEvent') this.applyState(ev);
      return 'state';
    }
    if (this.seqs.has(seq) || seq <= this.lastSeq) return 'duplicate';
    if (seq !== this.lastSeq + 1) return 'gap';
    this.seqs.add(seq);
    this.lastSeq = seq;
    this.events.push(ev);
    this.note(ev);
    return 'added';
  }

  applyState(ev) {
    if (ev.key === 'full_state' && ev.value && typeof ev.value === 'object') {
      this.info = ev.value;
      if (ev.value.execution_status) this.status = ev.value.execution_status;
      const sb = ev.value.sandbox;
      if (sb && typeof sb === 'object' && sb.status) {
        // The snapshot is fresher than what the events said so far, but
        // carries no progress or message.
        if (sb.status !== this.sandbox.status) this.sandbox = { status: sb.status, message: sb.error || '', progress: null, image: sb.image || '' };
      }
      return;
    }
    if (ev.key === 'execution_status' && typeof ev.value === 'string') {
      this.status = ev.value;
      if (ev.value !== 'running') this.typing = this.thinking = '';
      if (this.info) this.info = { ...this.info, execution_status: ev.value };
    } else if (ev.key && this.info) {
      this.info = { ...this.info, [ev.key]: ev.value };
    }
  }

  note(ev) {
    // The stored answer replaces the text streamed while it was written.
    if (ev.source === 'agent' && (ev.kind === 'MessageEvent' || ev.kind === 'ActionEvent' || ev.kind === 'AgentErrorEvent')) {
      this.typing = this.thinking = '';
    }
    switch (ev.kind) {
      case 'ConversationStateUpdateEvent':
        this.applyState(ev);
        break;
      case 'SandboxStatusEvent':
        this.sandbox = {
          status: ev.status || '',
          message: ev.message || '',
          progress: typeof ev.progress === 'number' ? ev.progress : null,
          image: ev.image || this.sandbox.image,
        };
        break;
      case 'ObservationEvent':
      case 'UserRejectObservation':
        if (ev.action_id) this.answers.set(ev.action_id, ev);
        break;
      case 'AgentErrorEvent':
        if (ev.tool_call_id) this.answers.set('call:' + ev.tool_call_id, ev);
        break;
    }
  }

  /** answerOf returns the event that answered an action, if any. */
  answerOf(action) {
    return this.answers.get(action.id) || (action.tool_call_id && this.answers.get('call:' + action.tool_call_id)) || null;
  }

  /** actionByID finds an ActionEvent by id. */
  actionByID(id) {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.kind === 'ActionEvent' && e.id === id) return e;
    }
    return null;
  }

  /**
   * pending lists the actions waiting for the user's confirmation: while
   * the conversation waits for it, the unanswered actions since the last
   * observation, rejection, error or message.
   */
  pending() {
    if (this.status !== 'waiting_for_confirmation') return [];
    const out = [];
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.kind === 'ActionEvent') {
        if (!this.answerOf(e)) out.push(e);
        continue;
      }
      if (e.kind === 'ObservationEvent' || e.kind === 'UserRejectObservation' || e.kind === 'AgentErrorEvent' || e.kind === 'MessageEvent') break;
    }
    return out.reverse();
  }
}

/**
 * eventsSocketURL is the address of a conversation's event socket that
 * replays what came after lastSeq (everything when 0). base is the page's
 * location.
 */
export function eventsSocketURL(base, id, key, lastSeq) {
  const u = socketBase(base, 'sockets/events/' + encodeURIComponent(id));
  if (lastSeq > 0) {
    u.searchParams.set('resend_mode', 'since');
    u.searchParams.set('after', String(lastSeq));
  } else {
    u.searchParams.set('resend_all', 'true');
  }
  if (key) u.searchParams.set('session_api_key', key);
  return u.toString();
}

/** bashSocketURL is the address of a conversation's bash event socket. */
export function bashSocketURL(base, id, key) {
  const u = socketBase(base, 'sockets/bash-events/' + encodeURIComponent(id));
  if (key) u.searchParams.set('session_api_key', key);
  return u.toString();
}

function socketBase(base, path) {
  const u = new URL(path, base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  return u;
}

/** reconnectDelay is how long to wait before attempt n (from 0), in ms. */
export function reconnectDelay(attempt) {
  return Math.min(500 * 2 ** Math.min(attempt, 10), 10000);
}

/** The close codes of GoHands' sockets. */
export const CLOSE = { unauthorized: 4001, notFound: 4004, slow: 4008, goingAway: 1001 };

/**
 * Stream keeps one socket open, reconnecting after a drop. url(attempt) is
 * called for every connection, so it can ask for what came after the last
 * event seen. onMessage gets each parsed frame and returns 'resync' to
 * close and reconnect at once. onStatus gets 'connecting', 'open',
 * 'reconnecting' (with the delay in ms), 'unauthorized', 'not_found' or
 * 'closed'.
 */
export class Stream {
  constructor({ url, WebSocket, onMessage, onStatus, setTimeout: st = globalThis.setTimeout, clearTimeout: ct = globalThis.clearTimeout }) {
    this.url = url;
    this.WS = WebSocket;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    // Called as plain functions: window's timers refuse another this.
    this.setTimeout = (fn, ms) => st(fn, ms);
    this.clearTimeout = (id) => ct(id);
    this.ws = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = false;
    this.status = 'closed';
  }

  setStatus(s, detail) {
    this.status = s;
    this.onStatus(s, detail);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.timer = null;
    this.setStatus('connecting');
    let ws;
    try {
      ws = new this.WS(this.url());
    } catch (err) {
      this.retry();
      return;
    }
    this.ws = ws;
    let resyncing = false;
    ws.onopen = () => {
      if (this.ws === ws) this.setStatus('open');
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws || resyncing) return;
      this.attempt = 0;
      let data;
      try {
        data = JSON.parse(m.data);
      } catch {
        return;
      }
      if (this.onMessage(data) === 'resync') {
        resyncing = true;
        ws.close(1000, 'resync');
        this.ws = null;
        this.connect();
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === CLOSE.unauthorized) {
        this.setStatus('unauthorized', ev.reason);
        return;
      }
      if (ev.code === CLOSE.notFound) {
        this.setStatus('not_found', ev.reason);
        return;
      }
      if (ev.code === CLOSE.slow) this.attempt = 0;
      this.retry();
    };
    ws.onerror = () => {}; // onclose follows and decides
  }

  retry() {
    const delay = reconnectDelay(this.attempt++);
    this.setStatus('reconnecting', delay);
    this.timer = this.setTimeout(() => this.connect(), delay);
  }

  /** reconnect drops the current connection (if any) and connects now. */
  reconnect() {
    this.stop();
    this.start();
  }

  /** drop closes the socket as a network failure would: the stream reconnects. */
  drop() {
    if (this.ws) this.ws.close(4000, 'dropped');
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) this.clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'done');
    this.setStatus('closed');
  }
}

/**
 * BashLog collects the bash events of a conversation (from the search
 * route and the socket), each once, by id.
 */
export class BashLog {
  constructor() {
    this.ids = new Set();
    this.events = [];
  }

  /** add takes one event; false if it was already there or is not a bash event. */
  add(ev) {
    if (!ev || typeof ev !== 'object' || !ev.id || (ev.kind !== 'BashCommand' && ev.kind !== 'BashOutput')) return false;
    if (this.ids.has(ev.id)) return false;
    this.ids.add(ev.id);
    this.events.push(ev);
    return true;
  }
}
