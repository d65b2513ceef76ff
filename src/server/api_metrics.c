/*
 * The measures of the loop (docs/metrics.md; the routes in docs/api.md):
 *
 *   GET /api/v1/metrics/dora     the four DORA measures of an environment,
 *                                shaped like GitLab's DORA API
 *   GET /api/v1/metrics/stages   where releases spend their time
 *   GET /api/v1/metrics/caught   failures by the stage that caught them
 *   GET /api/v1/metrics/flaky    jobs that failed, then passed on the same commit
 *
 * and their current values for /metrics (api_metrics_prometheus). They
 * share their arguments: repo, from/to or since, interval, tz. The store
 * loads the records; core/dora.c, stages.c, caught.c and flaky.c compute.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/caught.h"
#include "core/dora.h"
#include "core/duration.h"
#include "core/flaky.h"
#include "core/pipeline.h"
#include "core/stages.h"
#include "core/tz.h"
#include "server/api_int.h"
#include "store/deploy.h"
#include "store/metrics.h"
#include "store/release.h"
#include "util/xalloc.h"

#define DEFAULT_PERIOD_MS (30LL * 86400 * 1000)

/*
 * The environments of a repository, in order: those of the latest
 * release's pipeline (the last one is production: where incidents open),
 * else "production" alone. The caller frees them with free_envs().
 */
static char **repo_envs(struct store *st, int64_t repo_id, size_t *n)
{
    struct store_release *v = NULL;
    size_t nv = 0;
    struct buf err = BUF_INIT;
    char **envs = NULL;
    *n = 0;
    if (store_release_list(st, repo_id, 0, 1, &v, &nv, &err) == 0 && nv && v[0].pipeline) {
        struct diag_list dl = DIAG_LIST_INIT;
        struct pipeline *p =
            pipeline_parse(PIPELINE_FILE, v[0].pipeline, strlen(v[0].pipeline), NULL, 0, &dl);
        if (p && p->nenvs) {
            envs = xcalloc(p->nenvs, sizeof(*envs));
            for (size_t i = 0; i < p->nenvs; i++)
                envs[i] = xstrdup(p->envs[i].name);
            *n = p->nenvs;
        }
        pipeline_free(p);
        diag_list_release(&dl);
    }
    store_releases_release(v, nv);
    buf_release(&err);
    if (!envs) {
        envs = xcalloc(1, sizeof(*envs));
        envs[0] = xstrdup("production");
        *n = 1;
    }
    return envs;
}

static void free_envs(char **envs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(envs[i]);
    free(envs);
}

/* ---- the arguments every route shares ---- */

struct period {
    struct store_repo repo;
    char **envs; /* repo_envs() */
    size_t nenvs;
    const char *env; /* the environment asked for (dora), else the last one */
    const char *tz_name;
    struct dora_params p;
    long limit;
};

static void period_release(struct period *q)
{
    store_repo_release(&q->repo);
    free_envs(q->envs, q->nenvs);
    memset(q, 0, sizeof(*q));
}

