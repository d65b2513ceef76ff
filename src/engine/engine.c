#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/cron.h"
#include "core/pipeline.h"
#include "core/refs.h"
#include "core/sched.h"
#include "deploy/deployer.h"
#include "engine/releaser.h"
#include "engine/runexec.h"
#include "exec/gitbatch.h"
#include "exec/mirror.h"
#include "exec/originref.h"
#include "exec/workspace.h"
#include "store/auth.h"
#include "store/cas.h"
#include "store/release.h"
#include "store/secret.h"
#include "store/sign.h"
#include "store/store.h"
#include "util/xalloc.h"

#define MAX_REFS 100000

/* A command from another thread, waiting for its reply. Reference counted:
 * the caller may time out and leave before the loop answers. */
struct call {
    struct engine_request req;
    struct store_audit audit;   /* the request's entry, owned, when req.audit was set */
    bool audit_claimed;         /* under the engine's mu: reply() writes it */
    struct engine_reply *reply; /* the caller's; NULL once the caller has left */
    struct engine_reply local;
    bool done;
    int refs;
    pthread_cond_t cond;
    struct call *next;
};

struct erepo;

/* What a trigger waits for: the sync of its repository, then a run. A pull
 * request's trigger (pull) also fetches its ref, then runs commit. */
struct pending_trigger {
    struct call *call;
    char *ref;     /* as asked */
    char *fullref; /* resolved in the worker */
    char sha[41];
    bool pull, fork;
    char *commit, *branch; /* pull */
    int rc;
    struct buf err;
    struct pending_trigger *next;
};

#define PREPARE_HERE_MAX (16 << 10) /* a run of a known pipeline this small: prepared inline */

struct erepo {
    struct engine *e;
    int64_t id;
    char *name, *url, *main_branch, *dir;
    int poll_s;
    uv_timer_t timer;
    bool timer_on;
    bool syncing, sync_again, baseline;
    bool maintaining; /* its mirror is being maintained: a sync waits (sync_again) */
    /* the sync in flight */
    uv_work_t work;
    struct ref_list before, after;
    struct ref_event *ev;
    size_t nev;
    char (*peeled)[41]; /* per event: the commit a tag points to */
    int rc;
    struct buf err;
    struct pending_trigger *triggers, *triggers_next;
    /* the refs of the mirror after the last sync (seen_known: one is recorded) */
    struct ref_list seen;
    bool seen_known;
    /* questions about the mirror's objects, from the thread pool; what they
     * answered of late the engine thread looks up (mirror_*_known) */
    struct gitbatch *batch;
    struct erepo *next;
};

struct esched {
    struct engine *e;
    struct erepo *repo;
    struct cron cron;
    char *ref;
    int tz_offset_s;
    uv_timer_t timer;
    struct esched *next;
};

struct erun {
    struct engine *e;
    int64_t run_id, repo_id;
    struct store_run row;
    struct pipeline *p;
    bool *selected;
    struct ws_source src;
    bool have_src;
    struct gitbatch *batch; /* the repository's */
    struct runexec *rx;
    uv_work_t work;
    char *mirror_dir, *state_dir;
    struct buf pipeline_src, err;
    struct diag_list diag; /* pipeline_parse's, when p is NULL */
    int prep_rc;
    bool src_memo; /* pipeline_src was remembered (mirror_read_file_known): not read */
    bool cancel_requested;
    bool gone;           /* its row was rolled back (unschedule) */
    bool release_wanted; /* a main or tag run whose pipeline makes a release */
    struct erun *next;
};

struct engine {
    uv_loop_t *loop;
    struct engine_config cfg;
    char *db_path, *git_dir, *cas_dir;
    struct store *st;
    struct cas *cas;
    /* The key that signs releases' provenance: loaded (or created) at its
     * first use, by engine_key(), so that a server that makes no release
     * never loads OpenSSL's signing code (util/dl_crypto.h). */
    struct sign_key *key;
    char *key_path;
    pthread_mutex_t key_mu;
    struct deployer *dep; /* takes releases through the environments */
    struct erepo *repos;
    struct esched *schedules;
    struct erun *runs;
    uv_async_t wake;
    pthread_mutex_t mu;
    struct call *calls;
    bool shutting_down;
    /* schedule() has seen every waiting run up to this id (0: none yet, look at all) */
    int64_t sched_after;
    uv_timer_t shutdown_timer;
    void (*shutdown_done)(void *);
    void *shutdown_ctx;
    /* retention */
    int keep_runs;
    int64_t keep_ms;
    uv_timer_t retention_timer;
    uv_work_t retention_work;
    uv_work_t logs_work; /* makes logs_next (logs_ahead) */
    char *logs_next;     /* LOGS/.next: the next run's log directory, made ahead */
    bool logs_busy, logs_again;
    bool retention_busy;
    /* live events, under mu: a ring of the last ENGINE_EVENTS */
    char *events[ENGINE_EVENTS];
    uint64_t event_seq; /* number of the newest event */
    /* stats, under mu */
    int slots_used;
    int64_t log_bytes;
    int64_t jobs_waiting;
    struct hist job_hist[JOB_NSTATES];
    /* retries of jobs of ended runs reading their pipeline */
    int reruns_loading;
    /* runs whose change is being read from the mirror (read_change) */
    int changes_reading;
    /* triggers reading their ref from a local origin (fast_trigger) */
    int fast_triggers;
    /* mirrors' maintenance (git maintenance run --auto), off the triggers' way */
    uv_timer_t maint_timer;
    uv_timer_t trim_timer; /* gives freed memory back when idle (on_trim) */
    uv_work_t maint_work;
    bool maint_busy;
    char **maint_dirs;
    struct gitbatch **maint_batches;
    size_t maint_n;
};

static void schedule(struct engine *e);
static struct erun *any_run(struct engine *e, int64_t run_id);
static bool finishing(const struct erun *x);
static void start_sync(struct erepo *r);
static int select_jobs(const struct pipeline *p, const struct store_run *row, bool *selected,
                       struct buf *err);

/* An event (here or from the deployer): gets its time and number, goes to the
 * ring for live viewers and to the sink (webhooks). */
static void emit_json(void *ctx, json_t *o)
{
    struct engine *e = ctx;
    json_object_set_new(o, "time_ms", json_integer(store_now_ms()));
    pthread_mutex_lock(&e->mu);
    uint64_t seq = ++e->event_seq;
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t slot = seq % ENGINE_EVENTS;
    free(e->events[slot]);
    e->events[slot] = line;
    if (e->cfg.event_sink && line)
        e->cfg.event_sink(e->cfg.event_sink_ctx, line, strlen(line));
    pthread_mutex_unlock(&e->mu);
    json_decref(o);
}

static void emit(struct engine *e, int64_t run_id, const char *job, const char *state, int attempt,
                 const char *reason)
{
    json_t *o = json_object();
    json_object_set_new(o, "run", json_integer(run_id));
    if (job) {
        json_object_set_new(o, "job", json_string(job));
        json_object_set_new(o, "attempt", json_integer(attempt));
    }
    json_object_set_new(o, "state", json_string(state));
    if (reason && *reason)
        json_object_set_new(o, "reason", json_string(reason));
    emit_json(e, o);
}

/* A release was made: {"run": 7, "repo": "app", "release": "r3", "state": "released"}. */
static void emit_release(struct engine *e, int64_t run_id, const char *repo, const char *version)
{
    struct buf reason = BUF_INIT;
    buf_addf(&reason, "release %s of %s", version, repo);
    emit(e, run_id, NULL, "released", 0, reason.data);
    buf_release(&reason);
}

int engine_events(struct engine *e, uint64_t seq, size_t max, struct buf *out, uint64_t *last)
{
    int n = 0;
    pthread_mutex_lock(&e->mu);
    *last = seq;
    if (seq > e->event_seq) {
        seq = e->event_seq; /* a viewer from before a restart: start now */
        *last = seq;
    }
    if (e->event_seq - seq > ENGINE_EVENTS) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    for (uint64_t s = seq + 1; s <= e->event_seq && (size_t)n < max; s++) {
        const char *line = e->events[s % ENGINE_EVENTS];
        if (!line)
            continue;
        buf_addf(out, "%s\n", line);
        *last = s;
        n++;
    }
    pthread_mutex_unlock(&e->mu);
    return n;
}

/* ---- calls from other threads -------------------------------------------- */

