import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { render, pendingCard } from '../static/events.js';
import { screenshot, isAction } from '../static/browser.js';
import { toHTML, textOf, find, hasClass } from '../static/vdom.js';

const PNG64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

const golden = (name) => JSON.parse(readFileSync(new URL(`../../event/testdata/golden/${name}.json`, import.meta.url), 'utf8'));

function act(action, extra = {}) {
  return { kind: 'ActionEvent', id: 'a1', seq: 3, source: 'agent', timestamp: '2026-01-02T03:04:05Z', tool_name: 'browser_x', action, ...extra };
}

function obs(observation, extra = {}) {
  return {
    kind: 'ObservationEvent', id: 'o1', seq: 4, source: 'environment', timestamp: '2026-01-02T03:04:06Z', action_id: 'a1',
    tool_name: 'browser_x', observation: { kind: 'BrowserObservation', is_error: false, content: [], ...observation }, ...extra,
  };
}

const byClass = (tree, cls) => find(tree, (n) => hasClass(n, cls));

test('each browser action says what it does', () => {
  const cases = [
    [{ kind: 'BrowserNavigateAction', url: 'http://localhost:3000/', new_tab: true }, /Open a web page in a new tab.*http:\/\/localhost:3000\//s],
    [{ kind: 'BrowserClickAction', index: 3, new_tab: false }, /Click element 3.*\[3\]/s],
    [{ kind: 'BrowserTypeAction', index: 2, text: 'Ada Lovelace' }, /Type into element 2.*\[2\].*Ada Lovelace/s],
    [{ kind: 'BrowserGetStateAction', include_screenshot: true }, /Look at the page, with a screenshot/],
    [{ kind: 'BrowserGetContentAction', extract_links: true, start_from_char: 500 }, /Read the page.*from character 500, with links/s],
    [{ kind: 'BrowserScrollAction', direction: 'up' }, /Scroll up/],
    [{ kind: 'BrowserGoBackAction' }, /Go back/],
    [{ kind: 'BrowserListTabsAction' }, /List the tabs/],
    [{ kind: 'BrowserSwitchTabAction', tab_id: 'A1B2' }, /Switch to tab A1B2/],
    [{ kind: 'BrowserCloseTabAction', tab_id: 'A1B2' }, /Close tab A1B2/],
  ];
  for (const [a, want] of cases) {
    assert.ok(isAction(a.kind), a.kind);
    const item = render(act(a));
    assert.ok(hasClass(item, 'ev-browser'), a.kind);
    assert.match(textOf(item), want, a.kind);
    toHTML(item);
  }
  assert.ok(!isAction('TerminalAction'));
});

test('a typed secret shows hidden and marked', () => {
  const item = render(act({ kind: 'BrowserTypeAction', index: 0, text: '<secret-hidden>' }, { security_risk: 'HIGH', security_reason: 'rules: browser-type-secret: types one of the conversation\'s secrets' }));
  assert.equal(byClass(item, 'browser-secret').length, 1);
  assert.equal(textOf(byClass(item, 'browser-typed')[0]), '<secret-hidden>');
  assert.match(textOf(item), /Rated high: rules: browser-type-secret/);
  assert.equal(byClass(render(act({ kind: 'BrowserTypeAction', index: 0, text: 'hello' })), 'browser-secret').length, 0);
  // The pending card says what would be typed.
  assert.match(textOf(pendingCard(act({ kind: 'BrowserTypeAction', index: 4, text: 'x' }, { security_risk: 'HIGH' }))), /Type into element 4/);
});

test('a screenshot shows inline with its path, the state folded', () => {
  const a = act({ kind: 'BrowserGetStateAction', include_screenshot: true });
  const item = render(obs({
    url: 'http://localhost:3000/', screenshot_data: PNG64, screenshot_path: '/tmp/gohands/browser_observations/browser_screenshot_0a1b2c3d.png',
    content: [{ type: 'text', text: 'URL: http://localhost:3000/\n[0] <input> name' }, { type: 'text', text: 'Screenshot saved to: /tmp/x.png' }, { type: 'image', image_urls: ['data:image/png;base64,' + PNG64] }],
  }), { actionOf: (id) => (id === 'a1' ? a : null) });
  const imgs = find(item, (n) => n.tag === 'img');
  assert.equal(imgs.length, 1, 'one picture, not the image part again');
  assert.equal(imgs[0].attrs.src, 'data:image/png;base64,' + PNG64);
  assert.match(textOf(item), /saved in the sandbox as \/tmp\/gohands\/browser_observations\/browser_screenshot_0a1b2c3d\.png/);
  const [state] = byClass(item, 'browser-state');
  assert.equal(state.tag, 'details');
  assert.equal(state.attrs.open, undefined, 'the state is folded');
  assert.match(textOf(state), /Page state the agent saw.*\[0\] <input> name/s);
  assert.doesNotMatch(textOf(state), /Screenshot saved to/);
  assert.match(toHTML(item), /<img[^>]+src="data:image\/png;base64,/);
});

test('only PNG data URLs show as screenshots', () => {
  assert.equal(screenshot({ screenshot_data: PNG64 }), 'data:image/png;base64,' + PNG64);
  assert.equal(screenshot({ screenshot_data: 'PHN2Zz4=" onerror="alert(1)' }), null);
  assert.equal(screenshot({ content: [{ type: 'image', image_urls: ['data:image/svg+xml;base64,PHN2Zz4='] }] }), null);
  assert.equal(screenshot({ content: [{ type: 'image', image_urls: ['https://evil.example/x.png'] }] }), null);
  assert.equal(screenshot({ content: [{ type: 'image', image_urls: ['data:image/png;base64,' + PNG64] }] }), 'data:image/png;base64,' + PNG64);
  const item = render(obs({ screenshot_data: 'not base64 <script>' }));
  assert.equal(find(item, (n) => n.tag === 'img').length, 0);
  assert.match(textOf(item), /A screenshot not shown/);
});

test('errors, tabs and page text', () => {
  const err = render(obs({ is_error: true, content: [{ type: 'text', text: 'Element 7 is not on the page (the page may have changed); call browser_get_state for the current indices.' }] }));
  assert.match(textOf(err), /Browser action failed.*Element 7 is not on the page/s);
  assert.ok(hasClass(err, 'ev-failed'));
  const tabs = render(obs({ content: [{ type: 'text', text: '[A1] A - http://a/\n[B2] B - http://b/ (current)\n' }] }), { actionOf: () => act({ kind: 'BrowserListTabsAction' }) });
  assert.match(textOf(tabs), /Tabs.*\[B2\] B - http:\/\/b\/ \(current\)/s);
  // The text fetcher's result (no action at hand) reads as a web page.
  const fetched = render(golden('BrowserObservation'));
  assert.match(textOf(fetched), /Web page: https:\/\/go\.dev\/doc\/security\/fuzz\/.*Page text.*Go supports fuzzing/s);
});

test('the golden screenshot observation renders its picture', () => {
  const item = render(golden('BrowserObservation.screenshot'), { actionOf: () => golden('BrowserGetStateAction') });
  assert.equal(find(item, (n) => n.tag === 'img').length, 1);
  assert.match(textOf(item), /Page: http:\/\/localhost:3000\//);
});
