#include "server/forge_status.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "server/webhook.h"
#include "store/forge.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/dl_curl.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

#define POLL_MS   1000 /* a look at the outbox at least this often */
#define BATCH     32
#define REPLY_MAX 4096 /* of a forge's answer, kept for the message */

struct target {
    int64_t repo_id;
    const struct forge_repo *f;
    char *origin; /* the API's scheme, host and port, for messages */
};

struct forge_status {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping, woken; /* under mu */
    struct store *st;
    const struct forge_set *set;
    struct target *t;
    size_t n;
    CURL *h;
    /* the request under way */
    struct buf reply;
    long retry_after_s;
    char errbuf[CURL_ERROR_SIZE];
};

int64_t forge_status_backoff_ms(int attempt)
{
    int64_t ms = 1000;
    for (int i = 1; i < attempt && ms < FORGE_STATUS_MAX_DELAY_MS; i++)
        ms *= 2;
    return ms < FORGE_STATUS_MAX_DELAY_MS ? ms : FORGE_STATUS_MAX_DELAY_MS;
}

static bool stopping(struct forge_status *fs)
{
    pthread_mutex_lock(&fs->mu);
    bool s = fs->stopping;
    pthread_mutex_unlock(&fs->mu);
    return s;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct forge_status *fs = ctx;
    size_t n = size * nmemb;
    if (fs->reply.len < REPLY_MAX)
        buf_add(&fs->reply, data, n < REPLY_MAX - fs->reply.len ? n : REPLY_MAX - fs->reply.len);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct forge_status *fs = ctx;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
        char tmp[32];
        size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, data + 12, l);
        tmp[l] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        if (!*end && v >= 0)
            fs->retry_after_s = v < 3600 ? v : 3600;
    }
    return n;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return stopping(ctx) ? 1 : 0;
}

/* Why an answer was refused, for a message: its "message" field (GitHub,
 * Gitea, GitLab), printable, short, and never the token. */
static void reply_reason(const struct buf *reply, const char *token, struct buf *out)
{
    json_t *o = json_loadb(reply->data, reply->len, 0, NULL);
    json_t *m = json_object_get(o, "message");
    const char *s = json_is_string(m) ? json_string_value(m) : NULL;
    char *dump = NULL;
    if (!s && m)
        s = dump = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && *s) {
        struct buf t = BUF_INIT;
        for (const char *p = s; *p && t.len < 200; p++)
            buf_addch(&t, isprint((unsigned char)*p) ? *p : '?');
        if (token && *token && strstr(t.data, token))
            buf_adds(out, " (its message quotes the token: not shown)");
        else
            buf_addf(out, " (%s)", t.data);
        buf_release(&t);
    }
    free(dump);
    json_decref(o);
}

static void wipe_list(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        crypto_wipe(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/*
 * Sends r. Returns 0 when the forge took it, 1 when it may be tried again
 * (with *delay_ms when the forge said when), 2 when it must not, -1 when the
 * sender is stopping; why says what happened otherwise.
 */
static int send_request(struct forge_status *fs, const struct forge_request *r, const char *token,
                        int64_t *delay_ms, struct buf *why)
{
    CURL *h = fs->h;
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, r->auth.data);
    for (size_t i = 0; r->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, r->headers[i]);
    hdrs = curl_slist_append(hdrs, "Expect:");
    buf_reset(&fs->reply);
    fs->retry_after_s = -1;
    fs->errbuf[0] = '\0';
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, r->url.data);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, fs->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FORGE_STATUS_CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FORGE_STATUS_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flywheel/" FLYWHEEL_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)r->body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, fs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, fs);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, fs);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* The handle keeps the list's address, not the token: wipe both. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    wipe_list(hdrs);
    *delay_ms = -1;
    if (cc == CURLE_ABORTED_BY_CALLBACK && stopping(fs))
        return -1;
    if (cc != CURLE_OK) {
        buf_adds(why, fs->errbuf[0] ? fs->errbuf : curl_easy_strerror(cc));
        return 1;
    }
    if (status >= 200 && status < 300)
        return 0;
    buf_addf(why, "HTTP %ld", status);
    reply_reason(&fs->reply, token, why);
    if (fs->retry_after_s >= 0 && (status == 403 || status == 429 || status >= 500))
        *delay_ms = fs->retry_after_s * 1000;
    if (status == 408 || status == 429 || status >= 500 || *delay_ms >= 0)
        return 1;
    return 2;
}

