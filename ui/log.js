// log.js: the live log of one attempt of a job.
//
// It reads GET /api/v1/runs/{id}/jobs/{job}/log as Server-Sent Events (the
// whole log so far, then each line as the job writes it, then `end`), with
// the byte offset of each event as its id, so a dropped connection goes on
// where it stopped. Lines are numbered, each number a link to the line;
// colours are rendered (ansi.js); the log can be searched, followed (kept
// scrolled to the end) and downloaded raw.

import {download, sse} from './api.js';
import {newState, render, stripAnsi} from './ansi.js';
import {badge, enc, h, replace} from './dom.js';
import {subscribe} from './events.js';

// opts: {run, job, attempt (0: the last), attempts, repo, number, lineHref(n), onAttempt(n)}
export function logView(opts) {
  const {run, job} = opts;
  let attempt = opts.attempt || opts.attempts || 0;
  const base = `/api/v1/runs/${run}/jobs/${enc(job)}/log`;
  const query = () => (attempt ? `?attempt=${attempt}` : '');

  const texts = []; // plain text of each line, for search
  const rows = []; // the line elements
  const ansi = newState();
  let stream = null;
  let ended = false;
  let waiting = false;
  let matches = [];
  let current = -1;
  let pendingLine = opts.line || 0;

  const status = h('span', {class: 'log-status', role: 'status'}, 'connecting…');
  const follow = h('input', {type: 'checkbox', id: 'log-follow', checked: true});
  const search = h('input', {type: 'search', id: 'log-search', placeholder: 'Search the log', 'aria-label': 'Search the log', autocomplete: 'off'});
  const count = h('span', {class: 'log-count muted', 'aria-live': 'polite'});
  const body = h('div', {class: 'log-body', id: 'log-body', tabindex: '0', role: 'log', 'aria-label': `log of ${job}`});
  const attemptsBox = h('span', {class: 'attempts'});
  const empty = h('div', {class: 'log-empty muted'});

  const prevBtn = h('button', {type: 'button', title: 'Previous match (Shift+Enter)', 'aria-label': 'Previous match', onclick: () => step(-1)}, '↑');
  const nextBtn = h('button', {type: 'button', title: 'Next match (Enter)', 'aria-label': 'Next match', onclick: () => step(1)}, '↓');
  const dl = h('button', {type: 'button', class: 'log-download', onclick: async () => {
    try {
      await download(base + query(), `${opts.repo || 'run'}-${opts.number || run}-${job}-${attempt || 'last'}.log`.replace(/[^\w.@-]+/g, '_'));
    } catch (e) {
      setStatus(`download failed: ${e.message}`);
    }
  }}, 'Download raw');

  const el = h('section', {class: 'log', 'aria-label': 'Log'},
    h('div', {class: 'log-toolbar'},
      h('strong', {class: 'log-title'}, job),
      attemptsBox,
      h('label', {class: 'follow', for: 'log-follow'}, follow, ' Follow'),
      h('span', {class: 'log-search'}, search, prevBtn, nextBtn, count),
      dl,
      status),
    body);

  function renderAttempts() {
    replace(attemptsBox);
    const n = opts.attempts || 0;
    if (n <= 1) return;
    for (let i = 1; i <= n; i++) {
      attemptsBox.appendChild(h('button', {
        type: 'button',
        class: i === attempt ? 'chip current' : 'chip',
        'aria-pressed': i === attempt ? 'true' : 'false',
        onclick: () => opts.onAttempt && opts.onAttempt(i),
      }, `attempt ${i}`));
    }
  }

  function setStatus(text, state) {
    replace(status, state ? badge(state) : null, state ? ' ' : null, text);
  }

  function atBottom() {
    return body.scrollHeight - body.scrollTop - body.clientHeight < 40;
  }

  let programmatic = false;
  body.addEventListener('scroll', () => {
    if (programmatic) {
      programmatic = false;
      return;
    }
    if (!atBottom() && follow.checked && !ended) follow.checked = false;
    else if (atBottom() && !follow.checked && !ended) follow.checked = true;
  });
  follow.addEventListener('change', () => {
    if (follow.checked) scrollEnd();
  });

  function scrollEnd() {
    programmatic = true;
    body.scrollTop = body.scrollHeight;
  }

  function matchesQuery(i, q) {
    return q && texts[i].toLowerCase().includes(q);
  }

  function addLines(lines) {
    const frag = document.createDocumentFragment();
    const q = search.value.toLowerCase();
    for (const line of lines) {
      const n = rows.length + 1;
      const text = h('span', {class: 'lt'});
      render(text, line, ansi);
      const row = h('div', {class: 'll', id: `L${n}`, 'data-line': n},
        h('a', {class: 'ln', href: opts.lineHref(n, attempt), 'aria-label': `line ${n}`}, String(n)),
        text);
      texts.push(stripAnsi(line));
      rows.push(row);
      if (matchesQuery(n - 1, q)) {
        row.classList.add('match');
        matches.push(n - 1);
      }
      frag.appendChild(row);
    }
    if (empty.parentNode) empty.remove();
    body.appendChild(frag);
    if (q) updateCount();
    if (pendingLine && pendingLine <= rows.length) {
      highlight(pendingLine);
      pendingLine = 0;
    } else if (follow.checked) {
      scrollEnd();
    }
  }

  function updateCount() {
    count.textContent = search.value ? `${matches.length ? current + 1 : 0}/${matches.length}` : '';
  }

  function runSearch() {
    const q = search.value.toLowerCase();
    matches = [];
    current = -1;
    for (let i = 0; i < rows.length; i++) {
      const m = matchesQuery(i, q);
      rows[i].classList.toggle('match', !!m);
      rows[i].classList.remove('current');
      if (m) matches.push(i);
    }
    if (matches.length) step(1);
    updateCount();
  }

  function step(dir) {
    if (!matches.length) return;
    if (current >= 0) rows[matches[current]].classList.remove('current');
    current = (current + dir + matches.length) % matches.length;
    const row = rows[matches[current]];
    row.classList.add('current');
    follow.checked = false;
    programmatic = true;
    row.scrollIntoView({block: 'center'});
    updateCount();
  }

  search.addEventListener('input', runSearch);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      step(e.shiftKey ? -1 : 1);
    } else if (e.key === 'Escape') {
      search.value = '';
      runSearch();
    }
  });

  function highlight(n) {
    for (const r of body.querySelectorAll('.ll.target')) r.classList.remove('target');
    const row = rows[n - 1];
    if (!row) {
      pendingLine = n;
      return;
    }
    row.classList.add('target');
    follow.checked = false;
    programmatic = true;
    row.scrollIntoView({block: 'center'});
  }

  function connect() {
    if (stream) stream.close();
    waiting = false;
    setStatus('connecting…');
    stream = sse(`${base}${query()}${query() ? '&' : '?'}follow=1`, {
      lastEventId: rows.length ? stream && stream.lastId : null,
      onOpen: () => {
        if (!ended) setStatus('streaming', 'running');
      },
      onEvent: (ev) => {
        if (ev.type === 'end') {
          ended = true;
          let state = 'ended';
          try {
            state = JSON.parse(ev.data).state || state;
          } catch {
            // keep 'ended'
          }
          setStatus(`${rows.length} lines`, state);
          el.dataset.ended = state;
          follow.checked = false;
          if (!rows.length) body.appendChild(replace(empty, 'This attempt wrote nothing.'));
          stream.close();
          return;
        }
        if (ev.type === 'message') addLines(ev.lines);
      },
      reconnect: () => !ended,
      onError: (err) => {
        if (err.status === 404 && /not started/.test(err.message)) {
          waiting = true;
          setStatus('waiting for the job to start', 'queued');
          body.appendChild(replace(empty, 'The job has not started yet: its log appears here as soon as it does.'));
        } else {
          setStatus(err.message);
          body.appendChild(replace(empty, err.message));
        }
      },
    });
  }

  // A job that had not started: connect when it does.
  const unsubscribe = subscribe((type, d) => {
    if (type === 'job' && d.run === run && d.job === job && waiting && d.state !== 'queued') {
      if (!opts.attempt && d.attempt) attempt = d.attempt;
      connect();
    }
  });

  renderAttempts();
  connect();

  return {
    el,
    highlight,
    get attempt() {
      return attempt;
    },
    // New attempts of the job (a retry): the list of buttons grows.
    setAttempts(n) {
      if (n !== opts.attempts) {
        opts.attempts = n;
        renderAttempts();
      }
    },
    close() {
      unsubscribe();
      if (stream) stream.close();
    },
  };
}
