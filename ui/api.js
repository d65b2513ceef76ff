// api.js: the JSON API with the viewer's token, and Server-Sent Events read
// with fetch() (EventSource cannot send an Authorization header).
//
// The token lives in sessionStorage (this tab, until it closes), or in
// localStorage when the viewer ticked "remember". Every request carries it as
// `Authorization: Bearer TOKEN`. A 401 from any route calls the handler set
// with onUnauthorized() (the app shows the login form) and fails the call.

import {setSkew} from './dom.js';

const KEY = 'flywheel.token';

export function getToken() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
}

export function setToken(token, remember) {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (token) (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

// Who the token is (GET /api/v1/whoami): {name, role, public_read}, or null
// when unknown (a server without the route): then every button shows, and
// the server says no to what the role may not do.
const ROLES = {anyone: 0, viewer: 1, developer: 2, deployer: 3, admin: 4};
let me = null;

export function setMe(m) {
  me = m && typeof m.role === 'string' ? m : null;
}

export function whoami() {
  return me;
}

// Whether the viewer may do what needs role ('developer': cancel and retry;
// 'deployer': deploy, approve, roll back, stop the line, mark releases).
export function can(role) {
  if (!me) return true;
  return (ROLES[me.role] ?? 0) >= (ROLES[role] ?? 99);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

let unauthorized = () => {};
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function headers(extra) {
  const hd = {...extra};
  const t = getToken();
  if (t) hd.Authorization = `Bearer ${t}`;
  return hd;
}

function noteDate(res) {
  const d = res.headers.get('Date');
  if (d) {
    const t = Date.parse(d);
    if (!isNaN(t)) setSkew(t + 500 - Date.now());
  }
}

async function fail(res) {
  let code = '';
  let message = `${res.status} ${res.statusText}`;
  try {
    const j = await res.json();
    code = j.error || '';
    message = j.message || message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) unauthorized(message);
  throw new ApiError(res.status, code, message);
}

export async function request(method, path, body) {
  const init = {method, headers: headers({Accept: 'application/json'}), cache: 'no-store'};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `the server cannot be reached (${e.message})`);
  }
  noteDate(res);
  if (!res.ok) await fail(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);
export const del = (path, body) => request('DELETE', path, body);

// GET that answers null for a 404 (a route this server does not have yet, an object gone).
export async function getOptional(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}

// The body as text (logs), and as a Blob (downloads).
export async function getText(path) {
  const res = await fetch(path, {headers: headers(), cache: 'no-store'});
  if (!res.ok) await fail(res);
  return res.text();
}

export async function getBlob(path) {
  const res = await fetch(path, {headers: headers(), cache: 'no-store'});
  if (!res.ok) await fail(res);
  return res.blob();
}

// Saves what path answers as a file named name (a link cannot carry the token).
export async function download(path, name) {
  const blob = await getBlob(path);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- Server-Sent Events over fetch ----
//
// sse(path, handlers) reads the stream and calls
//   onEvent({type, data, lines, id})  for each event (lines: its data: lines),
//   onOpen()                           when a response arrives,
//   onClose(ended)                     when it stops for good.
// When the connection drops, it connects again after a pause, sending the
// last id seen as Last-Event-ID, unless handlers.reconnect() says no or
// close() was called. A 401 goes to the login form; another error status
// ends the stream (onError(err)).

export function sse(path, handlers) {
  const ctl = {closed: false, abort: null, lastId: handlers.lastEventId || null};
  let delay = 500;

  function parse(text, state) {
    // state: {buf, data: [], type, id}
    state.buf += text;
    let start = 0;
    for (;;) {
      let i = start;
      while (i < state.buf.length && state.buf[i] !== '\n' && state.buf[i] !== '\r') i++;
      if (i >= state.buf.length) break;
      const line = state.buf.slice(start, i);
      if (state.buf[i] === '\r' && i + 1 < state.buf.length && state.buf[i + 1] === '\n') i++;
      else if (state.buf[i] === '\r' && i + 1 >= state.buf.length) break; // wait: \r\n may be split
      start = i + 1;
      if (line === '') {
        if (state.data.length || state.type) {
          const ev = {type: state.type || 'message', data: state.data.join('\n'), lines: state.data, id: state.id};
          if (state.id !== null) ctl.lastId = state.id;
          state.data = [];
          state.type = '';
          try {
            handlers.onEvent(ev);
          } catch (e) {
            console.error(e);
          }
          if (ctl.closed) return;
        }
        continue;
      }
      if (line[0] === ':') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') state.data.push(value);
      else if (field === 'event') state.type = value;
      else if (field === 'id') state.id = value;
    }
    state.buf = state.buf.slice(start);
  }

  async function connect() {
    while (!ctl.closed) {
      const abort = new AbortController();
      ctl.abort = abort;
      const hd = headers({Accept: 'text/event-stream'});
      if (ctl.lastId !== null) hd['Last-Event-ID'] = ctl.lastId;
      let ok = false;
      try {
        const res = await fetch(path, {headers: hd, signal: abort.signal, cache: 'no-store'});
        if (!res.ok) {
          if (res.status === 401) await fail(res).catch(() => {});
          const err = new ApiError(res.status, '', `${res.status}`);
          try {
            const j = await res.json();
            err.code = j.error || '';
            err.message = j.message || err.message;
          } catch {
            // not JSON
          }
          ctl.closed = true;
          if (handlers.onError) handlers.onError(err);
          break;
        }
        if (handlers.onOpen) handlers.onOpen();
        delay = 500;
        ok = true;
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        const state = {buf: '', data: [], type: '', id: null};
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          parse(dec.decode(value, {stream: true}), state);
          if (ctl.closed) {
            abort.abort();
            break;
          }
        }
        // An event cut off by the end of the stream is dropped (as the SSE
        // specification says): the reconnection asks for it again.
      } catch {
        if (ctl.closed) break;
      }
      if (ctl.closed) break;
      if (handlers.reconnect && !handlers.reconnect()) break;
      await new Promise((r) => setTimeout(r, ok ? 300 : delay));
      delay = Math.min(delay * 2, 10000);
    }
    ctl.closed = true;
    if (handlers.onClose) handlers.onClose();
  }

  connect();
  return {
    close() {
      if (ctl.closed) return;
      ctl.closed = true;
      if (ctl.abort) ctl.abort.abort();
    },
    get lastId() {
      return ctl.lastId;
    },
  };
}
