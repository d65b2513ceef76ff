/*
 * The normalised pipeline as JSON: what `flywheel check --json` prints and
 * what tests and scripts read. Every default is written out; durations are
 * integers in milliseconds (keys ending in _ms).
 */
#include <jansson.h>
#include <stdlib.h>

#include "core/duration.h"
#include "core/pipeline.h"

static json_t *strs_json(const struct pl_strs *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i].s));
    return a;
}

static json_t *kvs_json(const struct pl_kvs *l)
{
    json_t *o = json_object();
    for (size_t i = 0; i < l->n; i++)
        json_object_set_new(o, l->v[i].key, json_string(l->v[i].value));
    return o;
}

static json_t *events_json(unsigned ev)
{
    json_t *a = json_array();
    for (unsigned e = PL_EV_MAIN; e <= PL_EV_TAG; e <<= 1)
        if (ev & e)
            json_array_append_new(a, json_string(pl_event_name((enum pl_event)e)));
    return a;
}

static json_t *job_json(const struct pipeline *p, const struct pl_job *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(j->name));
    json_object_set_new(o, "base", json_string(j->base));
    json_object_set_new(o, "run", strs_json(&j->run));
    json_t *needs = json_array();
    for (size_t k = 0; k < j->nneed; k++)
        json_array_append_new(needs, json_string(p->jobs[j->need_idx[k]].name));
    json_object_set_new(o, "needs", needs);
    json_object_set_new(o, "env", kvs_json(&j->env));
    json_object_set_new(o, "matrix", kvs_json(&j->matrix));
    json_t *when = json_object();
    json_object_set_new(when, "events", events_json(j->when.events));
    json_object_set_new(when, "branches", strs_json(&j->when.branches));
    json_object_set_new(when, "tags", strs_json(&j->when.tags));
    json_object_set_new(o, "when", when);
    json_object_set_new(o, "timeout_ms", json_integer(j->timeout_ms));
    json_object_set_new(o, "retries", json_integer(j->retries));
    json_object_set_new(o, "artifacts", strs_json(&j->artifacts));
    json_object_set_new(o, "reports", strs_json(&j->reports));
    json_t *cache = json_object();
    json_object_set_new(cache, "inputs", strs_json(&j->cache_inputs));
    json_object_set_new(o, "cache", cache);
    json_object_set_new(o, "isolation",
                        json_string(j->isolation == PL_ISO_SANDBOX ? "sandbox" : "none"));
    json_object_set_new(o, "network", json_boolean(j->network));
    json_object_set_new(o, "checkout", json_boolean(j->checkout));
    json_object_set_new(o, "secrets", strs_json(&j->secrets));
    json_object_set_new(o, "allow_failure", json_boolean(j->allow_failure));
    return o;
}

static json_t *ranges_json(const struct window_range *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        struct buf b = BUF_INIT;
        window_range_format(&r[i], &b);
        json_array_append_new(a, json_string(b.data));
        buf_release(&b);
    }
    return a;
}

/* The interval is written out: the check's own, or the environment's it defaults to. */
static json_t *check_json(const struct pl_environment *e, const struct pl_check *ck)
{
    json_t *o = json_object();
    static const char *const kinds[] = {"http", "run", "prometheus"};
    json_object_set_new(o, "kind", json_string(kinds[ck->kind]));
    json_object_set_new(o, "name", json_string(ck->name ? ck->name : ""));
    json_object_set_new(o, kinds[ck->kind], json_string(ck->subject ? ck->subject : ""));
    if (ck->kind == PL_CHECK_HTTP) {
        json_t *ex = json_array();
        for (size_t i = 0; i < ck->nexpect; i++)
            json_array_append_new(ex, json_integer(ck->expect[i]));
        json_object_set_new(o, "expect", ex);
        json_object_set_new(o, "contains", ck->contains ? json_string(ck->contains) : json_null());
        json_object_set_new(o, "json", ck->json ? json_string(ck->json) : json_null());
        json_object_set_new(o, "equals", ck->equals ? json_string(ck->equals) : json_null());
    }
    if (ck->kind == PL_CHECK_PROMETHEUS)
        json_object_set_new(o, "server", json_string(ck->server ? ck->server : ""));
    if (ck->kind != PL_CHECK_RUN) {
        json_object_set_new(o, "min", ck->has_min ? json_real(ck->min) : json_null());
        json_object_set_new(o, "max", ck->has_max ? json_real(ck->max) : json_null());
    }
    if (ck->kind == PL_CHECK_PROMETHEUS)
        json_object_set_new(o, "on_no_data", json_string(pl_no_data_name(ck->on_no_data)));
    json_object_set_new(o, "timeout_ms", json_integer(ck->timeout_ms));
    json_object_set_new(o, "interval_ms",
                        json_integer(ck->interval_ms ? ck->interval_ms : e->interval_ms));
    json_object_set_new(o, "count", ck->count ? json_integer(ck->count) : json_null());
    json_object_set_new(o, "failure_limit", json_integer(ck->failure_limit));
    json_object_set_new(o, "error_limit", json_integer(ck->error_limit));
    return o;
}

