/*
 * http1: an HTTP/1.1 response parser and a keep-alive client connection
 * (see http1.h for the contract).
 */
#include "util/http1.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

enum state {
    S_STATUS,     /* the status line */
    S_HEADER,     /* header lines, up to the empty one */
    S_BODY_LEN,   /* Content-Length bytes */
    S_BODY_EOF,   /* everything up to the close */
    S_CHUNK_SIZE, /* a chunk-size line */
    S_CHUNK_DATA, /* a chunk's bytes */
    S_CHUNK_END,  /* the CRLF after them */
    S_TRAILER,    /* trailer lines after the last chunk, up to the empty one */
    S_DONE,
};

/* The largest Content-Length or chunk size taken (far more than any reply). */
#define MAX_BODY_SIZE ((uint64_t)1 << 60)

void http1_response_init(struct http1_response *r, size_t max_header)
{
    memset(r, 0, sizeof(*r));
    r->max_header = max_header;
    buf_init(&r->line, 0);
    http1_response_reset(r);
}

void http1_response_reset(struct http1_response *r)
{
    r->status = 0;
    r->content_length = -1;
    r->chunked = false;
    r->close = false;
    r->headers_done = false;
    r->done = false;
    r->state = S_STATUS;
    r->header_bytes = 0;
    r->left = 0;
    buf_reset(&r->line);
}

void http1_response_release(struct http1_response *r)
{
    buf_release(&r->line);
}

/*
 * Gathers one line from data[*i..n) into r->line (without its "\n" or
 * "\r\n"), refusing to let it grow past limit bytes. 1: a whole line is in
 * r->line; 0: data ran out first (all of it taken); -1: too long.
 */
static int take_line(struct http1_response *r, const char *data, size_t n, size_t *i, size_t limit)
{
    const char *nl = memchr(data + *i, '\n', n - *i);
    size_t len = (nl ? (size_t)(nl - data) : n) - *i;
    if (len > limit || r->line.len > limit - len)
        return -1;
    buf_add(&r->line, data + *i, len);
    *i += len + (nl ? 1 : 0);
    if (!nl)
        return 0;
    if (r->line.len && r->line.data[r->line.len - 1] == '\r')
        buf_setlen(&r->line, r->line.len - 1);
    return 1;
}

/* A header or trailer line: counted against max_header. */
static int take_header_line(struct http1_response *r, const char *data, size_t n, size_t *i,
                            struct buf *err)
{
    size_t room = r->header_bytes < r->max_header ? r->max_header - r->header_bytes : 0;
    int got = take_line(r, data, n, i, room);
    if (got < 0) {
        buf_addf(err, "the reply's headers are larger than %zu bytes", r->max_header);
        return -1;
    }
    if (got)
        r->header_bytes += r->line.len + 2;
    return got;
}

static int parse_status(struct http1_response *r, struct buf *err)
{
    const char *l = r->line.data;
    if (r->line.len < 12 || memcmp(l, "HTTP/1.", 7) || !isdigit((unsigned char)l[7]) ||
        l[8] != ' ' || !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
        !isdigit((unsigned char)l[11]) || (r->line.len > 12 && l[12] != ' ') || l[9] == '0') {
        buf_addf(err, "the reply does not start with an HTTP/1.x status line: '%.40s'", l);
        return -1;
    }
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (l[7] == '0')
        r->close = true; /* HTTP/1.0: no keep-alive unless negotiated, which we do not */
    return 0;
}

/* Does the comma-separated list v contain token t (case-insensitive)? */
static bool has_token(const char *v, const char *t)
{
    size_t tl = strlen(t);
    while (*v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && !strncasecmp(v, t, tl))
            return true;
        v += n;
    }
    return false;
}