static const struct target *target_of(const struct forge_status *fs, int64_t repo_id)
{
    for (size_t i = 0; i < fs->n; i++)
        if (fs->t[i].repo_id == repo_id)
            return &fs->t[i];
    return NULL;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("flywheel serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Sends what one due row wants, and records how it went. */
static void process(struct forge_status *fs, const struct store_forge_status *row)
{
    struct buf err = BUF_INIT, why = BUF_INIT;
    struct store_run run = {0};
    struct forge_request req;
    bool have_req = false;
    int rc = store_run_get(fs->st, row->run_id, &run, &err);
    if (rc) {
        if (rc != -ENOENT)
            report("statuses: %s", err.data);
        goto out;
    }
    const struct target *t = target_of(fs, run.repo_id);
    const char *want = t ? forge_status_state(t->f->kind, run.state) : NULL;
    if (!want || !strcmp(want, row->sent)) {
        /* Nothing to send: the forge has it, or no longer gets statuses. */
        if (store_forge_settled(fs->st, row->run_id, row->gen, &err))
            report("statuses: %s", err.data);
        goto out;
    }
    struct forge_run fr = {
        .id = run.id,
        .number = run.number,
        .repo = t->f->repo,
        .kind = run.kind,
        .state = run.state,
        .commit = run.commit,
    };
    have_req = true;
    if (forge_status_request(t->f->kind, t->f->api_url, t->f->project, t->f->token,
                             fs->set->public_url, &fr, &req)) {
        store_forge_settled(fs->st, row->run_id, row->gen, &err);
        goto out;
    }
    int64_t delay = -1;
    int attempt = row->attempts + 1;
    int sent = send_request(fs, &req, t->f->token, &delay, &why);
    if (sent < 0)
        goto out; /* stopping: still due, for the next start */
    if (sent == 0) {
        if (store_forge_sent(fs->st, row->run_id, row->gen, want, &err))
            report("statuses: %s", err.data);
        goto out;
    }
    bool again = sent == 1 && attempt < FORGE_STATUS_ATTEMPTS;
    if (delay < 0)
        delay = forge_status_backoff_ms(attempt);
    int64_t next = again ? store_now_ms() + delay : 0;
    report("%s status '%s' of run %lld (%s#%lld, commit %.12s) to %s: %s; %s",
           forge_kind_name(t->f->kind), want, (long long)run.id, t->f->repo, (long long)run.number,
           run.commit, t->origin, why.data,
           !again && sent == 1 ? "giving up after the last attempt"
           : !again            ? "not tried again"
                               : "trying again later");
    if (store_forge_retry(fs->st, row->run_id, row->gen, want, attempt, next, why.data, &err))
        report("statuses: %s", err.data);
out:
    if (have_req)
        forge_request_release(&req);
    store_run_release(&run);
    buf_release(&err);
    buf_release(&why);
}

static void *worker(void *arg)
{
    struct forge_status *fs = arg;
    struct buf err = BUF_INIT;
    for (;;) {
        pthread_mutex_lock(&fs->mu);
        fs->woken = false;
        bool stop = fs->stopping;
        pthread_mutex_unlock(&fs->mu);
        if (stop)
            break;
        struct store_forge_status *rows = NULL;
        size_t n = 0;
        buf_reset(&err);
        if (store_forge_due(fs->st, store_now_ms(), BATCH, &rows, &n, &err))
            report("statuses: %s", err.data);
        for (size_t i = 0; i < n && !stopping(fs); i++)
            process(fs, &rows[i]);
        store_forge_statuses_release(rows, n);
        if (n == BATCH)
            continue;
        buf_reset(&err);
        int64_t now = store_now_ms(), next = store_forge_next_due(fs->st, &err);
        int64_t wait = POLL_MS;
        if (next > 0 && next - now < wait)
            wait = next - now > 50 ? next - now : 50; /* not a busy loop if the store fails */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&fs->mu);
        while (!fs->woken && !fs->stopping &&
               pthread_cond_timedwait(&fs->cond, &fs->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&fs->mu);
    }
    buf_release(&err);
    return NULL;
}

static void free_all(struct forge_status *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->t[i].origin);
    free(fs->t);
    if (fs->h)
        curl_easy_cleanup(fs->h);
    if (fs->st)
        store_close(fs->st);
    buf_release(&fs->reply);
    pthread_cond_destroy(&fs->cond);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int forge_status_start(struct forge_status **out, const char *db_path, const struct forge_set *set,
                       struct buf *err)
{
    struct forge_status *fs = xcalloc(1, sizeof(*fs));
    int64_t *ids = xcalloc(set->n + 1, sizeof(*ids));
    struct buf o = BUF_INIT;
    *out = NULL;
    pthread_mutex_init(&fs->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->cond, &ca);
    pthread_condattr_destroy(&ca);
    buf_init(&fs->reply, 0);
    fs->set = set;
    fs->t = xcalloc(set->n + 1, sizeof(*fs->t));
    if (store_open(&fs->st, db_path, err))
        goto fail;
    for (size_t i = 0; i < set->n; i++) {
        const struct forge_repo *f = &set->v[i];
        struct store_repo repo = {0};
        if (!f->token || !f->project)
            continue;
        if (store_repo_get(fs->st, f->repo, &repo, err)) {
            buf_addf(err, " (repository '%s')", f->repo);
            goto fail;
        }
        ids[fs->n] = repo.id;
        fs->t[fs->n].repo_id = repo.id;
        fs->t[fs->n].f = f;
        webhook_url_origin(f->api_url, &o);
        fs->t[fs->n].origin = buf_detach(&o, NULL);
        fs->n++;
        store_repo_release(&repo);
    }
    if (store_forge_track(fs->st, ids, fs->n, err))
        goto fail;
    free(ids);
    ids = NULL;
    if (!fs->n) {
        free_all(fs);
        return 0;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK || !(fs->h = curl_easy_init())) {
        buf_addf(err, "statuses: %s", dl_curl_why());
        goto fail;
    }
    int rc = pthread_create(&fs->thread, NULL, worker, fs);
    if (rc) {
        buf_addf(err, "statuses: cannot start a thread: %s", strerror(rc));
        goto fail;
    }
    *out = fs;
    return 0;
fail:
    free(ids);
    free_all(fs);
    return -1;
}

void forge_status_wake(struct forge_status *fs)
{
    if (!fs)
        return;
    pthread_mutex_lock(&fs->mu);
    fs->woken = true;
    pthread_cond_signal(&fs->cond);
    pthread_mutex_unlock(&fs->mu);
}

void forge_status_stop(struct forge_status *fs)
{
    if (!fs)
        return;
    pthread_mutex_lock(&fs->mu);
    fs->stopping = true;
    pthread_cond_signal(&fs->cond);
    pthread_mutex_unlock(&fs->mu);
    pthread_join(fs->thread, NULL);
    free_all(fs);
}
