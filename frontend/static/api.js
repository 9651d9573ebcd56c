// The page's client of the GoHands API: every call carries the session
// API key (X-Session-API-Key), errors come back as APIError with the
// server's detail, and a refused key (401) is reported once to whoever
// asks the user for it.

const KEY = 'gohands.sessionApiKey';

export class APIError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || '';
  }
}

export class API {
  /**
   * base is the page's URL (paths are resolved against it, so the page
   * works under a prefix too); storage keeps the key (localStorage);
   * onUnauthorized is called when the server refuses the key.
   */
  constructor({ base, fetch: f = globalThis.fetch.bind(globalThis), storage, onUnauthorized = () => {}, retryDelay = 250 }) {
    this.base = base;
    this.fetch = f;
    this.storage = storage;
    this.onUnauthorized = onUnauthorized;
    this.retryDelay = retryDelay;
  }

  /**
   * send fetches, and tries a GET again (four times, retryDelay, then
   * twice, four and eight times that later: about four seconds in all
   * with the default) when it fails without an answer. Chromium drops the
   * requests in flight whenever a network interface of the machine comes
   * or goes (net::ERR_NETWORK_CHANGED), and the engine adds one for every
   * sandbox it starts. Other methods are not sent again: the first may
   * have been carried out.
   */
  async send(url, init) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetch(url, init);
      } catch (err) {
        const method = (init.method || 'GET').toUpperCase();
        if ((err && err.name === 'AbortError') || method !== 'GET' || attempt === 4) throw err;
        await new Promise((resolve) => setTimeout(resolve, this.retryDelay * 2 ** attempt));
      }
    }
  }

  get key() {
    try {
      return (this.storage && this.storage.getItem(KEY)) || '';
    } catch {
      return '';
    }
  }

  set key(k) {
    try {
      if (k) this.storage.setItem(KEY, k);
      else this.storage.removeItem(KEY);
    } catch {
      // Storage may be disabled; the key then lasts as long as the page.
    }
    this.memoryKey = k;
  }

  /** url resolves an API path (no leading slash) with query parameters. */
  url(path, query) {
    const u = new URL(path, this.base);
    u.hash = '';
    if (query) {
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null || v === '') continue;
        if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, String(x));
        else u.searchParams.set(k, String(v));
      }
    }
    return u.toString();
  }

  headers(extra) {
    const hdr = { ...extra };
    const k = this.key || this.memoryKey;
    if (k) hdr['X-Session-API-Key'] = k;
    return hdr;
  }

  /**
   * request calls the API and returns the decoded JSON answer (null for an
   * empty one). body is sent as JSON unless it is FormData.
   */
  async request(method, path, { query, body, signal } = {}) {
    const init = { method, headers: this.headers(), signal };
    if (body !== undefined) {
      if (typeof FormData !== 'undefined' && body instanceof FormData) {
        init.body = body;
      } else {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await this.send(this.url(path, query), init);
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new APIError(0, 'The server cannot be reached: ' + (err && err.message ? err.message : String(err)));
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const detail = data && typeof data === 'object' && data.detail ? (typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail)) : typeof data === 'string' ? data : '';
      const err = new APIError(res.status, detail);
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    return data;
  }

  /** blob downloads a file route as a Blob. */
  async blob(path, query) {
    const res = await this.send(this.url(path, query), { headers: this.headers() });
    if (!res.ok) {
      let detail = '';
      try {
        detail = (await res.json()).detail || '';
      } catch {
        // not JSON
      }
      const err = new APIError(res.status, detail);
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    return res.blob();
  }

  conv(id, rest = '') {
    return 'api/conversations/' + encodeURIComponent(id) + rest;
  }

  searchConversations(limit = 100) {
    return this.request('GET', 'api/conversations/search', { query: { limit, sort_order: 'UPDATED_AT_DESC' } });
  }

  getConversation(id) {
    return this.request('GET', this.conv(id));
  }

  createConversation(body) {
    return this.request('POST', 'api/conversations', { body });
  }

  deleteConversation(id) {
    return this.request('DELETE', this.conv(id));
  }

  run(id) {
    return this.request('POST', this.conv(id, '/run'));
  }

  pause(id) {
    return this.request('POST', this.conv(id, '/pause'));
  }

  sendMessage(id, text, run = true) {
    return this.request('POST', this.conv(id, '/events'), { body: { role: 'user', content: [{ type: 'text', text }], run } });
  }

  /** fork makes forks of a conversation (body from branches.forkBody): one info, or a list for a count above 1. */
  fork(id, body) {
    return this.request('POST', this.conv(id, '/fork'), { body });
  }

  /** navigate moves a conversation's head to an event (a rewind, or back to a branch left): its info. */
  navigate(id, eventID) {
    return this.request('POST', this.conv(id, '/navigate'), { body: { event_id: eventID } });
  }

  /** eventsPage is one page of a conversation's events, oldest first. */
  eventsPage(id, pageID, limit = 100) {
    return this.request('GET', this.conv(id, '/events/search'), { query: { limit, page_id: pageID } });
  }

  respond(id, accept, reason) {
    return this.request('POST', this.conv(id, '/events/respond_to_confirmation'), { body: { accept, reason: reason || '' } });
  }

  bashEvents(id) {
    return this.request('GET', this.conv(id, '/bash/bash_events/search'));
  }

  bash(id, command, cwd) {
    return this.request('POST', this.conv(id, '/bash/execute_bash_command'), { body: { command, cwd: cwd || undefined } });
  }

  listFiles(id, path) {
    return this.request('GET', this.conv(id, '/file/list'), { query: { path } });
  }

  downloadURL(id, path) {
    return this.url(this.conv(id, '/file/download'), { path });
  }

  download(id, path) {
    return this.blob(this.conv(id, '/file/download'), { path });
  }

  upload(id, dir, file) {
    const form = new FormData();
    form.append('file', file, file.name);
    return this.request('POST', this.conv(id, '/file/upload'), { query: { path: dir.replace(/\/*$/, '/') }, body: form });
  }

  gitChanges(id, path) {
    return this.request('GET', this.conv(id, '/git/changes'), { query: { path } });
  }

  gitDiff(id, path) {
    return this.request('GET', this.conv(id, '/git/diff'), { query: { path } });
  }

  /** preview asks for the URLs at which a sandboxed frame shows the workspace and ports. */
  preview(id) {
    return this.request('POST', this.conv(id, '/preview'));
  }

  /**
   * previewURL is where a preview shows, given the URLs of preview(): a
   * server on a port of the sandbox (":8000/path") or a file of the
   * workspace ("site/index.html"; a folder shows its index.html).
   */
  previewURL(urls, target) {
    const t = String(target || '').trim();
    const port = /^:(\d{1,5})(\/.*)?$/.exec(t);
    if (port) return this.url(urls.ports_url.replace(/^\/+/, '') + port[1] + (port[2] || '/'));
    return this.url(urls.workspace_url.replace(/^\/+/, '') + t.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/'));
  }

  tools() {
    return this.request('GET', 'api/tools/');
  }

  serverInfo() {
    return this.request('GET', 'server_info');
  }

  /** llmProviders lists the providers of the server's model catalogue. */
  llmProviders() {
    return this.request('GET', 'api/llm/providers');
  }

  /** llmModels lists the catalogue's models as "provider/name". */
  llmModels() {
    return this.request('GET', 'api/llm/models');
  }
}

/**
 * modelChoices builds the model picker's suggestions: the models in use on
 * the server first, then the catalogue's (the answer of GET
 * /api/llm/models, "provider/name"), each once; with provider set, only
 * the models whose name starts with "provider/". Each choice is
 * { value, label }, the label naming where it comes from.
 */
export function modelChoices({ models, inUse, provider } = {}) {
  const prefix = provider ? provider + '/' : '';
  const seen = new Set();
  const out = [];
  const add = (name, label) => {
    if (typeof name !== 'string' || !name || seen.has(name) || !name.startsWith(prefix)) return;
    seen.add(name);
    out.push({ value: name, label });
  };
  for (const m of Array.isArray(inUse) ? inUse : []) add(m, 'in use');
  for (const m of Array.isArray(models) ? models : []) add(m, typeof m === 'string' && m.includes('/') ? m.slice(0, m.indexOf('/')) : '');
  return out;
}

/**
 * providersOf lists the providers for the picker's provider filter: the
 * server's list (GET /api/llm/providers) when it has one, else the
 * prefixes of the catalogue's model names; sorted, each once.
 */
export function providersOf(providers, models) {
  const names = new Set();
  for (const p of Array.isArray(providers) ? providers : []) if (typeof p === 'string' && p) names.add(p);
  if (!names.size) {
    for (const m of Array.isArray(models) ? models : []) {
      if (typeof m === 'string' && m.indexOf('/') > 0) names.add(m.slice(0, m.indexOf('/')));
    }
  }
  return [...names].sort();
}

/**
 * defaultsFrom gathers suggestions for the new-conversation form from the
 * server's conversations, most recent first: the models, base URLs and
 * working directories in use. Fields left empty take the server's own
 * defaults, which the server applies at creation.
 */
export function defaultsFrom(conversations) {
  const list = Array.isArray(conversations) ? conversations : [];
  const models = new Set();
  const baseURLs = new Set();
  const dirs = new Set(['/workspace']);
  for (const c of list) {
    if (!c || typeof c !== 'object') continue;
    const llm = c.agent && c.agent.llm;
    if (llm && llm.model) models.add(llm.model);
    if (llm && llm.base_url) baseURLs.add(llm.base_url);
    if (c.workspace && c.workspace.working_dir) dirs.add(c.workspace.working_dir);
  }
  return { models: [...models], baseURLs: [...baseURLs], workingDirs: [...dirs], workingDir: '/workspace', policy: 'NeverConfirm', threshold: 'HIGH' };
}

/** createBody builds the body of POST /api/conversations from the form's fields. */
export function createBody(f) {
  const body = {};
  const llm = {};
  if (f.model && f.model.trim()) llm.model = f.model.trim();
  if (f.baseURL && f.baseURL.trim()) llm.base_url = f.baseURL.trim();
  if (f.apiKey) llm.api_key = f.apiKey;
  // No tools named means the server's default set.
  const tools = Array.isArray(f.tools) ? f.tools.map((name) => ({ name })) : [];
  if (Object.keys(llm).length || tools.length) body.agent = { llm, tools };
  if (f.workingDir && f.workingDir.trim()) body.workspace = { working_dir: f.workingDir.trim() };
  if (f.policy) {
    body.confirmation_policy = { kind: f.policy };
    if (f.policy === 'ConfirmRisky' && f.threshold) body.confirmation_policy.threshold = f.threshold;
  }
  if (f.analyzer) body.security_analyzer = { kind: f.analyzer };
  if (f.title && f.title.trim()) body.title = f.title.trim();
  if (f.task && f.task.trim()) body.initial_message = { role: 'user', content: [{ type: 'text', text: f.task }], run: true };
  return body;
}
