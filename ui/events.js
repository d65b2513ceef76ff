// events.js: one live stream of /api/v1/events for the whole page.
//
// subscribe(fn) calls fn(type, data) for each event: 'run', 'job',
// 'deployment', 'line', and 'reset' (the server dropped events we had not
// read: reload everything). It returns a function that unsubscribes. The
// stream reconnects by itself from the last event it saw (Last-Event-ID), so
// nothing is missed across a dropped connection.

import {sse} from './api.js';

const subs = new Set();
let stream = null;
let statusFn = () => {};

function dispatch(type, data) {
  for (const fn of [...subs]) {
    try {
      fn(type, data);
    } catch (e) {
      console.error(e);
    }
  }
}

export function onStatus(fn) {
  statusFn = fn;
}

export function start() {
  if (stream) return;
  statusFn('connecting');
  stream = sse('/api/v1/events', {
    onOpen: () => statusFn('live'),
    onEvent: (ev) => {
      let data = {};
      try {
        data = ev.data ? JSON.parse(ev.data) : {};
      } catch {
        return;
      }
      dispatch(ev.type, data);
    },
    reconnect: () => {
      statusFn('reconnecting');
      return true;
    },
    onError: () => {
      statusFn('off');
      stream = null;
    },
  });
}

export function stop() {
  if (stream) stream.close();
  stream = null;
  statusFn('off');
}

export function restart() {
  stop();
  start();
}

export function subscribe(fn) {
  subs.add(fn);
  return () => subs.delete(fn);
}
