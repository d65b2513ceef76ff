/*
 * http: flywheel's HTTP server on libmicrohttpd: a routing table, JSON
 * responses and errors, request limits, and streaming responses (log files
 * that grow, Server-Sent Events).
 *
 * Calling sequence:
 *
 *     static const struct http_route routes[] = {
 *         {"GET", "/api/v1/runs", h_runs},
 *         {"GET", "/api/v1/runs/{id}", h_run},        // {name} matches one path segment
 *         {"POST", "/api/v1/runs/{id}/cancel", h_cancel},
 *         {NULL, NULL, NULL},
 *     };
 *     struct http_server *s;
 *     http_start(&s, &(struct http_config){.listen = "127.0.0.1:8080", .routes = routes,
 *                                         .ctx = app}, &err);
 *     ... http_port(s) is the port actually bound (for ":0") ...
 *     http_stop(s);
 *
 * A handler runs on one of libmicrohttpd's threads, with the request fully
 * read (the body is capped: a larger one is answered 413 before the handler
 * runs). It fills the response with one of http_reply_*; if it does not,
 * the server answers 500. Unknown paths get 404, a known path with another
 * method 405 with an Allow header, all as JSON errors:
 *     {"error": "not_found", "message": "no route for GET /x"}
 *
 * Threads: handlers run concurrently on MHD's thread pool; they must only
 * read shared state through their own store connection, and send mutations
 * to the engine (see engine.h).
 */
#ifndef FLYWHEEL_SERVER_HTTP_H
#define FLYWHEEL_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"

struct http_request;
struct http_server;

typedef void (*http_handler)(struct http_request *req, void *ctx);

struct http_route {
    const char *method; /* "GET", "POST", "DELETE", ... */
    const char *path;   /* "/api/v1/runs/{id}/jobs/{job}" */
    http_handler handler;
    unsigned need; /* what a caller must be allowed, for the config's authorize (0: anyone) */
};

/*
 * Called once a request's route is known, before its body is read: returns
 * true to let it through, or replies (401, 403, 429, ...) and returns false.
 * It may name the caller with http_set_user().
 */
typedef bool (*http_authorize)(struct http_request *req, unsigned need, void *ctx);
/* Called after a handler has replied, with the reply's status (for an audit log). */
typedef void (*http_after)(struct http_request *req, unsigned status, void *ctx);
/*
 * Called on a worker thread each time it is done with a request for now
 * (after each call of the access handler and after each read of a stream):
 * what the thread took for it (a store connection) can be handed back.
 */
typedef void (*http_idle)(void *ctx);

struct http_config {
    const char *listen;              /* "ADDR:PORT"; port 0 picks a free one */
    const struct http_route *routes; /* terminated by a NULL method */
    void *ctx;                       /* passed to handlers */
    size_t max_body;                 /* default 1 MiB */
    unsigned threads;                /* default 4 */
    unsigned max_connections;        /* default 256 */
    unsigned per_ip_connections;     /* default 64 */
    http_authorize authorize;        /* NULL: every request goes through */
    http_after after;                /* NULL: nothing */
    http_idle idle;                  /* NULL: nothing */
};

int http_start(struct http_server **out, const struct http_config *cfg, struct buf *err)
    __attribute__((warn_unused_result));
/* Stops accepting, ends streams, waits for handlers; frees. */
void http_stop(struct http_server *s);
uint16_t http_port(const struct http_server *s);

/* ---- reading the request ---- */
const char *http_method(const struct http_request *r);
const char *http_path(const struct http_request *r);
/* A {name} segment of the route, URL-decoded; NULL if the route has none. */
const char *http_param(const struct http_request *r, const char *name);
/* A query argument, or NULL. */
const char *http_query(const struct http_request *r, const char *name);
/* A request header, or NULL. */
const char *http_header(const struct http_request *r, const char *name);
const char *http_body(const struct http_request *r, size_t *len);
/* Overwrites the body with zeros (it held a secret), once it has been parsed. */
void http_body_wipe(struct http_request *r);
/* The client's address ("127.0.0.1", "::1"); "" if unknown. */
const char *http_peer(const struct http_request *r);
/* The route's pattern ("/api/v1/runs/{id}"), or NULL before routing. */
const char *http_route_path(const struct http_request *r);
/* The audit entry of the request is written (by whoever it was handed to). */
void http_set_audited(struct http_request *r);
bool http_audited(const struct http_request *r);
/* Who sent the request, as authorize found it: a copy of name is kept. */
void http_set_user(struct http_request *r, const char *name, unsigned role);
/* NULL when no one was named. */
const char *http_user(const struct http_request *r);
/* The token that authorized the request (its store id, 0 when none) and when it expires (0:
 * never). Set by authorize with http_set_token, for answers that last (api_grant). */
