// page-envs.js: a repository's environments (#/envs/REPO): what runs on
// each target, the deployment in progress with its waves, the checks of the
// current wave with their live measurements and the bake countdown, approve /
// reject / rollback, and the history. One deployment in full:
// #/deployments/ID (its steps with their output, every measurement).

import * as api from './api.js';
import {render, newState} from './ansi.js';
import {actionButton, ACTIVE_STATES, badge, debounce, duration, enc, h, now, replace, svg, thead, timeEl, toast} from './dom.js';
import {subscribe} from './events.js';
import {lineControl} from './page-home.js';

// When a live viewer saw each deployment enter its state: {id: {state, at}}.
const seenState = new Map();
subscribe((type, d) => {
  if (type !== 'deployment' || d.measurement) return;
  seenState.set(d.deployment, {state: d.state, wave: d.wave, at: d.time_ms || now()});
});

function sparkline(values) {
  const v = values.filter((x) => typeof x === 'number' && isFinite(x));
  if (v.length < 2) return null;
  const W = 90;
  const H = 22;
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const span = hi - lo || 1;
  const pts = v.map((x, i) => `${((i / (v.length - 1)) * (W - 2) + 1).toFixed(1)},${(H - 2 - ((x - lo) / span) * (H - 4)).toFixed(1)}`).join(' ');
  return svg('svg', {class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `values from ${lo} to ${hi}`},
    svg('polyline', {points: pts, class: 'spark-line'}));
}

function fmtValue(v) {
  if (v === null || v === undefined) return '—';
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 1000) / 1000) : v.toPrecision(4);
}

// The period of checks running now, and how long it lasts: {phase, total_ms, start_ms}.
function period(dep, info) {
  if (dep.state !== 'baking' && dep.state !== 'monitoring') return null;
  const m = /(?:checks for|keep running for) (\d+)s/.exec(dep.reason || '');
  const total = m ? Number(m[1]) * 1000 : info ? (dep.state === 'baking' ? info.bake_ms : info.monitor_ms) : 0;
  if (!total) return null;
  const seen = seenState.get(dep.id);
  let start = seen && seen.state === dep.state && seen.wave === dep.wave ? seen.at : 0;
  if (!start) {
    const ends = (dep.steps || []).filter((s) => s.wave <= dep.wave && s.finished_ms).map((s) => s.finished_ms);
    start = ends.length ? Math.max(...ends) : dep.started_ms;
  }
  if (dep.state === 'monitoring' && !(seen && seen.state === 'monitoring')) {
    const bake = info ? info.bake_ms : 0;
    const ends = (dep.steps || []).filter((s) => s.finished_ms).map((s) => s.finished_ms);
    if (ends.length) start = Math.max(...ends) + bake;
  }
  return {phase: dep.state === 'baking' ? 'bake' : 'monitor', total, start};
}

