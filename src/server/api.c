/*
 * The JSON API. See api.h and docs/api.md.
 */
#include "server/api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/job.h"
#include "exec/gitcmd.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "server/ui.h"
#include "store/auth.h"
#include "store/deploy.h"
#include "store/store.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

#define CALL_TIMEOUT_MS 60000

static struct api *the_api; /* for stream readers, which get only their own ctx */

static void close_store(void *p)
{
    store_close(p);
}

struct api *api_new(struct engine *e, const char *db_path, const char *data_dir)
{
    struct api *a = xcalloc(1, sizeof(*a));
    a->e = e;
    a->db_path = xstrdup(db_path);
    a->data_dir = xstrdup(data_dir);
    pthread_key_create(&a->store_key, close_store);
    pthread_mutex_init(&a->pool_mu, NULL);
    api_auth_configure(a, false, 0, 0);
    the_api = a;
    return a;
}

void api_set_forges(struct api *a, const struct forge_set *f)
{
    a->forges = f;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    struct store *st = pthread_getspecific(a->store_key);
    if (st) {
        store_close(st);
        pthread_setspecific(a->store_key, NULL);
    }
    pthread_key_delete(a->store_key);
    for (size_t i = 0; i < a->npool; i++)
        store_close(a->pool[i]);
    pthread_mutex_destroy(&a->pool_mu);
    auth_limiter_free(a->limiter);
    free(a->db_path);
    free(a->data_dir);
    free(a);
    the_api = NULL;
}

/*
 * Store connections are pooled, not one per worker thread: a thread takes
 * one when a request first needs it and hands it back when the server is
 * done with the request for now (api_idle), so a few warm connections
 * serve every thread, and a thread's first request does not pay for
 * opening one (reading the schema: about a millisecond).
 */
static struct store *tstore(struct api *a, struct buf *err)
{
    struct store *st = pthread_getspecific(a->store_key);
    if (st)
        return st;
    pthread_mutex_lock(&a->pool_mu);
    if (a->npool)
        st = a->pool[--a->npool];
    pthread_mutex_unlock(&a->pool_mu);
    if (!st && store_open(&st, a->db_path, err))
        return NULL;
    pthread_setspecific(a->store_key, st);
    return st;
}

void api_idle(void *ctx)
{
    struct api *a = ctx;
    struct store *st = pthread_getspecific(a->store_key);
    if (!st)
        return;
    pthread_setspecific(a->store_key, NULL);
    pthread_mutex_lock(&a->pool_mu);
    if (a->npool < API_STORE_POOL) {
        a->pool[a->npool++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&a->pool_mu);
    if (st)
        store_close(st);
}

struct store *api_store_quiet(struct api *a, struct buf *err)
{
    return tstore(a, err);
}

struct store *api_store(struct http_request *r, struct api *a)
{
    struct buf err = BUF_INIT;
    struct store *st = tstore(a, &err);
    if (!st)
        http_reply_error(r, 500, "store", "%s", err.data);
    buf_release(&err);
    return st;
}

/* ---- JSON shapes ---- */

static json_t *run_json(const struct store_run *run, const char *repo)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(run->id));
    json_object_set_new(o, "repo", repo ? json_string(repo) : json_null());
    json_object_set_new(o, "number", json_integer(run->number));
    json_object_set_new(o, "kind", json_string(run->kind));
    json_object_set_new(o, "state", json_string(run->state));
    json_object_set_new(o, "ref", json_string(run->ref ? run->ref : ""));
    json_object_set_new(o, "branch", json_string(run->branch ? run->branch : ""));
    json_object_set_new(o, "commit", json_string(run->commit ? run->commit : ""));
    json_object_set_new(o, "trigger", json_string(run->trigger ? run->trigger : ""));
    json_object_set_new(o, "retry_of", run->retry_of ? json_integer(run->retry_of) : json_null());
    json_object_set_new(o, "fork", json_boolean(run->fork));
    json_object_set_new(o, "created_ms", json_integer(run->created_ms));
    json_object_set_new(o, "started_ms", json_integer(run->started_ms));
    json_object_set_new(o, "finished_ms", json_integer(run->finished_ms));
    return o;
}

/*
 * The run list is the API's most requested reply (dashboards poll it), so it
 * is written straight into a buffer rather than built as a jansson tree and
 * dumped: the same bytes as run_json() under JSON_COMPACT, at a fraction of
 * the allocations. Strings are escaped as JSON wants; bytes that are not
 * valid UTF-8 are written as '?' (as http.c does for text quoted in errors).
 */

/* The length of the valid UTF-8 sequence at p (non-ASCII lead byte), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Writes s as a JSON string at o (room: str_room(s)); returns the end. */
static char *put_str(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    *o++ = '"';
    for (;;) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
        if (!*p)
            break;
        if (*p >= 0x80) {
            size_t n = utf8_seq(p);
            if (n) {
                memcpy(o, p, n);
                o += n;
                p += n;
            } else {
                *o++ = '?';
                p++;
            }
            continue;
        }
        *o++ = '\\';
        switch (*p) {
        case '"':
        case '\\':
            *o++ = (char)*p;
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[*p >> 4];
            o[4] = hex[*p & 15];
            o += 5;
        }
        p++;
    }
    *o++ = '"';
    return o;
}

/* What put_str may write: 6 bytes per byte at worst ("\u001F"), and the quotes. */
static size_t str_room(const char *s)
{
    return (s ? strlen(s) : 0) * 6 + 2;
}

