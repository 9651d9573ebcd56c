import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API, APIError, createBody, defaultsFrom, modelChoices, providersOf } from '../static/api.js';

class Storage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

function fakeFetch(answers) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, init });
    const [status, body] = answers.shift() || [200, ''];
    return {
      ok: status >= 200 && status < 300,
      status,
      text: async () => (typeof body === 'string' ? body : JSON.stringify(body)),
      json: async () => body,
      blob: async () => body,
    };
  };
  return { f, calls };
}

test('every call carries the key kept in storage', async () => {
  const { f, calls } = fakeFetch([[200, { items: [] }], [200, { id: 'c1' }]]);
  const storage = new Storage();
  const api = new API({ base: 'http://h:3000/#/new', fetch: f, storage });
  api.key = 'secret';
  assert.equal(new API({ base: 'http://h/', fetch: f, storage }).key, 'secret', 'kept across pages');
  await api.searchConversations(10);
  assert.equal(calls[0].url, 'http://h:3000/api/conversations/search?limit=10&sort_order=UPDATED_AT_DESC');
  assert.equal(calls[0].init.headers['X-Session-API-Key'], 'secret');
  const info = await api.createConversation({ a: 1 });
  assert.equal(info.id, 'c1');
  assert.equal(calls[1].init.method, 'POST');
  assert.equal(calls[1].init.headers['Content-Type'], 'application/json');
  assert.equal(calls[1].init.body, '{"a":1}');
});

test('a refused key is reported once per call, with the detail', async () => {
  const { f } = fakeFetch([[401, { detail: 'invalid API key' }]]);
  const seen = [];
  const api = new API({ base: 'http://h/', fetch: f, storage: new Storage(), onUnauthorized: (e) => seen.push(e.status) });
  await assert.rejects(api.getConversation('x'), (e) => e instanceof APIError && e.status === 401 && e.message === 'invalid API key');
  assert.deepEqual(seen, [401]);
});

test('errors carry the server detail; unreachable says so', async () => {
  const { f } = fakeFetch([[422, { detail: 'workspace.working_dir: "x" is not an absolute path' }], [500, 'boom']]);
  const api = new API({ base: 'http://h/', fetch: f, storage: new Storage() });
  await assert.rejects(api.createConversation({}), /not an absolute path/);
  await assert.rejects(api.run('x'), /boom/);
  const down = new API({ base: 'http://h/', fetch: async () => { throw new TypeError('Failed to fetch'); }, storage: new Storage() });
  await assert.rejects(down.pause('x'), (e) => e.status === 0 && /cannot be reached/.test(e.message));
});

test('a GET that gets no answer is sent again; other methods are not', async () => {
  let calls = 0;
  const flaky = async (url, init) => {
    calls++;
    if (calls === 1) throw new TypeError('Failed to fetch'); // net::ERR_NETWORK_CHANGED
    return { ok: true, status: 200, text: async () => JSON.stringify({ id: 'c1', method: init.method }) };
  };
  const api = new API({ base: 'http://h/', fetch: flaky, storage: new Storage(), retryDelay: 1 });
  assert.deepEqual(await api.getConversation('c1'), { id: 'c1', method: 'GET' });
  assert.equal(calls, 2);

  calls = 0;
  await assert.rejects(api.pause('c1'), (e) => e.status === 0 && /cannot be reached/.test(e.message));
  assert.equal(calls, 1, 'a POST is sent once');

  let tries = 0;
  const down = new API({ base: 'http://h/', fetch: async () => { tries++; throw new TypeError('Failed to fetch'); }, storage: new Storage(), retryDelay: 1 });
  await assert.rejects(down.getConversation('c1'), (e) => e.status === 0 && /cannot be reached/.test(e.message));
  assert.equal(tries, 5, 'a GET is tried five times in all');

  let aborted = 0;
  const abort = new API({ base: 'http://h/', fetch: async () => { aborted++; throw new DOMException('stop', 'AbortError'); }, storage: new Storage(), retryDelay: 1 });
  await assert.rejects(abort.getConversation('c1'), (e) => e.name === 'AbortError');
  assert.equal(aborted, 1, 'an aborted GET is not sent again');
});

test('routes', async () => {
  const { f, calls } = fakeFetch([]);
  const api = new API({ base: 'http://h/', fetch: f, storage: new Storage() });
  await api.sendMessage('c/1', 'hi');
  await api.respond('c1', false, 'too risky');
  await api.listFiles('c1', '/workspace/a b');
  await api.run('c1');
  await api.bashEvents('c1');
  assert.deepEqual(calls.map((c) => `${c.init.method} ${c.url}`), [
    'POST http://h/api/conversations/c%2F1/events',
    'POST http://h/api/conversations/c1/events/respond_to_confirmation',
    'GET http://h/api/conversations/c1/file/list?path=%2Fworkspace%2Fa+b',
    'POST http://h/api/conversations/c1/run',
    'GET http://h/api/conversations/c1/bash/bash_events/search',
  ]);
  assert.deepEqual(JSON.parse(calls[0].init.body), { role: 'user', content: [{ type: 'text', text: 'hi' }], run: true });
  assert.deepEqual(JSON.parse(calls[1].init.body), { accept: false, reason: 'too risky' });
  assert.equal(api.downloadURL('c1', '/workspace/x.txt'), 'http://h/api/conversations/c1/file/download?path=%2Fworkspace%2Fx.txt');
});