static void call_unref(struct engine *e, struct call *c)
{
    bool last;
    pthread_mutex_lock(&e->mu);
    last = --c->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (!last)
        return;
    free((char *)c->req.name);
    free((char *)c->req.url);
    free((char *)c->req.ref);
    free((char *)c->req.main_branch);
    free((char *)c->req.version);
    free((char *)c->req.reason);
    free((char *)c->req.env);
    free((char *)c->req.actor);
    free((char *)c->req.commit);
    free((char *)c->req.branch);
    store_audit_release(&c->audit);
    buf_release(&c->local.message);
    buf_release(&c->local.jobs);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/*
 * Answers a call, and returns the status answered. A batch that the caller's
 * handler opened (queue_run_reply) is committed with the audit entry before
 * the caller hears back; when that commit fails, nothing of it was written
 * and the answer is a 500.
 */
static int reply(struct engine *e, struct call *c, int status, int64_t id, int64_t number,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int reply(struct engine *e, struct call *c, int status, int64_t id, int64_t number,
                 const char *fmt, ...)
{
    /* The audit entry, before the caller hears back, unless the caller has
     * stopped waiting (it writes its own); once claimed, the caller waits
     * for this reply however long the write takes. */
    pthread_mutex_lock(&e->mu);
    bool audit = c->req.audit && c->reply;
    c->audit_claimed = audit;
    pthread_mutex_unlock(&e->mu);
    if (audit) {
        struct buf err = BUF_INIT;
        c->audit.status = status;
        if (store_audit_add(e->st, &c->audit, &err))
            fprintf(stderr, "flywheel serve: audit: %s\n", err.data);
        buf_release(&err);
    }
    if (store_in_batch(e->st)) {
        struct buf err = BUF_INIT;
        if (store_batch_commit(e->st, &err)) {
            fprintf(stderr, "flywheel serve: %s\n", err.data);
            status = 500;
            id = number = 0;
            audit = false; /* rolled back with the rest: the caller writes it */
            buf_addf(&c->local.message, "%s", err.data);
            fmt = NULL;
        }
        buf_release(&err);
    }
    c->local.status = status;
    c->local.id = id;
    c->local.number = number;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        buf_vaddf(&c->local.message, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&e->mu);
    if (c->reply) {
        c->reply->status = status;
        c->reply->id = id;
        c->reply->number = number;
        c->reply->audited = audit;
        buf_add(&c->reply->message, c->local.message.data, c->local.message.len);
        buf_add(&c->reply->jobs, c->local.jobs.data, c->local.jobs.len);
    }
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&e->mu);
    call_unref(e, c);
    return status;
}

int engine_call(struct engine *e, const struct engine_request *req, struct engine_reply *rep,
                long timeout_ms)
{
    struct call *c = xcalloc(1, sizeof(*c));
    c->req = *req;
    c->req.name = xstrdup_or_null(req->name);
    c->req.url = xstrdup_or_null(req->url);
    c->req.ref = xstrdup_or_null(req->ref);
    c->req.main_branch = xstrdup_or_null(req->main_branch);
    c->req.version = xstrdup_or_null(req->version);
    c->req.reason = xstrdup_or_null(req->reason);
    c->req.env = xstrdup_or_null(req->env);
    c->req.actor = xstrdup_or_null(req->actor);
    c->req.commit = xstrdup_or_null(req->commit);
    c->req.branch = xstrdup_or_null(req->branch);
    if (req->audit) {
        store_audit_copy(&c->audit, req->audit);
        c->req.audit = &c->audit;
    }
    buf_init(&c->local.message, 0);
    buf_init(&c->local.jobs, 0);
    rep->status = 0;
    rep->id = rep->number = 0;
    rep->audited = false;
    c->reply = rep;
    c->refs = 2;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    if (e->shutting_down) {
        pthread_mutex_unlock(&e->mu);
        rep->status = 503;
        buf_adds(&rep->message, "the server is shutting down");
        c->refs = 1;
        call_unref(e, c);
        return 0;
    }
    c->next = e->calls;
    e->calls = c;
    uv_async_send(&e->wake);
    while (!c->done && rc == 0)
        rc = pthread_cond_timedwait(&c->cond, &e->mu, &until);
    while (!c->done && c->audit_claimed) /* replying now: the audit is being written */
        pthread_cond_wait(&c->cond, &e->mu);
    if (!c->done) {
        c->reply = NULL; /* the loop answers into c->local, then frees */
        rc = -ETIMEDOUT;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&e->mu);
    call_unref(e, c);
    return rc;
}

/* ---- repositories -------------------------------------------------------- */

static struct erepo *repo_by_name(struct engine *e, const char *name)
{
    for (struct erepo *r = e->repos; r; r = r->next)
        if (!strcmp(r->name, name))
            return r;
    return NULL;
}

static struct erepo *repo_by_id(struct engine *e, int64_t id)
{
    for (struct erepo *r = e->repos; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void on_poll(uv_timer_t *t)
{
    struct erepo *r = t->data;
    start_sync(r);
}

/*
 * At start, a repository's refs as its last sync recorded them (with the
 * runs they caused): the mirror has their objects, so the trigger's fast
 * path may compare a local origin with them before the first sync. None
 * recorded (never synced): the fast path waits for the first sync.
 */
static void seen_from_store(struct erepo *r)
{
    struct buf text = BUF_INIT, err = BUF_INIT;
    if (store_repo_refs_get(r->e->st, r->id, &text, &err) == 0 && text.len &&
        refs_parse(text.data, MAX_REFS, &r->seen, &err) == 0)
        r->seen_known = true;
    else
        refs_release(&r->seen);
    buf_release(&text);
    buf_release(&err);
}

static struct erepo *repo_attach(struct engine *e, const struct store_repo *sr)
{
    struct erepo *r = xcalloc(1, sizeof(*r));
    struct buf b = BUF_INIT;
    r->e = e;
    r->id = sr->id;
    r->name = xstrdup(sr->name);
    r->url = xstrdup(sr->url);
    r->main_branch = xstrdup(sr->main_branch && *sr->main_branch ? sr->main_branch : "main");
    r->poll_s = sr->poll_s;
    buf_addf(&b, "%s/%s.git", e->git_dir, sr->name);
    r->dir = buf_detach(&b, NULL);
    r->batch = gitbatch_new(r->dir);
    buf_init(&r->err, 0);
    uv_timer_init(e->loop, &r->timer);
    r->timer.data = r;
    if (r->poll_s > 0) {
        uv_timer_start(&r->timer, on_poll, 10, (uint64_t)r->poll_s * 1000);
        r->timer_on = true;
    }
    r->next = e->repos;
    e->repos = r;
    return r;
}

/* The kind of run a ref gets, or NULL for refs that start none. */
static const char *ref_kind(const struct erepo *r, const char *ref)
{
    const char *b = refs_branch(ref);
    if (b)
        return strcmp(b, r->main_branch) ? "change" : "main";
    if (refs_tag(ref))
        return "tag";
    return NULL;
}

static void sync_work(uv_work_t *w)
{
    struct erepo *r = w->data;
    buf_reset(&r->err);
    r->rc = mirror_sync(r->url, r->dir, &r->before, &r->after, &r->err);
    if (r->rc)
        return;
    /* The refs the server saw last are in the store (read on the loop, into before). */
    refs_diff(&r->before, &r->after, &r->ev, &r->nev);
    r->peeled = xcalloc(r->nev + 1, sizeof(*r->peeled));
    for (size_t i = 0; i < r->nev; i++) {
        struct ref_event *ev = &r->ev[i];
        if (ev->change == REF_DELETED)
            continue;
        struct buf scratch = BUF_INIT;
        if (mirror_resolve_with(r->batch, r->dir, ev->new, r->peeled[i], &scratch))
            r->peeled[i][0] = '\0';
        buf_reset(&scratch);
        if (ev->change == REF_UPDATED && ev->old[0] && r->peeled[i][0] &&
            mirror_is_ancestor(r->dir, ev->old, ev->new, &scratch) == 0)
            ev->change = REF_FORCED;
        buf_release(&scratch);
    }
    for (struct pending_trigger *t = r->triggers; t; t = t->next) {
        static const char *const prefixes[] = {"", "refs/heads/", "refs/tags/"};
        if (t->pull) {
            /* The head of a pull request: fetched under its own name, then the
             * commit the forge announced, which the ref holds (or held). */
            t->rc = mirror_fetch_ref(r->url, r->dir, t->ref, &t->err);
            if (!t->rc) {
                struct buf scratch = BUF_INIT;
                t->rc = mirror_resolve_with(r->batch, r->dir, t->commit, t->sha, &scratch);
                if (t->rc)
                    buf_addf(&t->err, "commit %s is not in %s of repository '%s'", t->commit,
                             t->ref, r->name);
                buf_release(&scratch);
            } else {
                t->rc = -EIO;
            }
            if (!t->rc)
                t->fullref = xstrdup(t->ref);
            continue;
        }
        t->rc = -ENOENT;
        for (size_t k = 0; k < 3 && t->rc; k++) {
            if (k == 0 && strncmp(t->ref, "refs/", 5))
                continue;
            struct buf full = BUF_INIT;
            buf_addf(&full, "%s%s", prefixes[k], t->ref);
            const char *sha = refs_get(&r->after, full.data);
            if (sha) {
                struct buf scratch = BUF_INIT;
                if (mirror_resolve_with(r->batch, r->dir, sha, t->sha, &scratch) == 0) {
                    t->fullref = buf_detach(&full, NULL);
                    t->rc = 0;
                }
                buf_release(&scratch);
            }
            buf_release(&full);
        }
        if (t->rc)
            buf_addf(&t->err, "no branch or tag '%s' in repository '%s'", t->ref, r->name);
    }
}

/* What a run is of, beside its kind and commit. */
struct run_origin {
    const char *trigger;
    int64_t retry_of;
    const char *branch; /* NULL: the ref's (a pull request's head branch otherwise) */
    bool fork;
};

/* Records a queued run; returns its id or -1. */
/* Records a queued run (its first event is the caller's to emit). */
static int64_t insert_run(struct engine *e, struct erepo *r, const char *kind, const char *ref,
                          const char *commit, const struct run_origin *o, int64_t *number,
                          struct buf *err)
{
    struct store_run run = {0};
    run.kind = (char *)kind;
    run.source = (char *)commit;
    run.commit = (char *)commit;
    const char *b = o->branch ? o->branch : refs_branch(ref);
    run.branch = (char *)(b ? b : "");
    run.state = "queued";
    run.created_ms = store_now_ms();
    run.repo_id = r->id;
    run.ref = (char *)ref;
    run.trigger = (char *)o->trigger;
    run.retry_of = o->retry_of;
    run.fork = o->fork;
    int64_t id = store_run_insert(e->st, &run, err);
    if (number)
        *number = run.number;
    return id;
}

static int64_t queue_run(struct engine *e, struct erepo *r, const char *kind, const char *ref,
                         const char *commit, const struct run_origin *o, int64_t *number,
                         struct buf *err)
{
    int64_t id = insert_run(e, r, kind, ref, commit, o, number, err);
    if (id > 0)
        emit(e, id, NULL, "queued", 0, NULL);
    return id;
}

static struct erun *any_run(struct engine *e, int64_t run_id);
static void erun_unlink(struct engine *e, struct erun *x);

/* A run taken up by schedule() whose row was rolled back: it is dropped when
 * its preparation is back, and its id (given again to the next run) is read
 * again. */
static void unschedule(struct engine *e, int64_t id)
{
    struct erun *x = any_run(e, id);
    if (x) {
        /* out of the list at once: the next run has its id */
        x->gone = true;
        erun_unlink(e, x);
    }
    if (e->sched_after >= id)
        e->sched_after = id - 1;
}

/*
 * Queues a run for a caller that waits, and answers it (201, or 500 with
 * the reason): the run and the caller's audit entry are one transaction,
 * committed before the caller hears back, and the run's first event
 * follows the commit.
 */
static void queue_run_reply(struct engine *e, struct call *c, struct erepo *r, const char *kind,
                            const char *ref, const char *commit, const struct run_origin *o)
{
    struct buf err = BUF_INIT;
    int64_t number = 0, id;
    if (!store_in_batch(e->st) && store_batch_begin(e->st, &err))
        fprintf(stderr, "flywheel serve: %s\n", err.data); /* each write commits alone */
    buf_reset(&err);
    id = insert_run(e, r, kind, ref, commit, o, &number, &err);
    if (id < 0) {
        reply(e, c, 500, 0, 0, "%s", err.data);
    } else {
        /* Taken up at once: its preparation on the thread pool (the pipeline
         * file read, its work directory) goes on beside the commit and the
         * answer. The run starts after both (prepare_done). Without a batch
         * (it could not begin), by the schedule() after the answer. */
        if (store_in_batch(e->st))
            schedule(e);
        if (reply(e, c, 201, id, number, NULL) == 201)
            emit(e, id, NULL, "queued", 0, NULL);
        else
            unschedule(e, id);
    }
    buf_release(&err);
}

/* Cancels the change runs of ref in repo other than keep_id: queued ones in
 * the store, running ones through their executor. */
static void cancel_older(struct engine *e, struct erepo *r, const char *ref, int64_t keep_id,
                         const char *reason)
{
    struct store_run_filter f = {0};
    struct store_run *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    f.repo_id = r->id;
    f.kind = "change";
    f.limit = 1000;
    if (store_run_query(e->st, &f, &v, &n, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].id >= keep_id || strcmp(v[i].ref, ref))
            continue;
        if (strcmp(v[i].state, "queued") && strcmp(v[i].state, "running"))
            continue;
        struct erun *x = NULL;
        for (struct erun *q = e->runs; q; q = q->next)
            if (q->run_id == v[i].id)
                x = q;
        if (x) {
            x->cancel_requested = true;
            if (x->rx)
                runexec_cancel(x->rx, reason);
        } else {
            free(v[i].state);
            v[i].state = xstrdup("cancelled");
            v[i].finished_ms = store_now_ms();
            if (store_run_update(e->st, &v[i], &err) == 0 && !store_in_batch(e->st))
                emit(e, v[i].id, NULL, "cancelled", 0, reason);
            buf_reset(&err);
        }
    }
out:
    store_runs_release(v, n);
    buf_release(&err);
}

static void sync_done(uv_work_t *w, int status)
{
    struct erepo *r = w->data;
    struct engine *e = r->e;
    struct buf err = BUF_INIT, text = BUF_INIT;
    (void)status;
    r->syncing = false;
    if (r->rc) {
        fprintf(stderr, "flywheel serve: repository '%s': %s\n", r->name, r->err.data);
    } else if (!r->baseline) {
        for (size_t i = 0; i < r->nev; i++) {
            struct ref_event *ev = &r->ev[i];
            const char *kind = ref_kind(r, ev->ref);
            if (!kind)
                continue;
            if (ev->change == REF_DELETED) {
                if (!strcmp(kind, "change"))
                    cancel_older(e, r, ev->ref, INT64_MAX, "the branch was deleted");
                continue;
            }
            if (!r->peeled[i][0])
                continue; /* a tag of something that is not a commit */
            int64_t id = queue_run(e, r, kind, ev->ref, r->peeled[i],
                                   &(struct run_origin){.trigger = "push"}, NULL, &err);
            if (id < 0) {
                fprintf(stderr, "flywheel serve: %s\n", err.data);
                buf_reset(&err);
                continue;
            }
            if (!strcmp(kind, "change") && !e->cfg.keep_superseded)
                cancel_older(e, r, ev->ref, id, "a newer push to the branch superseded it");
        }
    }
    if (!r->rc) {
        /* Remember what was seen, after the runs it caused are recorded. */
        for (size_t i = 0; i < r->after.n; i++)
            buf_addf(&text, "%s %s\n", r->after.v[i].sha, r->after.v[i].name);
        if (store_repo_refs_set(e->st, r->id, text.data, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        r->baseline = false;
        /* what a trigger's fast path compares a local origin with */
        refs_release(&r->seen);
        r->seen = r->after;
        memset(&r->after, 0, sizeof(r->after));
        r->seen_known = true;
    }
    /* Answer the triggers that waited for this sync. */
    struct pending_trigger *t = r->triggers;
    r->triggers = NULL;
    while (t) {
        struct pending_trigger *next = t->next;
        if (!t->call) {
            /* a schedule's firing: nobody waits for the answer */
            if (r->rc || t->rc) {
                fprintf(stderr, "flywheel serve: schedule of '%s': %s\n", r->name,
                        r->rc ? r->err.data : t->err.data);
            } else {
                const char *kind = ref_kind(r, t->fullref);
                buf_reset(&err);
                if (queue_run(e, r, kind ? kind : "manual", t->fullref, t->sha,
                              &(struct run_origin){.trigger = "schedule"}, NULL, &err) < 0)
                    fprintf(stderr, "flywheel serve: %s\n", err.data);
            }
        } else if (r->rc) {
            reply(e, t->call, 502, 0, 0, "fetching '%s' failed: %s", r->name, r->err.data);
        } else if (t->pull && t->rc) {
            reply(e, t->call, t->rc == -ENOENT ? 409 : 502, 0, 0, "%s", t->err.data);
        } else if (t->rc) {
            reply(e, t->call, 404, 0, 0, "%s", t->err.data);
        } else if (t->pull) {
            int64_t number = 0;
            struct run_origin o = {.trigger = "pull_request", .branch = t->branch, .fork = t->fork};
            buf_reset(&err);
            int64_t id = queue_run(e, r, "change", t->fullref, t->sha, &o, &number, &err);
            if (id < 0) {
                reply(e, t->call, 500, 0, 0, "%s", err.data);
            } else {
                if (!e->cfg.keep_superseded)
                    cancel_older(e, r, t->fullref, id,
                                 "a newer push to the pull request superseded it");
                reply(e, t->call, 201, id, number, NULL);
            }
        } else {
            const char *kind = ref_kind(r, t->fullref);
            queue_run_reply(e, t->call, r, kind ? kind : "manual", t->fullref, t->sha,
                            &(struct run_origin){.trigger = "api"});
        }
        free(t->ref);
        free(t->fullref);
        free(t->commit);
        free(t->branch);
        buf_release(&t->err);
        free(t);
        t = next;
    }
    refs_release(&r->before);
    refs_release(&r->after);
    refs_events_free(r->ev, r->nev);
    r->ev = NULL;
    r->nev = 0;
    free(r->peeled);
    r->peeled = NULL;
    buf_release(&err);
    buf_release(&text);
    schedule(e);
    if (r->sync_again && !e->shutting_down) {
        r->sync_again = false;
        start_sync(r);
    }
}

static void start_sync(struct erepo *r)
{
    struct engine *e = r->e;
    if (e->shutting_down)
        return;
    if (r->syncing || r->maintaining) {
        r->sync_again = true;
        return;
    }
    /* The refs the server saw last: a restart does not forget a push. */
    struct buf text = BUF_INIT, err = BUF_INIT;
    r->baseline = false;
    if (store_repo_refs_get(e->st, r->id, &text, &err) == 0) {
        struct stat st;
        if (!text.len && stat(r->dir, &st) != 0)
            r->baseline = true; /* the first fetch: existing refs start nothing */
        else if (refs_parse(text.data, MAX_REFS, &r->before, &err))
            refs_release(&r->before);
    }
    buf_release(&text);
    buf_release(&err);
    /* mirror_sync fills before from the mirror: keep the store's view instead. */
    r->triggers = r->triggers_next;
    r->triggers_next = NULL;
    r->syncing = true;
    r->work.data = r;
    uv_queue_work(e->loop, &r->work, sync_work, sync_done);
}

/* ---- runs ----------------------------------------------------------------- */

static bool pool_take(void *ctx)
{
    struct engine *e = ctx;
    bool ok;
    pthread_mutex_lock(&e->mu);
    ok = !e->shutting_down && e->slots_used < e->cfg.slots;
    if (ok)
        e->slots_used++;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

static bool slot_free(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    bool ok = e->slots_used < e->cfg.slots;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

/* Gives free slots to the runs that wait, oldest first (the list is kept in
 * id order); with none left, the rest have nothing to start. */
static void pump_all(struct engine *e)
{
    for (struct erun *x = e->runs; x && slot_free(e); x = x->next)
        if (x->rx && !runexec_done(x->rx))
            runexec_pump(x->rx);
}

static void pool_give(void *ctx)
{
    struct engine *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->slots_used--;
    pthread_mutex_unlock(&e->mu);
}

static void erun_free(struct erun *x)
{
    if (x->rx)
        runexec_free(x->rx);
    pipeline_free(x->p);
    diag_list_release(&x->diag);
    free(x->selected);
    if (x->have_src)
        ws_source_release(&x->src);
    store_run_release(&x->row);
    free(x->mirror_dir);
    free(x->state_dir);
    buf_release(&x->pipeline_src);
    buf_release(&x->err);
    free(x);
}

static void erun_unlink(struct engine *e, struct erun *x)
{
    for (struct erun **pp = &e->runs; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            return;
        }
    }
}

static void check_shutdown(struct engine *e);
static void count_waiting(struct engine *e);
static void on_job_end(void *ctx, size_t job, enum job_state st, int64_t ms);

/* Deferred: runexec's on_done fires inside its own call stack. */
static void run_reap(uv_idle_t *h);

struct reap {
    uv_idle_t idle;
    struct erun *x;
};

/*
 * Memory freed while runs went on is given back to the system once the
 * engine has had no run for TRIM_IDLE_MS: malloc keeps the freed pages of
 * its heaps (one for each thread that allocated) until then, and an idle
 * server would otherwise hold what its busiest moment needed. Not sooner,
 * so that back-to-back runs do not fault the same pages in again.
 */
#define TRIM_IDLE_MS 1000

static void on_trim(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (!e->runs)
        malloc_trim(0);
}

static void trim_later(struct engine *e)
{
    uv_timer_start(&e->trim_timer, on_trim, TRIM_IDLE_MS, 0);
}

static void reap_closed(uv_handle_t *h)
{
    struct reap *rp = h->data;
    struct engine *e = rp->x->e;
    erun_free(rp->x);
    free(rp);
    schedule(e);
    pump_all(e);
    count_waiting(e);
    check_shutdown(e);
    if (!e->runs)
        trim_later(e);
}

static void run_reap(uv_idle_t *h)
{
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, reap_closed);
}

static void later_free(struct erun *x)
{
    struct reap *rp = xcalloc(1, sizeof(*rp));
    rp->x = x;
    uv_idle_init(x->e->loop, &rp->idle);
    rp->idle.data = rp;
    uv_idle_start(&rp->idle, run_reap);
}

/*
 * Makes the release of a run that wants one (it was recorded as pending when
 * the run started, so a crash before this point is caught up by
 * recover_releases()).
 */
static const struct sign_key *engine_key(struct engine *e, struct buf *err);

static void make_release(struct engine *e, int64_t run_id, const struct erepo *r,
                         const struct pipeline *p, const char *src, size_t len)
{
    struct buf err = BUF_INIT;
    const struct sign_key *key = engine_key(e, &err);
    if (!key) {
        fprintf(stderr, "flywheel serve: run %lld: no release: signing key: %s\n",
                (long long)run_id, err.data);
        buf_release(&err);
        return;
    }
    struct releaser_input in = {
        .pipeline = p,
        .pipeline_src = src,
        .pipeline_len = len,
        .run_id = run_id,
        .repo = r->name,
        .repo_url = r->url,
        .key = key,
    };
    int64_t id = 0;
    int rc = releaser_make(e->st, &in, &id, &err);
    if (rc < 0) {
        fprintf(stderr, "flywheel serve: run %lld: no release: %s\n", (long long)run_id, err.data);
    } else if (rc == 1) {
        struct store_release rel = {0};
        buf_reset(&err);
        if (store_release_get_run(e->st, run_id, &rel, &err) == 0)
            emit_release(e, run_id, r->name, rel.version);
        store_release_release(&rel);
        if (e->dep)
            deployer_release_made(e->dep, id);
    }
    buf_release(&err);
}

/* The run's end is in the store: its viewers hear of it now, not once its
 * workspaces are removed (on_run_done). */
static void on_run_end(void *ctx, enum sched_result r)
{
    struct erun *x = ctx;
    emit(x->e, x->run_id, NULL, sched_result_name(r), 0, NULL);
}

static void on_run_done(void *ctx, enum sched_result r)
{
    struct erun *x = ctx;
    (void)r;
    struct erepo *repo = repo_by_id(x->e, x->repo_id);
    if (x->release_wanted && repo)
        make_release(x->e, x->run_id, repo, x->p, x->pipeline_src.data, x->pipeline_src.len);
    erun_unlink(x->e, x);
    later_free(x);
}

static void on_run_output(void *ctx, size_t job, const char *data, size_t len)
{
    struct erun *x = ctx;
    (void)job;
    (void)data;
    pthread_mutex_lock(&x->e->mu);
    x->e->log_bytes += (int64_t)len;
    pthread_mutex_unlock(&x->e->mu);
    if (x->e->cfg.output_sink)
        x->e->cfg.output_sink(x->e->cfg.event_sink_ctx, x->run_id);
}

/* Recounts the jobs ready to start and waiting for a slot, for /metrics. */
static void count_waiting(struct engine *e)
{
    int64_t n = 0;
    for (struct erun *x = e->runs; x; x = x->next)
        if (x->rx && !runexec_done(x->rx))
            n += (int64_t)sched_waiting(runexec_sched(x->rx));
    pthread_mutex_lock(&e->mu);
    e->jobs_waiting = n;
    pthread_mutex_unlock(&e->mu);
}

static void on_job_state(void *ctx, size_t job, enum job_state st, int attempt, const char *reason,
                         int64_t ms)
{
    struct erun *x = ctx;
    (void)ms;
    emit(x->e, x->run_id, x->p->jobs[job].name, job_state_name(st), attempt, reason);
    /* Slots came free or jobs became ready: let other runs use them. */
    if (job_state_done(st)) {
        pump_all(x->e);
        check_shutdown(x->e); /* the last running job of a stopping server */
    }
    count_waiting(x->e);
}

static void on_job_end(void *ctx, size_t job, enum job_state st, int64_t ms)
{
    struct erun *x = ctx;
    (void)job;
    if ((unsigned)st >= JOB_NSTATES)
        return;
    pthread_mutex_lock(&x->e->mu);
    hist_observe(&x->e->job_hist[st], ms);
    pthread_mutex_unlock(&x->e->mu);
}

static void finish_row(struct engine *e, struct erun *x, const char *state)
{
    struct buf err = BUF_INIT;
    free(x->row.state);
    x->row.state = xstrdup(state);
    if (!x->row.started_ms)
        x->row.started_ms = store_now_ms();
    x->row.finished_ms = store_now_ms();
    if (store_run_set_state(e->st, x->run_id, state, x->row.started_ms, x->row.finished_ms, &err))
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    buf_release(&err);
    emit(e, x->run_id, NULL, state, 0, NULL); /* once recorded */
}

/* The branch of a run: its ref's, else the one recorded (a pull request's
 * head branch), else "". */
static const char *run_branch(const struct store_run *row)
{
    const char *b = refs_branch(row->ref);
    if (b)
        return b;
    return row->branch && !refs_tag(row->ref) ? row->branch : "";
}

/* The jobs a run of this kind and ref runs: by `when`, as `flywheel run --when` would. */
static int select_jobs(const struct pipeline *p, const struct store_run *row, bool *selected,
                       struct buf *err)
{
    unsigned ev = !strcmp(row->kind, "main")  ? PL_EV_MAIN
                  : !strcmp(row->kind, "tag") ? PL_EV_TAG
                                              : PL_EV_CHANGE;
    const char *name = refs_tag(row->ref);
    if (!name)
        name = *run_branch(row) ? run_branch(row) : NULL;
    return sched_select(p, NULL, 0, ev, name, selected, err);
}

/*
 * A run's log directory is made at its first byte of output (a run whose
 * jobs print nothing has none), and made ahead: runexec renames LOGS/.next
 * to LOGS/<id> instead of making it, since a mkdir is an inode allocation,
 * 20-400 us on ext4 (more when many inodes were freed in the last minutes),
 * on the engine thread. .next is made again on the thread pool each time a
 * run's log directory was made. An empty .next left by an earlier server is
 * used the same way.
 */
#define LOGS_NEXT ".next"

static void logs_ahead_work(uv_work_t *w)
{
    struct engine *e = w->data;
    (void)mkdir(e->logs_next, 0755); /* there already, or not to be: a run makes its own */
}

static void logs_ahead(struct engine *e);

static void logs_ahead_done(uv_work_t *w, int status)
{
    struct engine *e = w->data;
    (void)status;
    e->logs_busy = false;
    if (e->logs_again) {
        e->logs_again = false;
        logs_ahead(e);
    }
}

static void logs_ahead(struct engine *e)
{
    if (e->logs_busy)
        e->logs_again = true; /* its mkdir may have come before the rename */
    if (e->logs_busy || e->shutting_down)
        return;
    e->logs_busy = true;
    e->logs_work.data = e;
    uv_queue_work(e->loop, &e->logs_work, logs_ahead_work, logs_ahead_done);
}

static void on_log_dir(void *ctx)
{
    struct erun *x = ctx;
    logs_ahead(x->e);
}

static void prepare_work(uv_work_t *w)
{
    struct erun *x = w->data;
    if (!x->src_memo)
        x->prep_rc = mirror_read_file_with(x->batch, x->mirror_dir, x->row.commit, PIPELINE_FILE,
                                           1 << 20, &x->pipeline_src, &x->err);
    if (x->prep_rc == -ENOENT) {
        buf_reset(&x->err);
        buf_addf(&x->err, "no %s at commit %.12s", PIPELINE_FILE, x->row.commit);
        return;
    }
    if (x->prep_rc)
        return;
    /* A full commit id is a commit of the mirror: reading the file at it
     * verified that. No git to ask again. */
    if (strlen(x->row.commit) == 40 && strspn(x->row.commit, "0123456789abcdef") == 40)
        x->prep_rc = ws_source_mirror(&x->src, x->mirror_dir, x->state_dir, x->row.commit, &x->err);
    else
        x->prep_rc = ws_source_rev(&x->src, x->mirror_dir, x->state_dir, x->row.commit, &x->err);
    if (x->prep_rc)
        return;
    x->have_src = true;
    /* Off the engine thread as well: the parse, and the run's work
     * directory (runexec_start finds it there), whose creation costs an
     * inode allocation. */
    x->p =
        pipeline_parse(PIPELINE_FILE, x->pipeline_src.data, x->pipeline_src.len, NULL, 0, &x->diag);
    if (!x->p)
        return;
    /* runexec_start reports what fails here */
    struct buf dir = BUF_INIT;
    buf_addf(&dir, "%s/work/%lld", x->e->cfg.data_dir, (long long)x->run_id);
    /* the work directory an earlier run of the repository left empty, if any */
    if (x->row.fork || runexec_spare_dir(x->mirror_dir, dir.data))
        (void)mkdir(dir.data, 0755);
    buf_release(&dir);
}

/* The values of the secrets the run's selected jobs name (store/secret.h). */
static int load_secrets(struct engine *e, struct erun *x, struct store_secret_value **vals,
                        size_t *n, struct buf *err)
{
    const char **names = NULL;
    size_t nnames = 0, alloc = 0;
    struct erepo *r = repo_by_id(e, x->repo_id);
    for (size_t i = 0; i < x->p->njobs; i++) {
        if (!x->selected[i])
            continue;
        for (size_t k = 0; k < x->p->jobs[i].secrets.n; k++) {
            ALLOC_GROW(names, nnames + 1, alloc);
            names[nnames++] = x->p->jobs[i].secrets.v[k].s;
        }
    }
    *vals = NULL;
    *n = 0;
    int rc = nnames ? store_secret_values(e->st, e->cfg.data_dir, x->repo_id, r ? r->name : "?",
                                          names, nnames, vals, n, err)
                    : 0;
    free(names);
    return rc;
}

/* Writes why a run could not start to its log directory, for the API to show. */
static void write_run_error(struct engine *e, struct erun *x, const char *text)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/logs/%lld", e->cfg.data_dir, (long long)x->run_id);
    mkdir(path.data, 0755);
    buf_adds(&path, "/pipeline.log");
    int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, text, strlen(text));
        (void)w;
        close(fd);
    }
    buf_release(&path);
}

static void prepare_done(uv_work_t *w, int status)
{
    struct erun *x = w->data;
    struct engine *e = x->e;
    struct buf err = BUF_INIT;
    (void)status;

    if (x->gone || x->cancel_requested || e->shutting_down) {
        if (x->cancel_requested && !x->gone)
            finish_row(e, x, "cancelled");
        goto drop;
    }
    if (x->prep_rc) {
        struct buf msg = BUF_INIT;
        buf_addf(&msg, "%s\n", x->err.data);
        write_run_error(e, x, msg.data);
        buf_release(&msg);
        finish_row(e, x, "failed");
        goto drop;
    }
    if (!x->p) {
        struct buf text = BUF_INIT;
        diag_render(&x->diag, PIPELINE_FILE, x->pipeline_src.data, x->pipeline_src.len, false,
                    &text);
        write_run_error(e, x, text.data);
        buf_release(&text);
        finish_row(e, x, "failed");
        goto drop;
    }
    x->selected = xcalloc(x->p->njobs + 1, sizeof(bool));
    if (select_jobs(x->p, &x->row, x->selected, &err)) {
        finish_row(e, x, "failed");
        goto drop;
    }
    size_t nsel = 0;
    for (size_t i = 0; i < x->p->njobs; i++)
        nsel += x->selected[i];
    if (!nsel) {
        write_run_error(e, x, "no job applies to this run\n");
        finish_row(e, x, "passed");
        goto drop;
    }
    free(x->src.branch);
    x->src.branch = xstrdup(run_branch(&x->row));
    /* Never a release of a fork's change, whatever its kind says. */
    x->release_wanted = !x->row.fork && releaser_wanted(x->p, x->row.kind, x->selected);
    if (x->release_wanted && store_run_set_release_pending(e->st, x->run_id, true, &err)) {
        fprintf(stderr, "flywheel serve: run %lld: %s\n", (long long)x->run_id, err.data);
        finish_row(e, x, "failed");
        goto drop;
    }

    /* Secrets: the ones the selected jobs name, for trusted runs only. */
    struct store_secret_value *vals = NULL;
    struct runexec_secret *secrets = NULL;
    size_t nvals = 0;
    if (!x->row.fork && load_secrets(e, x, &vals, &nvals, &err)) {
        struct buf msg = BUF_INIT;
        buf_addf(&msg, "cannot read the secrets of the run: %s\n", err.data);
        write_run_error(e, x, msg.data);
        buf_release(&msg);
        finish_row(e, x, "failed");
        goto drop;
    }
    secrets = xcalloc(nvals + 1, sizeof(*secrets));
    for (size_t k = 0; k < nvals; k++) {
        secrets[k].name = vals[k].name;
        secrets[k].value = vals[k].value;
        secrets[k].len = vals[k].len;
        secrets[k].error = vals[k].error;
    }

    struct runexec_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.secrets = secrets;
    cfg.nsecrets = nvals;
    if (x->row.fork) {
        /* A change from another repository: untrusted code. */
        cfg.untrusted = true;
        if (!e->cfg.fork_no_sandbox) {
            cfg.isolation = PL_ISO_SANDBOX;
            cfg.no_network = !e->cfg.fork_network;
            cfg.with_network = e->cfg.fork_network;
        }
    }
    cfg.pipeline = x->p;
    cfg.selected = x->selected;
    cfg.source = &x->src;
    cfg.store = e->st;
    cfg.cas = e->cas;
    cfg.state_dir = e->cfg.data_dir;
    /* Runs follow one another: their empty directories serve the next runs
     * of the same repository, never a fork's (whose processes may linger). */
    cfg.spare_pool = x->row.fork ? NULL : x->mirror_dir;
    cfg.log_spare = e->logs_next;
    cfg.kind = x->row.kind;
    cfg.self_exe = e->cfg.self_exe;
    cfg.slots = e->cfg.slots;
    if (!cfg.untrusted || e->cfg.fork_no_sandbox)
        cfg.isolation = RUNEXEC_ISO_JOB;
    cfg.grace_ms = e->cfg.grace_ms;
    cfg.adopt_run_id = x->run_id;
    cfg.pool_take = pool_take;
    cfg.pool_give = pool_give;
    cfg.pool_ctx = e;
    cfg.obs.ctx = x;
    cfg.obs.on_state = on_job_state;
    cfg.obs.on_output = on_run_output;
    cfg.obs.on_job_end = on_job_end;
    cfg.obs.on_end = on_run_end;
    cfg.obs.on_done = on_run_done;
    cfg.obs.on_log_dir = on_log_dir;
    /* A run adopted after a restart, or reopened by a retry of its jobs, was
     * "running" already: its event was sent then. */
    if (!strcmp(x->row.state, "queued"))
        emit(e, x->run_id, NULL, "running", 0, NULL);
    int start_rc = runexec_start(&x->rx, e->loop, &cfg, &err);
    free(secrets); /* runexec has its own copy */
    store_secret_values_release(vals, nvals);
    if (start_rc) {
        fprintf(stderr, "flywheel serve: run %lld: %s\n", (long long)x->run_id, err.data);
        buf_addch(&err, '\n');
        write_run_error(e, x, err.data); /* where the API shows why */
        finish_row(e, x, "failed");
        goto drop;
    }
    count_waiting(e);
    buf_release(&err);
    return; /* on_run_done ends it */
drop:
    buf_release(&err);
    erun_unlink(e, x);
    later_free(x);
}

/*
 * The times of a run's change (docs/metrics.md), recorded once, when the
 * run is first taken up: copied from an earlier run of the same commit and
 * kind when there is one, else read from the mirror (one git process) on
 * the thread pool beside the run's own preparation, off its way to its
 * first job. A run adopted again after a restart has them already.
 */
struct change_read {
    struct engine *e;
    int64_t run_id, pushed_ms;
    bool release_kind;
    char *mirror_dir, *commit;
    char base[41];
    struct mirror_change change;
    int rc;
    uv_work_t work;
};

static void change_work(uv_work_t *w)
{
    struct change_read *c = w->data;
    struct buf ignored = BUF_INIT;
    c->rc = mirror_change(c->mirror_dir, c->commit, c->base, STORE_RUN_COMMITS_MAX, &c->change,
                          &ignored);
    buf_release(&ignored);
}

static void change_done(uv_work_t *w, int status)
{
    struct change_read *c = w->data;
    struct engine *e = c->e;
    struct buf err = BUF_INIT;
    (void)status;
    e->changes_reading--;
    /* The run is still the one read for: a run whose row was rolled back
     * (unschedule) may have left its id to a run of another commit. */
    struct store_run now = {0};
    if (!c->rc && store_run_get(e->st, c->run_id, &now, &err) == 0 &&
        strcmp(now.commit ? now.commit : "", c->commit))
        c->rc = -ESTALE;
    store_run_release(&now);
    buf_reset(&err);
    /* -ENOENT: the run is gone meanwhile (retention), nothing to record */
    if (!c->rc &&
        store_run_set_change(e->st, c->run_id, c->change.commit_ms, c->change.first_ms,
                             c->pushed_ms, (const char *const *)c->change.commits,
                             c->release_kind ? c->change.n : 0, &err) &&
        !strstr(err.data, "there is no row"))
        fprintf(stderr, "flywheel serve: run %lld: %s\n", (long long)c->run_id, err.data);
    mirror_change_release(&c->change);
    free(c->mirror_dir);
    free(c->commit);
    free(c);
    buf_release(&err);
    check_shutdown(e);
}

static void read_change(struct engine *e, const struct store_run *row, const char *mirror_dir)
{
    if (row->commit_ms || !row->commit || strlen(row->commit) != 40)
        return;
    struct change_read *c = xcalloc(1, sizeof(*c));
    struct buf err = BUF_INIT;
    int copied = -1;
    if (!store_run_pushed(e->st, row, &c->pushed_ms, &err))
        copied = store_run_change_copy(e->st, row, c->pushed_ms, &err);
    if (copied == 0 && store_run_base(e->st, row, c->base, &err))
        copied = -1;
    if (copied < 0)
        fprintf(stderr, "flywheel serve: run %lld: %s\n", (long long)row->id, err.data);
    buf_release(&err);
    if (copied != 0) {
        free(c);
        return;
    }
    c->e = e;
    c->run_id = row->id;
    c->release_kind = !strcmp(row->kind, "main") || !strcmp(row->kind, "tag");
    c->mirror_dir = xstrdup(mirror_dir);
    c->commit = xstrdup(row->commit);
    c->work.data = c;
    e->changes_reading++;
    uv_queue_work(e->loop, &c->work, change_work, change_done);
}

/*
 * Starts every queued or interrupted run not started yet, oldest first.
 * Runs are numbered in the order they are queued, all by this thread, so
 * each call reads only the runs after the last one it saw; a run that
 * becomes waiting again (a retry of an ended run's jobs) resets that.
 */
#define SCHEDULE_BATCH 256
static void schedule(struct engine *e)
{
    int64_t back = -1;         /* where the cursor goes back to, for a run not adopted yet */
    struct erun **here = NULL; /* prepared on this thread, after the loop */
    size_t nhere = 0, ahere = 0;
    bool stop = false;
    if (e->shutting_down)
        return;
    while (!stop) {
        struct store_run *v = NULL;
        size_t n = 0;
        struct buf err = BUF_INIT;
        if (store_runs_waiting(e->st, e->sched_after, SCHEDULE_BATCH, &v, &n, &err)) {
            fprintf(stderr, "flywheel serve: %s\n", err.data);
            buf_release(&err);
            break; /* those taken up so far are prepared all the same */
        }
        buf_release(&err);
        for (size_t i = 0; i < n && !stop; i++) {
            struct erun *old = any_run(e, v[i].id);
            e->sched_after = v[i].id;
            if (finishing(old) && back < 0)
                back = v[i].id - 1; /* waiting again: adopted once that one is released */
            if (old)
                continue;
            struct erepo *r = repo_by_id(e, v[i].repo_id);
            if (!r)
                continue;
            struct buf src = BUF_INIT;
            bool known = mirror_read_file_known(r->dir, v[i].commit, PIPELINE_FILE, 1 << 20, &src);
            bool here_ok = known && src.len <= PREPARE_HERE_MAX;
            if (here_ok && store_in_batch(e->st)) {
                /* Prepared here, but after the batch that records it is
                 * committed: taken up by the next call, after the answer. */
                buf_release(&src);
                e->sched_after = v[i].id - 1;
                stop = true;
                break;
            }
            struct erun *x = xcalloc(1, sizeof(*x));
            x->e = e;
            x->run_id = v[i].id;
            x->repo_id = v[i].repo_id;
            x->row = v[i];
            memset(&v[i], 0, sizeof(v[i]));
            x->mirror_dir = xstrdup(r->dir);
            x->batch = r->batch;
            struct buf sd = BUF_INIT;
            /* per repository: a source's state directory borrows that mirror's objects */
            buf_addf(&sd, "%s/state/%s", e->cfg.data_dir, r->name);
            x->state_dir = buf_detach(&sd, NULL);
            buf_init(&x->pipeline_src, 1 << 20);
            buf_init(&x->err, 0);
            if (known) {
                buf_add(&x->pipeline_src, src.data, src.len);
                x->src_memo = true;
            }
            buf_release(&src);
            read_change(e, &x->row, x->mirror_dir);
            /* keep the list in id order */
            struct erun **pp = &e->runs;
            while (*pp && (*pp)->run_id < x->run_id)
                pp = &(*pp)->next;
            x->next = *pp;
            *pp = x;
            x->work.data = x;
            if (here_ok) {
                ALLOC_GROW(here, nhere + 1, ahere);
                here[nhere++] = x;
            } else {
                uv_queue_work(e->loop, &x->work, prepare_work, prepare_done);
            }
        }
        store_runs_release(v, n);
        if (n < SCHEDULE_BATCH)
            break;
    }
    if (back >= 0 && back < e->sched_after)
        e->sched_after = back;
    /*
     * A run whose pipeline file is known (a retry, a commit run before) has
     * little left to prepare: its parse and its work directory. That is done
     * here rather than on the thread pool, whose round trip took longer.
     */
    for (size_t i = 0; i < nhere; i++) {
        prepare_work(&here[i]->work);
        prepare_done(&here[i]->work, 0);
    }
    free(here);
}

/* ---- commands --------------------------------------------------------------- */

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) > 100 || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

