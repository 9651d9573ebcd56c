// The agent's browser in the timeline: what each browser action does (the
// URL it opens, the element it clicks or types into, the text it types),
// and what the agent saw after it: the screenshot inline, the page's state
// folded. Pages are not ours: their text is only ever text, and a
// screenshot shows only as an inline PNG.

import { h, safeImage } from './vdom.js';
import { truncate } from './format.js';

/** ICON marks browser actions and their results. */
export const ICON = '◎';

// HIDDEN is what the server writes in place of a secret's value.
const HIDDEN = '<secret-hidden>';

const ACTIONS = new Set([
  'BrowserNavigateAction', 'BrowserClickAction', 'BrowserTypeAction', 'BrowserGetStateAction',
  'BrowserGetContentAction', 'BrowserScrollAction', 'BrowserGoBackAction', 'BrowserListTabsAction',
  'BrowserSwitchTabAction', 'BrowserCloseTabAction',
]);

/** isAction reports whether an action kind is a browser action. */
export function isAction(kind) {
  return ACTIONS.has(kind);
}

function link(url) {
  return h('a', { class: 'browser-url', href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, truncate(url, 200));
}

function tag(text, title) {
  return h('span', { class: 'chip', title: title || null }, text);
}

function element(index) {
  return h('span', { class: 'browser-index', title: 'element index in the page state' }, '[' + Number(index) + ']');
}

/**
 * actionView returns the title and body of a browser action. A typed
 * text that holds a secret shows it hidden, as the server stored it, and
 * says so.
 */
export function actionView(a) {
  switch (a.kind) {
    case 'BrowserNavigateAction':
      return { title: a.new_tab ? 'Open a web page in a new tab' : 'Open a web page', content: [h('p', null, link(String(a.url || '')))] };
    case 'BrowserClickAction':
      return { title: `Click element ${Number(a.index)}`, content: [h('p', null, 'click ', element(a.index), a.new_tab ? [' ', tag('new tab')] : null)] };
    case 'BrowserTypeAction': {
      const text = String(a.text ?? '');
      const secret = text.includes(HIDDEN);
      return {
        title: `Type into element ${Number(a.index)}`,
        content: [
          h('p', null, 'type into ', element(a.index), secret ? [' ', h('span', { class: 'badge badge-warn browser-secret', title: 'the text holds a secret, hidden here' }, 'secret')] : null),
          h('pre', { class: 'ev-pre browser-typed' + (secret ? ' browser-typed-secret' : '') }, text),
        ],
      };
    }
    case 'BrowserGetStateAction':
      return { title: a.include_screenshot ? 'Look at the page, with a screenshot' : 'Look at the page', content: [] };
    case 'BrowserGetContentAction': {
      const from = Number(a.start_from_char) || 0;
      const notes = [from ? `from character ${from}` : null, a.extract_links ? 'with links' : null].filter(Boolean);
      return { title: 'Read the page', content: notes.length ? [h('p', { class: 'ev-meta' }, notes.join(', '))] : [] };
    }
    case 'BrowserScrollAction':
      return { title: a.direction === 'up' ? 'Scroll up' : 'Scroll down', content: [] };
    case 'BrowserGoBackAction':
      return { title: 'Go back', content: [] };
    case 'BrowserListTabsAction':
      return { title: 'List the tabs', content: [] };
    case 'BrowserSwitchTabAction':
      return { title: 'Switch to tab ' + String(a.tab_id || ''), content: [] };
    case 'BrowserCloseTabAction':
      return { title: 'Close tab ' + String(a.tab_id || ''), content: [] };
    default:
      return { title: 'Use the browser', content: [] };
  }
}

/**
 * screenshot returns the data: URL of an observation's screenshot: its
 * screenshot_data as a PNG, else a PNG among its image parts; null when it
 * has none or it is not a base64 PNG.
 */
export function screenshot(o) {
  if (typeof o.screenshot_data === 'string' && o.screenshot_data) {
    return pngURL('data:image/png;base64,' + o.screenshot_data);
  }
  for (const part of Array.isArray(o.content) ? o.content : []) {
    for (const url of (part && Array.isArray(part.image_urls)) ? part.image_urls : []) {
      const ok = pngURL(url);
      if (ok) return ok;
    }
  }
  return null;
}

function pngURL(url) {
  return typeof url === 'string' && /^data:image\/png;base64,/i.test(url) ? safeImage(url) : null;
}

// SAVED starts the text part that says where the screenshot was saved.
const SAVED = 'Screenshot saved to: ';

function texts(o) {
  if (typeof o.content === 'string') return [o.content];
  return (Array.isArray(o.content) ? o.content : [])
    .filter((p) => p && typeof p.text === 'string' && p.type !== 'image' && !p.text.startsWith(SAVED))
    .map((p) => p.text);
}

/**
 * observationView returns the title and body of a browser result, given
 * the action it answers when the page has it: the screenshot inline with
 * where it was saved, and the page state the agent saw, folded. An error
 * shows its text open.
 */
export function observationView(o, act) {
  const kind = act && act.action ? act.action.kind : '';
  const err = !!o.is_error;
  const text = texts(o).join('\n');
  const content = [];
  if (o.url) content.push(h('p', null, link(String(o.url))));
  const shot = err ? null : screenshot(o);
  if (shot) {
    content.push(h('div', { class: 'browser-shot' },
      h('img', { class: 'msg-image browser-screenshot', src: shot, alt: 'screenshot of the page' + (o.url ? ' ' + truncate(String(o.url), 80) : '') }),
      o.screenshot_path ? h('p', { class: 'ev-meta' }, 'saved in the sandbox as ', h('code', null, String(o.screenshot_path))) : null));
  } else if (!err && (o.screenshot_data || (Array.isArray(o.content) && o.content.some((p) => p && p.type === 'image')))) {
    content.push(h('p', { class: 'ev-meta browser-shot-refused' }, 'A screenshot not shown: only inline PNG images are.'));
  }
  let title;
  if (err) {
    title = 'Browser action failed';
    content.push(h('pre', { class: 'ev-pre ev-error-text' }, text));
  } else if (kind === 'BrowserListTabsAction' || kind === 'BrowserCloseTabAction') {
    title = 'Tabs';
    content.push(h('pre', { class: 'ev-pre browser-tabs' }, text));
  } else if (kind === 'BrowserGetContentAction' || !kind) {
    title = 'Web page' + (o.url ? ': ' + truncate(String(o.url), 80) : '');
    content.push(h('details', { class: 'browser-text' }, h('summary', null, 'Page text'), h('pre', { class: 'ev-pre' }, text)));
  } else {
    title = 'Page' + (o.url ? ': ' + truncate(String(o.url), 80) : '');
    content.push(h('details', { class: 'browser-state' }, h('summary', null, 'Page state the agent saw'), h('pre', { class: 'ev-pre' }, text)));
  }
  return { title, content };
}
