import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const source = readFileSync(new URL('../static/boot.js', import.meta.url), 'utf8');

// load runs boot.js in a page whose modules did or did not start, with
// the session storage kept across loads, and says whether it reloaded.
function load(storage, started) {
  let timer = null;
  let reloaded = false;
  const window = { gohandsStarted: false };
  const ctx = {
    window,
    sessionStorage: {
      getItem: (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: (k, v) => storage.set(k, String(v)),
      removeItem: (k) => storage.delete(k),
    },
    location: { reload: () => { reloaded = true; } },
    setTimeout: (fn, ms) => { timer = { fn, ms }; },
  };
  vm.runInNewContext(source, ctx);
  assert.ok(timer, 'boot.js sets a timer');
  window.gohandsStarted = started;
  timer.fn();
  return reloaded;
}

test('boot reloads a page whose modules did not start, three times at most', () => {
  const storage = new Map();
  assert.equal(load(storage, true), false, 'a page that started is not reloaded');
  assert.equal(load(storage, false), true, 'a page whose modules failed is loaded again');
  assert.equal(load(storage, false), true);
  assert.equal(load(storage, false), true);
  assert.equal(load(storage, false), false, 'no fourth reload in a row');
  assert.equal(load(storage, true), false);
  assert.equal(storage.size, 0, 'a page that started clears the count');
  assert.equal(load(storage, false), true, 'after a good load, a failed one is reloaded again');
});
