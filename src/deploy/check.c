/*
 * One evaluation of a check: an HTTP probe, a command, or a Prometheus
 * instant query. The contract is in check.h.
 */
#include "deploy/check.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/duration.h"
#include "core/jsonptr.h"
#include "util/dl_curl.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

/* What a message quotes of outside text (a last line of output, an error). */
#define QUOTE_MAX 300
/* Labels of the worst Prometheus series, as shown in the message. */
#define LABELS_MAX 200

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t timeout_of(const struct pl_check *c)
{
    return c->timeout_ms > 0 ? c->timeout_ms : CHECK_DEFAULT_TIMEOUT_MS;
}

/*
 * Appends at most max bytes of s[0..n) to b as part of one line: line breaks
 * and other control characters become spaces, and a cut never splits a UTF-8
 * sequence.
 */
static void add_oneline(struct buf *b, const char *s, size_t n, size_t max)
{
    bool cut = false;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf_addch(b, ch < 0x20 || ch == 0x7f ? ' ' : ch);
    }
    if (cut)
        buf_adds(b, "...");
}

static void add_oneline_s(struct buf *b, const char *s)
{
    add_oneline(b, s, strlen(s), QUOTE_MAX);
}

/* "5.5", "0.01", "1e-06", "NaN", "+Inf" */
static void add_number(struct buf *b, double v)
{
    if (isnan(v))
        buf_adds(b, "NaN");
    else if (isinf(v))
        buf_adds(b, v > 0 ? "+Inf" : "-Inf");
    else
        buf_addf(b, "%.6g", v);
}

/* ---- variables ---------------------------------------------------------- */

static bool name_start(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static bool name_char(int ch)
{
    return name_start(ch) || (ch >= '0' && ch <= '9');
}

static const char *var_lookup(const char *const *vars, const char *name, size_t n)
{
    for (size_t i = 0; vars && vars[i]; i++)
        if (!strncmp(vars[i], name, n) && vars[i][n] == '=')
            return vars[i] + n + 1;
    return NULL;
}

int check_expand(const char *s, const char *const *vars, struct buf *out, struct buf *err)
{
    const char *p = s;
    while (*p) {
        const char *d = strchr(p, '$');
        if (!d) {
            buf_adds(out, p);
            break;
        }
        buf_add(out, p, (size_t)(d - p));
        const char *name = d + 1, *end;
        size_t n;
        if (*name == '$') {
            buf_addch(out, '$');
            p = name + 1;
            continue;
        }
        if (*name == '{') {
            name++;
            for (end = name; name_char(*end); end++)
                ;
            if (*end != '}' || end == name || !name_start(*name)) {
                buf_addf(err, "bad variable reference '%.*s' (expected ${NAME})",
                         (int)(strcspn(d, "}") + (d[strcspn(d, "}")] == '}')), d);
                return -1;
            }
            n = (size_t)(end - name);
            p = end + 1;
        } else if (name_start(*name)) {
            for (end = name; name_char(*end); end++)
                ;
            n = (size_t)(end - name);
            p = end;
        } else {
            buf_addch(out, '$'); /* "x$", "$)": not a reference */
            p = name;
            continue;
        }
        const char *v = var_lookup(vars, name, n);
        if (!v) {
            buf_addf(err, "undefined variable $%.*s", (int)n, name);
            return -1;
        }
        buf_adds(out, v);
    }
    return 0;
}

/* Expands s into out; on failure makes r an ERROR naming what was expanded. */
static int expand_or_error(const char *s, const char *what, const char *const *vars,
                           struct buf *out, struct check_result *r)
{
    struct buf err = BUF_INIT;
    if (!check_expand(s, vars, out, &err)) {
        buf_release(&err);
        return 0;
    }
    r->outcome = CHECK_ERROR;
    buf_addf(&r->message, "%s in %s", err.data, what);
    buf_release(&err);
    return -1;
}

/* ---- HTTP (libcurl) ----------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fetch {
    long status;
    struct buf body;
    bool truncated; /* the body was longer than the limit; the rest was not read */
    bool answered;  /* an HTTP answer came (status is set) */
    CURLcode cc;
    long os_errno; /* the system's reason for a failed connection, or 0 */
    char errbuf[CURL_ERROR_SIZE];
};

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct fetch *f = ctx;
    size_t n = size * nmemb, room = f->body.cap - f->body.len;
    if (n > room) {
        buf_add(&f->body, data, room);
        f->truncated = true;
        return 0; /* ends the transfer: CURLE_WRITE_ERROR */
    }
    buf_add(&f->body, data, n);
    return n;
}

