// page-run.js: one run. Its header and buttons (cancel, retry, retry the
// failed jobs), the job graph, the table of jobs with their attempts, and the
// live log of the selected job. Route: #/runs/ID[/JOB[/ATTEMPT[/LN]]].

import * as api from './api.js';
import {actionButton, ACTIVE_STATES, badge, debounce, duration, enc, h, replace, runDuration, shortSha, thead, timeEl, toast} from './dom.js';
import {dag} from './dag.js';
import {subscribe} from './events.js';
import {logView} from './log.js';

export function runHref(id, job, attempt, line) {
  let s = `#/runs/${id}`;
  if (job) s += `/${enc(job)}`;
  if (job && attempt) s += `/${attempt}`;
  if (job && attempt && line) s += `/L${line}`;
  return s;
}

export function mount(root, params) {
  const id = Number(params.id);
  let run = null;
  let needs = null; // name -> [needs], from /pipeline; null when unknown
  let selected = params.job || null;
  let log = null;
  let logKey = '';
  let gone = false;

  const head = h('div', {class: 'run-head'});
  const graph = h('div', {class: 'dag-box', 'aria-label': 'Job graph'});
  const table = h('div', {class: 'table-box'});
  const logBox = h('div', {class: 'log-box'});
  replace(root, head, h('h2', {class: 'sub'}, 'Jobs'), graph, table, logBox);

  async function load() {
    try {
      run = await api.get(`/api/v1/runs/${id}`);
    } catch (e) {
      replace(root, h('div', {class: 'error-box'}, e.message));
      gone = true;
      return;
    }
    if (needs === null) {
      const p = await api.getOptional(`/api/v1/runs/${id}/pipeline`).catch(() => null);
      needs = new Map();
      if (p && p.jobs) for (const j of p.jobs) needs.set(j.name, j.needs || []);
    }
    draw();
  }

  function jobsWithNeeds() {
    return (run.jobs || []).map((j) => ({...j, needs: (needs && needs.get(j.name)) || []}));
  }

  function pickDefault() {
    const jobs = run.jobs || [];
    if (!jobs.length) return null;
    return (jobs.find((j) => j.state === 'running') || jobs.find((j) => ['failed', 'timed-out'].includes(j.state)) ||
      jobs.filter((j) => j.attempts > 0).pop() || jobs[0]).name;
  }

  function select(name) {
    location.hash = runHref(id, name);
  }

  function drawHead() {
    const active = ACTIVE_STATES.has(run.state);
    const failed = (run.jobs || []).some((j) => ['failed', 'timed-out', 'cancelled'].includes(j.state));
    const actions = h('div', {class: 'actions'});
    if (!api.can('developer')) {
      // a viewer: no button
    } else if (active) {
      actions.appendChild(actionButton('Cancel run', async () => {
        await api.post(`/api/v1/runs/${id}/cancel`);
        toast(`cancelling run ${id}`);
      }, {class: 'danger', id: 'cancel-run'}));
    } else {
      actions.appendChild(actionButton('Retry run', async () => {
        const r = await api.post(`/api/v1/runs/${id}/retry`);
        toast(`run ${r.id} (#${r.number}) queued`);
        location.hash = runHref(r.id);
      }, {id: 'retry-run'}));
      if (failed) {
        actions.appendChild(actionButton('Retry failed jobs', async () => {
          const r = await api.post(`/api/v1/runs/${id}/retry?failed=1`);
          toast(`retrying ${(r.jobs || []).join(', ')}`);
          load();
        }, {id: 'retry-failed'}));
      }
    }
    replace(head,
      h('div', {class: 'title-row'},
        h('h1', null, h('a', {href: `#/runs?repo=${enc(run.repo || '')}`}, run.repo || 'local'), ` #${run.number}`),
        badge(run.state), actions),
      h('dl', {class: 'facts'},
        h('dt', null, 'kind'), h('dd', null, run.kind),
        h('dt', null, 'ref'), h('dd', null, h('code', null, run.ref || run.branch || '')),
        h('dt', null, 'commit'), h('dd', null, h('code', {title: run.commit}, shortSha(run.commit))),
        h('dt', null, 'trigger'), h('dd', null, run.trigger, run.retry_of ? [' of ', h('a', {href: runHref(run.retry_of)}, `run ${run.retry_of}`)] : null),
        h('dt', null, 'created'), h('dd', null, timeEl(run.created_ms)),
        h('dt', null, 'duration'), durEl));
    tickDuration();
  }

  const durEl = h('dd', {class: 'num'});
  function tickDuration() {
    const d = runDuration(run.started_ms, run.finished_ms);
    durEl.textContent = d === null ? '—' : duration(d);
  }

  // Live updates redraw the graph and the table: the focus stays on the same control.
  function focusKey() {
    const a = document.activeElement;
    if (!a || !(graph.contains(a) || table.contains(a))) return null;
    for (const k of ['job', 'cancel', 'retry']) if (a.dataset && a.dataset[k]) return `[data-${k}="${CSS.escape(a.dataset[k])}"]${a.tagName.toLowerCase() === 'g' ? '.node' : ''}`;
    return null;
  }

  function drawJobs() {
    const refocus = focusKey();
    drawJobsNow();
    if (refocus) {
      const el = graph.querySelector(refocus) || table.querySelector(refocus);
      if (el) el.focus();
    }
  }

  function drawJobsNow() {
    const jobs = jobsWithNeeds();
    replace(graph, jobs.length ? dag(jobs, selected, select) : h('p', {class: 'muted'}, run.state === 'queued' ? 'The run is queued: its jobs appear when it starts.' : 'This run has no jobs.'));
    const rows = jobs.map((j) => {
      const d = runDuration(j.started_ms, j.finished_ms);
      const acts = h('td', {class: 'actions'});
      if (!api.can('developer')) {
        // a viewer: no button
      } else if (['queued', 'running'].includes(j.state) && run.state === 'running') {
        acts.appendChild(actionButton('Cancel', async () => {
          await api.post(`/api/v1/runs/${id}/jobs/${enc(j.name)}/cancel`);
          toast(`cancelling ${j.name}`);
        }, {class: 'small danger', 'data-cancel': j.name, 'aria-label': `Cancel ${j.name}`}));
      } else if (!['queued', 'running'].includes(j.state)) {
        acts.appendChild(actionButton('Retry', async () => {
          const r = await api.post(`/api/v1/runs/${id}/jobs/${enc(j.name)}/retry`);
          toast(`retrying ${(r.jobs || []).join(', ')}`);
          load();
        }, {class: 'small', 'data-retry': j.name, 'aria-label': `Retry ${j.name}`}));
      }
      const attempts = h('td', {class: 'attempts-cell'});
      for (const a of j.attempts_detail || []) {
        const ad = runDuration(a.started_ms, a.finished_ms);
        attempts.appendChild(h('a', {
          class: `chip st-${a.state}`,
          href: runHref(id, j.name, a.number),
          title: `attempt ${a.number}: ${a.state}${a.signal ? `, signal ${a.signal}` : ''}, exit ${a.exit_code}`,
        }, `#${a.number} ${a.state}${ad !== null ? ` ${duration(ad)}` : ''}`));
      }
      if (!(j.attempts_detail || []).length) attempts.appendChild(h('span', {class: 'muted'}, '—'));
      return h('tr', {class: j.name === selected ? 'selected' : null, 'data-job': j.name},
        h('td', null, h('a', {href: runHref(id, j.name)}, j.name)),
        h('td', null, badge(j.state)),
        attempts,
        h('td', {class: 'num'}, j.attempts ? String(j.exit_code) : '—'),
        h('td', {class: 'num'}, d === null || j.state === 'skipped' ? '—' : duration(d)),
        h('td', {class: 'reason'}, j.reason || ''),
        acts);
    });
    replace(table, h('table', {class: 'jobs'},
      thead(['Job', 'State', 'Attempts', 'Exit', 'Duration', 'Reason', '']),
      h('tbody', null, rows)));
  }

  function drawLog() {
    const job = (run.jobs || []).find((j) => j.name === selected);
    if (!job) {
      if (log) log.close();
      log = null;
      logKey = '';
      replace(logBox);
      return;
    }
    // The attempt shown: the one in the route, else the latest (a new attempt, from
    // a retry, replaces the one shown).
    const attempt = params.attempt ? Number(params.attempt) : job.attempts;
    const key = `${job.name}@${attempt}`;
    if (log && key === logKey) {
      log.setAttempts(job.attempts);
      if (params.line) log.highlight(Number(params.line));
      return;
    }
    if (log) log.close();
    logKey = key;
    log = logView({
      run: id,
      job: job.name,
      attempt,
      attempts: job.attempts,
      repo: run.repo,
      number: run.number,
      line: params.line ? Number(params.line) : 0,
      lineHref: (n, a) => runHref(id, job.name, a || job.attempts || 1, n),
      onAttempt: (n) => {
        location.hash = runHref(id, job.name, n);
      },
    });
    replace(logBox, log.el);
  }

  function draw() {
    if (gone) return;
    if (!selected) selected = pickDefault();
    drawHead();
    drawJobs();
    drawLog();
  }

  const reload = debounce(load, 120);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'reset' || ((type === 'run' || type === 'job') && d.run === id)) reload();
  });
  const timer = setInterval(() => {
    if (run && ACTIVE_STATES.has(run.state)) tickDuration(); // the running duration grows
  }, 1000);

  load();

  return {
    update(p) {
      params = p;
      selected = p.job || selected;
      if (run) draw();
    },
    unmount() {
      gone = true;
      unsubscribe();
      clearInterval(timer);
      if (log) log.close();
    },
  };
}
