// dom.js: building the page without ever parsing data as HTML.
//
// h('a', {href: '#/runs/1', class: 'x'}, 'text', child) makes an element:
// strings become text nodes (textContent), never markup, so text from logs,
// commits and reasons is always shown as text. Attributes are set one by
// one; `on*` functions become listeners. svg() does the same in the SVG
// namespace. There is no innerHTML anywhere in the UI.

const SVG_NS = 'http://www.w3.org/2000/svg';

function add(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) add(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function attrs(el, a) {
  if (!a) return;
  for (const [k, v] of Object.entries(a)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected') {
      el[k] = !!v;
      if (v) el.setAttribute(k, '');
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function h(tag, a, ...children) {
  const el = document.createElement(tag);
  if (a && (typeof a !== 'object' || a instanceof Node || Array.isArray(a))) {
    children.unshift(a);
    a = null;
  }
  attrs(el, a);
  add(el, children);
  return el;
}

export function svg(tag, a, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (a && (typeof a !== 'object' || a instanceof Node || Array.isArray(a))) {
    children.unshift(a);
    a = null;
  }
  attrs(el, a);
  add(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  add(el, children);
  return el;
}

// ---- formatting ----

// The server's clock minus ours (from the Date header of replies), so that
// ages and countdowns are right when the two disagree by more than a moment.
let skewMs = 0;
export function setSkew(ms) {
  skewMs = Math.abs(ms) > 2000 ? ms : 0;
}
export function now() {
  return Date.now() + skewMs;
}

export function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function ago(ms) {
  if (!ms) return '—';
  const d = now() - ms;
  if (d < 5000) return 'just now';
  return `${duration(d).replace(/ \d+(s|m|h)$/, '')} ago`;
}

export function when(ms) {
  if (!ms) return '';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// <time> with the age as text and the exact time as its title.
export function timeEl(ms) {
  if (!ms) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: new Date(ms).toISOString(), title: when(ms), 'data-ms': ms}, ago(ms));
}

export function runDuration(started, finished) {
  if (!started) return null;
  return (finished || now()) - started;
}

export function shortSha(c) {
  return c ? c.slice(0, 12) : '';
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

// A state's badge: the class gives the colour, the text says it (colour is never the only cue).
export function badge(state, extra) {
  const s = String(state || 'unknown');
  return h('span', {class: `badge st-${s.replace(/[^a-z-]/g, '')}`, 'data-state': s}, extra ? `${s} ${extra}` : s);
}

export const ACTIVE_STATES = new Set(['queued', 'running', 'approval', 'deploying', 'baking', 'monitoring', 'paused']);

export function enc(s) {
  return encodeURIComponent(s);
}

// Refreshes every <time data-ms> on the page once in a while.
export function tickTimes(root) {
  for (const t of root.querySelectorAll('time[data-ms]')) {
    t.textContent = ago(Number(t.dataset.ms));
  }
}

// Runs fn at most once per `ms`, the last call winning.
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// A button that runs an async action, disabled while it runs; errors go to toast().
export function actionButton(label, action, a = {}) {
  const b = h('button', {type: 'button', ...a}, label);
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    try {
      await action(b);
    } catch (e) {
      toast(e.message || String(e), 'error');
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

let toastBox = null;
export function toast(msg, kind = 'info') {
  if (!toastBox) {
    toastBox = h('div', {class: 'toasts', role: 'status', 'aria-live': 'polite'});
    document.body.appendChild(toastBox);
  }
  const t = h('div', {class: `toast toast-${kind}`}, msg);
  toastBox.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A table's head; the columns of numbers are right-aligned like their cells.
const NUMERIC = new Set(['Exit', 'Duration', 'Took', 'Value', 'Passed', 'Size', 'Wave', 'Failed, then passed']);
export function thead(cols) {
  return h('thead', null, h('tr', null, cols.map((t) => h('th', {scope: 'col', class: NUMERIC.has(t) ? 'r' : null}, t))));
}
