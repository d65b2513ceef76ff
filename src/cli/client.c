/*
 * The commands that talk to a server (status, trigger, cancel, retry, repo,
 * notify) and the HTTP client they share (client.h). Routes and shapes are
 * those of src/server/api.c, described in docs/api.md.
 */
#include "cli/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/local.h"
#include "util/dl_curl.h"
#include "util/fileio.h"
#include "util/http1.h"
#include "core/duration.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

#define CONNECT_TIMEOUT_MS 10000L
/* A trigger waits for a fetch, and the server gives the engine 60 s. */
#define CALL_TIMEOUT_MS 120000L
/* An error reply read while a log was expected. */
#define MAX_ERROR_BODY (64u << 10)
/* One SSE line, and one event's data: the server sends at most ~100 KiB. */
#define MAX_SSE_LINE  (4u << 20)
#define MAX_SSE_EVENT (8u << 20)
/* How long one GET of a run waits for its end (the server allows 300 s). */
#define RUN_WAIT_S 60L
/* Consecutive reconnections without progress before `logs -f` gives up. */
#define FOLLOW_RETRIES 30

/*
 * A client talks HTTP/1.1 itself to an http:// server (util/http1.h), and
 * goes through libcurl, loaded on first use (util/dl_curl.h), only for an
 * https:// one: the commands that talk to a local server do not pay for
 * loading libcurl and its libraries at every start.
 */
struct client {
    CURL *curl;              /* https:// only */
    struct http1_conn *conn; /* http:// only */
    struct http1_response resp;
    char *base;   /* the server's URL, no trailing '/' */
    char *prefix; /* http://: the URL's path ("" or "/ci"), put before every request's */
    char *token;  /* sent as "Authorization: Bearer"; NULL: none */
    long status;  /* the current transfer's HTTP status, once known; 0 before */
    char errbuf[CURL_ERROR_SIZE];
};

/* One request, whichever way it goes. */
typedef size_t write_fn(char *data, size_t size, size_t nmemb, void *ctx);
struct xfer {
    struct client *c;
    const char *method, *path;
    const char *body;         /* the request body (not GET); NULL: empty */
    const char *content_type; /* NULL: none */
    const char *accept;
    const char *extra_header; /* one more header ("Last-Event-ID: 7"), or NULL */
    long timeout_ms;          /* the whole transfer; 0: none */
    long stall_s;             /* give up after this long without a byte; 0: never */
    bool keepalive_probe;     /* TCP keep-alive probes for long silent streams */
    write_fn *write;          /* takes the body as curl's write callbacks do */
    void *ctx;
};

/* ---- the HTTP client ---------------------------------------------------- */

const char *client_server_url(const char *opt)
{
    const char *env = getenv("FLYWHEEL_SERVER");
    if (opt && *opt)
        return opt;
    if (env && *env)
        return env;
    return CLIENT_DEFAULT_SERVER;
}

int client_server_from_env(void)
{
    const char *env = getenv("FLYWHEEL_SERVER");
    return env && *env;
}

/*
 * Splits an http:// URL (without a trailing '/') into what a connection
 * needs: host ("::1" without brackets), port, the Host header's value and
 * the path prefix. -1 with err if it is not one.
 */
static int split_url(const char *url, char **host, char **port, char **authority, char **prefix,
                     struct buf *err)
{
    const char *a = url + 7, *end = a + strcspn(a, "/?#"), *h = a, *hend, *p = NULL;
    if (memchr(a, '@', (size_t)(end - a)) || end[0] == '?' || end[0] == '#')
        goto bad;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend)
            goto bad;
        h++;
        if (hend + 1 < end) {
            if (hend[1] != ':')
                goto bad;
            p = hend + 2;
        }
    } else {
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend)
            p = hend + 1;
        else
            hend = end;
    }
    if (hend == h ||
        (p && (p == end || strspn(p, "0123456789") != (size_t)(end - p) || end - p > 5)))
        goto bad;
    *host = xmemdupz(h, (size_t)(hend - h));
    *port = p ? xmemdupz(p, (size_t)(end - p)) : xstrdup("80");
    *authority = xmemdupz(a, (size_t)(end - a));
    *prefix = xstrdup(end);
    return 0;
bad:
    buf_addf(err, "'%s' is not a server URL (http://HOST:PORT)", url);
    return -1;
}

int client_open(struct client **out, const char *url, struct buf *err)
{
    static bool curl_ready;
    char *host = NULL, *port = NULL, *authority = NULL, *prefix = NULL;
    *out = NULL;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
        buf_addf(err, "'%s' is not a server URL (http://HOST:PORT)", url);
        return -1;
    }
    struct client *c = xcalloc(1, sizeof(*c));
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    c->base = xmemdupz(url, n);
    if (!strncmp(url, "http://", 7)) {
        if (split_url(c->base, &host, &port, &authority, &prefix, err)) {
            client_free(c);
            return -1;
        }
        c->conn = http1_conn_new(host, port, authority);
        c->prefix = prefix;
        http1_response_init(&c->resp, HTTP1_MAX_HEADER);
        free(host);
        free(port);
        free(authority);
    } else {
        if (!curl_ready) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
                buf_adds(err, dl_curl_why());
                client_free(c);
                return -1;
            }
            curl_ready = true;
        }
        c->curl = curl_easy_init();
        if (!c->curl) {
            buf_adds(err, "cannot initialise libcurl");
            client_free(c);
            return -1;
        }
    }
    if (client_token(&c->token, err)) {
        client_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int client_request(const char *server, const char *what, const char *method, const char *path,
                   json_t *body, json_t **reply)
{
    struct client *c;
    struct buf err = BUF_INIT;
    if (client_open(&c, client_server_url(server), &err)) {
        fprintf(stderr, "flywheel %s: %s\n", what, err.data);
        buf_release(&err);
        return 2;
    }
    int rc = client_call(c, method, path, body, reply, &err);
    if (rc)
        fprintf(stderr, "flywheel %s: %s\n", what, err.data);
    client_free(c);
    buf_release(&err);
    return rc ? client_exit_code(rc) : 0;
}

int client_token(char **out, struct buf *err)
{
    const char *env = getenv("FLYWHEEL_TOKEN"), *file = getenv("FLYWHEEL_TOKEN_FILE");
    struct buf b = BUF_INIT, path = BUF_INIT;
    int rc = 0;
    *out = NULL;
    if (env && *env) {
        *out = xstrdup(env);
        return 0;
    }
    if (!file || !*file) {
        /* The default file is optional; a file named by the variable is not. */
        const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (cfg && *cfg)
            buf_addf(&path, "%s/flywheel/token", cfg);
        else if (home && *home)
            buf_addf(&path, "%s/.config/flywheel/token", home);
        if (!path.len || access(path.data, F_OK))
            goto out;
        file = path.data;
    }
    if (file_read(file, 4096, &b, err)) {
        rc = -1;
        goto out;
    }
    while (b.len &&
           (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' || b.data[b.len - 1] == ' '))
        b.data[--b.len] = '\0';
    if (b.len)
        *out = buf_detach(&b, NULL);
out:
    buf_release(&b);
    buf_release(&path);
    return rc;
}

void client_free(struct client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    if (c->conn) {
        http1_conn_free(c->conn);
        http1_response_release(&c->resp);
    }
    free(c->base);
    free(c->prefix);
    if (c->token)
        explicit_bzero(c->token, strlen(c->token));
    free(c->token);
    free(c);
}

int client_exit_code(int rc)
{
    if (!rc)
        return 0;
    return rc == CLIENT_ESERVER ? 1 : 2;
}

static void add_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_addch(b, *p);
        } else {
            buf_addch(b, '%');
            buf_addch(b, hex[*p >> 4]);
            buf_addch(b, hex[*p & 15]);
        }
    }
}

