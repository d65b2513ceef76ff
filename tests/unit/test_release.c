#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/deploy.h"
#include "store/release.h"
#include "store/store.h"
#include "util/xalloc.h"
#include "tmpdir.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

struct fixture {
    char dir[64];
    char db[128];
    struct store *st;
    int64_t repo;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct buf err = BUF_INIT;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-release-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/flywheel.db", f->dir);
    if (store_open(&f->st, f->db, &err))
        return -1;
    struct store_repo r = {.name = "app", .url = "/src", .main_branch = "main", .created_ms = 1};
    f->repo = store_repo_insert(f->st, &r, &err);
    buf_release(&err);
    *state = f;
    return f->repo > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static int64_t add_run(struct fixture *f)
{
    struct store_run r = {
        .kind = "main",
        .source = "mirror",
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .branch = "main",
        .state = "passed",
        .created_ms = 5,
        .repo_id = f->repo,
        .ref = "refs/heads/main",
        .trigger = "push",
    };
    struct buf err = BUF_INIT;
    int64_t id = store_run_insert(f->st, &r, &err);
    if (id <= 0)
        fail_msg("store_run_insert: %s", err.data);
    buf_release(&err);
    return id;
}

/* fill(): names the release after its number, or as the context says. */
static int fill(void *ctx, struct store *st, struct store_release *r, struct buf *err)
{
    (void)st;
    (void)err;
    char v[32];
    if (ctx)
        snprintf(v, sizeof(v), "%s", (const char *)ctx);
    else
        snprintf(v, sizeof(v), "r%lld", (long long)r->number);
    r->version = xstrdup(v);
    r->provenance = xstrdup("{\"payload\":\"x\"}");
    return 0;
}

static int64_t add_release(struct fixture *f, int64_t run, const char *name, struct buf *err)
{
    struct store_release_file files[] = {
        {"dist/app", D1, 10, 0755},
        {"dist/notes.txt", D2, 20, 0644},
    };
    struct store_release r = {
        .repo_id = f->repo,
        .run_id = run,
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .ref = "refs/heads/main",
        .pipeline_digest = D2,
        .created_ms = 7,
    };
    int64_t id = store_release_insert(f->st, &r, files, 2, fill, (void *)name, err);
    free(r.version);
    free(r.provenance);
    return id;
}

static void test_insert_numbers_and_reads_back(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t run1 = add_run(f), run2 = add_run(f);
    assert_int_equal(store_run_set_release_pending(f->st, run1, true, &err), 0);
    int64_t id1 = add_release(f, run1, NULL, &err);
    int64_t id2 = add_release(f, run2, NULL, &err);
    assert_true(id1 > 0 && id2 > id1);

    struct store_release r = {0};
    assert_int_equal(store_release_get(f->st, f->repo, "r2", &r, &err), 0);
    assert_int_equal(r.number, 2);
    assert_int_equal(r.run_id, run2);
    assert_string_equal(r.ref, "refs/heads/main");
    assert_null(r.bad_reason);
    assert_int_equal(r.deployed_ms, 0);
    store_release_release(&r);
    assert_int_equal(store_release_get_run(f->st, run1, &r, &err), 0);
    assert_string_equal(r.version, "r1");
    store_release_release(&r);
    assert_int_equal(store_release_get(f->st, f->repo, "r9", &r, &err), -ENOENT);

    struct store_release_file *files = NULL;
    size_t n = 0;
    assert_int_equal(store_release_files(f->st, id1, &files, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(files[0].path, "dist/app");
    assert_string_equal(files[0].digest, D1);
    assert_int_equal(files[0].mode, 0755);
    assert_int_equal(files[1].size, 20);
    store_release_files_release(files, n);

    /* the insert cleared the run's pending flag */
    int64_t ids[4];
    assert_int_equal(store_runs_release_pending(f->st, ids, 4, &n, &err), 0);
    assert_int_equal(n, 0);
    /* the blobs are in use while the release is */
    assert_int_equal(store_digest_used(f->st, D2, &err), 1);
    buf_release(&err);
}

static void test_version_taken_rolls_back(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t run1 = add_run(f), run2 = add_run(f);
    assert_true(add_release(f, run1, "v1.0", &err) > 0);
    assert_int_equal(store_run_set_release_pending(f->st, run2, true, &err), 0);
    assert_int_equal(add_release(f, run2, "v1.0", &err), -1);
    assert_non_null(strstr(err.data, "release version 'v1.0' already exists"));
    /* nothing of the failed insert stays: the run is still pending, one release */
    int64_t ids[4];
    size_t n = 0;
    buf_reset(&err);
    assert_int_equal(store_runs_release_pending(f->st, ids, 4, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], run2);
    struct store_release *v = NULL;
    assert_int_equal(store_release_list(f->st, f->repo, 0, 0, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    store_releases_release(v, n);
    /* and the next release takes number 2, not 3 */
    assert_true(add_release(f, run2, NULL, &err) > 0);
    struct store_release r = {0};
    assert_int_equal(store_release_get(f->st, f->repo, "r2", &r, &err), 0);
    assert_int_equal(r.run_id, run2);
    store_release_release(&r);
    buf_release(&err);
}

static void test_list_pages_newest_first(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    for (int i = 0; i < 5; i++)
        assert_true(add_release(f, add_run(f), NULL, &err) > 0);
    struct store_release *v = NULL;
    size_t n = 0;
    assert_int_equal(store_release_list(f->st, f->repo, 0, 2, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].number, 5);
    assert_int_equal(v[1].number, 4);
    store_releases_release(v, n);
    assert_int_equal(store_release_list(f->st, f->repo, 4, 10, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].number, 3);
    assert_int_equal(v[2].number, 1);
    store_releases_release(v, n);
    buf_release(&err);
}

static void test_bad_marker_refuses_promotion(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t id = add_release(f, add_run(f), NULL, &err);
    struct store_release r = {0};
    assert_int_equal(store_release_get(f->st, f->repo, "r1", &r, &err), 0);
    assert_int_equal(store_release_promotable(&r, &err), 0);
    store_release_release(&r);

    assert_int_equal(store_release_set_bad(f->st, id, "error rate up", &err), 0);
    assert_int_equal(store_release_get(f->st, f->repo, "r1", &r, &err), 0);
    assert_string_equal(r.bad_reason, "error rate up");
    assert_true(r.bad_ms > 0);
    assert_int_equal(store_release_promotable(&r, &err), -EPERM);
    assert_string_equal(err.data, "release r1 is marked bad: error rate up");
    store_release_release(&r);

    buf_reset(&err);
    assert_int_equal(store_release_set_bad(f->st, id, NULL, &err), 0);
    assert_int_equal(store_release_get(f->st, f->repo, "r1", &r, &err), 0);
    assert_null(r.bad_reason);
    assert_int_equal(store_release_promotable(&r, &err), 0);
    store_release_release(&r);
    assert_int_equal(store_release_set_bad(f->st, id + 100, "x", &err), -ENOENT);
    buf_release(&err);
}

static void test_deployed_release_outlives_retention(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t run1 = add_run(f), run2 = add_run(f);
    int64_t id1 = add_release(f, run1, NULL, &err);
    assert_true(add_release(f, run2, NULL, &err) > 0);
    assert_int_equal(store_run_has_deployed_release(f->st, run1, &err), 0);
    assert_int_equal(store_release_mark_deployed(f->st, id1, 1000, &err), 0);
    assert_int_equal(store_release_mark_deployed(f->st, id1, 2000, &err), 0);
    struct store_release r = {0};
    assert_int_equal(store_release_get(f->st, f->repo, "r1", &r, &err), 0);
    assert_int_equal(r.deployed_ms, 1000); /* the first time only */
    store_release_release(&r);
    assert_int_equal(store_run_has_deployed_release(f->st, run1, &err), 1);
    assert_int_equal(store_run_has_deployed_release(f->st, run2, &err), 0);

    /* a release goes with its run */
    assert_int_equal(store_run_delete(f->st, run2, &err), 0);
    assert_int_equal(store_release_get(f->st, f->repo, "r2", &r, &err), -ENOENT);
    buf_release(&err);
}

/* A deployment of release rel into env, ended in state at finished (started: started). */
static int64_t add_deployment(struct fixture *f, int64_t rel, const char *env, const char *kind,
                              const char *state, int64_t started, int64_t finished)
{
    struct buf err = BUF_INIT;
    struct store_deployment d = {.repo_id = f->repo,
                                 .release_id = rel,
                                 .env = (char *)env,
                                 .kind = (char *)kind,
                                 .state = (char *)"queued",
                                 .reason = (char *)"",
                                 .actor = (char *)"t",
                                 .created_ms = started ? started - 1 : finished - 1};
    int64_t id = store_deploy_insert(f->st, &d, &err);
    if (id <= 0)
        fail_msg("store_deploy_insert: %s", err.data);
    d.state = (char *)state;
    d.started_ms = started;
    d.finished_ms = finished;
    d.approved_by = d.approval_note = (char *)"";
    if (store_deploy_set(f->st, &d, &err))
        fail_msg("store_deploy_set: %s", err.data);
    buf_release(&err);
    return id;
}

static void add_incident(struct fixture *f, int64_t rel, int64_t dep, const char *env,
                         int64_t opened)
{
    struct buf err = BUF_INIT;
    struct store_incident in = {.repo_id = f->repo,
                                .release_id = rel,
                                .deployment_id = dep,
                                .env = (char *)env,
                                .reason = (char *)"x",
                                .opened_ms = opened};
    if (store_incident_open(f->st, &in, &err) <= 0)
        fail_msg("store_incident_open: %s", err.data);
    buf_release(&err);
}

static void test_dora_load(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t rel = add_release(f, add_run(f), NULL, &err); /* run created at 5, release at 7 */
    assert_true(rel > 0);
    int64_t d1 = add_deployment(f, rel, "production", "deploy", "succeeded", 90, 100);
    int64_t d2 = add_deployment(f, rel, "production", "deploy", "failed", 190, 200);
    int64_t d3 = add_deployment(f, rel, "production", "deploy", "cancelled", 250, 260);
    int64_t d4 = add_deployment(f, rel, "production", "deploy", "cancelled", 0, 270);
    int64_t d5 = add_deployment(f, rel, "production", "rollback", "succeeded", 275, 280);
    int64_t d6 = add_deployment(f, rel, "staging", "deploy", "succeeded", 140, 150);
    int64_t d7 = add_deployment(f, rel, "production", "deploy", "failed", 390, 400);
    add_incident(f, rel, d2, "production", 1000); /* opened late, by a deployment of the period */
    add_incident(f, rel, d7, "production", 60);   /* opened in the period */
    add_incident(f, rel, d6, "staging", 60);
    add_incident(f, rel, d7, "production", 400); /* neither */

    struct dora_deployment *d = NULL;
    struct dora_incident *in = NULL;
    size_t nd = 0, ni = 0;
    const char *env = "production";
    assert_int_equal(store_dora_load(f->st, f->repo, env, 50, 300, &d, &nd, &in, &ni, &err), 0);
    assert_int_equal(nd, 5);
    int seen = 0;
    for (size_t i = 0; i < nd; i++) {
        assert_ptr_equal(d[i].env, env);
        assert_int_equal(d[i].merge_ms, 5);
        assert_int_equal(d[i].release_ms, 7);
        if (d[i].id == d1)
            assert_true(d[i].state == DORA_SUCCEEDED && !d[i].rollback && d[i].finished_ms == 100);
        else if (d[i].id == d2)
            assert_true(d[i].state == DORA_FAILED);
        else if (d[i].id == d3)
            assert_true(d[i].state == DORA_CANCELLED);
        else if (d[i].id == d4)
            assert_true(d[i].state == DORA_OTHER);
        else if (d[i].id == d5)
            assert_true(d[i].state == DORA_SUCCEEDED && d[i].rollback);
        else
            fail_msg("deployment %lld should not be loaded", (long long)d[i].id);
        seen++;
    }
    assert_int_equal(seen, 5);
    assert_int_equal(ni, 2);
    for (size_t i = 0; i < ni; i++) {
        assert_ptr_equal(in[i].env, env);
        assert_true((in[i].deployment_id == d2 && in[i].opened_ms == 1000) ||
                    (in[i].deployment_id == d7 && in[i].opened_ms == 60));
        assert_int_equal(in[i].closed_ms, 0);
    }
    free(d);
    free(in);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_numbers_and_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_taken_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_marker_refuses_promotion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deployed_release_outlives_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dora_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