test('workspace routes: git changes, diffs and preview URLs', async () => {
  const { f, calls } = fakeFetch([]);
  const api = new API({ base: 'http://h/gh/', fetch: f, storage: new Storage() });
  await api.gitChanges('c1', '/workspace');
  await api.gitDiff('c1', '/workspace/a b.txt');
  await api.preview('c1');
  assert.deepEqual(calls.map((c) => `${c.init.method} ${c.url}`), [
    'GET http://h/gh/api/conversations/c1/git/changes?path=%2Fworkspace',
    'GET http://h/gh/api/conversations/c1/git/diff?path=%2Fworkspace%2Fa+b.txt',
    'POST http://h/gh/api/conversations/c1/preview',
  ]);
  const urls = { workspace_url: '/preview/T/c1/workspace/', ports_url: '/preview/T/c1/ports/' };
  assert.equal(api.previewURL(urls, ''), 'http://h/gh/preview/T/c1/workspace/');
  assert.equal(api.previewURL(urls, '/site/a b.html'), 'http://h/gh/preview/T/c1/workspace/site/a%20b.html');
  assert.equal(api.previewURL(urls, ':8000'), 'http://h/gh/preview/T/c1/ports/8000/');
  assert.equal(api.previewURL(urls, ' :3000/app?x=1'), 'http://h/gh/preview/T/c1/ports/3000/app?x=1');
  // A name that only looks like a port is a file.
  assert.equal(api.previewURL(urls, '8000/'), 'http://h/gh/preview/T/c1/workspace/8000/');
});

test('the create body holds only what the form says', () => {
  assert.deepEqual(createBody({ task: '  ', policy: 'NeverConfirm' }), { confirmation_policy: { kind: 'NeverConfirm' } });
  assert.deepEqual(createBody({
    task: 'write hello.sh', model: ' openai/scripted ', baseURL: 'http://127.0.0.1:1/v1', apiKey: 'k', workingDir: '/workspace',
    policy: 'ConfirmRisky', threshold: 'MEDIUM', tools: ['terminal', 'finish'], title: 'T', analyzer: 'RuleAnalyzer',
  }), {
    agent: { llm: { model: 'openai/scripted', base_url: 'http://127.0.0.1:1/v1', api_key: 'k' }, tools: [{ name: 'terminal' }, { name: 'finish' }] },
    workspace: { working_dir: '/workspace' },
    confirmation_policy: { kind: 'ConfirmRisky', threshold: 'MEDIUM' },
    security_analyzer: { kind: 'RuleAnalyzer' },
    title: 'T',
    initial_message: { role: 'user', content: [{ type: 'text', text: 'write hello.sh' }], run: true },
  });
});

test('form suggestions come from the conversations', () => {
  const d = defaultsFrom([
    { agent: { llm: { model: 'gpt-5', base_url: 'https://x/v1' } }, workspace: { working_dir: '/workspace/app' } },
    { agent: { llm: { model: 'gpt-5' } }, workspace: { working_dir: '/workspace' } },
    null,
  ]);
  assert.deepEqual(d.models, ['gpt-5']);
  assert.deepEqual(d.baseURLs, ['https://x/v1']);
  assert.deepEqual(d.workingDirs, ['/workspace', '/workspace/app']);
  assert.deepEqual(defaultsFrom(undefined).workingDirs, ['/workspace']);
});

test('modelChoices puts the models in use first, then the catalogue, each once', () => {
  const models = ['anthropic/claude-a', 'openai/gpt-x', 'openai/gpt-y'];
  const all = modelChoices({ models, inUse: ['openai/gpt-y', 'local/mine'] });
  assert.deepEqual(all, [
    { value: 'openai/gpt-y', label: 'in use' },
    { value: 'local/mine', label: 'in use' },
    { value: 'anthropic/claude-a', label: 'anthropic' },
    { value: 'openai/gpt-x', label: 'openai' },
  ]);
});

test('modelChoices filters by provider', () => {
  const models = ['anthropic/claude-a', 'openai/gpt-x', 'openai/gpt-y', 'openaix/z'];
  const got = modelChoices({ models, inUse: ['anthropic/claude-b', 'openai/mine'], provider: 'openai' }).map((c) => c.value);
  assert.deepEqual(got, ['openai/mine', 'openai/gpt-x', 'openai/gpt-y']);
});

test('modelChoices takes a catalogue that could not be read', () => {
  assert.deepEqual(modelChoices({ models: null, inUse: ['m'] }), [{ value: 'm', label: 'in use' }]);
  assert.deepEqual(modelChoices({ models: [3, '', 'x/y'] }), [{ value: 'x/y', label: 'x' }]);
  assert.deepEqual(modelChoices(), []);
});

test('providersOf takes the server list, else the model names', () => {
  assert.deepEqual(providersOf(['openai', 'anthropic'], ['x/y']), ['anthropic', 'openai']);
  assert.deepEqual(providersOf(null, ['openai/a', 'anthropic/b', 'openai/c', 'bare', '/odd']), ['anthropic', 'openai']);
  assert.deepEqual(providersOf([], []), []);
});
