#include "core/stages.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char *const kind_names[STAGE_NKINDS] = {
    [STAGE_CHANGE_CHECKS] = "change_checks",
    [STAGE_MAIN_RUN] = "main_run",
    [STAGE_RELEASE] = "release",
    [STAGE_PROMOTION] = "promotion",
    [STAGE_QUEUED] = "queued",
    [STAGE_LINE] = "line",
    [STAGE_WINDOW] = "window",
    [STAGE_HEALTH] = "health",
    [STAGE_APPROVAL] = "approval",
    [STAGE_DEPLOY] = "deploy",
    [STAGE_BAKE] = "bake",
    [STAGE_PAUSED] = "paused",
    [STAGE_MONITORING] = "monitoring",
};

/* For people: what follows the environment's name. */
static const char *const kind_words[STAGE_NKINDS] = {
    [STAGE_CHANGE_CHECKS] = "change checks",
    [STAGE_MAIN_RUN] = "main run",
    [STAGE_RELEASE] = "making the release",
    [STAGE_PROMOTION] = "waiting for promotion",
    [STAGE_QUEUED] = "waiting for its turn",
    [STAGE_LINE] = "waiting behind the stopped line",
    [STAGE_WINDOW] = "waiting for the window",
    [STAGE_HEALTH] = "waiting for its checks to pass",
    [STAGE_APPROVAL] = "waiting for approval",
    [STAGE_DEPLOY] = "deploy",
    [STAGE_BAKE] = "bake",
    [STAGE_PAUSED] = "paused",
    [STAGE_MONITORING] = "monitoring",
};

const char *stage_kind_name(enum stage_kind k)
{
    return (unsigned)k < STAGE_NKINDS ? kind_names[k] : "?";
}

void stage_key_describe(const struct stage_key *k, const char *const *envs, struct buf *out)
{
    if (k->env >= 0)
        buf_addf(out, "%s ", envs[k->env]);
    if (k->wave)
        buf_addf(out, "wave %d ", k->wave);
    buf_adds(out, (unsigned)k->kind < STAGE_NKINDS ? kind_words[k->kind] : "?");
}

/* Before the waves, the waves (by wave, deploy before bake), after them. */
static int group(enum stage_kind k)
{
    return k < STAGE_DEPLOY ? 0 : k <= STAGE_BAKE ? 1 : 2;
}

int stage_key_cmp(const struct stage_key *a, const struct stage_key *b)
{
    int x[4] = {a->env, group(a->kind), a->wave, (int)a->kind};
    int y[4] = {b->env, group(b->kind), b->wave, (int)b->kind};
    for (int i = 0; i < 4; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return stage_key_cmp(a, b);
}

/* ---- environments ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The environments: env_order, then the others the deployments name, by name. */
static void envs_of(const char *const *order, size_t norder, const struct stage_deployment *deps,
                    size_t ndeps, struct stages_result *r)
{
    r->envs = xcalloc(norder + ndeps + 1, sizeof(*r->envs));
    for (size_t i = 0; i < norder; i++) {
        bool dup = false;
        for (size_t k = 0; k < r->nenvs && !dup; k++)
            dup = !strcmp(r->envs[k], order[i]);
        if (!dup)
            r->envs[r->nenvs++] = order[i];
    }
    size_t known = r->nenvs;
    for (size_t i = 0; i < ndeps; i++) {
        bool dup = false;
        for (size_t k = 0; k < r->nenvs && !dup; k++)
            dup = !strcmp(r->envs[k], deps[i].env);
        if (!dup)
            r->envs[r->nenvs++] = deps[i].env;
    }
    qsort(r->envs + known, r->nenvs - known, sizeof(*r->envs), cmp_str);
}

/* ---- one release ---- */

struct acc {
    struct stage_time *v;
    size_t n, alloc;
};

static void acc_add(struct acc *a, int env, enum stage_kind kind, int wave, int64_t start,
                    int64_t end)
{
    if (end < start)
        end = start;
    for (size_t i = 0; i < a->n; i++) {
        struct stage_time *t = &a->v[i];
        if (t->key.env == env && t->key.kind == kind && t->key.wave == wave) {
            t->ms += end - start;
            if (start < t->start_ms)
                t->start_ms = start;
            if (end > t->end_ms)
                t->end_ms = end;
            return;
        }
    }
    ALLOC_GROW(a->v, a->n + 1, a->alloc);
    struct stage_time *t = &a->v[a->n++];
    t->key.env = env;
    t->key.kind = kind;
    t->key.wave = wave;
    t->start_ms = start;
    t->end_ms = end;
    t->ms = end - start;
}

static bool final_state(const char *s)
{
    static const char *const finals[] = {"succeeded", "failed", "rejected", "superseded",
                                         "cancelled"};
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
        if (!strcmp(s, finals[i]))
            return true;
    return false;
}

/* The stage an event starts; false for a final state. */
static bool event_stage(const struct stage_event *e, enum stage_kind *kind, int *wave)
{
    const char *w = e->wait ? e->wait : "";
    *wave = 0;
    if (!strcmp(e->state, "queued")) {
        *kind = !strcmp(w, "line")     ? STAGE_LINE
                : !strcmp(w, "window") ? STAGE_WINDOW
                : !strcmp(w, "health") ? STAGE_HEALTH
                                       : STAGE_QUEUED;
    } else if (!strcmp(e->state, "approval")) {
        *kind = STAGE_APPROVAL;
    } else if (!strcmp(e->state, "deploying") || !strcmp(e->state, "baking")) {
        *kind = e->state[0] == 'd' ? STAGE_DEPLOY : STAGE_BAKE;
        *wave = e->wave + 1;
    } else if (!strcmp(e->state, "paused")) {
        *kind = !strcmp(w, "line") ? STAGE_LINE : STAGE_PAUSED;
    } else if (!strcmp(e->state, "monitoring")) {
        *kind = STAGE_MONITORING;
    } else {
        return false;
    }
    return true;
}

/* Events sorted by deployment, then in their order, with the stage each starts (read once). */
struct evref {
    const struct stage_event *e;
    size_t i;
    bool has_stage, final, monitoring;
    enum stage_kind kind;
    int wave;
};

static int cmp_evref(const void *a, const void *b)
{
    const struct evref *x = a, *y = b;
    if (x->e->deployment_id != y->e->deployment_id)
        return x->e->deployment_id < y->e->deployment_id ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The events of deployment id: [*first, *first + *n) of ev. */
static void events_of(const struct evref *ev, size_t nev, int64_t id, size_t *first, size_t *n)
{
    size_t lo = 0, hi = nev;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ev[mid].e->deployment_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    while (hi < nev && ev[hi].e->deployment_id == id)
        hi++;
    *n = hi > lo ? hi - lo : 0;
}

/* When the waves of a deployment were over: it entered monitoring, or it succeeded. 0: not. */
static int64_t waves_done(const struct stage_deployment *d, const struct evref *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].monitoring)
            return ev[i].e->time_ms;
    return d->succeeded ? d->finished_ms : 0;
}

