// page-flywheel.js: the loop drawn as a wheel. The outer ring is the loop's
// stages, clockwise from the top (change checks, main, release, each
// environment with its waves, monitoring), each with the median time
// releases spent in it. Inside, one track per recent release, newest
// outside: a trail from the top to where the release is now, coloured by how
// it is doing, with the release's dot at its head. Runs in flight ride on the
// ring. The centre holds the four delivery measures of the last 30 days.
// Below, the time each release spent in each stage. Route: #/flywheel/REPO.

import * as api from './api.js';
import {debounce, duration, enc, h, replace, svg, timeEl} from './dom.js';
import {subscribe} from './events.js';
import {runHref} from './page-run.js';
import {loadLoop} from './stages.js';

const WIDTH = 1000;
const HEIGHT = 840;
const CX = WIDTH / 2;
const CY = HEIGHT / 2;
const R_OUT = 318;
const R_IN = 270;
const TRACK0 = 246;
const TRACK_GAP = 22;
const GAP_DEG = 1.6;
const START = -90;

function polar(r, deg) {
  const a = (deg * Math.PI) / 180;
  return [CX + r * Math.cos(a), CY + r * Math.sin(a)];
}

function fmt(p) {
  return `${p[0].toFixed(2)},${p[1].toFixed(2)}`;
}

function sector(r1, r2, a0, a1) {
  const large = a1 - a0 > 180 ? 1 : 0;
  return `M${fmt(polar(r2, a0))} A${r2},${r2} 0 ${large} 1 ${fmt(polar(r2, a1))} L${fmt(polar(r1, a1))} A${r1},${r1} 0 ${large} 0 ${fmt(polar(r1, a0))} Z`;
}

function arc(r, a0, a1) {
  if (a1 - a0 < 0.01) a1 = a0 + 0.01;
  const large = a1 - a0 > 180 ? 1 : 0;
  return `M${fmt(polar(r, a0))} A${r},${r} 0 ${large} 1 ${fmt(polar(r, a1))}`;
}