/* ---- retrying jobs of a run ------------------------------------------------- */

#define RERUN_REASON "retried through the API"

/* A retry of jobs of a run that has no executor: its pipeline is read first. */
struct pending_rerun {
    struct engine *e;
    struct call *call;
    char *mirror_dir, *commit;
    struct gitbatch *batch;
    struct buf src, err;
    int rc;
    uv_work_t work;
};

/* The run's executor, when it has one still going. */
static struct erun *live_run(struct engine *e, int64_t run_id)
{
    for (struct erun *x = e->runs; x; x = x->next)
        if (x->run_id == run_id && x->rx && !runexec_done(x->rx))
            return x;
    return NULL;
}

/* The run's erun in any stage: being prepared, running, or ended and not yet released. */
static struct erun *any_run(struct engine *e, int64_t run_id)
{
    for (struct erun *x = e->runs; x; x = x->next)
        if (x->run_id == run_id)
            return x;
    return NULL;
}

/* An ended run whose executor still releases what it held (handles, workspaces). */
static bool finishing(const struct erun *x)
{
    return x && x->rx && runexec_done(x->rx);
}

/* Answers a retry with the outcome of sched_rerun_plan() or the store. */
static void rerun_reply(struct engine *e, struct call *c, int rc, const struct store_run *run,
                        const struct buf *names, const struct buf *err)
{
    if (rc >= 0) {
        buf_add(&c->local.jobs, names->data, names->len);
        reply(e, c, 202, run->id, run->number, NULL);
    } else if (rc == -ENOENT && c->req.op == ENGINE_RETRY_JOB) {
        reply(e, c, 404, 0, 0, "run %lld has no job '%s'", (long long)run->id,
              c->req.name ? c->req.name : "");
    } else if (rc == -EIO) {
        reply(e, c, 500, 0, 0, "%s", err->data);
    } else {
        reply(e, c, 409, run->id, run->number, "run %lld: %s", (long long)run->id, err->data);
    }
}

