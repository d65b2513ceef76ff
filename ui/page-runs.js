// page-runs.js: runs, newest first, filtered by repository, kind, state and
// branch, a page at a time. Route: #/runs?repo=app&kind=main&state=failed.

import * as api from './api.js';
import {debounce, h, replace, thead} from './dom.js';
import {subscribe} from './events.js';
import {runRow} from './page-home.js';

const KINDS = ['', 'main', 'change', 'tag', 'manual'];
const STATES = ['', 'queued', 'running', 'passed', 'failed', 'cancelled'];

export function mount(root, params, ctx) {
  const f = {repo: params.repo || '', kind: params.kind || '', state: params.state || '', branch: params.branch || ''};
  let gone = false;
  let pages = [null]; // the `before` of each page shown
  const tbody = h('tbody');
  const more = h('button', {type: 'button', hidden: true}, 'Older runs');

  function select(name, values, label) {
    const s = h('select', {'aria-label': label, name}, values.map((v) => h('option', {value: v, selected: v === f[name]}, v || `any ${label.toLowerCase()}`)));
    s.addEventListener('change', () => {
      f[name] = s.value;
      location.hash = `#/runs?${new URLSearchParams(Object.entries(f).filter(([, v]) => v))}`;
    });
    return s;
  }

  const repoSel = select('repo', ['', ...ctx.repos.map((r) => r.name)], 'Repository');
  const filters = h('form', {class: 'filters', 'aria-label': 'Filters'}, repoSel, select('kind', KINDS, 'Kind'), select('state', STATES, 'State'));
  replace(root,
    h('div', {class: 'title-row'}, h('h1', null, f.repo ? `Runs of ${f.repo}` : 'Runs'), filters),
    h('table', {class: 'runs'},
      thead(['State', 'Run', 'Ref', 'Commit', 'Created', 'Duration']),
      tbody),
    more);

  function query(before) {
    const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    q.set('limit', '50');
    if (before) q.set('before', before);
    return `/api/v1/runs?${q}`;
  }

  async function load() {
    const rows = [];
    let next = null;
    try {
      for (const before of pages) {
        const j = await api.get(query(before));
        rows.push(...(j.runs || []));
        next = j.next_before;
      }
    } catch (e) {
      replace(tbody, h('tr', null, h('td', {colspan: '6', class: 'error-text'}, e.message)));
      return;
    }
    if (gone) return;
    replace(tbody, rows.length ? rows.map((r) => runRow(r, !f.repo)) : h('tr', null, h('td', {colspan: '6', class: 'muted'}, 'No run matches.')));
    more.hidden = !next;
    more.dataset.next = next || '';
  }

  more.addEventListener('click', () => {
    pages = [...pages, Number(more.dataset.next)];
    load();
  });

  const reload = debounce(load, 300);
  const unsubscribe = subscribe((type) => {
    if (type === 'run' || type === 'reset') reload();
  });
  load();
  if (f.repo) ctx.setRepo(f.repo);
  return {
    unmount() {
      gone = true;
      unsubscribe();
    },
  };
}
