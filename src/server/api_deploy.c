/*
 * The deployment routes of the API (docs/api.md, "Deployments"): lists and
 * details of deployments with their steps and measurements, deploy and
 * rollback, approve and reject, the line, what runs on each target, and
 * incidents. Reads go to the store; changes go to the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/api_int.h"
#include "store/deploy.h"
#include "store/release.h"
#include "util/xalloc.h"

#define MAX_TEXT 1000

/* Release ids to versions, for one reply. */
struct versions {
    struct store_release *v;
    size_t n;
};

static const char *version_of(struct versions *vs, int64_t id)
{
    for (size_t i = 0; i < vs->n; i++)
        if (vs->v[i].id == id)
            return vs->v[i].version;
    return NULL;
}

static json_t *jversion(struct versions *vs, int64_t id)
{
    const char *v = id ? version_of(vs, id) : NULL;
    return v ? json_string(v) : json_null();
}

static json_t *deployment_json(const struct store_deployment *d, const char *repo,
                               struct versions *vs)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(d->id));
    json_object_set_new(o, "repo", json_string(repo));
    json_object_set_new(o, "env", json_string(d->env));
    json_object_set_new(o, "release", jversion(vs, d->release_id));
    json_object_set_new(o, "kind", json_string(d->kind));
    json_object_set_new(o, "rollback_of",
                        d->rollback_of ? json_integer(d->rollback_of) : json_null());
    json_object_set_new(o, "state", json_string(d->state));
    json_object_set_new(o, "reason", json_string(d->reason));
    json_object_set_new(o, "wait", json_string(d->wait ? d->wait : ""));
    json_object_set_new(o, "wave", json_integer(d->wave));
    json_object_set_new(o, "actor", json_string(d->actor));
    json_object_set_new(o, "approved_by", json_string(d->approved_by));
    json_object_set_new(o, "approval_note", json_string(d->approval_note));
    json_object_set_new(o, "created_ms", json_integer(d->created_ms));
    json_object_set_new(o, "started_ms", json_integer(d->started_ms));
    json_object_set_new(o, "finished_ms", json_integer(d->finished_ms));
    return o;
}

static int load_versions(struct http_request *r, struct store *st, int64_t repo_id,
                         struct versions *vs)
{
    struct buf err = BUF_INIT;
    int rc = store_release_list(st, repo_id, 0, 100000, &vs->v, &vs->n, &err);
    if (rc)
        http_reply_error(r, 500, "store", "%s", err.data);
    buf_release(&err);
    return rc;
}

void h_deployments(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_deployment *v = NULL;
    struct versions vs = {0};
    size_t n = 0;
    struct buf err = BUF_INIT;
    long limit, before;
    if (!st || http_query_int(r, "limit", 1, 1000, 50, &limit) ||
        http_query_int(r, "before", 1, LONG_MAX, 0, &before) || api_repo(r, st, &repo) ||
        load_versions(r, st, repo.id, &vs))
        goto out;
    if (store_deploy_list(st, repo.id, http_query(r, "env"), before, (size_t)limit, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, deployment_json(&v[i], repo.name, &vs));
    json_t *o = json_object();
    json_object_set_new(o, "deployments", arr);
    json_object_set_new(o, "next_before",
                        n == (size_t)limit && n ? json_integer(v[n - 1].id) : json_null());
    http_reply_json(r, 200, o);
out:
    store_deployments_release(v, n);
    store_releases_release(vs.v, vs.n);
    store_repo_release(&repo);
    buf_release(&err);
}

static int deployment_id(struct http_request *r, int64_t *out);

static int parse_deployment(struct http_request *r, struct store *st, struct store_deployment *d,
                            struct store_repo *repo)
{
    int64_t id;
    if (deployment_id(r, &id))
        return -1;
    struct buf err = BUF_INIT;
    int rc = store_deploy_get(st, id, d, &err);
    if (!rc)
        rc = store_repo_get_id(st, d->repo_id, repo, &err);
    if (rc == -ENOENT)
        http_reply_error(r, 404, "not_found", "no deployment %lld", (long long)id);
    else if (rc)
        http_reply_error(r, 500, "store", "%s", err.data);
    buf_release(&err);
    return rc ? -1 : 0;
}

/* The latest measurements of a deployment, oldest first (at most max). */
static json_t *measurements_json(struct store *st, int64_t id, size_t max)
{
    json_t *arr = json_array();
    struct store_measurement *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (store_measurement_list(st, id, max, &v, &n, &err) == 0)
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "wave", json_integer(v[i].wave));
            json_object_set_new(o, "phase", json_string(v[i].phase));
            json_object_set_new(o, "check", json_string(v[i].check));
            json_object_set_new(o, "target", json_string(v[i].target));
            json_object_set_new(o, "outcome", json_string(v[i].outcome));
            json_object_set_new(o, "value", v[i].has_value ? json_real(v[i].value) : json_null());
            json_object_set_new(o, "message", json_string(v[i].message));
            json_object_set_new(o, "time_ms", json_integer(v[i].time_ms));
            json_array_append_new(arr, o);
        }
    store_measurements_release(v, n);
    buf_release(&err);
    return arr;
}