void http_set_token(struct http_request *r, int64_t id, int64_t expires_ms);
int64_t http_token(const struct http_request *r, int64_t *expires_ms);
unsigned http_user_role(const struct http_request *r);
/*
 * Parses the body as a JSON object. On failure replies 400 with what was
 * wrong ({"error": "bad_json", "message": "line 1 column 7: ..."}) and
 * returns NULL. The caller owns the returned reference.
 */
json_t *http_body_json(struct http_request *r);
/* Parses an integer query argument in [min, max]; replies 400 and returns -1 on a bad one. */
int http_query_int(struct http_request *r, const char *name, long min, long max, long dflt,
                   long *out);

/* ---- replying ---- */
/* Takes a reference to body (json_decref'd by the server). */
void http_reply_json(struct http_request *r, unsigned status, json_t *body);
/* {"error": code, "message": message} */
void http_reply_error(struct http_request *r, unsigned status, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
void http_reply_text(struct http_request *r, unsigned status, const char *content_type,
                     const char *data, size_t len);
/*
 * A reply from memory that outlives the server (a constant: the UI's
 * embedded files): sent without a copy. content_type NULL: no Content-Type.
 */
void http_reply_static(struct http_request *r, unsigned status, const char *content_type,
                       const void *data, size_t len);
/* Adds a response header to the reply about to be made. */
void http_add_header(struct http_request *r, const char *name, const char *value);

/*
 * A streamed reply: the server calls read(ctx, pos, buf, max) from MHD's
 * thread whenever the client can take more. read returns the bytes written
 * to buf (> 0), 0 when it has nothing now but will have more (the server
 * retries after a short wait, HTTP_STREAM_POLL_MS), HTTP_STREAM_END at the
 * end, or HTTP_STREAM_ERROR. free(ctx) is called once when the reply ends
 * (the client went away or the stream ended).
 */
#define HTTP_STREAM_END     (-1)
#define HTTP_STREAM_ERROR   (-2)
#define HTTP_STREAM_POLL_MS 50
typedef long (*http_stream_read)(void *ctx, uint64_t pos, char *buf, size_t max);
typedef void (*http_stream_free)(void *ctx);
void http_reply_stream(struct http_request *r, unsigned status, const char *content_type,
                       http_stream_read read, http_stream_free free_ctx, void *ctx);
/*
 * A stream that is told when it has more: as http_reply_stream, but a read
 * that returns 0 waits for http_wake_key(key) (not http_wake()), and at most
 * HTTP_STREAM_KEYED_POLL_MS. For a live log, whose bytes the server sees
 * arrive: a quiet log then costs its viewers one read a second, not twenty.
 * key is not 0.
 */
#define HTTP_STREAM_KEYED_POLL_MS 1000
void http_reply_stream_keyed(struct http_request *r, unsigned status, const char *content_type,
                             http_stream_read read, http_stream_free free_ctx, void *ctx,
                             uint64_t key);
/*
 * Something streams may wait for has happened: every stream without a key
 * waiting for its next read is read again now, not after its wait. Any
 * thread; cheap when no stream waits.
 */
void http_wake(struct http_server *s);
/*
 * The streams made with key have more to read: those waiting are read
 * again now. Any thread; it only records the key and signals the thread
 * that resumes streams, so a caller that calls it for every chunk of a log
 * (the engine's thread) is not held up by the viewers.
 */
void http_wake_key(struct http_server *s, uint64_t key);

#endif