void client_path_add(struct buf *path, const char *s)
{
    buf_addch(path, '/');
    add_escaped(path, s);
}

void client_query_add(struct buf *path, const char *name, const char *value)
{
    buf_addch(path, memchr(path->data, '?', path->len) ? '&' : '?');
    add_escaped(path, name);
    buf_addch(path, '=');
    add_escaped(path, value);
}

void client_print_json(FILE *out, json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        fprintf(out, "%s\n", s);
    free(s);
}

/* What every request starts from; connections survive curl_easy_reset(). */
static void request_init(struct client *c, const char *path)
{
    struct buf url = BUF_INIT;
    curl_easy_reset(c->curl);
    buf_addf(&url, "%s%s", c->base, path);
    curl_easy_setopt(c->curl, CURLOPT_URL, url.data);
    buf_release(&url);
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "flywheel/" FLYWHEEL_VERSION);
    if (c->token) {
        curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c->curl, CURLOPT_XOAUTH2_BEARER, c->token);
    }
    /* Segments are escaped by client_path_add; "." and ".." stay what they are. */
    curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
}

static size_t curl_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct xfer *x = ctx;
    if (!x->c->status)
        curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &x->c->status);
    return x->write(data, size, nmemb, x->ctx);
}

static int perform_curl(struct client *c, struct xfer *x, struct buf *err)
{
    struct curl_slist *hdrs = NULL;
    struct buf h = BUF_INIT;
    bool get = !strcmp(x->method, "GET");
    request_init(c, x->path);
    buf_addf(&h, "Accept: %s", x->accept);
    hdrs = curl_slist_append(hdrs, h.data);
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (x->content_type) {
        buf_reset(&h);
        buf_addf(&h, "Content-Type: %s", x->content_type);
        hdrs = curl_slist_append(hdrs, h.data);
    } else if (!get) {
        hdrs = curl_slist_append(hdrs, "Content-Type:"); /* not curl's form default */
    }
    if (x->extra_header)
        hdrs = curl_slist_append(hdrs, x->extra_header);
    if (get) {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, x->body ? x->body : "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)(x->body ? strlen(x->body) : 0));
        if (strcmp(x->method, "POST"))
            curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, x->method);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    if (x->timeout_ms)
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    if (x->stall_s) {
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, x->stall_s);
    }
    if (x->keepalive_probe) {
        curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPINTVL, 10L);
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, curl_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, x);
    CURLcode cc = curl_easy_perform(c->curl);
    if (!c->status)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    buf_release(&h);
    if (cc != CURLE_OK) {
        buf_addf(err, "cannot talk to %s: %s", c->base,
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
        return CLIENT_ETRANSPORT;
    }
    return 0;
}

static int http1_write(void *ctx, const char *data, size_t n)
{
    struct xfer *x = ctx;
    x->c->status = x->c->resp.status;
    return x->write((char *)data, 1, n, x->ctx) != n;
}

static int perform_http1(struct client *c, struct xfer *x, struct buf *err)
{
    struct buf target = BUF_INIT, hdrs = BUF_INIT, why = BUF_INIT;
    buf_addf(&target, "%s%s", c->prefix, x->path);
    buf_addf(&hdrs, "User-Agent: flywheel/" FLYWHEEL_VERSION "\r\nAccept: %s\r\n", x->accept);
    if (c->token)
        buf_addf(&hdrs, "Authorization: Bearer %s\r\n", c->token);
    if (x->content_type)
        buf_addf(&hdrs, "Content-Type: %s\r\n", x->content_type);
    if (x->extra_header)
        buf_addf(&hdrs, "%s\r\n", x->extra_header);
    struct http1_request rq = {
        .method = x->method,
        .target = target.data,
        .headers = hdrs.data,
        .body = x->body,
        .body_len = x->body ? strlen(x->body) : 0,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .timeout_ms = x->timeout_ms,
        .idle_timeout_ms = x->stall_s * 1000,
        .keepalive_probe = x->keepalive_probe,
    };
    int rc = http1_conn_exchange(c->conn, &rq, &c->resp, http1_write, x, &why);
    if (c->resp.headers_done)
        c->status = c->resp.status;
    if (rc == HTTP1_ESTOP)
        buf_addf(err, "cannot talk to %s: the transfer was stopped", c->base);
    else if (rc)
        buf_addf(err, "cannot talk to %s: %s", c->base, why.data);
    explicit_bzero(hdrs.data, hdrs.len); /* the token */
    buf_release(&target);
    buf_release(&hdrs);
    buf_release(&why);
    return rc ? CLIENT_ETRANSPORT : 0;
}

/*
 * Sends x and hands the body to x->write as it comes; c->status is the
 * reply's status once known (0 if none came). 0 when the transfer went
 * through (whatever the status), CLIENT_ETRANSPORT with "cannot talk to
 * URL: why" in err otherwise, including when x->write stopped it.
 */
static int perform(struct client *c, struct xfer *x, struct buf *err)
{
    x->c = c;
    c->status = 0;
    return c->conn ? perform_http1(c, x, err) : perform_curl(c, x, err);
}

struct sink {
    struct buf *b;
    bool overflow;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    if (buf_try_add(s->b, data, n)) {
        s->overflow = true;
        return 0;
    }
    return n;
}

/* The server's {"error", "message"} reply (or whatever came) as a sentence in err. */
static void server_error(long status, const struct buf *body, struct buf *err)
{
    json_t *j = json_loadb(body->data, body->len, 0, NULL);
    json_t *msg = json_object_get(j, "message");
    json_t *code = json_object_get(j, "error");
    if (json_is_string(msg) && *json_string_value(msg)) {
        buf_adds(err, json_string_value(msg));
    } else if (json_is_string(code)) {
        buf_addf(err, "HTTP %ld (%s)", status, json_string_value(code));
    } else {
        size_t n = strcspn(body->data, "\r\n");
        buf_addf(err, "HTTP %ld%s%.*s", status, n ? ": " : "", (int)(n > 200 ? 200 : n),
                 body->data);
    }
    json_decref(j);
}