// A deployment in progress or done: waves, countdown, checks, buttons.
// info: the environment in the pipeline (waves, checks, bake_ms), or null.
export function deploymentPanel(dep, info, onChange, opts = {}) {
  const el = h('section', {class: `deployment-panel st-border-${dep.state}`, 'data-deployment': dep.id, 'aria-label': `Deployment ${dep.id}`});
  const measurements = [...(dep.measurements || [])];
  const countdown = h('div', {class: 'countdown', role: 'timer', 'aria-live': 'off'});
  const checksBox = h('div', {class: 'checks'});
  let timer = null;

  const actions = h('div', {class: 'actions'});
  const deployer = api.can('deployer');
  if (deployer && (dep.state === 'approval' || dep.state === 'paused')) {
    const reason = h('input', {type: 'text', placeholder: 'Note or reason', 'aria-label': 'Reason', maxlength: '1000'});
    actions.appendChild(reason);
    actions.appendChild(actionButton('Approve', async () => {
      await api.post(`/api/v1/deployments/${dep.id}/approve`, {reason: reason.value.trim()});
      toast(`deployment ${dep.id} approved`);
      onChange();
    }, {class: 'primary small', 'data-approve': dep.id}));
    actions.appendChild(actionButton('Reject', async () => {
      if (!reason.value.trim()) {
        reason.focus();
        throw new Error('Say why you reject it.');
      }
      await api.post(`/api/v1/deployments/${dep.id}/reject`, {reason: reason.value.trim()});
      toast(`deployment ${dep.id} rejected`);
      onChange();
    }, {class: 'danger small', 'data-reject': dep.id}));
  }
  if (deployer && opts.rollback !== false && dep.kind === 'deploy' && (ACTIVE_STATES.has(dep.state) || dep.state === 'succeeded')) {
    actions.appendChild(actionButton('Roll back', async () => {
      if (!window.confirm(`Put ${dep.env} back on its last good release? A deployment running there is cancelled.`)) return;
      const r = await api.post(`/api/v1/repos/${enc(dep.repo)}/rollback`, {env: dep.env});
      toast(`rollback ${r.id} queued`);
      onChange();
    }, {class: 'danger small', 'data-rollback': dep.env}));
  }

  // Waves: each wave's targets with the state of their step.
  const waves = h('ol', {class: 'waves', 'aria-label': 'Waves'});
  const planned = info ? info.waves : [];
  const nw = Math.max(planned.length, ...(dep.steps || []).map((s) => s.wave + 1), 0);
  for (let w = 0; w < nw; w++) {
    const targets = planned[w] || [...new Set((dep.steps || []).filter((s) => s.wave === w).map((s) => s.target))];
    const cls = w < dep.wave || (dep.state === 'succeeded' || dep.state === 'monitoring') ? 'done' : w === dep.wave && ACTIVE_STATES.has(dep.state) ? 'current' : w === dep.wave && dep.state === 'failed' ? 'failed' : 'todo';
    waves.appendChild(h('li', {class: `wave ${cls}`, 'aria-current': cls === 'current' ? 'step' : null},
      h('span', {class: 'wave-name'}, `wave ${w + 1}`),
      targets.map((t) => {
        const steps = (dep.steps || []).filter((s) => s.wave === w && s.target === t);
        const st = steps.length ? steps[steps.length - 1].state : 'planned';
        return h('span', {class: `chip st-${st}`, title: `${t}: ${st}`}, t);
      })));
  }

  function drawChecks() {
    const phase = dep.state === 'monitoring' ? 'monitor' : 'bake';
    const cur = measurements.filter((m) => (m.wave === undefined || m.wave === dep.wave) && (!m.phase || m.phase === phase));
    const keys = new Map();
    for (const m of cur) {
      const k = `${m.check}\u0000${m.target}`;
      if (!keys.has(k)) keys.set(k, []);
      keys.get(k).push(m);
    }
    for (const c of (info && info.checks) || []) {
      if (![...keys.keys()].some((k) => k.startsWith(`${c}\u0000`))) keys.set(`${c}\u0000`, []);
    }
    if (!keys.size) {
      replace(checksBox, h('p', {class: 'muted'}, ACTIVE_STATES.has(dep.state) ? 'No measurement in this wave yet.' : 'No check measured in the last wave.'));
      return;
    }
    replace(checksBox, h('table', {class: 'checks-table'},
      h('caption', null, `Checks of wave ${dep.wave + 1}${dep.state === 'monitoring' ? ' (monitoring)' : ''}`),
      thead(['Check', 'Target', 'Latest', 'Value', 'Passed', 'Trend', 'Message']),
      h('tbody', null, [...keys.entries()].map(([k, ms]) => {
        const [check, target] = k.split('\u0000');
        const last = ms[ms.length - 1];
        const pass = ms.filter((m) => m.outcome === 'pass').length;
        return h('tr', {'data-check': check, 'data-target': target},
          h('td', null, check), h('td', null, target || '—'),
          h('td', null, last ? badge(last.outcome === 'no data' ? 'nodata' : last.outcome) : h('span', {class: 'muted'}, 'waiting')),
          h('td', {class: 'num'}, last ? fmtValue(last.value) : '—'),
          h('td', {class: 'num'}, `${pass}/${ms.length}`),
          h('td', null, sparkline(ms.map((m) => m.value))),
          h('td', {class: 'reason'}, last ? last.message : ''));
      }))));
  }

  function tick() {
    const p = period(dep, info);
    if (!p) {
      replace(countdown);
      return;
    }
    const left = Math.max(0, p.start + p.total - now());
    const bar = h('span', {class: 'progress-fill'});
    bar.style.width = `${Math.min(100, Math.round(((p.total - left) / p.total) * 100))}%`;
    replace(countdown,
      h('span', {class: 'countdown-text'}, `${p.phase === 'bake' ? 'Bake' : 'Monitoring'}: ${left > 0 ? `${duration(left)} left` : 'ending'} of ${duration(p.total)}`),
      h('span', {class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(((p.total - left) / p.total) * 100))}, bar));
  }

  replace(el,
    h('div', {class: 'title-row'},
      h('h3', null, h('a', {href: `#/deployments/${dep.id}`}, `#${dep.id}`), ' ', dep.kind === 'rollback' ? 'rollback to ' : '',
        dep.release ? h('a', {href: `#/releases/${enc(dep.repo)}/${enc(dep.release)}`}, dep.release) : '?', ` → ${dep.env}`),
      badge(dep.state), actions),
    h('p', {class: 'reason'}, dep.reason || ''),
    h('p', {class: 'muted small'}, 'created ', timeEl(dep.created_ms), dep.actor ? ` by ${dep.actor}` : '',
      dep.approved_by ? `, approved by ${dep.approved_by}${dep.approval_note ? ` (${dep.approval_note})` : ''}` : '',
      dep.finished_ms ? `, took ${duration(dep.finished_ms - dep.created_ms)}` : ''),
    nw ? waves : null,
    countdown,
    checksBox);
  drawChecks();
  tick();
  if (ACTIVE_STATES.has(dep.state)) timer = setInterval(tick, 500);

  return {
    el,
    // A live measurement of this deployment.
    measure(d) {
      const m = d.measurement;
      measurements.push({wave: d.wave, phase: d.state === 'monitoring' ? 'monitor' : 'bake', check: m.check, target: m.target, outcome: m.outcome, value: m.value === undefined ? null : m.value, message: m.message, time_ms: d.time_ms});
      drawChecks();
    },
    close() {
      clearInterval(timer);
    },
  };
}