/* The URL as shown to people: without a password. */
static void add_url(struct buf *b, const char *url)
{
    CURLU *u = curl_url();
    char *pw = NULL, *s = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
        !curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) && pw &&
        !curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) && !curl_url_get(u, CURLUPART_URL, &s, 0))
        add_oneline_s(b, s);
    else
        add_oneline_s(b, url);
    curl_free(pw);
    curl_free(s);
    curl_url_cleanup(u);
}

/*
 * GETs url within timeout_ms, reading at most max bytes of body. f->answered
 * tells whether an HTTP answer came; otherwise f->cc and f->errbuf say why.
 */
static void fetch(const char *url, int64_t timeout_ms, size_t max, struct fetch *f)
{
    memset(f, 0, sizeof(*f));
    buf_init(&f->body, max);
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        f->cc = curl_init_rc;
        snprintf(f->errbuf, sizeof(f->errbuf), "%s", dl_curl_why());
        return;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        f->cc = CURLE_FAILED_INIT;
        snprintf(f->errbuf, sizeof(f->errbuf), "%s", dl_curl_why());
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)CHECK_MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flywheel-check/" FLYWHEEL_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    f->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &f->os_errno);
    f->answered =
        f->status > 0 && (f->cc == CURLE_OK || (f->cc == CURLE_WRITE_ERROR && f->truncated) ||
                          f->cc == CURLE_TOO_MANY_REDIRECTS);
    curl_easy_cleanup(h);
}

static void fetch_release(struct fetch *f)
{
    buf_release(&f->body);
}

/* "connection refused", "timed out after 10s", ...: why there was no answer. */
static void add_transport_error(struct buf *b, const struct fetch *f, int64_t timeout_ms)
{
    if (f->cc == CURLE_OPERATION_TIMEDOUT) {
        buf_adds(b, "timed out after ");
        duration_format(timeout_ms, b);
        return;
    }
    add_oneline_s(b, f->errbuf[0] ? f->errbuf : curl_easy_strerror(f->cc));
    if (f->os_errno) {
        char tmp[128];
        buf_addf(b, " (%s)", strerror_r((int)f->os_errno, tmp, sizeof(tmp)));
    }
}

static bool status_expected(const struct pl_check *c, long status)
{
    if (!c->nexpect)
        return status == 200;
    for (size_t i = 0; i < c->nexpect; i++)
        if (c->expect[i] == status)
            return true;
    return false;
}

static void add_expected(struct buf *b, const struct pl_check *c)
{
    if (!c->nexpect) {
        buf_adds(b, "200");
        return;
    }
    for (size_t i = 0; i < c->nexpect; i++)
        buf_addf(b, "%s%d", i == 0 ? "" : i + 1 == c->nexpect ? " or " : ", ", c->expect[i]);
}

static void add_comparison(struct buf *b, const struct pl_check *c, double v);

/* A JSON value as a message shows it: a string in quotes, an object or array by its type. */
static void add_json_value(struct buf *b, const json_t *v)
{
    struct buf t = BUF_INIT;
    if (json_is_string(v)) {
        buf_addch(b, '"');
        add_oneline(b, json_string_value(v), json_string_length(v), QUOTE_MAX);
        buf_addch(b, '"');
    } else if (jsonptr_text(v, &t) == 0) {
        buf_add(b, t.data, t.len);
    } else {
        buf_adds(b, jsonptr_type_name(v));
    }
    buf_release(&t);
}

/* Whether v's text is want: numbers compare as numbers when want is one too (1.0 is 1). */
static bool json_equals(const json_t *v, const char *want)
{
    struct buf t = BUF_INIT;
    bool eq = jsonptr_text(v, &t) == 0 && t.len == strlen(want) && !memcmp(t.data, want, t.len);
    if (!eq && json_is_number(v) && *want) {
        char *end;
        double d = strtod(want, &end);
        /* strtod takes "0x10", "inf", "nan": only JSON's own number syntax counts */
        bool number = !*end && strspn(want, "+-0123456789.eE") == strlen(want);
        eq = number && isfinite(d) && d == json_number_value(v);
    }
    buf_release(&t);
    return eq;
}