int client_call(struct client *c, const char *method, const char *path, json_t *request,
                json_t **reply, struct buf *err)
{
    struct buf body = BUF_INIT, why = BUF_INIT;
    char *req = NULL;
    struct sink sink = {&body, false};
    int rc = CLIENT_ETRANSPORT;

    *reply = NULL;
    buf_init(&body, CLIENT_MAX_JSON);
    if (request) {
        req = json_dumps(request, JSON_COMPACT);
        if (!req) {
            buf_adds(err, "cannot encode the request");
            goto out;
        }
    }
    struct xfer x = {
        .method = method,
        .path = path,
        .body = req,
        .content_type = req ? "application/json" : NULL,
        .accept = "application/json",
        .timeout_ms = CALL_TIMEOUT_MS,
        .write = sink_write,
        .ctx = &sink,
    };
    int prc = perform(c, &x, &why);
    long status = c->status;
    if (sink.overflow) {
        buf_addf(err, "the reply of %s is larger than %u MiB", c->base, CLIENT_MAX_JSON >> 20);
        goto out;
    }
    if (prc) {
        buf_add(err, why.data, why.len);
        goto out;
    }
    if (status >= 400) {
        server_error(status, &body, err);
        rc = CLIENT_ESERVER;
        goto out;
    }
    if (status < 200 || status >= 300) {
        buf_addf(err, "%s answered HTTP %ld to %s %s", c->base, status, method, path);
        goto out;
    }
    json_error_t je;
    json_t *j = json_loadb(body.data, body.len, 0, &je);
    if (!j) {
        buf_addf(err, "%s sent a reply that is not JSON (%s)", c->base, je.text);
        goto out;
    }
    *reply = j;
    rc = 0;
out:
    if (req)
        explicit_bzero(req, strlen(req)); /* it may have carried a secret */
    free(req);
    buf_release(&body);
    buf_release(&why);
    return rc;
}

/* ---- logs ---------------------------------------------------------------- */

static void log_path(struct buf *path, int64_t run, const char *job)
{
    buf_addf(path, "/api/v1/runs/%" PRId64 "/jobs", run);
    client_path_add(path, job);
    buf_adds(path, "/log");
}

/* Copies a 2xx body to out, keeps an error body (capped) for the message. */
struct copy {
    struct client *c;
    FILE *out;
    struct buf errbody;
    bool write_failed;
};

static bool status_ok(const struct client *c)
{
    return c->status >= 200 && c->status < 300;
}

static size_t copy_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct copy *k = ctx;
    size_t n = size * nmemb;
    if (!status_ok(k->c)) {
        return buf_try_add(&k->errbody, data, n) ? 0 : n;
    }
    if (fwrite(data, 1, n, k->out) != n) {
        k->write_failed = true;
        return 0;
    }
    return n;
}

/*
 * The result of a transfer whose body went to a callback: 0 for a 2xx.
 * prc and why are perform()'s result and message.
 */
static int transfer_result(struct client *c, int prc, const struct buf *why,
                           const struct buf *errbody, bool write_failed, struct buf *err)
{
    if (write_failed) {
        buf_addf(err, "cannot write the log: %s", strerror(errno));
        return CLIENT_ETRANSPORT;
    }
    if (c->status >= 400) {
        server_error(c->status, errbody, err);
        return CLIENT_ESERVER;
    }
    if (prc) {
        buf_add(err, why->data, why->len);
        return CLIENT_ETRANSPORT;
    }
    if (!status_ok(c)) {
        buf_addf(err, "%s answered HTTP %ld", c->base, c->status);
        return CLIENT_ETRANSPORT;
    }
    return 0;
}

int client_get_copy(struct client *c, const char *path, FILE *out, struct buf *err)
{
    struct copy k = {c, out, BUF_INIT, false};
    struct buf why = BUF_INIT;
    buf_init(&k.errbody, MAX_ERROR_BODY);
    /* A log or an archive may be long: no overall timeout, but a server that stalls is given up. */
    struct xfer x = {
        .method = "GET",
        .path = path,
        .accept = "*/*",
        .stall_s = 60,
        .write = copy_write,
        .ctx = &k,
    };
    int prc = perform(c, &x, &why);
    fflush(out);
    int rc = transfer_result(c, prc, &why, &k.errbody, k.write_failed, err);
    buf_release(&k.errbody);
    buf_release(&why);
    return rc;
}

