/*
 * GET /api/v1/runs/{id}/pipeline: the pipeline a run runs, as much as a
 * viewer needs to draw it (docs/api.md): its jobs with what each needs (the
 * web UI's job graph), and its deployment environments in order with their
 * waves and check periods (the flywheel view, the bake countdown). Read from
 * the repository's mirror at the run's commit, so it is the file that ran,
 * not today's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/pipeline.h"
#include "exec/mirror.h"
#include "server/api_int.h"
#include "store/store.h"
#include "util/xalloc.h"

static bool run_has_job(const struct store_job *jobs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(jobs[i].name, name))
            return true;
    return false;
}

static json_t *deploy_json(const struct pipeline *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->nenvs; i++) {
        const struct pl_environment *env = &p->envs[i];
        json_t *o = json_object();
        json_object_set_new(o, "env", json_string(env->name));
        json_t *waves = json_array();
        for (size_t w = 0; w < env->nwaves; w++) {
            json_t *wave = json_array();
            for (size_t k = 0; k < env->waves[w].n; k++)
                json_array_append_new(wave,
                                      json_string(env->targets[env->waves[w].targets[k]].name));
            json_array_append_new(waves, wave);
        }
        json_object_set_new(o, "waves", waves);
        json_t *checks = json_array();
        for (size_t k = 0; k < env->nchecks; k++)
            json_array_append_new(checks, json_string(env->checks[k].name));
        json_object_set_new(o, "checks", checks);
        json_object_set_new(o, "approval", json_boolean(env->approval));
        json_object_set_new(o, "auto_promote", json_boolean(env->auto_promote));
        json_object_set_new(o, "bake_ms", json_integer(env->bake_ms));
        json_object_set_new(o, "monitor_ms", json_integer(env->monitor_ms));
        json_object_set_new(o, "interval_ms", json_integer(env->interval_ms));
        json_array_append_new(arr, o);
    }
    return arr;
}

void h_run_pipeline(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct buf err = BUF_INIT, src = BUF_INIT, dir = BUF_INIT;
    struct store_run run = {0};
    struct store_repo repo = {0};
    struct store_job *jobs = NULL;
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = NULL;
    size_t njobs = 0;
    if (!st)
        return;
    const char *s = http_param(r, "id");
    char *end;
    errno = 0;
    long long id = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || id < 1) {
        http_reply_error(r, 400, "bad_id", "'%s' is not a run id", s ? s : "");
        return;
    }
    int rc = store_run_get(st, id, &run, &err);
    if (rc) {
        if (rc == -ENOENT)
            http_reply_error(r, 404, "not_found", "no run %lld", id);
        else
            http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    if (!run.repo_id || store_repo_get_id(st, run.repo_id, &repo, &err)) {
        http_reply_error(r, 404, "not_found", "run %lld has no repository", id);
        goto out;
    }
    buf_addf(&dir, "%s/git/%s.git", a->data_dir, repo.name);
    if (mirror_read_file(dir.data, run.commit, PIPELINE_FILE, 1 << 20, &src, &err)) {
        http_reply_error(r, 404, "not_found", "run %lld: its pipeline file cannot be read: %s", id,
                         err.data);
        goto out;
    }
    p = pipeline_parse(PIPELINE_FILE, src.data, src.len, NULL, 0, &d);
    if (!p) {
        http_reply_error(r, 404, "not_found", "run %lld: its pipeline file is not valid", id);
        goto out;
    }
    if (store_job_list(st, run.id, &jobs, &njobs, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    /* The jobs the run has (a run of a change may select fewer), in pipeline order. */
    json_t *arr = json_array();
    for (size_t i = 0; i < p->njobs; i++) {
        const struct pl_job *j = &p->jobs[i];
        if (njobs && !run_has_job(jobs, njobs, j->name))
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(j->name));
        json_t *needs = json_array();
        for (size_t k = 0; k < j->nneed; k++) {
            const char *n = p->jobs[j->need_idx[k]].name;
            if (!njobs || run_has_job(jobs, njobs, n))
                json_array_append_new(needs, json_string(n));
        }
        json_object_set_new(o, "needs", needs);
        json_array_append_new(arr, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(run.id));
    json_object_set_new(o, "repo", json_string(repo.name));
    json_object_set_new(o, "commit", json_string(run.commit));
    json_object_set_new(o, "jobs", arr);
    json_object_set_new(o, "deploy", deploy_json(p));
    http_reply_json(r, 200, o);
out:
    pipeline_free(p);
    diag_list_release(&d);
    store_jobs_release(jobs, njobs);
    store_run_release(&run);
    store_repo_release(&repo);
    buf_release(&err);
    buf_release(&src);
    buf_release(&dir);
}
