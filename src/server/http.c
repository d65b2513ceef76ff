/*
 * http: the HTTP server on libmicrohttpd (see http.h for the contract).
 *
 * Threads: MHD runs an epoll loop on `threads` worker threads (a thread
 * pool sharing the listening socket). Handlers run on those threads once the
 * request is complete, so a slow handler holds up only its own worker.
 *
 * Streams: a reader that has nothing now must not keep a worker spinning,
 * and a few hundred open log streams must not cost a few hundred threads.
 * So a stream whose reader returns 0 is suspended (MHD_suspend_connection:
 * MHD stops polling it) and queued on the server's wait list; one timer
 * thread resumes it HTTP_STREAM_POLL_MS later, and MHD calls the reader
 * again. Every stream waits the same time, so the wait list is a FIFO sorted
 * by deadline, and the timer resumes every stream due within a small slack
 * at once: a quiet stream costs one reader call and one poll() of its socket
 * per interval, and idle streams share the timer's wake-ups. MHD does not
 * watch a suspended socket, so that poll() is what notices a client that
 * left a quiet stream. http_wake() has the timer resume every waiting
 * stream without a key at once: the server calls it on each event of the
 * engine, so a stream that waits for any event (the events stream) sees it
 * without the poll's delay.
 *
 * A keyed stream (a live log, a wait for a run's end:
 * http_reply_stream_keyed) waits on a second list, HTTP_STREAM_KEYED_POLL_MS
 * at most, and is resumed as soon as http_wake_key() names its key, and only
 * then (the engine's events and the chunks its jobs print name the run's
 * keys, once the chunk is in the log): a quiet log costs its viewers one
 * read a second, a printing one a read per chunk, and the events of other
 * runs nothing. The caller only records the key; the timer thread resumes.
 * A read that began before a wake-up of its key (of any key, for a stream
 * without one) and found nothing is read again at once (wake_slot,
 * wake_all), so that nothing waits for the next poll.
 *
 * Locking: `mu` guards the wait list and `stopping`. It is held across
 * MHD_suspend_connection (from the reader) and MHD_resume_connection (from
 * the timer), so a stream is always suspended before anyone may resume it.
 * That nests MHD's internal mutex inside `mu`; MHD never calls back into
 * this file with its mutex held (a reader may itself suspend), and the
 * stream free callback, which MHD calls from its cleanup, takes no lock.
 *
 * Stopping: MHD_stop_daemon must not see a suspended connection. http_stop
 * sets `stopping` under `mu`; from then on no reader suspends (it ends its
 * stream instead) and the timer resumes every waiting stream at once, so
 * streams end with a proper last chunk before the daemon closes the rest.
 *
 * Paths: the URL MHD hands to the access handler is already percent-decoded
 * ("/a%2Fb" would read as two segments), so the raw request target is taken
 * from the URI log callback, split on '/', and each segment decoded on its
 * own. A segment that decodes to '/' or NUL, or is "." or "..", is refused
 * with 400: parameters are safe to use as names. http_path() is that raw
 * path, without the query. Query arguments are parsed and decoded by MHD.
 *
 * Errors: every reply made here is a JSON error, except those MHD makes
 * itself before a request reaches this file (a malformed request line, or
 * headers over CONNECTION_MEMORY: 400, 414, 431 with MHD's HTML body).
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "util/xalloc.h"

#define DEFAULT_MAX_BODY        (1u << 20)
#define DEFAULT_THREADS         4
#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_PER_IP          64
#define MAX_THREADS             256
/* An idle connection (keep-alive, a slow sender) is closed after this. */
#define CONNECTION_TIMEOUT_S 30
/*
 * MHD's per-connection memory pool: it holds the request line and headers,
 * so it is the header size limit (about 32 KiB), and later the send buffer.
 */
#define CONNECTION_MEMORY (32u << 10)
/* A streamed reply's preferred read size. */
#define STREAM_BLOCK (16u << 10)
/* Streams due within this much of the earliest deadline resume together. */
#define STREAM_SLACK_MS 10
/* How long http_stop lets ended streams flush their last chunk. */
#define STOP_GRACE_MS 1000