int client_log_copy(struct client *c, int64_t run, const char *job, long attempt, FILE *out,
                    struct buf *err)
{
    struct buf path = BUF_INIT, num = BUF_INIT;
    log_path(&path, run, job);
    if (attempt) {
        buf_addf(&num, "%ld", attempt);
        client_query_add(&path, "attempt", num.data);
    }
    int rc = client_get_copy(c, path.data, out, err);
    buf_release(&path);
    buf_release(&num);
    return rc;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool run_ended(const char *state)
{
    return strcmp(state, "queued") && strcmp(state, "running");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/*
 * Waits until the job has started the attempt wanted (0: any) and returns its
 * number in *number.
 */
static int wait_job_start(struct client *c, int64_t run, const char *job, long attempt,
                          long *number, struct buf *err)
{
    struct buf path = BUF_INIT;
    long delay = 20;
    int rc;
    buf_addf(&path, "/api/v1/runs/%" PRId64, run);
    for (;;) {
        json_t *r = NULL;
        rc = client_call(c, "GET", path.data, NULL, &r, err);
        if (rc)
            break;
        json_t *jobs = json_object_get(r, "jobs"), *j = NULL, *v;
        size_t i;
        json_array_foreach(jobs, i, v)
        {
            if (!strcmp(jstr(v, "name"), job))
                j = v;
        }
        const char *state = jstr(r, "state");
        if (j) {
            json_t *atts = json_object_get(j, "attempts_detail");
            size_t n = json_array_size(atts);
            long last = n ? (long)jint(json_array_get(atts, n - 1), "number") : 0;
            if (last && (!attempt || attempt <= last)) {
                *number = attempt ? attempt : last;
                json_decref(r);
                break;
            }
            if (run_ended(state) || (attempt && run_ended(jstr(j, "state")))) {
                const char *reason = jstr(j, "reason");
                buf_addf(err, "job '%s' of run %" PRId64 " has %s (%s%s%s)", job, run,
                         attempt ? "no such attempt" : "not run", jstr(j, "state"),
                         *reason ? ": " : "", reason);
                rc = CLIENT_ESERVER;
                json_decref(r);
                break;
            }
        } else if (run_ended(state) || json_array_size(jobs)) {
            buf_addf(err, "run %" PRId64 " has no job '%s'", run, job);
            rc = CLIENT_ESERVER;
            json_decref(r);
            break;
        }
        json_decref(r);
        sleep_ms(delay);
        delay = delay * 2 > 500 ? 500 : delay * 2;
    }
    buf_release(&path);
    return rc;
}

/* A Server-Sent Events reader (the subset the server sends: id, event, data). */
struct sse {
    struct client *c;
    FILE *out;
    struct buf line, data, event, id;
    struct buf errbody;
    uint64_t last_id;
    bool have_id, progress, write_failed, overflow;
    char *end_state; /* from the end event */
};

static void sse_dispatch(struct sse *s)
{
    if (!strcmp(s->event.data, "end")) {
        json_t *j = json_loadb(s->data.data, s->data.len, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        free(s->end_state);
        s->end_state = xstrdup(st ? st : "unknown");
        json_decref(j);
    } else if (s->data.len) {
        if (fwrite(s->data.data, 1, s->data.len, s->out) != s->data.len)
            s->write_failed = true;
        fflush(s->out);
    }
    if (s->id.len) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s->id.data, &end, 10);
        if (!errno && !*end) {
            s->last_id = v;
            s->have_id = true;
        }
    }
    s->progress = true;
    buf_reset(&s->data);
    buf_reset(&s->event);
    buf_reset(&s->id);
}

static void sse_line(struct sse *s)
{
    char *l = s->line.data;
    size_t n = s->line.len;
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (!n) {
        sse_dispatch(s);
        return;
    }
    if (l[0] == ':')
        return;
    char *colon = memchr(l, ':', n);
    size_t klen = colon ? (size_t)(colon - l) : n;
    const char *val = colon ? colon + 1 : "";
    size_t vlen = colon ? n - klen - 1 : 0;
    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (klen == 4 && !memcmp(l, "data", 4)) {
        if (buf_try_add(&s->data, val, vlen) || buf_try_add(&s->data, "\n", 1))
            s->overflow = true;
    } else if (klen == 5 && !memcmp(l, "event", 5)) {
        buf_reset(&s->event);
        buf_add(&s->event, val, vlen);
    } else if (klen == 2 && !memcmp(l, "id", 2)) {
        buf_reset(&s->id);
        buf_add(&s->id, val, vlen);
    }
}

static size_t sse_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sse *s = ctx;
    size_t n = size * nmemb;
    if (!status_ok(s->c)) {
        if (buf_try_add(&s->errbody, data, n))
            return 0;
        return n;
    }
    for (size_t i = 0; i < n && !s->end_state; i++) {
        if (data[i] != '\n') {
            if (buf_try_add(&s->line, &data[i], 1)) {
                s->overflow = true;
                return 0;
            }
            continue;
        }
        sse_line(s);
        buf_reset(&s->line);
        if (s->write_failed || s->overflow)
            return 0;
    }
    /* After the end event the stream is over, whatever the server does next. */
    return s->end_state ? 0 : n;
}

int client_log_follow(struct client *c, int64_t run, const char *job, long attempt, FILE *out,
                      char **state, struct buf *err)
{
    struct sse s;
    struct buf path = BUF_INIT, num = BUF_INIT, hdr = BUF_INIT, why = BUF_INIT, twhy = BUF_INIT;
    long number = 0;
    int failures = 0, rc;

    *state = NULL;
    memset(&s, 0, sizeof(s));
    s.c = c;
    s.out = out;
    buf_init(&s.line, MAX_SSE_LINE);
    buf_init(&s.data, MAX_SSE_EVENT);
    buf_init(&s.event, 0);
    buf_init(&s.id, 0);
    buf_init(&s.errbody, MAX_ERROR_BODY);
    rc = wait_job_start(c, run, job, attempt, &number, err);
    if (rc)
        goto out;
    /* Pinned to one attempt: a resumed offset means nothing in another one's log. */
    log_path(&path, run, job);
    buf_addf(&num, "%ld", number);
    client_query_add(&path, "attempt", num.data);
    client_query_add(&path, "follow", "1");
    for (;;) {
        buf_reset(&hdr);
        if (s.have_id)
            buf_addf(&hdr, "Last-Event-ID: %llu", (unsigned long long)s.last_id);
        /* A job may be silent for long: no timeout, TCP keep-alive finds a dead peer. */
        struct xfer x = {
            .method = "GET",
            .path = path.data,
            .accept = "text/event-stream",
            .extra_header = s.have_id ? hdr.data : NULL,
            .keepalive_probe = true,
            .write = sse_write,
            .ctx = &s,
        };
        s.progress = false;
        buf_reset(&s.line);
        buf_reset(&s.data);
        buf_reset(&s.event);
        buf_reset(&s.id);
        buf_reset(&s.errbody);
        buf_reset(&twhy);
        int prc = perform(c, &x, &twhy);
        if (s.end_state) {
            *state = s.end_state;
            s.end_state = NULL;
            rc = 0;
            break;
        }
        if (s.overflow) {
            buf_addf(err, "the log stream of %s has a line or event over %u MiB", c->base,
                     MAX_SSE_LINE >> 20);
            rc = CLIENT_ETRANSPORT;
            break;
        }
        buf_reset(&why);
        rc = transfer_result(c, prc, &twhy, &s.errbody, s.write_failed, &why);
        if (rc == CLIENT_ESERVER || s.write_failed) {
            buf_add(err, why.data, why.len);
            break;
        }
        /* The connection dropped, or the stream ended without its end event. */
        failures = s.progress ? 1 : failures + 1;
        if (failures > FOLLOW_RETRIES) {
            buf_addf(err, "gave up following the log: %s",
                     why.len ? why.data : "the stream keeps ending early");
            rc = CLIENT_ETRANSPORT;
            break;
        }
        sleep_ms(failures * 100L > 1000 ? 1000 : failures * 100L);
    }
out:
    free(s.end_state);
    buf_release(&s.line);
    buf_release(&s.data);
    buf_release(&s.event);
    buf_release(&s.id);
    buf_release(&s.errbody);
    buf_release(&path);
    buf_release(&num);
    buf_release(&hdr);
    buf_release(&why);
    buf_release(&twhy);
    return rc;
}

/* ---- shared by the commands ---------------------------------------------- */

enum {
    OPT_SERVER = 256,
    OPT_JSON,
    OPT_BRANCH,
    OPT_LIMIT,
    OPT_KIND,
    OPT_STATE,
    OPT_BEFORE,
    OPT_WAIT,
    OPT_MAIN,
    OPT_POLL,
    OPT_JOB,
    OPT_FAILED,
};

/* The options every client command takes. */
struct common {
    const char *name; /* "trigger", "repo add" */
    const char *server;
    bool json;
};

/* Handles a common option; returns 1 when c was one, -1 for --help/unknown (exit code in *rc). */
static int common_opt(struct common *co, int c, const char *usage, int *rc)
{
    switch (c) {
    case OPT_SERVER:
        co->server = optarg;
        return 1;
    case OPT_JSON:
        co->json = true;
        return 1;
    case 'h':
        fputs(usage, stdout);
        *rc = 0;
        return -1;
    default:
        fputs(usage, stderr);
        *rc = 2;
        return -1;
    }
}