async function pipelineEnvs(repo) {
  const rels = await api.getOptional(`/api/v1/repos/${enc(repo)}/releases?limit=1`).catch(() => null);
  const r = rels && rels.releases && rels.releases[0];
  if (!r) return null;
  return api.getOptional(`/api/v1/runs/${r.run.id}/pipeline`).catch(() => null);
}

function historyTable(list) {
  if (!list.length) return h('p', {class: 'muted'}, 'No deployment yet.');
  return h('table', {class: 'deployments compact'},
    thead(['#', 'Release', 'Kind', 'State', 'Reason', 'Created', 'Took']),
    h('tbody', null, list.map((d) => h('tr', {'data-deployment': d.id},
      h('td', null, h('a', {href: `#/deployments/${d.id}`}, `#${d.id}`)),
      h('td', null, d.release || '?'), h('td', null, d.kind), h('td', null, badge(d.state)),
      h('td', {class: 'reason'}, d.reason), h('td', null, timeEl(d.created_ms)),
      h('td', {class: 'num'}, d.finished_ms ? duration(d.finished_ms - d.created_ms) : '—')))));
}

export function mount(root, params, ctx) {
  const repo = params.repo;
  let gone = false;
  let panels = [];
  const lineBox = h('div');
  const body = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  replace(root, h('div', {class: 'title-row'}, h('h1', null, repo ? `Environments of ${repo}` : 'Environments'), lineBox), body);
  if (!repo) {
    replace(body, h('p', {class: 'muted'}, 'No repository yet.'));
    return {unmount() {}};
  }
  const n = enc(repo);

  async function load() {
    let envs;
    let deps;
    let line;
    let pipeline;
    try {
      [envs, deps, line, pipeline] = await Promise.all([
        api.get(`/api/v1/repos/${n}/envs`),
        api.get(`/api/v1/repos/${n}/deployments?limit=200`),
        api.getOptional(`/api/v1/repos/${n}/line`),
        pipelineEnvs(repo),
      ]);
    } catch (e) {
      replace(body, h('div', {class: 'error-box'}, e.status === 404 ? 'This server has no deployments.' : e.message));
      return;
    }
    if (gone) return;
    if (line) ctx.lines.set(repo, line);
    replace(lineBox, lineControl(repo, line, () => {
      ctx.refreshLines();
      load();
    }));
    const deployments = deps.deployments || [];
    const info = new Map(((pipeline && pipeline.deploy) || []).map((d) => [d.env, d]));
    const names = [...info.keys()];
    for (const e of Object.keys(envs.envs || {})) if (!names.includes(e)) names.push(e);
    for (const d of deployments) if (!names.includes(d.env)) names.push(d.env);
    const active = deployments.filter((d) => ACTIVE_STATES.has(d.state));
    const details = await Promise.all(active.map((d) => api.getOptional(`/api/v1/deployments/${d.id}`).catch(() => null)));
    if (gone) return;
    for (const p of panels) p.close();
    panels = [];
    if (!names.length) {
      replace(body, h('p', {class: 'muted'}, 'No environment yet: a release of a pipeline with a deploy section goes to its first environment by itself.'));
      return;
    }
    replace(body, names.map((env) => {
      const targets = (envs.envs && envs.envs[env] && envs.envs[env].targets) || [];
      const inf = info.get(env);
      const act = details.filter((d) => d && d.env === env);
      const panelEls = act.map((d) => {
        const p = deploymentPanel(d, inf, load, {rollback: false});
        panels.push(p);
        return p.el;
      });
      return h('section', {class: 'card env-card', 'data-env': env, 'aria-label': env},
        h('div', {class: 'card-head'}, h('h2', null, env),
          inf && inf.approval ? h('span', {class: 'chip'}, 'needs approval') : null,
          inf && !inf.auto_promote ? h('span', {class: 'chip'}, 'manual promotion') : null,
          h('span', {class: 'spacer'}),
          !api.can('deployer') ? null : actionButton('Roll back', async () => {
            if (!window.confirm(`Put ${env} back on its last good release?`)) return;
            const r = await api.post(`/api/v1/repos/${n}/rollback`, {env});
            toast(`rollback ${r.id} queued`);
            load();
          }, {class: 'small danger', 'data-rollback-env': env})),
        targets.length ? h('table', {class: 'targets compact'},
          thead(['Target', 'Runs', 'Last good', 'Since']),
          h('tbody', null, targets.map((t) => h('tr', null,
            h('td', null, t.target),
            h('td', null, t.release ? h('a', {href: `#/releases/${n}/${enc(t.release)}`}, t.release) : '—'),
            h('td', null, t.good_release || '—'),
            h('td', null, timeEl(t.updated_ms)))))) : h('p', {class: 'muted'}, 'Nothing runs here yet.'),
        panelEls.length ? h('div', {class: 'active'}, h('h3', {class: 'sub'}, 'In progress'), panelEls) : null,
        h('details', {class: 'history', open: !panelEls.length}, h('summary', null, 'History'),
          historyTable(deployments.filter((d) => d.env === env).slice(0, 15))));
    }));
  }

  const reload = debounce(load, 300);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.repo === repo && d.measurement) {
      const p = panels.find((x) => Number(x.el.dataset.deployment) === d.deployment);
      if (p) p.measure(d);
      else reload();
      return;
    }
    if ((type === 'deployment' && d.repo === repo) || (type === 'line' && d.repo === repo) || type === 'reset' || (type === 'run' && d.state === 'released')) reload();
  });
  load();
  return {
    unmount() {
      gone = true;
      unsubscribe();
      for (const p of panels) p.close();
    },
  };
}