static void rerun_live(struct engine *e, struct call *c, struct erun *x,
                       const struct store_run *run)
{
    struct buf names = BUF_INIT, err = BUF_INIT;
    if (x->cancel_requested) {
        reply(e, c, 409, run->id, run->number, "run %lld is being cancelled", (long long)run->id);
        return;
    }
    int rc = runexec_rerun(x->rx, c->req.op == ENGINE_RETRY_JOB ? c->req.name : NULL, RERUN_REASON,
                           &names, &err);
    rerun_reply(e, c, rc, run, &names, &err);
    buf_release(&names);
    buf_release(&err);
}

/*
 * The run has no executor (it has ended): the plan is made on a scheduler
 * restored from the store, the store changes in one transaction, and
 * schedule() adopts the run again as it would after a restart.
 */
static void rerun_stored(struct engine *e, struct call *c, const struct store_run *run,
                         const char *pipeline_src, size_t len)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct buf err = BUF_INIT, names = BUF_INIT;
    struct store_job *jobs = NULL;
    size_t njobs = 0;
    struct sched *s = NULL;
    bool *selected = NULL, *set = NULL;
    int64_t *ids = NULL;
    int rc;
    struct pipeline *p = pipeline_parse(PIPELINE_FILE, pipeline_src, len, NULL, 0, &d);
    if (!p) {
        reply(e, c, 409, run->id, run->number, "run %lld: its pipeline file is not valid",
              (long long)run->id);
        goto out;
    }
    selected = xcalloc(p->njobs + 1, sizeof(bool));
    set = xcalloc(p->njobs + 1, sizeof(bool));
    ids = xcalloc(p->njobs + 1, sizeof(int64_t));
    if (select_jobs(p, run, selected, &err) ||
        store_job_list(e->st, run->id, &jobs, &njobs, &err)) {
        reply(e, c, 500, 0, 0, "%s", err.data);
        goto out;
    }
    s = sched_new(p, selected, 0);
    for (size_t k = 0; k < njobs; k++) {
        long i = pipeline_job_index(p, jobs[k].name);
        int st = job_state_parse(jobs[k].state);
        if (i < 0 || !selected[i] || st < 0)
            continue;
        ids[i] = jobs[k].id;
        sched_restore(s, (size_t)i, (enum job_state)st, jobs[k].attempts, jobs[k].retry_base,
                      jobs[k].reason);
    }
    long target = -1;
    if (c->req.op == ENGINE_RETRY_JOB) {
        target = pipeline_job_index(p, c->req.name);
        if (target < 0 || !ids[target]) {
            rerun_reply(e, c, -ENOENT, run, &names, &err);
            goto out;
        }
    }
    rc = sched_rerun_plan(s, target, set, &err);
    if (rc < 0) {
        rerun_reply(e, c, rc, run, &names, &err);
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < p->njobs; i++) {
        if (!set[i])
            continue;
        if (!ids[i]) {
            reply(e, c, 409, run->id, run->number, "run %lld has no record of job '%s'",
                  (long long)run->id, p->jobs[i].name);
            goto out;
        }
        ids[n++] = ids[i];
        buf_addf(&names, "%s\n", p->jobs[i].name);
    }
    if (store_run_rerun(e->st, run->id, ids, n, RERUN_REASON, &err)) {
        rerun_reply(e, c, -EIO, run, &names, &err);
        goto out;
    }
    /* Committed: now the world may see it, and schedule() adopts it. */
    if (e->sched_after >= run->id)
        e->sched_after = run->id - 1;
    emit(e, run->id, NULL, "running", 0, NULL);
    for (size_t i = 0; i < p->njobs; i++)
        if (set[i])
            emit(e, run->id, p->jobs[i].name, "queued", sched_attempts(s, i), RERUN_REASON);
    rerun_reply(e, c, rc, run, &names, &err);