static struct client *common_connect(const struct common *co)
{
    struct client *c;
    struct buf err = BUF_INIT;
    if (client_open(&c, client_server_url(co->server), &err)) {
        fprintf(stderr, "flywheel %s: %s\n", co->name, err.data);
        buf_release(&err);
        return NULL;
    }
    return c;
}

static int fail(const struct common *co, int rc, const struct buf *err)
{
    fprintf(stderr, "flywheel %s: %s\n", co->name, err->data);
    return client_exit_code(rc);
}

/* A positive number, or -1. */
static int64_t parse_id(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < 1)
        return -1;
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_age(int64_t ms, struct buf *out)
{
    int64_t s = ms / 1000;
    if (s < 0)
        s = 0;
    if (s < 60)
        buf_addf(out, "%llds ago", (long long)s);
    else if (s < 3600)
        buf_addf(out, "%lldm ago", (long long)(s / 60));
    else if (s < 86400)
        buf_addf(out, "%lldh ago", (long long)(s / 3600));
    else
        buf_addf(out, "%lldd ago", (long long)(s / 86400));
}

/* How long a run or job took, or has been running; "-" before it started. */
static void format_span(int64_t started, int64_t finished, struct buf *out)
{
    if (!started)
        buf_adds(out, "-");
    else
        cli_format_duration((finished ? finished : now_ms()) - started, out);
}

static const char *short_ref(const char *ref)
{
    if (!strncmp(ref, "refs/heads/", 11))
        return ref + 11;
    if (!strncmp(ref, "refs/tags/", 10))
        return ref + 10;
    return ref;
}

/* A table printed with columns as wide as their widest cell. */
struct table {
    size_t ncols, nrows, alloc;
    char **cells;
};

static void table_row(struct table *t, const char *const *cells)
{
    ALLOC_GROW(t->cells, xmul(t->nrows + 1, t->ncols), t->alloc);
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

static void table_print(struct table *t, FILE *out)
{
    size_t *w = xcalloc(t->ncols, sizeof(*w));
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t l = strlen(t->cells[r * t->ncols + i]);
            if (l > w[i])
                w[i] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        struct buf line = BUF_INIT;
        for (size_t i = 0; i < t->ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            buf_adds(&line, cell);
            if (i + 1 < t->ncols)
                for (size_t k = strlen(cell); k < w[i] + 2; k++)
                    buf_addch(&line, ' ');
        }
        while (line.len && line.data[line.len - 1] == ' ')
            buf_setlen(&line, line.len - 1);
        fprintf(out, "%s\n", line.data);
        buf_release(&line);
    }
    free(w);
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* "myrepo#3", or "#3" for a run without a repository. */
static void run_label(json_t *run, struct buf *out)
{
    buf_addf(out, "%s#%lld", jstr(run, "repo"), (long long)jint(run, "number"));
}

static int get_run(struct client *c, int64_t id, json_t **run, struct buf *err)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "/api/v1/runs/%" PRId64, id);
    int rc = client_call(c, "GET", path.data, NULL, run, err);
    buf_release(&path);
    return rc;
}

/*
 * Waits for the run to end: the server holds each GET ?wait=S until the run
 * has ended (or S seconds have passed), so the end is seen as it happens.
 * An older server that ignores wait answers at once: then the calls are
 * spaced out, 1 ms growing by a quarter each time up to 50 ms. The
 * connection is reused throughout.
 */
static int wait_run(struct client *c, int64_t id, json_t **run, struct buf *err)
{
    long delay_us = 1000;
    struct buf path = BUF_INIT;
    buf_addf(&path, "/api/v1/runs/%" PRId64 "?wait=%ld", id, RUN_WAIT_S);
    for (;;) {
        json_t *r = NULL;
        int64_t t0 = now_ms();
        int rc = client_call(c, "GET", path.data, NULL, &r, err);
        if (rc) {
            buf_release(&path);
            return rc;
        }
        if (json_object_get(r, "error")) {
            /* the run went, or the store failed, while the server waited */
            buf_addf(err, "%s", jstr(r, "message"));
            json_decref(r);
            buf_release(&path);
            return CLIENT_ESERVER;
        }
        if (run_ended(jstr(r, "state"))) {
            *run = r;
            buf_release(&path);
            return 0;
        }
        json_decref(r);
        if (now_ms() - t0 >= 1000)
            continue; /* the server waited */
        struct timespec ts = {0, delay_us * 1000L};
        nanosleep(&ts, NULL);
        delay_us += delay_us / 4;
        if (delay_us > 50000)
            delay_us = 50000;
    }
}

/* One line: "run 12 (app#3): main 1a2b3c4d5e6f, queued" */
static void print_run_line(FILE *out, json_t *run)
{
    struct buf label = BUF_INIT;
    run_label(run, &label);
    fprintf(out, "run %lld (%s): %s %.12s, %s", (long long)jint(run, "id"), label.data,
            short_ref(jstr(run, "ref")), jstr(run, "commit"), jstr(run, "state"));
    if (jint(run, "retry_of"))
        fprintf(out, " (retry of run %lld)", (long long)jint(run, "retry_of"));
    fputc('\n', out);
    buf_release(&label);
}

static void print_jobs(FILE *out, json_t *run)
{
    json_t *jobs = json_object_get(run, "jobs"), *j;
    size_t i;
    struct table t = {6, 0, 0, NULL};
    if (!json_array_size(jobs))
        return;
    table_row(&t, (const char *[]){"JOB", "STATE", "ATTEMPTS", "EXIT", "DURATION", "REASON"});
    json_array_foreach(jobs, i, j)
    {
        struct buf att = BUF_INIT, code = BUF_INIT, dur = BUF_INIT;
        buf_addf(&att, "%lld", (long long)jint(j, "attempts"));
        if (jint(j, "finished_ms") && jint(j, "attempts"))
            buf_addf(&code, "%lld", (long long)jint(j, "exit_code"));
        else
            buf_adds(&code, "-");
        format_span(jint(j, "started_ms"), jint(j, "finished_ms"), &dur);
        table_row(&t, (const char *[]){jstr(j, "name"), jstr(j, "state"), att.data, code.data,
                                       dur.data, jstr(j, "reason")});
        buf_release(&att);
        buf_release(&code);
        buf_release(&dur);
    }
    table_print(&t, out);
    table_release(&t);
}

/* The end of a --wait: "run 12 (app#3) passed in 1.2s" and its jobs. */
static void print_outcome(FILE *out, json_t *run)
{
    struct buf label = BUF_INIT, dur = BUF_INIT;
    run_label(run, &label);
    format_span(jint(run, "started_ms") ? jint(run, "started_ms") : jint(run, "created_ms"),
                jint(run, "finished_ms"), &dur);
    fprintf(out, "run %lld (%s) %s in %s\n", (long long)jint(run, "id"), label.data,
            jstr(run, "state"), dur.data);
    print_jobs(out, run);
    buf_release(&label);
    buf_release(&dur);
}