struct route_seg {
    char *text; /* literal text, or the parameter's name */
    bool param;
};

struct route {
    const struct http_route *def;
    struct route_seg *segs;
    size_t nsegs;
};

struct stream {
    struct http_server *srv;
    struct MHD_Connection *conn;
    int fd; /* the connection's socket, -1 if unknown */
    http_stream_read read;
    http_stream_free free_ctx;
    void *ctx;
    uint64_t key;        /* 0, or what http_wake_key wakes it for */
    uint64_t due_ms;     /* while on a wait list */
    struct stream *next; /* wait list */
};

/* Suspended streams by deadline: every stream of a list waits as long. */
struct wait_list {
    struct stream *head, *tail;
};

/* Keys woken since the timer last looked; more than fit wake every keyed stream. */
#define WAKE_KEYS 16
/* Counters of wake-ups by key (hashed), for a reader to tell whether one came
 * while it read (stream_read_cb). */
#define WAKE_SLOTS 64

struct http_server {
    struct MHD_Daemon *mhd;
    struct route *routes;
    size_t nroutes;
    void *ctx;
    http_authorize authorize;
    http_after after;
    http_idle idle;
    size_t max_body;
    uint16_t port;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* wakes the timer: new waiter, stopping or quit */
    pthread_t timer;
    bool timer_started;
    bool stopping;                 /* under mu */
    bool quit;                     /* under mu: the timer thread ends */
    bool wake;                     /* under mu: resume every waiting stream now */
    struct wait_list polled;       /* under mu: streams that poll (HTTP_STREAM_POLL_MS) */
    struct wait_list keyed;        /* under mu: streams woken by key */
    uint64_t wake_keys[WAKE_KEYS]; /* under mu: keys woken (http_wake_key) */
    size_t nwake_keys;             /* under mu; > WAKE_KEYS: all of them */
    /* Wake-ups so far, written under mu: by http_wake (wake_all), and by
     * http_wake_key in the slot of the key's hash (wake_slot). */
    atomic_ulong wake_all, wake_slot[WAKE_SLOTS];
    atomic_bool stopping_hint; /* a lock-free early look at `stopping` */
    atomic_long streams_open;  /* created, not yet freed by MHD */
};

struct header {
    char *name;
    char *value;
};

struct param {
    const char *name;  /* the route's */
    const char *value; /* one of segs[] */
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    char *path; /* as sent, without the query: still percent-encoded */
    char **segs;
    size_t nsegs;
    const struct route *route;
    struct param *params;
    size_t nparams;
    struct buf body;
    size_t discarded; /* bytes of an oversized body thrown away */
    bool started;
    bool too_large;
    bool bad_path;
    struct MHD_Response *resp; /* the reply, queued after the handler returns */
    unsigned status;
    bool audited;        /* the audit has this request already (http_set_audited) */
    struct header *hdrs; /* headers for the reply not yet made */
    size_t nhdrs, alloc_hdrs;
    char *user; /* set by authorize */
    unsigned user_role;
    int64_t token_id, token_expires_ms; /* set by authorize (http_set_token) */
    char peer[64];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    /* What MHD says when a stream ends in error or its client left: the reader's to report. */
    if (!strncmp(line, "Closing connection (application error", 37))
        return;
    fprintf(stderr, "flywheel: http: %s\n", line);
}

/* ---- routes ---- */

static void routes_free(struct route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < routes[i].nsegs; j++)
            free(routes[i].segs[j].text);
        free(routes[i].segs);
    }
    free(routes);
}