/*
 * Judges the JSON value at c->json in an answer that passed the status and
 * contains tests; appends ": ..." to r->message.
 */
static void judge_json(const struct pl_check *c, const struct fetch *f, struct check_result *r)
{
    json_error_t jerr;
    struct buf why = BUF_INIT;
    json_t *doc = NULL, *v;

    r->outcome = CHECK_FAIL;
    if (f->truncated) {
        buf_addf(&r->message, ": the body is not JSON: it is longer than the %u KiB that are read",
                 CHECK_HTTP_MAX_BODY >> 10);
        goto out;
    }
    doc = json_loadb(f->body.data, f->body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!doc && json_error_code(&jerr) == json_error_numeric_overflow)
        doc = json_loadb(f->body.data, f->body.len,
                         JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!doc) {
        buf_adds(&r->message, ": the body is not JSON: ");
        add_oneline_s(&r->message, jerr.text);
        buf_addf(&r->message, " (line %d, column %d)", jerr.line, jerr.column);
        goto out;
    }
    buf_adds(&r->message, ": ");
    if (!(v = jsonptr_get(doc, c->json, &why))) {
        buf_adds(&r->message, "no value at ");
        add_oneline_s(&r->message, c->json);
        buf_adds(&r->message, ": ");
        add_oneline(&r->message, why.data, why.len, QUOTE_MAX);
        goto out;
    }
    add_oneline_s(&r->message, c->json[0] ? c->json : "the document");
    if (c->has_min || c->has_max) {
        if (!json_is_number(v)) {
            buf_adds(&r->message, " is ");
            add_json_value(&r->message, v);
            buf_adds(&r->message, ", not a number");
            goto out;
        }
        double d = json_number_value(v);
        r->has_value = true;
        r->value = d;
        r->outcome =
            (c->has_max && d > c->max) || (c->has_min && d < c->min) ? CHECK_FAIL : CHECK_PASS;
        buf_addch(&r->message, ' ');
        add_comparison(&r->message, c, d);
        goto out;
    }
    buf_adds(&r->message, " is ");
    add_json_value(&r->message, v);
    if (c->equals && !json_equals(v, c->equals)) {
        buf_adds(&r->message, ", expected \"");
        add_oneline_s(&r->message, c->equals);
        buf_addch(&r->message, '"');
        goto out;
    }
    r->outcome = CHECK_PASS;
out:
    json_decref(doc);
    buf_release(&why);
}

static void eval_http(const struct pl_check *c, const char *const *vars, struct check_result *r)
{
    struct buf url = BUF_INIT;
    struct fetch f = {0};
    int64_t timeout = timeout_of(c);

    buf_init(&f.body, 1);
    if (expand_or_error(c->subject, "the URL", vars, &url, r))
        goto out;
    fetch(url.data, timeout, CHECK_HTTP_MAX_BODY, &f);
    if (!f.answered) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "no answer from ");
        add_url(&r->message, url.data);
        buf_adds(&r->message, ": ");
        add_transport_error(&r->message, &f, timeout);
        goto out;
    }
    r->has_value = true;
    r->value = (double)f.status;
    buf_addf(&r->message, "HTTP %ld from ", f.status);
    add_url(&r->message, url.data);
    if (f.cc == CURLE_TOO_MANY_REDIRECTS) {
        r->outcome = CHECK_FAIL;
        buf_addf(&r->message, ": more than %d redirects", CHECK_MAX_REDIRECTS);
    } else if (!status_expected(c, f.status)) {
        r->outcome = CHECK_FAIL;
        buf_adds(&r->message, " (expected ");
        add_expected(&r->message, c);
        buf_addch(&r->message, ')');
    } else if (c->contains && !memmem(f.body.data, f.body.len, c->contains, strlen(c->contains))) {
        r->outcome = CHECK_FAIL;
        buf_adds(&r->message, ": the body does not contain \"");
        add_oneline_s(&r->message, c->contains);
        buf_addch(&r->message, '"');
        if (f.truncated)
            buf_addf(&r->message, " (in its first %u KiB)", CHECK_HTTP_MAX_BODY >> 10);
    } else if (c->json) {
        judge_json(c, &f, r);
    } else {
        r->outcome = CHECK_PASS;
    }
out:
    fetch_release(&f);
    buf_release(&url);
}

/* ---- Prometheus ----------------------------------------------------------- */