/* After a trigger or a retry: the run, then with wait its outcome. */
static int show_new_run(const struct common *co, struct client *c, json_t *created,
                        const char *repo, bool wait)
{
    struct buf err = BUF_INIT;
    json_t *run = NULL;
    int64_t id = jint(created, "id");
    int rc;
    if (!wait) {
        if (co->json) {
            client_print_json(stdout, created);
            return 0;
        }
        rc = get_run(c, id, &run, &err);
        if (rc) {
            /* The run exists; only its details are missing. */
            printf("run %lld (%s#%lld)\n", (long long)id, repo ? repo : "",
                   (long long)jint(created, "number"));
            fprintf(stderr, "flywheel %s: %s\n", co->name, err.data);
            buf_release(&err);
            return 0;
        }
        print_run_line(stdout, run);
        json_decref(run);
        return 0;
    }
    if (!co->json) {
        printf("run %lld (%s#%lld): waiting\n", (long long)id, repo ? repo : "",
               (long long)jint(created, "number"));
        fflush(stdout);
    }
    rc = wait_run(c, id, &run, &err);
    if (rc) {
        rc = fail(co, rc, &err);
        buf_release(&err);
        return rc;
    }
    if (co->json)
        client_print_json(stdout, run);
    else
        print_outcome(stdout, run);
    rc = strcmp(jstr(run, "state"), "passed") ? 1 : 0;
    json_decref(run);
    return rc;
}

/* ---- flywheel status ----------------------------------------------------- */

static const char status_usage[] =
    "usage: flywheel status [REPO] [--branch B] [--kind K] [--state S] [--limit N]\n"
    "                       [--before ID] [--json] [--server URL]\n"
    "   or: flywheel status RUN_ID [--json] [--server URL]\n"
    "\n"
    "Lists the server's recent runs, newest first (all repositories, or REPO's);\n"
    "with a run id, shows that run and its jobs. A number is taken as a run id.\n"
    "\n"
    "  --branch B     only runs of branch B\n"
    "  --kind K       only runs of kind K (change, main, tag, manual)\n"
    "  --state S      only runs in state S (queued, running, passed, failed, cancelled)\n"
    "  --limit N      at most N runs (default 20, at most 1000)\n"
    "  --before ID    runs older than run ID (paging)\n"
    "  --json         print the server's JSON\n"
    "  --server URL   the server (default: $FLYWHEEL_SERVER, else " CLIENT_DEFAULT_SERVER ")\n";

static int status_one(const struct common *co, struct client *c, int64_t id)
{
    struct buf err = BUF_INIT, label = BUF_INIT, when = BUF_INIT, dur = BUF_INIT;
    json_t *run = NULL;
    int rc = get_run(c, id, &run, &err);
    if (rc) {
        rc = fail(co, rc, &err);
        goto out;
    }
    if (co->json) {
        client_print_json(stdout, run);
        goto out;
    }
    run_label(run, &label);
    format_age(now_ms() - jint(run, "created_ms"), &when);
    format_span(jint(run, "started_ms"), jint(run, "finished_ms"), &dur);
    printf("run %lld (%s): %s\n", (long long)id, label.data, jstr(run, "state"));
    printf("  kind      %s\n", jstr(run, "kind"));
    printf("  ref       %s\n", jstr(run, "ref"));
    printf("  commit    %s\n", jstr(run, "commit"));
    printf("  trigger   %s\n", jstr(run, "trigger"));
    if (jint(run, "retry_of"))
        printf("  retry of  run %lld\n", (long long)jint(run, "retry_of"));
    printf("  created   %s\n", when.data);
    printf("  duration  %s\n", dur.data);
    if (json_array_size(json_object_get(run, "jobs"))) {
        printf("\n");
        print_jobs(stdout, run);
    }
out:
    json_decref(run);
    buf_release(&err);
    buf_release(&label);
    buf_release(&when);
    buf_release(&dur);
    return rc;
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"branch", required_argument, NULL, OPT_BRANCH},
        {"kind", required_argument, NULL, OPT_KIND},
        {"state", required_argument, NULL, OPT_STATE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"before", required_argument, NULL, OPT_BEFORE},
        {NULL, 0, NULL, 0},
    };
    struct common co = {"status", NULL, false};
    const char *branch = NULL, *kind = NULL, *state = NULL, *limit = "20", *before = NULL;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_BRANCH:
            branch = optarg;
            break;
        case OPT_KIND:
            kind = optarg;
            break;
        case OPT_STATE:
            state = optarg;
            break;
        case OPT_LIMIT:
        case OPT_BEFORE: {
            int64_t v = parse_id(optarg);
            if (v < 0 || (c == OPT_LIMIT && v > 1000)) {
                fprintf(stderr, "flywheel status: %s wants %s\n",
                        c == OPT_LIMIT ? "--limit" : "--before",
                        c == OPT_LIMIT ? "a number from 1 to 1000" : "a run id");
                return 2;
            }
            if (c == OPT_LIMIT)
                limit = optarg;
            else
                before = optarg;
            break;
        }
        default:
            if (common_opt(&co, c, status_usage, &rc) < 0)
                return rc;
        }
    }
    if (argc - optind > 1) {
        fputs(status_usage, stderr);
        return 2;
    }
    const char *arg = optind < argc ? argv[optind] : NULL;
    int64_t run_id = arg ? parse_id(arg) : -1;
    if (run_id > 0 && (branch || kind || state || before)) {
        fprintf(stderr, "flywheel status: filters apply to lists, not to one run\n");
        return 2;
    }
    struct client *cl = common_connect(&co);
    if (!cl)
        return 2;
    if (run_id > 0) {
        rc = status_one(&co, cl, run_id);
        client_free(cl);
        return rc;
    }

    struct buf path = BUF_INIT, err = BUF_INIT;
    struct table t = {8, 0, 0, NULL};
    json_t *reply = NULL;
    buf_adds(&path, "/api/v1/runs");
    if (arg)
        client_query_add(&path, "repo", arg);
    if (branch)
        client_query_add(&path, "branch", branch);
    if (kind)
        client_query_add(&path, "kind", kind);
    if (state)
        client_query_add(&path, "state", state);
    if (before)
        client_query_add(&path, "before", before);
    client_query_add(&path, "limit", limit);
    rc = client_call(cl, "GET", path.data, NULL, &reply, &err);
    if (rc) {
        rc = fail(&co, rc, &err);
        goto out;
    }
    if (co.json) {
        client_print_json(stdout, reply);
        goto out;
    }
    json_t *runs = json_object_get(reply, "runs"), *r;
    size_t i;
    if (!json_array_size(runs)) {
        printf("no runs\n");
        goto out;
    }
    int64_t now = now_ms();
    table_row(
        &t, (const char *[]){"RUN", "REPO#", "KIND", "STATE", "REF", "COMMIT", "AGE", "DURATION"});
    json_array_foreach(runs, i, r)
    {
        struct buf id = BUF_INIT, label = BUF_INIT, commit = BUF_INIT, age = BUF_INIT,
                   dur = BUF_INIT;
        buf_addf(&id, "%lld", (long long)jint(r, "id"));
        run_label(r, &label);
        buf_addf(&commit, "%.12s", jstr(r, "commit"));
        format_age(now - jint(r, "created_ms"), &age);
        format_span(jint(r, "started_ms"), jint(r, "finished_ms"), &dur);
        table_row(&t, (const char *[]){id.data, label.data, jstr(r, "kind"), jstr(r, "state"),
                                       short_ref(jstr(r, "ref")), commit.data, age.data, dur.data});
        buf_release(&id);
        buf_release(&label);
        buf_release(&commit);
        buf_release(&age);
        buf_release(&dur);
    }
    table_print(&t, stdout);