static int route_compile(struct route *rt, const struct http_route *def, struct buf *err)
{
    const char *p = def->path;
    size_t alloc = 0;

    rt->def = def;
    rt->segs = NULL;
    rt->nsegs = 0;
    if (!p || p[0] != '/' || !def->handler) {
        buf_addf(err, "route %s %s: a path starts with '/' and a route has a handler", def->method,
                 p ? p : "(null)");
        return -EINVAL;
    }
    do {
        const char *s = p + 1;
        size_t n = strcspn(s, "/");
        struct route_seg seg = {NULL, false};
        if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
            seg.param = true;
            seg.text = xmemdupz(s + 1, n - 2);
            if (!*seg.text || strpbrk(seg.text, "{}")) {
                free(seg.text);
                buf_addf(err, "route %s %s: bad parameter '%.*s'", def->method, def->path, (int)n,
                         s);
                return -EINVAL;
            }
            for (size_t i = 0; i < rt->nsegs; i++) {
                if (rt->segs[i].param && !strcmp(rt->segs[i].text, seg.text)) {
                    buf_addf(err, "route %s %s: parameter '%s' appears twice", def->method,
                             def->path, seg.text);
                    free(seg.text);
                    return -EINVAL;
                }
            }
        } else if (memchr(s, '{', n) || memchr(s, '}', n) || memchr(s, '%', n)) {
            buf_addf(err, "route %s %s: a parameter is a whole segment '{name}'", def->method,
                     def->path);
            return -EINVAL;
        } else {
            seg.text = xmemdupz(s, n);
        }
        ALLOC_GROW(rt->segs, rt->nsegs + 1, alloc);
        rt->segs[rt->nsegs++] = seg;
        p = s + n;
    } while (*p == '/');
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes one raw path segment. Refuses bad escapes, an encoded '/' or NUL,
 * and the dot segments a client should have removed.
 */
static char *segment_decode(const char *s, size_t n)
{
    char *out = xmalloc(xadd(n, 1));
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            c = h * 16 + l;
            i += 2;
            if (c == '\0' || c == '/') {
                free(out);
                return NULL;
            }
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (!strcmp(out, ".") || !strcmp(out, "..")) {
        free(out);
        return NULL;
    }
    return out;
}

static void request_split_path(struct http_request *r)
{
    size_t alloc = 0;
    const char *p = r->path;

    if (p[0] != '/') {
        r->bad_path = true;
        return;
    }
    do {
        const char *s = p + 1;
        size_t n = strcspn(s, "/");
        char *seg = segment_decode(s, n);
        if (!seg) {
            r->bad_path = true;
            return;
        }
        ALLOC_GROW(r->segs, r->nsegs + 1, alloc);
        r->segs[r->nsegs++] = seg;
        p = s + n;
    } while (*p == '/');
}

static bool route_matches_path(const struct route *rt, const struct http_request *r)
{
    if (rt->nsegs != r->nsegs)
        return false;
    for (size_t i = 0; i < rt->nsegs; i++) {
        if (rt->segs[i].param ? !*r->segs[i] : strcmp(rt->segs[i].text, r->segs[i]) != 0)
            return false;
    }
    return true;
}

static bool method_matches(const char *route_method, const char *method)
{
    return !strcmp(route_method, method) ||
           (!strcmp(method, "HEAD") && !strcmp(route_method, "GET"));
}

/* The Allow header for a path that some route matches. */
static void allowed_methods(const struct http_server *s, const struct http_request *r,
                            struct buf *out)
{
    bool get = false, head = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const char *m = s->routes[i].def->method;
        if (!route_matches_path(&s->routes[i], r))
            continue;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(s->routes[j].def->method, m) && route_matches_path(&s->routes[j], r);
        if (dup)
            continue;
        get |= !strcmp(m, "GET");
        head |= !strcmp(m, "HEAD");
        if (out->len)
            buf_adds(out, ", ");
        buf_adds(out, m);
    }
    if (get && !head)
        buf_adds(out, ", HEAD");
}

/* ---- replies ---- */

static void apply_header(struct MHD_Response *resp, const char *name, const char *value)
{
    /* MHD refuses names and values with CR, LF or (in names) ':'. */
    if (MHD_add_response_header(resp, name, value) != MHD_YES)
        fprintf(stderr, "flywheel: http: response header '%s' refused\n", name);
}

/* The first reply wins; a second is a handler's bug, logged and dropped. */
static bool already_replied(const struct http_request *r)
{
    if (r->resp)
        fprintf(stderr, "flywheel: http: a second reply to %s %s is ignored\n", r->method, r->path);
    return r->resp != NULL;
}

