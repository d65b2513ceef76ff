/*
 * http1: a small HTTP/1.1 client for plain http:// servers, so that the
 * command line talks to a flywheel server without loading libcurl (and its
 * twenty-odd libraries) at every start. Two halves:
 *
 * The response parser (pure: bytes in, events out, no I/O):
 *
 *     struct http1_response r;
 *     http1_response_init(&r, HTTP1_MAX_HEADER);
 *     while ((n = read(...)) > 0) {
 *         long used = http1_response_feed(&r, data, n, body_fn, ctx, &err);
 *         ... used < 0: HTTP1_EPARSE (err says why) or HTTP1_ESTOP
 *         ... r.done: the response is complete; data[used..n) is not its
 *     }
 *     ... n == 0 (the peer closed): http1_response_eof(&r, &err)
 *     http1_response_release(&r);
 *
 * It reads the status line, the headers (bounded: max_header bytes in all,
 * the status line included), then a body delimited by Content-Length, by
 * chunked transfer coding (chunk extensions and trailers skipped), or by
 * the end of the connection; interim 1xx responses are skipped. The body is
 * handed to body_fn as it comes, never held; body_fn sees r->status.
 *
 * The connection (I/O): one keep-alive connection to one host and port,
 * reused by consecutive exchanges while the server allows it, reopened
 * otherwise. An exchange on a reused connection that the server had closed
 * meanwhile (nothing of the response received) is retried once on a new one.
 *
 * Errors: HTTP1_ETRANSPORT with a reason in err that reads after "cannot
 * talk to URL: " ("connection refused", "timed out after 120000 ms").
 *
 * Threads: a connection belongs to one thread. No signals are raised
 * (MSG_NOSIGNAL).
 */
#ifndef FLYWHEEL_UTIL_HTTP1_H
#define FLYWHEEL_UTIL_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* The status line and headers of a response, or a chunk's trailers, at most. */
#define HTTP1_MAX_HEADER (64u << 10)
/* A chunk-size line (with extensions) at most. */
#define HTTP1_MAX_CHUNK_LINE 1024u

enum http1_error {
    HTTP1_EPARSE = -1,     /* not a valid HTTP/1.x response */
    HTTP1_ESTOP = -2,      /* body_fn asked to stop */
    HTTP1_ETRANSPORT = -3, /* the connection failed, timed out or closed early */
};

/*
 * Takes n bytes of body; returns 0 to go on, non-zero to stop the exchange
 * (the connection is then closed, HTTP1_ESTOP returned).
 */
typedef int http1_body_fn(void *ctx, const char *data, size_t n);

struct http1_response {
    /* Read by the caller once the headers are in (headers_done). */
    int status;             /* 100..999 */
    int64_t content_length; /* -1: none */
    bool chunked;
    bool close;        /* the connection cannot carry another exchange */
    bool headers_done; /* status and headers are known; the body may follow */
    bool done;         /* the whole response has been read */

    /* The parser's state. */
    int state;
    size_t max_header, header_bytes;
    uint64_t left; /* body bytes, or bytes of the current chunk, still to come */
    struct buf line;
};

void http1_response_init(struct http1_response *r, size_t max_header);
/* Ready for the next response on the same connection; max_header kept. */
void http1_response_reset(struct http1_response *r);
void http1_response_release(struct http1_response *r);

/*
 * Parses data[0..n). Returns the number of bytes consumed: all n, or fewer
 * when the response ended within them (r->done). HTTP1_EPARSE with err on
 * a malformed or oversized response, HTTP1_ESTOP when body_fn returned
 * non-zero. After either, the response is unusable.
 */
long http1_response_feed(struct http1_response *r, const char *data, size_t n,
                         http1_body_fn *body_fn, void *ctx, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * The peer closed the connection. 0 if that completed the response (a body
 * delimited by the close, or r->done already), else HTTP1_ETRANSPORT with
 * err ("the server closed the connection before the end of the reply").
 */
int http1_response_eof(struct http1_response *r, struct buf *err)
    __attribute__((warn_unused_result));

/* ---- the connection ------------------------------------------------------ */

struct http1_conn;

/* What to send, and the limits of one exchange. */
struct http1_request {
    const char *method;  /* "GET", "POST", ... */
    const char *target;  /* "/api/v1/runs?x=1", already escaped */
    const char *headers; /* more header lines, each ending "\r\n"; may be NULL */
    const char *body;    /* sent with Content-Length unless method is GET; may be NULL */
    size_t body_len;
    long connect_timeout_ms; /* 0: none */
    long timeout_ms;         /* the whole exchange; 0: none */
    long idle_timeout_ms;    /* give up after this long without a byte; 0: none */
    bool keepalive_probe;    /* TCP keep-alive probes after 30 s idle (long silent streams) */
};

/*
 * A connection to host (a name, an IPv4 address or an IPv6 one without
 * brackets) and port, made by the first exchange. host_header is the Host
 * header's value ("host:port" as in the URL). Never fails.
 */
struct http1_conn *http1_conn_new(const char *host, const char *port, const char *host_header);
/* Closes the connection and frees c. NULL is fine. */
void http1_conn_free(struct http1_conn *c);

/*
 * Sends rq and reads the response into r (initialised by the caller, reset
 * here), handing the body to body_fn. Returns 0 when the response is
 * complete (r->status is the server's answer, whatever it is), HTTP1_ESTOP
 * when body_fn stopped it, HTTP1_EPARSE or HTTP1_ETRANSPORT with err. The
 * connection is kept for the next exchange only after 0 and when the
 * server allows it.
 */
int http1_conn_exchange(struct http1_conn *c, const struct http1_request *rq,
                        struct http1_response *r, http1_body_fn *body_fn, void *ctx,
                        struct buf *err) __attribute__((warn_unused_result));

#endif
