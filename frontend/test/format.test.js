import { test } from 'node:test';
import assert from 'node:assert/strict';
import { size, crumbs, parentPath, joinPath, sortEntries, statusLabel, sandboxLabel, tone, ago, truncate } from '../static/format.js';

test('sizes', () => {
  assert.equal(size(0), '0 B');
  assert.equal(size(1023), '1023 B');
  assert.equal(size(1536), '1.5 KiB');
  assert.equal(size(200 * 1024 * 1024), '200 MiB');
  assert.equal(size(-1), '');
});

test('paths', () => {
  assert.equal(parentPath('/workspace/a/'), '/workspace');
  assert.equal(parentPath('/workspace'), '/');
  assert.equal(joinPath('/workspace/', '/x'), '/workspace/x');
  assert.deepEqual(crumbs('/workspace/a/b').map((c) => c.path), ['/', '/workspace', '/workspace/a', '/workspace/a/b']);
  assert.deepEqual(crumbs('/').map((c) => c.name), ['/']);
});

test('entries: folders first, then by name', () => {
  const got = sortEntries([{ name: 'b', type: 'file' }, { name: 'z', type: 'dir' }, { name: 'a', type: 'file' }, { name: 'c', type: 'dir' }]);
  assert.deepEqual(got.map((e) => e.name), ['c', 'z', 'a', 'b']);
});

test('labels', () => {
  assert.equal(statusLabel('waiting_for_confirmation'), 'waiting for you');
  assert.equal(sandboxLabel('running'), 'ready');
  assert.equal(sandboxLabel('pulling'), 'fetching image');
  assert.equal(sandboxLabel(''), 'not started');
  assert.equal(tone('error'), 'err');
  assert.equal(tone('starting'), 'busy');
  assert.equal(ago('2025-01-01T00:00:00Z', Date.parse('2025-01-01T00:05:00Z')), '5 min ago');
  assert.equal(truncate('abcdef', 4), 'abc…');
});