out:
    sched_free(s);
    pipeline_free(p);
    diag_list_release(&d);
    free(selected);
    free(set);
    free(ids);
    store_jobs_release(jobs, njobs);
    buf_release(&err);
    buf_release(&names);
}

/*
 * The checks that need no pipeline: the run exists, is a server run that has
 * started, has the job. Fills *run (the caller releases it) and returns 0, or
 * replies and returns -1.
 */
static int rerun_check(struct engine *e, struct call *c, struct store_run *run)
{
    const struct engine_request *q = &c->req;
    struct buf err = BUF_INIT;
    int rc = store_run_get(e->st, q->run_id, run, &err);
    if (rc) {
        if (rc == -ENOENT)
            reply(e, c, 404, 0, 0, "no run %lld", (long long)q->run_id);
        else
            reply(e, c, 500, 0, 0, "%s", err.data);
        buf_release(&err);
        return -1;
    }
    if (!repo_by_id(e, run->repo_id)) {
        reply(e, c, 409, run->id, run->number, "run %lld is not a server run", (long long)run->id);
        goto fail;
    }
    if (!strcmp(run->state, "queued")) {
        reply(e, c, 409, run->id, run->number, "run %lld has not started yet", (long long)run->id);
        goto fail;
    }
    if (finishing(any_run(e, run->id))) {
        reply(e, c, 409, run->id, run->number,
              "run %lld has just ended and is still removing its workspaces; retry in a moment",
              (long long)run->id);
        goto fail;
    }
    if (q->op == ENGINE_RETRY_JOB) {
        struct store_job sj = {0};
        rc = store_job_find(e->st, run->id, q->name ? q->name : "", &sj, &err);
        store_job_release(&sj);
        if (rc == -ENOENT) {
            reply(e, c, 404, 0, 0, "run %lld has no job '%s'", (long long)run->id,
                  q->name ? q->name : "");
            goto fail;
        }
        if (rc) {
            reply(e, c, 500, 0, 0, "%s", err.data);
            goto fail;
        }
    }
    buf_release(&err);
    return 0;
fail:
    buf_release(&err);
    store_run_release(run);
    return -1;
}

static void rerun_load_work(uv_work_t *w)
{
    struct pending_rerun *pr = w->data;
    pr->rc = mirror_read_file_with(pr->batch, pr->mirror_dir, pr->commit, PIPELINE_FILE, 1 << 20,
                                   &pr->src, &pr->err);
}

static void rerun_load_done(uv_work_t *w, int status)
{
    struct pending_rerun *pr = w->data;
    struct engine *e = pr->e;
    struct call *c = pr->call;
    struct store_run run = {0};
    (void)status;
    e->reruns_loading--;
    if (e->shutting_down) {
        reply(e, c, 503, 0, 0, "the server is shutting down");
    } else if (rerun_check(e, c, &run) == 0) {
        /* Looked at again: the run may have been adopted meanwhile. */
        struct erun *x = live_run(e, run.id);
        if (x)
            rerun_live(e, c, x, &run);
        else if (pr->rc)
            reply(e, c, 500, 0, 0, "reading the pipeline of run %lld: %s", (long long)run.id,
                  pr->err.data);
        else
            rerun_stored(e, c, &run, pr->src.data, pr->src.len);
        store_run_release(&run);
    }
    free(pr->mirror_dir);
    free(pr->commit);
    buf_release(&pr->src);
    buf_release(&pr->err);
    free(pr);
    schedule(e);
    check_shutdown(e);
}

static void rerun_start(struct engine *e, struct call *c)
{
    struct store_run run = {0};
    if (rerun_check(e, c, &run))
        return;
    struct erun *x = live_run(e, run.id);
    if (x) {
        rerun_live(e, c, x, &run);
        store_run_release(&run);
        return;
    }
    struct pending_rerun *pr = xcalloc(1, sizeof(*pr));
    pr->e = e;
    pr->call = c; /* answered in rerun_load_done */
    pr->mirror_dir = xstrdup(repo_by_id(e, run.repo_id)->dir);
    pr->batch = repo_by_id(e, run.repo_id)->batch;
    pr->commit = xstrdup(run.commit);
    buf_init(&pr->src, 1 << 20);
    buf_init(&pr->err, 0);
    pr->work.data = pr;
    store_run_release(&run);
    e->reruns_loading++;
    uv_queue_work(e->loop, &pr->work, rerun_load_work, rerun_load_done);
}

/* A trigger of ref answered after the next sync of r (call NULL: a
 * schedule's firing, which nobody waits for), queued for that sync; the
 * trigger takes over the caller's reference to call. The caller fills in
 * the rest, then calls start_sync. */
