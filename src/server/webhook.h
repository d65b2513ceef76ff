/*
 * webhook: outgoing webhooks. Each state change the engine emits (the JSON
 * line that also goes to GET /api/v1/events) is POSTed to the configured
 * URLs, signed with HMAC-SHA256 the way GitHub signs its own:
 *
 *     POST /hooks/abc
 *     Content-Type: application/json
 *     User-Agent: flywheel/VERSION
 *     X-Flywheel-Event: deployment
 *     X-Flywheel-Delivery: 0f5e2c1a-8d3b-4c7e-9a41-6b2d8e0c7f13
 *     X-Flywheel-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
 *
 *     {"event":"deployment","data":{...the event...}}
 *
 * Calling sequence:
 *
 *     struct webhook_target t = {.url = ..., .secret = ..., .secret_len = ...,
 *                                .events = WEBHOOK_DEPLOYMENT | WEBHOOK_LINE};
 *     webhooks_start(&w, &t, 1, &err);     // copies the targets; starts the worker
 *     webhooks_event(w, line, len);        // for every event: queued, never waits
 *     ...
 *     webhooks_stop(w, 2000);              // drains for at most 2 s; joins; frees
 *
 * Delivery: ONE worker thread for all targets, with libcurl's multi
 * interface, so that a slow receiver delays only its own events. Each
 * target gets its events in order, one request at a time. Each target has a
 * bounded queue (WEBHOOK_QUEUE events); when it is full the oldest event is
 * dropped and counted. A request has WEBHOOK_CONNECT_TIMEOUT_MS to connect
 * and WEBHOOK_TIMEOUT_MS in all; a transport error, a 429 or a 5xx answer
 * is tried again after 1 s, then 2 s (WEBHOOK_ATTEMPTS in all) with the same
 * delivery id; any other answer but 2xx ends the delivery as failed.
 * Redirects are not followed. Only http:// and https:// are spoken.
 *
 * Secrets never appear in messages: a target is named by its URL's scheme,
 * host and port only (a chat hook's path is often a credential itself).
 *
 * Threads: webhooks_event() may be called from any thread (the engine calls
 * it on its loop, under its event lock, so that the order is the events');
 * it copies the line and takes a mutex briefly. webhooks_start and
 * webhooks_stop belong to one thread (serve's main).
 */
#ifndef FLYWHEEL_SERVER_WEBHOOK_H
#define FLYWHEEL_SERVER_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* What a target is sent: bits of webhook_target.events. */
enum webhook_events {
    WEBHOOK_RUN = 1 << 0,        /* a run's state, releases made or marked bad */
    WEBHOOK_JOB = 1 << 1,        /* a job attempt's state */
    WEBHOOK_DEPLOYMENT = 1 << 2, /* a deployment's state (measurements are not sent) */
    WEBHOOK_LINE = 1 << 3,       /* the line stopped or resumed */
};
#define WEBHOOK_DEFAULT_EVENTS (WEBHOOK_DEPLOYMENT | WEBHOOK_LINE)

#define WEBHOOK_QUEUE              1000
#define WEBHOOK_ATTEMPTS           3
#define WEBHOOK_CONNECT_TIMEOUT_MS 5000
#define WEBHOOK_TIMEOUT_MS         10000
#define WEBHOOK_LINE_MAX           (64 << 10) /* longer events are dropped */
#define WEBHOOK_SECRET_MAX         4096

struct webhook_target {
    const char *url;    /* http:// or https:// */
    const void *secret; /* the HMAC key; secret_len > 0 bytes */
    size_t secret_len;
    unsigned events; /* enum webhook_events bits */
};

struct webhooks;

/*
 * Starts the worker for n targets (copied: the caller may free its own).
 * Returns 0, or -1 with err (libcurl or the thread could not start).
 */
int webhooks_start(struct webhooks **out, const struct webhook_target *targets, size_t n,
                   struct buf *err) __attribute__((warn_unused_result));
/*
 * Queues the event line (a JSON object, no newline; len bytes, not
 * necessarily NUL-terminated) for every target that wants its kind. Never
 * blocks on the network. Ignored once webhooks_stop has begun. w may be NULL.
 */
void webhooks_event(struct webhooks *w, const char *line, size_t len);
/*
 * Stops: the worker goes on delivering what is queued for at most drain_ms,
 * then abandons the rest (counted in the message it prints), and is joined.
 * Frees w (NULL is fine).
 */
void webhooks_stop(struct webhooks *w, int64_t drain_ms);

/* Counters, from any thread. */
struct webhook_stats {
    uint64_t delivered, failed, dropped;
};
void webhooks_stats(struct webhooks *w, struct webhook_stats *out);

/* ---- pure helpers (exposed for tests) ---- */

/*
 * The kind of an event line as GET /api/v1/events names it: "deployment",
 * "line", "job" or "run"; *bit is its enum webhook_events bit, 0 for an
 * event that is never sent (a deployment's measurement).
 */
const char *webhook_event_kind(const char *line, size_t len, unsigned *bit);
/* hex = lowercase hex of HMAC-SHA256(key, msg): 64 characters and a NUL. */
void webhook_hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                             char hex[65]);
/* Appends {"event":KIND,"data":LINE} to body. */
void webhook_body(struct buf *body, const char *kind, const char *line, size_t len);
/* 0 when url is http:// or https:// with a host; -1 with err otherwise. */
int webhook_url_check(const char *url, struct buf *err) __attribute__((warn_unused_result));
/* The scheme, host and port of url, for messages ("https://chat.example"). */
void webhook_url_origin(const char *url, struct buf *out);
/*
 * Reads a secret file: a regular file (a symbolic link to one is fine) that
 * others may neither read nor write, at most WEBHOOK_SECRET_MAX bytes,
 * trailing whitespace (the newline) removed, not empty. Returns 0 with the
 * secret in out, or -1 with err (which never quotes the file's contents).
 */
int webhook_secret_read(const char *path, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));
/* events: list names (NULL-terminated) and their bits, for the configuration. */
extern const char *const webhook_event_names[];
extern const unsigned webhook_event_bits[];

#endif
