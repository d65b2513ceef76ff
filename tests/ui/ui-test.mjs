// The web UI in a real browser: headless Chromium (the system's, through
// playwright-core) against a real `flywheel serve` with real repositories,
// both started by tests/t/t0950-ui.sh.
//
// Each scenario writes "ok NAME" or "not ok NAME: why" to $RESULTS; the shell
// script turns each into a TAP line. Screenshots of every page, at 1280 px
// and at phone width, go to $SHOTS for review.
//
// Environment: FLYWHEEL_URL (the server), TOKEN (its admin token), WORK
// (where the repositories are: WORK/app, WORK/svc), SHOTS, RESULTS, CHROMIUM
// (its path).

import {execFileSync} from 'node:child_process';
import {appendFileSync, mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {chromium} from 'playwright-core';

const URL = process.env.FLYWHEEL_URL;
const TOKEN = process.env.TOKEN || '';
const WORK = process.env.WORK;
const SHOTS = process.env.SHOTS;
const RESULTS = process.env.RESULTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SLOW = Number(process.env.UI_TEST_TIMEOUT_SCALE || 1);

mkdirSync(SHOTS, {recursive: true});
writeFileSync(RESULTS, '');

function log(...a) {
  console.log(new Date().toISOString().slice(11, 23), ...a);
}

// ---- the server and the repositories ----

async function api(method, path, body) {
  const headers = TOKEN ? {Authorization: `Bearer ${TOKEN}`} : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(URL + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let j = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch {
    j = text;
  }
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return j;
}

function git(dir, ...args) {
  return execFileSync('git', args, {cwd: dir, encoding: 'utf8'}).trim();
}

function commit(dir, files, message) {
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content, {mode: name.endsWith('.sh') ? 0o755 : 0o644});
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

async function waitFor(what, fn, ms = 30000) {
  const end = Date.now() + ms * SLOW;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Commits files to WORK/repo, tells the server, and waits for the run of that commit.
async function push(repo, files, message) {
  const sha = commit(join(WORK, repo), files, message);
  await api('POST', `/api/v1/repos/${repo}/notify`);
  const run = await waitFor(`a run of ${sha.slice(0, 8)}`, async () => {
    const j = await api('GET', `/api/v1/runs?repo=${repo}&limit=20`);
    return j.runs.find((r) => r.commit === sha);
  });
  log(`pushed ${repo} ${sha.slice(0, 8)}: run ${run.id}`);
  return run;
}

async function job(runId, name) {
  const r = await api('GET', `/api/v1/runs/${runId}`);
  return r.jobs.find((j) => j.name === name);
}

// ---- the browser ----

const problems = [];
let browser;
let page;

async function shot(name, p = page) {
  await p.screenshot({path: join(SHOTS, `${name}.png`), fullPage: true});
}

async function scenario(name, fn) {
  log(`--- ${name}`);
  try {
    await fn();
    appendFileSync(RESULTS, `ok ${name}\n`);
    log(`ok ${name}`);
  } catch (e) {
    appendFileSync(RESULTS, `not ok ${name}: ${String(e.message || e).split('\n')[0]}\n`);
    log(`not ok ${name}`, e.stack || e);
    try {
      await shot(`FAILED-${name}`);
    } catch {
      // the page may be gone
    }
  }
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Loads a page afresh (going to the URL the page is at would only change the hash).
async function go(hash) {
  const target = `${URL}/${hash}`;
  if (page.url() === target) await page.reload();
  else await page.goto(target);
  await page.waitForLoadState('domcontentloaded');
}

// ---- the scenarios ----

const PIPE_QUICK = `jobs:
  build: { run: "echo building; echo built" }
`;

const PIPE_LIVE = `jobs:
  slow:
    run: "for i in $(seq 1 60); do echo \\"tick $i\\"; sleep 0.25; done"
  forever:
    run: "echo started; sleep 300"
`;

const PIPE_DAG = `jobs:
  build: { run: "echo compiling" }
  test:
    needs: [build]
    run: "printf '%s\\\\n' '<script>window.__pwned = 1</script><img src=x onerror=\\"window.__pwned = 2\\">' && printf '\\\\033[31mred text\\\\033[0m and \\\\033[1;32mbold green\\\\033[0m\\\\n' && echo 'the tests failed' && exit 3"
  package:
    needs: [test]
    run: "echo packaging"
  lint: { run: "echo linting" }
`;

const DEPLOY_SH = `#!/bin/sh
set -e
mkdir -p "$STATE/$FLYWHEEL_ENV"
echo "deploying $FLYWHEEL_RELEASE to $FLYWHEEL_ENV/$FLYWHEEL_TARGET"
cp "$FLYWHEEL_ARTIFACTS/app" "$STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
`;

function pipeDeploy(state) {
  return `env:
  STATE: ${state}
jobs:
  build: { run: "cp VERSION app", artifacts: [app] }
release: { from: build }
deploy:
  - env: staging
    run: ./deploy.sh
    verify:
      bake: 300ms
      interval: 100ms
      checks:
        - name: up
          run: "test -f $STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
  - env: production
    targets: { canary: {}, eu: {} }
    waves: [canary, eu]
    run: ./deploy.sh
    verify:
      bake: 2s
      interval: 200ms
      monitor: 1s
      checks:
        - name: healthy
          run: "test -f $STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
`;
}

async function main() {
  browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage']});
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const requests = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) requests.push({url: r.url(), auth: r.headers().authorization || ''});
  });

  await scenario('headers', async () => {
    const res = await page.goto(`${URL}/`);
    const hd = res.headers();
    expect(/default-src 'self'/.test(hd['content-security-policy'] || ''), `CSP: ${hd['content-security-policy']}`);
    expect(/frame-ancestors 'none'/.test(hd['content-security-policy']), 'frame-ancestors');
    expect(hd['x-content-type-options'] === 'nosniff', 'nosniff');
    expect(/^"[0-9a-f]+"$/.test(hd.etag || ''), `etag ${hd.etag}`);
    expect(/text\/html/.test(hd['content-type']), hd['content-type']);
  });

  // Tokens for the people of the tests: ana deploys, vic only reads.
  const ana = (await api('POST', '/api/v1/tokens', {name: 'ana', role: 'deployer'})).token;
  const vic = (await api('POST', '/api/v1/tokens', {name: 'vic', role: 'viewer'})).token;
  expect(ana && vic, 'tokens made');

  await scenario('login', async () => {
    // No token yet: the server answers 401, the login form shows.
    await go('#/');
    await page.waitForSelector('#login:not([hidden])');
    await page.waitForSelector('#login-token:focus');
    await shot('login');
    await page.fill('#login-token', 'fw_not-a-token');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => /refused/.test(document.getElementById('login-error').textContent));
    await page.fill('#login-token', ana);
    requests.length = 0;
    await page.press('#login-token', 'Enter');
    await page.waitForSelector('#login', {state: 'hidden'});
    await page.waitForSelector('.page-home');
    await page.waitForFunction(() => document.getElementById('whoami').textContent === 'ana · deployer');
    await waitFor('an API call with the token', () => requests.some((r) => r.auth === `Bearer ${ana}`), 5000);
    const without = requests.filter((r) => r.auth !== `Bearer ${ana}`);
    expect(!without.length, `requests without the token: ${without.map((r) => r.url).join(', ')}`);
    expect(await page.evaluate(() => sessionStorage.getItem('flywheel.token')) === ana, 'the token is in sessionStorage');
    expect(await page.evaluate(() => localStorage.getItem('flywheel.token')) === null, 'not in localStorage without "remember"');
    // The events stream carries it too (fetch, not EventSource), and it is live.
    await waitFor('the events stream with the token', () => requests.some((r) => r.url.includes('/api/v1/events') && r.auth === `Bearer ${ana}`), 5000);
    await page.waitForSelector('#live[data-state="live"]');
    // A token that stops working (revoked, expired) brings the form back.
    const handler = (route) => route.fulfill({status: 401, contentType: 'application/json', body: '{"error":"unauthorized","message":"the token is unknown, revoked or expired"}'});
    await page.route('**/api/v1/repos', handler);
    try {
      await go('#/');
      await page.waitForSelector('#login:not([hidden])');
      expect(/revoked/.test(await page.textContent('#login-error')), 'says why');
    } finally {
      await page.unroute('**/api/v1/repos', handler);
    }
    await page.fill('#login-token', ana);
    await page.press('#login-token', 'Enter');
    await page.waitForSelector('#login', {state: 'hidden'});
  });

  await scenario('home-lists-repository-after-push', async () => {
    await go('#/');
    await page.waitForSelector('.page-home');
    await page.waitForSelector('text=No repository yet');
    await api('POST', '/api/v1/repos', {name: 'app', url: join(WORK, 'app')});
    await waitFor('the mirror of app', async () => (await api('GET', '/api/v1/repos')).repos.length === 1);
    await new Promise((r) => setTimeout(r, 400));
    const run = await push('app', {'.flywheel.yml': PIPE_QUICK}, 'a quick pipeline');
    // The page was not reloaded: the events stream brings the repository and its run.
    const card = page.locator('.repo-card[data-repo="app"]');
    await card.waitFor({timeout: 15000 * SLOW});
    await card.locator(`tr[data-run="${run.id}"]`).waitFor({timeout: 15000 * SLOW});
    await waitFor('the run to pass', async () => (await api('GET', `/api/v1/runs/${run.id}`)).state === 'passed');
    await card.locator(`tr[data-run="${run.id}"] .badge[data-state="passed"]`).waitFor({timeout: 15000 * SLOW});
    await shot('home');
  });

  let liveRun;
  await scenario('live-log-while-running', async () => {
    liveRun = await push('app', {'.flywheel.yml': PIPE_LIVE}, 'a slow pipeline');
    await go(`#/runs/${liveRun.id}/slow`);
    await page.waitForSelector('.log-body');
    await page.locator('.log-body .ll', {hasText: 'tick 2'}).first().waitFor({timeout: 20000 * SLOW});
    const j1 = await job(liveRun.id, 'slow');
    expect(j1.state === 'running', `slow is ${j1.state} when its first lines show`);
    const n1 = await page.locator('.log-body .ll').count();
    await page.locator('.log-body .ll', {hasText: 'tick 8'}).first().waitFor({timeout: 20000 * SLOW});
    const n2 = await page.locator('.log-body .ll').count();
    const j2 = await job(liveRun.id, 'slow');
    expect(j2.state === 'running', `slow is ${j2.state} while its lines arrive`);
    expect(n2 > n1, `lines arrived: ${n1} then ${n2}`);
    // Line numbers are links to the line; search finds lines.
    const href = await page.locator('#L3 a.ln').getAttribute('href');
    expect(href === `#/runs/${liveRun.id}/slow/1/L3`, `line link ${href}`);
    await page.fill('#log-search', 'tick 5');
    await page.waitForSelector('.ll.match.current');
    expect((await page.locator('.ll.current .lt').textContent()) === 'tick 5', 'search selects tick 5');
    await page.fill('#log-search', '');
    await page.check('#log-follow');
    await shot('run-live-log');
  });

  await scenario('cancel-running-job', async () => {
    await go(`#/runs/${liveRun.id}/forever`);
    await page.locator('.log-body .ll', {hasText: 'started'}).first().waitFor({timeout: 20000 * SLOW});
    expect((await job(liveRun.id, 'forever')).state === 'running', 'forever runs');
    await page.click('button[data-cancel="forever"]');
    await waitFor('forever to be cancelled', async () => (await job(liveRun.id, 'forever')).state === 'cancelled', 20000);
    // The page sees it too: the graph, and the end of the log.
    await page.waitForSelector('svg.dag .node[data-job="forever"][data-state="cancelled"]', {timeout: 15000 * SLOW});
    await page.waitForSelector('.log[data-ended="cancelled"]', {timeout: 15000 * SLOW});
    // Then the whole run: its Cancel button.
    await page.click('#cancel-run');
    await waitFor('the run to end', async () => (await api('GET', `/api/v1/runs/${liveRun.id}`)).state === 'cancelled', 20000);
    await page.waitForSelector('.run-head .badge[data-state="cancelled"]', {timeout: 15000 * SLOW});
    await shot('run-cancelled');
  });

  let dagRun;
  await scenario('dag-states', async () => {
    dagRun = await push('app', {'.flywheel.yml': PIPE_DAG}, 'a pipeline that fails');
    await waitFor('the run to end', async () => !['queued', 'running'].includes((await api('GET', `/api/v1/runs/${dagRun.id}`)).state));
    await go(`#/runs/${dagRun.id}`);
    const r = await api('GET', `/api/v1/runs/${dagRun.id}`);
    const want = Object.fromEntries(r.jobs.map((j) => [j.name, j.state]));
    expect(want.build === 'passed' && want.test === 'failed' && want.package === 'skipped' && want.lint === 'passed', `API states ${JSON.stringify(want)}`);
    await page.waitForSelector('svg.dag .node[data-job="package"]');
    for (const [name, state] of Object.entries(want)) {
      const got = await page.getAttribute(`svg.dag .node[data-job="${name}"]`, 'data-state');
      expect(got === state, `${name}: the graph says ${got}, the API ${state}`);
    }
    for (const [from, to] of [['build', 'test'], ['test', 'package']]) {
      expect(await page.locator(`svg.dag path.edge[data-from="${from}"][data-to="${to}"]`).count() === 1, `an edge ${from} → ${to}`);
    }
    expect(await page.locator('svg.dag path.edge[data-to="lint"]').count() === 0, 'lint needs nothing');
    // The failed job is selected by default; a node is a button: Enter on it selects it.
    await page.waitForSelector('svg.dag .node.selected[data-job="test"]');
    await page.focus('svg.dag .node[data-job="lint"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction((id) => location.hash === `#/runs/${id}/lint`, dagRun.id);
    await page.locator('.log-body .ll', {hasText: 'linting'}).waitFor();
    await page.click('svg.dag .node[data-job="test"]');
    await page.locator('.log-body .ll', {hasText: 'the tests failed'}).waitFor();
    await shot('run-dag');
  });

  await scenario('log-script-shows-as-text', async () => {
    await go(`#/runs/${dagRun.id}/test`);
    const line = page.locator('.log-body .ll', {hasText: '<script>'}).first();
    await line.waitFor();
    const text = await line.locator('.lt').textContent();
    expect(text === '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">', `the line reads ${JSON.stringify(text)}`);
    expect(await page.locator('.log-body script, .log-body img').count() === 0, 'no element made from the log');
    expect(await page.evaluate(() => window.__pwned) === undefined, 'nothing from the log ran');
    // ANSI colours become classes, never markup.
    const red = page.locator('.log-body .a-fg-1', {hasText: 'red text'});
    expect(await red.count() === 1, 'red text in red');
    expect(await page.locator('.log-body .a-fg-2.a-b', {hasText: 'bold green'}).count() === 1, 'bold green');
    const raw = await page.locator('.log-body .ll', {hasText: 'red text'}).first().textContent();
    expect(!raw.includes('\u001b') && !raw.includes('[31m'), 'no escape sequence shown');
    await shot('run-log-escaped');
  });

  await scenario('stop-the-line', async () => {
    const svc = join(WORK, 'svc');
    commit(svc, {'deploy.sh': DEPLOY_SH, '.flywheel.yml': pipeDeploy(join(WORK, 'state')), VERSION: '1\n'}, 'a service');
    await api('POST', '/api/v1/repos', {name: 'svc', url: svc});
    await waitFor('the mirror of svc', async () => (await api('GET', '/api/v1/repos')).repos.length === 2);
    await new Promise((r) => setTimeout(r, 400));
    await push('svc', {VERSION: '2\n'}, 'version 2');
    await waitFor('r1 in production, baking', async () => {
      const d = await api('GET', '/api/v1/repos/svc/deployments');
      return d.deployments.find((x) => x.env === 'production' && x.state === 'baking');
    }, 60000);
    await go('#/envs/svc');
    await page.waitForSelector('.env-card[data-env="production"] .deployment-panel');
    await page.waitForSelector('.countdown-text');
    await page.locator('.checks-table tr[data-check="healthy"]').first().waitFor();
    await shot('envs-baking');
    await waitFor('r1 in production', async () => {
      const d = await api('GET', '/api/v1/repos/svc/deployments');
      return d.deployments.find((x) => x.env === 'production' && x.state === 'succeeded');
    }, 60000);
    // Stop the line from the page.
    await go('#/envs/svc');
    await page.fill('input[data-line-reason="svc"]', 'the payment provider is down');
    await page.click('button[data-stop="svc"]');
    const banner = page.locator('.banner[data-repo="svc"]');
    await banner.waitFor({timeout: 10000 * SLOW});
    const btext = await banner.textContent();
    expect(/line of svc is stopped/.test(btext) && /payment provider is down/.test(btext) && /by ana/.test(btext), `banner: ${btext}`);
    const line = await api('GET', '/api/v1/repos/svc/line');
    expect(line.stopped && line.reason === 'the payment provider is down' && line.actor === 'ana', `line ${JSON.stringify(line)}`);
    // A new release is not promoted while the line is stopped.
    await push('svc', {VERSION: '3\n'}, 'version 3');
    const held = await waitFor('r2 held', async () => {
      const d = await api('GET', '/api/v1/repos/svc/deployments');
      return d.deployments.find((x) => x.release === 'r2' && x.env === 'staging' && x.reason === 'waiting: the line is stopped');
    }, 60000);
    await new Promise((r) => setTimeout(r, 1000));
    const again = await api('GET', `/api/v1/deployments/${held.id}`);
    expect(again.state === 'queued' && !(again.steps || []).length, `r2 stays queued: ${again.state}`);
    await page.locator('.deployment-panel', {hasText: 'waiting: the line is stopped'}).waitFor({timeout: 10000 * SLOW});
    await shot('envs-line-stopped');
    await go('#/flywheel/svc');
    await page.waitForSelector('svg.wheel .release[data-release="r2"][data-status="waiting"]');
    await shot('flywheel-line-stopped');
    await go('#/');
    await page.locator('.repo-card[data-repo="svc"].stopped').waitFor();
    await banner.waitFor();
    await shot('home-line-stopped');
    // Resume from the banner: the release goes on.
    await page.click('button[data-resume="svc"]');
    await page.locator('.banner[data-repo="svc"]').waitFor({state: 'detached', timeout: 10000 * SLOW});
    await waitFor('r2 to leave the queue', async () => (await api('GET', `/api/v1/deployments/${held.id}`)).state !== 'queued', 30000);
  });

  await scenario('other-pages', async () => {
    await waitFor('r2 in production', async () => {
      const d = await api('GET', '/api/v1/repos/svc/deployments');
      return d.deployments.find((x) => x.release === 'r2' && x.env === 'production' && x.state === 'succeeded');
    }, 60000);
    await go('#/flywheel/svc');
    await page.waitForSelector('svg.wheel .release[data-release="r2"]');
    const stage = await page.getAttribute('svg.wheel .release[data-release="r2"]', 'data-stage');
    expect(stage === 'monitoring', `r2 is at ${stage}`);
    expect(await page.locator('svg.wheel .stage').count() === 6, 'six stages: change, main, release, staging, production, monitoring');
    await shot('flywheel');
    await go('#/releases/svc');
    await page.waitForSelector('tr[data-release="r1"]');
    await shot('releases');
    await go('#/releases/svc/r2');
    await page.waitForSelector('table.files');
    await page.locator('text=signed by').first().waitFor();
    await shot('release');
    await go('#/metrics/svc');
    await page.waitForSelector('svg.chart');
    await shot('metrics');
    const d = await api('GET', '/api/v1/repos/svc/deployments?env=production');
    await go(`#/deployments/${d.deployments[0].id}`);
    await page.waitForSelector('table.steps');
    await page.click('table.steps button');
    await page.locator('pre.step-log', {hasText: 'deploying'}).first().waitFor();
    await shot('deployment');
    await go('#/runs?repo=app');
    await page.waitForSelector('table.runs tbody tr[data-run]');
    await shot('runs');
  });

  await scenario('viewer-sees-no-changing-button', async () => {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
    await ctx.addInitScript((t) => sessionStorage.setItem('flywheel.token', t), vic);
    const p = await ctx.newPage();
    p.on('pageerror', (e) => problems.push(`page error (viewer): ${e.message}`));
    await p.goto(`${URL}/#/runs/${dagRun.id}/test`);
    await p.waitForSelector('.log-body .ll');
    await p.waitForFunction(() => document.getElementById('whoami').textContent === 'vic · viewer');
    expect(await p.locator('#retry-run, #retry-failed, button[data-retry], button[data-cancel]').count() === 0, 'no cancel or retry for a viewer');
    await p.goto(`${URL}/#/`);
    await p.waitForSelector('.repo-card[data-repo="svc"] .line-control');
    expect(await p.locator('button[data-stop], input.line-reason, button[data-resume]').count() === 0, 'no stop the line for a viewer');
    await p.goto(`${URL}/#/envs/svc`);
    await p.waitForSelector('.env-card');
    expect(await p.locator('button[data-rollback-env], button[data-approve]').count() === 0, 'no rollback for a viewer');
    await shot('viewer-envs', p);
    await ctx.close();
  });

  await scenario('phone-width', async () => {
    const phone = await browser.newContext({viewport: {width: 390, height: 844}, deviceScaleFactor: 2, isMobile: true, hasTouch: true});
    await phone.addInitScript((t) => sessionStorage.setItem('flywheel.token', t), ana);
    const p = await phone.newPage();
    p.on('pageerror', (e) => problems.push(`page error (phone): ${e.message}`));
    for (const [name, hash, sel] of [
      ['home', '#/', '.repo-card'],
      ['run', `#/runs/${dagRun.id}/test`, '.log-body .ll'],
      ['flywheel', '#/flywheel/svc', 'svg.wheel .release'],
      ['envs', '#/envs/svc', '.env-card'],
      ['releases', '#/releases/svc', 'tr[data-release]'],
      ['metrics', '#/metrics/svc', 'svg.chart'],
    ]) {
      await p.goto(`${URL}/${hash}`);
      await p.waitForSelector(sel);
      // Nothing wider than the screen but what scrolls inside its own box.
      const over = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(over <= 1, `${name} is ${over}px wider than the phone`);
      await shot(`phone-${name}`, p);
    }
    await phone.close();
  });

  await scenario('no-errors', async () => {
    expect(!problems.length, problems.join('; '));
  });

  await browser.close();
}

main().catch(async (e) => {
  log('fatal', e.stack || e);
  appendFileSync(RESULTS, `not ok fatal: ${e.message}\n`);
  if (browser) await browser.close().catch(() => {});
  process.exitCode = 1;
});
