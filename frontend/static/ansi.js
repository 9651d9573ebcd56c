// Terminal output with ANSI escape sequences, turned into coloured spans.
// SGR sequences (ESC [ ... m) set colours and styles; every other escape
// sequence (cursor moves, OSC titles, ...) is dropped. A carriage return
// that is not part of CRLF starts the line again, as a progress bar
// expects; a backspace removes the character before it.

import { h } from './vdom.js';

/** @typedef {{fg: (number|string|null), bg: (number|string|null), bold: boolean, dim: boolean, italic: boolean, underline: boolean, inverse: boolean, strike: boolean}} Style */

function plain() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false };
}

/**
 * parse splits text into segments {text, style}. fg and bg are a palette
 * index 0..255 or an "rgb(r, g, b)" string, null for the default.
 */
export function parse(text) {
  const segs = [];
  let line = []; // the segments of the current line
  let style = plain();
  let buf = '';
  const push = () => {
    if (buf) line.push({ text: buf, style: { ...style } });
    buf = '';
  };
  const endLine = (nl) => {
    push();
    segs.push(...line);
    line = [];
    if (nl) segs.push({ text: '\n', style: plain() });
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i];
    if (c === '\x1b' || c === '\x9b') {
      let j = c === '\x9b' ? i + 1 : i + 2;
      const kind = c === '\x9b' ? '[' : text[i + 1];
      if (kind === '[') {
        // CSI: parameters, intermediates, one final byte.
        while (j < n && /[0-9:;<=>?]/.test(text[j])) j++;
        const params = text.slice(c === '\x9b' ? i + 1 : i + 2, j);
        while (j < n && /[ -/]/.test(text[j])) j++;
        if (j < n && text[j] === 'm') {
          push();
          style = sgr(style, params);
        }
        // The final byte ends the sequence; anything else is text again.
        i = j < n && text[j] >= '@' && text[j] <= '~' ? j : j - 1;
      } else if (kind === ']' || kind === 'P' || kind === '_' || kind === '^') {
        // OSC, DCS, APC, PM: up to BEL or ST (ESC \).
        while (j < n && text[j] !== '\x07' && !(text[j] === '\x1b' && text[j + 1] === '\\')) j++;
        i = text[j] === '\x1b' ? j + 1 : j;
      } else {
        // A two-character escape (ESC =, ESC 7, ESC ( B takes one more).
        i = kind === '(' || kind === ')' ? i + 2 : i + 1;
      }
      continue;
    }
    if (c === '\r') {
      if (text[i + 1] === '\n') continue;
      if (i + 1 < n) {
        // Start the line again: what follows overwrites it.
        buf = '';
        line = [];
      }
      continue;
    }
    if (c === '\n') {
      endLine(true);
      continue;
    }
    if (c === '\b') {
      if (buf) buf = buf.slice(0, -1);
      continue;
    }
    if (c < ' ' && c !== '\t') continue; // other control characters
    buf += c;
  }
  endLine(false);
  // Merge neighbours of the same style.
  const out = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && sameStyle(last.style, s.style)) last.text += s.text;
    else out.push({ text: s.text, style: s.style });
  }
  return out;
}

function sameStyle(a, b) {
  return a.fg === b.fg && a.bg === b.bg && a.bold === b.bold && a.dim === b.dim && a.italic === b.italic &&
    a.underline === b.underline && a.inverse === b.inverse && a.strike === b.strike;
}

/** sgr applies the parameters of one SGR sequence to a style. */
export function sgr(style, params) {
  const s = { ...style };
  const tokens = params === '' ? ['0'] : params.split(';');
  const num = (t) => (t === undefined || t === '' ? 0 : parseInt(t, 10));
  const extended = (c, color) => {
    if (color === null) return;
    if (c === 38) s.fg = color;
    else s.bg = color;
  };
  for (let k = 0; k < tokens.length; k++) {
    if (tokens[k].includes(':')) {
      // ITU T.416 form: 38:5:N, 38:2:R:G:B or 38:2:ID:R:G:B; 4:3 and the
      // like are underline styles.
      const sub = tokens[k].split(':').map(num);
      if (sub[0] === 38 || sub[0] === 48) {
        if (sub[1] === 5) extended(sub[0], sub[2] >= 0 && sub[2] <= 255 ? sub[2] : null);
        else if (sub[1] === 2 && sub.length >= 5) extended(sub[0], rgb(sub.slice(-3)));
      } else if (sub[0] === 4) {
        s.underline = sub[1] !== 0;
      }
      continue;
    }
    const c = num(tokens[k]);
    if (c === 0) Object.assign(s, plain());
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 9) s.strike = true;
    else if (c === 21 || c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c === 29) s.strike = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c === 49) s.bg = null;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      const mode = num(tokens[k + 1]);
      if (mode === 5 && k + 2 < tokens.length) {
        const v = num(tokens[k + 2]);
        extended(c, v >= 0 && v <= 255 ? v : null);
        k += 2;
      } else if (mode === 2 && k + 4 < tokens.length) {
        extended(c, rgb(tokens.slice(k + 2, k + 5).map(num)));
        k += 4;
      } else {
        break; // malformed: ignore the rest
      }
    }
  }
  return s;
}

function rgb([r, g, b]) {
  const c = (v) => (Number.isFinite(v) ? Math.max(0, Math.min(255, v)) : 0);
  return `rgb(${c(r)}, ${c(g)}, ${c(b)})`;
}

/** rgb256 is the colour of a 256-colour palette index above 15. */
export function rgb256(n) {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v}, ${v}, ${v})`;
  }
  const k = n - 16;
  const level = (x) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${level(Math.floor(k / 36))}, ${level(Math.floor(k / 6) % 6)}, ${level(k % 6)})`;
}

function colour(c, kind, classes, style) {
  if (c === null) return;
  if (typeof c === 'number' && c < 16) classes.push(`ansi-${kind}-${c}`);
  else style[kind === 'fg' ? 'color' : 'background-color'] = typeof c === 'number' ? rgb256(c) : c;
}

/** render turns terminal text into vnodes: plain strings and styled spans. */
export function render(text) {
  return parse(text).map(({ text: t, style: st }) => {
    let fg = st.fg;
    let bg = st.bg;
    const classes = [];
    if (st.inverse) {
      [fg, bg] = [bg, fg];
      if (fg === null) classes.push('ansi-inverse-fg');
      if (bg === null) classes.push('ansi-inverse-bg');
    }
    const style = {};
    colour(fg, 'fg', classes, style);
    colour(bg, 'bg', classes, style);
    if (st.bold) classes.push('ansi-bold');
    if (st.dim) classes.push('ansi-dim');
    if (st.italic) classes.push('ansi-italic');
    if (st.underline) classes.push('ansi-underline');
    if (st.strike) classes.push('ansi-strike');
    if (!classes.length && !Object.keys(style).length) return t;
    const attrs = {};
    if (classes.length) attrs.class = classes.join(' ');
    if (Object.keys(style).length) attrs.style = style;
    return h('span', attrs, t);
  });
}

/** strip removes every escape sequence, keeping the text. */
export function strip(text) {
  return parse(text).map((s) => s.text).join('');
}
