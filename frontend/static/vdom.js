// A tiny virtual DOM: render code builds plain objects with h(), and
// toDOM turns them into elements with createElement and textContent only.
// Untrusted text can therefore never become markup: it is always a text
// node. Attributes pass an allowlist, links a URL check, and styles a
// property and value check, so that a renderer bug cannot open a hole
// either.

/** @typedef {{tag: string, attrs: Object, children: Array<VNode|string>}} VNode */

/**
 * h builds a virtual element. attrs may hold `on: {event: handler}` for
 * listeners and `style: {property: value}`; children may be strings,
 * numbers, vnodes, arrays of them, or null/false/undefined (skipped).
 */
export function h(tag, attrs, ...children) {
  return { tag, attrs: attrs || {}, children: flatten(children) };
}

function flatten(list, out = []) {
  for (const c of list) {
    if (c === null || c === undefined || c === false || c === true) continue;
    if (Array.isArray(c)) flatten(c, out);
    else if (typeof c === 'number') out.push(String(c));
    else out.push(c);
  }
  return out;
}

// The elements render code may produce.
const TAGS = new Set([
  'a', 'article', 'aside', 'b', 'blockquote', 'br', 'button', 'code', 'datalist', 'dd', 'del', 'details', 'dialog', 'div', 'dl',
  'dt', 'em', 'fieldset', 'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'i', 'img', 'input', 'kbd', 'label',
  'legend', 'li', 'main', 'nav', 'ol', 'option', 'p', 'pre', 'progress', 's', 'section', 'select', 'small', 'span', 'strong',
  'summary', 'table', 'tbody', 'td', 'textarea', 'th', 'thead', 'time', 'tr', 'ul',
]);

// The attributes render code may set, besides data-* and aria-*.
const ATTRS = new Set([
  'alt', 'class', 'colspan', 'datetime', 'disabled', 'download', 'for', 'hidden', 'href', 'id', 'lang', 'max', 'name',
  'open', 'placeholder', 'rel', 'required', 'role', 'src', 'tabindex', 'target', 'title', 'type', 'value', 'autocomplete',
  'rows', 'selected', 'multiple', 'accept', 'list', 'start', 'checked', 'label', 'min', 'step', 'inputmode',
]);