export function mountDeployment(root, params) {
  const id = Number(params.id);
  let gone = false;
  let panel = null;
  const body = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  replace(root, body);

  function stepLog(step, box) {
    return actionButton('Output', async () => {
      if (box.firstChild) {
        replace(box);
        return;
      }
      const text = await api.getText(`/api/v1/deployments/${id}/steps/${step.id}/log`);
      const pre = h('pre', {class: 'step-log'});
      const st = newState();
      for (const line of text.split('\n')) {
        const l = h('div');
        render(l, line, st);
        pre.appendChild(l);
      }
      replace(box, pre);
    }, {class: 'small'});
  }

  async function load() {
    let dep;
    try {
      dep = await api.get(`/api/v1/deployments/${id}`);
    } catch (e) {
      replace(body, h('div', {class: 'error-box'}, e.message));
      return;
    }
    const pipeline = await pipelineEnvs(dep.repo);
    if (gone) return;
    const info = pipeline && pipeline.deploy ? pipeline.deploy.find((d) => d.env === dep.env) : null;
    if (panel) panel.close();
    panel = deploymentPanel(dep, info, load);
    const steps = dep.steps || [];
    replace(body,
      h('p', null, h('a', {href: `#/envs/${enc(dep.repo)}`}, `← environments of ${dep.repo}`)),
      panel.el,
      h('h2', null, 'Steps'),
      steps.length ? h('table', {class: 'steps'},
        thead(['Target', 'Wave', 'Release', 'From', 'State', 'Exit', 'Reason', 'Started', 'Took', '']),
        h('tbody', null, steps.flatMap((s) => {
          const box = h('div');
          return [h('tr', null,
            h('td', null, s.target), h('td', {class: 'num'}, String(s.wave + 1)), h('td', null, s.release || '—'),
            h('td', null, s.previous_release || '—'), h('td', null, badge(s.state)), h('td', {class: 'num'}, s.finished_ms ? String(s.exit_code) : '—'),
            h('td', {class: 'reason'}, s.reason), h('td', null, timeEl(s.started_ms)),
            h('td', {class: 'num'}, s.finished_ms && s.started_ms ? duration(s.finished_ms - s.started_ms) : '—'),
            h('td', null, stepLog(s, box))),
          h('tr', {class: 'log-row'}, h('td', {colspan: '10'}, box))];
        }))) : h('p', {class: 'muted'}, 'No command has run yet.'),
      h('h2', null, `Measurements (latest ${(dep.measurements || []).length})`),
      (dep.measurements || []).length ? h('table', {class: 'measurements compact'},
        thead(['Time', 'Wave', 'Phase', 'Check', 'Target', 'Outcome', 'Value', 'Message']),
        h('tbody', null, [...dep.measurements].reverse().map((m) => h('tr', null,
          h('td', null, timeEl(m.time_ms)), h('td', {class: 'num'}, String(m.wave + 1)), h('td', null, m.phase), h('td', null, m.check),
          h('td', null, m.target), h('td', null, badge(m.outcome === 'no data' ? 'nodata' : m.outcome)), h('td', {class: 'num'}, fmtValue(m.value)),
          h('td', {class: 'reason'}, m.message))))) : h('p', {class: 'muted'}, 'None.'));
  }

  const reload = debounce(load, 300);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.deployment === id) {
      if (d.measurement && panel) panel.measure(d);
      else reload();
    } else if (type === 'reset') {
      reload();
    }
  });
  load();
  return {
    unmount() {
      gone = true;
      unsubscribe();
      if (panel) panel.close();
    },
  };
}