/* Makes resp the request's reply, unless it already has one. Takes resp. */
static void set_reply(struct http_request *r, unsigned status, struct MHD_Response *resp,
                      const char *content_type)
{
    if (already_replied(r)) {
        MHD_destroy_response(resp);
        return;
    }
    if (status < 100 || status > 599)
        status = 500;
    if (content_type)
        apply_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    apply_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < r->nhdrs; i++)
        apply_header(resp, r->hdrs[i].name, r->hdrs[i].value);
    r->resp = resp;
    r->status = status;
}

static void reply_buffer(struct http_request *r, unsigned status, const char *content_type,
                         char *data, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (!resp) {
        free(data);
        return;
    }
    set_reply(r, status, resp, content_type);
}

void http_reply_json(struct http_request *r, unsigned status, json_t *body)
{
    if (already_replied(r)) {
        json_decref(body);
        return;
    }
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    if (!s) {
        http_reply_error(r, 500, "internal", "the reply could not be encoded");
        return;
    }
    struct buf b = BUF_INIT;
    buf_adds(&b, s);
    buf_addch(&b, '\n');
    free(s);
    size_t len;
    char *data = buf_detach(&b, &len);
    reply_buffer(r, status, "application/json", data, len);
}

/* A JSON string of s; bytes of invalid UTF-8 (quoted from a request) become '?'. */
static json_t *json_text(char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80 || !s[i])
            s[i] = '?';
    return json_stringn(s, len);
}

void http_reply_error(struct http_request *r, unsigned status, const char *code, const char *fmt,
                      ...)
{
    struct buf msg = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_text(msg.data, msg.len));
    buf_release(&msg);
    http_reply_json(r, status, o);
}

void http_reply_text(struct http_request *r, unsigned status, const char *content_type,
                     const char *data, size_t len)
{
    reply_buffer(r, status, content_type ? content_type : "text/plain; charset=utf-8",
                 xmemdupz(data, len), len);
}

void http_reply_static(struct http_request *r, unsigned status, const char *content_type,
                       const void *data, size_t len)
{
    if (already_replied(r))
        return;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
    if (resp)
        set_reply(r, status, resp, content_type);
}

void http_add_header(struct http_request *r, const char *name, const char *value)
{
    if (r->resp) {
        apply_header(r->resp, name, value);
        return;
    }
    ALLOC_GROW(r->hdrs, r->nhdrs + 1, r->alloc_hdrs);
    r->hdrs[r->nhdrs].name = xstrdup(name);
    r->hdrs[r->nhdrs].value = xstrdup(value);
    r->nhdrs++;
}

/* ---- streams ---- */