static void why_add(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(struct buf *why, const char *fmt, ...)
{
    va_list ap;
    if (why->len)
        buf_adds(why, "; ");
    va_start(ap, fmt);
    buf_vaddf(why, fmt, ap);
    va_end(ap);
}

/* A time argument of the query into *ms (unchanged when absent); reasons go to why. */
static void query_time(struct http_request *r, const char *name, const struct tz *tz, int64_t *ms,
                       struct buf *why)
{
    const char *v = http_query(r, name);
    struct buf err = BUF_INIT;
    if (v && dora_parse_time_tz(v, tz, ms, &err))
        why_add(why, "%s: %s", name, err.data);
    buf_release(&err);
}

/*
 * Reads repo, env (when with_env), from, to, since, interval, tz and
 * limit (when limit_max > 0) into q; on a bad one replies 400 naming every
 * bad argument (404 for an unknown repository, 500 for the store) and
 * returns -1.
 */
static int period_parse(struct http_request *r, struct store *st, bool with_env, long limit_dflt,
                        long limit_max, struct period *q)
{
    struct buf why = BUF_INIT, err = BUF_INIT;
    memset(q, 0, sizeof(*q));
    const char *name = http_query(r, "repo");
    const char *iv_name = http_query(r, "interval");
    const char *want_env = with_env ? http_query(r, "env") : NULL;
    const char *since = http_query(r, "since");
    const char *limit = http_query(r, "limit");
    int iv = iv_name ? dora_interval_parse(iv_name) : DORA_DAY;
    const struct tz *tz = NULL;
    int64_t to = store_now_ms(), from = 0, since_ms = DEFAULT_PERIOD_MS;
    q->tz_name = http_query(r, "tz");
    if (!name || !*name)
        why_add(&why, "repo: a repository's name is required");
    if (iv < 0)
        why_add(&why, "interval: '%s' is not one of day, week, month, all", iv_name);
    if (want_env && !*want_env)
        why_add(&why, "env: empty");
    if (q->tz_name) {
        tz = tz_get(q->tz_name, &err);
        if (!tz)
            why_add(&why, "tz: %s", err.data);
        buf_reset(&err);
    }
    query_time(r, "to", tz, &to, &why);
    query_time(r, "from", tz, &from, &why);
    if (since && http_query(r, "from"))
        why_add(&why, "since: give either from or since");
    else if (since && (duration_parse(since, &since_ms, &err) || since_ms <= 0))
        why_add(&why, "since: %s", err.len ? err.data : "must be longer than 0s");
    buf_reset(&err);
    if (!http_query(r, "from"))
        from = to - since_ms;
    q->limit = limit_dflt;
    if (limit_max > 0 && limit) {
        char *end;
        errno = 0;
        long v = strtol(limit, &end, 10);
        if (errno || *end || !*limit || v < 1 || v > limit_max)
            why_add(&why, "limit: '%s' is not a number from 1 to %ld", limit, limit_max);
        else
            q->limit = v;
    }
    if (!why.len && from >= to)
        why_add(&why, "from: must come before to");
    q->p.from_ms = from;
    q->p.to_ms = to;
    q->p.interval = iv < 0 ? DORA_DAY : (enum dora_interval)iv;
    q->p.tz = tz;
    if (!why.len) {
        /* the period's shape: too many buckets */
        struct dora_span *sp = NULL;
        size_t n = 0;
        if (dora_spans(&q->p, &sp, &n, &err))
            why_add(&why, "%s", err.data);
        free(sp);
        buf_reset(&err);
    }
    if (why.len) {
        http_reply_error(r, 400, "bad_request", "%s", why.data);
        goto fail;
    }
    int rc = store_repo_get(st, name, &q->repo, &err);
    if (rc == -ENOENT) {
        http_reply_error(r, 404, "not_found", "no repository '%s'", name);
        goto fail;
    } else if (rc) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto fail;
    }
    q->envs = repo_envs(st, q->repo.id, &q->nenvs);
    q->env = want_env ? want_env : q->envs[q->nenvs - 1];
    q->p.env = q->env;
    buf_release(&why);
    buf_release(&err);
    return 0;
fail:
    buf_release(&why);
    buf_release(&err);
    period_release(q);
    return -1;
}

/* The keys every answer starts with. */
static json_t *period_json(const struct period *q, bool with_interval)
{
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(q->repo.name));
    if (with_interval)
        json_object_set_new(o, "interval", json_string(dora_interval_name(q->p.interval)));
    json_object_set_new(o, "tz", json_string(q->tz_name ? q->tz_name : "UTC"));
    json_object_set_new(o, "from_ms", json_integer(q->p.from_ms));
    json_object_set_new(o, "to_ms", json_integer(q->p.to_ms));
    return o;
}

/* {"date", "from_ms", "to_ms"}: an interval, its date in the period's zone. */
static json_t *span_json(const struct period *q, int64_t start, int64_t end)
{
    struct buf date = BUF_INIT;
    dora_format_date_tz(start, q->p.tz, &date);
    json_t *o = json_object();
    json_object_set_new(o, "date", json_string(date.data));
    json_object_set_new(o, "from_ms", json_integer(start));
    json_object_set_new(o, "to_ms", json_integer(end));
    buf_release(&date);
    return o;
}

static json_t *jsec(bool has, double v)
{
    return has ? json_real(v) : json_null();
}

/* value (the median), p90, count of a stat, added to o. */
static json_t *with_stat(json_t *o, const struct dora_stat *s)
{
    json_object_set_new(o, "value", jsec(s->has, s->median_s));
    json_object_set_new(o, "p90", jsec(s->has, s->p90_s));
    json_object_set_new(o, "count", json_integer((json_int_t)s->n));
    return o;
}

