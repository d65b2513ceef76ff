// page-metrics.js: how fast the loop turns and how often it breaks. The four
// DORA measures over time (GET /api/v1/metrics/dora), the time releases
// spend in each stage, and where defects were caught. The last two come from
// /api/v1/metrics/stages and /caught when the server has them, and are
// otherwise computed here from runs, releases and deployments.
// Route: #/metrics/REPO?period=30d|12w|12m&env=ENV.

import * as api from './api.js';
import {bars, hbars, lines} from './charts.js';
import {duration, enc, h, now, replace} from './dom.js';
import {caughtFrom, loadLoop, readList} from './stages.js';

const PERIODS = {
  '30d': {interval: 'day', ms: 30 * 86400e3, label: 'the last 30 days, per day'},
  '12w': {interval: 'week', ms: 84 * 86400e3, label: 'the last 12 weeks, per week'},
  '12m': {interval: 'month', ms: 365 * 86400e3, label: 'the last 12 months, per month'},
};

const secs = (v) => (v === null || v === undefined ? '—' : duration(v * 1000));
const pct = (v) => (v === null || v === undefined ? '—' : `${Math.round(v * 1000) / 10}%`);

function figure(label, value, sub) {
  return h('div', {class: 'figure'}, h('div', {class: 'figure-value'}, value), h('div', {class: 'figure-label'}, label), sub ? h('div', {class: 'figure-sub muted'}, sub) : null);
}

function chartCard(title, chart, note) {
  return h('section', {class: 'card chart-card', 'aria-label': title}, h('h2', null, title), chart, note ? h('p', {class: 'muted small'}, note) : null);
}