static struct pending_trigger *pending_for(struct erepo *r, struct call *call, const char *ref)
{
    struct pending_trigger *t = xcalloc(1, sizeof(*t));
    t->call = call;
    t->ref = xstrdup(ref);
    buf_init(&t->err, 0);
    t->next = r->triggers_next;
    r->triggers_next = t;
    return t;
}

static void sync_for(struct erepo *r, struct call *call, const char *ref)
{
    pending_for(r, call, ref);
    start_sync(r); /* or again after the sync in progress */
}

/* A trigger answered after the next sync, which sees the ref's current
 * commit; the trigger takes over the caller's reference to c. */
static void trigger_by_sync(struct erepo *r, struct call *c)
{
    sync_for(r, c, c->req.ref);
}

/*
 * The fast path of a trigger, for a repository whose origin is on this
 * machine (a path or file:// URL): its ref is read from the origin's files
 * on the thread pool (exec/originref.h) and compared with the mirror's refs
 * as the last sync left them. When the ref is where the mirror has it, the
 * run is queued at once, of the commit the mirror peels it to (asked of
 * the batch process): no fetch. Anything else (a moved, new or deleted
 * ref, a ref not found, a repository originref does not read) takes the
 * sync's way, as every trigger of a remote origin does. The fast path never
 * changes what the server has seen: a push it passes by is still found by
 * the next sync (notify or poll) and starts its run then.
 */
#define FAST_CANDIDATES    3
#define FAST_INLINE_PACKED (64 << 10)
struct fast_trigger {
    struct engine *e;
    struct erepo *r;
    struct call *c;
    char *url, *dir;
    struct gitbatch *batch;
    /* the names the ref may mean, in the sync's order, and the mirror's object for each */
    char *full[FAST_CANDIDATES];
    char known[FAST_CANDIDATES][41];
    char known_peeled[FAST_CANDIDATES][41]; /* what known peels to, when remembered */
    int pick;                               /* the candidate taken, or -1: the sync's way */
    char sha[41];
    uv_work_t work;
};

static bool url_is_local(const char *url)
{
    return url[0] == '/' || !strncmp(url, "file:///", 8);
}

static void fast_work(uv_work_t *w)
{
    struct fast_trigger *f = w->data;
    struct buf gitdir = BUF_INIT, err = BUF_INIT;
    f->pick = -1;
    if (originref_gitdir(f->url, &gitdir, &err))
        goto out;
    for (int k = 0; k < FAST_CANDIDATES; k++) {
        if (!f->full[k])
            continue;
        char sha[41], peeled[41];
        int rc = originref_read(gitdir.data, f->full[k], sha, peeled, &err);
        if (rc == -ENOENT && !f->known[k][0])
            continue; /* in neither: the next name */
        if (rc || strcmp(sha, f->known[k]))
            goto out; /* moved, created, deleted or unreadable: fetch */
        char commit[41];
        buf_reset(&err);
        if (f->known_peeled[k][0])
            memcpy(commit, f->known_peeled[k], sizeof(commit));
        else if (mirror_resolve_with(f->batch, f->dir, sha, commit, &err))
            goto out;
        memcpy(f->sha, commit, sizeof(commit));
        f->pick = k;
        break;
    }
out:
    buf_release(&gitdir);
    buf_release(&err);
}

static void fast_done(uv_work_t *w, int status)
{
    struct fast_trigger *f = w->data;
    struct engine *e = f->e;
    (void)status;
    e->fast_triggers--;
    if (e->shutting_down) {
        reply(e, f->c, 503, 0, 0, "the server is shutting down");
    } else if (f->pick < 0) {
        trigger_by_sync(f->r, f->c);
    } else {
        const char *fullref = f->full[f->pick];
        const char *kind = ref_kind(f->r, fullref);
        queue_run_reply(e, f->c, f->r, kind ? kind : "manual", fullref, f->sha,
                        &(struct run_origin){.trigger = "api"});
        schedule(e);
    }
    for (int k = 0; k < FAST_CANDIDATES; k++)
        free(f->full[k]);
    free(f->url);
    free(f->dir);
    free(f);
    check_shutdown(e);
}

/* Starts the fast path of a trigger; false when it does not apply. */
static bool fast_trigger(struct engine *e, struct erepo *r, struct call *c)
{
    static const char *const prefixes[FAST_CANDIDATES] = {"", "refs/heads/", "refs/tags/"};
    const char *ref = c->req.ref;
    if (!r->seen_known || !url_is_local(r->url))
        return false;
    struct fast_trigger *f = xcalloc(1, sizeof(*f));
    for (int k = 0; k < FAST_CANDIDATES; k++) {
        if (k == 0 && strncmp(ref, "refs/", 5))
            continue;
        struct buf full = BUF_INIT;
        buf_addf(&full, "%s%s", prefixes[k], ref);
        /* the mirror has branches and tags only: another ref is "not there" */
        const char *sha = refs_get(&r->seen, full.data);
        if (sha) {
            memcpy(f->known[k], sha, 41);
            if (!mirror_resolve_known(r->dir, sha, f->known_peeled[k]))
                f->known_peeled[k][0] = '\0';
        }
        f->full[k] = buf_detach(&full, NULL);
    }
    f->e = e;
    f->r = r;
    f->c = c;
    f->url = xstrdup(r->url);
    f->dir = xstrdup(r->dir);
    f->batch = r->batch;
    f->work.data = f;
    e->fast_triggers++;
    /* With a name's commit known, and every known one's peeled commit,
     * what is left is reading a ref file or two of the origin (or a small
     * packed-refs): done here, without the thread pool's round trip. */
    bool inline_ok = false;
    for (int k = 0; k < FAST_CANDIDATES; k++)
        if (f->known[k][0])
            inline_ok = true;
    for (int k = 0; k < FAST_CANDIDATES; k++)
        if (f->known[k][0] && !f->known_peeled[k][0])
            inline_ok = false;
    if (inline_ok) {
        /* and only a small packed-refs to look through, if any */
        struct buf gitdir = BUF_INIT, ignored = BUF_INIT;
        struct stat st;
        if (originref_gitdir(f->url, &gitdir, &ignored)) {
            inline_ok = false;
        } else {
            buf_adds(&gitdir, "/packed-refs");
            inline_ok = stat(gitdir.data, &st) ? errno == ENOENT : st.st_size <= FAST_INLINE_PACKED;
        }
        buf_release(&gitdir);
        buf_release(&ignored);
    }
    if (inline_ok) {
        fast_work(&f->work);
        fast_done(&f->work, 0);
    } else {
        uv_queue_work(e->loop, &f->work, fast_work, fast_done);
    }
    return true;
}

static void handle(struct engine *e, struct call *c)
{
    const struct engine_request *q = &c->req;
    struct buf err = BUF_INIT;

    if (e->shutting_down) {
        reply(e, c, 503, 0, 0, "the server is shutting down");
        return;
    }
    switch (q->op) {
    case ENGINE_REPO_ADD: {
        if (!q->name || !name_ok(q->name)) {
            reply(e, c, 400, 0, 0,
                  "a repository name uses letters, digits, '_', '-' and '.' (at most 100)");
            break;
        }
        if (!q->url || mirror_url_ok(q->url, &err)) {
            reply(e, c, 400, 0, 0, "%s", err.len ? err.data : "a repository needs a url");
            break;
        }
        if (q->main_branch && !refs_name_ok(q->main_branch)) {
            reply(e, c, 400, 0, 0, "'%s' is not a valid branch name", q->main_branch);
            break;
        }
        if (repo_by_name(e, q->name)) {
            reply(e, c, 409, 0, 0, "a repository named '%s' exists already", q->name);
            break;
        }
        struct store_repo sr = {0};
        sr.name = (char *)q->name;
        sr.url = (char *)q->url;
        sr.main_branch = (char *)(q->main_branch ? q->main_branch : "main");
        sr.poll_s = q->poll_s >= 0 ? q->poll_s : e->cfg.default_poll_s;
        sr.created_ms = store_now_ms();
        sr.id = store_repo_insert(e->st, &sr, &err);
        if (sr.id < 0) {
            reply(e, c, 500, 0, 0, "%s", err.data);
            break;
        }
        struct erepo *r = repo_attach(e, &sr);
        start_sync(r);
        reply(e, c, 201, sr.id, 0, NULL);
        break;
    }
    case ENGINE_SYNC: {
        struct erepo *r = q->name ? repo_by_name(e, q->name) : NULL;
        if (!r) {
            reply(e, c, 404, 0, 0, "no repository '%s'", q->name ? q->name : "");
            break;
        }
        start_sync(r);
        reply(e, c, 202, r->id, 0, NULL);
        break;
    }
    case ENGINE_TRIGGER: {
        struct erepo *r = q->name ? repo_by_name(e, q->name) : NULL;
        if (!r) {
            reply(e, c, 404, 0, 0, "no repository '%s'", q->name ? q->name : "");
            break;
        }
        if (!q->ref || !*q->ref || strlen(q->ref) > 255) {
            reply(e, c, 400, 0, 0, "a trigger needs a ref (a branch or a tag)");
            break;
        }
        if (!fast_trigger(e, r, c))
            trigger_by_sync(r, c);
        break;
    }
    case ENGINE_PULL: {
        struct erepo *r = q->name ? repo_by_name(e, q->name) : NULL;
        if (!r) {
            reply(e, c, 404, 0, 0, "no repository '%s'", q->name ? q->name : "");
            break;
        }
        if (!q->ref || !engine_pull_ref_ok(q->ref)) {
            reply(e, c, 400, 0, 0, "'%s' is not the ref of a pull or merge request",
                  q->ref ? q->ref : "");
            break;
        }
        if (!q->commit || strlen(q->commit) != 40 || strspn(q->commit, "0123456789abcdef") != 40) {
            reply(e, c, 400, 0, 0, "a pull request's run needs its commit (40 hex digits)");
            break;
        }
        if (q->branch && *q->branch && (strlen(q->branch) > 255 || !refs_name_ok(q->branch))) {
            reply(e, c, 400, 0, 0, "'%s' is not a valid branch name", q->branch);
            break;
        }
        pthread_mutex_lock(&e->mu);
        c->refs++; /* the pending trigger holds its own reference */
        pthread_mutex_unlock(&e->mu);
        struct pending_trigger *t = pending_for(r, c, q->ref);
        t->pull = true;
        t->fork = q->flag;
        t->commit = xstrdup(q->commit);
        t->branch = xstrdup(q->branch ? q->branch : "");
        start_sync(r);
        call_unref(e, c);
        break;
    }
    case ENGINE_CANCEL: {
        struct store_run run = {0};
        int rc = store_run_get(e->st, q->run_id, &run, &err);
        if (rc) {
            reply(e, c, rc == -ENOENT ? 404 : 500, 0, 0, "no run %lld", (long long)q->run_id);
            break;
        }
        if (strcmp(run.state, "queued") && strcmp(run.state, "running")) {
            reply(e, c, 409, run.id, run.number, "run %lld has ended (%s)", (long long)run.id,
                  run.state);
            store_run_release(&run);
            break;
        }
        struct erun *x = NULL;
        bool recorded = false; /* here, not by the run's executor */
        for (struct erun *y = e->runs; y; y = y->next)
            if (y->run_id == run.id)
                x = y;
        if (x) {
            x->cancel_requested = true;
            if (x->rx)
                runexec_cancel(x->rx, "cancelled through the API");
        } else {
            free(run.state);
            run.state = xstrdup("cancelled");
            run.finished_ms = store_now_ms();
            recorded = store_run_update(e->st, &run, &err) == 0;
        }
        if (reply(e, c, 202, run.id, run.number, NULL) == 202 && recorded)
            emit(e, run.id, NULL, "cancelled", 0, "cancelled through the API");
        store_run_release(&run);
        break;
    }
    case ENGINE_RELEASE_MARK: {
        struct erepo *r = repo_by_name(e, q->name ? q->name : "");
        struct store_release rel = {0};
        int rc =
            r ? store_release_get(e->st, r->id, q->version ? q->version : "", &rel, &err) : -ENOENT;
        if (rc == -ENOENT && !r)
            reply(e, c, 404, 0, 0, "no repository '%s'", q->name ? q->name : "");
        else if (rc == -ENOENT)
            reply(e, c, 404, 0, 0, "repository '%s' has no release '%s'", r->name, q->version);
        else if (rc || store_release_set_bad(e->st, rel.id, q->reason, &err))
            reply(e, c, 500, 0, 0, "%s", err.data);
        else {
            emit(e, rel.run_id, NULL, q->reason ? "release-bad" : "release-good", 0,
                 q->reason ? q->reason : rel.version);
            reply(e, c, 200, rel.id, rel.number, NULL);
        }
        store_release_release(&rel);
        break;
    }
    case ENGINE_DEPLOY:
    case ENGINE_ROLLBACK:
    case ENGINE_LINE: {
        struct erepo *r = repo_by_name(e, q->name ? q->name : "");
        int64_t id = 0;
        int status;
        if (!r) {
            reply(e, c, 404, 0, 0, "no repository '%s'", q->name ? q->name : "");
            break;
        }
        if (q->op == ENGINE_DEPLOY)
            status = deployer_deploy(e->dep, r->id, q->version ? q->version : "",
                                     q->env ? q->env : "", q->actor, &id, &err);
        else if (q->op == ENGINE_ROLLBACK)
            status = deployer_rollback(e->dep, r->id, q->env ? q->env : "", q->version, q->actor,
                                       &id, &err);
        else
            status = deployer_line(e->dep, r->id, q->flag, q->actor, q->reason, &err);
        reply(e, c, status, id, 0, "%s", err.data);
        break;
    }
    case ENGINE_DECIDE: {
        int status = deployer_decide(e->dep, q->run_id, q->flag, q->actor, q->reason, &err);
        reply(e, c, status, q->run_id, 0, "%s", err.data);
        break;
    }
    case ENGINE_CANCEL_JOB: {
        struct erun *x = NULL;
        for (struct erun *y = e->runs; y; y = y->next)
            if (y->run_id == q->run_id)
                x = y;
        if (!x || !x->rx) {
            reply(e, c, 409, 0, 0, "run %lld is not running", (long long)q->run_id);
            break;
        }
        int rc = runexec_cancel_job(x->rx, q->name ? q->name : "", "cancelled through the API");
        if (rc == -ENOENT)
            reply(e, c, 404, 0, 0, "run %lld has no job '%s'", (long long)q->run_id,
                  q->name ? q->name : "");
        else if (rc)
            reply(e, c, 409, 0, 0, "job '%s' has ended", q->name);
        else
            reply(e, c, 202, x->run_id, x->row.number, NULL);
        break;
    }
    case ENGINE_RETRY_JOB:
    case ENGINE_RETRY_FAILED:
        rerun_start(e, c);
        break;
    case ENGINE_RETRY: {
        struct store_run run = {0};
        int rc = store_run_get(e->st, q->run_id, &run, &err);
        if (rc) {
            reply(e, c, rc == -ENOENT ? 404 : 500, 0, 0, "no run %lld", (long long)q->run_id);
            break;
        }
        struct erepo *r = repo_by_id(e, run.repo_id);
        if (!r) {
            reply(e, c, 409, 0, 0, "run %lld is not a server run", (long long)run.id);
            store_run_release(&run);
            break;
        }
        if (!strcmp(run.state, "queued") || !strcmp(run.state, "running")) {
            reply(e, c, 409, run.id, run.number, "run %lld is still %s", (long long)run.id,
                  run.state);
            store_run_release(&run);
            break;
        }
        /* The same commit, ref and branch; a run of a fork's change stays one. */
        struct run_origin o = {
            .trigger = "retry", .retry_of = run.id, .branch = run.branch, .fork = run.fork};
        queue_run_reply(e, c, r, run.kind, run.ref, run.commit, &o);
        store_run_release(&run);
        break; /* schedule() follows, as after every command */
    }
    }
    buf_release(&err);
    schedule(e);
}