/*
 * Whether the client closed its end. MHD does not watch a suspended
 * connection, and a write to a closed peer may still succeed once, so a quiet
 * stream would outlive its client (holding a connection slot) until the log
 * grew twice. A client that half-closes after its request is taken as gone.
 */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t stream_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    struct http_server *s = st->srv;

    if (atomic_load(&s->stopping_hint))
        return MHD_CONTENT_READER_END_OF_STREAM;
    atomic_ulong *slot = &s->wake_slot[st->key % WAKE_SLOTS];
    unsigned long all = atomic_load(&s->wake_all), mine = atomic_load(slot);
    long n = st->read(st->ctx, pos, buf, max);
    if (s->idle)
        s->idle(s->ctx);
    if (n > 0)
        return (size_t)n <= max ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == HTTP_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0 || client_gone(st->fd))
        return MHD_CONTENT_READER_END_WITH_ERROR;

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* A wake-up since the read began may be for what it did not see: then
     * the stream is read again at once, not when its key is next woken. */
    bool missed = st->key ? atomic_load(slot) != mine : atomic_load(&s->wake_all) != all;
    struct wait_list *l = st->key && !missed ? &s->keyed : &s->polled;
    st->due_ms = now_ms() + (missed    ? 0
                             : st->key ? HTTP_STREAM_KEYED_POLL_MS
                                       : HTTP_STREAM_POLL_MS);
    st->next = NULL;
    if (missed) {
        /* due now: first in the polled list, whose order is by deadline */
        st->next = l->head;
        l->head = st;
        if (!l->tail)
            l->tail = st;
        pthread_cond_signal(&s->cond);
    } else if (l->tail) {
        l->tail->next = st;
    } else {
        l->head = st;
        pthread_cond_signal(&s->cond);
    }
    if (!missed)
        l->tail = st;
    MHD_suspend_connection(st->conn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Under mu: resumes the streams of l that are due by until, or all. */
static void resume_due(struct wait_list *l, bool all, uint64_t until)
{
    while (l->head && (all || l->head->due_ms <= until)) {
        struct stream *st = l->head;
        l->head = st->next;
        if (!l->head)
            l->tail = NULL;
        MHD_resume_connection(st->conn);
    }
}

/* Under mu: resumes the keyed streams whose key was woken. */
static void resume_woken(struct http_server *s)
{
    struct stream **pp = &s->keyed.head, *prev = NULL;
    while (*pp) {
        struct stream *st = *pp;
        bool hit = s->nwake_keys > WAKE_KEYS;
        for (size_t k = 0; !hit && k < s->nwake_keys; k++)
            hit = s->wake_keys[k] == st->key;
        if (!hit) {
            prev = st;
            pp = &st->next;
            continue;
        }
        *pp = st->next;
        if (s->keyed.tail == st)
            s->keyed.tail = prev;
        MHD_resume_connection(st->conn);
    }
    s->nwake_keys = 0;
}

static void stream_free_cb(void *cls)
{
    struct stream *st = cls;
    if (st->free_ctx)
        st->free_ctx(st->ctx);
    atomic_fetch_sub(&st->srv->streams_open, 1);
    free(st);
}

static void *timer_main(void *arg)
{
    struct http_server *s = arg;

    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        uint64_t now = now_ms();
        bool all = s->stopping || s->wake;
        s->wake = false;
        if (s->nwake_keys)
            resume_woken(s);
        resume_due(&s->polled, all, now + STREAM_SLACK_MS);
        resume_due(&s->keyed, s->stopping, now + STREAM_SLACK_MS);
        struct stream *first = s->polled.head;
        if (!first || (s->keyed.head && s->keyed.head->due_ms < first->due_ms))
            first = s->keyed.head;
        if (first) {
            uint64_t due = first->due_ms;
            struct timespec ts = {.tv_sec = (time_t)(due / 1000),
                                  .tv_nsec = (long)(due % 1000) * 1000000};
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        } else {
            pthread_cond_wait(&s->cond, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void http_wake(struct http_server *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&s->wake_all, 1);
    if (s->polled.head) {
        s->wake = true;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
}

void http_wake_key(struct http_server *s, uint64_t key)
{
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&s->wake_slot[key % WAKE_SLOTS], 1);
    bool waits = false; /* a stream of key waits: else there is no one to wake */
    for (struct stream *st = s->keyed.head; st && !waits; st = st->next)
        waits = st->key == key;
    if (waits && s->nwake_keys <= WAKE_KEYS) {
        bool known = false;
        for (size_t k = 0; !known && k < s->nwake_keys && k < WAKE_KEYS; k++)
            known = s->wake_keys[k] == key;
        if (!known) {
            if (s->nwake_keys < WAKE_KEYS)
                s->wake_keys[s->nwake_keys] = key;
            s->nwake_keys++; /* past WAKE_KEYS: every keyed stream */
            pthread_cond_signal(&s->cond);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void http_reply_stream(struct http_request *r, unsigned status, const char *content_type,
                       http_stream_read read, http_stream_free free_ctx, void *ctx)
{
    http_reply_stream_keyed(r, status, content_type, read, free_ctx, ctx, 0);
}

void http_reply_stream_keyed(struct http_request *r, unsigned status, const char *content_type,
                             http_stream_read read, http_stream_free free_ctx, void *ctx,
                             uint64_t key)
{
    if (already_replied(r)) {
        if (free_ctx)
            free_ctx(ctx);
        return;
    }
    struct stream *st = xcalloc(1, sizeof(*st));
    st->srv = r->srv;
    st->conn = r->conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    st->read = read;
    st->free_ctx = free_ctx;
    st->ctx = ctx;
    st->key = key;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read_cb, st, stream_free_cb);
    if (!resp) {
        if (free_ctx)
            free_ctx(ctx);
        free(st);
        return;
    }
    atomic_fetch_add(&r->srv->streams_open, 1);
    /* A live stream must reach the client as it is written, not when a proxy's buffer fills. */
    apply_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    apply_header(resp, "X-Accel-Buffering", "no");
    set_reply(r, status, resp, content_type);
}

/* ---- reading the request ---- */

const char *http_method(const struct http_request *r)
{
    return r->method;
}

const char *http_path(const struct http_request *r)
{
    return r->path;
}

const char *http_param(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].name, name))
            return r->params[i].value;
    return NULL;
}

/*
 * An argument given without '=' reads as "". One whose decoded value holds
 * a NUL byte reads as absent: it cannot be passed on as a C string.
 */
const char *http_query(const struct http_request *r, const char *name)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
        MHD_YES)
        return NULL;
    if (!v)
        return "";
    return memchr(v, '\0', n) ? NULL : v;
}