export function mount(root, params) {
  const repo = params.repo;
  const period = PERIODS[params.period] ? params.period : '30d';
  let gone = false;
  const body = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  const sel = h('select', {'aria-label': 'Period'}, Object.entries(PERIODS).map(([k, p]) => h('option', {value: k, selected: k === period}, p.label)));
  sel.addEventListener('change', () => {
    location.hash = `#/metrics/${enc(repo)}?period=${sel.value}${params.env ? `&env=${enc(params.env)}` : ''}`;
  });
  replace(root, h('div', {class: 'title-row'}, h('h1', null, repo ? `Metrics of ${repo}` : 'Metrics'), h('form', {class: 'filters'}, sel)), body);
  if (!repo) {
    replace(body, h('p', {class: 'muted'}, 'No repository yet.'));
    return {unmount() {}};
  }
  const n = enc(repo);

  async function load() {
    const p = PERIODS[period];
    const to = now();
    const from = to - p.ms;
    const env = params.env ? `&env=${enc(params.env)}` : '';
    let series;
    let all;
    let loop;
    let stagesApi;
    let caughtApi;
    let flakyApi;
    try {
      [series, all, loop, stagesApi, caughtApi, flakyApi] = await Promise.all([
        api.getOptional(`/api/v1/metrics/dora?repo=${n}&interval=${p.interval}&from=${from}&to=${to}${env}`),
        api.getOptional(`/api/v1/metrics/dora?repo=${n}&interval=all&from=${from}&to=${to}${env}`),
        loadLoop(repo, {limit: 30}),
        api.getOptional(`/api/v1/metrics/stages?repo=${n}${env}`).catch(() => null),
        api.getOptional(`/api/v1/metrics/caught?repo=${n}${env}`).catch(() => null),
        api.getOptional(`/api/v1/metrics/flaky?repo=${n}`).catch(() => null),
      ]);
    } catch (e) {
      replace(body, h('div', {class: 'error-box'}, e.message));
      return;
    }
    if (gone) return;
    const out = [];
    const m = series && series.metrics;
    const a = all && all.metrics;
    if (m) {
      const one = (k) => (a && a[k] && a[k][0]) || {};
      const df = one('deployment_frequency');
      const lt = one('lead_time_for_changes');
      const cfr = one('change_failure_rate');
      const ttr = one('time_to_restore_service');
      const days = p.ms / 86400e3;
      out.push(h('p', {class: 'muted'}, `Environment ${series.env}, ${p.label}.`));
      out.push(h('div', {class: 'figures'},
        figure('deployments', String(df.value ?? 0), `${((df.value || 0) / days).toFixed(2)} a day`),
        figure('lead time for changes', secs(lt.value), lt.p90 !== undefined && lt.p90 !== null ? `median; p90 ${secs(lt.p90)}` : 'median'),
        figure('change failure rate', pct(cfr.value), cfr.deployments ? `${cfr.failed} of ${cfr.deployments}` : 'no deployment'),
        figure('time to restore service', secs(ttr.value), ttr.p90 !== undefined && ttr.p90 !== null ? `median; p90 ${secs(ttr.p90)}` : 'median')));
      const labels = m.deployment_frequency.map((e) => e.date.slice(p.interval === 'month' ? 0 : 5));
      out.push(h('div', {class: 'chart-grid'},
        chartCard('Deployment frequency', bars(m.deployment_frequency.map((e, i) => ({label: labels[i], value: e.value})), {title: 'Successful deployments per interval', cls: 'df'})),
        chartCard('Lead time for changes', lines(labels, [
          {name: 'median', cls: 's-median', values: m.lead_time_for_changes.map((e) => e.value)},
          {name: 'p90', cls: 's-p90', values: m.lead_time_for_changes.map((e) => (e.p90 === undefined ? null : e.p90))},
        ], {title: 'Lead time for changes (push to production)', fmt: secs}), 'From the push (the run that made the release) to the end of the production deployment.'),
        chartCard('Change failure rate', bars(m.change_failure_rate.map((e, i) => ({label: labels[i], value: e.value, title: `${labels[i]}: ${pct(e.value)} (${e.failed || 0} of ${e.deployments || 0})`})), {title: 'Change failure rate per interval', fmt: pct, cls: 'cfr'})),
        chartCard('Time to restore service', lines(labels, [
          {name: 'median', cls: 's-median', values: m.time_to_restore_service.map((e) => e.value)},
          {name: 'p90', cls: 's-p90', values: m.time_to_restore_service.map((e) => (e.p90 === undefined ? null : e.p90))},
        ], {title: 'Time to restore service', fmt: secs}))));
    } else {
      out.push(h('p', {class: 'muted'}, 'This server does not measure DORA figures yet.'));
    }

    // Time per stage.
    let stageData = null;
    let stageNote = '';
    const fromApi = readList(stagesApi, ['median_s', 'median', 'p50', 'value', 'median_ms', 'seconds']);
    if (fromApi) {
      stageData = fromApi.map((s) => {
        const k = Object.keys(s.raw).find((x) => s.raw[x] === s.value) || '';
        const ms = /_ms$/.test(k) ? s.value : s.value * 1000;
        return {label: s.stage, value: ms};
      });
      stageNote = 'Medians from the server (/api/v1/metrics/stages).';
    } else {
      stageData = loop.stages.map((s) => ({label: s.label, value: loop.medians[s.id]}));
      stageNote = `Medians over the last ${loop.releases.length} releases, waiting included.`;
    }
    const slowest = stageData.filter((d) => d.value !== null).sort((x, y) => y.value - x.value)[0];
    out.push(h('div', {class: 'chart-grid'},
      chartCard('Time in each stage', hbars(stageData.map((d) => ({...d, cls: slowest && d === slowest ? 'slowest' : ''})), {title: 'Median time per stage', fmt: (v) => duration(v)}),
        `${stageNote}${slowest ? ` The slowest: ${slowest.label}.` : ''}`),
      (() => {
        const c = readList(caughtApi, ['count', 'failures', 'caught', 'value']);
        const data = c ? c.map((x) => ({label: x.stage, value: x.value})) : caughtFrom(loop.runs, loop.deployments, loop.envs).map((x) => ({label: x.stage, value: x.count}));
        const total = data.reduce((s, d) => s + (d.value || 0), 0);
        data.forEach((d, i) => {
          d.cls = `caught-${Math.min(4, Math.round((i / Math.max(1, data.length - 1)) * 4))}`;
        });
        return chartCard('Where defects were caught', hbars(data, {title: 'Failures by the stage that caught them'}),
          `${total} failures${c ? ' (from the server)' : ` in the last ${loop.runs.length} runs and their deployments`}; earlier (top) is cheaper.`);
      })()));

    const flaky = flakyApi && (flakyApi.jobs || flakyApi.flaky || null);
    if (Array.isArray(flaky) && flaky.length) {
      out.push(chartCard('Flaky jobs', h('table', {class: 'compact'},
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Job'), h('th', {scope: 'col'}, 'Failed, then passed'))),
        h('tbody', null, flaky.slice(0, 20).map((f) => h('tr', null, h('td', null, String(f.job || f.name || '')), h('td', {class: 'num'}, String(f.count ?? f.flakes ?? f.value ?? '')))))),
        'Jobs that failed and then passed on a retry of the same commit.'));
    }
    replace(body, out);
  }

  load();
  const timer = setInterval(load, 60000);
  return {
    unmount() {
      gone = true;
      clearInterval(timer);
    },
  };
}