out:
    table_release(&t);
    json_decref(reply);
    buf_release(&path);
    buf_release(&err);
    client_free(cl);
    return rc;
}

/* ---- flywheel trigger ---------------------------------------------------- */

static const char trigger_usage[] =
    "usage: flywheel trigger REPO REF [--wait] [--json] [--server URL]\n"
    "\n"
    "Starts a run of REPO for REF (a branch or a tag) at its current commit, as\n"
    "the server sees it after fetching. With --wait, waits for the run to end:\n"
    "exits 0 if it passed, 1 otherwise.\n"
    "\n"
    "  --wait         wait for the run to end\n"
    "  --json         print the server's JSON (with --wait: the ended run)\n"
    "  --server URL   the server (default: $FLYWHEEL_SERVER, else " CLIENT_DEFAULT_SERVER ")\n";

int cmd_trigger(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"wait", no_argument, NULL, OPT_WAIT},
        {NULL, 0, NULL, 0},
    };
    struct common co = {"trigger", NULL, false};
    bool wait = false;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == OPT_WAIT)
            wait = true;
        else if (common_opt(&co, c, trigger_usage, &rc) < 0)
            return rc;
    }
    if (argc - optind != 2) {
        fputs(trigger_usage, stderr);
        return 2;
    }
    struct client *cl = common_connect(&co);
    if (!cl)
        return 2;
    struct buf path = BUF_INIT, err = BUF_INIT;
    json_t *created = NULL, *req = json_object();
    buf_adds(&path, "/api/v1/repos");
    client_path_add(&path, argv[optind]);
    buf_adds(&path, "/trigger");
    json_object_set_new(req, "ref", json_string(argv[optind + 1]));
    rc = client_call(cl, "POST", path.data, req, &created, &err);
    if (rc)
        rc = fail(&co, rc, &err);
    else
        rc = show_new_run(&co, cl, created, argv[optind], wait);
    json_decref(req);
    json_decref(created);
    buf_release(&path);
    buf_release(&err);
    client_free(cl);
    return rc;
}

/* ---- flywheel cancel, retry ---------------------------------------------- */

static const char cancel_usage[] =
    "usage: flywheel cancel RUN_ID [--json] [--server URL]\n"
    "\n"
    "Cancels a queued or running run: its running jobs are stopped (SIGTERM,\n"
    "then SIGKILL after the grace period), the rest do not start.\n";

static const char retry_usage[] =
    "usage: flywheel retry RUN_ID [--job NAME | --failed] [--wait] [--json] [--server URL]\n"
    "\n"
    "Starts a new run of an ended run's commit, ref and pipeline.\n"
    "\n"
    "  --job NAME     run job NAME of the run again instead, in the same run, with\n"
    "                 the same commit and the artifacts its needs produced, and\n"
    "                 every job that needs it; the run is running again and ends\n"
    "                 with the new result. NAME must have ended (the run may go on)\n"
    "  --failed       the same for every job of the run that failed, timed out or\n"
    "                 was cancelled\n"
    "  --wait         wait for the run to end: exit 0 if it passed, 1 otherwise\n"
    "  --json         print the server's JSON\n"
    "  --server URL   the server (default: $FLYWHEEL_SERVER, else " CLIENT_DEFAULT_SERVER ")\n";

/* After a retry of jobs: which ones, then with wait the run's outcome. */
static int show_rerun(const struct common *co, struct client *c, json_t *reply, bool wait)
{
    struct buf err = BUF_INIT, names = BUF_INIT;
    json_t *run = NULL, *v;
    int64_t id = jint(reply, "id");
    size_t i;
    int rc = 0;
    if (co->json && !wait) {
        client_print_json(stdout, reply);
        return 0;
    }
    json_array_foreach(json_object_get(reply, "jobs"), i, v)
        buf_addf(&names, "%s%s", i ? ", " : "", json_string_value(v));
    if (!co->json) {
        printf("run %lld: retrying %s\n", (long long)id, names.data);
        fflush(stdout);
    }
    if (wait) {
        rc = wait_run(c, id, &run, &err);
        if (rc) {
            rc = fail(co, rc, &err);
        } else {
            if (co->json)
                client_print_json(stdout, run);
            else
                print_outcome(stdout, run);
            rc = strcmp(jstr(run, "state"), "passed") ? 1 : 0;
        }
    }
    json_decref(run);
    buf_release(&err);
    buf_release(&names);
    return rc;
}

static int run_command(int argc, char **argv, const char *name, const char *usage, bool retry)
{
    static const struct option cancel_opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct option retry_opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"job", required_argument, NULL, OPT_JOB},
        {"failed", no_argument, NULL, OPT_FAILED},
        {NULL, 0, NULL, 0},
    };
    struct common co = {name, NULL, false};
    bool wait = false, failed = false;
    const char *job = NULL;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", retry ? retry_opts : cancel_opts, NULL)) != -1) {
        if (c == OPT_WAIT)
            wait = true;
        else if (c == OPT_JOB)
            job = optarg;
        else if (c == OPT_FAILED)
            failed = true;
        else if (common_opt(&co, c, usage, &rc) < 0)
            return rc;
    }
    if (argc - optind != 1 || (job && failed) || (job && !*job)) {
        fputs(usage, stderr);
        return 2;
    }
    int64_t id = parse_id(argv[optind]);
    if (id < 0) {
        fprintf(stderr, "flywheel %s: '%s' is not a run id\n", name, argv[optind]);
        return 2;
    }
    struct client *cl = common_connect(&co);
    if (!cl)
        return 2;
    struct buf path = BUF_INIT, err = BUF_INIT;
    json_t *reply = NULL;
    if (job) {
        buf_addf(&path, "/api/v1/runs/%" PRId64 "/jobs", id);
        client_path_add(&path, job);
        buf_adds(&path, "/retry");
    } else {
        buf_addf(&path, "/api/v1/runs/%" PRId64 "/%s", id, retry ? "retry" : "cancel");
        if (failed)
            client_query_add(&path, "failed", "1");
    }
    rc = client_call(cl, "POST", path.data, NULL, &reply, &err);
    if (rc)
        rc = fail(&co, rc, &err);
    else if (job || failed)
        rc = show_rerun(&co, cl, reply, wait);
    else if (retry)
        rc = show_new_run(&co, cl, reply, NULL, wait);
    else if (co.json)
        client_print_json(stdout, reply);
    else
        printf("run %lld: cancelling\n", (long long)id);
    json_decref(reply);
    buf_release(&path);
    buf_release(&err);
    client_free(cl);
    return rc;
}

