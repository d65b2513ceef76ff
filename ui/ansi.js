// ansi.js: ANSI colours of log lines as DOM nodes (text nodes and spans;
// never markup). SGR sequences (ESC [ ... m) set colours and styles that
// carry over to the next lines, as in a terminal; every other escape
// sequence (cursor moves, erasing, OSC titles and links) is dropped. A
// carriage return inside a line keeps what was written after it, as a
// terminal shows a progress bar that redraws itself.

export function newState() {
  return {fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false};
}

const CUBE = [0, 95, 135, 175, 215, 255];

function color256(n) {
  if (n < 16) return {cls: n};
  if (n < 232) {
    n -= 16;
    return {rgb: `rgb(${CUBE[Math.floor(n / 36)]},${CUBE[Math.floor(n / 6) % 6]},${CUBE[n % 6]})`};
  }
  const g = 8 + (n - 232) * 10;
  return {rgb: `rgb(${g},${g},${g})`};
}

function sgr(state, params) {
  const p = params.length ? params : [0];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) Object.assign(state, newState());
    else if (c === 1) state.bold = true;
    else if (c === 2) state.dim = true;
    else if (c === 3) state.italic = true;
    else if (c === 4) state.underline = true;
    else if (c === 7) state.inverse = true;
    else if (c === 22) state.bold = state.dim = false;
    else if (c === 23) state.italic = false;
    else if (c === 24) state.underline = false;
    else if (c === 27) state.inverse = false;
    else if (c >= 30 && c <= 37) state.fg = {cls: c - 30};
    else if (c === 39) state.fg = null;
    else if (c >= 40 && c <= 47) state.bg = {cls: c - 40};
    else if (c === 49) state.bg = null;
    else if (c >= 90 && c <= 97) state.fg = {cls: c - 90 + 8};
    else if (c >= 100 && c <= 107) state.bg = {cls: c - 100 + 8};
    else if (c === 38 || c === 48) {
      let col = null;
      if (p[i + 1] === 5 && p[i + 2] !== undefined) {
        col = color256(p[i + 2] & 255);
        i += 2;
      } else if (p[i + 1] === 2 && p[i + 4] !== undefined) {
        const [r, g, b] = [p[i + 2], p[i + 3], p[i + 4]].map((v) => Math.max(0, Math.min(255, v | 0)));
        col = {rgb: `rgb(${r},${g},${b})`};
        i += 4;
      }
      if (c === 38) state.fg = col;
      else state.bg = col;
    }
  }
}

function plain(state) {
  return !state.fg && !state.bg && !state.bold && !state.dim && !state.italic && !state.underline && !state.inverse;
}

function span(state, text) {
  if (plain(state)) return document.createTextNode(text);
  const s = document.createElement('span');
  const cls = [];
  let fg = state.fg;
  let bg = state.bg;
  if (state.inverse) {
    [fg, bg] = [bg || {cls: 'default-bg'}, fg || {cls: 'default-fg'}];
  }
  if (fg) {
    if (fg.rgb) s.style.color = fg.rgb;
    else cls.push(`a-fg-${fg.cls}`);
  }
  if (bg) {
    if (bg.rgb) s.style.backgroundColor = bg.rgb;
    else cls.push(`a-bg-${bg.cls}`);
  }
  if (state.bold) cls.push('a-b');
  if (state.dim) cls.push('a-d');
  if (state.italic) cls.push('a-i');
  if (state.underline) cls.push('a-u');
  if (cls.length) s.className = cls.join(' ');
  s.textContent = text;
  return s;
}

// The text of a line without any escape sequence (for search and copying).
const ESC_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
export function stripAnsi(line) {
  return line.replace(ESC_RE, '');
}

function lastSegment(line) {
  let l = line.endsWith('\r') ? line.slice(0, -1) : line;
  const cr = l.lastIndexOf('\r');
  if (cr >= 0) l = l.slice(cr + 1);
  return l;
}

// Appends the nodes of one line to el; state carries over between lines.
const SPECIAL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

export function render(el, line, state) {
  const l = lastSegment(line);
  if (!SPECIAL_RE.test(l)) {
    if (l) el.appendChild(span(state, l));
    return;
  }
  let i = 0;
  let text = '';
  const flush = () => {
    if (text) {
      el.appendChild(span(state, text));
      text = '';
    }
  };
  while (i < l.length) {
    const ch = l.charCodeAt(i);
    if (ch === 0x1b) {
      const next = l[i + 1];
      if (next === '[') {
        let j = i + 2;
        while (j < l.length && l.charCodeAt(j) >= 0x30 && l.charCodeAt(j) <= 0x3f) j++;
        while (j < l.length && l.charCodeAt(j) >= 0x20 && l.charCodeAt(j) <= 0x2f) j++;
        if (j >= l.length) break;
        const final = l[j];
        if (final === 'm') {
          flush();
          const body = l.slice(i + 2, j);
          const params = body === '' ? [] : body.split(/[;:]/).map((x) => (x === '' ? 0 : parseInt(x, 10) || 0));
          sgr(state, params);
        }
        i = j + 1;
        continue;
      }
      if (next === ']') {
        // OSC: up to BEL or ST
        let j = i + 2;
        while (j < l.length && l.charCodeAt(j) !== 7 && !(l.charCodeAt(j) === 0x1b && l[j + 1] === '\\')) j++;
        i = j < l.length ? (l.charCodeAt(j) === 7 ? j + 1 : j + 2) : l.length;
        continue;
      }
      i += 2;
      continue;
    }
    if (ch < 0x20 && ch !== 9) {
      i++;
      continue;
    }
    text += l[i];
    i++;
  }
  flush();
}