export function drawWheel(loop, repo, dora) {
  const {stages, releases, inflight, medians, envInfo} = loop;
  const per = 360 / stages.length;
  const angleOf = (stageId, progress) => {
    const i = stages.findIndex((s) => s.id === stageId);
    const k = i < 0 ? 0 : i;
    return START + k * per + GAP_DEG / 2 + Math.max(0, Math.min(1, progress)) * (per - GAP_DEG);
  };

  const root = svg('svg', {class: 'wheel', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': 'wheel-title wheel-desc'});
  root.appendChild(svg('title', {id: 'wheel-title'}, `The delivery loop of ${repo}`));
  const desc = releases.map((r) => `${r.release.version}: ${r.where.text}`).join('; ');
  root.appendChild(svg('desc', {id: 'wheel-desc'}, `Stages: ${stages.map((s) => s.label).join(', ')}. ${desc}`));
  root.appendChild(svg('defs', null,
    svg('marker', {id: 'wheel-arrow', viewBox: '0 0 10 10', refX: '5', refY: '5', markerWidth: '5', markerHeight: '5', orient: 'auto'},
      svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'wheel-arrowhead'}))));

  // The stages.
  const ring = svg('g', {class: 'stages'});
  stages.forEach((s, i) => {
    const a0 = START + i * per + GAP_DEG / 2;
    const a1 = START + (i + 1) * per - GAP_DEG / 2;
    const g = svg('g', {class: `stage stage-${i % 8}`, 'data-stage': s.id});
    g.appendChild(svg('path', {d: sector(R_IN, R_OUT, a0, a1), class: 'stage-arc'}, svg('title', null, `${s.label}: median ${duration(medians[s.id])}`)));
    // The waves of an environment: ticks dividing its arc.
    const info = s.env ? envInfo.get(s.env) : null;
    if (info && info.waves.length > 1) {
      for (let w = 1; w < info.waves.length; w++) {
        const a = a0 + ((a1 - a0) * w) / info.waves.length;
        g.appendChild(svg('path', {d: `M${fmt(polar(R_IN + 6, a))} L${fmt(polar(R_OUT - 6, a))}`, class: 'wave-tick'}));
      }
      info.waves.forEach((targets, w) => {
        const a = a0 + ((a1 - a0) * (w + 0.5)) / info.waves.length;
        const p = polar((R_IN + R_OUT) / 2, a);
        g.appendChild(svg('text', {x: p[0], y: p[1], class: 'wave-label', 'text-anchor': 'middle', 'dominant-baseline': 'central'}, `${w + 1}`,
          svg('title', null, `wave ${w + 1}: ${targets.join(', ')}`)));
      });
    }
    // The chevron that shows which way the loop turns.
    g.appendChild(svg('path', {d: arc((R_IN + R_OUT) / 2, a1 - 3, a1 - 0.5), class: 'flow', 'marker-end': 'url(#wheel-arrow)'}));
    // The label and the median time, outside the ring.
    const mid = (a0 + a1) / 2;
    const lp = polar(R_OUT + 26, mid);
    const cos = Math.cos((mid * Math.PI) / 180);
    const anchor = Math.abs(cos) < 0.25 ? 'middle' : cos > 0 ? 'start' : 'end';
    g.appendChild(svg('text', {x: lp[0], y: lp[1], class: 'stage-label', 'text-anchor': anchor}, s.label));
    g.appendChild(svg('text', {x: lp[0], y: lp[1] + 19, class: 'stage-time', 'text-anchor': anchor}, medians[s.id] === null ? '—' : `median ${duration(medians[s.id])}`));
    ring.appendChild(g);
  });
  root.appendChild(ring);

  // The releases, newest on the outer track.
  const tracks = svg('g', {class: 'tracks'});
  releases.slice(0, 8).forEach((r, i) => {
    const rad = TRACK0 - i * TRACK_GAP;
    const end = angleOf(r.where.stage, r.where.progress);
    const g = svg('g', {class: `release rs-${r.where.status}`, 'data-release': r.release.version, 'data-stage': r.where.stage, 'data-status': r.where.status});
    g.appendChild(svg('circle', {cx: CX, cy: CY, r: rad, class: 'track'}));
    g.appendChild(svg('path', {d: arc(rad, START + 0.5, end), class: 'trail'}));
    const p = polar(rad, end);
    const a = svg('a', {href: `#/releases/${enc(repo)}/${enc(r.release.version)}`, 'aria-label': `${r.release.version}: ${r.where.text}`});
    a.appendChild(svg('circle', {cx: p[0], cy: p[1], r: '8', class: 'dot'}));
    a.appendChild(svg('title', null, `${r.release.version}: ${r.where.text}`));
    const lp = polar(rad, end + 3.2);
    a.appendChild(svg('text', {x: lp[0], y: lp[1], class: 'release-label', 'dominant-baseline': 'central'}, r.release.version));
    g.appendChild(a);
    tracks.appendChild(g);
  });
  root.appendChild(tracks);

  // Runs in flight, on the ring.
  const flying = svg('g', {class: 'inflight'});
  const byStage = {};
  for (const f of inflight.slice(0, 12)) {
    const k = (byStage[f.stage] = (byStage[f.stage] || 0) + 1);
    const ang = angleOf(f.stage, Math.min(0.9, 0.15 * k));
    const p = polar((R_IN + R_OUT) / 2, ang);
    const a = svg('a', {href: runHref(f.run.id), 'aria-label': `run ${f.run.number} (${f.run.kind}) ${f.run.state}`},
      svg('circle', {cx: p[0], cy: p[1], r: '6', class: `run-dot st-${f.run.state}`}),
      svg('title', null, `#${f.run.number} ${f.run.kind} ${f.run.branch || f.run.ref}: ${f.run.state}`));
    flying.appendChild(a);
  }
  root.appendChild(flying);

  // The centre: the delivery measures.
  const m = dora && dora.metrics;
  const first = (k) => (m && m[k] && m[k][0]) || null;
  const df = first('deployment_frequency');
  const lt = first('lead_time_for_changes');
  const cfr = first('change_failure_rate');
  const ttr = first('time_to_restore_service');
  const centre = svg('g', {class: 'centre'});
  const facts = [
    ['deployments', df ? String(df.value) : '—', '30 days'],
    ['lead time', lt && lt.value !== null ? duration(lt.value * 1000) : '—', 'median'],
    ['failure rate', cfr && cfr.value !== null ? `${Math.round(cfr.value * 100)}%` : '—', cfr ? `${cfr.failed || 0} of ${cfr.deployments || 0}` : ''],
    ['time to restore', ttr && ttr.value !== null ? duration(ttr.value * 1000) : '—', 'median'],
  ];
  centre.appendChild(svg('text', {x: CX, y: CY - 62, class: 'centre-repo', 'text-anchor': 'middle'}, repo));
  facts.forEach(([label, value, sub], i) => {
    const x = CX + (i % 2 ? 78 : -78);
    const y = CY - 10 + Math.floor(i / 2) * 64;
    centre.appendChild(svg('text', {x, y, class: 'centre-value', 'text-anchor': 'middle'}, value));
    centre.appendChild(svg('text', {x, y: y + 17, class: 'centre-label', 'text-anchor': 'middle'}, label));
    if (sub) centre.appendChild(svg('text', {x, y: y + 31, class: 'centre-sub', 'text-anchor': 'middle'}, sub));
  });
  root.appendChild(centre);
  return root;
}