/* Writes v in decimal at o (room: 20 bytes); returns the end. */
static char *put_int(char *o, int64_t v)
{
    char t[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[sizeof(t) - ++n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[sizeof(t) - ++n] = '-';
    memcpy(o, t + sizeof(t) - n, n);
    return o + n;
}

#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* run_json(run, repo), dumped compact, appended to b. */
static void run_out(struct buf *b, const struct store_run *run, const char *repo)
{
    /* the keys and punctuation (under 170 bytes), six integers, the strings */
    size_t room = 256 + 6 * 20 + (repo ? str_room(repo) : 4) + str_room(run->kind) +
                  str_room(run->state) + str_room(run->ref) + str_room(run->branch) +
                  str_room(run->commit) + str_room(run->trigger);
    buf_grow(b, room);
    char *o = b->data + b->len;
    o = PUT_LIT(o, "{\"id\":");
    o = put_int(o, run->id);
    o = PUT_LIT(o, ",\"repo\":");
    o = repo ? put_str(o, repo) : PUT_LIT(o, "null");
    o = PUT_LIT(o, ",\"number\":");
    o = put_int(o, run->number);
    o = PUT_LIT(o, ",\"kind\":");
    o = put_str(o, run->kind);
    o = PUT_LIT(o, ",\"state\":");
    o = put_str(o, run->state);
    o = PUT_LIT(o, ",\"ref\":");
    o = put_str(o, run->ref);
    o = PUT_LIT(o, ",\"branch\":");
    o = put_str(o, run->branch);
    o = PUT_LIT(o, ",\"commit\":");
    o = put_str(o, run->commit);
    o = PUT_LIT(o, ",\"trigger\":");
    o = put_str(o, run->trigger);
    o = PUT_LIT(o, ",\"retry_of\":");
    o = run->retry_of ? put_int(o, run->retry_of) : PUT_LIT(o, "null");
    o = PUT_LIT(o, ",\"fork\":");
    o = run->fork ? PUT_LIT(o, "true") : PUT_LIT(o, "false");
    o = PUT_LIT(o, ",\"created_ms\":");
    o = put_int(o, run->created_ms);
    o = PUT_LIT(o, ",\"started_ms\":");
    o = put_int(o, run->started_ms);
    o = PUT_LIT(o, ",\"finished_ms\":");
    o = put_int(o, run->finished_ms);
    *o++ = '}';
    buf_setlen(b, (size_t)(o - b->data));
}

static json_t *repo_json(const struct store_repo *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "name", json_string(r->name));
    struct buf url = BUF_INIT; /* a token in the URL is for git, not for readers */
    buf_adds(&url, r->url);
    gitcmd_redact(&url, 0);
    json_object_set_new(o, "url", json_string(url.data));
    buf_release(&url);
    json_object_set_new(o, "main_branch", json_string(r->main_branch));
    json_object_set_new(o, "poll_s", json_integer(r->poll_s));
    json_object_set_new(o, "created_ms", json_integer(r->created_ms));
    return o;
}

static int parse_id(struct http_request *r, const char *name, int64_t *out)
{
    const char *s = http_param(r, name);
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || v < 1) {
        http_reply_error(r, 400, "bad_id", "'%s' is not a run id", s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

void api_reply_engine(struct http_request *r, struct engine_reply *rep, int rc)
{
    if (rc) {
        http_reply_error(r, 504, "timeout", "the engine did not answer in time");
        return;
    }
    if (rep->status >= 400) {
        static const struct {
            int status;
            const char *code;
        } codes[] = {{400, "bad_request"},  {404, "not_found"},   {409, "conflict"},
                     {502, "fetch_failed"}, {503, "unavailable"}, {500, "internal"}};
        const char *code = "error";
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            if (codes[i].status == rep->status)
                code = codes[i].code;
        http_reply_error(r, (unsigned)rep->status, code, "%s", rep->message.data);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(rep->id));
    if (rep->number)
        json_object_set_new(o, "number", json_integer(rep->number));
    if (rep->jobs.len) {
        json_t *arr = json_array();
        for (const char *p = rep->jobs.data; *p;) {
            const char *nl = strchr(p, '\n');
            size_t l = nl ? (size_t)(nl - p) : strlen(p);
            json_array_append_new(arr, json_stringn(p, l));
            p += l + (nl ? 1 : 0);
        }
        json_object_set_new(o, "jobs", arr);
    }
    http_reply_json(r, (unsigned)rep->status, o);
}

/*
 * Hands a request to the engine and answers with what it says. The engine
 * writes the request's audit entry as it replies, on its own connection to
 * the store (so that the store's other connections do not make it read its
 * pages again); when it does not (a timeout, a server shutting down), the
 * after hook writes one.
 */
void api_call_engine(struct http_request *r, struct api *a, const struct engine_request *q)
{
    struct engine_reply rep = {0};
    struct engine_request aq = *q;
    struct store_audit au;
    struct buf action = BUF_INIT, detail = BUF_INIT;
    buf_init(&rep.message, 0);
    buf_init(&rep.jobs, 0);
    if (api_audit_entry(r, 0, &au, &action, &detail))
        aq.audit = &au;
    int rc = engine_call(a->e, &aq, &rep, CALL_TIMEOUT_MS);
    if (rc == 0 && rep.audited)
        http_set_audited(r);
    api_reply_engine(r, &rep, rc);
    buf_release(&rep.message);
    buf_release(&rep.jobs);
    buf_release(&action);
    buf_release(&detail);
}

/* ---- handlers ---- */

static void h_health(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct engine_stats s;
    engine_stats(a->e, &s);
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ok"));
    json_object_set_new(o, "version", json_string(FLYWHEEL_VERSION));
    json_object_set_new(o, "slots", json_integer(s.slots));
    json_object_set_new(o, "slots_used", json_integer(s.slots_used));
    http_reply_json(r, 200, o);
}

static void h_repos(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st)
        return;
    if (store_repo_list(st, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        buf_release(&err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, repo_json(&v[i]));
    json_t *o = json_object();
    json_object_set_new(o, "repos", arr);
    http_reply_json(r, 200, o);
    store_repos_release(v, n);
    buf_release(&err);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void h_repo_add(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    json_t *body = http_body_json(r);
    if (!body)
        return;
    struct engine_request q = {0};
    q.op = ENGINE_REPO_ADD;
    q.name = jstr(body, "name");
    q.url = jstr(body, "url");
    q.main_branch = jstr(body, "main_branch");
    json_t *poll = json_object_get(body, "poll_s");
    q.poll_s = -1;
    if (poll && (!json_is_integer(poll) || json_integer_value(poll) < 0 ||
                 json_integer_value(poll) > 86400)) {
        http_reply_error(r, 400, "bad_request", "'poll_s' must be an integer from 0 to 86400");
        json_decref(body);
        return;
    }
    if (poll)
        q.poll_s = (int)json_integer_value(poll);
    if (!q.name || !q.url) {
        http_reply_error(r, 400, "bad_request", "a repository needs 'name' and 'url' (strings)");
        json_decref(body);
        return;
    }
    api_call_engine(r, a, &q);
    json_decref(body);
}

static void h_notify(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct engine_request q = {0};
    q.op = ENGINE_SYNC;
    q.name = http_param(r, "name");
    api_call_engine(r, a, &q);
}

static void h_trigger(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    json_t *body = http_body_json(r);
    if (!body)
        return;
    struct engine_request q = {0};
    q.op = ENGINE_TRIGGER;
    q.name = http_param(r, "name");
    q.ref = jstr(body, "ref");
    if (!q.ref) {
        http_reply_error(r, 400, "bad_request", "a trigger needs 'ref' (a branch or a tag)");
        json_decref(body);
        return;
    }
    api_call_engine(r, a, &q);
    json_decref(body);
}

static void h_runs(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct buf err = BUF_INIT;
    struct store_run_filter f = {0};
    struct store_repo repo = {0};
    struct store_repo *repos = NULL;
    size_t nrepos = 0;
    long limit, before;
    if (!st)
        return;
    if (http_query_int(r, "limit", 1, 1000, 50, &limit) ||
        http_query_int(r, "before", 1, INT64_MAX > LONG_MAX ? LONG_MAX : INT64_MAX, 0, &before))
        return;
    f.limit = (size_t)limit;
    f.before_id = before;
    f.branch = http_query(r, "branch");
    f.kind = http_query(r, "kind");
    f.state = http_query(r, "state");
    const char *name = http_query(r, "repo");
    if (name) {
        int rc = store_repo_get(st, name, &repo, &err);
        if (rc) {
            if (rc == -ENOENT)
                http_reply_error(r, 404, "not_found", "no repository '%s'", name);
            else
                http_reply_error(r, 500, "store", "%s", err.data);
            buf_release(&err);
            return;
        }
        f.repo_id = repo.id;
    }
    struct store_run *v = NULL;
    size_t n = 0;
    if (store_run_query(st, &f, &v, &n, &err) || store_repo_list(st, &repos, &nrepos, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    /* {"runs":[...],"next_before":ID or null}, as run_out() says why. */
    struct buf out = BUF_INIT;
    buf_grow(&out, 64 + n * 320);
    buf_adds(&out, "{\"runs\":[");
    for (size_t i = 0; i < n; i++) {
        const char *rn = NULL;
        for (size_t k = 0; k < nrepos; k++)
            if (repos[k].id == v[i].repo_id)
                rn = repos[k].name;
        if (i)
            buf_addch(&out, ',');
        run_out(&out, &v[i], rn);
    }
    buf_adds(&out, "],\"next_before\":");
    if (n == f.limit && n)
        buf_addf(&out, "%" PRId64, v[n - 1].id);
    else
        buf_adds(&out, "null");
    buf_adds(&out, "}\n");
    http_reply_text(r, 200, "application/json", out.data, out.len);
    buf_release(&out);
out:
    store_runs_release(v, n);
    store_repos_release(repos, nrepos);
    store_repo_release(&repo);
    buf_release(&err);
}

/*
 * A run with its jobs and their attempts, as GET /runs/{id} shows it.
 * Returns 0, -ENOENT when there is no such run, or another error in err.
 */
static int run_detail(struct store *st, int64_t id, json_t **out, struct buf *err)
{
    struct store_run run = {0};
    struct store_repo repo = {0};
    struct store_job *jobs = NULL;
    size_t njobs = 0;
    int rc = store_run_get(st, id, &run, err);
    if (rc)
        goto out;
    if (run.repo_id)
        (void)store_repo_get_id(st, run.repo_id, &repo, err);
    buf_reset(err);
    if ((rc = store_job_list(st, id, &jobs, &njobs, err)))
        goto out;
    json_t *o = run_json(&run, repo.name);
    /* the times of its change (docs/metrics.md), 0 when not known */
    json_object_set_new(o, "commit_ms", json_integer(run.commit_ms));
    json_object_set_new(o, "first_commit_ms", json_integer(run.first_commit_ms));
    json_object_set_new(o, "pushed_ms", json_integer(run.pushed_ms));
    json_t *arr = json_array();
    for (size_t i = 0; i < njobs; i++) {
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(jobs[i].name));
        json_object_set_new(j, "state", json_string(jobs[i].state));
        json_object_set_new(j, "reason", json_string(jobs[i].reason));
        json_object_set_new(j, "attempts", json_integer(jobs[i].attempts));
        json_object_set_new(j, "exit_code", json_integer(jobs[i].exit_code));
        json_object_set_new(j, "started_ms", json_integer(jobs[i].started_ms));
        json_object_set_new(j, "finished_ms", json_integer(jobs[i].finished_ms));
        struct store_attempt *atts = NULL;
        size_t natts = 0;
        json_t *aa = json_array();
        if (store_attempt_list(st, jobs[i].id, &atts, &natts, err) == 0) {
            for (size_t k = 0; k < natts; k++) {
                json_t *at = json_object();
                json_object_set_new(at, "number", json_integer(atts[k].number));
                json_object_set_new(at, "state", json_string(atts[k].state));
                json_object_set_new(at, "exit_code", json_integer(atts[k].exit_code));
                json_object_set_new(at, "signal", json_integer(atts[k].signal));
                json_object_set_new(at, "started_ms", json_integer(atts[k].started_ms));
                json_object_set_new(at, "finished_ms", json_integer(atts[k].finished_ms));
                json_array_append_new(aa, at);
            }
        }
        buf_reset(err);
        store_attempts_release(atts, natts);
        json_object_set_new(j, "attempts_detail", aa);
        json_array_append_new(arr, j);
    }
    json_object_set_new(o, "jobs", arr);
    *out = o;
out:
    store_run_release(&run);
    store_repo_release(&repo);
    store_jobs_release(jobs, njobs);
    return rc;
}

static bool state_ended(const char *state)
{
    return strcmp(state, "queued") && strcmp(state, "running");
}

/*
 * GET /runs/{id}?wait=S: the reply waits until the run has ended, or S
 * seconds have passed, and then is the run as without wait. Its status and
 * headers go at once; the body follows. The stream is woken by each change
 * of the run's own state (API_KEY_RUN_STATE), and once a second, and looks
 * at the run's state in the store each time.
 */
#define RUN_WAIT_MAX_S 300

struct runwait {
    struct api *a;
    int64_t id;
    uint64_t deadline_ms;
    struct api_grant grant;
    struct buf body; /* once written: what is left to send */
    size_t sent;
    bool ready;
};

static void runwait_free(void *p)
{
    struct runwait *w = p;
    buf_release(&w->body);
    free(w);
}

static long runwait_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct runwait *w = ctx;
    (void)pos;
    if (!api_grant_valid(w->a, &w->grant))
        return HTTP_STREAM_END; /* its token is revoked or expired */
    if (!w->ready) {
        struct buf err = BUF_INIT;
        struct store *st = api_store_quiet(w->a, &err);
        struct store_run run = {0};
        /* A store that fails, or a run gone meanwhile (retention), ends the
         * wait at once: the body then says why. */
        bool ended = !st || store_run_get(st, w->id, &run, &err) != 0 || state_ended(run.state);
        store_run_release(&run);
        if (!ended && store_now_ms() < (int64_t)w->deadline_ms) {
            buf_release(&err);
            return 0;
        }
        json_t *o = NULL;
        buf_reset(&err);
        int rc = st ? run_detail(st, w->id, &o, &err) : -EIO;
        if (rc) {
            o = json_object();
            json_object_set_new(o, "error", json_string(rc == -ENOENT ? "not_found" : "store"));
            json_object_set_new(o, "message",
                                rc == -ENOENT
                                    ? json_sprintf("no run %lld", (long long)w->id)
                                    : json_string(err.len ? err.data : "the store cannot be read"));
        }
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        buf_release(&err);
        if (!text)
            return HTTP_STREAM_ERROR;
        buf_adds(&w->body, text);
        buf_addch(&w->body, '\n');
        free(text);
        w->ready = true;
    }
    if (w->sent == w->body.len)
        return HTTP_STREAM_END;
    size_t n = w->body.len - w->sent < max ? w->body.len - w->sent : max;
    memcpy(out, w->body.data + w->sent, n);
    w->sent += n;
    return (long)n;
}

/*
 * The keys of the streams that wait on a run, woken for each event of the
 * run and each chunk its jobs print: API_KEY_RUN_OUTPUT(id) for its live
 * logs (a chunk, or a job's new state), API_KEY_RUN_STATE(id) for GET
 * /runs/{id}?wait (the run's own state).
 */
#define API_KEY_RUN_OUTPUT(id) ((uint64_t)(id))
#define API_KEY_RUN_STATE(id)  ((uint64_t)(id) | (UINT64_C(1) << 63))

/* The run an event line is about ({"run":N,...}, with "job" when it is one
 * of its jobs'), or 0. */
static int64_t event_run(const char *line, size_t len, bool *job)
{
    /* The engine writes every run event as {"run":N,...} (engine.c emit):
     * compact, with the run first. */
    static const char lead[] = "{\"run\":";
    *job = false;
    if (len <= sizeof(lead) - 1 || memcmp(line, lead, sizeof(lead) - 1))
        return 0;
    int64_t id = 0;
    size_t i = sizeof(lead) - 1;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && id < INT64_MAX / 10 - 10; i++)
        id = id * 10 + (line[i] - '0');
    if (i == len || line[i] != ',')
        return 0;
    *job = memmem(line, len, "\"job\":", 6) != NULL;
    return id;
}

void api_wake_for_event(struct http_server *h, const char *line, size_t len)
{
    bool job;
    int64_t run = event_run(line, len, &job);
    if (run > 0) {
        http_wake_key(h, API_KEY_RUN_OUTPUT(run));
        if (!job)
            http_wake_key(h, API_KEY_RUN_STATE(run));
    }
    http_wake(h);
}

/* A job of run run_id printed: its live log viewers read on. */
void api_wake_for_output(struct http_server *h, int64_t run_id)
{
    http_wake_key(h, API_KEY_RUN_OUTPUT(run_id));
}

static void h_run(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct buf err = BUF_INIT;
    int64_t id;
    long wait_s = 0;
    if (!st || parse_id(r, "id", &id))
        return;
    const char *wait = http_query(r, "wait");
    if (wait) {
        char *end;
        errno = 0;
        wait_s = strtol(wait, &end, 10);
        if (errno || end == wait || *end || wait_s < 0 || wait_s > RUN_WAIT_MAX_S) {
            http_reply_error(r, 400, "bad_request",
                             "'wait' is a number of seconds from 0 to %d, not '%s'", RUN_WAIT_MAX_S,
                             wait);
            return;
        }
    }
    json_t *o = NULL;
    int rc = run_detail(st, id, &o, &err);
    if (rc == -ENOENT) {
        http_reply_error(r, 404, "not_found", "no run %lld", (long long)id);
    } else if (rc) {
        http_reply_error(r, 500, "store", "%s", err.data);
    } else if (wait_s > 0 && !state_ended(json_string_value(json_object_get(o, "state")))) {
        json_decref(o);
        struct runwait *w = xcalloc(1, sizeof(*w));
        w->a = a;
        w->id = id;
        w->deadline_ms = (uint64_t)store_now_ms() + (uint64_t)wait_s * 1000;
        api_grant_init(&w->grant, r);
        buf_init(&w->body, 0);
        http_reply_stream_keyed(r, 200, "application/json", runwait_read, runwait_free, w,
                                API_KEY_RUN_STATE(id));
    } else {
        http_reply_json(r, 200, o);
    }
    buf_release(&err);
}

static void run_op(struct http_request *r, void *ctx, enum engine_op op)
{
    struct api *a = ctx;
    int64_t id;
    if (parse_id(r, "id", &id))
        return;
    struct engine_request q = {0};
    q.op = op;
    q.run_id = id;
    api_call_engine(r, a, &q);
}

static void h_cancel(struct http_request *r, void *ctx)
{
    run_op(r, ctx, ENGINE_CANCEL);
}

static void h_cancel_job(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    int64_t id;
    if (parse_id(r, "id", &id))
        return;
    struct engine_request q = {0};
    q.op = ENGINE_CANCEL_JOB;
    q.run_id = id;
    q.name = http_param(r, "job");
    api_call_engine(r, a, &q);
}

/* ?failed=1: the run's failed jobs again, in the same run; else a new run. */
static void h_retry(struct http_request *r, void *ctx)
{
    long failed;
    if (http_query_int(r, "failed", 0, 1, 0, &failed))
        return;
    run_op(r, ctx, failed ? ENGINE_RETRY_FAILED : ENGINE_RETRY);
}

static void h_retry_job(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    int64_t id;
    if (parse_id(r, "id", &id))
        return;
    struct engine_request q = {0};
    q.op = ENGINE_RETRY_JOB;
    q.run_id = id;
    q.name = http_param(r, "job");
    api_call_engine(r, a, &q);
}

/* ---- logs ---- */

#define PARTIAL_MAX 65536

struct logstream {
    int fd;
    uint64_t offset; /* file bytes read */
    uint64_t end;    /* plain: stop here (exclusive); 0 = at the end of the file */
    bool sse, live, finished;
    uint64_t sent; /* SSE: file offset up to which lines were sent */
    int64_t job_id;
    int attempt;
    uint64_t quiet_since_ms; /* SSE: no byte sent since (0: bytes were just sent) */
    /* SSE: the last store query said "running", at engine event seq_seen, at checked_ms */
    bool known_running;
    uint64_t seq_seen, checked_ms;
    char *path;         /* the log file, opened once the job has created it */
    bool awaiting_file; /* fd is /dev/null until the job creates its log */
    struct api_grant grant;
    struct buf pending; /* formatted and not yet handed to the server */
    struct buf partial; /* SSE: an unfinished line */
};

static void logstream_free(void *p)
{
    struct logstream *ls = p;
    if (ls->fd >= 0)
        close(ls->fd);
    free(ls->path);
    buf_release(&ls->pending);
    buf_release(&ls->partial);
    free(ls);
}

#define LIVE_RECHECK_MS 1000
/* A live log quiet for this long sends an SSE comment. */
#define LOG_KEEPALIVE_MS 15000

static uint64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The number of the engine's newest event (0 without an engine). */
static uint64_t engine_seq(void)
{
    struct buf none = BUF_INIT;
    uint64_t seq = 0;
    if (the_api)
        engine_events(the_api->e, UINT64_MAX, 0, &none, &seq);
    buf_release(&none);
    return seq;
}

/* The attempt's state, or NULL when it cannot be read (caller frees). */
static char *attempt_state(int64_t job_id, int number)
{
    struct buf err = BUF_INIT;
    struct store *st = the_api ? tstore(the_api, &err) : NULL;
    struct store_attempt *v = NULL;
    size_t n = 0;
    char *state = NULL;
    if (st && store_attempt_list(st, job_id, &v, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (v[i].number == number)
                state = xstrdup(v[i].state);
    }
    store_attempts_release(v, n);
    buf_release(&err);
    return state;
}

/* Formats the complete lines of partial (all of it with flush) as one SSE event. */
static void sse_emit(struct logstream *ls, bool flush)
{
    size_t upto = 0;
    for (size_t i = ls->partial.len; i > 0; i--) {
        if (ls->partial.data[i - 1] == '\n') {
            upto = i;
            break;
        }
    }
    if (flush || ls->partial.len > PARTIAL_MAX)
        upto = ls->partial.len;
    if (!upto)
        return;
    buf_addf(&ls->pending, "id: %" PRIu64 "\n", ls->sent + upto);
    size_t start = 0;
    while (start < upto) {
        const char *nl = memchr(ls->partial.data + start, '\n', upto - start);
        size_t l = nl ? (size_t)(nl - (ls->partial.data + start)) : upto - start;
        buf_adds(&ls->pending, "data: ");
        buf_add(&ls->pending, ls->partial.data + start, l);
        buf_addch(&ls->pending, '\n');
        start += l + (nl ? 1 : 0);
    }
    buf_addch(&ls->pending, '\n');
    ls->sent += upto;
    memmove(ls->partial.data, ls->partial.data + upto, ls->partial.len - upto);
    buf_setlen(&ls->partial, ls->partial.len - upto);
}

static long logstream_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct logstream *ls = ctx;
    (void)pos;
    if (the_api && !api_grant_valid(the_api, &ls->grant))
        return HTTP_STREAM_END; /* its token is revoked or expired */
    for (;;) {
        if (ls->pending.len) {
            size_t n = ls->pending.len < max ? ls->pending.len : max;
            memcpy(out, ls->pending.data, n);
            memmove(ls->pending.data, ls->pending.data + n, ls->pending.len - n);
            buf_setlen(&ls->pending, ls->pending.len - n);
            return (long)n;
        }
        if (ls->finished)
            return HTTP_STREAM_END;
        if (ls->awaiting_file) {
            int fd = open(ls->path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                close(ls->fd);
                ls->fd = fd;
                ls->awaiting_file = false;
            }
        }
        char chunk[32768];
        size_t want = sizeof(chunk);
        if (ls->end && ls->end - ls->offset < want)
            want = (size_t)(ls->end - ls->offset);
        ssize_t n = want ? pread(ls->fd, chunk, want, (off_t)ls->offset) : 0;
        if (n < 0)
            return HTTP_STREAM_ERROR;
        if (n > 0) {
            ls->offset += (uint64_t)n;
            ls->quiet_since_ms = 0;
            if (!ls->sse) {
                buf_add(&ls->pending, chunk, (size_t)n);
                continue;
            }
            buf_add(&ls->partial, chunk, (size_t)n);
            sse_emit(ls, false);
            continue;
        }
        /* Nothing more in the file now. */
        if (!ls->live || (ls->end && ls->offset >= ls->end)) {
            ls->finished = true;
            continue;
        }
        /*
         * Whether the attempt still runs. The store is asked only when the
         * engine has recorded a state change since it last said "running"
         * (an attempt's new state is committed before its event), and at
         * least every LIVE_RECHECK_MS all the same: a quiet live log costs
         * no query per poll.
         */
        uint64_t seq = engine_seq(), now = mono_now_ms();
        char *state = NULL;
        bool running;
        if (ls->known_running && seq == ls->seq_seen && now - ls->checked_ms < LIVE_RECHECK_MS) {
            running = true;
        } else {
            state = attempt_state(ls->job_id, ls->attempt);
            running = state && !strcmp(state, "running");
            ls->known_running = running;
            ls->seq_seen = seq;
            ls->checked_ms = now;
        }
        if (running) {
            free(state);
            if (!ls->quiet_since_ms) {
                ls->quiet_since_ms = now;
            } else if (now - ls->quiet_since_ms >= LOG_KEEPALIVE_MS) {
                /* lets a client tell a quiet job from a dead link */
                ls->quiet_since_ms = now;
                buf_adds(&ls->pending, ": keep-alive\n\n");
                continue;
            }
            return 0; /* read again when the job prints, or its state changes */
        }
        if (ls->awaiting_file) {
            /* The attempt ended: its log exists now unless it printed nothing. */
            int fd = open(ls->path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                close(ls->fd);
                ls->fd = fd;
                ls->awaiting_file = false;
                free(state);
                continue;
            }
        }
        /* The attempt ended: whatever it wrote last is in the file now. */
        n = pread(ls->fd, chunk, sizeof(chunk), (off_t)ls->offset);
        if (n > 0) {
            free(state);
            ls->offset += (uint64_t)n;
            buf_add(&ls->partial, chunk, (size_t)n);
            sse_emit(ls, false);
            continue;
        }
        sse_emit(ls, true);
        buf_addf(&ls->pending, "event: end\ndata: {\"state\": \"%s\"}\n\n",
                 state ? state : "unknown");
        free(state);
        ls->finished = true;
    }
}

/* Finds the job's attempt (the last by default) and its log file. */
static int find_log(struct http_request *r, struct api *a, struct store_attempt *out,
                    int64_t *job_id)
{
    struct store *st = api_store(r, a);
    struct buf err = BUF_INIT;
    struct store_job job = {0};
    struct store_attempt *v = NULL;
    size_t n = 0;
    int64_t id;
    long want;
    int rc = -1;
    if (!st || parse_id(r, "id", &id) || http_query_int(r, "attempt", 1, 1000, 0, &want))
        return -1;
    const char *name = http_param(r, "job");
    int frc = store_job_find(st, id, name ? name : "", &job, &err);
    if (frc) {
        if (frc == -ENOENT)
            http_reply_error(r, 404, "not_found", "run %lld has no job '%s'", (long long)id,
                             name ? name : "");
        else
            http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    if (store_attempt_list(st, job.id, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    struct store_attempt *pick = n ? &v[n - 1] : NULL;
    if (want) {
        pick = NULL;
        for (size_t i = 0; i < n; i++)
            if (v[i].number == want)
                pick = &v[i];
    }
    if (!pick) {
        http_reply_error(r, 404, "not_found", "job '%s' has %s", job.name,
                         want ? "no such attempt" : "not started");
        goto out;
    }
    *out = *pick;
    memset(pick, 0, sizeof(*pick));
    *job_id = job.id;
    rc = 0;
out:
    store_job_release(&job);
    store_attempts_release(v, n);
    buf_release(&err);
    return rc;
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" against size; 0 ok, -1 malformed or unsatisfiable. */
int api_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (strncmp(h, "bytes=", 6))
        return -1;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (*end || !n)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size;
        return size ? 0 : -1;
    }
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-')
        return -1;
    p = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*p) {
        b = strtoull(p, &end, 10);
        if (*end || b < a)
            return -1;
        if (b >= size)
            b = size - 1;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b + 1;
    return 0;
}

static void h_log(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store_attempt at = {0};
    int64_t job_id;
    if (find_log(r, a, &at, &job_id))
        return;
    struct logstream *ls = xcalloc(1, sizeof(*ls));
    buf_init(&ls->pending, 0);
    buf_init(&ls->partial, 0);
    ls->job_id = job_id;
    ls->attempt = at.number;
    api_grant_init(&ls->grant, r);
    ls->path = xstrdup(at.log_path);
    ls->fd = open(at.log_path, O_RDONLY | O_CLOEXEC);
    if (ls->fd < 0) {
        if (errno == ENOENT) {
            /* Not created yet: the job has printed nothing (so far, if it runs). */
            ls->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            ls->awaiting_file = true;
        }
        if (ls->fd < 0) {
            http_reply_error(r, 404, "not_found", "the log is gone (%s)", strerror(errno));
            logstream_free(ls);
            store_attempt_release(&at);
            return;
        }
    }
    const char *accept = http_header(r, "Accept");
    const char *follow = http_query(r, "follow");
    ls->sse = (accept && strstr(accept, "text/event-stream")) || (follow && !strcmp(follow, "1"));
    if (ls->sse) {
        ls->live = true;
        const char *last = http_header(r, "Last-Event-ID");
        const char *off = http_query(r, "offset");
        const char *from = last ? last : off;
        if (from) {
            char *end;
            unsigned long long v = strtoull(from, &end, 10);
            if (*end) {
                http_reply_error(r, 400, "bad_offset", "'%s' is not a byte offset", from);
                logstream_free(ls);
                store_attempt_release(&at);
                return;
            }
            ls->offset = ls->sent = v;
        }
        /* Woken when a job of the run prints (engine output_sink), or its state changes. */
        const char *run_id = http_param(r, "id"); /* a run id: find_log parsed it */
        http_reply_stream_keyed(r, 200, "text/event-stream", logstream_read, logstream_free, ls,
                                API_KEY_RUN_OUTPUT(strtoull(run_id, NULL, 10)));
        store_attempt_release(&at);
        return;
    }
    struct stat st;
    fstat(ls->fd, &st);
    const char *range = http_header(r, "Range");
    unsigned status = 200;
    if (range) {
        uint64_t from, to;
        if (api_parse_range(range, (uint64_t)st.st_size, &from, &to)) {
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%lld", (long long)st.st_size);
            http_add_header(r, "Content-Range", cr);
            http_reply_error(r, 416, "bad_range", "cannot serve %s of %lld bytes", range,
                             (long long)st.st_size);
            logstream_free(ls);
            store_attempt_release(&at);
            return;
        }
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%lld", (unsigned long long)from,
                 (unsigned long long)(to - 1), (long long)st.st_size);
        http_add_header(r, "Content-Range", cr);
        ls->offset = from;
        ls->end = to;
        status = 206;
    } else {
        ls->end = (uint64_t)st.st_size;
        if (!ls->end)
            ls->finished = true;
    }
    http_add_header(r, "Accept-Ranges", "bytes");
    http_reply_stream(r, status, "text/plain; charset=utf-8", logstream_read, logstream_free, ls);
    store_attempt_release(&at);
}

/* Deployments by state, stopped lines, open incidents, deploy work in progress. */
static void metrics_deploy(struct store *st, struct api *a, struct buf *out)
{
    static const char *const states[] = {
        DEPLOY_QUEUED,     DEPLOY_APPROVAL,   DEPLOY_DEPLOYING, DEPLOY_BAKING,
        DEPLOY_MONITORING, DEPLOY_PAUSED,     DEPLOY_SUCCEEDED, DEPLOY_FAILED,
        DEPLOY_REJECTED,   DEPLOY_SUPERSEDED, DEPLOY_CANCELLED,
    };
    enum { N = sizeof(states) / sizeof(states[0]) };
    int64_t counts[N], lines = 0, incidents = 0;
    struct buf err = BUF_INIT;
    struct engine_stats s;
    engine_stats(a->e, &s);
    if (store_deploy_counts(st, states, N, counts, &lines, &incidents, &err) == 0) {
        buf_adds(out, "# HELP flywheel_deployments Deployments in the store by state.\n"
                      "# TYPE flywheel_deployments gauge\n");
        for (size_t i = 0; i < N; i++)
            buf_addf(out, "flywheel_deployments{state=\"%s\"} %lld\n", states[i],
                     (long long)counts[i]);
        buf_adds(out, "# HELP flywheel_lines_stopped Repositories whose line is stopped.\n"
                      "# TYPE flywheel_lines_stopped gauge\n");
        buf_addf(out, "flywheel_lines_stopped %lld\n", (long long)lines);
        buf_adds(out, "# HELP flywheel_incidents_open Incidents not closed yet.\n"
                      "# TYPE flywheel_incidents_open gauge\n");
        buf_addf(out, "flywheel_incidents_open %lld\n", (long long)incidents);
    }
    buf_adds(out, "# HELP flywheel_deploy_tasks Deploy commands, checks and preparations"
                  " running now.\n"
                  "# TYPE flywheel_deploy_tasks gauge\n");
    buf_addf(out, "flywheel_deploy_tasks %d\n", s.deploy_tasks);
    buf_adds(out, "# HELP flywheel_check_measurements_total Measurements of deployment checks"
                  " since the server started, by outcome.\n"
                  "# TYPE flywheel_check_measurements_total counter\n");
    static const char *const outcomes[] = {"pass", "fail", "no data", "error"};
    for (size_t i = 0; i < 4; i++)
        buf_addf(out, "flywheel_check_measurements_total{outcome=\"%s\"} %lld\n", outcomes[i],
                 (long long)s.measurements[i]);
    buf_release(&err);
}

static void h_metrics(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct engine_stats s;
    struct buf out = BUF_INIT, err = BUF_INIT;
    static const char *const run_states[] = {"queued", "running", "passed", "failed", "cancelled"};
    enum { NRUN = sizeof(run_states) / sizeof(run_states[0]) };
    const char *job_states[JOB_NSTATES];
    int64_t runs[NRUN], jobs[JOB_NSTATES];
    if (!st)
        return;
    for (int i = 0; i < JOB_NSTATES; i++)
        job_states[i] = job_state_name((enum job_state)i);
    if (store_run_count_states(st, run_states, NRUN, runs, &err) ||
        store_job_count_states(st, job_states, JOB_NSTATES, jobs, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        buf_release(&err);
        return;
    }
    engine_stats(a->e, &s);
    buf_adds(&out, "# HELP flywheel_executor_slots Executor slots of the server.\n"
                   "# TYPE flywheel_executor_slots gauge\n");
    buf_addf(&out, "flywheel_executor_slots %d\n", s.slots);
    buf_adds(&out, "# HELP flywheel_executor_slots_used Executor slots running a job.\n"
                   "# TYPE flywheel_executor_slots_used gauge\n");
    buf_addf(&out, "flywheel_executor_slots_used %d\n", s.slots_used);
    buf_adds(&out, "# HELP flywheel_queued_runs Runs waiting to start.\n"
                   "# TYPE flywheel_queued_runs gauge\n");
    buf_addf(&out, "flywheel_queued_runs %lld\n", (long long)runs[0]);
    buf_adds(&out, "# HELP flywheel_queued_jobs Jobs of running runs ready to start (what they"
                   " need has passed), waiting for an executor slot.\n"
                   "# TYPE flywheel_queued_jobs gauge\n");
    buf_addf(&out, "flywheel_queued_jobs %lld\n", (long long)s.jobs_waiting);
    buf_adds(&out, "# HELP flywheel_log_bytes_total Bytes of job output written to logs since"
                   " the server started.\n"
                   "# TYPE flywheel_log_bytes_total counter\n");
    buf_addf(&out, "flywheel_log_bytes_total %lld\n", (long long)s.log_bytes);
    buf_adds(&out, "# HELP flywheel_runs Runs in the store by state.\n"
                   "# TYPE flywheel_runs gauge\n");
    for (size_t i = 0; i < NRUN; i++)
        buf_addf(&out, "flywheel_runs{state=\"%s\"} %lld\n", run_states[i], (long long)runs[i]);
    buf_adds(&out, "# HELP flywheel_jobs Jobs in the store by state.\n"
                   "# TYPE flywheel_jobs gauge\n");
    for (size_t i = 0; i < JOB_NSTATES; i++)
        buf_addf(&out, "flywheel_jobs{state=\"%s\"} %lld\n", job_states[i], (long long)jobs[i]);
    /* Only the states a job that ran can end in. */
    static const enum job_state ended[] = {JOB_PASSED, JOB_FAILED, JOB_TIMED_OUT, JOB_CANCELLED};
    buf_adds(&out, "# HELP flywheel_job_duration_seconds Jobs that ran, by final state: the"
                   " duration of their last attempt (since the server started).\n"
                   "# TYPE flywheel_job_duration_seconds histogram\n");
    for (size_t i = 0; i < sizeof(ended) / sizeof(ended[0]); i++) {
        struct buf label = BUF_INIT;
        buf_addf(&label, "state=\"%s\"", job_state_name(ended[i]));
        hist_format(&s.job_duration[ended[i]], "flywheel_job_duration_seconds", label.data, &out);
        buf_release(&label);
    }
    metrics_deploy(st, a, &out);
    api_metrics_prometheus(st, &out);
    http_reply_text(r, 200, "text/plain; version=0.0.4", out.data, out.len);
    buf_release(&out);
    buf_release(&err);
}

/* ---- live events ---- */

struct evstream {
    struct engine *e;
    struct api *a;
    struct api_grant grant;
    uint64_t seq;
    struct buf pending;
    int polls;
};

static void evstream_free(void *p)
{
    struct evstream *es = p;
    buf_release(&es->pending);
    free(es);
}

static long evstream_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct evstream *es = ctx;
    (void)pos;
    if (!api_grant_valid(es->a, &es->grant))
        return HTTP_STREAM_END; /* its token is revoked or expired */
    if (!es->pending.len) {
        struct buf lines = BUF_INIT;
        uint64_t last;
        int n = engine_events(es->e, es->seq, 256, &lines, &last);
        if (n < 0) {
            /* Too far behind: the viewer reloads its state and goes on from now. */
            buf_adds(&es->pending, "event: reset\ndata: {}\n\n");
            engine_events(es->e, UINT64_MAX, 0, &lines, &es->seq);
        } else if (n > 0) {
            uint64_t seq = last - (uint64_t)n + 1;
            for (const char *p = lines.data; *p; seq++) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p) : strlen(p);
                const char *kind = memmem(p, l, "\"deployment\":", 13) ? "deployment"
                                   : memmem(p, l, "\"line\":", 7)      ? "line"
                                   : memmem(p, l, "\"job\":", 6)       ? "job"
                                                                       : "run";
                buf_addf(&es->pending, "id: %" PRIu64 "\nevent: %s\ndata: ", seq, kind);
                buf_add(&es->pending, p, l);
                buf_adds(&es->pending, "\n\n");
                p += l + (nl ? 1 : 0);
            }
            es->seq = last;
        } else if (++es->polls % 300 == 0) {
            buf_adds(&es->pending, ": keep-alive\n\n"); /* about every 15 s */
        }
        buf_release(&lines);
        if (!es->pending.len)
            return 0;
    }
    size_t n = es->pending.len < max ? es->pending.len : max;
    memcpy(out, es->pending.data, n);
    memmove(es->pending.data, es->pending.data + n, es->pending.len - n);
    buf_setlen(&es->pending, es->pending.len - n);
    return (long)n;
}

static void h_events(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct evstream *es = xcalloc(1, sizeof(*es));
    es->e = a->e;
    es->a = a;
    api_grant_init(&es->grant, r);
    buf_init(&es->pending, 0);
    const char *last = http_header(r, "Last-Event-ID");
    const char *after = last ? last : http_query(r, "after");
    if (after) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(after, &end, 10);
        if (errno || *end) {
            http_reply_error(r, 400, "bad_request", "'%s' is not an event number", after);
            evstream_free(es);
            return;
        }
        es->seq = v;
    } else {
        struct buf none = BUF_INIT;
        engine_events(a->e, UINT64_MAX, 0, &none, &es->seq); /* from now on */
        buf_release(&none);
    }
    http_reply_stream(r, 200, "text/event-stream", evstream_read, evstream_free, es);
}

static const struct http_route routes[] = {
    {"GET", "/api/v1/events", h_events, AUTH_VIEWER},
    {"GET", "/api/v1/health", h_health, AUTH_ANYONE},
    {"GET", "/api/v1/repos", h_repos, AUTH_VIEWER},
    {"POST", "/api/v1/repos", h_repo_add, AUTH_ADMIN},
    {"POST", "/api/v1/repos/{name}/notify", h_notify, AUTH_DEVELOPER},
    {"POST", "/api/v1/repos/{name}/deploy", h_deploy, AUTH_DEPLOYER},
    /* Forge webhooks prove themselves by their signature (api_forge.c). */
    {"POST", "/api/v1/repos/{name}/hooks/github", h_hook_github, AUTH_ANYONE},
    {"POST", "/api/v1/repos/{name}/hooks/gitlab", h_hook_gitlab, AUTH_ANYONE},
    {"POST", "/api/v1/repos/{name}/hooks/gitea", h_hook_gitea, AUTH_ANYONE},
    {"GET", "/api/v1/repos/{name}/deployments", h_deployments, AUTH_VIEWER},
    {"GET", "/api/v1/repos/{name}/envs", h_envs, AUTH_VIEWER},
    {"GET", "/api/v1/repos/{name}/incidents", h_incidents, AUTH_VIEWER},
    {"GET", "/api/v1/repos/{name}/line", h_line, AUTH_VIEWER},
    {"POST", "/api/v1/repos/{name}/line/resume", h_line_resume, AUTH_DEPLOYER},
    {"POST", "/api/v1/repos/{name}/line/stop", h_line_stop, AUTH_DEPLOYER},
    {"POST", "/api/v1/repos/{name}/rollback", h_rollback, AUTH_DEPLOYER},
    {"GET", "/api/v1/repos/{name}/secrets", h_secrets, AUTH_ADMIN},
    {"PUT", "/api/v1/repos/{name}/secrets/{secret}", h_secret_put, AUTH_ADMIN},
    {"DELETE", "/api/v1/repos/{name}/secrets/{secret}", h_secret_delete, AUTH_ADMIN},
    {"GET", "/api/v1/repos/{name}/releases", h_releases, AUTH_VIEWER},
    {"GET", "/api/v1/repos/{name}/releases/{version}", h_release, AUTH_VIEWER},
    {"GET", "/api/v1/repos/{name}/releases/{version}/archive", h_release_archive, AUTH_VIEWER},
    {"POST", "/api/v1/repos/{name}/releases/{version}/bad", h_release_bad, AUTH_DEPLOYER},
    {"DELETE", "/api/v1/repos/{name}/releases/{version}/bad", h_release_good, AUTH_DEPLOYER},
    {"GET", "/api/v1/repos/{name}/releases/{version}/file", h_release_file, AUTH_VIEWER},
    {"POST", "/api/v1/repos/{name}/trigger", h_trigger, AUTH_DEVELOPER},
    {"GET", "/api/v1/runs", h_runs, AUTH_VIEWER},
    {"GET", "/api/v1/runs/{id}", h_run, AUTH_VIEWER},
    {"GET", "/api/v1/runs/{id}/pipeline", h_run_pipeline, AUTH_VIEWER},
    {"POST", "/api/v1/runs/{id}/cancel", h_cancel, AUTH_DEVELOPER},
    {"POST", "/api/v1/runs/{id}/retry", h_retry, AUTH_DEVELOPER},
    {"GET", "/api/v1/runs/{id}/jobs/{job}/log", h_log, AUTH_VIEWER},
    {"POST", "/api/v1/runs/{id}/jobs/{job}/cancel", h_cancel_job, AUTH_DEVELOPER},
    {"GET", "/api/v1/signing-key", h_signing_key, AUTH_ANYONE},
    {"GET", "/api/v1/deployments/{id}", h_deployment, AUTH_VIEWER},
    {"POST", "/api/v1/deployments/{id}/approve", h_approve, AUTH_DEPLOYER},
    {"POST", "/api/v1/deployments/{id}/reject", h_reject, AUTH_DEPLOYER},
    {"GET", "/api/v1/deployments/{id}/steps/{step}/log", h_step_log, AUTH_VIEWER},
    {"POST", "/api/v1/runs/{id}/jobs/{job}/retry", h_retry_job, AUTH_DEVELOPER},
    {"GET", "/api/v1/metrics/dora", h_metrics_dora, AUTH_VIEWER},
    {"GET", "/api/v1/metrics/stages", h_metrics_stages, AUTH_VIEWER},
    {"GET", "/api/v1/metrics/caught", h_metrics_caught, AUTH_VIEWER},
    {"GET", "/api/v1/metrics/flaky", h_metrics_flaky, AUTH_VIEWER},
    {"GET", "/metrics", h_metrics, AUTH_VIEWER},
    {"GET", "/api/v1/tokens", h_tokens, AUTH_ADMIN},
    {"POST", "/api/v1/tokens", h_token_create, AUTH_ADMIN},
    {"DELETE", "/api/v1/tokens/{token}", h_token_revoke, AUTH_ADMIN},
    {"GET", "/api/v1/whoami", h_whoami, AUTH_VIEWER},
    {"GET", "/api/v1/audit", h_audit, AUTH_ADMIN},
    /* The web UI's files: no token (the data they show comes from the routes above). */
    {"GET", "/", h_ui_index, AUTH_ANYONE},
    {"GET", "/ui/{file}", h_ui_file, AUTH_ANYONE},
    {NULL, NULL, NULL, 0},
};

const struct http_route *api_routes(void)
{
    return routes;
}
