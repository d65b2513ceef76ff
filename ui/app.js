// app.js: the shell of the UI. Hash routes (#/runs/12) choose a page
// module; the header holds the navigation, the repository picker, the live
// indicator and the login button; red banners say which lines are stopped.
//
// Every page module exports mount(root, params, ctx) and returns
// {unmount(), update?(params)}: update() is called instead of a new mount
// when only the tail of the route changed (another job of the same run).

import * as api from './api.js';
import {actionButton, ago, enc, h, replace, tickTimes, toast} from './dom.js';
import * as events from './events.js';

const main = document.getElementById('main');
const repoSelect = document.getElementById('repo-select');
const loginBox = document.getElementById('login');
const loginForm = document.getElementById('login-form');
const loginError = document.getElementById('login-error');
const loginButton = document.getElementById('login-button');
const banners = document.getElementById('banners');
const live = document.getElementById('live');

const REPO_KEY = 'flywheel.repo';
const ctx = {
  repos: [],
  lines: new Map(), // repo -> line status
  repo() {
    return localStorage.getItem(REPO_KEY) || (this.repos[0] && this.repos[0].name) || '';
  },
  setRepo(name) {
    if (name) localStorage.setItem(REPO_KEY, name);
    if (repoSelect.value !== name) repoSelect.value = name;
  },
  refreshLines: () => refreshLines(),
};

// ---- routes ----

const PAGES = {
  home: () => import('./page-home.js'),
  runs: () => import('./page-runs.js'),
  run: () => import('./page-run.js'),
  flywheel: () => import('./page-flywheel.js'),
  releases: () => import('./page-releases.js'),
  release: () => import('./page-releases.js').then((m) => ({mount: m.mountRelease})),
  envs: () => import('./page-envs.js'),
  deployment: () => import('./page-envs.js').then((m) => ({mount: m.mountDeployment})),
  metrics: () => import('./page-metrics.js'),
};

// Which page a hash shows, with its parameters; key: same key, same page instance.
export function parseRoute(hash) {
  const raw = (hash || '').replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const query = new URLSearchParams(qs || '');
  let segs;
  try {
    segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    segs = [];
  }
  const q = Object.fromEntries(query.entries());
  const [a, b, c, d, e] = segs;
  if (!a) return {page: 'home', key: 'home', params: q};
  if (a === 'runs' && b && /^\d+$/.test(b)) {
    const line = e && /^L\d+$/.test(e) ? Number(e.slice(1)) : 0;
    return {page: 'run', key: `run:${b}`, params: {id: b, job: c || null, attempt: d && /^\d+$/.test(d) ? d : null, line}};
  }
  if (a === 'runs') return {page: 'runs', key: `runs:${qs || ''}`, params: q};
  if (a === 'deployments' && b && /^\d+$/.test(b)) return {page: 'deployment', key: `dep:${b}`, params: {id: b}};
  if (a === 'releases' && b && c) return {page: 'release', key: `rel:${b}:${c}`, params: {repo: b, version: c}};
  if (['flywheel', 'releases', 'envs', 'metrics'].includes(a)) {
    return {page: a, key: `${a}:${b || ''}`, params: {...q, repo: b || null}, needsRepo: !b};
  }
  if (a === 'login') return {page: 'login', key: 'login', params: {}};
  return {page: 'notfound', key: 'nf', params: {path}};
}

let current = {key: null, inst: null};
let routeSeq = 0;

async function route() {
  const r = parseRoute(location.hash);
  const seq = ++routeSeq;
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = a.dataset.nav === r.page || (r.page === 'run' && a.dataset.nav === 'runs') ||
      (r.page === 'release' && a.dataset.nav === 'releases') || (r.page === 'deployment' && a.dataset.nav === 'envs');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (r.page === 'login') {
    showLogin('');
    return;
  }
  if (r.needsRepo) {
    const repo = ctx.repo();
    if (repo) {
      location.replace(`#/${r.page}/${enc(repo)}${location.hash.includes('?') ? `?${location.hash.split('?')[1]}` : ''}`);
      return;
    }
  }
  if (r.params.repo) ctx.setRepo(r.params.repo);
  if (current.key === r.key && current.inst && current.inst.update) {
    current.inst.update(r.params);
    return;
  }
  if (current.inst) {
    try {
      current.inst.unmount();
    } catch (e) {
      console.error(e);
    }
  }
  current = {key: r.key, inst: null};
  if (r.page === 'notfound') {
    replace(main, h('div', {class: 'error-box'}, `No page at ${r.params.path}. `, h('a', {href: '#/'}, 'Home')));
    return;
  }
  let mod;
  try {
    mod = await PAGES[r.page]();
  } catch (e) {
    replace(main, h('div', {class: 'error-box'}, `This page could not be loaded: ${e.message}`));
    return;
  }
  if (seq !== routeSeq) return;
  const root = h('div', {class: `page page-${r.page}`});
  replace(main, root);
  current.inst = mod.mount(root, r.params, ctx) || {unmount() {}};
  const title = {home: 'Home', runs: 'Runs', run: `Run ${r.params.id}`, flywheel: 'Flywheel', releases: 'Releases', release: `Release ${r.params.version}`, envs: 'Environments', deployment: `Deployment ${r.params.id}`, metrics: 'Metrics'}[r.page];
  document.title = `${title} · flywheel`;
}