bool engine_pull_ref_ok(const char *ref)
{
    static const char *const prefixes[] = {"refs/pull/", "refs/merge-requests/"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(ref, prefixes[i], n))
            continue;
        const char *p = ref + n;
        size_t d = strspn(p, "0123456789");
        return d >= 1 && d <= 10 && p[0] != '0' && !strcmp(p + d, "/head");
    }
    return false;
}

static void on_wake(uv_async_t *h)
{
    struct engine *e = h->data;
    pthread_mutex_lock(&e->mu);
    struct call *c = e->calls;
    e->calls = NULL;
    pthread_mutex_unlock(&e->mu);
    /* Oldest first. */
    struct call *rev = NULL;
    while (c) {
        struct call *n = c->next;
        c->next = rev;
        rev = c;
        c = n;
    }
    while (rev) {
        struct call *n = rev->next;
        handle(e, rev);
        rev = n;
    }
}

int engine_repo_ensure(struct engine *e, const char *name, const char *url, const char *main_branch,
                       int poll_s, struct buf *err)
{
    if (!name_ok(name)) {
        buf_addf(err, "'%s' is not a valid repository name", name);
        return -1;
    }
    if (mirror_url_ok(url, err))
        return -1;
    if (!main_branch)
        main_branch = "main";
    if (!refs_name_ok(main_branch)) {
        buf_addf(err, "'%s' is not a valid branch name", main_branch);
        return -1;
    }
    if (poll_s < 0)
        poll_s = e->cfg.default_poll_s;
    struct erepo *r = repo_by_name(e, name);
    if (!r) {
        struct store_repo sr = {0};
        sr.name = (char *)name;
        sr.url = (char *)url;
        sr.main_branch = (char *)main_branch;
        sr.poll_s = poll_s;
        sr.created_ms = store_now_ms();
        sr.id = store_repo_insert(e->st, &sr, err);
        if (sr.id < 0)
            return -1;
        start_sync(repo_attach(e, &sr));
        return 0;
    }
    if (!strcmp(r->url, url) && !strcmp(r->main_branch, main_branch) && r->poll_s == poll_s)
        return 0;
    struct store_repo sr = {0};
    sr.id = r->id;
    sr.name = r->name;
    sr.url = (char *)url;
    sr.main_branch = (char *)main_branch;
    sr.poll_s = poll_s;
    if (store_repo_update(e->st, &sr, err))
        return -1;
    free(r->url);
    r->url = xstrdup(url);
    free(r->main_branch);
    r->main_branch = xstrdup(main_branch);
    r->poll_s = poll_s;
    uv_timer_stop(&r->timer);
    r->timer_on = poll_s > 0;
    if (poll_s > 0)
        uv_timer_start(&r->timer, on_poll, 10, (uint64_t)poll_s * 1000);
    return 0;
}

/* ---- schedules -------------------------------------------------------------------- */

static void arm_schedule(struct esched *sc);

static void on_schedule(uv_timer_t *t)
{
    struct esched *sc = t->data;
    struct erepo *r = sc->repo;
    sync_for(r, NULL, sc->ref);
    arm_schedule(sc);
}

static void arm_schedule(struct esched *sc)
{
    int64_t now_ms = store_now_ms();
    int64_t next = cron_next(&sc->cron, now_ms / 1000, sc->tz_offset_s);
    if (next < 0)
        return; /* never again */
    int64_t wait = next * 1000 - now_ms;
    uv_timer_start(&sc->timer, on_schedule, (uint64_t)(wait > 0 ? wait : 0), 0);
}

int engine_schedule_add(struct engine *e, const char *name, const char *cron, const char *ref,
                        int tz_offset_s, struct buf *err)
{
    struct erepo *r = repo_by_name(e, name);
    struct cron c;
    if (!r) {
        buf_addf(err, "no repository '%s'", name);
        return -1;
    }
    if (cron_parse(cron, &c, err))
        return -1;
    if (cron_next(&c, store_now_ms() / 1000, tz_offset_s) < 0) {
        buf_addf(err, "the schedule '%s' never fires", cron);
        return -1;
    }
    struct esched *sc = xcalloc(1, sizeof(*sc));
    sc->e = e;
    sc->repo = r;
    sc->cron = c;
    sc->ref = xstrdup(ref && *ref ? ref : r->main_branch);
    sc->tz_offset_s = tz_offset_s;
    uv_timer_init(e->loop, &sc->timer);
    sc->timer.data = sc;
    sc->next = e->schedules;
    e->schedules = sc;
    arm_schedule(sc);
    return 0;
}

/* ---- retention ------------------------------------------------------------------ */

static void remove_tree(const char *path)
{
    struct buf err = BUF_INIT;
    if (ws_remove(path, &err))
        fprintf(stderr, "flywheel serve: retention: %s\n", err.data);
    buf_release(&err);
}

/* Removes the blobs of the artifact store that no artifact record names. */
static void collect_blobs(struct engine *e, struct store *st)
{
    struct buf dir = BUF_INIT, path = BUF_INIT, digest = BUF_INIT, err = BUF_INIT;
    buf_addf(&dir, "%s/sha256", e->cas_dir);
    DIR *top = opendir(dir.data);
    struct dirent *a;
    while (top && (a = readdir(top))) {
        if (strlen(a->d_name) != 2)
            continue;
        buf_reset(&path);
        buf_addf(&path, "%s/%s", dir.data, a->d_name);
        DIR *sub = opendir(path.data);
        struct dirent *b;
        while (sub && (b = readdir(sub))) {
            if (strlen(b->d_name) != 64)
                continue;
            buf_reset(&digest);
            buf_addf(&digest, "sha256:%s", b->d_name);
            if (store_digest_used(st, digest.data, &err) == 0) {
                struct buf blob = BUF_INIT;
                buf_addf(&blob, "%s/%s", path.data, b->d_name);
                unlink(blob.data);
                buf_release(&blob);
            }
            buf_reset(&err);
        }
        if (sub)
            closedir(sub);
    }
    if (top)
        closedir(top);
    buf_release(&dir);
    buf_release(&path);
    buf_release(&digest);
    buf_release(&err);
}

static bool finished(const char *state)
{
    return strcmp(state, "queued") && strcmp(state, "running");
}

static void retention_work(uv_work_t *w)
{
    struct engine *e = w->data;
    struct store *st = NULL;
    struct store_repo *repos = NULL;
    size_t nrepos = 0;
    struct buf err = BUF_INIT;
    int64_t cutoff = store_now_ms() - e->keep_ms;

    if (store_open(&st, e->db_path, &err) || store_repo_list(st, &repos, &nrepos, &err)) {
        fprintf(stderr, "flywheel serve: retention: %s\n", err.data);
        goto out;
    }
    for (size_t r = 0; r < nrepos; r++) {
        struct store_run_filter f = {0};
        f.repo_id = repos[r].id;
        f.limit = 1000;
        size_t seen = 0;
        for (;;) {
            struct store_run *v = NULL;
            size_t n = 0;
            if (store_run_query(st, &f, &v, &n, &err)) {
                fprintf(stderr, "flywheel serve: retention: %s\n", err.data);
                break;
            }
            for (size_t i = 0; i < n; i++, seen++) {
                if (e->keep_runs && seen < (size_t)e->keep_runs)
                    continue;
                if (e->keep_ms && v[i].created_ms >= cutoff)
                    continue;
                if (!finished(v[i].state))
                    continue;
                /* An environment ran its release: the release and its run stay. */
                if (store_run_has_deployed_release(st, v[i].id, &err) != 0) {
                    buf_reset(&err);
                    continue;
                }
                int drc = store_run_delete(st, v[i].id, &err);
                if (drc) {
                    /* -EBUSY: running again (a retry of its jobs) since it was listed */
                    if (drc != -EBUSY)
                        fprintf(stderr, "flywheel serve: retention: %s\n", err.data);
                    buf_reset(&err);
                    continue;
                }
                struct buf p = BUF_INIT;
                buf_addf(&p, "%s/logs/%lld", e->cfg.data_dir, (long long)v[i].id);
                remove_tree(p.data);
                buf_reset(&p);
                buf_addf(&p, "%s/work/%lld", e->cfg.data_dir, (long long)v[i].id);
                remove_tree(p.data);
                buf_release(&p);
            }
            int64_t last = n ? v[n - 1].id : 0;
            store_runs_release(v, n);
            if (n < f.limit)
                break;
            f.before_id = last;
        }
    }
    collect_blobs(e, st);
out:
    store_repos_release(repos, nrepos);
    if (st)
        store_close(st);
    buf_release(&err);
}

static void retention_done(uv_work_t *w, int status)
{
    struct engine *e = w->data;
    (void)status;
    e->retention_busy = false;
    check_shutdown(e);
}

static void on_retention(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (e->retention_busy || e->shutting_down || (!e->keep_runs && !e->keep_ms))
        return;
    e->retention_busy = true;
    e->retention_work.data = e;
    uv_queue_work(e->loop, &e->retention_work, retention_work, retention_done);
}

void engine_set_retention(struct engine *e, int keep_runs, int64_t keep_ms, int64_t interval_ms)
{
    e->keep_runs = keep_runs;
    e->keep_ms = keep_ms;
    if (interval_ms < 1000)
        interval_ms = 1000;
    uv_timer_start(&e->retention_timer, on_retention, 1000, (uint64_t)interval_ms);
}