static int parse_header(struct http1_response *r, struct buf *err)
{
    char *l = r->line.data;
    if (*l == ' ' || *l == '\t') {
        buf_adds(err, "the reply has a folded header line");
        return -1;
    }
    char *colon = memchr(l, ':', r->line.len);
    if (!colon || colon == l || memchr(l, ' ', (size_t)(colon - l)) ||
        memchr(l, '\t', (size_t)(colon - l))) {
        buf_addf(err, "the reply has a malformed header line: '%.40s'", l);
        return -1;
    }
    *colon = '\0';
    char *v = colon + 1;
    v += strspn(v, " \t");
    char *end = r->line.data + r->line.len;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';

    if (!strcasecmp(l, "Content-Length")) {
        uint64_t cl = 0;
        if (!*v)
            goto bad_length;
        for (const char *p = v; *p; p++) {
            if (!isdigit((unsigned char)*p) || cl > MAX_BODY_SIZE / 10)
                goto bad_length;
            cl = cl * 10 + (uint64_t)(*p - '0');
        }
        if (cl > MAX_BODY_SIZE || (r->content_length >= 0 && (uint64_t)r->content_length != cl))
            goto bad_length;
        r->content_length = (int64_t)cl;
    } else if (!strcasecmp(l, "Transfer-Encoding")) {
        if (strcasecmp(v, "chunked")) {
            buf_addf(err, "the reply has a transfer coding this client does not know: '%.40s'", v);
            return -1;
        }
        r->chunked = true;
    } else if (!strcasecmp(l, "Connection")) {
        if (has_token(v, "close"))
            r->close = true;
    }
    return 0;
bad_length:
    buf_addf(err, "the reply has a bad Content-Length: '%.40s'", v);
    return -1;
}

/* After the empty line: what the body is. */
static void headers_end(struct http1_response *r)
{
    if (r->status < 200) {
        /* An interim reply (100 Continue...): the real one follows. */
        r->status = 0;
        r->content_length = -1;
        r->chunked = false;
        r->state = S_STATUS;
        return;
    }
    r->headers_done = true;
    if (r->status == 204 || r->status == 304) {
        r->state = S_DONE;
    } else if (r->chunked) {
        r->state = S_CHUNK_SIZE;
        if (r->content_length >= 0)
            r->close = true; /* both: the length is ignored, and the peer is suspicious */
        r->content_length = -1;
    } else if (r->content_length >= 0) {
        r->left = (uint64_t)r->content_length;
        r->state = r->left ? S_BODY_LEN : S_DONE;
    } else {
        r->state = S_BODY_EOF;
        r->close = true;
    }
}

static int parse_chunk_size(struct http1_response *r, struct buf *err)
{
    const char *p = r->line.data;
    uint64_t size = 0;
    int digits = 0, significant = 0; /* leading zeros are allowed (1*HEXDIG), and not counted */
    for (; isxdigit((unsigned char)*p); p++, digits++) {
        if ((size || *p != '0') && ++significant == 16)
            goto bad;
        size = size * 16 + (uint64_t)(isdigit((unsigned char)*p)
                                          ? *p - '0'
                                          : tolower((unsigned char)*p) - 'a' + 10);
    }
    p += strspn(p, " \t");
    if (!digits || (*p && *p != ';'))
        goto bad;
    if (!size) {
        r->state = S_TRAILER;
    } else {
        r->left = size;
        r->state = S_CHUNK_DATA;
    }
    return 0;
bad:
    buf_addf(err, "the reply has a bad chunk size: '%.40s'", r->line.data);
    return -1;
}

static long body(const char *data, size_t n, http1_body_fn *body_fn, void *ctx)
{
    if (n && body_fn && body_fn(ctx, data, n))
        return HTTP1_ESTOP;
    return 0;
}

long http1_response_feed(struct http1_response *r, const char *data, size_t n,
                         http1_body_fn *body_fn, void *ctx, struct buf *err)
{
    size_t i = 0;
    int got;
    while (i < n && r->state != S_DONE) {
        switch (r->state) {
        case S_STATUS:
        case S_HEADER:
        case S_TRAILER:
            if ((got = take_header_line(r, data, n, &i, err)) < 0)
                return HTTP1_EPARSE;
            if (!got)
                break;
            if (r->state == S_STATUS) {
                if (parse_status(r, err))
                    return HTTP1_EPARSE;
                r->state = S_HEADER;
            } else if (!r->line.len) {
                if (r->state == S_HEADER)
                    headers_end(r);
                else
                    r->state = S_DONE;
            } else if (r->state == S_HEADER && parse_header(r, err)) {
                return HTTP1_EPARSE;
            }
            buf_reset(&r->line);
            break;
        case S_CHUNK_SIZE:
            got = take_line(r, data, n, &i, HTTP1_MAX_CHUNK_LINE);
            if (got < 0) {
                buf_addf(err, "the reply has a chunk-size line over %u bytes",
                         HTTP1_MAX_CHUNK_LINE);
                return HTTP1_EPARSE;
            }
            if (!got)
                break;
            if (parse_chunk_size(r, err))
                return HTTP1_EPARSE;
            buf_reset(&r->line);
            break;
        case S_CHUNK_END:
            got = take_line(r, data, n, &i, 1);
            if (got < 0 || (got && r->line.len)) {
                buf_adds(err, "the reply has a chunk longer than its size");
                return HTTP1_EPARSE;
            }
            if (got) {
                r->state = S_CHUNK_SIZE;
                buf_reset(&r->line);
            }
            break;
        case S_CHUNK_DATA:
        case S_BODY_LEN: {
            size_t k = n - i;
            if (k > r->left)
                k = (size_t)r->left;
            if (body(data + i, k, body_fn, ctx))
                return HTTP1_ESTOP;
            i += k;
            r->left -= k;
            if (!r->left)
                r->state = r->state == S_CHUNK_DATA ? S_CHUNK_END : S_DONE;
            break;
        }
        case S_BODY_EOF:
            if (body(data + i, n - i, body_fn, ctx))
                return HTTP1_ESTOP;
            i = n;
            break;
        }
    }
    r->done = r->state == S_DONE;
    return (long)i;
}

