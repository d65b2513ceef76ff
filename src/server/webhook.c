#include "server/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/crypto.h"
#include "util/dl_curl.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

const char *const webhook_event_names[] = {"run", "job", "deployment", "line", NULL};
const unsigned webhook_event_bits[] = {WEBHOOK_RUN, WEBHOOK_JOB, WEBHOOK_DEPLOYMENT, WEBHOOK_LINE};

/* ---- pure helpers -------------------------------------------------------- */

const char *webhook_event_kind(const char *line, size_t len, unsigned *bit)
{
    /* The lines are compact JSON: a quote inside a string is escaped, so
     * "key": with a bare quote before it can only be a key. Same rule as
     * the SSE stream of GET /api/v1/events. */
    if (memmem(line, len, "\"deployment\":", 13)) {
        *bit = memmem(line, len, "\"measurement\":", 14) ? 0 : WEBHOOK_DEPLOYMENT;
        return "deployment";
    }
    if (memmem(line, len, "\"line\":", 7)) {
        *bit = WEBHOOK_LINE;
        return "line";
    }
    if (memmem(line, len, "\"job\":", 6)) {
        *bit = WEBHOOK_JOB;
        return "job";
    }
    *bit = WEBHOOK_RUN;
    return "run";
}

void webhook_hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                             char hex[65])
{
    unsigned char mac[SHA256_LEN];
    hmac_sha256(key, key_len, msg, msg_len, mac);
    crypto_hex(mac, sizeof(mac), hex);
    crypto_wipe(mac, sizeof(mac));
}

void webhook_body(struct buf *body, const char *kind, const char *line, size_t len)
{
    buf_adds(body, "{\"event\":");
    buf_add_json_str(body, kind);
    buf_adds(body, ",\"data\":");
    buf_add(body, line, len);
    buf_addch(body, '}');
}

static size_t scheme_len(const char *url)
{
    if (!strncasecmp(url, "http://", 7))
        return 7;
    if (!strncasecmp(url, "https://", 8))
        return 8;
    return 0;
}

int webhook_url_check(const char *url, struct buf *err)
{
    size_t s = scheme_len(url);
    if (!s) {
        buf_adds(err, "a webhook's url must start with http:// or https://");
        return -1;
    }
    const char *host = url + s;
    if (!*host || *host == '/' || *host == ':' || *host == '?' || *host == '#') {
        buf_adds(err, "a webhook's url needs a host");
        return -1;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            buf_adds(err, "a webhook's url must not contain spaces or control characters");
            return -1;
        }
    return 0;
}

void webhook_url_origin(const char *url, struct buf *out)
{
    size_t s = scheme_len(url);
    const char *host = url + s, *end = host + strcspn(host, "/?#");
    /* user:password@host: keep the host only */
    const char *at = memchr(host, '@', (size_t)(end - host));
    while (at) {
        host = at + 1;
        at = memchr(host, '@', (size_t)(end - host));
    }
    buf_add(out, url, s);
    buf_add(out, host, (size_t)(end - host));
}

