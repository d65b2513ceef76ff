/*
 * The measures of the loop (docs/api.md, "GET /api/v1/metrics/dora"): the
 * four DORA measures of a repository's production environment, per day,
 * week, month or over the whole period, shaped like GitLab's DORA API.
 * The store loads the records; core/dora.c computes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dora.h"
#include "core/pipeline.h"
#include "server/api_int.h"
#include "store/deploy.h"
#include "store/release.h"
#include "util/xalloc.h"

#define DEFAULT_PERIOD_MS (30LL * 86400 * 1000)

/*
 * The environment the measures are about when the request names none: the
 * last environment of the latest release's pipeline (where incidents open),
 * else "production". The caller frees it.
 */
static char *default_env(struct store *st, int64_t repo_id)
{
    struct store_release *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    char *env = NULL;
    if (store_release_list(st, repo_id, 0, 1, &v, &n, &err) == 0 && n && v[0].pipeline) {
        struct diag_list dl = DIAG_LIST_INIT;
        struct pipeline *p =
            pipeline_parse(PIPELINE_FILE, v[0].pipeline, strlen(v[0].pipeline), NULL, 0, &dl);
        if (p && p->nenvs)
            env = xstrdup(p->envs[p->nenvs - 1].name);
        pipeline_free(p);
        diag_list_release(&dl);
    }
    store_releases_release(v, n);
    buf_release(&err);
    return env ? env : xstrdup("production");
}

static json_t *jsec(bool has, double v)
{
    return has ? json_real(v) : json_null();
}

static json_t *entry(struct buf *date, const struct dora_bucket *b)
{
    buf_reset(date);
    dora_format_date(b->start_ms, date);
    json_t *o = json_object();
    json_object_set_new(o, "date", json_string(date->data));
    json_object_set_new(o, "from_ms", json_integer(b->start_ms));
    json_object_set_new(o, "to_ms", json_integer(b->end_ms));
    return o;
}

static json_t *stat_entry(struct buf *date, const struct dora_bucket *b, const struct dora_stat *s)
{
    json_t *o = entry(date, b);
    json_object_set_new(o, "value", jsec(s->has, s->median_s));
    json_object_set_new(o, "p90", jsec(s->has, s->p90_s));
    json_object_set_new(o, "count", json_integer((json_int_t)s->n));
    return o;
}

static json_t *metrics_json(const struct dora_bucket *b, size_t n)
{
    json_t *freq = json_array(), *lead = json_array(), *cfr = json_array(), *ttr = json_array();
    struct buf date = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        json_t *o = entry(&date, &b[i]);
        json_object_set_new(o, "value", json_integer(b[i].deployments));
        json_array_append_new(freq, o);
        json_array_append_new(lead, stat_entry(&date, &b[i], &b[i].lead_time));
        o = entry(&date, &b[i]);
        json_object_set_new(o, "value", jsec(b[i].has_failure_rate, b[i].failure_rate));
        json_object_set_new(o, "failed", json_integer(b[i].failed));
        json_object_set_new(o, "deployments", json_integer(b[i].finished));
        json_array_append_new(cfr, o);
        json_array_append_new(ttr, stat_entry(&date, &b[i], &b[i].restore));
    }
    buf_release(&date);
    json_t *m = json_object();
    json_object_set_new(m, "deployment_frequency", freq);
    json_object_set_new(m, "lead_time_for_changes", lead);
    json_object_set_new(m, "change_failure_rate", cfr);
    json_object_set_new(m, "time_to_restore_service", ttr);
    return m;
}

/* A time argument of the query into *ms (unchanged when absent); reasons go to why. */
static void query_time(struct http_request *r, const char *name, int64_t *ms, struct buf *why)
{
    const char *v = http_query(r, name);
    struct buf err = BUF_INIT;
    if (v && dora_parse_time(v, ms, &err))
        buf_addf(why, "%s%s: %s", why->len ? "; " : "", name, err.data);
    buf_release(&err);
}

void h_metrics_dora(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct dora_deployment *deps = NULL;
    struct dora_incident *incs = NULL;
    struct dora_bucket *b = NULL;
    size_t ndeps = 0, nincs = 0, nb = 0;
    struct buf why = BUF_INIT, err = BUF_INIT;
    char *env = NULL;
    if (!st)
        return;
    const char *name = http_query(r, "repo");
    const char *iv_name = http_query(r, "interval");
    const char *want_env = http_query(r, "env");
    int iv = iv_name ? dora_interval_parse(iv_name) : DORA_DAY;
    int64_t to = store_now_ms(), from = 0;
    bool has_from = http_query(r, "from") != NULL;
    if (!name || !*name)
        buf_adds(&why, "repo: a repository's name is required");
    if (iv < 0)
        buf_addf(&why, "%sinterval: '%s' is not one of day, week, month, all", why.len ? "; " : "",
                 iv_name);
    if (want_env && !*want_env)
        buf_addf(&why, "%senv: empty", why.len ? "; " : "");
    query_time(r, "to", &to, &why);
    query_time(r, "from", &from, &why);
    if (!has_from)
        from = to - DEFAULT_PERIOD_MS;
    if (!why.len && from >= to)
        buf_adds(&why, "from: must come before to");
    if (why.len) {
        http_reply_error(r, 400, "bad_request", "%s", why.data);
        goto out;
    }
    int rc = store_repo_get(st, name, &repo, &err);
    if (rc == -ENOENT) {
        http_reply_error(r, 404, "not_found", "no repository '%s'", name);
        goto out;
    } else if (rc) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    env = want_env ? xstrdup(want_env) : default_env(st, repo.id);
    struct dora_params p = {
        .env = env, .from_ms = from, .to_ms = to, .interval = (enum dora_interval)iv};
    if (dora_compute(&p, NULL, 0, NULL, 0, &b, &nb, &why)) { /* the period's shape first */
        http_reply_error(r, 400, "bad_request", "%s", why.data);
        goto out;
    }
    free(b);
    b = NULL;
    if (store_dora_load(st, repo.id, env, from, to, &deps, &ndeps, &incs, &nincs, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    if (dora_compute(&p, deps, ndeps, incs, nincs, &b, &nb, &why)) {
        http_reply_error(r, 400, "bad_request", "%s", why.data);
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo.name));
    json_object_set_new(o, "env", json_string(env));
    json_object_set_new(o, "interval", json_string(dora_interval_name((enum dora_interval)iv)));
    json_object_set_new(o, "from_ms", json_integer(from));
    json_object_set_new(o, "to_ms", json_integer(to));
    json_object_set_new(o, "metrics", metrics_json(b, nb));
    /* seconds with at most 15 digits: 1.234, not 1.2339999999999999 */
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    struct buf text = BUF_INIT;
    buf_adds(&text, s ? s : "{}");
    buf_addch(&text, '\n');
    free(s);
    http_reply_text(r, 200, "application/json", text.data, text.len);
    buf_release(&text);
out:
    free(deps);
    free(incs);
    free(b);
    free(env);
    store_repo_release(&repo);
    buf_release(&why);
    buf_release(&err);
}