/*
 * Maintenance of the mirrors: their fetches leave it out, so that no
 * trigger waits for a repack; it runs here instead, on the thread pool,
 * a minute after the start and then every hour. The batch processes let
 * go of the packs a repack removed by being started again.
 */
#define MAINT_FIRST_MS 60000
#define MAINT_EVERY_MS 3600000

static void maint_work(uv_work_t *w)
{
    struct engine *e = w->data;
    for (size_t i = 0; i < e->maint_n; i++) {
        struct buf err = BUF_INIT;
        if (mirror_maintain(e->maint_dirs[i], &err))
            fprintf(stderr, "flywheel serve: maintenance: %s\n", err.data);
        gitbatch_stop(e->maint_batches[i]);
        buf_release(&err);
    }
}

static void maint_done(uv_work_t *w, int status)
{
    struct engine *e = w->data;
    (void)status;
    /* The syncs asked for meanwhile go now. */
    for (struct erepo *r = e->repos; r; r = r->next) {
        if (!r->maintaining)
            continue;
        r->maintaining = false;
        if (r->sync_again && !e->shutting_down) {
            r->sync_again = false;
            start_sync(r);
        }
    }
    for (size_t i = 0; i < e->maint_n; i++)
        free(e->maint_dirs[i]);
    free(e->maint_dirs);
    free(e->maint_batches);
    e->maint_dirs = NULL;
    e->maint_batches = NULL;
    e->maint_n = 0;
    e->maint_busy = false;
    check_shutdown(e);
}

static void on_maint(uv_timer_t *t)
{
    struct engine *e = t->data;
    size_t n = 0;
    if (e->maint_busy || e->shutting_down)
        return;
    /* Not beside a fetch of the same mirror (both take git's ref locks): a
     * mirror that is syncing now waits for the next round, and a sync asked
     * for during the maintenance waits for its end. */
    for (struct erepo *r = e->repos; r; r = r->next)
        n += !r->syncing;
    if (!n)
        return;
    e->maint_dirs = xcalloc(n, sizeof(char *));
    e->maint_batches = xcalloc(n, sizeof(struct gitbatch *));
    for (struct erepo *r = e->repos; r; r = r->next) {
        if (r->syncing)
            continue;
        r->maintaining = true;
        e->maint_dirs[e->maint_n] = xstrdup(r->dir);
        e->maint_batches[e->maint_n++] = r->batch;
    }
    e->maint_busy = true;
    e->maint_work.data = e;
    uv_queue_work(e->loop, &e->maint_work, maint_work, maint_done);
}

/* ---- life cycle ------------------------------------------------------------- */

/* The deployer's view of repositories and of the clock. */
static const char *repo_name_of(void *ctx, int64_t id)
{
    struct erepo *r = repo_by_id(ctx, id);
    return r ? r->name : NULL;
}

static const char *repo_mirror_of(void *ctx, int64_t id)
{
    struct erepo *r = repo_by_id(ctx, id);
    return r ? r->dir : NULL;
}

static int64_t engine_clock(void *ctx)
{
    (void)ctx;
    return store_now_ms(); /* with serve's --clock-offset, like every time recorded */
}

/*
 * Releases still pending after a restart: a run that passed but stopped
 * before its release was recorded gets it now; the pipeline is read again
 * from the commit. Runs still to finish make theirs when they end.
 */
static void recover_releases(struct engine *e)
{
    int64_t ids[256];
    size_t n = 0;
    struct buf err = BUF_INIT, src = BUF_INIT;
    if (store_runs_release_pending(e->st, ids, 256, &n, &err))
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    for (size_t i = 0; i < n; i++) {
        struct store_run run = {0};
        struct erepo *r = NULL;
        buf_reset(&err);
        if (store_run_get(e->st, ids[i], &run, &err) == 0 && !finished(run.state)) {
            store_run_release(&run);
            continue;
        }
        if (run.id && !strcmp(run.state, "passed") && (r = repo_by_id(e, run.repo_id))) {
            struct diag_list d = DIAG_LIST_INIT;
            struct pipeline *p = NULL;
            buf_reset(&src);
            if (mirror_read_file_with(r->batch, r->dir, run.commit, PIPELINE_FILE, 1 << 20, &src,
                                      &err) == 0)
                p = pipeline_parse(PIPELINE_FILE, src.data, src.len, NULL, 0, &d);
            if (p)
                make_release(e, run.id, r, p, src.data, src.len);
            pipeline_free(p);
            diag_list_release(&d);
        }
        /* Whatever happened, the run is not retried for ever. */
        if (store_run_set_release_pending(e->st, ids[i], false, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        store_run_release(&run);
    }
    buf_release(&err);
    buf_release(&src);
}

static int mkdir_if(const char *path, struct buf *err)
{
    if (mkdir(path, 0755) && errno != EEXIST) {
        buf_addf(err, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int engine_open(struct engine **out, uv_loop_t *loop, const struct engine_config *cfg,
                struct buf *err)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    struct buf b = BUF_INIT;
    struct store_repo *repos = NULL;
    size_t nrepos = 0;

    e->loop = loop;
    e->cfg = *cfg;
    if (e->cfg.slots < 1)
        e->cfg.slots = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->key_mu, NULL);
    uv_async_init(loop, &e->wake, on_wake);
    e->wake.data = e;
    uv_timer_init(loop, &e->shutdown_timer);
    e->shutdown_timer.data = e;
    uv_timer_init(loop, &e->retention_timer);
    uv_timer_init(loop, &e->maint_timer);
    e->maint_timer.data = e;
    uv_timer_start(&e->maint_timer, on_maint, MAINT_FIRST_MS, MAINT_EVERY_MS);
    uv_timer_init(loop, &e->trim_timer);
    e->trim_timer.data = e;
    e->retention_timer.data = e;

    if (mkdir_if(cfg->data_dir, err))
        goto fail;
    buf_addf(&b, "%s/git", cfg->data_dir);
    e->git_dir = buf_detach(&b, NULL);
    buf_addf(&b, "%s/cas", cfg->data_dir);
    e->cas_dir = buf_detach(&b, NULL);
    buf_addf(&b, "%s/flywheel.db", cfg->data_dir);
    e->db_path = buf_detach(&b, NULL);
    buf_addf(&b, "%s/state", cfg->data_dir);
    if (mkdir_if(e->git_dir, err) || mkdir_if(b.data, err))
        goto fail;
    buf_reset(&b);
    /* the runs' log directories are made in it at their first output */
    buf_addf(&b, "%s/logs", cfg->data_dir);
    if (mkdir_if(b.data, err))
        goto fail;
    buf_adds(&b, "/" LOGS_NEXT);
    e->logs_next = buf_detach(&b, NULL);
    if (store_open(&e->st, e->db_path, err) || cas_open(&e->cas, e->cas_dir, err))
        goto fail;
    if (store_repo_list(e->st, &repos, &nrepos, err))
        goto fail;
    for (size_t i = 0; i < nrepos; i++)
        seen_from_store(repo_attach(e, &repos[i]));
    store_repos_release(repos, nrepos);
    /* A key file that is there is checked now, though parsed at first use. */
    buf_addf(&b, "%s/signing-key.pem", cfg->data_dir);
    e->key_path = buf_detach(&b, NULL);
    if (sign_key_check(e->key_path, err))
        goto fail;
    struct deployer_config dc = {
        .loop = loop,
        .st = e->st,
        .cas = e->cas,
        .data_dir = cfg->data_dir,
        .now_ms = engine_clock,
        .event = emit_json,
        .repo_name = repo_name_of,
        .repo_mirror = repo_mirror_of,
        .ctx = e,
    };
    if (deployer_open(&e->dep, &dc, err))
        goto fail;
    /* After the deployer: a release made now enters its first environment. */
    recover_releases(e);
    *out = e;
    /* Runs that were running when the server stopped are adopted again. */
    schedule(e);
    logs_ahead(e); /* for the first run that prints */
    trim_later(e); /* what opening the store and the migrations freed */
    buf_release(&b);
    return 0;
fail:
    engine_free(e);
    *out = NULL;
    buf_release(&b);
    return -1;
}

static void check_shutdown(struct engine *e)
{
    if (!e->shutting_down || !e->shutdown_done)
        return;
    int used;
    pthread_mutex_lock(&e->mu);
    used = e->slots_used;
    pthread_mutex_unlock(&e->mu);
    bool syncing = e->retention_busy || e->maint_busy || e->reruns_loading > 0 ||
                   e->changes_reading > 0 || e->fast_triggers > 0 ||
                   (e->dep && deployer_running(e->dep));
    for (struct erepo *r = e->repos; r; r = r->next)
        syncing |= r->syncing;
    if (used == 0 && !syncing) {
        void (*done)(void *) = e->shutdown_done;
        e->shutdown_done = NULL;
        uv_timer_stop(&e->shutdown_timer);
        done(e->shutdown_ctx);
    }
}

static void on_shutdown_timer(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (!e->shutdown_done)
        return;
    /* Grace is over: the jobs still running are left to the next start, which
     * records their attempts as interrupted; their leaders stop them when this
     * process exits. */
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    done(e->shutdown_ctx);
}

void engine_shutdown(struct engine *e, void (*done)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&e->mu);
    e->shutting_down = true;
    pthread_mutex_unlock(&e->mu);
    e->shutdown_done = done;
    e->shutdown_ctx = ctx;
    for (struct erepo *r = e->repos; r; r = r->next)
        if (r->timer_on)
            uv_timer_stop(&r->timer);
    uv_timer_stop(&e->retention_timer);
    uv_timer_stop(&e->maint_timer);
    for (struct esched *sc = e->schedules; sc; sc = sc->next)
        uv_timer_stop(&sc->timer);
    /* Deploy commands stop now: they run again on the next start. */
    if (e->dep)
        deployer_stop(e->dep);
    /* Answer the waiting callers. */
    on_wake(&e->wake);
    uv_timer_start(&e->shutdown_timer, on_shutdown_timer, (uint64_t)e->cfg.grace_ms, 0);
    check_shutdown(e);
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    struct erepo *r = e->repos;
    while (r) {
        struct erepo *n = r->next;
        free(r->name);
        free(r->url);
        free(r->main_branch);
        free(r->dir);
        gitbatch_free(r->batch);
        refs_release(&r->seen);
        buf_release(&r->err);
        uv_close((uv_handle_t *)&r->timer, NULL);
        free(r);
        r = n;
    }
    struct esched *sc = e->schedules;
    while (sc) {
        struct esched *n = sc->next;
        uv_close((uv_handle_t *)&sc->timer, NULL);
        free(sc->ref);
        free(sc);
        sc = n;
    }
    struct erun *x = e->runs;
    while (x) {
        struct erun *n = x->next;
        erun_free(x);
        x = n;
    }
    deployer_free(e->dep);
    if (e->st)
        store_close(e->st);
    if (e->cas)
        cas_close(e->cas);
    sign_key_free(e->key);
    free(e->key_path);
    pthread_mutex_destroy(&e->key_mu);
    uv_close((uv_handle_t *)&e->wake, NULL);
    uv_close((uv_handle_t *)&e->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&e->retention_timer, NULL);
    uv_close((uv_handle_t *)&e->maint_timer, NULL);
    uv_close((uv_handle_t *)&e->trim_timer, NULL);
    free(e->git_dir);
    free(e->cas_dir);
    free(e->logs_next);
    free(e->db_path);
    for (size_t i = 0; i < ENGINE_EVENTS; i++)
        free(e->events[i]);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* The signing key, loaded or created the first time it is asked for;
 * NULL with a reason in err when it cannot be. Any thread. */
static const struct sign_key *engine_key(struct engine *e, struct buf *err)
{
    pthread_mutex_lock(&e->key_mu);
    if (!e->key && sign_key_load_or_create(&e->key, e->key_path, err))
        e->key = NULL;
    const struct sign_key *k = e->key;
    pthread_mutex_unlock(&e->key_mu);
    return k;
}

int engine_public_key(struct engine *e, struct buf *pem, char keyid[ENGINE_KEYID_LEN + 1],
                      struct buf *err)
{
    const struct sign_key *k = engine_key(e, err);
    if (!k)
        return -1;
    sign_key_public_pem(k, pem);
    sign_key_id(k, keyid);
    return 0;
}

void engine_stats(struct engine *e, struct engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    out->slots = e->cfg.slots;
    out->slots_used = e->slots_used;
    out->log_bytes = e->log_bytes;
    out->jobs_waiting = e->jobs_waiting;
    memcpy(out->job_duration, e->job_hist, sizeof(out->job_duration));
    pthread_mutex_unlock(&e->mu);
    out->deploy_tasks = 0;
    memset(out->measurements, 0, sizeof(out->measurements));
    if (e->dep)
        deployer_stats(e->dep, &out->deploy_tasks, out->measurements);
}