void h_deployment(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_deployment d = {0};
    struct store_repo repo = {0};
    struct store_deploy_step *steps = NULL;
    struct versions vs = {0};
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st || parse_deployment(r, st, &d, &repo) || load_versions(r, st, repo.id, &vs))
        goto out;
    if (store_step_list(st, d.id, &steps, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *o = deployment_json(&d, repo.name, &vs);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "id", json_integer(steps[i].id));
        json_object_set_new(s, "target", json_string(steps[i].target));
        json_object_set_new(s, "wave", json_integer(steps[i].wave));
        json_object_set_new(s, "release", jversion(&vs, steps[i].release_id));
        json_object_set_new(s, "previous_release", jversion(&vs, steps[i].prev_release_id));
        json_object_set_new(s, "state", json_string(steps[i].state));
        json_object_set_new(s, "exit_code", json_integer(steps[i].exit_code));
        json_object_set_new(s, "reason", json_string(steps[i].reason));
        json_object_set_new(s, "started_ms", json_integer(steps[i].started_ms));
        json_object_set_new(s, "finished_ms", json_integer(steps[i].finished_ms));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "steps", arr);
    json_object_set_new(o, "measurements", measurements_json(st, d.id, 200));
    struct store_deploy_event *ev = NULL;
    size_t nev = 0;
    json_t *hist = json_array();
    if (store_deploy_history(st, d.id, &ev, &nev, &err) == 0)
        for (size_t i = 0; i < nev; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "state", json_string(ev[i].state));
            json_object_set_new(e, "wave", json_integer(ev[i].wave));
            json_object_set_new(e, "wait", json_string(ev[i].wait));
            json_object_set_new(e, "time_ms", json_integer(ev[i].time_ms));
            json_array_append_new(hist, e);
        }
    store_deploy_events_release(ev, nev);
    buf_reset(&err);
    json_object_set_new(o, "history", hist);
    http_reply_json(r, 200, o);
out:
    store_steps_release(steps, n);
    store_deployment_release(&d);
    store_releases_release(vs.v, vs.n);
    store_repo_release(&repo);
    buf_release(&err);
}

void h_step_log(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_deployment d = {0};
    struct store_repo repo = {0};
    struct store_deploy_step *steps = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT, text = BUF_INIT;
    if (!st || parse_deployment(r, st, &d, &repo))
        goto out;
    const char *want = http_param(r, "step");
    if (store_step_list(st, d.id, &steps, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    const struct store_deploy_step *s = NULL;
    for (size_t i = 0; i < n && !s; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%" PRId64, steps[i].id);
        if (want && !strcmp(want, id))
            s = &steps[i];
    }
    if (!s || !*s->log_path) {
        http_reply_error(r, 404, "not_found", "deployment %lld has no step '%s' with a log",
                         (long long)d.id, want ? want : "");
        goto out;
    }
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb)) {
        http_reply_error(r, 404, "not_found", "the log is gone");
        if (fd >= 0)
            close(fd);
        goto out;
    }
    /* deploy logs are small; the last 4 MiB at most */
    off_t from = sb.st_size > (4 << 20) ? sb.st_size - (4 << 20) : 0;
    buf_grow(&text, (size_t)(sb.st_size - from));
    ssize_t got = pread(fd, text.data, (size_t)(sb.st_size - from), from);
    close(fd);
    buf_setlen(&text, got > 0 ? (size_t)got : 0);
    http_reply_text(r, 200, "text/plain; charset=utf-8", text.data, text.len);
out:
    store_steps_release(steps, n);
    store_deployment_release(&d);
    store_repo_release(&repo);
    buf_release(&err);
    buf_release(&text);
}

/* A short text field of the body, or NULL; replies 400 and sets *bad when it is not one. */
static const char *body_text(struct http_request *r, json_t *body, const char *key, bool required,
                             bool *bad)
{
    json_t *v = json_object_get(body, key);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v) || !*json_string_value(v)) {
        http_reply_error(r, 400, "bad_request", "'%s' must be a non-empty string", key);
        *bad = true;
        return NULL;
    }
    if (strlen(json_string_value(v)) > MAX_TEXT) {
        http_reply_error(r, 400, "bad_request", "'%s' is longer than %d bytes", key, MAX_TEXT);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* The route's {id} as a deployment id; replies 400 and returns -1 when it is not one. */
static int deployment_id(struct http_request *r, int64_t *out)
{
    const char *s = http_param(r, "id");
    char *end;
    errno = 0;
    long long id = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || id < 1) {
        http_reply_error(r, 400, "bad_id", "'%s' is not a deployment id", s ? s : "");
        return -1;
    }
    *out = id;
    return 0;
}

