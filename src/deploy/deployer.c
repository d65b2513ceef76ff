#include "deploy/deployer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mask.h"
#include "core/pipeline.h"
#include "core/secret.h"
#include "core/verify.h"
#include "core/window_eval.h"
#include "deploy/check.h"
#include "exec/workspace.h"
#include "store/auth.h"
#include "store/deploy.h"
#include "store/release.h"
#include "store/secret.h"
#include "util/xalloc.h"

/* A deployment paused for a person fails after this long without an answer. */
#define PAUSE_DEADLINE_MS (24LL * 3600 * 1000)
/* SIGTERM -> SIGKILL for a deploy command that ran out of time. */
#define KILL_GRACE_MS 5000
/* Measurements kept in the history per deployment. */
#define MAX_MEASUREMENTS 10000

enum phase {
    PH_IDLE,      /* loaded, nothing running */
    PH_PRECHECK,  /* queued: are the environment's checks passing right now? */
    PH_APPROVAL,  /* waiting for a person */
    PH_PREPARE,   /* checkout and files, on the thread pool */
    PH_DEPLOYING, /* a wave's commands */
    PH_BAKING,    /* a wave's checks */
    PH_MONITOR,   /* checks after the last wave */
    PH_PAUSED,    /* waiting for a person */
    PH_DONE,
};

/* One release a deployment installs somewhere: a deployment has one, a
 * rollback one per distinct release the targets go back to. */
struct rinfo {
    struct store_release rel;
    struct pipeline *p;
    const struct pl_environment *env;
    char *src_dir, *art_dir;
};

/* One target's command in one wave. */
struct plan {
    char *target;
    int wave;
    struct rinfo *ri;
    const struct pl_target *pt; /* in ri->env; NULL when the release does not know it */
    int64_t prev_release_id;
    int64_t planned_id; /* a rollback's step recorded when it was planned, used by its first run */
};

struct dep;

struct dcmd {
    struct dep *a;
    struct plan *pl;
    uint64_t gen;
    uv_process_t proc;
    uv_timer_t timer;
    int handles;
    bool timed_out, exited;
    int64_t exit_status;
    int term_signal;
    struct store_deploy_step step;
    struct dcmd *next; /* in its deployment's list of commands */
};

struct probe {
    struct dep *a;
    size_t slot;
    uint64_t gen;
    uv_work_t work;
    const struct pl_check *check;
    char **vars;
    char *dir;
    struct check_result res;
};

struct dep {
    struct deployer *d;
    struct store_deployment row;
    char *repo, *mirror;
    struct rinfo *ri; /* [nri] */
    size_t nri;
    struct plan *plan; /* [nplan] */
    size_t nplan;
    int nwaves;
    const struct pl_environment *env; /* of ri[0] */
    enum phase phase;
    enum phase paused_from; /* what approve() goes on with */
    bool resume_monitor;    /* after a restart: prepare, then monitor again */
    uint64_t gen;           /* bumped at each phase change: late callbacks are ignored */
    uv_timer_t timer, tick;
    int refs;
    bool retired;
    /* commands of the wave */
    struct dcmd *cmds;
    int cmds_running;
    bool rollback_pending; /* failed: the rollback starts when its commands are gone */
    int cmds_left;
    bool cmd_failed;
    struct buf fail_reason;
    /* checks: one slot per (check, target) */
    struct verify *ver;
    size_t *slot_check, *slot_plan;
    bool *slot_busy;
    size_t nslots;
    int64_t *slot_next_ms;
    bool period_over;
    int64_t hard_end_ms; /* past the period, slots short of measurements give up here */
    int measurements;
    /* preparation */
    uv_work_t prep;
    int prep_rc;
    struct buf prep_err;
    struct dep *next;
};

/*
 * The output of a deploy command given secrets: read from a pipe, masked,
 * written to the step's log. It lives until the last writer closes the pipe
 * (a service the command left running with its output included), or the
 * deployer is freed.
 */
struct logpump {
    struct deployer *d; /* NULL once the deployer is gone */
    uv_pipe_t pipe;
    int fd;
    struct mask_set *set;
    struct mask *mask;
    struct logpump *next;
};

struct deployer {
    struct deployer_config cfg;
    struct logpump *pumps;
    struct dep *deps;
    uv_timer_t rekick; /* windows: the next time a closed one opens */
    bool rekick_armed;
    int running;             /* atomic: read from HTTP threads for /metrics */
    int64_t measurements[4]; /* atomic: by enum check_outcome, since the start */
    bool stopping;           /* the server stops: nothing new starts, nothing ends in failure */
};

