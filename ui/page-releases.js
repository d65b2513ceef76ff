// page-releases.js: a repository's releases (#/releases/REPO) and one
// release (#/releases/REPO/VERSION): its commit, files with sizes and
// digests, signed provenance, where it has been deployed, and its bad marker
// with the reason (mark bad, mark good, promote).

import * as api from './api.js';
import {actionButton, ACTIVE_STATES, badge, bytes, debounce, duration, enc, h, replace, shortSha, thead, timeEl, toast} from './dom.js';
import {subscribe} from './events.js';
import {runHref} from './page-run.js';

function deployedTo(version, deployments) {
  const envs = new Map();
  for (const d of deployments) {
    if (d.release !== version || d.kind !== 'deploy') continue;
    const prev = envs.get(d.env);
    if (!prev || d.state === 'succeeded' || (ACTIVE_STATES.has(d.state) && prev.state !== 'succeeded')) envs.set(d.env, d);
  }
  return [...envs.values()];
}

function envChips(list) {
  if (!list.length) return h('span', {class: 'muted'}, 'nowhere yet');
  return list.map((d) => h('a', {class: `chip st-${d.state}`, href: `#/deployments/${d.id}`, title: `${d.env}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`}, `${d.env} ${d.state === 'succeeded' ? '✓' : d.state}`));
}

export function mount(root, params) {
  const repo = params.repo;
  let gone = false;
  const body = h('div');
  replace(root, h('div', {class: 'title-row'}, h('h1', null, repo ? `Releases of ${repo}` : 'Releases')), body);
  if (!repo) {
    replace(body, h('p', {class: 'muted'}, 'No repository yet.'));
    return {unmount() {}};
  }
  const n = enc(repo);

  async function load() {
    let rels;
    let deps;
    try {
      [rels, deps] = await Promise.all([
        api.get(`/api/v1/repos/${n}/releases?limit=100`),
        api.getOptional(`/api/v1/repos/${n}/deployments?limit=500`),
      ]);
    } catch (e) {
      replace(body, h('div', {class: 'error-box'}, e.message));
      return;
    }
    if (gone) return;
    const deployments = (deps && deps.deployments) || [];
    const list = rels.releases || [];
    if (!list.length) {
      replace(body, h('p', {class: 'muted'}, 'No release yet: a main or tag run that passes makes one from its release.from jobs.'));
      return;
    }
    replace(body, h('table', {class: 'releases'},
      thead(['Version', 'Commit', 'Run', 'Created', 'Deployed to', 'Status']),
      h('tbody', null, list.map((r) => h('tr', {'data-release': r.version, class: r.bad ? 'bad' : null},
        h('td', null, h('a', {href: `#/releases/${n}/${enc(r.version)}`}, r.version)),
        h('td', null, h('code', {title: r.commit}, shortSha(r.commit))),
        h('td', null, h('a', {href: runHref(r.run.id)}, `#${r.run.number || r.run.id}`), r.run.kind ? ` ${r.run.kind}` : ''),
        h('td', null, timeEl(r.created_ms)),
        h('td', null, envChips(deployedTo(r.version, deployments))),
        h('td', null, r.bad ? [badge('bad'), ' ', h('span', {class: 'reason'}, r.bad.reason)] : badge('good')))))));
  }

  const reload = debounce(load, 500);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.measurement) return;
    if (['run', 'deployment', 'reset'].includes(type)) reload();
  });
  load();
  return {
    unmount() {
      gone = true;
      unsubscribe();
    },
  };
}

function decodeProvenance(env) {
  if (!env || !env.payload) return null;
  try {
    const bin = atob(env.payload);
    const bytesArr = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytesArr));
  } catch {
    return null;
  }
}

function provenanceView(env) {
  const st = decodeProvenance(env);
  if (!st) return h('p', {class: 'muted'}, 'No provenance.');
  const pred = st.predicate || {};
  const bd = pred.buildDefinition || {};
  const rd = pred.runDetails || {};
  const ext = bd.externalParameters || {};
  const rows = [
    ['statement', st._type],
    ['predicate', st.predicateType],
    ['build type', bd.buildType],
    ['builder', rd.builder && rd.builder.id],
    ['invocation', rd.metadata && rd.metadata.invocationId],
    ['started', rd.metadata && rd.metadata.startedOn],
    ['finished', rd.metadata && rd.metadata.finishedOn],
    ['subjects', (st.subject || []).length],
  ];
  for (const [k, v] of Object.entries(ext)) rows.push([k, typeof v === 'object' ? JSON.stringify(v) : v]);
  for (const dep of bd.resolvedDependencies || []) rows.push(['source', `${dep.uri || ''} ${dep.digest ? Object.entries(dep.digest).map(([a, b]) => `${a}:${b}`).join(' ') : ''}`]);
  for (const s of env.signatures || []) rows.push(['signed by', s.keyid]);
  return h('div', null,
    h('dl', {class: 'facts wide'}, rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, h('code', null, String(v)))])),
    h('details', null, h('summary', null, 'The whole statement'), h('pre', {class: 'json'}, JSON.stringify(st, null, 2))));
}