static void deployment_stages(struct acc *a, int env, const struct evref *ev, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (ev[i].has_stage)
            acc_add(a, env, ev[i].kind, ev[i].wave, ev[i].e->time_ms, ev[i + 1].e->time_ms);
        if (ev[i].final)
            break;
    }
}

/* The deployment of a release into an environment that tells its story. */
static const struct stage_deployment *pick(const struct stage_deployment *const *c, size_t n)
{
    const struct stage_deployment *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < n; i++) {
        int rank = c[i]->succeeded ? 2 : c[i]->started ? 1 : 0;
        if (rank > best_rank || (rank == best_rank && c[i]->id > best->id)) {
            best = c[i];
            best_rank = rank;
        }
    }
    return best;
}

static int cmp_dep_release(const void *a, const void *b)
{
    const struct stage_deployment *x = *(const struct stage_deployment *const *)a;
    const struct stage_deployment *y = *(const struct stage_deployment *const *)b;
    if (x->release_id != y->release_id)
        return x->release_id < y->release_id ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void release_stages(struct acc *a, const struct stage_release *r, struct stages_result *res,
                           const struct stage_deployment *const *deps, const int *dep_env,
                           size_t ndeps, const struct evref *ev, size_t nev)
{
    if (r->change_created_ms && r->change_finished_ms)
        acc_add(a, -1, STAGE_CHANGE_CHECKS, 0, r->change_created_ms, r->change_finished_ms);
    if (r->run_created_ms && r->run_finished_ms)
        acc_add(a, -1, STAGE_MAIN_RUN, 0, r->run_created_ms, r->run_finished_ms);
    if (r->run_finished_ms && r->created_ms)
        acc_add(a, -1, STAGE_RELEASE, 0, r->run_finished_ms, r->created_ms);
    /* this release's deployments */
    size_t lo = 0, hi = ndeps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (deps[mid]->release_id < r->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo, end = lo;
    while (end < ndeps && deps[end]->release_id == r->id)
        end++;
    int64_t ready = r->created_ms; /* when the next environment may have it */
    for (size_t e = 0; e < res->nenvs; e++) {
        const struct stage_deployment *c[64];
        size_t nc = 0;
        for (size_t i = first; i < end && nc < 64; i++)
            if (dep_env[i] == (int)e)
                c[nc++] = deps[i];
        const struct stage_deployment *d = pick(c, nc);
        if (!d)
            continue;
        size_t f, n;
        events_of(ev, nev, d->id, &f, &n);
        if (ready && d->created_ms)
            acc_add(a, (int)e, STAGE_PROMOTION, 0, ready < d->created_ms ? ready : d->created_ms,
                    d->created_ms);
        deployment_stages(a, (int)e, ev + f, n);
        ready = waves_done(d, ev + f, n);
    }
    if (a->n)
        qsort(a->v, a->n, sizeof(*a->v), cmp_key);
}

/* ---- the period ---- */

static int cmp_release_newest(const void *a, const void *b)
{
    const struct stage_release_times *x = a, *y = b;
    if (x->release->created_ms != y->release->created_ms)
        return x->release->created_ms > y->release->created_ms ? -1 : 1;
    return (x->release->id < y->release->id) - (x->release->id > y->release->id);
}

int stages_compute(const struct dora_params *p, const char *const *env_order, size_t nenv_order,
                   const struct stage_release *rel, size_t nrel,
                   const struct stage_deployment *deps, size_t ndeps, const struct stage_event *ev,
                   size_t nev, struct stages_result *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (dora_spans(p, &out->spans, &out->nspans, err))
        return -1;
    envs_of(env_order, nenv_order, deps, ndeps, out);
    const struct stage_deployment **dv = xcalloc(ndeps + 1, sizeof(*dv));
    for (size_t i = 0; i < ndeps; i++)
        dv[i] = &deps[i];
    qsort(dv, ndeps, sizeof(*dv), cmp_dep_release);
    int *dep_env = xcalloc(ndeps + 1, sizeof(*dep_env));
    for (size_t i = 0; i < ndeps; i++) {
        dep_env[i] = -1;
        for (size_t e = 0; e < out->nenvs && dep_env[i] < 0; e++)
            if (dv[i]->env == out->envs[e] || !strcmp(dv[i]->env, out->envs[e]))
                dep_env[i] = (int)e;
    }
    struct evref *er = xcalloc(nev + 1, sizeof(*er));
    for (size_t i = 0; i < nev; i++) {
        er[i].e = &ev[i];
        er[i].i = i;
        er[i].has_stage = event_stage(&ev[i], &er[i].kind, &er[i].wave);
        er[i].final = !er[i].has_stage && final_state(ev[i].state);
        er[i].monitoring = er[i].has_stage && er[i].kind == STAGE_MONITORING;
    }
    /* the store gives them by deployment already, most of the time: no sort then */
    bool sorted = true;
    for (size_t i = 1; i < nev && sorted; i++)
        sorted = cmp_evref(&er[i - 1], &er[i]) <= 0;
    if (!sorted)
        qsort(er, nev, sizeof(*er), cmp_evref);

    out->releases = xcalloc(nrel + 1, sizeof(*out->releases));
    long *bucket = xcalloc(nrel + 1, sizeof(*bucket));
    size_t keys_alloc = 0;
    for (size_t i = 0; i < nrel; i++) {
        long b = dora_span_index(p, out->spans, out->nspans, rel[i].created_ms);
        if (b < 0)
            continue;
        struct acc a = {0};
        release_stages(&a, &rel[i], out, dv, dep_env, ndeps, er, nev);
        struct stage_release_times *t = &out->releases[out->nreleases];
        t->release = &rel[i];
        t->v = a.v;
        t->n = a.n;
        bucket[out->nreleases++] = b;
        /* the keys seen, kept sorted */
        for (size_t k = 0; k < a.n; k++) {
            size_t lo = 0, hi = out->nkeys;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (stage_key_cmp(&out->keys[mid], &a.v[k].key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < out->nkeys && !stage_key_cmp(&out->keys[lo], &a.v[k].key))
                continue;
            ALLOC_GROW(out->keys, out->nkeys + 1, keys_alloc);
            memmove(&out->keys[lo + 1], &out->keys[lo], (out->nkeys - lo) * sizeof(*out->keys));
            out->keys[lo] = a.v[k].key;
            out->nkeys++;
        }
    }

    /* samples per (key, bucket) */
    size_t ncells = out->nkeys * out->nspans;
    double **cell = xcalloc(ncells + 1, sizeof(*cell));
    size_t *ncell = xcalloc(ncells + 1, sizeof(*ncell)),
           *acell = xcalloc(ncells + 1, sizeof(*acell));
    for (size_t i = 0; i < out->nreleases; i++) {
        const struct stage_release_times *t = &out->releases[i];
        for (size_t k = 0; k < t->n; k++) {
            const struct stage_key *key =
                bsearch(&t->v[k].key, out->keys, out->nkeys, sizeof(*out->keys), cmp_key);
            size_t c = (size_t)(key - out->keys) * out->nspans + (size_t)bucket[i];
            ALLOC_GROW(cell[c], ncell[c] + 1, acell[c]);
            cell[c][ncell[c]++] = (double)t->v[k].ms / 1000.0;
        }
    }
    out->stats = xcalloc(ncells + 1, sizeof(*out->stats));
    for (size_t c = 0; c < ncells; c++) {
        dora_stat_of(cell[c], ncell[c], &out->stats[c]);
        free(cell[c]);
    }
    free(cell);
    free(ncell);
    free(acell);
    free(bucket);
    qsort(out->releases, out->nreleases, sizeof(*out->releases), cmp_release_newest);
    free(dv);
    free(dep_env);
    free(er);
    return 0;
}

void stages_result_release(struct stages_result *r)
{
    for (size_t i = 0; i < r->nreleases; i++)
        free(r->releases[i].v);
    free(r->releases);
    free(r->envs);
    free(r->spans);
    free(r->keys);
    free(r->stats);
    memset(r, 0, sizeof(*r));
}