static void dep_unref(struct dep *a);
static void kick(struct deployer *d, int64_t repo_id, const char *env);
static void start_wave(struct dep *a, int wave);
static void fail(struct dep *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void begin(struct dep *a);
static void on_tick(uv_timer_t *t);
static void on_deadline(uv_timer_t *t);
static void rollback_after(struct dep *a);
static void start_period(struct dep *a, enum phase ph, int upto, int64_t period_ms);
static void precheck_done(struct dep *a);
static void go_ahead(struct dep *a);
static void arm_rekick(struct deployer *d, int64_t at_ms);

static int64_t now_ms(struct deployer *d)
{
    return d->cfg.now_ms ? d->cfg.now_ms(d->cfg.ctx) : store_now_ms();
}

/* ---- events and persistence ---------------------------------------------- */

static void event(struct dep *a, const char *extra_key, json_t *extra)
{
    struct deployer *d = a->d;
    json_t *o = json_object();
    json_object_set_new(o, "deployment", json_integer(a->row.id));
    json_object_set_new(o, "repo", json_string(a->repo ? a->repo : ""));
    json_object_set_new(o, "env", json_string(a->row.env));
    json_object_set_new(o, "kind", json_string(a->row.kind));
    json_object_set_new(o, "release", json_string(a->nri ? a->ri[0].rel.version : ""));
    json_object_set_new(o, "state", json_string(a->row.state));
    json_object_set_new(o, "wave", json_integer(a->row.wave));
    if (a->row.reason && *a->row.reason)
        json_object_set_new(o, "reason", json_string(a->row.reason));
    if (extra_key)
        json_object_set_new(o, extra_key, extra);
    if (d->cfg.event)
        d->cfg.event(d->cfg.ctx, o);
    else
        json_decref(o);
}

/* The same event for a deployment the deployer does not hold (one just
 * queued, or superseded while it waited): its release's version is looked up. */
static void row_event(struct deployer *d, const struct store_deployment *row)
{
    if (!d->cfg.event)
        return;
    struct store_release rel = {0};
    struct buf err = BUF_INIT;
    const char *repo = d->cfg.repo_name ? d->cfg.repo_name(d->cfg.ctx, row->repo_id) : NULL;
    bool have = !store_release_get_id(d->cfg.st, row->release_id, &rel, &err);
    json_t *o = json_object();
    json_object_set_new(o, "deployment", json_integer(row->id));
    json_object_set_new(o, "repo", json_string(repo ? repo : ""));
    json_object_set_new(o, "env", json_string(row->env));
    json_object_set_new(o, "kind", json_string(row->kind));
    json_object_set_new(o, "release", json_string(have && rel.version ? rel.version : ""));
    json_object_set_new(o, "state", json_string(row->state));
    json_object_set_new(o, "wave", json_integer(row->wave));
    if (row->reason && *row->reason)
        json_object_set_new(o, "reason", json_string(row->reason));
    d->cfg.event(d->cfg.ctx, o);
    if (have)
        store_release_release(&rel);
    buf_release(&err);
}

/* Moves the deployment to state (with why it waits, and a reason) in the store, then tells
 * viewers. */
static int set_state_v(struct dep *a, const char *state, const char *wait, const char *fmt,
                       va_list ap)
{
    struct buf reason = BUF_INIT, err = BUF_INIT;
    if (fmt)
        buf_vaddf(&reason, fmt, ap);
    struct store_deployment row = a->row;
    int64_t now = now_ms(a->d);
    row.state = (char *)state;
    row.wait = (char *)wait;
    row.reason = reason.data;
    row.phase_ms = now;
    if (deploy_state_active(state) && !row.started_ms)
        row.started_ms = now;
    if (!deploy_state_active(state) && strcmp(state, DEPLOY_QUEUED))
        row.finished_ms = now;
    int rc = store_deploy_set(a->d->cfg.st, &row, &err);
    if (rc) {
        if (rc != -EBUSY)
            fprintf(stderr, "flywheel serve: deployment %lld: %s\n", (long long)a->row.id,
                    err.data);
        buf_release(&reason);
        buf_release(&err);
        return rc;
    }
    free(a->row.state);
    a->row.state = xstrdup(state);
    free(a->row.reason);
    a->row.reason = buf_detach(&reason, NULL);
    free(a->row.wait);
    a->row.wait = xstrdup(wait);
    a->row.phase_ms = row.phase_ms;
    a->row.started_ms = row.started_ms;
    a->row.finished_ms = row.finished_ms;
    buf_release(&err);
    event(a, NULL, NULL);
    return 0;
}

/* set_state_v(): no wait (an active or final state). */
static int set_state(struct dep *a, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_state(struct dep *a, const char *state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = set_state_v(a, state, DEPLOY_WAIT_TURN, fmt, ap);
    va_end(ap);
    return rc;
}

/* set_state_v() for a queued or paused deployment that waits for wait (DEPLOY_WAIT_*). */
static int set_waiting(struct dep *a, const char *state, const char *wait, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_waiting(struct dep *a, const char *state, const char *wait, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = set_state_v(a, state, wait, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

static const struct pl_environment *find_env(const struct pipeline *p, const char *name,
                                             size_t *index)
{
    for (size_t i = 0; p && i < p->nenvs; i++) {
        if (!strcmp(p->envs[i].name, name)) {
            if (index)
                *index = i;
            return &p->envs[i];
        }
    }
    return NULL;
}

static struct pipeline *parse_release(const struct store_release *rel)
{
    struct diag_list dl = DIAG_LIST_INIT;
    struct pipeline *p =
        pipeline_parse(PIPELINE_FILE, rel->pipeline, strlen(rel->pipeline), NULL, 0, &dl);
    diag_list_release(&dl);
    return p;
}

/* The rinfo for release_id in a, loaded on first use; NULL when it cannot be. */
static struct rinfo *rinfo_for(struct dep *a, int64_t release_id, struct buf *err)
{
    for (size_t i = 0; i < a->nri; i++)
        if (a->ri[i].rel.id == release_id)
            return &a->ri[i];
    struct store_release rel = {0};
    int rc = store_release_get_id(a->d->cfg.st, release_id, &rel, err);
    if (rc) {
        if (rc == -ENOENT)
            buf_addf(err, "release %lld is gone", (long long)release_id);
        return NULL;
    }
    a->ri = xrealloc(a->ri, (a->nri + 1) * sizeof(*a->ri));
    struct rinfo *ri = &a->ri[a->nri++];
    memset(ri, 0, sizeof(*ri));
    ri->rel = rel;
    ri->p = parse_release(&rel);
    ri->env = ri->p ? find_env(ri->p, a->row.env, NULL) : NULL;
    if (!ri->env) {
        buf_addf(err, "release %s has no environment '%s'", rel.version, a->row.env);
        a->nri--;
        pipeline_free(ri->p);
        store_release_release(&ri->rel);
        return NULL;
    }
    struct buf dir = BUF_INIT;
    buf_addf(&dir, "%s/deploy/%lld/%s", a->d->cfg.data_dir, (long long)a->row.id, rel.version);
    ri->src_dir = xstrdup(dir.data);
    buf_adds(&dir, ".files");
    ri->art_dir = buf_detach(&dir, NULL);
    return ri;
}

static const struct pl_target *env_target(const struct pl_environment *env, const char *name)
{
    for (size_t i = 0; env && i < env->ntargets; i++)
        if (!strcmp(env->targets[i].name, name))
            return &env->targets[i];
    return NULL;
}

static void add_plan(struct dep *a, const char *target, int wave, struct rinfo *ri, int64_t prev)
{
    a->plan = xrealloc(a->plan, (a->nplan + 1) * sizeof(*a->plan));
    struct plan *pl = &a->plan[a->nplan++];
    pl->target = xstrdup(target);
    pl->wave = wave;
    pl->ri = ri;
    pl->pt = env_target(ri->env, target);
    pl->prev_release_id = prev;
    pl->planned_id = 0;
    if (wave + 1 > a->nwaves)
        a->nwaves = wave + 1;
}

/* What runs on target now, per the store (0: nothing). */
static int64_t target_release(struct dep *a, const char *target, bool good)
{
    struct store_target *t = NULL;
    size_t n = 0;
    int64_t id = 0;
    struct buf err = BUF_INIT;
    if (store_target_list(a->d->cfg.st, a->row.repo_id, a->row.env, &t, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(t[i].target, target))
                id = good ? t[i].good_release_id : t[i].release_id;
    store_targets_release(t, n);
    buf_release(&err);
    return id;
}

/*
 * The plan of a deployment: every target of the environment, wave by wave.
 * A rollback's plan is made when it is created and kept in its steps
 * (plan_from_steps).
 */
static int plan_deploy(struct dep *a, struct buf *err)
{
    struct rinfo *ri = rinfo_for(a, a->row.release_id, err);
    if (!ri)
        return -1;
    a->env = ri->env;
    for (size_t w = 0; w < ri->env->nwaves; w++)
        for (size_t k = 0; k < ri->env->waves[w].n; k++) {
            const char *t = ri->env->targets[ri->env->waves[w].targets[k]].name;
            add_plan(a, t, (int)w, ri, target_release(a, t, false));
        }
    return 0;
}

/* A rollback's plan from the steps recorded when it was created. */
static int plan_from_steps(struct dep *a, struct buf *err)
{
    struct store_deploy_step *s = NULL;
    size_t n = 0;
    if (store_step_list(a->d->cfg.st, a->row.id, &s, &n, err))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        bool seen = false;
        for (size_t k = 0; k < a->nplan && !seen; k++)
            seen = !strcmp(a->plan[k].target, s[i].target);
        if (seen)
            continue;
        struct rinfo *ri = rinfo_for(a, s[i].release_id, err);
        if (!ri) {
            rc = -1;
        } else {
            add_plan(a, s[i].target, s[i].wave, ri, s[i].prev_release_id);
            if (!strcmp(s[i].state, "planned"))
                a->plan[a->nplan - 1].planned_id = s[i].id;
        }
    }
    store_steps_release(s, n);
    if (!rc && a->nri)
        a->env = a->ri[0].env;
    return rc;
}

static struct dep *dep_new(struct deployer *d, struct store_deployment *row)
{
    struct dep *a = xcalloc(1, sizeof(*a));
    a->d = d;
    a->row = *row;
    memset(row, 0, sizeof(*row));
    const char *name = d->cfg.repo_name ? d->cfg.repo_name(d->cfg.ctx, a->row.repo_id) : NULL;
    const char *mirror = d->cfg.repo_mirror ? d->cfg.repo_mirror(d->cfg.ctx, a->row.repo_id) : NULL;
    a->repo = xstrdup(name ? name : "");
    a->mirror = mirror ? xstrdup(mirror) : NULL;
    buf_init(&a->fail_reason, 0);
    buf_init(&a->prep_err, 0);
    uv_timer_init(d->cfg.loop, &a->timer);
    uv_timer_init(d->cfg.loop, &a->tick);
    a->timer.data = a->tick.data = a;
    a->refs = 1;
    a->next = d->deps;
    d->deps = a;
    return a;
}

static void slots_free(struct dep *a)
{
    free(a->ver);
    free(a->slot_check);
    free(a->slot_plan);
    free(a->slot_busy);
    free(a->slot_next_ms);
    a->ver = NULL;
    a->slot_check = a->slot_plan = NULL;
    a->slot_busy = NULL;
    a->slot_next_ms = NULL;
    a->nslots = 0;
}

static void dep_free(struct dep *a)
{
    for (size_t i = 0; i < a->nri; i++) {
        store_release_release(&a->ri[i].rel);
        pipeline_free(a->ri[i].p);
        free(a->ri[i].src_dir);
        free(a->ri[i].art_dir);
    }
    free(a->ri);
    for (size_t i = 0; i < a->nplan; i++)
        free(a->plan[i].target);
    free(a->plan);
    slots_free(a);
    store_deployment_release(&a->row);
    free(a->repo);
    free(a->mirror);
    buf_release(&a->fail_reason);
    buf_release(&a->prep_err);
    free(a);
}

static void dep_closed(uv_handle_t *h)
{
    dep_unref(h->data);
}

static void dep_unref(struct dep *a)
{
    if (--a->refs == 0)
        dep_free(a);
}

/* Takes a out of the active list; it is freed once nothing refers to it. */
static void retire(struct dep *a)
{
    if (a->retired)
        return;
    a->retired = true;
    a->phase = PH_DONE;
    a->gen++;
    for (struct dep **pp = &a->d->deps; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    uv_timer_stop(&a->timer);
    uv_timer_stop(&a->tick);
    a->refs += 2;
    uv_close((uv_handle_t *)&a->timer, dep_closed);
    uv_close((uv_handle_t *)&a->tick, dep_closed);
    dep_unref(a);
}

static struct dep *active_in(struct deployer *d, int64_t repo_id, const char *env)
{
    for (struct dep *a = d->deps; a; a = a->next)
        if (a->row.repo_id == repo_id && !strcmp(a->row.env, env) && !a->retired)
            return a;
    return NULL;
}

/* ---- the environment of commands and checks --------------------------------- */

static void add_var(char ***v, size_t *n, const char *k, const char *val)
{
    /* a later value of the same name replaces an earlier one */
    size_t kl = strlen(k);
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s=%s", k, val ? val : "");
    for (size_t i = 0; i < *n; i++)
        if (!strncmp((*v)[i], k, kl) && (*v)[i][kl] == '=') {
            free((*v)[i]);
            (*v)[i] = buf_detach(&b, NULL);
            return;
        }
    *v = xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = buf_detach(&b, NULL);
    (*v)[*n] = NULL;
}

static void free_vars(char **v)
{
    for (size_t i = 0; v && v[i]; i++) {
        explicit_bzero(v[i], strlen(v[i])); /* they may hold secrets */
        free(v[i]);
    }
    free(v);
}

static const char *release_version(struct dep *a, int64_t id, struct buf *tmp)
{
    buf_reset(tmp);
    if (!id)
        return "";
    for (size_t i = 0; i < a->nri; i++)
        if (a->ri[i].rel.id == id)
            return a->ri[i].rel.version;
    struct store_release rel = {0};
    struct buf err = BUF_INIT;
    if (store_release_get_id(a->d->cfg.st, id, &rel, &err) == 0)
        buf_adds(tmp, rel.version);
    store_release_release(&rel);
    buf_release(&err);
    return tmp->data;
}

/* Pipeline variables, then the environment's, then the target's, then flywheel's own. */
static char **plan_vars(struct dep *a, const struct plan *pl, bool for_command)
{
    char **v = xcalloc(1, sizeof(*v));
    size_t n = 0;
    struct buf tmp = BUF_INIT;
    if (for_command) {
        add_var(&v, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
        const char *home = getenv("HOME");
        add_var(&v, &n, "HOME", home ? home : "/");
        add_var(&v, &n, "LANG", "C.UTF-8");
    }
    const struct pipeline *p = pl->ri->p;
    for (size_t i = 0; i < p->env.n; i++)
        add_var(&v, &n, p->env.v[i].key, p->env.v[i].value);
    for (size_t i = 0; i < pl->ri->env->env.n; i++)
        add_var(&v, &n, pl->ri->env->env.v[i].key, pl->ri->env->env.v[i].value);
    for (size_t i = 0; pl->pt && i < pl->pt->vars.n; i++)
        add_var(&v, &n, pl->pt->vars.v[i].key, pl->pt->vars.v[i].value);
    add_var(&v, &n, "FLYWHEEL_REPO", a->repo);
    add_var(&v, &n, "FLYWHEEL_ENV", a->row.env);
    add_var(&v, &n, "FLYWHEEL_TARGET", pl->target);
    add_var(&v, &n, "FLYWHEEL_RELEASE", pl->ri->rel.version);
    add_var(&v, &n, "FLYWHEEL_COMMIT", pl->ri->rel.commit);
    add_var(&v, &n, "FLYWHEEL_ARTIFACTS", pl->ri->art_dir);
    add_var(&v, &n, "FLYWHEEL_PREVIOUS_RELEASE", release_version(a, pl->prev_release_id, &tmp));
    buf_reset(&tmp);
    buf_addf(&tmp, "%lld", (long long)a->row.id);
    add_var(&v, &n, "FLYWHEEL_DEPLOYMENT", tmp.data);
    add_var(&v, &n, "FLYWHEEL_DEPLOY_KIND", a->row.kind);
    buf_release(&tmp);
    return v;
}

/* ---- preparation: checkout and files ---------------------------------------- */

static void prep_work(uv_work_t *w)
{
    struct dep *a = w->data;
    struct buf *err = &a->prep_err;
    struct buf state = BUF_INIT;
    a->prep_rc = 0;
    buf_addf(&state, "%s/state/%s", a->d->cfg.data_dir, a->repo);
    for (size_t i = 0; i < a->nri && !a->prep_rc; i++) {
        struct rinfo *ri = &a->ri[i];
        struct ws_source src;
        memset(&src, 0, sizeof(src));
        if (ws_remove(ri->src_dir, err) || ws_remove(ri->art_dir, err)) {
            a->prep_rc = -1;
            break;
        }
        if (!a->mirror) {
            buf_addf(err, "repository %s has no mirror", a->repo);
            a->prep_rc = -1;
            break;
        }
        if (ws_source_rev(&src, a->mirror, state.data, ri->rel.commit, err) ||
            ws_create(&src, ri->src_dir, 1, err)) {
            a->prep_rc = -1;
            ws_source_release(&src);
            break;
        }
        ws_source_release(&src);
        struct store *st = NULL;
        struct store_release_file *f = NULL;
        size_t nf = 0;
        struct buf db = BUF_INIT;
        buf_addf(&db, "%s/flywheel.db", a->d->cfg.data_dir);
        /* this thread's own connection: the loop's is not ours to use */
        if (store_open(&st, db.data, err) || store_release_files(st, ri->rel.id, &f, &nf, err))
            a->prep_rc = -1;
        if (mkdir(ri->art_dir, 0755) && errno != EEXIST && !a->prep_rc) {
            buf_addf(err, "cannot create %s: %s", ri->art_dir, strerror(errno));
            a->prep_rc = -1;
        }
        for (size_t k = 0; k < nf && !a->prep_rc; k++) {
            struct buf dest = BUF_INIT;
            buf_addf(&dest, "%s/%s", ri->art_dir, f[k].path);
            if (cas_get_file(a->d->cfg.cas, f[k].digest, dest.data, f[k].mode, err)) {
                a->prep_rc = -1;
                buf_addf(err, " (release %s, file %s)", ri->rel.version, f[k].path);
            }
            buf_release(&dest);
        }
        store_release_files_release(f, nf);
        if (st)
            store_close(st);
        buf_release(&db);
    }
    buf_release(&state);
}

static void prep_done(uv_work_t *w, int status)
{
    struct dep *a = w->data;
    (void)status;
    __atomic_sub_fetch(&a->d->running, 1, __ATOMIC_RELAXED);
    if (a->retired || a->phase != PH_PREPARE || a->d->stopping) {
        dep_unref(a);
        return;
    }
    if (a->prep_rc) {
        fail(a, "cannot prepare the release: %s", a->prep_err.data);
    } else if (a->resume_monitor) {
        a->resume_monitor = false;
        if (!set_state(a, DEPLOY_MONITORING, "checks keep running for %llds (again: restarted)",
                       (long long)(a->env->monitor_ms / 1000)))
            start_period(a, PH_MONITOR, a->nwaves, a->env->monitor_ms);
    } else {
        start_wave(a, a->row.wave);
    }
    dep_unref(a);
}

static void prepare(struct dep *a)
{
    a->phase = PH_PREPARE;
    a->gen++;
    buf_reset(&a->prep_err);
    a->prep.data = a;
    a->refs++;
    __atomic_add_fetch(&a->d->running, 1, __ATOMIC_RELAXED);
    uv_queue_work(a->d->cfg.loop, &a->prep, prep_work, prep_done);
}

/* ---- commands ----------------------------------------------------------------- */

static void after_wave(struct dep *a, int wave);

static void cmd_closed(uv_handle_t *h)
{
    struct dcmd *c = h->data;
    if (--c->handles)
        return;
    struct dep *a = c->a;
    free(c->step.target);
    free(c->step.state);
    free(c->step.reason);
    free(c->step.log_path);
    free(c);
    dep_unref(a);
}

static void cmd_end(struct dcmd *c)
{
    struct dep *a = c->a;
    struct deployer *d = a->d;
    struct buf err = BUF_INIT;
    bool ok = !c->timed_out && c->term_signal == 0 && c->exit_status == 0;
    __atomic_sub_fetch(&d->running, 1, __ATOMIC_RELAXED);
    a->cmds_running--;
    for (struct dcmd **pp = &a->cmds; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c->step.state);
    c->step.state = xstrdup(ok ? "passed" : "failed");
    c->step.exit_code = c->term_signal ? -1 : (int)c->exit_status;
    c->step.finished_ms = now_ms(d);
    free(c->step.reason);
    struct buf why = BUF_INIT;
    if (d->stopping && !ok) {
        free(c->step.state);
        c->step.state = xstrdup("interrupted");
        buf_adds(&why, "flywheel stopped while it ran; it runs again");
    } else if (c->timed_out)
        buf_addf(&why, "timed out after %llds", (long long)(a->env->timeout_ms / 1000));
    else if (c->term_signal)
        buf_addf(&why, "killed by signal %d", c->term_signal);
    else if (c->exit_status)
        buf_addf(&why, "exit %lld", (long long)c->exit_status);
    c->step.reason = buf_detach(&why, NULL);
    if (store_step_set(d->cfg.st, &c->step, &err))
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    if (ok && store_target_set(d->cfg.st, a->row.repo_id, a->row.env, c->pl->target,
                               c->pl->ri->rel.id, false, &err))
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    buf_release(&err);
    if (c->gen == a->gen && a->phase == PH_DEPLOYING && !d->stopping) {
        if (!ok && !a->cmd_failed) {
            a->cmd_failed = true;
            buf_addf(&a->fail_reason, "%s on target %s: %s (log: %s)",
                     !strcmp(a->row.kind, "rollback") ? "rollback" : "deploy", c->pl->target,
                     c->step.reason, c->step.log_path);
        }
        if (--a->cmds_left == 0) {
            if (a->cmd_failed)
                fail(a, "%s", a->fail_reason.data);
            else
                after_wave(a, a->row.wave);
        }
    }
    if (a->rollback_pending && a->cmds_running == 0)
        rollback_after(a);
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->timer, cmd_closed);
}

static void cmd_exit(uv_process_t *p, int64_t status, int sig)
{
    struct dcmd *c = p->data;
    c->exited = true;
    c->exit_status = status;
    c->term_signal = sig;
    uv_timer_stop(&c->timer);
    cmd_end(c);
}

static void cmd_timeout(uv_timer_t *t)
{
    struct dcmd *c = t->data;
    if (c->exited)
        return;
    if (!c->timed_out) {
        c->timed_out = true;
        kill(-c->proc.pid, SIGTERM);
        uv_timer_start(&c->timer, cmd_timeout, KILL_GRACE_MS, 0);
    } else {
        kill(-c->proc.pid, SIGKILL);
    }
}

/* Stops the commands of a still running (a failure elsewhere, a cancellation). */
static void kill_cmds(struct dep *a)
{
    for (struct dcmd *c = a->cmds; c; c = c->next)
        if (!c->exited)
            kill(-c->proc.pid, SIGKILL);
}

static char *joined(const struct pl_strs *s)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            buf_addch(&b, '\n');
        buf_adds(&b, s->v[i].s);
    }
    return buf_detach(&b, NULL);
}

/* ---- masked logs ------------------------------------------------------------- */

static void pump_write(void *ctx, const char *data, size_t len)
{
    struct logpump *p = ctx;
    while (len && p->fd >= 0) {
        ssize_t w = write(p->fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* a full disk loses log bytes, never the deployment */
        }
        data += w;
        len -= (size_t)w;
    }
}

static void pump_closed(uv_handle_t *h)
{
    struct logpump *p = h->data;
    if (p->d)
        for (struct logpump **pp = &p->d->pumps; *pp; pp = &(*pp)->next)
            if (*pp == p) {
                *pp = p->next;
                break;
            }
    mask_free(p->mask);
    mask_set_free(p->set);
    free(p);
}

/* The end of the output: what the mask holds goes out, the log is closed. */
static void pump_end(struct logpump *p)
{
    if (uv_is_closing((uv_handle_t *)&p->pipe))
        return;
    uv_read_stop((uv_stream_t *)&p->pipe);
    mask_flush(p->mask, pump_write, p);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    uv_close((uv_handle_t *)&p->pipe, pump_closed);
}

static void pump_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[65536]; /* the loop is single-threaded; data is consumed at once */
    (void)h;
    (void)suggested;
    b->base = slab;
    b->len = sizeof(slab);
}

static void pump_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct logpump *p = s->data;
    if (n > 0)
        mask_feed(p->mask, b->base, (size_t)n, pump_write, p);
    else if (n < 0)
        pump_end(p);
}

/*
 * The values of the environment's secrets, added to vars, and in *out a
 * pump that masks them in the command's output on its way to log_fd (a
 * copy of it is the pump's); *wfd becomes the pipe's end the command writes to.
 * Returns 0 (*out NULL when the environment names none), or -1 with why in
 * err: a secret that is not set fails the command before it starts.
 */
static int secrets_prepare(struct dep *a, const struct pl_environment *env, char ***vars,
                           int log_fd, struct logpump **out, int *wfd, struct buf *err)
{
    struct deployer *d = a->d;
    struct store_secret_value *v = NULL;
    size_t n = 0;
    int fds[2] = {-1, -1}, rc = -1;
    *out = NULL;
    if (!env->secrets.n)
        return 0; /* *wfd stays the log */
    const char **names = xcalloc(env->secrets.n + 1, sizeof(*names));
    for (size_t i = 0; i < env->secrets.n; i++)
        names[i] = env->secrets.v[i].s;
    if (store_secret_values(d->cfg.st, d->cfg.data_dir, a->row.repo_id, a->repo, names,
                            env->secrets.n, &v, &n, err))
        goto out;
    struct logpump *p = xcalloc(1, sizeof(*p));
    p->fd = -1;
    p->set = mask_set_new();
    for (size_t i = 0; i < n; i++) {
        if (!v[i].value) {
            buf_adds(err, v[i].error);
            goto fail;
        }
        if (secret_mask_add(p->set, v[i].value, v[i].len)) {
            buf_addf(err, "the secrets of %s are too large to be masked in its logs", a->row.env);
            goto fail;
        }
    }
    if (pipe2(fds, O_CLOEXEC)) {
        buf_addf(err, "pipe: %s", strerror(errno));
        goto fail;
    }
    p->fd = dup(log_fd);
    if (p->fd < 0) {
        buf_addf(err, "dup: %s", strerror(errno));
        goto fail;
    }
    fcntl(p->fd, F_SETFD, FD_CLOEXEC);
    size_t nvars = 0;
    while ((*vars)[nvars])
        nvars++;
    for (size_t i = 0; i < n; i++)
        add_var(vars, &nvars, v[i].name, v[i].value);
    p->mask = mask_new(p->set);
    p->d = d;
    uv_pipe_init(d->cfg.loop, &p->pipe, 0);
    p->pipe.data = p;
    if (uv_pipe_open(&p->pipe, fds[0])) {
        buf_adds(err, "cannot read the command's output");
        close(fds[0]);
        fds[0] = -1;
        uv_close((uv_handle_t *)&p->pipe, pump_closed);
        p = NULL;
        goto out;
    }
    fds[0] = -1;
    p->next = d->pumps;
    d->pumps = p;
    *out = p;
    *wfd = fds[1];
    fds[1] = -1;
    rc = 0;
    goto out;
fail:
    if (p->fd >= 0)
        close(p->fd);
    mask_set_free(p->set);
    free(p);
out:
    for (int k = 0; k < 2; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    store_secret_values_release(v, n);
    free(names);
    return rc;
}

static int spawn_cmd(struct dep *a, struct plan *pl, struct buf *err)
{
    struct deployer *d = a->d;
    const struct pl_environment *env = pl->ri->env;
    bool rollback = !strcmp(a->row.kind, "rollback");
    char *script = joined(rollback && env->rollback.n ? &env->rollback : &env->run);
    struct buf log = BUF_INIT;
    buf_addf(&log, "%s/logs/deploy/%lld", d->cfg.data_dir, (long long)a->row.id);
    char *dir = xstrdup(log.data);
    buf_addf(&log, "/%s.%d.log", pl->target, a->row.wave);
    struct buf parent = BUF_INIT;
    buf_addf(&parent, "%s/logs/deploy", d->cfg.data_dir);
    mkdir(parent.data, 0755);
    mkdir(dir, 0755);
    buf_release(&parent);
    free(dir);
    int fd = open(log.data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        buf_addf(err, "cannot create %s: %s", log.data, strerror(errno));
        free(script);
        buf_release(&log);
        return -1;
    }
    /* Its secrets, before anything is recorded: a secret not set fails it unstarted. */
    char **vars = plan_vars(a, pl, true);
    struct logpump *pump = NULL;
    int out_fd = fd;
    if (secrets_prepare(a, env, &vars, fd, &pump, &out_fd, err)) {
        close(fd);
        free(script);
        free_vars(vars);
        buf_release(&log);
        return -1;
    }
    struct dcmd *c = xcalloc(1, sizeof(*c));
    c->a = a;
    c->pl = pl;
    c->gen = a->gen;
    c->step.deployment_id = a->row.id;
    c->step.target = xstrdup(pl->target);
    c->step.wave = a->row.wave;
    c->step.release_id = pl->ri->rel.id;
    c->step.prev_release_id = pl->prev_release_id;
    c->step.state = xstrdup("running");
    c->step.reason = xstrdup("");
    c->step.log_path = buf_detach(&log, NULL);
    c->step.started_ms = now_ms(d);
    c->step.exit_code = -1;
    int64_t sid = pl->planned_id;
    pl->planned_id = 0; /* a second run (after a restart) is a step of its own */
    if (sid)
        c->step.id = sid;
    int rec = sid ? store_step_set(d->cfg.st, &c->step, err)
                  : (store_step_insert(d->cfg.st, &c->step, err) < 0 ? -1 : 0);
    if (rec || store_release_mark_deployed(d->cfg.st, pl->ri->rel.id, c->step.started_ms, err)) {
        close(fd);
        if (pump) {
            close(out_fd);
            pump_end(pump);
        }
        free_vars(vars);
        free(script);
        free(c->step.target);
        free(c->step.state);
        free(c->step.reason);
        free(c->step.log_path);
        free(c);
        return -1;
    }
    char *argv[] = {"/bin/sh", "-e", "-c", script, NULL};
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = out_fd; /* the log, or the pipe to the pump that masks its secrets */
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = out_fd;
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    o.exit_cb = cmd_exit;
    o.file = argv[0];
    o.args = argv;
    o.env = vars;
    o.cwd = pl->ri->src_dir;
    o.flags = UV_PROCESS_DETACHED; /* its own session and group: a timeout kills the group */
    o.stdio_count = 3;
    o.stdio = stdio;
    c->proc.data = c->timer.data = c;
    uv_timer_init(d->cfg.loop, &c->timer);
    a->refs++;
    c->handles = 2;
    __atomic_add_fetch(&d->running, 1, __ATOMIC_RELAXED);
    a->cmds_running++;
    c->next = a->cmds;
    a->cmds = c;
    int rc = uv_spawn(d->cfg.loop, &c->proc, &o);
    close(fd);
    if (pump) {
        close(out_fd); /* the command has it: the pump reads until its last writer is gone */
        uv_read_start((uv_stream_t *)&pump->pipe, pump_alloc, pump_read);
    }
    free(script);
    free_vars(vars);
    if (rc) {
        buf_addf(err, "cannot start the deploy command: %s", uv_strerror(rc));
        /* a failed spawn still has its handle to close: cmd_end closes both */
        c->exited = true;
        c->exit_status = 127;
        cmd_end(c);
        return 0;
    }
    c->step.pid = c->proc.pid;
    if (store_step_set(d->cfg.st, &c->step, err)) {
        fprintf(stderr, "flywheel serve: %s\n", err->data);
        buf_reset(err);
    }
    uv_timer_start(&c->timer, cmd_timeout,
                   (uint64_t)(env->timeout_ms > 0 ? env->timeout_ms : 1800000), 0);
    return 0;
}

static void start_wave(struct dep *a, int wave)
{
    struct buf err = BUF_INIT;
    a->row.wave = wave;
    if (set_state(a, DEPLOY_DEPLOYING, "wave %d of %d", wave + 1, a->nwaves))
        return;
    a->phase = PH_DEPLOYING;
    a->gen++;
    a->cmd_failed = false;
    buf_reset(&a->fail_reason);
    a->cmds_left = 0;
    for (size_t i = 0; i < a->nplan; i++)
        if (a->plan[i].wave == wave)
            a->cmds_left++;
    if (!a->cmds_left) {
        after_wave(a, wave);
        return;
    }
    int started = 0;
    for (size_t i = 0; i < a->nplan; i++) {
        if (a->plan[i].wave != wave)
            continue;
        if (spawn_cmd(a, &a->plan[i], &err)) {
            fail(a, "%s", err.data);
            buf_release(&err);
            return;
        }
        started++;
    }
    buf_release(&err);
}

/* ---- checks ------------------------------------------------------------------- */

static void finish_period(struct dep *a);
static void schedule_probes(struct dep *a);

static int64_t check_interval(const struct dep *a, const struct pl_check *c)
{
    int64_t ms = c->interval_ms ? c->interval_ms : a->env->interval_ms;
    return ms > 0 ? ms : 10000;
}

static void probe_work(uv_work_t *w)
{
    struct probe *pr = w->data;
    check_eval_in(pr->check, (const char *const *)pr->vars, pr->dir, &pr->res);
}

static const char *phase_name(const struct dep *a)
{
    return a->phase == PH_MONITOR ? "monitor" : "bake";
}

static void probe_done(uv_work_t *w, int status)
{
    struct probe *pr = w->data;
    struct dep *a = pr->a;
    struct buf err = BUF_INIT;
    (void)status;
    __atomic_sub_fetch(&a->d->running, 1, __ATOMIC_RELAXED);
    if (pr->gen == a->gen && !a->retired && !a->d->stopping && a->phase == PH_PRECHECK) {
        a->slot_busy[pr->slot] = false;
        verify_feed(&a->ver[pr->slot], pr->res.outcome);
        if (pr->res.outcome == CHECK_FAIL && !a->fail_reason.len)
            buf_addf(&a->fail_reason, "blocked: check '%s' is failing on %s now: %s",
                     pr->check->name, a->plan[a->slot_plan[pr->slot]].target, pr->res.message.data);
        bool busy = false;
        for (size_t k = 0; k < a->nslots; k++)
            busy |= a->slot_busy[k];
        if (!busy)
            precheck_done(a);
    } else if (pr->gen == a->gen && !a->retired && !a->d->stopping &&
               (a->phase == PH_BAKING || a->phase == PH_MONITOR)) {
        size_t s = pr->slot;
        const struct plan *pl = &a->plan[a->slot_plan[s]];
        a->slot_busy[s] = false;
        enum verify_state vs = verify_feed(&a->ver[s], pr->res.outcome);
        if ((unsigned)pr->res.outcome < 4)
            __atomic_add_fetch(&a->d->measurements[pr->res.outcome], 1, __ATOMIC_RELAXED);
        if (a->measurements++ < MAX_MEASUREMENTS &&
            store_measurement_add(a->d->cfg.st, a->row.id, a->row.wave, phase_name(a),
                                  pr->check->name, pl->target, check_outcome_name(pr->res.outcome),
                                  pr->res.value, pr->res.has_value, pr->res.message.data, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        json_t *m = json_object();
        json_object_set_new(m, "check", json_string(pr->check->name));
        json_object_set_new(m, "target", json_string(pl->target));
        json_object_set_new(m, "outcome", json_string(check_outcome_name(pr->res.outcome)));
        if (pr->res.has_value)
            json_object_set_new(m, "value", json_real(pr->res.value));
        json_object_set_new(m, "message", json_string(pr->res.message.data));
        event(a, "measurement", m);
        if (vs == VERIFY_FAILED) {
            struct buf sum = BUF_INIT;
            verify_summary(&a->ver[s], &sum);
            fail(a, "check '%s' failed on %s during %s: %s (%s)", pr->check->name, pl->target,
                 phase_name(a), pr->res.message.data, sum.data);
            buf_release(&sum);
        } else if (a->period_over) {
            finish_period(a);
        } else {
            schedule_probes(a);
        }
    }
    check_result_release(&pr->res);
    free_vars(pr->vars);
    free(pr->dir);
    free(pr);
    buf_release(&err);
    dep_unref(a);
}

static void schedule_probes(struct dep *a)
{
    int64_t now = now_ms(a->d), next = INT64_MAX;
    if (a->d->stopping)
        return;
    for (size_t s = 0; s < a->nslots; s++) {
        if (a->slot_busy[s] || a->ver[s].state != VERIFY_RUNNING)
            continue;
        const struct pl_check *c = &a->env->checks[a->slot_check[s]];
        /* after the period only the slots still short of measurements go on, for a while */
        if (a->period_over &&
            (a->ver[s].measurements >= a->ver[s].pol.min_count || now >= a->hard_end_ms))
            continue;
        if (a->slot_next_ms[s] > now) {
            if (a->slot_next_ms[s] < next)
                next = a->slot_next_ms[s];
            continue;
        }
        if (a->phase == PH_PRECHECK &&
            a->ver[s].measurements + a->ver[s].errors + a->ver[s].no_data > 0)
            continue; /* one answer each is enough */
        struct plan *pl = &a->plan[a->slot_plan[s]];
        struct probe *pr = xcalloc(1, sizeof(*pr));
        pr->a = a;
        pr->slot = s;
        pr->gen = a->gen;
        pr->check = c;
        pr->vars = plan_vars(a, pl, true);
        /* before a deployment nothing is checked out: a precheck runs in the data directory */
        pr->dir = xstrdup(a->phase == PH_PRECHECK ? a->d->cfg.data_dir : pl->ri->src_dir);
        pr->work.data = pr;
        a->slot_busy[s] = true;
        a->slot_next_ms[s] = now + check_interval(a, c);
        if (a->slot_next_ms[s] < next)
            next = a->slot_next_ms[s];
        a->refs++;
        __atomic_add_fetch(&a->d->running, 1, __ATOMIC_RELAXED);
        uv_queue_work(a->d->cfg.loop, &pr->work, probe_work, probe_done);
    }
    /* after the period, nothing in flight and nothing due before the limit: judge at the
     * limit (a probe in flight calls back by itself) */
    bool busy = false;
    for (size_t s = 0; s < a->nslots; s++)
        busy |= a->slot_busy[s];
    if (a->period_over && next == INT64_MAX && !busy && a->phase != PH_PRECHECK)
        next = a->hard_end_ms > now ? a->hard_end_ms : now;
    if (next != INT64_MAX && a->phase != PH_PRECHECK) {
        uv_timer_stop(&a->tick);
        uv_timer_start(&a->tick, on_tick, (uint64_t)(next - now), 0);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct dep *a = t->data;
    if (a->retired || (a->phase != PH_BAKING && a->phase != PH_MONITOR))
        return;
    if (a->period_over)
        finish_period(a);
    else
        schedule_probes(a);
}

static void period_end(uv_timer_t *t)
{
    struct dep *a = t->data;
    if (a->retired || (a->phase != PH_BAKING && a->phase != PH_MONITOR))
        return;
    a->period_over = true;
    finish_period(a);
}

static void wave_verified(struct dep *a, int wave);
static void succeed(struct dep *a);
static void pause_dep(struct dep *a, enum phase from, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The period is over: once every slot has its measurements, judge. */
static void finish_period(struct dep *a)
{
    bool waiting = false;
    int64_t now = now_ms(a->d);
    for (size_t s = 0; s < a->nslots; s++) {
        if (a->slot_busy[s])
            waiting = true;
        else if (a->ver[s].state == VERIFY_RUNNING &&
                 a->ver[s].measurements < a->ver[s].pol.min_count && now < a->hard_end_ms)
            waiting = true; /* short of measurements: keep measuring, for a while */
    }
    if (waiting) {
        schedule_probes(a);
        return;
    }
    for (size_t s = 0; s < a->nslots; s++) {
        enum verify_state vs = verify_finish(&a->ver[s]);
        if (vs == VERIFY_FAILED || vs == VERIFY_INCONCLUSIVE) {
            const struct pl_check *c = &a->env->checks[a->slot_check[s]];
            struct buf sum = BUF_INIT;
            verify_summary(&a->ver[s], &sum);
            if (vs == VERIFY_FAILED)
                fail(a, "check '%s' failed on %s during %s: %s", c->name,
                     a->plan[a->slot_plan[s]].target, phase_name(a), sum.data);
            else
                pause_dep(a, a->phase, "check '%s' is inconclusive on %s: %s", c->name,
                          a->plan[a->slot_plan[s]].target, sum.data);
            buf_release(&sum);
            return;
        }
    }
    if (a->phase == PH_BAKING)
        wave_verified(a, a->row.wave);
    else
        succeed(a);
}

/* Does slot planning include plan entry i? Waves up to upto; a precheck: targets running
 * something already. */
static bool in_period(const struct dep *a, enum phase ph, size_t i, int upto)
{
    if (ph == PH_PRECHECK)
        return a->plan[i].prev_release_id != 0;
    return a->plan[i].wave <= upto;
}

/* Starts a bake (targets of waves 0..upto), the monitoring period (every wave), or a
 * precheck (one measurement of each check on each target that runs something). */
static void start_period(struct dep *a, enum phase ph, int upto, int64_t period_ms)
{
    const struct pl_environment *env = a->env;
    slots_free(a);
    a->period_over = false;
    for (size_t c = 0; c < env->nchecks; c++)
        for (size_t i = 0; i < a->nplan; i++)
            if (in_period(a, ph, i, upto))
                a->nslots++;
    a->ver = xcalloc(a->nslots + 1, sizeof(*a->ver));
    a->slot_check = xcalloc(a->nslots + 1, sizeof(size_t));
    a->slot_plan = xcalloc(a->nslots + 1, sizeof(size_t));
    a->slot_busy = xcalloc(a->nslots + 1, sizeof(bool));
    a->slot_next_ms = xcalloc(a->nslots + 1, sizeof(int64_t));
    size_t s = 0;
    for (size_t c = 0; c < env->nchecks; c++) {
        const struct pl_check *ck = &env->checks[c];
        int64_t iv = check_interval(a, ck);
        for (size_t i = 0; i < a->nplan; i++) {
            if (!in_period(a, ph, i, upto))
                continue;
            struct verify_policy pol;
            verify_policy_default(&pol);
            pol.failure_limit = ck->failure_limit;
            pol.error_limit = ck->error_limit;
            pol.min_count = ck->count ? ck->count : (int)(period_ms / iv > 1 ? period_ms / iv : 1);
            pol.on_no_data = ck->on_no_data == PL_NODATA_FAIL   ? VERIFY_NODATA_FAIL
                             : ck->on_no_data == PL_NODATA_PASS ? VERIFY_NODATA_PASS
                                                                : VERIFY_NODATA_INCONCLUSIVE;
            verify_init(&a->ver[s], &pol);
            a->slot_check[s] = c;
            a->slot_plan[s] = i;
            s++;
        }
    }
    a->phase = ph;
    a->gen++;
    /* time past the period for each check to make its measurements twice over (a probe in
     * flight when it ends is waited for anyway) */
    int64_t extra = 1000;
    for (size_t k = 0; k < a->nslots; k++) {
        int64_t need = 2 * (int64_t)a->ver[k].pol.min_count *
                       check_interval(a, &env->checks[a->slot_check[k]]);
        if (need > extra)
            extra = need;
    }
    a->hard_end_ms = now_ms(a->d) + (period_ms > 0 ? period_ms : 0) + extra;
    uv_timer_stop(&a->timer);
    if (ph != PH_PRECHECK)
        uv_timer_start(&a->timer, period_end, (uint64_t)(period_ms > 0 ? period_ms : 0), 0);
    schedule_probes(a);
}

static void after_wave(struct dep *a, int wave)
{
    if (!strcmp(a->row.kind, "rollback")) {
        /* fast track: no bake between the waves of a rollback */
        if (wave + 1 < a->nwaves)
            start_wave(a, wave + 1);
        else
            succeed(a);
        return;
    }
    struct store_line line;
    struct buf err = BUF_INIT;
    bool stopped = store_line_get(a->d->cfg.st, a->row.repo_id, &line, &err) == 0 && line.stopped;
    if (stopped)
        pause_dep(a, PH_DEPLOYING, "the line is stopped: %s", line.reason);
    store_line_release(&line);
    buf_release(&err);
    if (stopped)
        return;
    if (!a->env->nchecks) {
        wave_verified(a, wave);
        return;
    }
    if (set_state(a, DEPLOY_BAKING, "wave %d of %d: checks for %llds", wave + 1, a->nwaves,
                  (long long)(a->env->bake_ms / 1000)))
        return;
    start_period(a, PH_BAKING, wave, a->env->bake_ms);
}

/*
 * What flywheel does on its own, as the API call a person would make for it:
 * a promotion (POST .../deploy), a stopped line (POST .../line/stop) and a
 * rollback (POST .../rollback), by actor "flywheel" of role "system" from
 * "local", in the audit log.
 */
static void audit_auto(struct deployer *d, int64_t repo_id, const char *what, unsigned status,
                       json_t *detail)
{
    struct buf path = BUF_INIT, action = BUF_INIT, err = BUF_INIT;
    const char *repo = d->cfg.repo_name ? d->cfg.repo_name(d->cfg.ctx, repo_id) : NULL;
    buf_addf(&path, "/api/v1/repos/%s/%s", repo ? repo : "?", what);
    buf_addf(&action, "POST /api/v1/repos/{name}/%s", what);
    char *ds = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    struct store_audit e = {0};
    e.time_ms = now_ms(d);
    e.actor = "flywheel";
    e.role = "system";
    e.peer = "local";
    e.method = "POST";
    e.path = path.data;
    e.action = action.data;
    e.status = (int)status;
    e.detail = ds ? ds : "";
    if (store_audit_add(d->cfg.st, &e, &err))
        fprintf(stderr, "flywheel serve: audit: %s\n", err.data);
    free(ds);
    json_decref(detail);
    buf_release(&path);
    buf_release(&action);
    buf_release(&err);
}

static void promote(struct dep *a)
{
    size_t idx = 0;
    const struct pipeline *p = a->ri[0].p;
    if (!find_env(p, a->row.env, &idx) || idx + 1 >= p->nenvs || !p->envs[idx + 1].auto_promote)
        return;
    struct store_deployment nd = {0};
    struct buf err = BUF_INIT;
    nd.repo_id = a->row.repo_id;
    nd.env = p->envs[idx + 1].name;
    nd.release_id = a->row.release_id;
    nd.kind = "deploy";
    nd.state = DEPLOY_QUEUED;
    nd.reason = "";
    nd.actor = "flywheel";
    nd.created_ms = now_ms(a->d);
    int64_t id = store_deploy_insert(a->d->cfg.st, &nd, &err);
    if (id < 0) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    } else {
        audit_auto(a->d, a->row.repo_id, "deploy", 201,
                   json_pack("{sssIsI}", "env", nd.env, "release", (json_int_t)nd.release_id,
                             "deployment", (json_int_t)id));
        row_event(a->d, &nd);
    }
    buf_release(&err);
    kick(a->d, a->row.repo_id, p->envs[idx + 1].name);
}

static void wave_verified(struct dep *a, int wave)
{
    if (wave + 1 < a->nwaves) {
        start_wave(a, wave + 1);
        return;
    }
    /* every wave passed: the next environment gets the release now */
    promote(a);
    if (a->env->nchecks && a->env->monitor_ms > 0) {
        if (set_state(a, DEPLOY_MONITORING, "checks keep running for %llds",
                      (long long)(a->env->monitor_ms / 1000)))
            return;
        start_period(a, PH_MONITOR, a->nwaves, a->env->monitor_ms);
        return;
    }
    succeed(a);
}

static void succeed(struct dep *a)
{
    struct deployer *d = a->d;
    struct buf err = BUF_INIT;
    for (size_t i = 0; i < a->nplan; i++)
        if (store_target_set(d->cfg.st, a->row.repo_id, a->row.env, a->plan[i].target,
                             a->plan[i].ri->rel.id, true, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
    int closed = store_incident_close(d->cfg.st, a->row.repo_id, a->row.env, now_ms(d), &err);
    if (set_state(a, DEPLOY_SUCCEEDED, "%s", closed > 0 ? "a good release serves again" : ""))
        fprintf(stderr, "flywheel serve: deployment %lld: cannot record success\n",
                (long long)a->row.id);
    buf_release(&err);
    int64_t repo = a->row.repo_id;
    char *env = xstrdup(a->row.env);
    retire(a);
    kick(d, repo, env);
    free(env);
}

static void pause_dep(struct dep *a, enum phase from, const char *fmt, ...)
{
    struct buf reason = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&reason, fmt, ap);
    va_end(ap);
    a->paused_from = from;
    a->phase = PH_PAUSED;
    a->gen++;
    uv_timer_stop(&a->tick);
    uv_timer_stop(&a->timer);
    set_waiting(a, DEPLOY_PAUSED,
                from == PH_DEPLOYING && strstr(reason.data, "the line is stopped")
                    ? DEPLOY_WAIT_LINE
                    : DEPLOY_WAIT_DECISION,
                "%s", reason.data);
    buf_release(&reason);
    uv_timer_start(&a->timer, on_deadline, PAUSE_DEADLINE_MS, 0);
}

static void on_deadline(uv_timer_t *t)
{
    struct dep *a = t->data;
    if (a->phase == PH_APPROVAL)
        fail(a, "nobody approved within %llds", (long long)(a->env->approval_timeout_ms / 1000));
    else if (a->phase == PH_PAUSED)
        fail(a, "nobody decided within %llds of the pause", (long long)(PAUSE_DEADLINE_MS / 1000));
}

/* ---- failure and rollback ---------------------------------------------------------- */

static struct dep *start_rollback(struct deployer *d, int64_t repo_id, const char *env,
                                  int64_t failed_id, const char *actor, int64_t to_release,
                                  struct buf *err);

static bool is_production(const struct dep *a)
{
    const struct pipeline *p = a->ri[0].p;
    return p->nenvs && !strcmp(p->envs[p->nenvs - 1].name, a->row.env);
}

static void fail(struct dep *a, const char *fmt, ...)
{
    struct deployer *d = a->d;
    struct buf reason = BUF_INIT, err = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&reason, fmt, ap);
    va_end(ap);
    bool rollback = !strcmp(a->row.kind, "rollback");
    bool approval = a->phase == PH_APPROVAL;
    a->phase = PH_DONE;
    a->gen++;
    set_state(a, approval ? DEPLOY_REJECTED : DEPLOY_FAILED, "%s", reason.data);
    int64_t repo = a->row.repo_id;
    char *env = xstrdup(a->row.env);
    int64_t id = a->row.id;
    if (!rollback && !approval) {
        struct buf why = BUF_INIT;
        buf_addf(&why, "deployment %lld to %s failed: %s", (long long)id, env, reason.data);
        int stopped = store_release_set_bad(d->cfg.st, a->row.release_id, why.data, &err);
        if (!stopped)
            stopped = store_line_set(d->cfg.st, repo, true, "flywheel", why.data, &err);
        if (stopped < 0)
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        if (stopped == 1) /* not when it was stopped already */
            audit_auto(d, repo, "line/stop", 200,
                       json_pack("{sssI}", "reason", why.data, "deployment", (json_int_t)id));
        json_t *o = json_object();
        json_object_set_new(o, "repo", json_string(a->repo));
        json_object_set_new(o, "line", json_string("stopped"));
        json_object_set_new(o, "reason", json_string(why.data));
        json_object_set_new(o, "actor", json_string("flywheel"));
        if (d->cfg.event)
            d->cfg.event(d->cfg.ctx, o);
        else
            json_decref(o);
        if (is_production(a)) {
            struct store_incident in = {0};
            in.repo_id = repo;
            in.env = env;
            in.release_id = a->row.release_id;
            in.deployment_id = id;
            in.reason = why.data;
            in.opened_ms = now_ms(d);
            if (store_incident_open(d->cfg.st, &in, &err) < 0)
                fprintf(stderr, "flywheel serve: %s\n", err.data);
        }
        buf_release(&why);
    }
    buf_release(&reason);
    buf_release(&err);
    kill_cmds(a);
    a->rollback_pending = !rollback && !approval;
    a->refs++; /* until rollback_after */
    retire(a); /* frees the environment for the rollback */
    free(env);
    (void)id;
    (void)repo;
    if (a->cmds_running == 0)
        rollback_after(a);
}

/* After a failure, once none of its commands runs any more: the rollback. */
static void rollback_after(struct dep *a)
{
    struct buf err = BUF_INIT;
    struct deployer *d = a->d;
    bool pending = a->rollback_pending;
    a->rollback_pending = false;
    if (pending && !start_rollback(d, a->row.repo_id, a->row.env, a->row.id, "flywheel", 0, &err))
        fprintf(stderr, "flywheel serve: no rollback after deployment %lld: %s\n",
                (long long)a->row.id, err.data);
    if (!pending)
        kick(d, a->row.repo_id, a->row.env);
    buf_release(&err);
    dep_unref(a);
}

/*
 * A rollback deployment: every target that deployment failed_id touched
 * (failed_id 0: every target of the environment that runs something) goes
 * back to to_release, or to its last good release, in reverse wave order.
 * Targets already there, or with no good release to go to, are left alone.
 */
static struct dep *start_rollback(struct deployer *d, int64_t repo_id, const char *env,
                                  int64_t failed_id, const char *actor, int64_t to_release,
                                  struct buf *err)
{
    struct store_deploy_step *steps = NULL;
    struct store_target *tg = NULL;
    size_t nsteps = 0, ntg = 0;
    struct store *st = d->cfg.st;
    if (store_target_list(st, repo_id, env, &tg, &ntg, err))
        return NULL;
    /* which targets, in which (original) wave */
    struct touched {
        const char *target;
        int wave;
        int64_t now, to;
    } *t = xcalloc(ntg + 1, sizeof(*t));
    size_t nt = 0;
    int maxwave = 0;
    if (failed_id) {
        if (store_step_list(st, failed_id, &steps, &nsteps, err)) {
            store_targets_release(tg, ntg);
            free(t);
            return NULL;
        }
    }
    for (size_t i = 0; i < ntg; i++) {
        int wave = -1;
        for (size_t k = 0; k < nsteps; k++)
            if (!strcmp(steps[k].target, tg[i].target) && steps[k].wave > wave)
                wave = steps[k].wave;
        if (failed_id && wave < 0)
            continue; /* not touched */
        int64_t to = to_release ? to_release : tg[i].good_release_id;
        /* a touched target goes back even when the store says it is there already: a
         * command killed half-way may have changed it (deploy commands are idempotent) */
        if (!to || !tg[i].release_id || (!failed_id && to == tg[i].release_id))
            continue;
        t[nt].target = tg[i].target;
        t[nt].wave = wave < 0 ? 0 : wave;
        t[nt].now = tg[i].release_id;
        t[nt].to = to;
        if (t[nt].wave > maxwave)
            maxwave = t[nt].wave;
        nt++;
    }
    struct dep *a = NULL;
    if (!nt) {
        buf_addf(err, "no target of %s has an earlier good release to go back to", env);
        goto out;
    }
    struct store_deployment row = {0};
    row.repo_id = repo_id;
    row.env = (char *)env;
    row.release_id = t[0].to;
    row.kind = "rollback";
    row.rollback_of = failed_id;
    row.state = DEPLOY_DEPLOYING;
    row.reason = "";
    row.actor = (char *)actor;
    row.created_ms = row.started_ms = row.phase_ms = now_ms(d);
    if (store_deploy_insert(st, &row, err) < 0)
        goto out;
    /* its plan, kept as steps so that a restart knows it: one pending step each */
    for (size_t i = 0; i < nt; i++) {
        struct store_deploy_step s = {0};
        s.deployment_id = row.id;
        s.target = (char *)t[i].target;
        s.wave = maxwave - t[i].wave; /* reverse wave order */
        s.release_id = t[i].to;
        s.prev_release_id = t[i].now;
        s.state = "planned";
        s.reason = "";
        s.log_path = "";
        if (store_step_insert(st, &s, err) < 0)
            goto out;
    }
    if (failed_id && !strcmp(actor, "flywheel")) {
        audit_auto(d, repo_id, "rollback", 201,
                   json_pack("{sssIsI}", "env", env, "after", (json_int_t)failed_id, "deployment",
                             (json_int_t)row.id));
    }
    struct store_deployment loaded = {0};
    if (store_deploy_get(st, row.id, &loaded, err))
        goto out;
    a = dep_new(d, &loaded);
    if (plan_from_steps(a, err)) {
        set_state(a, DEPLOY_FAILED, "cannot plan the rollback: %s", err->data);
        retire(a);
        a = NULL;
        goto out;
    }
    event(a, NULL, NULL);
    a->row.wave = 0;
    prepare(a);
out:
    store_steps_release(steps, nsteps);
    store_targets_release(tg, ntg);
    free(t);
    return a;
}

/* ---- starting a deployment ----------------------------------------------------- */

static void on_rekick(uv_timer_t *t);

static void arm_rekick(struct deployer *d, int64_t at_ms)
{
    int64_t now = now_ms(d);
    uint64_t delay = at_ms > now ? (uint64_t)(at_ms - now) : 0;
    if (delay > 3600000)
        delay = 3600000; /* look again at least hourly (a clock that jumped) */
    if (d->rekick_armed && uv_timer_get_due_in(&d->rekick) <= delay)
        return;
    d->rekick_armed = true;
    uv_timer_start(&d->rekick, on_rekick, delay, 0);
}

/* Approval given (or not needed): prepare and deploy the first wave. */
static void begin(struct dep *a)
{
    a->row.wave = 0;
    if (set_state(a, DEPLOY_DEPLOYING, "preparing release %s", a->ri[0].rel.version)) {
        retire(a); /* another deployment holds the environment: this one stays queued */
        return;
    }
    prepare(a);
}

/* Its turn, the line, the window and the environment's health allow it: approval, or go. */
static void go_ahead(struct dep *a)
{
    if (a->env->approval) {
        if (set_state(a, DEPLOY_APPROVAL, "waiting for approval")) {
            retire(a);
            return;
        }
        a->phase = PH_APPROVAL;
        if (a->env->approval_timeout_ms > 0)
            uv_timer_start(&a->timer, on_deadline, (uint64_t)a->env->approval_timeout_ms, 0);
        return;
    }
    begin(a);
}

static void precheck_done(struct dep *a)
{
    slots_free(a);
    if (!a->fail_reason.len) {
        a->phase = PH_IDLE;
        a->gen++;
        go_ahead(a);
        return;
    }
    /* stays queued; looks again after an interval */
    if (strcmp(a->row.reason, a->fail_reason.data))
        set_waiting(a, DEPLOY_QUEUED, DEPLOY_WAIT_HEALTH, "%s", a->fail_reason.data);
    struct deployer *d = a->d;
    int64_t again = now_ms(d) + (a->env->interval_ms > 0 ? a->env->interval_ms : 10000);
    retire(a);
    arm_rekick(d, again);
}

/*
 * The environment may take its next deployment: the newest queued one goes
 * (older queued ones are superseded) when the line runs, its release is
 * good, and the window is open.
 */
static void kick(struct deployer *d, int64_t repo_id, const char *env)
{
    struct buf err = BUF_INIT;
    struct store_deployment *v = NULL;
    size_t n = 0;
    if (d->stopping || active_in(d, repo_id, env))
        return;
    if (store_deploy_list(d->cfg.st, repo_id, env, 0, 200, &v, &n, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        buf_release(&err);
        return;
    }
    size_t pick = n;
    for (size_t i = 0; i < n; i++) { /* newest first */
        if (strcmp(v[i].state, DEPLOY_QUEUED))
            continue;
        if (pick == n) {
            pick = i;
            continue;
        }
        struct store_deployment old = v[i];
        old.state = DEPLOY_SUPERSEDED;
        old.reason = "a newer release was waiting too";
        old.wait = DEPLOY_WAIT_TURN;
        old.finished_ms = now_ms(d);
        if (store_deploy_set(d->cfg.st, &old, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        else
            row_event(d, &old);
    }
    if (pick == n)
        goto out;
    struct dep *a = dep_new(d, &v[pick]);
    if (plan_deploy(a, &err)) {
        set_state(a, DEPLOY_CANCELLED, "%s", err.data);
        retire(a);
        goto out;
    }
    struct store_release *rel = &a->ri[0].rel;
    if (rel->bad_reason) {
        set_state(a, DEPLOY_CANCELLED, "release %s is marked bad: %s", rel->version,
                  rel->bad_reason);
        retire(a);
        goto out;
    }
    struct store_line line;
    bool stopped = store_line_get(d->cfg.st, repo_id, &line, &err) == 0 && line.stopped;
    if (stopped && strcmp(a->row.reason, "waiting: the line is stopped"))
        set_waiting(a, DEPLOY_QUEUED, DEPLOY_WAIT_LINE, "waiting: the line is stopped");
    store_line_release(&line);
    if (stopped) {
        retire(a);
        goto out;
    }
    int64_t next = 0;
    int open = window_open(&a->env->window, now_ms(d), &next, &err);
    if (open < 0) {
        set_state(a, DEPLOY_CANCELLED, "%s", err.data);
        retire(a);
        goto out;
    }
    if (!open) {
        struct buf why = BUF_INIT;
        window_describe(&a->env->window, now_ms(d), &why);
        set_waiting(a, DEPLOY_QUEUED, DEPLOY_WAIT_WINDOW, "waiting for the deployment window: %s",
                    why.data);
        buf_release(&why);
        arm_rekick(d, next);
        retire(a);
        goto out;
    }
    bool running = false;
    for (size_t i = 0; i < a->nplan; i++)
        running |= a->plan[i].prev_release_id != 0;
    if (a->env->nchecks && running) {
        /* the blocker: no deployment into an environment whose checks fail right now */
        buf_reset(&a->fail_reason);
        start_period(a, PH_PRECHECK, 0, 0);
        goto out;
    }
    go_ahead(a);
out:
    store_deployments_release(v, n);
    buf_release(&err);
}

static void kick_all(struct deployer *d)
{
    struct store_deployment *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (store_deploy_unfinished(d->cfg.st, &v, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v[i].state, DEPLOY_QUEUED))
                kick(d, v[i].repo_id, v[i].env);
    store_deployments_release(v, n);
    buf_release(&err);
}

static void on_rekick(uv_timer_t *t)
{
    struct deployer *d = t->data;
    d->rekick_armed = false;
    kick_all(d);
}

void deployer_release_made(struct deployer *d, int64_t release_id)
{
    struct store_release rel = {0};
    struct buf err = BUF_INIT;
    if (store_release_get_id(d->cfg.st, release_id, &rel, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        buf_release(&err);
        return;
    }
    struct pipeline *p = parse_release(&rel);
    if (p && p->nenvs && p->envs[0].auto_promote) {
        struct store_deployment nd = {0};
        nd.repo_id = rel.repo_id;
        nd.env = p->envs[0].name;
        nd.release_id = release_id;
        nd.kind = "deploy";
        nd.state = DEPLOY_QUEUED;
        nd.reason = "";
        nd.actor = "flywheel";
        nd.created_ms = now_ms(d);
        int64_t id = store_deploy_insert(d->cfg.st, &nd, &err);
        if (id < 0) {
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        } else {
            audit_auto(d, rel.repo_id, "deploy", 201,
                       json_pack("{sssIsI}", "env", nd.env, "release", (json_int_t)release_id,
                                 "deployment", (json_int_t)id));
            row_event(d, &nd);
            kick(d, rel.repo_id, p->envs[0].name);
        }
    }
    pipeline_free(p);
    store_release_release(&rel);
    buf_release(&err);
}

/* ---- commands from people ----------------------------------------------------------- */

static int find_release(struct deployer *d, int64_t repo_id, const char *version,
                        struct store_release *rel, struct buf *err)
{
    int rc = store_release_get(d->cfg.st, repo_id, version, rel, err);
    if (rc == -ENOENT) {
        buf_addf(err, "no release '%s'", version);
        return 404;
    }
    return rc ? 500 : 0;
}

int deployer_deploy(struct deployer *d, int64_t repo_id, const char *version, const char *env,
                    const char *actor, int64_t *id, struct buf *err)
{
    struct store_release rel = {0};
    struct store_line line;
    int status = find_release(d, repo_id, version, &rel, err);
    if (status)
        goto out;
    struct pipeline *p = parse_release(&rel);
    bool known = p && find_env(p, env, NULL);
    pipeline_free(p);
    if (!known) {
        buf_addf(err, "release %s has no environment '%s'", rel.version, env);
        status = 404;
        goto out;
    }
    if (store_release_promotable(&rel, err)) {
        status = 409;
        goto out;
    }
    if (store_line_get(d->cfg.st, repo_id, &line, err)) {
        status = 500;
        goto out;
    }
    if (line.stopped) {
        buf_addf(err, "the line is stopped (%s, by %s): resume it first", line.reason, line.actor);
        store_line_release(&line);
        status = 409;
        goto out;
    }
    store_line_release(&line);
    struct store_deployment nd = {0};
    nd.repo_id = repo_id;
    nd.env = (char *)env;
    nd.release_id = rel.id;
    nd.kind = "deploy";
    nd.state = DEPLOY_QUEUED;
    nd.reason = "";
    nd.actor = (char *)(actor && *actor ? actor : "api");
    nd.created_ms = now_ms(d);
    if (store_deploy_insert(d->cfg.st, &nd, err) < 0) {
        status = 500;
        goto out;
    }
    *id = nd.id;
    row_event(d, &nd);
    kick(d, repo_id, env);
    status = 201;
out:
    store_release_release(&rel);
    return status;
}

int deployer_rollback(struct deployer *d, int64_t repo_id, const char *env, const char *version,
                      const char *actor, int64_t *id, struct buf *err)
{
    struct store_release rel = {0};
    int64_t to = 0;
    if (version) {
        int status = find_release(d, repo_id, version, &rel, err);
        if (status)
            return status;
        if (store_release_promotable(&rel, err)) {
            store_release_release(&rel);
            return 409;
        }
        to = rel.id;
        store_release_release(&rel);
    }
    struct dep *cur = active_in(d, repo_id, env);
    if (cur) {
        /* a rollback goes first: whatever runs in the environment stops */
        cur->phase = PH_DONE;
        cur->gen++;
        set_state(cur, DEPLOY_CANCELLED, "cancelled by a rollback requested by %s",
                  actor && *actor ? actor : "api");
        kill_cmds(cur);
        retire(cur);
    }
    struct dep *a = start_rollback(d, repo_id, env, 0, actor && *actor ? actor : "api", to, err);
    if (!a)
        return err->len && strstr(err->data, "no target") ? 409 : 500;
    *id = a->row.id;
    return 201;
}

int deployer_decide(struct deployer *d, int64_t deployment_id, bool approve, const char *actor,
                    const char *note, struct buf *err)
{
    struct dep *a = NULL;
    for (struct dep *x = d->deps; x && !a; x = x->next)
        if (x->row.id == deployment_id)
            a = x;
    if (!a || (a->phase != PH_APPROVAL && a->phase != PH_PAUSED)) {
        struct store_deployment row = {0};
        int rc = store_deploy_get(d->cfg.st, deployment_id, &row, err);
        if (rc == -ENOENT)
            buf_addf(err, "no deployment %lld", (long long)deployment_id);
        else if (!rc)
            buf_addf(err, "deployment %lld is %s: nothing to %s", (long long)deployment_id,
                     row.state, approve ? "approve" : "reject");
        store_deployment_release(&row);
        return rc == -ENOENT ? 404 : rc ? 500 : 409;
    }
    const char *who = actor && *actor ? actor : "api";
    free(a->row.approved_by);
    a->row.approved_by = xstrdup(who);
    free(a->row.approval_note);
    a->row.approval_note = xstrdup(note ? note : "");
    uv_timer_stop(&a->timer);
    if (!approve) {
        if (a->phase == PH_APPROVAL)
            fail(a, "rejected by %s%s%s", who, note && *note ? ": " : "", note ? note : "");
        else
            fail(a, "rejected by %s while paused%s%s", who, note && *note ? ": " : "",
                 note ? note : "");
        return 200;
    }
    if (a->phase == PH_APPROVAL) {
        begin(a);
        return 200;
    }
    /* paused: go on from where it stopped */
    switch (a->paused_from) {
    case PH_DEPLOYING: {
        struct store_line line;
        bool stopped = store_line_get(d->cfg.st, a->row.repo_id, &line, err) == 0 && line.stopped;
        store_line_release(&line);
        if (stopped) {
            buf_addf(err, "the line is stopped: resume it first");
            return 409;
        }
        if (!a->env->nchecks)
            wave_verified(a, a->row.wave);
        else if (!set_state(a, DEPLOY_BAKING, "wave %d of %d: checks", a->row.wave + 1, a->nwaves))
            start_period(a, PH_BAKING, a->row.wave, a->env->bake_ms);
        break;
    }
    case PH_BAKING:
        wave_verified(a, a->row.wave);
        break;
    case PH_MONITOR:
        succeed(a);
        break;
    default:
        begin(a);
    }
    return 200;
}

int deployer_line(struct deployer *d, int64_t repo_id, bool stop, const char *actor,
                  const char *reason, struct buf *err)
{
    const char *who = actor && *actor ? actor : "api";
    int rc = store_line_set(d->cfg.st, repo_id, stop, who, reason ? reason : "", err);
    if (rc < 0)
        return 500;
    json_t *o = json_object();
    const char *name = d->cfg.repo_name ? d->cfg.repo_name(d->cfg.ctx, repo_id) : NULL;
    json_object_set_new(o, "repo", json_string(name ? name : ""));
    json_object_set_new(o, "line", json_string(stop ? "stopped" : "running"));
    json_object_set_new(o, "reason", json_string(reason ? reason : ""));
    json_object_set_new(o, "actor", json_string(who));
    if (d->cfg.event)
        d->cfg.event(d->cfg.ctx, o);
    else
        json_decref(o);
    if (!stop) {
        /* deployments paused only because the line stopped go on */
        for (struct dep *a = d->deps, *n; a; a = n) {
            n = a->next;
            if (a->row.repo_id == repo_id && a->phase == PH_PAUSED &&
                a->paused_from == PH_DEPLOYING && strstr(a->row.reason, "the line is stopped"))
                deployer_decide(d, a->row.id, true, who, "the line was resumed", err);
        }
        buf_reset(err);
        kick_all(d);
    }
    return rc ? 200 : 200;
}

int deployer_running(const struct deployer *d)
{
    return __atomic_load_n(&d->running, __ATOMIC_RELAXED);
}

void deployer_stats(const struct deployer *d, int *tasks, int64_t measurements[4])
{
    *tasks = deployer_running(d);
    for (int i = 0; i < 4; i++)
        measurements[i] = __atomic_load_n(&d->measurements[i], __ATOMIC_RELAXED);
}

void deployer_stop(struct deployer *d)
{
    d->stopping = true;
    uv_timer_stop(&d->rekick);
    for (struct dep *a = d->deps; a; a = a->next) {
        uv_timer_stop(&a->timer);
        uv_timer_stop(&a->tick);
        kill_cmds(a);
    }
}

/* ---- opening and closing ----------------------------------------------------------- */

/*
 * A command a previous process started may still run (it has its own
 * session): stop its group before the wave runs again. The pid is only
 * trusted while it still leads its own process group.
 */
static void stop_orphan(int64_t pid)
{
    if (pid <= 1 || pid > INT_MAX || getpgid((pid_t)pid) != (pid_t)pid)
        return;
    kill(-(pid_t)pid, SIGKILL);
    for (int i = 0; i < 100 && kill(-(pid_t)pid, 0) == 0; i++)
        usleep(10000); /* up to 1 s for the group to be gone */
}

/* Takes over an unfinished deployment after a restart. */
static void resume(struct deployer *d, struct store_deployment *row)
{
    struct buf err = BUF_INIT;
    struct store_deploy_step *s = NULL;
    size_t n = 0;
    /* commands that were running when the server stopped */
    if (store_step_list(d->cfg.st, row->id, &s, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(s[i].state, "running")) {
                stop_orphan(s[i].pid);
                free(s[i].state);
                s[i].state = xstrdup("interrupted");
                free(s[i].reason);
                s[i].reason = xstrdup("flywheel stopped while it ran; it runs again");
                s[i].finished_ms = now_ms(d);
                if (store_step_set(d->cfg.st, &s[i], &err))
                    fprintf(stderr, "flywheel serve: %s\n", err.data);
            }
    store_steps_release(s, n);
    const char *state = row->state;
    bool rollback = !strcmp(row->kind, "rollback");
    char *st = xstrdup(state);
    struct dep *a = dep_new(d, row);
    int rc = rollback ? plan_from_steps(a, &err) : plan_deploy(a, &err);
    if (rc) {
        set_state(a, DEPLOY_FAILED, "cannot resume: %s", err.data);
        retire(a);
    } else if (!strcmp(st, DEPLOY_APPROVAL)) {
        a->phase = PH_APPROVAL;
        if (a->env->approval_timeout_ms > 0) {
            int64_t left = a->row.phase_ms + a->env->approval_timeout_ms - now_ms(d);
            uv_timer_start(&a->timer, on_deadline, (uint64_t)(left > 0 ? left : 0), 0);
        }
    } else if (!strcmp(st, DEPLOY_PAUSED)) {
        a->phase = PH_PAUSED;
        a->paused_from = PH_BAKING;
        if (strstr(a->row.reason, "the line is stopped"))
            a->paused_from = PH_DEPLOYING;
        uv_timer_start(&a->timer, on_deadline, PAUSE_DEADLINE_MS, 0);
    } else {
        /* deploying, baking, monitoring: deploy the wave again (idempotent), then verify */
        a->resume_monitor = !strcmp(st, DEPLOY_MONITORING);
        prepare(a);
    }
    free(st);
    buf_release(&err);
}

int deployer_open(struct deployer **out, const struct deployer_config *cfg, struct buf *err)
{
    struct deployer *d = xcalloc(1, sizeof(*d));
    d->cfg = *cfg;
    uv_timer_init(cfg->loop, &d->rekick);
    d->rekick.data = d;
    struct store_deployment *v = NULL;
    size_t n = 0;
    if (store_deploy_unfinished(cfg->st, &v, &n, err)) {
        uv_close((uv_handle_t *)&d->rekick, NULL);
        free(d);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (deploy_state_active(v[i].state))
            resume(d, &v[i]);
    store_deployments_release(v, n);
    *out = d;
    kick_all(d);
    return 0;
}

static void kill_walk(uv_handle_t *h, void *arg)
{
    struct deployer *d = arg;
    if (h->type != UV_PROCESS || uv_is_closing(h))
        return;
    /* only the deploy commands: their data is a struct dcmd of one of our deployments */
    for (struct dep *a = d->deps; a; a = a->next) {
        struct dcmd *c = h->data;
        if (c && c->a == a) {
            kill(-((uv_process_t *)h)->pid, SIGKILL);
            return;
        }
    }
}

void deployer_free(struct deployer *d)
{
    if (!d)
        return;
    d->stopping = true;
    uv_walk(d->cfg.loop, kill_walk, d);
    while (d->deps) {
        struct dep *a = d->deps;
        a->phase = PH_DONE;
        retire(a);
    }
    uv_close((uv_handle_t *)&d->rekick, NULL);
    /* Output still coming (a service left running with it): masked up to here, then closed. */
    while (d->pumps) {
        struct logpump *p = d->pumps;
        d->pumps = p->next;
        p->d = NULL;
        pump_end(p);
    }
    free(d);
}