export function mountRelease(root, params) {
  const {repo, version} = params;
  const n = enc(repo);
  const v = enc(version);
  let gone = false;
  const body = h('div', null, h('p', {class: 'muted'}, 'Loading…'));
  replace(root, body);

  async function load() {
    let rel;
    let deps;
    try {
      [rel, deps] = await Promise.all([
        api.get(`/api/v1/repos/${n}/releases/${v}`),
        api.getOptional(`/api/v1/repos/${n}/deployments?limit=500`),
      ]);
    } catch (e) {
      replace(body, h('div', {class: 'error-box'}, e.message));
      return;
    }
    if (gone) return;
    const pipeline = await api.getOptional(`/api/v1/runs/${rel.run.id}/pipeline`).catch(() => null);
    const deployments = ((deps && deps.deployments) || []).filter((d) => d.release === version);
    const actions = h('div', {class: 'actions'});
    if (!api.can('deployer')) {
      // a viewer or a developer: no button
    } else if (rel.bad) {
      actions.appendChild(actionButton('Mark good', async () => {
        await api.del(`/api/v1/repos/${n}/releases/${v}/bad`);
        toast(`${version} is good again`);
        load();
      }, {id: 'mark-good'}));
    } else {
      const reason = h('input', {type: 'text', placeholder: 'Why is it bad?', 'aria-label': 'Why the release is bad', maxlength: '1000'});
      const f = h('form', {class: 'inline-form'}, reason, h('button', {type: 'submit', class: 'danger small'}, 'Mark bad'));
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (!reason.value.trim()) {
          toast('Say why the release is bad.', 'error');
          reason.focus();
          return;
        }
        try {
          await api.post(`/api/v1/repos/${n}/releases/${v}/bad`, {reason: reason.value.trim()});
          toast(`${version} is marked bad`);
          load();
        } catch (err) {
          toast(err.message, 'error');
        }
      });
      actions.appendChild(f);
      const envNames = pipeline && pipeline.deploy ? pipeline.deploy.map((d) => d.env) : [];
      if (envNames.length) {
        const sel = h('select', {'aria-label': 'Environment'}, envNames.map((e) => h('option', {value: e}, e)));
        actions.appendChild(h('span', {class: 'inline-form'}, sel, actionButton('Deploy', async () => {
          const r = await api.post(`/api/v1/repos/${n}/deploy`, {release: version, env: sel.value});
          location.hash = `#/deployments/${r.id}`;
        }, {class: 'small'})));
      }
    }
    const files = rel.files || [];
    replace(body,
      h('div', {class: 'title-row'},
        h('h1', null, h('a', {href: `#/releases/${n}`}, repo), ` ${version}`),
        rel.bad ? badge('bad') : badge('good'),
        actions),
      rel.bad ? h('div', {class: 'bad-box', role: 'note'}, h('strong', null, 'Marked bad'), ' ', timeEl(rel.bad.since_ms), ': ', h('q', null, rel.bad.reason)) : null,
      h('dl', {class: 'facts'},
        h('dt', null, 'commit'), h('dd', null, h('code', null, rel.commit)),
        h('dt', null, 'ref'), h('dd', null, h('code', null, rel.ref)),
        h('dt', null, 'run'), h('dd', null, h('a', {href: runHref(rel.run.id)}, `#${rel.run.number || rel.run.id}`), ` ${rel.run.kind || ''}`),
        h('dt', null, 'created'), h('dd', null, timeEl(rel.created_ms)),
        h('dt', null, 'first deployed'), h('dd', null, rel.deployed_ms ? timeEl(rel.deployed_ms) : 'never'),
        h('dt', null, 'pipeline'), h('dd', null, h('code', null, rel.pipeline_digest))),
      h('h2', null, `Files (${files.length}, ${bytes(files.reduce((a, f) => a + f.size, 0))})`),
      h('div', {class: 'actions'}, actionButton('Download the archive', () => api.download(`/api/v1/repos/${n}/releases/${v}/archive`, `${repo}-${version}.tar`), {class: 'small'})),
      h('table', {class: 'files'},
        thead(['Path', 'Size', 'Digest', 'Mode']),
        h('tbody', null, files.map((f) => h('tr', null,
          h('td', null, h('button', {type: 'button', class: 'link', title: 'Download', onclick: () => api.download(`/api/v1/repos/${n}/releases/${v}/file?path=${enc(f.path)}`, f.path.split('/').pop()).catch((e) => toast(e.message, 'error'))}, f.path)),
          h('td', {class: 'num'}, bytes(f.size)),
          h('td', null, h('code', {class: 'digest', title: f.digest}, f.digest)),
          h('td', null, h('code', null, (f.mode & 0o777).toString(8))))))),
      h('h2', null, 'Where it went'),
      deployments.length ? h('table', {class: 'deployments'},
        thead(['Deployment', 'Environment', 'Kind', 'State', 'Reason', 'Created', 'Took']),
        h('tbody', null, deployments.map((d) => h('tr', null,
          h('td', null, h('a', {href: `#/deployments/${d.id}`}, `#${d.id}`)),
          h('td', null, d.env), h('td', null, d.kind), h('td', null, badge(d.state)),
          h('td', {class: 'reason'}, d.reason), h('td', null, timeEl(d.created_ms)),
          h('td', {class: 'num'}, d.finished_ms ? duration(d.finished_ms - d.created_ms) : '—'))))) : h('p', {class: 'muted'}, 'Not deployed anywhere yet.'),
      h('h2', null, 'Provenance'),
      provenanceView(rel.provenance));
  }

  const reload = debounce(load, 500);
  const unsubscribe = subscribe((type, d) => {
    if (type === 'deployment' && d.measurement) return;
    if ((type === 'deployment' && d.release === version) || (type === 'run' && /^release-/.test(d.state || '')) || type === 'reset') reload();
  });
  load();
  return {
    unmount() {
      gone = true;
      unsubscribe();
    },
  };
}
