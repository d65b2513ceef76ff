// charts.js: small SVG charts drawn here (no chart service, no library):
// bars over time, lines over time, horizontal bars. Every mark has a
// <title> with its exact value, and every chart a text alternative.

import {svg} from './dom.js';

const W = 640;
const H = 230;
const M = {top: 14, right: 14, bottom: 34, left: 58};

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(title, yMax, fmt, labels) {
  const root = svg('svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title});
  root.appendChild(svg('title', null, title));
  const ih = H - M.top - M.bottom;
  const grid = svg('g', {class: 'grid'});
  for (let i = 0; i <= 4; i++) {
    const y = M.top + ih - (ih * i) / 4;
    grid.appendChild(svg('line', {x1: M.left, x2: W - M.right, y1: y, y2: y}));
    grid.appendChild(svg('text', {x: M.left - 6, y: y + 4, 'text-anchor': 'end', class: 'tick'}, fmt((yMax * i) / 4)));
  }
  root.appendChild(grid);
  const iw = W - M.left - M.right;
  const step = labels.length ? iw / labels.length : iw;
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const xl = svg('g', {class: 'xlabels'});
  labels.forEach((l, i) => {
    if (i % every) return;
    xl.appendChild(svg('text', {x: M.left + step * (i + 0.5), y: H - M.bottom + 16, 'text-anchor': 'middle', class: 'tick'}, l));
  });
  root.appendChild(xl);
  return {root, ih, iw, step};
}

// data: [{label, value (null: no data), title}]
export function bars(data, {title, fmt = String, cls = ''} = {}) {
  const max = niceMax(Math.max(0, ...data.map((d) => d.value || 0)));
  const {root, ih, step} = frame(title, max, fmt, data.map((d) => d.label));
  const g = svg('g', {class: `bars ${cls}`});
  data.forEach((d, i) => {
    const bw = Math.max(2, step * 0.7);
    const x = M.left + step * i + (step - bw) / 2;
    if (d.value === null || d.value === undefined) {
      g.appendChild(svg('text', {x: x + bw / 2, y: M.top + ih - 4, 'text-anchor': 'middle', class: 'nodata'}, '·', svg('title', null, `${d.label}: no data`)));
      return;
    }
    const bh = (ih * d.value) / max;
    g.appendChild(svg('rect', {x, y: M.top + ih - bh, width: bw, height: Math.max(bh, d.value > 0 ? 1 : 0), rx: '2'},
      svg('title', null, d.title || `${d.label}: ${fmt(d.value)}`)));
  });
  root.appendChild(g);
  return root;
}

// series: [{name, cls, values: [number|null]}] over labels.
export function lines(labels, series, {title, fmt = String} = {}) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const max = niceMax(Math.max(0, ...all));
  const {root, ih, step} = frame(title, max, fmt, labels);
  for (const s of series) {
    const g = svg('g', {class: `series ${s.cls || ''}`});
    let d = '';
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const x = M.left + step * (i + 0.5);
      const y = M.top + ih - (ih * v) / max;
      d += `${d && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)} `;
      g.appendChild(svg('circle', {cx: x, cy: y, r: '3.5'}, svg('title', null, `${labels[i]}: ${s.name} ${fmt(v)}`)));
    });
    if (d) g.insertBefore(svg('path', {d, class: 'line'}), g.firstChild);
    root.appendChild(g);
  }
  if (series.length > 1) {
    const lg = svg('g', {class: 'chart-legend'});
    series.forEach((s, i) => {
      const x = M.left + 8 + i * 110;
      lg.appendChild(svg('g', {class: `series ${s.cls || ''}`}, svg('line', {x1: x, x2: x + 18, y1: M.top + 6, y2: M.top + 6, class: 'line'}),
        svg('text', {x: x + 24, y: M.top + 10, class: 'tick'}, s.name)));
    });
    root.appendChild(lg);
  }
  return root;
}

// Horizontal bars: data [{label, value, cls}], for stages and where defects were caught.
export function hbars(data, {title, fmt = String} = {}) {
  const rowH = 30;
  const left = 170;
  const width = W;
  const height = data.length * rowH + 12;
  const max = Math.max(1e-9, ...data.map((d) => d.value || 0));
  const root = svg('svg', {class: 'chart hchart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title});
  root.appendChild(svg('title', null, title));
  data.forEach((d, i) => {
    const y = 6 + i * rowH;
    const bw = d.value ? Math.max(2, ((width - left - 90) * d.value) / max) : 0;
    root.appendChild(svg('g', {class: `hbar ${d.cls || ''}`},
      svg('text', {x: left - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', class: 'hlabel'}, d.label),
      svg('rect', {x: left, y: y + 5, width: bw, height: rowH - 10, rx: '3'}, svg('title', null, `${d.label}: ${d.value === null ? 'no data' : fmt(d.value)}`)),
      svg('text', {x: left + bw + 6, y: y + rowH / 2 + 4, class: 'hvalue'}, d.value === null || d.value === undefined ? '—' : fmt(d.value))));
  });
  return root;
}