static void add_query_escaped(struct buf *b, const char *s)
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

/* A sample value: a JSON string such as "0.5", "NaN", "+Inf". */
static int parse_sample(json_t *pair, double *v)
{
    const char *s = json_string_value(json_array_get(pair, 1));
    char *end;
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !s || !*s)
        return -1;
    errno = 0;
    *v = strtod(s, &end);
    if (*end)
        return -1;
    return 0;
}

/* How far v lies beyond the limits (> 0: violated; the larger, the worse). */
static double excess(const struct pl_check *c, double v)
{
    double e = -INFINITY;
    if (c->has_max && v - c->max > e)
        e = v - c->max;
    if (c->has_min && c->min - v > e)
        e = c->min - v;
    return c->has_min || c->has_max ? e : 0;
}

static void add_labels(struct buf *b, json_t *metric)
{
    const char *k;
    json_t *val;
    struct buf t = BUF_INIT;
    if (!json_is_object(metric) || !json_object_size(metric))
        return;
    buf_addch(&t, '{');
    json_object_foreach(metric, k, val)
    {
        buf_addf(&t, "%s%s=\"%s\"", t.len > 1 ? ", " : "", k,
                 json_is_string(val) ? json_string_value(val) : "?");
    }
    buf_addch(&t, '}');
    buf_adds(b, " for ");
    add_oneline(b, t.data, t.len, LABELS_MAX);
    buf_release(&t);
}

/* The comparison made, e.g. "0.2 > max 0.01" or "0.002 <= max 0.01". */
static void add_comparison(struct buf *b, const struct pl_check *c, double v)
{
    add_number(b, v);
    if (c->has_max && v > c->max) {
        buf_adds(b, " > max ");
        add_number(b, c->max);
    } else if (c->has_min && v < c->min) {
        buf_adds(b, " < min ");
        add_number(b, c->min);
    } else if (c->has_min && c->has_max) {
        buf_adds(b, " within [");
        add_number(b, c->min);
        buf_adds(b, ", ");
        add_number(b, c->max);
        buf_addch(b, ']');
    } else if (c->has_max) {
        buf_adds(b, " <= max ");
        add_number(b, c->max);
    } else if (c->has_min) {
        buf_adds(b, " >= min ");
        add_number(b, c->min);
    }
}

/* Judges a parsed, successful reply's data. */
static void judge_prometheus(const struct pl_check *c, json_t *data, struct check_result *r)
{
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    double v;

    if (type && !strcmp(type, "scalar")) {
        if (parse_sample(result, &v)) {
            r->outcome = CHECK_ERROR;
            buf_adds(&r->message, "Prometheus sent a scalar that is not a number");
            return;
        }
        if (isnan(v)) {
            r->outcome = CHECK_NO_DATA;
            buf_adds(&r->message, "no data: the query returned NaN");
            return;
        }
        r->has_value = true;
        r->value = v;
        r->outcome = excess(c, v) > 0 ? CHECK_FAIL : CHECK_PASS;
        add_comparison(&r->message, c, v);
        return;
    }
    if (!type || strcmp(type, "vector")) {
        r->outcome = CHECK_ERROR;
        if (type && !strcmp(type, "matrix"))
            buf_adds(&r->message, "the query returned a range vector (matrix); a check needs an "
                                  "instant vector or a scalar");
        else
            buf_addf(&r->message,
                     "the query returned a %s; a check needs an instant vector or "
                     "a scalar",
                     type ? type : "reply without a resultType");
        return;
    }
    if (!json_is_array(result)) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "Prometheus sent a vector without a result list");
        return;
    }
    size_t n = json_array_size(result), nan = 0;
    json_t *worst = NULL;
    double worst_v = 0, worst_e = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *series = json_array_get(result, i);
        if (parse_sample(json_object_get(series, "value"), &v)) {
            r->outcome = CHECK_ERROR;
            buf_addf(&r->message, "Prometheus sent a series (#%zu) without a numeric value", i + 1);
            return;
        }
        if (isnan(v)) {
            nan++;
            continue;
        }
        double e = excess(c, v);
        if (!worst || e > worst_e) {
            worst = series;
            worst_v = v;
            worst_e = e;
        }
    }
    if (n == 0) {
        r->outcome = CHECK_NO_DATA;
        buf_adds(&r->message, "no data: the query returned an empty vector");
        return;
    }
    if (!worst) {
        r->outcome = CHECK_NO_DATA;
        buf_addf(&r->message, "no data: the value of %s NaN",
                 n == 1 ? "the only series is" : "every series is");
        if (n > 1)
            buf_addf(&r->message, " (%zu series)", n);
        return;
    }
    r->has_value = true;
    r->value = worst_v;
    r->outcome = worst_e > 0 ? CHECK_FAIL : CHECK_PASS;
    add_comparison(&r->message, c, worst_v);
    add_labels(&r->message, json_object_get(worst, "metric"));
    if (n > 1) {
        buf_addf(&r->message, " (the worst of %zu series", n);
        if (nan)
            buf_addf(&r->message, "; %zu NaN left out", nan);
        buf_addch(&r->message, ')');
    }
}