int http1_response_eof(struct http1_response *r, struct buf *err)
{
    if (r->state == S_BODY_EOF)
        r->state = S_DONE;
    r->done = r->state == S_DONE;
    if (r->done)
        return 0;
    if (r->state == S_STATUS && !r->line.len && !r->header_bytes)
        buf_adds(err, "the server closed the connection without a reply");
    else
        buf_adds(err, "the server closed the connection before the end of its reply");
    return HTTP1_ETRANSPORT;
}

/* ---- the connection ------------------------------------------------------ */

struct http1_conn {
    char *host, *port, *host_header;
    int fd; /* -1: not connected */
};

struct http1_conn *http1_conn_new(const char *host, const char *port, const char *host_header)
{
    struct http1_conn *c = xcalloc(1, sizeof(*c));
    c->host = xstrdup(host);
    c->port = xstrdup(port);
    c->host_header = xstrdup(host_header);
    c->fd = -1;
    return c;
}

static void conn_close(struct http1_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void http1_conn_free(struct http1_conn *c)
{
    if (!c)
        return;
    conn_close(c);
    free(c->host);
    free(c->port);
    free(c->host_header);
    free(c);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strerror(e), starting lower case, to follow "cannot talk to URL: ". */
static void add_errno(struct buf *err, int e)
{
    const char *s = strerror(e);
    buf_addch(err, tolower((unsigned char)*s));
    buf_adds(err, s + (*s ? 1 : 0));
}

/*
 * Waits until fd is ready for ev, until deadline (0: none) and for at most
 * idle_ms (0: no limit). 0, or HTTP1_ETRANSPORT with err.
 */
static int wait_fd(int fd, short ev, int64_t deadline, long idle_ms, long timeout_ms,
                   struct buf *err)
{
    for (;;) {
        int64_t wait = -1;
        if (deadline) {
            wait = deadline - mono_ms();
            if (wait <= 0) {
                buf_addf(err, "timed out after %ld ms", timeout_ms);
                return HTTP1_ETRANSPORT;
            }
        }
        bool idle_bound = idle_ms && (wait < 0 || idle_ms < wait);
        if (idle_bound)
            wait = idle_ms;
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, wait > INT32_MAX ? INT32_MAX : (int)wait);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            add_errno(err, errno);
            return HTTP1_ETRANSPORT;
        }
        if (!n && idle_bound) {
            buf_addf(err, "no data for %ld s", idle_ms / 1000);
            return HTTP1_ETRANSPORT;
        }
    }
}

/* Connects to one of the host's addresses, within the connect timeout and the deadline. */
static int conn_connect(struct http1_conn *c, const struct http1_request *rq, int64_t deadline,
                        struct buf *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    if (gai) {
        buf_addf(err, "cannot resolve %s: %s", c->host,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return HTTP1_ETRANSPORT;
    }
    int64_t start = mono_ms(), cdeadline = 0;
    if (rq->connect_timeout_ms)
        cdeadline = start + rq->connect_timeout_ms;
    if (deadline && (!cdeadline || deadline < cdeadline))
        cdeadline = deadline;
    struct buf why = BUF_INIT;
    int rc = HTTP1_ETRANSPORT;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        buf_reset(&why);
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            add_errno(&why, errno);
            continue;
        }
        int e = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen)) {
            e = errno;
            if (e == EINPROGRESS) {
                struct buf werr = BUF_INIT;
                long ct = rq->connect_timeout_ms;
                if (wait_fd(fd, POLLOUT, cdeadline, 0, ct, &werr)) {
                    e = ETIMEDOUT;
                } else {
                    socklen_t len = sizeof(e);
                    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len))
                        e = errno;
                }
                buf_release(&werr);
            }
        }
        if (e) {
            close(fd);
            if (e == ETIMEDOUT && cdeadline)
                buf_addf(&why, "connection timed out after %lld ms",
                         (long long)(mono_ms() - start));
            else
                add_errno(&why, e);
            if (cdeadline && mono_ms() >= cdeadline)
                break;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        c->fd = fd;
        rc = 0;
        break;
    }
    if (rc)
        buf_add(err, why.data, why.len);
    buf_release(&why);
    freeaddrinfo(res);
    return rc;
}