static json_t *env_json(const struct pl_environment *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "env", json_string(e->name));
    json_t *targets = json_array();
    for (size_t i = 0; i < e->ntargets; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "name", json_string(e->targets[i].name));
        json_object_set_new(t, "variables", kvs_json(&e->targets[i].vars));
        json_array_append_new(targets, t);
    }
    json_object_set_new(o, "targets", targets);
    json_t *waves = json_array();
    for (size_t w = 0; w < e->nwaves; w++) {
        json_t *wa = json_array();
        for (size_t k = 0; k < e->waves[w].n; k++)
            json_array_append_new(wa, json_string(e->targets[e->waves[w].targets[k]].name));
        json_array_append_new(waves, wa);
    }
    json_object_set_new(o, "waves", waves);
    json_object_set_new(o, "run", strs_json(&e->run));
    json_object_set_new(o, "rollback", e->rollback.n ? strs_json(&e->rollback) : json_null());
    json_object_set_new(o, "timeout_ms", json_integer(e->timeout_ms));
    json_object_set_new(o, "approval", json_boolean(e->approval));
    json_object_set_new(o, "approval_timeout_ms",
                        e->approval_timeout_ms ? json_integer(e->approval_timeout_ms)
                                               : json_null());
    json_object_set_new(o, "promote", json_string(e->auto_promote ? "auto" : "manual"));
    if (e->window.nallow || e->window.ndeny) {
        json_t *w = json_object();
        json_object_set_new(w, "allow", ranges_json(e->window.allow, e->window.nallow));
        json_object_set_new(w, "deny", ranges_json(e->window.deny, e->window.ndeny));
        json_object_set_new(w, "timezone",
                            json_string(e->window.timezone ? e->window.timezone : "UTC"));
        json_object_set_new(o, "window", w);
    } else {
        json_object_set_new(o, "window", json_null());
    }
    json_object_set_new(o, "variables", kvs_json(&e->env));
    json_object_set_new(o, "secrets", strs_json(&e->secrets));
    json_t *v = json_object();
    json_object_set_new(v, "bake_ms", json_integer(e->bake_ms));
    json_object_set_new(v, "monitor_ms", json_integer(e->monitor_ms));
    json_object_set_new(v, "interval_ms", json_integer(e->interval_ms));
    json_t *checks = json_array();
    for (size_t i = 0; i < e->nchecks; i++)
        json_array_append_new(checks, check_json(e, &e->checks[i]));
    json_object_set_new(v, "checks", checks);
    json_object_set_new(o, "verify", v);
    return o;
}

void pipeline_to_json(const struct pipeline *p, struct buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", p->name ? json_string(p->name) : json_null());
    json_t *br = json_object();
    json_object_set_new(br, "main", json_string(p->main_branch));
    json_object_set_new(o, "branches", br);
    json_object_set_new(o, "env", kvs_json(&p->env));
    json_t *jobs = json_array();
    for (size_t i = 0; i < p->njobs; i++)
        json_array_append_new(jobs, job_json(p, &p->jobs[i]));
    json_object_set_new(o, "jobs", jobs);
    if (p->release.present) {
        json_t *r = json_object();
        json_t *from = json_array();
        for (size_t k = 0; k < p->release.nfrom; k++)
            json_array_append_new(from, json_string(p->jobs[p->release.from_idx[k]].name));
        json_object_set_new(r, "from", from);
        json_object_set_new(r, "version", json_string(p->release.version));
        json_object_set_new(o, "release", r);
    } else {
        json_object_set_new(o, "release", json_null());
    }
    json_t *deploy = json_array();
    for (size_t i = 0; i < p->nenvs; i++)
        json_array_append_new(deploy, env_json(&p->envs[i]));
    json_object_set_new(o, "deploy", deploy);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (s) {
        buf_adds(out, s);
        buf_addch(out, '\n');
        free(s);
    }
    json_decref(o);
}