static void eval_prometheus(const struct pl_check *c, const char *const *vars,
                            struct check_result *r)
{
    struct buf server = BUF_INIT, query = BUF_INIT, url = BUF_INIT;
    struct fetch f = {0};
    json_t *reply = NULL;
    json_error_t jerr;
    int64_t timeout = timeout_of(c);

    buf_init(&f.body, 1);
    if (!c->server) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "no Prometheus server given");
        goto out;
    }
    if (expand_or_error(c->server, "the Prometheus server", vars, &server, r) ||
        expand_or_error(c->subject, "the query", vars, &query, r))
        goto out;
    while (server.len && server.data[server.len - 1] == '/')
        buf_setlen(&server, server.len - 1);
    buf_addf(&url, "%s/api/v1/query?query=", server.data);
    add_query_escaped(&url, query.data);
    /* Prometheus gives up a little before we do, and says so. */
    buf_addf(&url, "&timeout=%.3f", (double)(timeout > 200 ? timeout - 100 : timeout) / 1000);

    fetch(url.data, timeout, CHECK_PROM_MAX_REPLY, &f);
    if (!f.answered) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "no answer from Prometheus at ");
        add_url(&r->message, server.data);
        buf_adds(&r->message, ": ");
        add_transport_error(&r->message, &f, timeout);
        goto out;
    }
    if (f.truncated) {
        r->outcome = CHECK_ERROR;
        buf_addf(&r->message, "the reply of Prometheus is larger than %u MiB",
                 CHECK_PROM_MAX_REPLY >> 20);
        goto out;
    }
    reply = json_loadb(f.body.data, f.body.len, 0, &jerr);
    const char *status = json_string_value(json_object_get(reply, "status"));
    if (!status) {
        r->outcome = CHECK_ERROR;
        buf_addf(&r->message, "HTTP %ld from ", f.status);
        add_url(&r->message, server.data);
        buf_adds(&r->message, ": not a Prometheus query API reply");
        if (!reply) {
            buf_adds(&r->message, " (");
            add_oneline_s(&r->message, jerr.text);
            buf_addch(&r->message, ')');
        }
        goto out;
    }
    if (strcmp(status, "success")) {
        const char *type = json_string_value(json_object_get(reply, "errorType"));
        const char *text = json_string_value(json_object_get(reply, "error"));
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "Prometheus: ");
        if (type) {
            add_oneline_s(&r->message, type);
            buf_adds(&r->message, ": ");
        }
        add_oneline_s(&r->message, text ? text : status);
        goto out;
    }
    judge_prometheus(c, json_object_get(reply, "data"), r);
out:
    json_decref(reply);
    fetch_release(&f);
    buf_release(&url);
    buf_release(&query);
    buf_release(&server);
}

/* ---- run: a command ------------------------------------------------------- */

static int fd_above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return n;
}

/* Keeps the last CHECK_RUN_MAX_OUTPUT bytes of the output. */
static void keep_tail(struct buf *b, const char *data, size_t n)
{
    if (n >= CHECK_RUN_MAX_OUTPUT) {
        buf_reset(b);
        buf_add(b, data + n - CHECK_RUN_MAX_OUTPUT, CHECK_RUN_MAX_OUTPUT);
        return;
    }
    if (b->len + n > CHECK_RUN_MAX_OUTPUT) {
        size_t drop = b->len + n - CHECK_RUN_MAX_OUTPUT;
        memmove(b->data, b->data + drop, b->len - drop);
        buf_setlen(b, b->len - drop);
    }
    buf_add(b, data, n);
}

