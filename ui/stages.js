// stages.js: where each recent release is in the loop, and how long it spent
// in each stage, from what the API records: the change run of the same
// commit, the main (or tag) run that made the release, the release itself,
// its deployment into each environment (waiting, waves, bake), and the
// monitoring of the last environment. The flywheel view draws it; the
// metrics page charts the medians.
//
// The stages of the loop, in order:
//   change → main → release → each environment of `deploy:` → monitoring

import * as api from './api.js';
import {ACTIVE_STATES, enc, now} from './dom.js';

export const FIXED_BEFORE = [
  {id: 'change', label: 'change checks'},
  {id: 'main', label: 'main'},
  {id: 'release', label: 'release'},
];
export const MONITOR = {id: 'monitoring', label: 'monitoring'};

export function median(v) {
  const a = v.filter((x) => x !== null && x !== undefined && isFinite(x)).sort((x, y) => x - y);
  if (!a.length) return null;
  const m = Math.floor(a.length / 2);
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

// The environments in the order of the pipeline (from /pipeline), or else in
// the order releases went through them.
function envOrder(pipeline, deployments) {
  if (pipeline && pipeline.deploy && pipeline.deploy.length) return pipeline.deploy.map((d) => d.env);
  const first = new Map();
  for (const d of [...deployments].reverse()) {
    if (d.kind !== 'deploy') continue;
    const key = d.release;
    if (!first.has(key)) first.set(key, []);
    const list = first.get(key);
    if (!list.includes(d.env)) list.push(d.env);
  }
  let best = [];
  for (const list of first.values()) if (list.length > best.length) best = list;
  const all = [...new Set(deployments.map((d) => d.env))];
  return [...best, ...all.filter((e) => !best.includes(e))];
}

// Everything the wheel needs for a repository: {stages, releases, inflight, envs, pipeline}.
export async function loadLoop(repo, {limit = 8} = {}) {
  const n = enc(repo);
  const [rels, deps, runs, envsNow] = await Promise.all([
    api.get(`/api/v1/repos/${n}/releases?limit=${limit}`),
    api.getOptional(`/api/v1/repos/${n}/deployments?limit=500`),
    api.get(`/api/v1/runs?repo=${n}&limit=300`),
    api.getOptional(`/api/v1/repos/${n}/envs`).catch(() => null),
  ]);
  const releases = rels.releases || [];
  const deployments = (deps && deps.deployments) || [];
  const allRuns = runs.runs || [];
  const pipeline = releases.length ? await api.getOptional(`/api/v1/runs/${releases[0].run.id}/pipeline`).catch(() => null) : null;
  const envs = envOrder(pipeline, deployments);
  const envInfo = new Map(((pipeline && pipeline.deploy) || []).map((d) => [d.env, d]));
  const last = envs[envs.length - 1];
  // The releases the last environment's targets run now.
  const serving = new Set((((envsNow && envsNow.envs) || {})[last] || {targets: []}).targets.map((t) => t.release));
  const stages = [...FIXED_BEFORE, ...envs.map((e) => ({id: `env:${e}`, env: e, label: e})), MONITOR];

  // The deployment of each release into the last environment, with its steps, to split waves from monitoring.
  const details = new Map();
  const wanted = [];
  for (const r of releases) {
    const d = deployments.find((x) => x.kind === 'deploy' && x.release === r.version && x.env === last);
    if (d) wanted.push(d.id);
  }
  await Promise.all(wanted.map((id) => api.getOptional(`/api/v1/deployments/${id}`).then((d) => {
    if (d) details.set(id, d);
  }).catch(() => null)));

  const t = now();
  const out = releases.map((r) => {
    const run = allRuns.find((x) => x.id === r.run.id) || null;
    const change = allRuns.find((x) => x.kind === 'change' && x.commit === r.commit && x.finished_ms) || null;
    const times = {};
    const spans = {};
    if (change) {
      times.change = change.finished_ms - change.created_ms;
      spans.change = [change.created_ms, change.finished_ms];
    }
    if (run) {
      times.main = (run.finished_ms || t) - run.created_ms;
      spans.main = [run.created_ms, run.finished_ms || t];
      if (run.finished_ms) {
        times.release = Math.max(0, r.created_ms - run.finished_ms);
        spans.release = [run.finished_ms, r.created_ms];
      }
    }
    let where = {stage: 'release', progress: 1, status: 'released', text: 'released, not deployed yet'};
    for (const env of envs) {
      const ds = deployments.filter((x) => x.kind === 'deploy' && x.release === r.version && x.env === env);
      if (!ds.length) continue;
      const d = ds.find((x) => ACTIVE_STATES.has(x.state)) || ds.find((x) => x.state === 'succeeded') || ds[0];
      const info = envInfo.get(env);
      const nwaves = info ? info.waves.length : 0;
      let end = d.finished_ms || t;
      const det = details.get(d.id);
      if (env === last && det && det.steps && det.steps.length) {
        const wavesEnd = Math.max(...det.steps.filter((s) => s.finished_ms).map((s) => s.finished_ms), 0);
        const bake = info ? info.bake_ms : 0;
        const mon = info ? info.monitor_ms : 0;
        if (mon > 0 && wavesEnd && (d.state === 'monitoring' || d.finished_ms)) {
          const monStart = Math.min(end, wavesEnd + bake);
          times.monitoring = end - monStart;
          spans.monitoring = [monStart, end];
          end = monStart;
        }
      }
      times[`env:${env}`] = end - d.created_ms;
      spans[`env:${env}`] = [d.created_ms, end];
      const id = `env:${env}`;
      if (ACTIVE_STATES.has(d.state)) {
        const progress = d.state === 'monitoring' ? 1 : nwaves ? Math.min(1, (d.wave + (d.state === 'baking' ? 0.75 : 0.35)) / nwaves) : 0.5;
        where = d.state === 'monitoring' && env === last
          ? {stage: 'monitoring', progress: 0.5, status: 'active', text: `monitoring in ${env}`, deployment: d}
          : {stage: id, progress: d.state === 'queued' || d.state === 'approval' ? 0.05 : progress, status: d.state === 'paused' || d.state === 'approval' || d.state === 'queued' ? 'waiting' : 'active', text: `${d.state} in ${env}${d.reason ? `: ${d.reason}` : ''}`, deployment: d};
        break;
      }
      if (d.state === 'succeeded') {
        if (env !== last) where = {stage: id, progress: 1, status: 'done', text: `passed ${env}`, deployment: d};
        else if (serving.has(r.version)) where = {stage: 'monitoring', progress: 0.8, status: 'done', text: `serving in ${env}`, deployment: d};
        else where = {stage: 'monitoring', progress: 0.8, status: 'superseded', text: `was in ${env}, replaced since`, deployment: d};
        continue;
      }
      where = {stage: id, progress: nwaves ? Math.min(1, (d.wave + 0.5) / nwaves) : 0.5, status: d.state === 'superseded' ? 'superseded' : 'failed', text: `${d.state} in ${env}${d.reason ? `: ${d.reason}` : ''}`, deployment: d};
      break;
    }
    if (r.bad && where.status !== 'failed') where = {...where, status: 'failed', text: `${where.text}; marked bad: ${r.bad.reason}`};
    return {release: r, run, change, times, spans, where};
  });

  const inflight = allRuns.filter((x) => x.state === 'running' || x.state === 'queued').map((x) => ({
    run: x,
    stage: x.kind === 'change' ? 'change' : 'main',
    progress: x.started_ms ? 0.5 : 0.1,
  }));
  const medians = {};
  for (const s of stages) medians[s.id] = median(out.map((o) => o.times[s.id]));
  return {stages, releases: out, inflight, envs, envInfo, pipeline, medians, runs: allRuns, deployments};
}

// Failures by the stage that caught them, computed from runs and deployments
// (the fallback when the server has no /api/v1/metrics/caught).
export function caughtFrom(runs, deployments, envs) {
  const last = envs[envs.length - 1];
  const counts = [
    {stage: 'change checks', count: runs.filter((r) => r.kind === 'change' && r.state === 'failed').length},
    {stage: 'main', count: runs.filter((r) => (r.kind === 'main' || r.kind === 'tag') && r.state === 'failed').length},
  ];
  for (const env of envs) {
    const failed = deployments.filter((d) => d.kind === 'deploy' && d.env === env && ['failed', 'rejected'].includes(d.state));
    if (env === last) {
      const mon = failed.filter((d) => /during monitor/.test(d.reason || '')).length;
      counts.push({stage: `${env} waves`, count: failed.length - mon});
      counts.push({stage: `${env} monitoring`, count: mon});
    } else {
      counts.push({stage: env, count: failed.length});
    }
  }
  return counts;
}

// What /api/v1/metrics/stages or /caught answer, read leniently (their
// shape is young): a list of {stage|name, value|median|count|...}.
export function readList(j, valueKeys) {
  if (!j) return null;
  const list = Array.isArray(j) ? j : j.stages || j.caught || j.items || j.metrics || null;
  if (!Array.isArray(list)) return null;
  const out = [];
  for (const it of list) {
    if (!it || typeof it !== 'object') continue;
    const name = it.stage || it.name || it.label;
    let v = null;
    for (const k of valueKeys) {
      if (typeof it[k] === 'number') {
        v = it[k];
        break;
      }
    }
    if (name && v !== null) out.push({stage: String(name), value: v, raw: it});
  }
  return out.length ? out : null;
}
