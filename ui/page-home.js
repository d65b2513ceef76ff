// page-home.js: every repository at a glance: its latest runs on main and
// on changes, what runs in each environment, and its line (with the button
// to stop or resume it).

import * as api from './api.js';
import {actionButton, badge, debounce, duration, enc, h, replace, runDuration, shortSha, thead, timeEl, toast} from './dom.js';
import {subscribe} from './events.js';
import {runHref} from './page-run.js';

export function runRow(r, showRepo) {
  const d = runDuration(r.started_ms, r.finished_ms);
  return h('tr', {'data-run': r.id},
    h('td', null, badge(r.state)),
    h('td', null, h('a', {href: runHref(r.id)}, showRepo ? `${r.repo || 'local'} #${r.number}` : `#${r.number}`)),
    h('td', {class: 'ref'}, r.kind === 'tag' ? r.ref.replace('refs/tags/', '') : r.branch || r.ref),
    h('td', null, h('code', {title: r.commit}, shortSha(r.commit).slice(0, 8))),
    h('td', null, timeEl(r.created_ms)),
    h('td', {class: 'num'}, d === null ? '—' : duration(d)));
}

function runsTable(runs, empty) {
  if (!runs.length) return h('p', {class: 'muted'}, empty);
  return h('table', {class: 'runs compact'},
    h('thead', {class: 'sr-only'}, h('tr', null, ['State', 'Run', 'Ref', 'Commit', 'Created', 'Duration'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', null, runs.map((r) => runRow(r))));
}

// The stop / resume control of a repository's line.
export function lineControl(repo, line, onChange) {
  if (!line) return null;
  if (!api.can('deployer')) {
    return h('div', {class: 'line-control'}, h('span', {class: `line-state${line.stopped ? '' : ' ok'}`}, line.stopped ? '■ line stopped' : '▶ line running'));
  }
  if (line.stopped) {
    return h('div', {class: 'line-control stopped'},
      h('span', {class: 'line-state'}, '■ line stopped'),
      actionButton('Resume the line', async () => {
        await api.post(`/api/v1/repos/${enc(repo)}/line/resume`, {reason: 'resumed from the web UI'});
        toast(`the line of ${repo} runs again`);
        onChange();
      }, {class: 'small', 'data-resume': repo}));
  }
  const reason = h('input', {type: 'text', placeholder: 'Why stop the line?', 'aria-label': `Why stop the line of ${repo}`, maxlength: '1000', class: 'line-reason', 'data-line-reason': repo});
  const form = h('form', {class: 'line-control'},
    h('span', {class: 'line-state ok'}, '▶ line running'),
    reason,
    h('button', {type: 'submit', class: 'small danger', 'data-stop': repo}, 'Stop the line'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      reason.focus();
      toast('Say why the line stops: the reason is shown to everyone.', 'error');
      return;
    }
    const btn = form.querySelector('button');
    btn.disabled = true;
    try {
      await api.post(`/api/v1/repos/${enc(repo)}/line/stop`, {reason: why});
      toast(`the line of ${repo} is stopped`);
      onChange();
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

export function mount(root, params, ctx) {
  let gone = false;
  const list = h('div', {class: 'repo-cards'});
  replace(root, h('div', {class: 'title-row'}, h('h1', null, 'Repositories')), list);

  async function card(repo) {
    const n = enc(repo.name);
    const [main, changes, envs, line] = await Promise.all([
      api.get(`/api/v1/runs?repo=${n}&kind=main&limit=5`),
      api.get(`/api/v1/runs?repo=${n}&kind=change&limit=5`),
      api.getOptional(`/api/v1/repos/${n}/envs`),
      api.getOptional(`/api/v1/repos/${n}/line`),
    ]);
    if (line) ctx.lines.set(repo.name, line);
    const envRows = [];
    for (const [env, e] of Object.entries((envs && envs.envs) || {})) {
      for (const t of e.targets || []) {
        envRows.push(h('tr', null,
          h('td', null, h('a', {href: `#/envs/${n}`}, env)),
          h('td', null, t.target),
          h('td', null, t.release ? h('a', {href: `#/releases/${n}/${enc(t.release)}`}, t.release) : '—'),
          h('td', null, timeEl(t.updated_ms))));
      }
    }
    const c = h('section', {class: `card repo-card${line && line.stopped ? ' stopped' : ''}`, 'data-repo': repo.name, 'aria-label': repo.name},
      h('div', {class: 'card-head'},
        h('h2', null, h('a', {href: `#/runs?repo=${n}`}, repo.name)),
        h('span', {class: 'muted url', title: repo.url}, repo.url),
        h('span', {class: 'spacer'}),
        h('a', {href: `#/flywheel/${n}`, class: 'small-link'}, 'flywheel'),
        !api.can('developer') ? null : actionButton('Run main now', async () => {
          const r = await api.post(`/api/v1/repos/${n}/trigger`, {ref: repo.main_branch || 'main'});
          location.hash = runHref(r.id);
        }, {class: 'small'})),
      line && line.stopped ? h('p', {class: 'stopped-note'}, `Stopped by ${line.actor || 'someone'}: `, h('q', null, line.reason || '')) : null,
      h('div', {class: 'card-grid'},
        h('div', null, h('h3', null, `Main (${repo.main_branch || 'main'})`), runsTable(main.runs || [], 'No main run yet.')),
        h('div', null, h('h3', null, 'Changes'), runsTable(changes.runs || [], 'No change run yet.')),
        h('div', null, h('h3', null, 'Environments'), envRows.length
          ? h('table', {class: 'compact'}, thead(['Environment', 'Target', 'Release', 'Since']), h('tbody', null, envRows))
          : h('p', {class: 'muted'}, 'Nothing deployed yet.'))),
      lineControl(repo.name, line, () => {
        ctx.refreshLines();
        load();
      }));
    return c;
  }

  async function load() {
    let repos;
    try {
      repos = (await api.get('/api/v1/repos')).repos || [];
    } catch (e) {
      replace(list, h('div', {class: 'error-box'}, e.message));
      return;
    }
    if (gone) return;
    if (!repos.length) {
      replace(list, h('div', {class: 'empty'},
        h('p', null, 'No repository yet.'),
        h('p', {class: 'muted'}, 'Add one with ', h('code', null, 'flywheel repo add NAME URL'), ' or POST /api/v1/repos; its pushes show up here as they run.')));
      return;
    }
    const cards = await Promise.all(repos.map((r) => card(r).catch((e) => h('section', {class: 'card'}, h('h2', null, r.name), h('p', {class: 'error-text'}, e.message)))));
    if (gone) return;
    // Keep a half-typed reason: redraw only the cards whose reason box is empty.
    const typing = list.querySelector('input.line-reason:focus');
    if (typing && typing.value) return;
    replace(list, cards);
  }

  const reload = debounce(load, 400);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.measurement) return; // a measurement changes nothing here
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