/* Reads what the pipe has; returns false at end of file or on an error. */
static bool read_some(int fd, struct buf *out)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            keep_tail(out, chunk, (size_t)n);
            if ((size_t)n < sizeof(chunk))
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

/* ": " and the last non-empty line of the output, if there is one. */
static void add_last_line(struct buf *b, const struct buf *output)
{
    size_t end = output->len;
    while (end > 0 && (output->data[end - 1] == '\n' || output->data[end - 1] == '\r' ||
                       output->data[end - 1] == ' ' || output->data[end - 1] == '\t'))
        end--;
    if (!end)
        return;
    size_t start = end;
    while (start > 0 && output->data[start - 1] != '\n')
        start--;
    buf_adds(b, ": ");
    add_oneline(b, output->data + start, end - start, QUOTE_MAX);
}

/* Sleeps ms (or until a signal). */
static void nap(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/*
 * Reaps the child pid if it has ended (or, with block, once it has): true
 * then. *lost is set when its status cannot be had (someone else reaped it,
 * SIGCHLD ignored).
 */
static bool reap(pid_t pid, bool block, int *status, bool *lost)
{
    for (;;) {
        pid_t w = waitpid(pid, status, block ? 0 : WNOHANG);
        if (w == pid)
            return true;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            *lost = true;
            return true;
        }
        return false;
    }
}

/*
 * Ends what is left of the group pgid: SIGTERM, up to CHECK_RUN_GRACE_MS for
 * it to go, SIGKILL. *reaped says whether the group's leader, our child, was
 * reaped already; it is reaped here otherwise (waitpid on its own pid).
 */
static void end_group(pid_t pgid, bool *reaped, int *status, bool *lost)
{
    if (kill(-pgid, SIGTERM) && errno == ESRCH && *reaped)
        return;
    int64_t until = mono_ms() + CHECK_RUN_GRACE_MS;
    for (;;) {
        if (!*reaped)
            *reaped = reap(pgid, false, status, lost);
        /* Once the leader is reaped, the group is empty when nothing answers. */
        if (*reaped && kill(-pgid, 0) && errno == ESRCH)
            return;
        if (mono_ms() >= until)
            break;
        nap(10);
    }
    kill(-pgid, SIGKILL);
    if (!*reaped)
        *reaped = reap(pgid, true, status, lost);
}

static void build_env(const char *const *vars, char ***envp)
{
    size_t n = 0, alloc = 0;
    char **v = NULL;
    bool has_path = false, has_home = false;
    for (size_t i = 0; vars && vars[i]; i++) {
        const char *eq = strchr(vars[i], '=');
        if (!eq || var_lookup(vars, vars[i], (size_t)(eq - vars[i])) != eq + 1)
            continue; /* not NAME=VALUE, or a name defined before: the first one wins */
        has_path |= !strncmp(vars[i], "PATH=", 5);
        has_home |= !strncmp(vars[i], "HOME=", 5);
        ALLOC_GROW(v, n + 1, alloc);
        v[n++] = xstrdup(vars[i]);
    }
    ALLOC_GROW(v, n + 3, alloc);
    if (!has_path)
        v[n++] = xstrdup("PATH=/usr/bin:/bin");
    if (!has_home) {
        const char *home = getenv("HOME");
        struct buf b = BUF_INIT;
        buf_addf(&b, "HOME=%s", home && *home ? home : "/");
        v[n++] = buf_detach(&b, NULL);
    }
    v[n] = NULL;
    *envp = v;
}