static void reply(struct http_request *r, json_t *o)
{
    /* seconds with at most 15 digits: 1.234, not 1.2339999999999999 */
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    struct buf text = BUF_INIT;
    buf_adds(&text, s ? s : "{}");
    buf_addch(&text, '\n');
    free(s);
    http_reply_text(r, 200, "application/json", text.data, text.len);
    buf_release(&text);
}

/* ---- dora ---- */

static json_t *dora_json(const struct period *q, const struct dora_bucket *b, size_t n)
{
    json_t *freq = json_array(), *lead = json_array(), *lead_c = json_array(), *cfr = json_array(),
           *ttr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = span_json(q, b[i].start_ms, b[i].end_ms);
        json_object_set_new(o, "value", json_integer(b[i].deployments));
        json_array_append_new(freq, o);
        json_array_append_new(lead,
                              with_stat(span_json(q, b[i].start_ms, b[i].end_ms), &b[i].lead_time));
        json_array_append_new(
            lead_c, with_stat(span_json(q, b[i].start_ms, b[i].end_ms), &b[i].lead_time_commit));
        o = span_json(q, b[i].start_ms, b[i].end_ms);
        json_object_set_new(o, "value", jsec(b[i].has_failure_rate, b[i].failure_rate));
        json_object_set_new(o, "failed", json_integer(b[i].failed));
        json_object_set_new(o, "deployments", json_integer(b[i].finished));
        json_array_append_new(cfr, o);
        json_array_append_new(ttr,
                              with_stat(span_json(q, b[i].start_ms, b[i].end_ms), &b[i].restore));
    }
    json_t *m = json_object();
    json_object_set_new(m, "deployment_frequency", freq);
    json_object_set_new(m, "lead_time_for_changes", lead);
    json_object_set_new(m, "lead_time_from_first_commit", lead_c);
    json_object_set_new(m, "change_failure_rate", cfr);
    json_object_set_new(m, "time_to_restore_service", ttr);
    return m;
}

/* The DORA buckets of env over p (loads and computes); 0 or -1 with err. */
static int dora_of(struct store *st, int64_t repo_id, const struct dora_params *p,
                   struct dora_bucket **b, size_t *nb, struct buf *err)
{
    struct dora_deployment *deps = NULL;
    struct dora_incident *incs = NULL;
    size_t ndeps = 0, nincs = 0;
    int rc = store_dora_load(st, repo_id, p->env, p->from_ms, p->to_ms, &deps, &ndeps, &incs,
                             &nincs, err);
    if (!rc)
        rc = dora_compute(p, deps, ndeps, incs, nincs, b, nb, err);
    free(deps);
    free(incs);
    return rc;
}

