// dag.js: a run's job graph as SVG. Jobs are laid out in columns by depth
// (a job sits one column right of the deepest job it needs), ordered in each
// column to keep edges short, coloured by state (with an icon and the state
// in words, so colour is not the only cue), and each is a button: a click,
// Enter or Space selects it.

import {duration, runDuration, svg} from './dom.js';

const W = 184;
const H = 48;
const GAP_X = 56;
const GAP_Y = 16;
const PAD = 8;

const ICON = {
  passed: '✓',
  failed: '✗',
  'timed-out': '⏱',
  running: '●',
  queued: '○',
  skipped: '⤼',
  cancelled: '⊘',
};

function layout(jobs) {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const level = new Map();
  const visiting = new Set();
  function lv(name) {
    if (level.has(name)) return level.get(name);
    if (visiting.has(name)) return 0; // a cycle cannot happen (the parser refuses one); be safe
    visiting.add(name);
    const j = byName.get(name);
    let l = 0;
    for (const n of (j && j.needs) || []) if (byName.has(n)) l = Math.max(l, lv(n) + 1);
    visiting.delete(name);
    level.set(name, l);
    return l;
  }
  for (const j of jobs) lv(j.name);
  const cols = [];
  for (const j of jobs) {
    const l = level.get(j.name);
    (cols[l] = cols[l] || []).push(j);
  }
  // Order each column by the mean row of what its jobs need (barycentre).
  const row = new Map();
  cols.forEach((col, ci) => {
    if (ci > 0) {
      const key = (j) => {
        const rs = (j.needs || []).filter((n) => row.has(n)).map((n) => row.get(n));
        return rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : 1e9;
      };
      col.sort((a, b) => key(a) - key(b));
    }
    col.forEach((j, ri) => row.set(j.name, ri));
  });
  const maxRows = Math.max(1, ...cols.map((c) => c.length));
  const pos = new Map();
  cols.forEach((col, ci) => {
    const offset = ((maxRows - col.length) * (H + GAP_Y)) / 2;
    col.forEach((j, ri) => pos.set(j.name, {x: PAD + ci * (W + GAP_X), y: PAD + offset + ri * (H + GAP_Y)}));
  });
  return {pos, width: PAD * 2 + cols.length * W + (cols.length - 1) * GAP_X, height: PAD * 2 + maxRows * H + (maxRows - 1) * GAP_Y};
}

function clip(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

// jobs: [{name, state, needs, attempts, started_ms, finished_ms}]; selected: a name.
export function dag(jobs, selected, onSelect) {
  const {pos, width, height} = layout(jobs);
  const root = svg('svg', {
    class: 'dag',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'group',
    'aria-label': 'Job graph',
  });
  const edges = svg('g', {class: 'edges'});
  root.appendChild(edges);
  const byName = new Map(jobs.map((j) => [j.name, j]));
  for (const j of jobs) {
    const to = pos.get(j.name);
    for (const n of j.needs || []) {
      const from = pos.get(n);
      if (!from) continue;
      const x1 = from.x + W;
      const y1 = from.y + H / 2;
      const x2 = to.x;
      const y2 = to.y + H / 2;
      const mx = (x1 + x2) / 2;
      const src = byName.get(n);
      edges.appendChild(svg('path', {
        d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 4},${y2}`,
        class: `edge st-edge-${src ? src.state : 'queued'}`,
        'data-from': n,
        'data-to': j.name,
        'marker-end': 'url(#dag-arrow)',
      }));
    }
  }
  root.insertBefore(svg('defs', null,
    svg('marker', {id: 'dag-arrow', viewBox: '0 0 8 8', refX: '7', refY: '4', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse'},
      svg('path', {d: 'M0,0 L8,4 L0,8 z', class: 'arrow'}))), edges);

  for (const j of jobs) {
    const p = pos.get(j.name);
    const d = runDuration(j.started_ms, j.finished_ms);
    const sub = [j.state, d !== null && j.state !== 'skipped' ? duration(d) : null, j.attempts > 1 ? `${j.attempts} attempts` : null]
      .filter(Boolean).join(' · ');
    const g = svg('g', {
      class: `node st-${j.state}${j.name === selected ? ' selected' : ''}`,
      transform: `translate(${p.x},${p.y})`,
      tabindex: '0',
      role: 'button',
      'data-job': j.name,
      'data-state': j.state,
      'aria-pressed': j.name === selected ? 'true' : 'false',
      'aria-label': `${j.name}: ${sub}`,
    },
    svg('title', null, `${j.name}: ${sub}${j.reason ? ` (${j.reason})` : ''}`),
    svg('rect', {width: W, height: H, rx: '8', class: 'box'}),
    svg('rect', {width: '6', height: H, rx: '3', class: 'stripe'}),
    svg('text', {x: '16', y: '20', class: 'icon'}, ICON[j.state] || '?'),
    svg('text', {x: '34', y: '20', class: 'name'}, clip(j.name, 20)),
    svg('text', {x: '34', y: '37', class: 'sub'}, clip(sub, 26)));
    const pick = () => onSelect(j.name);
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        pick();
      }
    });
    root.appendChild(g);
  }
  return root;
}