static int send_all(struct http1_conn *c, const struct buf *req, int64_t deadline,
                    const struct http1_request *rq, int *os_error, struct buf *err)
{
    size_t off = 0;
    *os_error = 0;
    while (off < req->len) {
        ssize_t n = send(c->fd, req->data + off, req->len - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            *os_error = errno;
            add_errno(err, errno);
            return HTTP1_ETRANSPORT;
        }
        if (wait_fd(c->fd, POLLOUT, deadline, rq->idle_timeout_ms, rq->timeout_ms, err))
            return HTTP1_ETRANSPORT;
    }
    return 0;
}

int http1_conn_exchange(struct http1_conn *c, const struct http1_request *rq,
                        struct http1_response *r, http1_body_fn *body_fn, void *ctx,
                        struct buf *err)
{
    struct buf req = BUF_INIT, why = BUF_INIT;
    int64_t deadline = rq->timeout_ms ? mono_ms() + rq->timeout_ms : 0;
    char in[64 << 10];
    int rc = HTTP1_ETRANSPORT;

    buf_addf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", rq->method, rq->target, c->host_header,
             rq->headers ? rq->headers : "");
    if (strcmp(rq->method, "GET"))
        buf_addf(&req, "Content-Length: %zu\r\n", rq->body ? rq->body_len : 0);
    buf_adds(&req, "\r\n");
    if (rq->body && strcmp(rq->method, "GET"))
        buf_add(&req, rq->body, rq->body_len);

    /*
     * A kept-alive connection the server has closed meanwhile fails the
     * next request before any reply: it is sent again on a new connection.
     * A POST is sent again only when its sending failed; once sent, the
     * server may have acted on it (a trigger would run twice).
     */
    bool idempotent = strcmp(rq->method, "POST") != 0;
    for (int attempt = 0;; attempt++) {
        bool reused = c->fd >= 0, got_any = false, retry = false;
        int os_error;
        buf_reset(&why);
        http1_response_reset(r);
        if (!reused && (rc = conn_connect(c, rq, deadline, &why)))
            break;
        if (rq->keepalive_probe) {
            int idle = 30, intvl = 10;
            setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
            setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        }
        rc = send_all(c, &req, deadline, rq, &os_error, &why);
        if (rc) {
            retry = reused && (os_error == EPIPE || os_error == ECONNRESET);
        } else {
            for (;;) {
                ssize_t n = recv(c->fd, in, sizeof(in), 0);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        rc = wait_fd(c->fd, POLLIN, deadline, rq->idle_timeout_ms, rq->timeout_ms,
                                     &why);
                        if (rc)
                            break;
                        continue;
                    }
                    retry = reused && idempotent && !got_any && errno == ECONNRESET;
                    add_errno(&why, errno);
                    rc = HTTP1_ETRANSPORT;
                    break;
                }
                if (!n) {
                    retry = reused && idempotent && !got_any;
                    rc = http1_response_eof(r, &why);
                    break;
                }
                got_any = true;
                long used = http1_response_feed(r, in, (size_t)n, body_fn, ctx, &why);
                if (used < 0) {
                    rc = (int)used;
                    break;
                }
                if (r->done) {
                    if ((size_t)used < (size_t)n)
                        r->close = true; /* more than the reply: do not trust what follows */
                    rc = 0;
                    break;
                }
            }
        }
        if (rc || r->close)
            conn_close(c);
        if (!(rc && retry && attempt == 0))
            break;
    }
    if (rc && rc != HTTP1_ESTOP)
        buf_add(err, why.data, why.len);
    buf_release(&req);
    buf_release(&why);
    return rc;
}