function stageTable(loop, repo) {
  const {stages, releases, medians} = loop;
  const max = Math.max(1, ...releases.flatMap((r) => stages.map((s) => r.times[s.id] || 0)));
  const cell = (v) => {
    if (v === undefined || v === null) return h('td', {class: 'num muted'}, '—');
    const bar = h('span', {class: 'bar'});
    bar.style.width = `${Math.max(2, Math.round((v / max) * 100))}%`;
    return h('td', {class: 'num'}, h('span', {class: 'bar-box'}, bar), duration(v));
  };
  return h('table', {class: 'stage-table'},
    h('caption', null, 'Time each release spent in each stage (waiting included)'),
    h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Release'), stages.map((s) => h('th', {scope: 'col'}, s.label)), h('th', {scope: 'col'}, 'Now'))),
    h('tbody', null, releases.map((r) => h('tr', {'data-release': r.release.version},
      h('th', {scope: 'row'}, h('a', {href: `#/releases/${enc(repo)}/${enc(r.release.version)}`}, r.release.version), ' ', timeEl(r.release.created_ms)),
      stages.map((s) => cell(r.times[s.id])),
      h('td', {class: `where rs-${r.where.status}`}, r.where.text)))),
    h('tfoot', null, h('tr', null, h('th', {scope: 'row'}, 'median'), stages.map((s) => cell(medians[s.id])), h('td'))));
}

export function mount(root, params) {
  const repo = params.repo;
  let gone = false;
  const box = h('div', {class: 'wheel-box'}, h('p', {class: 'muted'}, 'Loading the loop…'));
  const table = h('div', {class: 'table-box'});
  const legend = h('ul', {class: 'legend', 'aria-label': 'Legend'},
    [['active', 'moving now'], ['waiting', 'waiting (queue, approval, window, stopped line)'], ['done', 'passed / serving'], ['failed', 'failed or marked bad'], ['superseded', 'superseded by a newer release'], ['released', 'released, not deployed']]
      .map(([k, t]) => h('li', {class: `rs-${k}`}, h('span', {class: 'swatch'}), t)));
  replace(root, h('div', {class: 'title-row'}, h('h1', null, repo ? `The loop of ${repo}` : 'The loop')), h('div', {class: 'wheel-layout'}, box, legend), table);
  if (!repo) {
    replace(box, h('p', {class: 'muted'}, 'No repository yet.'));
    return {unmount() {}};
  }

  async function load() {
    let loop;
    let dora = null;
    try {
      [loop, dora] = await Promise.all([
        loadLoop(repo),
        api.getOptional(`/api/v1/metrics/dora?repo=${enc(repo)}&interval=all`).catch(() => null),
      ]);
    } catch (e) {
      replace(box, h('div', {class: 'error-box'}, e.message));
      return;
    }
    if (gone) return;
    replace(box, drawWheel(loop, repo, dora));
    replace(table, loop.releases.length ? stageTable(loop, repo) : h('p', {class: 'muted'}, 'No release yet: a main run that passes with a release section makes one.'));
  }

  const reload = debounce(load, 800);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.measurement) return;
    if (['run', 'deployment', 'line', 'reset'].includes(type)) reload();
  });
  load();
  return {
    unmount() {
      gone = true;
      unsubscribe();
    },
  };
}