const char *http_header(const struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data;
}

void http_body_wipe(struct http_request *r)
{
    if (r->body.len)
        explicit_bzero(r->body.data, r->body.len);
}

const char *http_peer(const struct http_request *r)
{
    return r->peer;
}

const char *http_route_path(const struct http_request *r)
{
    return r->route ? r->route->def->path : NULL;
}

void http_set_audited(struct http_request *r)
{
    r->audited = true;
}

bool http_audited(const struct http_request *r)
{
    return r->audited;
}

void http_set_user(struct http_request *r, const char *name, unsigned role)
{
    free(r->user);
    r->user = name ? xstrdup(name) : NULL;
    r->user_role = role;
}

const char *http_user(const struct http_request *r)
{
    return r->user;
}

void http_set_token(struct http_request *r, int64_t id, int64_t expires_ms)
{
    r->token_id = id;
    r->token_expires_ms = expires_ms;
}

int64_t http_token(const struct http_request *r, int64_t *expires_ms)
{
    *expires_ms = r->token_expires_ms;
    return r->token_id;
}

unsigned http_user_role(const struct http_request *r)
{
    return r->user_role;
}

/* The peer's address as text, kept on the request for the log and the audit. */
static void request_peer(struct http_request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->peer[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->peer,
                  sizeof(r->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->peer,
                  sizeof(r->peer));
}

json_t *http_body_json(struct http_request *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        http_reply_error(r, 400, "bad_json", "line %d column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_error(r, 400, "bad_json", "line 1 column 1: expected a JSON object");
        return NULL;
    }
    return j;
}

int http_query_int(struct http_request *r, const char *name, long min, long max, long dflt,
                   long *out)
{
    const char *v = http_query(r, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        http_reply_error(r, 400, "bad_request",
                         "query argument '%s' must be an integer from %ld to %ld", name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

/* ---- MHD callbacks ---- */

static struct http_request *request_new(struct http_server *s, const char *uri)
{
    struct http_request *r = xcalloc(1, sizeof(*r));
    r->srv = s;
    r->path = xmemdupz(uri, strcspn(uri, "?"));
    buf_init(&r->body, s->max_body);
    return r;
}

static void request_free(struct http_request *r)
{
    if (!r)
        return;
    if (r->resp)
        MHD_destroy_response(r->resp);
    for (size_t i = 0; i < r->nsegs; i++)
        free(r->segs[i]);
    free(r->segs);
    free(r->params);
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->hdrs);
    buf_release(&r->body);
    free(r->path);
    free(r->user);
    free(r);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    return request_new(cls, uri);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result queue_reply(struct http_request *r)
{
    if (!r->resp) {
        http_reply_error(r, 500, "internal", "the handler of %s %s made no reply", r->method,
                         r->path);
        if (!r->resp)
            return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return rc;
}

/*
 * A refusal decided from the headers alone. When a body follows, it is sent
 * at once: MHD then drops the body unread and closes the connection. Without
 * a body it waits for the final call, which keeps the connection alive.
 */
static enum MHD_Result refuse(struct http_request *r)
{
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if ((cl && strcmp(cl, "0") != 0) ||
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return queue_reply(r);
    return MHD_YES;
}

/*
 * The first call, with the headers: routes the request and refuses what can
 * be refused without the body (404, 405, 400 for a bad path, 413 for a
 * declared length over the cap), so that a refused body is never read.
 */
static enum MHD_Result request_start(struct http_request *r)
{
    struct http_server *s = r->srv;

    request_split_path(r);
    if (r->bad_path) {
        http_reply_error(r, 400, "bad_path", "malformed path");
        return refuse(r);
    }
    bool path_known = false;
    for (size_t i = 0; i < s->nroutes && !r->route; i++) {
        if (!route_matches_path(&s->routes[i], r))
            continue;
        path_known = true;
        if (method_matches(s->routes[i].def->method, r->method))
            r->route = &s->routes[i];
    }
    if (!r->route) {
        if (!path_known) {
            http_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
        } else {
            struct buf allow = BUF_INIT;
            allowed_methods(s, r, &allow);
            http_add_header(r, MHD_HTTP_HEADER_ALLOW, allow.data);
            http_reply_error(r, 405, "method_not_allowed", "%s %s: allowed: %s", r->method, r->path,
                             allow.data);
            buf_release(&allow);
        }
        return refuse(r);
    }
    for (size_t i = 0; i < r->route->nsegs; i++) {
        if (!r->route->segs[i].param)
            continue;
        r->params = xrealloc(r->params, xmul(r->nparams + 1, sizeof(*r->params)));
        r->params[r->nparams].name = r->route->segs[i].text;
        r->params[r->nparams].value = r->segs[i];
        r->nparams++;
    }
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || *end || n > s->max_body) {
            http_reply_error(r, 413, "too_large", "the request body is over %zu bytes",
                             s->max_body);
            return refuse(r);
        }
    }
    if (s->authorize && !s->authorize(r, r->route->def->need, s->ctx)) {
        if (!r->resp)
            http_reply_error(r, 403, "forbidden", "not allowed");
        return refuse(r);
    }
    return MHD_YES;
}

static enum MHD_Result access_step(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_request *r = *con_cls;
    (void)version;

    if (!r)
        r = *con_cls = request_new(s, url);
    if (!r->started) {
        r->started = true;
        r->conn = conn;
        r->method = method;
        request_peer(r);
        return request_start(r);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->resp && !r->too_large && buf_try_add(&r->body, upload_data, n) == 0)
            return MHD_YES;
        /*
         * A chunked body over the cap: MHD cannot answer in the middle of
         * an upload, so the rest is read and dropped, and 413 answered at
         * the end; a sender that keeps going past another cap's worth is
         * cut off.
         */
        r->too_large = true;
        r->discarded = xadd(r->discarded, n);
        return r->discarded > s->max_body ? MHD_NO : MHD_YES;
    }
    if (r->resp) /* refused by request_start() */
        return queue_reply(r);
    if (r->too_large)
        http_reply_error(r, 413, "too_large", "the request body is over %zu bytes", s->max_body);
    else
        r->route->def->handler(r, s->ctx);
    if (s->after)
        s->after(r, r->resp ? r->status : 500, s->ctx);
    return queue_reply(r);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    enum MHD_Result rc =
        access_step(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
    if (s->idle)
        s->idle(s->ctx);
    return rc;
}

/* ---- the server ---- */

static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
                        struct buf *err)
{
    const char *colon;
    char host[INET6_ADDRSTRLEN + 1];
    size_t hlen;

    memset(ss, 0, sizeof(*ss));
    if (!addr)
        addr = "";
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            goto bad;
        hlen = (size_t)(rb - addr - 1);
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, addr + 1, hlen);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - addr);
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, addr, hlen);
    }
    host[hlen] = '\0';

    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535)
        goto bad;

    if (addr[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            goto bad;
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto bad;
        *len = sizeof(*a);
    }
    return 0;
bad:
    buf_addf(err, "bad listen address '%s' (expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)",
             addr);
    return -EINVAL;
}