void h_metrics_dora(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct period q;
    if (!st || period_parse(r, st, true, 0, 0, &q))
        return;
    struct dora_bucket *b = NULL;
    size_t nb = 0;
    struct buf err = BUF_INIT;
    if (dora_of(st, q.repo.id, &q.p, &b, &nb, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
    } else {
        json_t *o = period_json(&q, false);
        json_object_set_new(o, "env", json_string(q.env));
        json_object_set_new(o, "interval", json_string(dora_interval_name(q.p.interval)));
        json_object_set_new(o, "metrics", dora_json(&q, b, nb));
        reply(r, o);
    }
    free(b);
    buf_release(&err);
    period_release(&q);
}

/* ---- stages ---- */

static json_t *stage_key_json(const struct stage_key *k, const char *const *envs)
{
    struct buf name = BUF_INIT;
    stage_key_describe(k, envs, &name);
    json_t *o = json_object();
    json_object_set_new(o, "stage", json_string(stage_kind_name(k->kind)));
    json_object_set_new(o, "env", k->env >= 0 ? json_string(envs[k->env]) : json_null());
    json_object_set_new(o, "wave", k->wave ? json_integer(k->wave) : json_null());
    json_object_set_new(o, "name", json_string(name.data));
    buf_release(&name);
    return o;
}

void h_metrics_stages(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct period q;
    if (!st || period_parse(r, st, false, 50, 1000, &q))
        return;
    struct store_stages rec;
    struct stages_result res;
    struct buf err = BUF_INIT;
    if (store_stages_load(st, q.repo.id, q.p.from_ms, q.p.to_ms, &rec, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    if (stages_compute(&q.p, (const char *const *)q.envs, q.nenvs, rec.rel, rec.nrel, rec.deps,
                       rec.ndeps, rec.ev, rec.nev, &res, &err)) {
        http_reply_error(r, 400, "bad_request", "%s", err.data);
        store_stages_release(&rec);
        goto out;
    }
    json_t *o = period_json(&q, true);
    json_t *envs = json_array();
    for (size_t i = 0; i < res.nenvs; i++)
        json_array_append_new(envs, json_string(res.envs[i]));
    json_object_set_new(o, "envs", envs);
    json_t *stages = json_array();
    for (size_t k = 0; k < res.nkeys; k++) {
        json_t *s = stage_key_json(&res.keys[k], res.envs);
        json_t *values = json_array();
        for (size_t b = 0; b < res.nspans; b++)
            json_array_append_new(
                values, with_stat(span_json(&q, res.spans[b].start_ms, res.spans[b].end_ms),
                                  &res.stats[k * res.nspans + b]));
        json_object_set_new(s, "values", values);
        json_array_append_new(stages, s);
    }
    json_object_set_new(o, "stages", stages);
    json_object_set_new(o, "releases_count", json_integer((json_int_t)res.nreleases));
    json_t *rels = json_array();
    for (size_t i = 0; i < res.nreleases && (long)i < q.limit; i++) {
        const struct stage_release_times *t = &res.releases[i];
        json_t *x = json_object();
        json_object_set_new(x, "release", json_string(t->release->version));
        json_object_set_new(x, "created_ms", json_integer(t->release->created_ms));
        json_t *v = json_array();
        for (size_t k = 0; k < t->n; k++) {
            json_t *s = stage_key_json(&t->v[k].key, res.envs);
            json_object_set_new(s, "start_ms", json_integer(t->v[k].start_ms));
            json_object_set_new(s, "end_ms", json_integer(t->v[k].end_ms));
            json_object_set_new(s, "seconds", json_real((double)t->v[k].ms / 1000.0));
            json_array_append_new(v, s);
        }
        json_object_set_new(x, "stages", v);
        json_array_append_new(rels, x);
    }
    json_object_set_new(o, "releases", rels);
    reply(r, o);
    stages_result_release(&res);
    store_stages_release(&rec);
out:
    buf_release(&err);
    period_release(&q);
}

/* ---- caught ---- */

void h_metrics_caught(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct period q;
    if (!st || period_parse(r, st, false, 0, 0, &q))
        return;
    struct store_caught rec;
    struct caught_result res;
    struct buf err = BUF_INIT;
    if (store_caught_load(st, q.repo.id, q.p.from_ms, q.p.to_ms, &rec, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    if (caught_compute(&q.p, q.envs[q.nenvs - 1], (const char *const *)q.envs, q.nenvs, rec.v,
                       rec.n, &res, &err)) {
        http_reply_error(r, 400, "bad_request", "%s", err.data);
        store_caught_release(&rec);
        goto out;
    }
    json_t *o = period_json(&q, true);
    json_object_set_new(o, "production", json_string(q.envs[q.nenvs - 1]));
    json_t *stages = json_array();
    for (size_t i = 0; i < res.nrows; i++) {
        const struct caught_row *row = &res.rows[i];
        json_t *s = json_object();
        json_object_set_new(s, "stage", json_string(caught_stage_name(row->stage)));
        json_object_set_new(s, "env", row->env ? json_string(row->env) : json_null());
        json_object_set_new(s, "total", json_integer(row->total));
        json_t *values = json_array();
        for (size_t b = 0; b < res.nspans; b++) {
            json_t *v = span_json(&q, res.spans[b].start_ms, res.spans[b].end_ms);
            json_object_set_new(v, "value", json_integer(row->counts[b]));
            json_array_append_new(values, v);
        }
        json_object_set_new(s, "values", values);
        json_array_append_new(stages, s);
    }
    json_object_set_new(o, "stages", stages);
    json_object_set_new(o, "total", json_integer(res.total));
    json_t *totals = json_array();
    for (size_t b = 0; b < res.nspans; b++) {
        json_t *v = span_json(&q, res.spans[b].start_ms, res.spans[b].end_ms);
        json_object_set_new(v, "value", json_integer(res.totals[b]));
        json_array_append_new(totals, v);
    }
    json_object_set_new(o, "totals", totals);
    reply(r, o);
    caught_result_release(&res);
    store_caught_release(&rec);
out:
    buf_release(&err);
    period_release(&q);
}

/* ---- flaky ---- */

void h_metrics_flaky(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct period q;
    if (!st || period_parse(r, st, false, 20, 1000, &q))
        return;
    struct store_flaky rec;
    struct buf err = BUF_INIT;
    if (store_flaky_load(st, q.repo.id, q.p.from_ms, q.p.to_ms, &rec, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    struct flaky_job *jobs = NULL;
    size_t n = 0;
    flaky_rank(rec.v, rec.n, &jobs, &n);
    json_t *o = period_json(&q, false);
    json_t *arr = json_array();
    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
        failures += jobs[i].failures;
        if ((long)i >= q.limit)
            continue;
        struct flaky_record *l = &rec.v[jobs[i].last - rec.v];
        if (store_flaky_complete(st, l, &err)) {
            http_reply_error(r, 500, "store", "%s", err.data);
            json_decref(o);
            json_decref(arr);
            free(jobs);
            store_flaky_release(&rec);
            goto out;
        }
        json_t *x = json_object();
        json_object_set_new(x, "job", json_string(jobs[i].job));
        json_object_set_new(x, "commits", json_integer((json_int_t)jobs[i].commits));
        json_object_set_new(x, "failures", json_integer((json_int_t)jobs[i].failures));
        json_object_set_new(x, "in_run", json_integer((json_int_t)jobs[i].in_run));
        json_object_set_new(x, "across_runs", json_integer((json_int_t)jobs[i].across_runs));
        json_t *last = json_object();
        json_object_set_new(last, "run_id", json_integer(l->run_id));
        json_object_set_new(last, "run_number", json_integer(l->run_number));
        json_object_set_new(last, "commit", json_string(l->commit));
        json_object_set_new(last, "attempt", json_integer(l->attempt));
        json_object_set_new(last, "failed_ms", json_integer(l->failed_ms));
        json_object_set_new(last, "passed_run_id", json_integer(l->passed_run_id));
        json_object_set_new(last, "passed_run_number", json_integer(l->passed_run_number));
        json_object_set_new(last, "passed_ms", json_integer(l->passed_ms));
        json_object_set_new(x, "last", last);
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "flaky_jobs", json_integer((json_int_t)n));
    json_object_set_new(o, "failures", json_integer((json_int_t)failures));
    json_object_set_new(o, "jobs", arr);
    reply(r, o);
    free(jobs);
    store_flaky_release(&rec);
out:
    buf_release(&err);
    period_release(&q);
}

/* ---- Prometheus ---- */

/* A label value: backslash, double quote and newline escaped. */
static void label(struct buf *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            buf_addf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_adds(out, "\\n");
        else
            buf_addch(out, *p);
    }
}

struct prom {
    struct buf freq, lead, cfr, ttr, caught, flaky;
};

static void prom_sample(struct buf *b, const char *name, const char *repo, const char *env,
                        const char *extra, double v)
{
    buf_addf(b, "%s{repo=\"", name);
    label(b, repo);
    if (env) {
        buf_adds(b, "\",env=\"");
        label(b, env);
    }
    buf_addf(b, "\"%s} %.15g\n", extra ? extra : "", v);
}

static void prom_repo(struct store *st, const struct store_repo *repo, int64_t now, struct prom *pm)
{
    size_t nenvs = 0;
    char **envs = repo_envs(st, repo->id, &nenvs);
    struct buf err = BUF_INIT;
    struct dora_params p = {
        .from_ms = now - API_METRICS_WINDOW_MS, .to_ms = now, .interval = DORA_ALL};
    for (size_t e = 0; e < nenvs; e++) {
        struct dora_bucket *b = NULL;
        size_t nb = 0;
        p.env = envs[e];
        if (dora_of(st, repo->id, &p, &b, &nb, &err) || nb != 1) {
            buf_reset(&err);
            free(b);
            continue;
        }
        prom_sample(&pm->freq, "flywheel_deployment_frequency_per_day", repo->name, envs[e], NULL,
                    (double)b[0].deployments * 86400000.0 / (double)API_METRICS_WINDOW_MS);
        static const char *const q[] = {",quantile=\"0.5\"", ",quantile=\"0.9\""};
        const struct dora_stat *lead[2] = {&b[0].lead_time_commit, &b[0].lead_time};
        static const char *const from[2] = {",from=\"first_commit\"", ",from=\"merge\""};
        for (int k = 0; k < 2; k++) {
            if (!lead[k]->has)
                continue;
            for (int j = 0; j < 2; j++) {
                struct buf x = BUF_INIT;
                buf_addf(&x, "%s%s", from[k], q[j]);
                prom_sample(&pm->lead, "flywheel_lead_time_seconds", repo->name, envs[e], x.data,
                            j ? lead[k]->p90_s : lead[k]->median_s);
                buf_release(&x);
            }
        }
        if (b[0].has_failure_rate)
            prom_sample(&pm->cfr, "flywheel_change_failure_ratio", repo->name, envs[e], NULL,
                        b[0].failure_rate);
        if (b[0].restore.has) {
            prom_sample(&pm->ttr, "flywheel_time_to_restore_seconds", repo->name, envs[e], q[0],
                        b[0].restore.median_s);
            prom_sample(&pm->ttr, "flywheel_time_to_restore_seconds", repo->name, envs[e], q[1],
                        b[0].restore.p90_s);
        }
        free(b);
    }
    struct store_caught rec;
    struct caught_result res;
    p.env = NULL;
    if (!store_caught_load(st, repo->id, p.from_ms, p.to_ms, &rec, &err)) {
        if (!caught_compute(&p, envs[nenvs - 1], (const char *const *)envs, nenvs, rec.v, rec.n,
                            &res, &err)) {
            for (size_t i = 0; i < res.nrows; i++) {
                struct buf x = BUF_INIT;
                buf_addf(&x, ",stage=\"%s\"", caught_stage_name(res.rows[i].stage));
                prom_sample(&pm->caught, "flywheel_caught_failures", repo->name,
                            res.rows[i].env ? res.rows[i].env : "", x.data,
                            (double)res.rows[i].total);
                buf_release(&x);
            }
            caught_result_release(&res);
        }
        store_caught_release(&rec);
    }
    buf_reset(&err);
    struct store_flaky fl;
    if (!store_flaky_load(st, repo->id, p.from_ms, p.to_ms, &fl, &err)) {
        prom_sample(&pm->flaky, "flywheel_flaky_failures", repo->name, NULL, NULL, (double)fl.n);
        store_flaky_release(&fl);
    }
    buf_release(&err);
    free_envs(envs, nenvs);
}

void api_metrics_prometheus(struct store *st, struct buf *out)
{
    struct store_repo *repos = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (store_repo_list(st, &repos, &n, &err)) {
        buf_release(&err);
        return;
    }
    struct prom pm;
    buf_init(&pm.freq, 0);
    buf_init(&pm.lead, 0);
    buf_init(&pm.cfr, 0);
    buf_init(&pm.ttr, 0);
    buf_init(&pm.caught, 0);
    buf_init(&pm.flaky, 0);
    int64_t now = store_now_ms();
    for (size_t i = 0; i < n; i++)
        prom_repo(st, &repos[i], now, &pm);
    buf_addf(out,
             "# HELP flywheel_metrics_window_seconds The trailing window of the measures of the"
             " loop (flywheel_deployment_frequency_per_day to flywheel_flaky_failures).\n"
             "# TYPE flywheel_metrics_window_seconds gauge\n"
             "flywheel_metrics_window_seconds %lld\n",
             (long long)(API_METRICS_WINDOW_MS / 1000));
    static const struct {
        const char *name, *help;
        size_t off;
    } series[] = {
        {"flywheel_deployment_frequency_per_day",
         "Deployments of kind deploy that succeeded, per day over the window.",
         offsetof(struct prom, freq)},
        {"flywheel_lead_time_seconds",
         "Lead time for changes to the environment over the window: from the first commit of"
         " the change, or from its merge (the push to the main branch), to the deployment's end;"
         " median and 90th percentile.",
         offsetof(struct prom, lead)},
        {"flywheel_change_failure_ratio",
         "Deployments of kind deploy that failed, were rolled back or opened an incident, over"
         " those that finished, over the window.",
         offsetof(struct prom, cfr)},
        {"flywheel_time_to_restore_seconds",
         "From an incident's opening to a good release serving again, for the incidents opened"
         " in the window and closed; median and 90th percentile.",
         offsetof(struct prom, ttr)},
        {"flywheel_caught_failures",
         "Failures over the window by the stage of the loop that caught them.",
         offsetof(struct prom, caught)},
        {"flywheel_flaky_failures",
         "Failed tries of jobs over the window that a later try on the same commit passed.",
         offsetof(struct prom, flaky)},
    };
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        struct buf *b = (struct buf *)((char *)&pm + series[i].off);
        buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n", series[i].name, series[i].help,
                 series[i].name);
        buf_add(out, b->data, b->len);
        buf_release(b);
    }
    store_repos_release(repos, n);
    buf_release(&err);
}