static void free_env(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

static void eval_run(const struct pl_check *c, const char *const *vars, const char *dir,
                     struct check_result *r, int64_t start)
{
    int p[2] = {-1, -1}, pidfd = -1, status = 0, rc;
    char **envp = NULL;
    char *argv[] = {(char *)"sh", (char *)"-c", c->subject, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false, reaped = false, timed_out = false, bad_dir = false,
         lost = false;
    pid_t pid = -1;
    int64_t timeout = timeout_of(c), deadline = start + timeout;
    const char *what = "cannot start sh";

    if (pipe2(p, O_CLOEXEC)) {
        rc = errno;
        what = "cannot make a pipe";
        goto spawn_failed;
    }
    p[0] = fd_above_stdio(p[0]);
    p[1] = fd_above_stdio(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        rc = errno;
        what = "cannot make a pipe";
        goto spawn_failed;
    }
    build_env(vars, &envp);
    if ((rc = posix_spawn_file_actions_init(&fa)))
        goto spawn_failed;
    fa_init = true;
    if ((dir && (rc = posix_spawn_file_actions_addchdir_np(&fa, dir))) ||
        (rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, p[1], 2)))
        goto spawn_failed;
    if ((rc = posix_spawnattr_init(&attr)))
        goto spawn_failed;
    attr_init = true;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    /* A session of its own: its own process group, no controlling terminal. */
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) ||
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSID)))
        goto spawn_failed;
    if ((rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp))) {
        pid = -1;
        if (dir && rc == ENOENT && access(dir, X_OK)) {
            rc = errno;
            bad_dir = true;
        }
        goto spawn_failed;
    }
    close(p[1]);
    p[1] = -1;
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
#ifdef SYS_pidfd_open
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by nature */
#endif

    /* Until sh exits, read its output; wake up when it exits (pidfd) or every 10 ms. */
    while (!reaped) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf[2];
        nfds_t n = 0;
        if (p[0] >= 0)
            pf[n++] = (struct pollfd){.fd = p[0], .events = POLLIN};
        if (pidfd >= 0)
            pf[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        int wait = (int)(pidfd >= 0 ? (left > 1000 ? 1000 : left) : (left > 10 ? 10 : left));
        if (n)
            poll(pf, n, wait);
        else
            nap(wait);
        if (p[0] >= 0 && !read_some(p[0], &r->output)) {
            close(p[0]);
            p[0] = -1;
        }
        reaped = reap(pid, false, &status, &lost);
    }
    if (p[0] >= 0 && reaped && !read_some(p[0], &r->output)) {
        close(p[0]);
        p[0] = -1;
    }
    /* Whatever the command left behind, or the command itself at the timeout. */
    end_group(pid, &reaped, &status, &lost);

    if (timed_out) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "timed out after ");
        duration_format(timeout, &r->message);
        add_last_line(&r->message, &r->output);
    } else if (lost) {
        r->outcome = CHECK_ERROR;
        buf_adds(&r->message, "the command's exit status was lost (is SIGCHLD ignored?)");
    } else if (WIFEXITED(status)) {
        r->has_value = true;
        r->value = WEXITSTATUS(status);
        r->outcome = WEXITSTATUS(status) ? CHECK_FAIL : CHECK_PASS;
        buf_addf(&r->message, "exit %d", WEXITSTATUS(status));
        add_last_line(&r->message, &r->output);
    } else {
        r->outcome = CHECK_FAIL;
        buf_addf(&r->message, "killed by signal %d", WTERMSIG(status));
        add_last_line(&r->message, &r->output);
    }
    goto out;

spawn_failed:
    r->outcome = CHECK_ERROR;
    if (bad_dir) {
        buf_adds(&r->message, "cannot start the command in ");
        add_oneline_s(&r->message, dir);
    } else {
        buf_adds(&r->message, what);
    }
    buf_addf(&r->message, ": %s", strerror(rc));
out:
    if (pidfd >= 0)
        close(pidfd);
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    free_env(envp);
}

/* ---- the entry points ----------------------------------------------------- */

void check_eval_in(const struct pl_check *c, const char *const *vars, const char *dir,
                   struct check_result *out)
{
    int64_t start = mono_ms();
    memset(out, 0, sizeof(*out));
    buf_init(&out->message, 0);
    buf_init(&out->output, 0);
    out->outcome = CHECK_ERROR;
    if (!c->subject) {
        buf_adds(&out->message, "the check has no URL, command or query");
        out->duration_ms = mono_ms() - start;
        return;
    }
    switch (c->kind) {
    case PL_CHECK_HTTP:
        eval_http(c, vars, out);
        break;
    case PL_CHECK_RUN:
        eval_run(c, vars, dir, out, start);
        break;
    case PL_CHECK_PROMETHEUS:
        eval_prometheus(c, vars, out);
        break;
    default:
        buf_addf(&out->message, "unknown kind of check (%d)", (int)c->kind);
        break;
    }
    out->duration_ms = mono_ms() - start;
}

void check_eval(const struct pl_check *c, const char *const *vars, struct check_result *out)
{
    check_eval_in(c, vars, NULL, out);
}

void check_result_release(struct check_result *r)
{
    buf_release(&r->message);
    buf_release(&r->output);
}