function remount() {
  current.key = null;
  route();
}

// ---- repositories and the line ----

async function loadRepos() {
  try {
    const j = await api.get('/api/v1/repos');
    ctx.repos = j.repos || [];
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
    return;
  }
  const cur = ctx.repo();
  replace(repoSelect, ctx.repos.length ? ctx.repos.map((r) => h('option', {value: r.name}, r.name)) : h('option', {value: ''}, 'no repository'));
  if (ctx.repos.some((r) => r.name === cur)) repoSelect.value = cur;
  else if (ctx.repos.length) ctx.setRepo(ctx.repos[0].name);
  refreshLines();
}

repoSelect.addEventListener('change', () => {
  const name = repoSelect.value;
  ctx.setRepo(name);
  const r = parseRoute(location.hash);
  if (['flywheel', 'releases', 'envs', 'metrics'].includes(r.page)) location.hash = `#/${r.page}/${enc(name)}`;
});

async function refreshLines() {
  const got = await Promise.all(ctx.repos.map((r) =>
    api.getOptional(`/api/v1/repos/${enc(r.name)}/line`).catch(() => null)));
  ctx.repos.forEach((r, i) => {
    if (got[i]) ctx.lines.set(r.name, got[i]);
  });
  drawBanners();
}

function drawBanners() {
  const stopped = [...ctx.lines.values()].filter((l) => l.stopped);
  replace(banners, stopped.map((l) => h('div', {class: 'banner', role: 'alert', 'data-repo': l.repo},
    h('strong', null, `The line of ${l.repo} is stopped`),
    h('span', null, ` by ${l.actor || 'someone'}, ${ago(l.since_ms)}${l.reason ? ': ' : ''}`),
    l.reason ? h('q', null, l.reason) : null,
    ' ',
    !api.can('deployer') ? null : actionButton('Resume the line', async () => {
      await api.post(`/api/v1/repos/${enc(l.repo)}/line/resume`, {reason: 'resumed from the web UI'});
      toast(`the line of ${l.repo} runs again`);
      refreshLines();
    }, {class: 'small', 'data-resume': l.repo}))));
  document.body.classList.toggle('line-stopped', stopped.length > 0);
}

// ---- login ----

let loginShown = false;
function showLogin(message) {
  loginError.textContent = message || '';
  if (loginShown) return;
  loginShown = true;
  loginBox.hidden = false;
  const t = document.getElementById('login-token');
  t.value = '';
  t.focus();
}

function hideLogin() {
  loginShown = false;
  loginBox.hidden = true;
  if (location.hash === '#/login') location.hash = '#/';
}

function drawLoginButton() {
  loginButton.textContent = api.getToken() ? 'Log out' : 'Log in';
  const me = api.whoami();
  const who = document.getElementById('whoami');
  who.textContent = me && me.name ? `${me.name} · ${me.role}` : me && me.public_read ? 'read-only' : '';
  who.title = me && me.name ? `logged in as ${me.name}, a ${me.role}` : '';
}

// Who the token is: the buttons each page shows follow the role.
async function loadMe() {
  let me = null;
  try {
    me = await api.getOptional('/api/v1/whoami');
  } catch {
    me = null;
  }
  api.setMe(me);
  drawLoginButton();
}

api.onUnauthorized((message) => {
  showLogin(api.getToken() ? `The server refused the token: ${message}` : 'This server asks for a token.');
  events.stop();
});

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = document.getElementById('login-token').value.trim();
  const remember = document.getElementById('login-remember').checked;
  api.setToken(token, remember);
  loginError.textContent = '';
  try {
    await api.get('/api/v1/repos');
  } catch (err) {
    loginError.textContent = err.status === 401 ? `The server refused this token: ${err.message}` : err.message;
    return;
  }
  hideLogin();
  await loadMe();
  events.restart();
  await loadRepos();
  remount();
});

document.getElementById('login-cancel').addEventListener('click', hideLogin);
loginBox.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') hideLogin();
});

loginButton.addEventListener('click', () => {
  if (api.getToken()) {
    api.setToken('');
    api.setMe(null);
    drawLoginButton();
    events.stop();
    showLogin('Logged out.');
  } else {
    showLogin('');
  }
});

// ---- live updates ----

events.onStatus((s) => {
  live.textContent = s === 'live' ? 'live' : s;
  live.dataset.state = s;
  live.title = s === 'live' ? 'Live updates: connected' : `Live updates: ${s}`;
});

events.subscribe((type) => {
  if (type === 'line' || type === 'reset') refreshLines();
  if (type === 'reset') loadRepos();
});

// A repository added since the page loaded shows up at its first run.
events.subscribe((type, d) => {
  if (type === 'run' && d.state === 'queued') {
    const known = ctx.repos.length;
    api.get('/api/v1/repos').then((j) => {
      if ((j.repos || []).length !== known) loadRepos();
    }).catch(() => {});
  }
});

setInterval(() => tickTimes(document), 15000);
setInterval(refreshLines, 60000);

window.addEventListener('hashchange', route);

drawLoginButton();
events.start();
loadMe().then(loadRepos).then(route);
