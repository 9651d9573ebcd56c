// Calls to the tools of Model Context Protocol servers and their results,
// as the timeline shows them: the call named by server and tool with its
// arguments, the result's text parts as text, its images inline, its
// structured content as JSON. All of it comes from servers GoHands does
// not control: text is only ever text, and an image shows only when it is
// an inline raster image (anything else is named, never loaded or linked).

import { h, safeImage } from './vdom.js';
import { truncate } from './format.js';

// JSON longer than this many lines is folded under its label.
const JSON_LINES = 12;

// Text longer than this many lines shows its first lines, the rest on
// demand.
const TEXT_LINES = 30;

/** ACTION and OBSERVATION are the kinds of an MCP tool's events. */
export const ACTION = 'MCPToolAction';
export const OBSERVATION = 'MCPToolObservation';

/**
 * label names a call as "server · tool". Events written before the
 * server was recorded (upstream's, with only the arguments) are named by
 * the tool's name as the model saw it.
 */
export function label(action, toolName) {
  const a = action || {};
  const tool = str(a.tool) || str(toolName) || 'tool';
  return str(a.server) ? `${a.server} · ${tool}` : tool;
}

/** callLine shows the server and the tool of a call. */
export function callLine(action, toolName) {
  const a = action || {};
  const tool = str(a.tool) || str(toolName) || 'tool';
  return h('p', { class: 'mcp-call' },
    h('span', { class: 'chip chip-mcp', title: 'a tool of an MCP server' }, 'MCP'), ' ',
    str(a.server) ? [h('span', { class: 'mcp-server', title: 'MCP server' }, a.server), h('span', { class: 'mcp-sep', 'aria-hidden': 'true' }, ' · ')] : null,
    h('span', { class: 'mcp-tool', title: 'tool' }, tool),
    str(toolName) && toolName !== tool ? h('small', { class: 'mcp-offered', title: 'the name the model called' }, ` (as ${toolName})`) : null);
}

/** callBody shows a call: its server and tool, and its arguments. */
export function callBody(action, toolName) {
  const data = action ? action.data : undefined;
  const empty = data === undefined || data === null || (typeof data === 'object' && !Array.isArray(data) && Object.keys(data).length === 0);
  return [
    callLine(action, toolName),
    empty ? h('p', { class: 'ev-meta' }, 'no arguments') : jsonBlock('Arguments', data, 'mcp-args'),
  ];
}

/**
 * resultBody shows a result: its text and image parts in order, its
 * structured content, and where its whole output was kept when it was cut.
 */
export function resultBody(o) {
  const err = !!o.is_error;
  const out = [];
  const content = Array.isArray(o.content) ? o.content : typeof o.content === 'string' ? [{ type: 'text', text: o.content }] : [];
  for (const part of content) {
    if (!part || typeof part !== 'object') continue;
    if (typeof part.text === 'string' && part.type !== 'image') out.push(textPart(part.text, err));
    else if (part.type === 'image' || Array.isArray(part.image_urls)) out.push(...imagePart(part));
    else out.push(fold(`A part of type ${truncate(String(part.type || 'unknown'), 40)}`, json(part)));
  }
  if (o.structured_content !== undefined && o.structured_content !== null) {
    out.push(jsonBlock('Structured content', o.structured_content, 'mcp-structured'));
  }
  if (!out.length) out.push(h('p', { class: 'ev-meta' }, '(no output)'));
  if (str(o.full_output_path)) {
    out.push(h('p', { class: 'ev-meta mcp-full' }, 'full output kept in ', h('code', null, o.full_output_path)));
  }
  return out;
}

// textPart shows one text part. Text that is a JSON object or array (a
// common way for servers to answer) shows indented.
function textPart(text, err) {
  const cls = 'ev-pre mcp-text' + (err ? ' ev-error-text' : '');
  const trimmed = text.trim();
  if (/^[[{]/.test(trimmed)) {
    try {
      const v = JSON.parse(trimmed);
      if (v && typeof v === 'object') return jsonBlock('JSON', v, cls);
    } catch {
      // Not JSON after all: shown as it is.
    }
  }
  const lines = text.split('\n');
  if (lines.length <= TEXT_LINES) return h('pre', { class: cls }, text);
  return h('div', null,
    h('pre', { class: cls }, lines.slice(0, TEXT_LINES).join('\n')),
    fold(`${lines.length - TEXT_LINES} more lines`, h('pre', { class: cls }, lines.slice(TEXT_LINES).join('\n'))));
}

// imagePart shows the images of an image part: inline when safeImage
// allows them, else a note that names the URL as text.
function imagePart(part) {
  const urls = Array.isArray(part.image_urls) ? part.image_urls : [];
  if (!urls.length) return [h('p', { class: 'ev-meta mcp-image-refused' }, 'An image part without an image.')];
  return urls.map((url) => safeImage(url)
    ? h('img', { class: 'msg-image mcp-image', src: url, alt: 'image returned by the tool' })
    : h('p', { class: 'ev-meta mcp-image-refused' }, 'An image not shown (only inline PNG, JPEG, GIF and WebP images are): ',
      h('code', null, truncate(typeof url === 'string' ? url : JSON.stringify(url) || String(url), 80))));
}

/**
 * jsonBlock shows a value as indented JSON under a label, folded when it
 * is long.
 */
export function jsonBlock(name, value, cls = '') {
  let text;
  try {
    text = JSON.stringify(value, null, 2);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  const pre = h('pre', { class: ('ev-json ' + cls).trim() }, text);
  const n = text.split('\n').length;
  if (n <= JSON_LINES) return h('div', { class: 'mcp-block' }, h('p', { class: 'ev-meta' }, name), pre);
  return h('details', { class: 'mcp-block' }, h('summary', null, `${name} (${n} lines)`), pre);
}

/**
 * isTool reports whether a tool of a SystemPromptEvent is an MCP server's.
 */
export function isTool(def) {
  return !!def && (/^MCP/.test(String(def.kind || '')) || def.mcp_tool !== undefined);
}

function json(v) {
  return h('pre', { class: 'ev-json' }, JSON.stringify(v, null, 2));
}

function fold(summary, content) {
  return h('details', null, h('summary', null, summary), content);
}

function str(v) {
  return typeof v === 'string' && v !== '' ? v : '';
}