/* A listening socket (close-on-exec, non-blocking, as MHD's thread pool wants it). */
static int listen_socket(const char *addr, const struct sockaddr_storage *ss, socklen_t len,
                         uint16_t *port, struct buf *err)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
        bind(fd, (const struct sockaddr *)ss, len) || listen(fd, SOMAXCONN))
        goto fail;
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &glen))
        goto fail;
    *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
fail:;
    int e = errno;
    buf_addf(err, "cannot listen on %s: %s", addr, strerror(e));
    if (fd >= 0)
        close(fd);
    return -e;
}

int http_start(struct http_server **out, const struct http_config *cfg, struct buf *err)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    pthread_condattr_t ca;
    struct stat fd_st;
    int fd = -1, rc;
    bool sync_init = false;

    *out = NULL;
    s->ctx = cfg->ctx;
    s->authorize = cfg->authorize;
    s->after = cfg->after;
    s->idle = cfg->idle;
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    atomic_init(&s->stopping_hint, false);
    atomic_init(&s->streams_open, 0);
    atomic_init(&s->wake_all, 0);
    for (size_t k = 0; k < WAKE_SLOTS; k++)
        atomic_init(&s->wake_slot[k], 0);
    for (const struct http_route *d = cfg->routes; d && d->method; d++) {
        s->routes = xrealloc(s->routes, xmul(s->nroutes + 1, sizeof(*s->routes)));
        rc = route_compile(&s->routes[s->nroutes], d, err);
        s->nroutes++;
        if (rc)
            goto fail;
    }
    if ((rc = parse_listen(cfg->listen, &ss, &sslen, err)))
        goto fail;
    if ((rc = fd = listen_socket(cfg->listen, &ss, sslen, &s->port, err)) < 0)
        goto fail;
    if (fstat(fd, &fd_st)) {
        rc = -errno;
        buf_addf(err, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto fail;
    }

    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    sync_init = true;
    if ((rc = -pthread_create(&s->timer, NULL, timer_main, s))) {
        buf_addf(err, "cannot start the stream timer: %s", strerror(-rc));
        goto fail;
    }
    s->timer_started = true;

    unsigned threads = cfg->threads ? cfg->threads : DEFAULT_THREADS;
    if (threads > MAX_THREADS) {
        buf_addf(err, "%u threads is too many (at most %u)", threads, MAX_THREADS);
        rc = -EINVAL;
        goto fail;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->per_ip_connections ? cfg->per_ip_connections : DEFAULT_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_URI_LOG_CALLBACK,
        uri_cb, s, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_END);
    if (!s->mhd) {
        /*
         * Whether MHD closed the socket it was given depends on where it
         * failed; close it only if fd still names that socket.
         */
        struct stat now;
        if (fstat(fd, &now) || now.st_dev != fd_st.st_dev || now.st_ino != fd_st.st_ino)
            fd = -1;
        buf_addf(err, "cannot start the HTTP server on %s (see the messages above)", cfg->listen);
        rc = -EIO;
        goto fail;
    }
    *out = s;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    if (s->timer_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->timer, NULL);
    }
    if (sync_init) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
    }
    routes_free(s->routes, s->nroutes);
    free(s);
    return rc < 0 ? rc : -EINVAL;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);

    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    atomic_store(&s->stopping_hint, true);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);

    /* Ended streams send their last chunk; one whose client does not read is cut off. */
    uint64_t deadline = now_ms() + STOP_GRACE_MS;
    while (atomic_load(&s->streams_open) > 0 && now_ms() < deadline)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);

    MHD_stop_daemon(s->mhd);

    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->timer, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    routes_free(s->routes, s->nroutes);
    free(s);
}

uint16_t http_port(const struct http_server *s)
{
    return s->port;
}