int cmd_cancel(int argc, char **argv)
{
    return run_command(argc, argv, "cancel", cancel_usage, false);
}

int cmd_retry(int argc, char **argv)
{
    return run_command(argc, argv, "retry", retry_usage, true);
}

/* ---- flywheel repo ------------------------------------------------------- */

static const char repo_usage[] =
    "usage: flywheel repo add NAME URL [--main BRANCH] [--poll SECONDS] [--json] [--server URL]\n"
    "   or: flywheel repo list [--json] [--server URL]\n"
    "\n"
    "Adds a repository for the server to watch and build, or lists them.\n"
    "\n"
    "  --main BRANCH   the main branch (default: main); pushes to it are main runs\n"
    "  --poll SECONDS  fetch every SECONDS (or a duration: 30s, 5m); 0: only on\n"
    "                  'flywheel notify' (default: the server's --poll)\n";

static int repo_add(struct common *co, struct client *cl, const char *name, const char *url,
                    const char *main_branch, long poll)
{
    struct buf err = BUF_INIT;
    json_t *reply = NULL, *req = json_object();
    json_object_set_new(req, "name", json_string(name));
    json_object_set_new(req, "url", json_string(url));
    if (main_branch)
        json_object_set_new(req, "main_branch", json_string(main_branch));
    if (poll >= 0)
        json_object_set_new(req, "poll_s", json_integer(poll));
    int rc = client_call(cl, "POST", "/api/v1/repos", req, &reply, &err);
    if (rc)
        rc = fail(co, rc, &err);
    else if (co->json)
        client_print_json(stdout, reply);
    else
        printf("repository %s added (id %lld)\n", name, (long long)jint(reply, "id"));
    json_decref(req);
    json_decref(reply);
    buf_release(&err);
    return rc;
}

static int repo_list(struct common *co, struct client *cl)
{
    struct buf err = BUF_INIT;
    struct table t = {4, 0, 0, NULL};
    json_t *reply = NULL, *r;
    size_t i;
    int rc = client_call(cl, "GET", "/api/v1/repos", NULL, &reply, &err);
    if (rc) {
        rc = fail(co, rc, &err);
        goto out;
    }
    if (co->json) {
        client_print_json(stdout, reply);
        goto out;
    }
    json_t *repos = json_object_get(reply, "repos");
    if (!json_array_size(repos)) {
        printf("no repositories\n");
        goto out;
    }
    table_row(&t, (const char *[]){"NAME", "MAIN", "POLL", "URL"});
    json_array_foreach(repos, i, r)
    {
        struct buf poll = BUF_INIT;
        if (jint(r, "poll_s"))
            duration_format(jint(r, "poll_s") * 1000, &poll);
        else
            buf_adds(&poll, "-");
        table_row(&t, (const char *[]){jstr(r, "name"), jstr(r, "main_branch"), poll.data,
                                       jstr(r, "url")});
        buf_release(&poll);
    }
    table_print(&t, stdout);
out:
    table_release(&t);
    json_decref(reply);
    buf_release(&err);
    return rc;
}

/* SECONDS, or a duration ("30s", "5m"): seconds from 0 to a day, or -1. */
static long parse_poll(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || errno || *end) {
        struct buf err = BUF_INIT;
        int64_t ms;
        if (duration_parse(s, &ms, &err)) {
            buf_release(&err);
            return -1;
        }
        v = (long)(ms / 1000);
    }
    return v < 0 || v > 86400 ? -1 : v;
}

int cmd_repo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"main", required_argument, NULL, OPT_MAIN},
        {"poll", required_argument, NULL, OPT_POLL},
        {NULL, 0, NULL, 0},
    };
    struct common co = {"repo", NULL, false};
    const char *main_branch = NULL;
    long poll = -1;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_MAIN:
            main_branch = optarg;
            break;
        case OPT_POLL:
            poll = parse_poll(optarg);
            if (poll < 0) {
                fprintf(stderr, "flywheel repo: --poll wants seconds from 0 to 86400\n");
                return 2;
            }
            break;
        default:
            if (common_opt(&co, c, repo_usage, &rc) < 0)
                return rc;
        }
    }
    int nargs = argc - optind;
    const char *sub = nargs ? argv[optind] : "";
    bool add = !strcmp(sub, "add"), list = !strcmp(sub, "list");
    if ((!add && !list) || (add && nargs != 3) || (list && nargs != 1) ||
        (list && (main_branch || poll >= 0))) {
        fputs(repo_usage, stderr);
        return 2;
    }
    co.name = add ? "repo add" : "repo list";
    struct client *cl = common_connect(&co);
    if (!cl)
        return 2;
    if (add)
        rc = repo_add(&co, cl, argv[optind + 1], argv[optind + 2], main_branch, poll);
    else
        rc = repo_list(&co, cl);
    client_free(cl);
    return rc;
}

/* ---- flywheel notify ----------------------------------------------------- */

static const char notify_usage[] =
    "usage: flywheel notify REPO [--quiet] [--json] [--server URL]\n"
    "\n"
    "Tells the server that REPO has new commits: it fetches now instead of at its\n"
    "next poll. Meant for a git post-receive hook:\n"
    "\n"
    "    #!/bin/sh\n"
    "    FLYWHEEL_SERVER=http://ci.example:8080 exec flywheel notify myrepo\n";

int cmd_notify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct common co = {"notify", NULL, false};
    bool quiet = false;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == 'q')
            quiet = true;
        else if (common_opt(&co, c, notify_usage, &rc) < 0)
            return rc;
    }
    if (argc - optind != 1) {
        fputs(notify_usage, stderr);
        return 2;
    }
    struct client *cl = common_connect(&co);
    if (!cl)
        return 2;
    struct buf path = BUF_INIT, err = BUF_INIT;
    json_t *reply = NULL;
    buf_adds(&path, "/api/v1/repos");
    client_path_add(&path, argv[optind]);
    buf_adds(&path, "/notify");
    rc = client_call(cl, "POST", path.data, NULL, &reply, &err);
    if (rc)
        rc = fail(&co, rc, &err);
    else if (co.json)
        client_print_json(stdout, reply);
    else if (!quiet)
        printf("flywheel: %s notified about %s\n", client_server_url(co.server), argv[optind]);
    json_decref(reply);
    buf_release(&path);
    buf_release(&err);
    client_free(cl);
    return rc;
}