/*
 * Runs an engine command built from the route and the JSON body's fields:
 * deploy {release, env}, rollback {env, release?}, line stop {reason} and
 * resume {reason?}, approve {reason?} and reject {reason}. The actor is
 * the token's name (a body's "actor" is ignored when a token is sent).
 */
static void body_command(struct http_request *r, struct api *a, enum engine_op op, bool flag)
{
    struct engine_request q = {0};
    q.op = op;
    q.flag = flag;
    q.name = http_param(r, "name");
    if (op == ENGINE_DECIDE && deployment_id(r, &q.run_id))
        return;
    json_t *body = http_body_json(r);
    if (!body)
        return;
    bool bad = false;
    q.actor = body_text(r, body, "actor", false, &bad);
    if (http_user(r))
        q.actor = http_user(r); /* who holds the token, whatever the body says */
    switch (op) {
    case ENGINE_DEPLOY:
        if (!bad)
            q.version = body_text(r, body, "release", true, &bad);
        if (!bad)
            q.env = body_text(r, body, "env", true, &bad);
        break;
    case ENGINE_ROLLBACK:
        if (!bad)
            q.env = body_text(r, body, "env", true, &bad);
        if (!bad)
            q.version = body_text(r, body, "release", false, &bad);
        break;
    default: /* the line (a reason to stop it), a decision (a reason to reject) */
        if (!bad)
            q.reason = body_text(r, body, "reason", op == ENGINE_LINE ? flag : !flag, &bad);
    }
    if (!bad)
        api_call_engine(r, a, &q);
    json_decref(body);
}

void h_deploy(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_DEPLOY, false);
}

void h_rollback(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_ROLLBACK, false);
}

void h_line_stop(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_LINE, true);
}

void h_line_resume(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_LINE, false);
}

void h_approve(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_DECIDE, true);
}

void h_reject(struct http_request *r, void *ctx)
{
    body_command(r, ctx, ENGINE_DECIDE, false);
}

void h_line(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_line line = {0};
    struct buf err = BUF_INIT;
    if (!st || api_repo(r, st, &repo))
        goto out;
    if (store_line_get(st, repo.id, &line, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo.name));
    json_object_set_new(o, "stopped", json_boolean(line.stopped));
    json_object_set_new(o, "reason", json_string(line.reason));
    json_object_set_new(o, "actor", json_string(line.actor));
    json_object_set_new(o, "since_ms", json_integer(line.since_ms));
    http_reply_json(r, 200, o);
out:
    store_line_release(&line);
    store_repo_release(&repo);
    buf_release(&err);
}

void h_envs(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_target *t = NULL;
    struct versions vs = {0};
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st || api_repo(r, st, &repo) || load_versions(r, st, repo.id, &vs))
        goto out;
    if (store_target_list(st, repo.id, NULL, &t, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *envs = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object_get(envs, t[i].env);
        if (!e) {
            e = json_object();
            json_object_set_new(e, "targets", json_array());
            json_object_set_new(envs, t[i].env, e);
        }
        json_t *o = json_object();
        json_object_set_new(o, "target", json_string(t[i].target));
        json_object_set_new(o, "release", jversion(&vs, t[i].release_id));
        json_object_set_new(o, "good_release", jversion(&vs, t[i].good_release_id));
        json_object_set_new(o, "updated_ms", json_integer(t[i].updated_ms));
        json_array_append_new(json_object_get(e, "targets"), o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo.name));
    json_object_set_new(o, "envs", envs);
    http_reply_json(r, 200, o);
out:
    store_targets_release(t, n);
    store_releases_release(vs.v, vs.n);
    store_repo_release(&repo);
    buf_release(&err);
}

void h_incidents(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_incident *v = NULL;
    struct versions vs = {0};
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st || api_repo(r, st, &repo) || load_versions(r, st, repo.id, &vs))
        goto out;
    if (store_incident_list(st, repo.id, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(v[i].id));
        json_object_set_new(o, "env", json_string(v[i].env));
        json_object_set_new(o, "release", jversion(&vs, v[i].release_id));
        json_object_set_new(o, "deployment", json_integer(v[i].deployment_id));
        json_object_set_new(o, "reason", json_string(v[i].reason));
        json_object_set_new(o, "opened_ms", json_integer(v[i].opened_ms));
        json_object_set_new(o, "closed_ms", json_integer(v[i].closed_ms));
        json_array_append_new(arr, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "incidents", arr);
    http_reply_json(r, 200, o);
out:
    store_incidents_release(v, n);
    store_releases_release(vs.v, vs.n);
    store_repo_release(&repo);
    buf_release(&err);
}