// The style properties render code may set, each with the values allowed.
const STYLES = {
  'color': /^(#[0-9a-f]{3,8}|rgb\(\d{1,3}, ?\d{1,3}, ?\d{1,3}\))$/i,
  'background-color': /^(#[0-9a-f]{3,8}|rgb\(\d{1,3}, ?\d{1,3}, ?\d{1,3}\))$/i,
  'width': /^\d{1,3}(\.\d+)?%$/,
  'padding-left': /^\d{1,3}(\.\d+)?(em|px)$/,
};

/** attrAllowed reports whether an attribute name may be set. */
export function attrAllowed(name) {
  return ATTRS.has(name) || /^data-[a-z0-9-]+$/.test(name) || /^aria-[a-z]+$/.test(name);
}

/**
 * safeURL returns url if a link to it is harmless (http, https, mailto, or
 * a relative path, fragment or query), else null. javascript:, data:,
 * vbscript: and friends are refused, however they are spelled.
 */
export function safeURL(url) {
  if (typeof url !== 'string') return null;
  // Browsers ignore control characters and white space inside a scheme.
  const compact = url.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  if (compact === '') return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(compact);
  if (!scheme) {
    // No scheme: relative. A colon before the first slash would be read
    // as a scheme by a browser that decodes entities; there are none here,
    // but refuse anything odd all the same.
    return url.trim();
  }
  const s = scheme[1].toLowerCase();
  return s === 'http' || s === 'https' || s === 'mailto' ? url.trim() : null;
}

/** safeImage returns src if it is an inline raster image, else null. */
export function safeImage(src) {
  if (typeof src !== 'string') return null;
  return /^data:image\/(png|jpeg|gif|webp);base64,[a-z0-9+/=\s]+$/i.test(src) ? src : null;
}

/** toDOM makes the DOM of a vnode (or string) in doc. */
export function toDOM(node, doc = globalThis.document) {
  if (typeof node === 'string') return doc.createTextNode(node);
  if (!TAGS.has(node.tag)) throw new Error(`vdom: element <${node.tag}> is not allowed`);
  const el = doc.createElement(node.tag);
  for (const [name, value] of Object.entries(node.attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'on') {
      for (const [ev, fn] of Object.entries(value)) if (typeof fn === 'function') el.addEventListener(ev, fn);
      continue;
    }
    if (name === 'style') {
      for (const [prop, v] of Object.entries(value)) {
        const ok = STYLES[prop];
        if (ok && ok.test(String(v))) el.style.setProperty(prop, String(v));
      }
      continue;
    }
    if (name === 'ref') {
      if (typeof value === 'function') value(el);
      continue;
    }
    if (!attrAllowed(name)) throw new Error(`vdom: attribute ${name} is not allowed`);
    let v = value === true ? '' : String(value);
    if (name === 'href') {
      v = safeURL(v);
      if (v === null) continue;
    }
    if (name === 'src') {
      v = safeImage(v);
      if (v === null) continue;
    }
    if (name === 'value' && (node.tag === 'input' || node.tag === 'textarea' || node.tag === 'select')) {
      el.value = v;
      continue;
    }
    el.setAttribute(name, v);
  }
  for (const c of node.children) el.appendChild(toDOM(c, doc));
  return el;
}

/** textOf is the text content of a vnode tree, as the DOM would have it. */
export function textOf(node) {
  if (typeof node === 'string') return node;
  if (Array.isArray(node)) return node.map(textOf).join('');
  return node.children.map(textOf).join('');
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** escape makes text safe inside HTML text or a quoted attribute. */
export function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

/**
 * toHTML serializes a vnode tree with everything escaped, applying the
 * same checks as toDOM: for tests and for reading output, never for
 * building the page.
 */
export function toHTML(node) {
  if (typeof node === 'string') return escape(node);
  if (Array.isArray(node)) return node.map(toHTML).join('');
  if (!TAGS.has(node.tag)) throw new Error(`vdom: element <${node.tag}> is not allowed`);
  let out = '<' + node.tag;
  for (const [name, value] of Object.entries(node.attrs)) {
    if (value === null || value === undefined || value === false || name === 'on' || name === 'ref') continue;
    if (name === 'style') {
      const parts = [];
      for (const [prop, v] of Object.entries(value)) if (STYLES[prop] && STYLES[prop].test(String(v))) parts.push(`${prop}: ${v}`);
      if (parts.length) out += ` style="${escape(parts.join('; '))}"`;
      continue;
    }
    if (!attrAllowed(name)) throw new Error(`vdom: attribute ${name} is not allowed`);
    let v = value === true ? '' : String(value);
    if (name === 'href' && (v = safeURL(v)) === null) continue;
    if (name === 'src' && (v = safeImage(v)) === null) continue;
    out += ` ${name}="${escape(v)}"`;
  }
  out += '>';
  if (node.tag === 'br' || node.tag === 'hr' || node.tag === 'img' || node.tag === 'input') return out;
  return out + node.children.map(toHTML).join('') + `</${node.tag}>`;
}

/** find returns the vnodes of a tree for which pred holds, depth first. */
export function find(node, pred, out = []) {
  if (typeof node === 'string') return out;
  if (Array.isArray(node)) {
    for (const n of node) find(n, pred, out);
    return out;
  }
  if (pred(node)) out.push(node);
  for (const c of node.children) find(c, pred, out);
  return out;
}

/** hasClass reports whether a vnode has a class. */
export function hasClass(node, cls) {
  return typeof node !== 'string' && typeof node.attrs.class === 'string' && node.attrs.class.split(/\s+/).includes(cls);
}