int webhook_secret_read(const char *path, struct buf *out, struct buf *err)
{
    struct stat sb;
    char tmp[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        buf_addf(err, "cannot open %s: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
        return -1;
    }
    int rc = -1;
    if (fstat(fd, &sb)) {
        buf_addf(err, "%s: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        buf_addf(err, "%s is not a regular file", path);
        goto out;
    }
    if (sb.st_mode & 007) {
        buf_addf(err, "%s has mode %04o: others may read it; make it 0600 or 0640", path,
                 (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    buf_reset(out);
    buf_grow(out, WEBHOOK_SECRET_MAX + 1);
    for (;;) {
        ssize_t n = read(fd, out->data + out->len, WEBHOOK_SECRET_MAX + 1 - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_addf(err, "%s: %s", path, strerror_r(errno, tmp, sizeof(tmp)));
            goto out;
        }
        if (n == 0)
            break;
        buf_setlen(out, out->len + (size_t)n);
        if (out->len > WEBHOOK_SECRET_MAX) {
            buf_addf(err, "%s is longer than %d bytes", path, WEBHOOK_SECRET_MAX);
            goto out;
        }
    }
    while (out->len && isspace((unsigned char)out->data[out->len - 1]))
        out->len--;
    buf_setlen(out, out->len);
    if (!out->len) {
        buf_addf(err, "%s is empty", path);
        goto out;
    }
    rc = 0;
out:
    if (rc) {
        crypto_wipe(out->data, out->len);
        buf_reset(out);
    }
    close(fd);
    return rc;
}

/* ---- delivery ------------------------------------------------------------ */

struct item {
    char *line;
    size_t len;
    const char *kind;
};

struct target {
    struct webhooks *w;
    char *url, *origin;
    unsigned char *secret;
    size_t secret_len;
    unsigned events;
    /* the queue, under w->mu */
    struct item ring[WEBHOOK_QUEUE];
    size_t head, count;
    /* the worker's own */
    struct item cur; /* the event being delivered; cur.line NULL: none */
    CURL *h;
    struct curl_slist *hdrs;
    struct buf body;
    char delivery[37];
    int attempt;
    bool in_flight;
    int64_t next_try_ms;
    char errbuf[CURL_ERROR_SIZE];
};

struct webhooks {
    pthread_t thread;
    pthread_mutex_t mu;
    CURLM *multi;
    struct target *t;
    size_t n;
    bool stopping;              /* under mu */
    int64_t deadline_ms;        /* under mu: when stopping, the worker gives up then */
    struct webhook_stats stats; /* under mu */
    uint64_t dropped_logged;    /* under mu */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void webhooks_event(struct webhooks *w, const char *line, size_t len)
{
    unsigned bit;
    if (!w)
        return;
    const char *kind = webhook_event_kind(line, len, &bit);
    if (!bit)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    bool queued = false;
    for (size_t i = 0; i < w->n; i++) {
        struct target *t = &w->t[i];
        if (!(t->events & bit))
            continue;
        if (len > WEBHOOK_LINE_MAX) {
            w->stats.dropped++;
            continue;
        }
        if (t->count == WEBHOOK_QUEUE) {
            /* full: the oldest goes */
            free(t->ring[t->head].line);
            t->head = (t->head + 1) % WEBHOOK_QUEUE;
            t->count--;
            w->stats.dropped++;
        }
        struct item *it = &t->ring[(t->head + t->count) % WEBHOOK_QUEUE];
        it->line = xmalloc(len + 1);
        memcpy(it->line, line, len);
        it->line[len] = '\0';
        it->len = len;
        it->kind = kind;
        t->count++;
        queued = true;
    }
    /* One message per hundred drops: a dead receiver must not flood the log. */
    bool log_drop =
        w->stats.dropped >= w->dropped_logged + 100 || (w->stats.dropped && !w->dropped_logged);
    uint64_t dropped = w->stats.dropped;
    if (log_drop)
        w->dropped_logged = dropped;
    if (queued)
        curl_multi_wakeup(w->multi);
    pthread_mutex_unlock(&w->mu);
    if (log_drop)
        fprintf(stderr,
                "flywheel serve: webhooks: %llu event%s dropped so far (a receiver is behind "
                "by %d events)\n",
                (unsigned long long)dropped, dropped == 1 ? "" : "s", WEBHOOK_QUEUE);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * nmemb;
}

static void new_delivery_id(char out[37])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char r[16];
    if (crypto_random(r, sizeof(r))) {
        /* Unique is what matters, not unpredictable: time and a counter. */
        static uint64_t counter;
        uint64_t a = (uint64_t)mono_ms(), b = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* a version 4 UUID */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = digits[r[i] >> 4];
        out[k++] = digits[r[i] & 15];
    }
    out[k] = '\0';
}

/* The first attempt of t->cur: its body, signature and headers. */
static void prepare(struct target *t)
{
    char sig[65];
    struct buf h = BUF_INIT;
    buf_reset(&t->body);
    webhook_body(&t->body, t->cur.kind, t->cur.line, t->cur.len);
    webhook_hmac_sha256_hex(t->secret, t->secret_len, t->body.data, t->body.len, sig);
    new_delivery_id(t->delivery);
    curl_slist_free_all(t->hdrs);
    t->hdrs = NULL;
    t->hdrs = curl_slist_append(t->hdrs, "Content-Type: application/json");
    t->hdrs = curl_slist_append(t->hdrs, "Expect:");
    buf_addf(&h, "X-Flywheel-Event: %s", t->cur.kind);
    t->hdrs = curl_slist_append(t->hdrs, h.data);
    buf_reset(&h);
    buf_addf(&h, "X-Flywheel-Delivery: %s", t->delivery);
    t->hdrs = curl_slist_append(t->hdrs, h.data);
    buf_reset(&h);
    buf_addf(&h, "X-Flywheel-Signature-256: sha256=%s", sig);
    t->hdrs = curl_slist_append(t->hdrs, h.data);
    buf_release(&h);
    t->attempt = 0;
}

static void start_attempt(struct target *t)
{
    CURL *h = t->h;
    curl_easy_reset(h);
    t->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, t->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)WEBHOOK_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flywheel/" FLYWHEEL_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)t->body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    t->attempt++;
    t->in_flight = true;
    curl_multi_add_handle(t->w->multi, h);
}

static void finish(struct target *t, bool ok, const char *why)
{
    struct webhooks *w = t->w;
    pthread_mutex_lock(&w->mu);
    if (ok)
        w->stats.delivered++;
    else
        w->stats.failed++;
    pthread_mutex_unlock(&w->mu);
    if (!ok)
        fprintf(stderr,
                "flywheel serve: webhook %s: delivery %s (%s) failed after %d attempt%s: %s\n",
                t->origin, t->delivery, t->cur.kind, t->attempt, t->attempt == 1 ? "" : "s", why);
    free(t->cur.line);
    t->cur.line = NULL;
}

/* A transfer ended: done, or tried again later. */
static void transfer_done(struct target *t, CURLcode cc)
{
    long status = 0;
    char why[CURL_ERROR_SIZE + 64];
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(t->w->multi, t->h);
    t->in_flight = false;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        finish(t, true, NULL);
        return;
    }
    bool again = cc != CURLE_OK || status == 429 || status >= 500;
    if (cc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (again && t->attempt < WEBHOOK_ATTEMPTS) {
        t->next_try_ms = mono_ms() + 1000 * (1 << (t->attempt - 1)); /* 1 s, then 2 s */
        return;
    }
    finish(t, false, why);
}

static void *worker(void *arg)
{
    struct webhooks *w = arg;
    size_t abandoned = 0;
    for (;;) {
        int64_t now = mono_ms();
        bool stopping, busy = false;
        int64_t deadline;
        pthread_mutex_lock(&w->mu);
        stopping = w->stopping;
        deadline = w->deadline_ms;
        for (size_t i = 0; i < w->n; i++) {
            struct target *t = &w->t[i];
            if (!t->cur.line && t->count) {
                t->cur = t->ring[t->head];
                t->ring[t->head].line = NULL;
                t->head = (t->head + 1) % WEBHOOK_QUEUE;
                t->count--;
                t->attempt = -1; /* to prepare, outside the lock */
            }
            busy |= t->cur.line != NULL;
        }
        pthread_mutex_unlock(&w->mu);
        if (stopping && (!busy || now >= deadline))
            break;

        int64_t wait = 1000;
        for (size_t i = 0; i < w->n; i++) {
            struct target *t = &w->t[i];
            if (!t->cur.line || t->in_flight)
                continue;
            if (t->attempt < 0) {
                prepare(t);
                t->next_try_ms = now;
            }
            if (now >= t->next_try_ms)
                start_attempt(t);
            else if (t->next_try_ms - now < wait)
                wait = t->next_try_ms - now;
        }
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            transfer_done((struct target *)(void *)priv, m->data.result);
            wait = 0; /* the next event of that target may go now */
        }
        if (stopping && deadline - now < wait)
            wait = deadline - now > 0 ? deadline - now : 0;
        if (wait > 0)
            curl_multi_poll(w->multi, NULL, 0, (int)wait, NULL);
    }
    /* Stopped: whatever is left is abandoned. */
    for (size_t i = 0; i < w->n; i++) {
        struct target *t = &w->t[i];
        if (t->in_flight) {
            curl_multi_remove_handle(w->multi, t->h);
            t->in_flight = false;
        }
        if (t->cur.line) {
            abandoned++;
            free(t->cur.line);
            t->cur.line = NULL;
        }
        pthread_mutex_lock(&w->mu);
        abandoned += t->count;
        pthread_mutex_unlock(&w->mu);
    }
    if (abandoned)
        fprintf(stderr, "flywheel serve: webhooks: stopping: %zu event%s not delivered\n",
                abandoned, abandoned == 1 ? "" : "s");
    return NULL;
}

static void free_all(struct webhooks *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct target *t = &w->t[i];
        for (size_t k = 0; k < t->count; k++)
            free(t->ring[(t->head + k) % WEBHOOK_QUEUE].line);
        free(t->cur.line);
        if (t->h)
            curl_easy_cleanup(t->h);
        curl_slist_free_all(t->hdrs);
        buf_release(&t->body);
        free(t->url);
        free(t->origin);
        if (t->secret)
            crypto_wipe(t->secret, t->secret_len);
        free(t->secret);
    }
    free(w->t);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int webhooks_start(struct webhooks **out, const struct webhook_target *targets, size_t n,
                   struct buf *err)
{
    struct webhooks *w = xcalloc(1, sizeof(*w));
    struct buf o = BUF_INIT;
    *out = NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->t = xcalloc(n ? n : 1, sizeof(*w->t));
    w->n = n;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK || !(w->multi = curl_multi_init())) {
        buf_addf(err, "webhooks: %s", dl_curl_why());
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        struct target *t = &w->t[i];
        t->w = w;
        t->url = xstrdup(targets[i].url);
        webhook_url_origin(t->url, &o);
        t->origin = buf_detach(&o, NULL);
        t->secret = xmalloc(targets[i].secret_len ? targets[i].secret_len : 1);
        memcpy(t->secret, targets[i].secret, targets[i].secret_len);
        t->secret_len = targets[i].secret_len;
        t->events = targets[i].events;
        buf_init(&t->body, 0);
        if (!(t->h = curl_easy_init())) {
            buf_addf(err, "webhooks: %s", dl_curl_why());
            goto fail;
        }
    }
    int rc = pthread_create(&w->thread, NULL, worker, w);
    if (rc) {
        buf_addf(err, "webhooks: cannot start a thread: %s", strerror(rc));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    free_all(w);
    return -1;
}

void webhooks_stop(struct webhooks *w, int64_t drain_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    w->deadline_ms = mono_ms() + drain_ms;
    curl_multi_wakeup(w->multi);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free_all(w);
}

void webhooks_stats(struct webhooks *w, struct webhook_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}
