/* The store's side of the measures of the loop: the times of a run's change, a deployment's
 * history, and the loaders of store/metrics.h and store_dora_load. */
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

#include "store/deploy.h"
#include "store/metrics.h"
#include "store/release.h"
#include "store/store.h"
#include "store/store_int.h"
#include "util/xalloc.h"
#include "tmpdir.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define C3 "3333333333333333333333333333333333333333"
#define CX "9999999999999999999999999999999999999999"

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
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-mstore-XXXXXX");
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

static int64_t run(struct fixture *f, const char *kind, const char *commit, const char *state,
                   int64_t created, int64_t finished, int64_t retry_of)
{
    bool change = !strcmp(kind, "change");
    struct store_run r = {
        .kind = (char *)kind,
        .source = (char *)commit,
        .commit = (char *)commit,
        .branch = change ? "feature" : "main",
        .state = (char *)state,
        .created_ms = created,
        .started_ms = created,
        .finished_ms = finished,
        .repo_id = f->repo,
        .ref = change ? "refs/heads/feature" : "refs/heads/main",
        .trigger = retry_of ? "retry" : "push",
        .retry_of = retry_of,
    };
    struct buf err = BUF_INIT;
    int64_t id = store_run_insert(f->st, &r, &err);
    if (id <= 0)
        fail_msg("store_run_insert: %s", err.data);
    buf_release(&err);
    return id;
}

static int fill(void *ctx, struct store *st, struct store_release *r, struct buf *err)
{
    (void)ctx;
    (void)st;
    (void)err;
    char v[32];
    snprintf(v, sizeof(v), "r%lld", (long long)r->number);
    r->version = xstrdup(v);
    r->provenance = xstrdup("{}");
    return 0;
}

static int64_t release(struct fixture *f, int64_t run_id, int64_t created)
{
    struct store_release r = {.repo_id = f->repo,
                              .run_id = run_id,
                              .commit = C2,
                              .ref = "refs/heads/main",
                              .pipeline_digest = "sha256:0",
                              .created_ms = created};
    struct buf err = BUF_INIT;
    int64_t id = store_release_insert(f->st, &r, NULL, 0, fill, NULL, &err);
    if (id <= 0)
        fail_msg("store_release_insert: %s", err.data);
    free(r.version);
    free(r.provenance);
    buf_release(&err);
    return id;
}

/* A deployment made at created, in state queued (or deploying for a rollback). */
static struct store_deployment deployment(struct fixture *f, int64_t rel, const char *env,
                                          const char *kind, int64_t rollback_of, int64_t created)
{
    bool rb = !strcmp(kind, "rollback");
    struct store_deployment d = {.repo_id = f->repo,
                                 .release_id = rel,
                                 .env = (char *)env,
                                 .kind = (char *)kind,
                                 .rollback_of = rollback_of,
                                 .state = rb ? "deploying" : "queued",
                                 .reason = "",
                                 .actor = "t",
                                 .approved_by = "",
                                 .approval_note = "",
                                 .created_ms = created,
                                 .started_ms = rb ? created : 0,
                                 .phase_ms = created};
    struct buf err = BUF_INIT;
    if (store_deploy_insert(f->st, &d, &err) <= 0)
        fail_msg("store_deploy_insert: %s", err.data);
    buf_release(&err);
    return d;
}

/* Moves d to state (wave, wait) at t, as the deployer does. */
static void move(struct fixture *f, struct store_deployment *d, const char *state, int wave,
                 const char *wait, int64_t t)
{
    static const char *const finals[] = {"succeeded", "failed", "rejected", "superseded",
                                         "cancelled"};
    d->state = (char *)state;
    d->wave = wave;
    d->wait = (char *)wait;
    d->phase_ms = t;
    if (deploy_state_active(state) && !d->started_ms)
        d->started_ms = t;
    for (size_t i = 0; i < 5; i++)
        if (!strcmp(state, finals[i]))
            d->finished_ms = t;
    struct buf err = BUF_INIT;
    if (store_deploy_set(f->st, d, &err))
        fail_msg("store_deploy_set: %s", err.data);
    buf_release(&err);
}

static void test_run_change(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t a = run(f, "main", C1, "passed", 10, 11, 0);
    int64_t x = run(f, "change", C2, "passed", 15, 16, 0);
    int64_t b = run(f, "main", C2, "failed", 20, 21, 0);
    int64_t b2 = run(f, "main", C2, "passed", 30, 31, b);
    struct store_run r = {0};
    char base[41];
    int64_t pushed = -1;
    /* the first main run: no base, pushed when it was made */
    assert_int_equal(store_run_get(f->st, a, &r, &err), 0);
    assert_int_equal(store_run_base(f->st, &r, base, &err), 0);
    assert_int_equal(store_run_pushed(f->st, &r, &pushed, &err), 0);
    assert_string_equal(base, "");
    assert_int_equal(pushed, 10);
    store_run_release(&r);
    /* a change run: no base (its commit alone) */
    assert_int_equal(store_run_get(f->st, x, &r, &err), 0);
    assert_int_equal(store_run_base(f->st, &r, base, &err), 0);
    assert_int_equal(store_run_pushed(f->st, &r, &pushed, &err), 0);
    assert_string_equal(base, "");
    assert_int_equal(pushed, 15);
    store_run_release(&r);
    /* the second: after the first's commit */
    assert_int_equal(store_run_get(f->st, b, &r, &err), 0);
    assert_int_equal(store_run_base(f->st, &r, base, &err), 0);
    assert_int_equal(store_run_pushed(f->st, &r, &pushed, &err), 0);
    assert_string_equal(base, C1);
    assert_int_equal(pushed, 20);
    store_run_release(&r);
    /* its retry: the same change, pushed when the first run of the commit was made */
    assert_int_equal(store_run_get(f->st, b2, &r, &err), 0);
    assert_int_equal(store_run_base(f->st, &r, base, &err), 0);
    assert_int_equal(store_run_pushed(f->st, &r, &pushed, &err), 0);
    assert_string_equal(base, C1);
    assert_int_equal(pushed, 20);
    assert_int_equal(r.commit_ms, 0);
    store_run_release(&r);
    const char *commits[] = {C2, CX};
    assert_int_equal(store_run_set_change(f->st, b2, 9000, 4000, 20, commits, 2, &err), 0);
    assert_int_equal(store_run_get(f->st, b2, &r, &err), 0);
    assert_int_equal(r.commit_ms, 9000);
    assert_int_equal(r.first_commit_ms, 4000);
    assert_int_equal(r.pushed_ms, 20);
    store_run_release(&r);
    assert_int_equal(store_run_set_change(f->st, 999, 1, 1, 1, NULL, 0, &err), -ENOENT);
    /* a later run of the same commit and kind takes them, commits too, without git */
    int64_t b3 = run(f, "main", C2, "passed", 40, 41, b2);
    assert_int_equal(store_run_get(f->st, b3, &r, &err), 0);
    /* store_run_insert took them already, in its own transaction */
    assert_int_equal(r.commit_ms, 9000);
    assert_int_equal(r.first_commit_ms, 4000);
    assert_int_equal(r.pushed_ms, 20);
    assert_int_equal(store_run_change_copy(f->st, &r, 20, &err), 1);
    store_run_release(&r);
    assert_int_equal(store_run_get(f->st, b3, &r, &err), 0);
    assert_int_equal(r.commit_ms, 9000);
    assert_int_equal(r.first_commit_ms, 4000);
    assert_int_equal(r.pushed_ms, 20);
    store_run_release(&r);
    /* a change run of that commit does not: another kind */
    int64_t x2 = run(f, "change", C2, "passed", 50, 51, 0);
    assert_int_equal(store_run_get(f->st, x2, &r, &err), 0);
    assert_int_equal(store_run_change_copy(f->st, &r, 50, &err), 0);
    assert_int_equal(r.commit_ms, 0);
    store_run_release(&r);
    /* the commits came along: b3's change run is found through them */
    int64_t rel = release(f, b3, 45);
    struct store_stages st;
    assert_int_equal(store_stages_load(f->st, f->repo, 45, 46, &st, &err), 0);
    assert_int_equal(st.nrel, 1);
    assert_int_equal(st.rel[0].id, rel);
    assert_int_equal(st.rel[0].change_created_ms, 15); /* x, before b3 */
    store_stages_release(&st);
    buf_release(&err);
}

static void test_deploy_history(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t rel = release(f, run(f, "main", C1, "passed", 1, 2, 0), 3);
    struct store_deployment d = deployment(f, rel, "production", "deploy", 0, 100);
    move(f, &d, "queued", 0, DEPLOY_WAIT_LINE, 110);
    move(f, &d, "deploying", 0, "", 120);
    d.reason = "wave 1 of 2";
    move(f, &d, "deploying", 0, "", 125); /* nothing changed but the reason: no event */
    move(f, &d, "baking", 0, "", 130);
    move(f, &d, "deploying", 1, "", 140);
    /* an end that keeps phase_ms (a superseded deployment): at finished_ms */
    d.state = "cancelled";
    d.finished_ms = 150;
    assert_int_equal(store_deploy_set(f->st, &d, &err), 0);
    struct store_deploy_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(store_deploy_history(f->st, d.id, &ev, &n, &err), 0);
    static const struct {
        const char *state, *wait;
        int wave;
        int64_t t;
    } want[] = {{"queued", "", 0, 100}, {"queued", "line", 0, 110}, {"deploying", "", 0, 120},
                {"baking", "", 0, 130}, {"deploying", "", 1, 140},  {"cancelled", "", 1, 150}};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ev[i].state, want[i].state);
        assert_string_equal(ev[i].wait, want[i].wait);
        assert_int_equal(ev[i].wave, want[i].wave);
        assert_int_equal(ev[i].time_ms, want[i].t);
    }
    store_deploy_events_release(ev, n);
    struct store_deployment back = {0};
    assert_int_equal(store_deploy_get(f->st, d.id, &back, &err), 0);
    assert_string_equal(back.wait, "");
    store_deployment_release(&back);
    buf_release(&err);
}

static void test_stages_load(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    int64_t m1 = run(f, "main", C1, "passed", 5, 8, 0);
    int64_t x1 = run(f, "change", C2, "failed", 10, 20, 0);
    int64_t x2 = run(f, "change", C2, "passed", 30, 40, 0); /* the latest: this one */
    int64_t m2 = run(f, "main", C2, "passed", 50, 90, 0);
    int64_t x3 = run(f, "change", C2, "passed", 95, 99, 0); /* after the main run: not it */
    (void)x1;
    (void)x3;
    const char *commits[] = {C2};
    assert_int_equal(store_run_set_change(f->st, m2, 1, 1, 50, commits, 1, &err), 0);
    int64_t r0 = release(f, m1, 9);
    int64_t r1 = release(f, m2, 100);
    struct store_deployment d = deployment(f, r1, "staging", "deploy", 0, 101);
    move(f, &d, "deploying", 0, "", 103);
    move(f, &d, "succeeded", 0, "", 120);
    struct store_deployment rb = deployment(f, r1, "staging", "rollback", 0, 130);
    struct store_deployment old = deployment(f, r0, "staging", "deploy", 0, 10);
    (void)rb;
    (void)old;

    struct store_stages s;
    assert_int_equal(store_stages_load(f->st, f->repo, 50, 1000, &s, &err), 0);
    assert_int_equal(s.nrel, 1);
    assert_int_equal(s.rel[0].id, r1);
    assert_string_equal(s.rel[0].version, "r2");
    assert_int_equal(s.rel[0].created_ms, 100);
    assert_int_equal(s.rel[0].run_created_ms, 50);
    assert_int_equal(s.rel[0].run_finished_ms, 90);
    assert_int_equal(s.rel[0].change_created_ms, 30);
    assert_int_equal(s.rel[0].change_finished_ms, 40);
    (void)x2;
    assert_int_equal(s.ndeps, 1); /* deploys of the period's releases only */
    assert_int_equal(s.deps[0].id, d.id);
    assert_string_equal(s.deps[0].env, "staging");
    assert_true(s.deps[0].succeeded && s.deps[0].started);
    assert_int_equal(s.nev, 3);
    assert_string_equal(s.ev[0].state, "queued");
    assert_string_equal(s.ev[2].state, "succeeded");
    assert_int_equal(s.ev[2].time_ms, 120);
    store_stages_release(&s);
    /* without a change recorded, there is no change run */
    assert_int_equal(store_stages_load(f->st, f->repo, 0, 50, &s, &err), 0);
    assert_int_equal(s.nrel, 1);
    assert_int_equal(s.rel[0].change_created_ms, 0);
    store_stages_release(&s);
    buf_release(&err);
}

static void test_caught_and_dora_load(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    run(f, "change", C1, "failed", 10, 20, 0);
    run(f, "change", C1, "cancelled", 10, 21, 0);
    int64_t m = run(f, "main", C2, "failed", 10, 22, 0);
    run(f, "main", C2, "failed", 10, 5000, 0); /* after the period */
    (void)m;
    int64_t good = run(f, "main", C3, "passed", 30, 40, 0);
    const char *commits[] = {C3};
    assert_int_equal(store_run_set_change(f->st, good, 41000, 7, 35, commits, 1, &err), 0);
    int64_t rel = release(f, good, 50);
    /* production: d1 succeeds, d2 is rejected at approval, a person rolls back: d1 reverted */
    struct store_deployment d1 = deployment(f, rel, "production", "deploy", 0, 100);
    move(f, &d1, "deploying", 0, "", 101);
    move(f, &d1, "succeeded", 0, "", 110);
    struct store_deployment d2 = deployment(f, rel, "production", "deploy", 0, 120);
    move(f, &d2, "approval", 0, "", 121);
    move(f, &d2, "rejected", 0, "", 122);
    struct store_deployment b1 = deployment(f, rel, "production", "rollback", 0, 130);
    move(f, &b1, "succeeded", 0, "", 135);
    /* the rollback rolled back: it reverts b1, a rollback */
    struct store_deployment b2 = deployment(f, rel, "production", "rollback", 0, 140);
    move(f, &b2, "succeeded", 0, "", 145);
    /* d3 fails while monitoring; its rollback follows it */
    struct store_deployment d3 = deployment(f, rel, "production", "deploy", 0, 150);
    move(f, &d3, "monitoring", 0, "", 155);
    move(f, &d3, "failed", 0, "", 160);
    struct store_deployment b3 = deployment(f, rel, "production", "rollback", d3.id, 161);
    move(f, &b3, "succeeded", 0, "", 165);
    /* staging: d4 fails while baking; d5 was cancelled before it started */
    struct store_deployment d4 = deployment(f, rel, "staging", "deploy", 0, 60);
    move(f, &d4, "baking", 0, "", 62);
    move(f, &d4, "failed", 0, "", 70);
    struct store_deployment d5 = deployment(f, rel, "staging", "deploy", 0, 71);
    move(f, &d5, "cancelled", 0, "", 72);

    struct store_caught c;
    assert_int_equal(store_caught_load(f->st, f->repo, 0, 1000, &c, &err), 0);
    int runs = 0, change = 0;
    bool seen_d3 = false, seen_d4 = false, seen_b1 = false;
    for (size_t i = 0; i < c.n; i++) {
        const struct caught_record *r = &c.v[i];
        if (r->what == CAUGHT_RUN) {
            runs++;
            change += !strcmp(r->run_kind, "change");
        } else if (r->what == CAUGHT_DEPLOYMENT && !strcmp(r->env, "production")) {
            assert_string_equal(r->phase, "monitoring");
            assert_int_equal(r->time_ms, 160);
            seen_d3 = true;
        } else if (r->what == CAUGHT_DEPLOYMENT) {
            assert_string_equal(r->env, "staging");
            assert_string_equal(r->phase, "baking");
            seen_d4 = true;
        } else {
            assert_int_equal(r->what, CAUGHT_ROLLED_BACK);
            assert_string_equal(r->env, "production");
            assert_int_equal(r->time_ms, 130); /* b1 reverted d1; b2 a rollback, b3 a failure */
            seen_b1 = true;
        }
    }
    assert_int_equal(runs, 2);
    assert_int_equal(change, 1);
    assert_true(seen_d3 && seen_d4 && seen_b1);
    assert_int_equal(c.n, 5);
    store_caught_release(&c);

    /* the DORA records: what each rollback reverts, and the change's times */
    struct dora_deployment *dd = NULL;
    struct dora_incident *in = NULL;
    size_t nd = 0, ni = 0;
    assert_int_equal(
        store_dora_load(f->st, f->repo, "production", 100, 150, &dd, &nd, &in, &ni, &err), 0);
    /* finished in [100, 150): d1, d2, b1, b2; rollbacks since 100: b1, b2, b3 */
    assert_int_equal(nd, 5);
    for (size_t i = 0; i < nd; i++) {
        assert_int_equal(dd[i].merge_ms, 35);
        assert_int_equal(dd[i].commit_ms, 7);
        assert_int_equal(dd[i].release_ms, 50);
        if (dd[i].id == b1.id)
            assert_int_equal(dd[i].rolls_back, d1.id); /* d2 was rejected: it never ran */
        else if (dd[i].id == b2.id)
            assert_int_equal(dd[i].rolls_back, b1.id);
        else if (dd[i].id == b3.id)
            assert_int_equal(dd[i].rolls_back, d3.id);
        else
            assert_int_equal(dd[i].rolls_back, 0);
    }
    free(dd);
    free(in);
    buf_release(&err);
}

static int64_t job(struct fixture *f, int64_t run_id, const char *name, const char *state,
                   int64_t finished, const char *const *attempts, size_t nattempts)
{
    struct buf err = BUF_INIT;
    int64_t id = store_job_insert(f->st, run_id, name, &err);
    if (id <= 0)
        fail_msg("store_job_insert: %s", err.data);
    struct store_job j = {.id = id,
                          .run_id = run_id,
                          .state = (char *)state,
                          .reason = "",
                          .attempts = (int)nattempts,
                          .finished_ms = finished};
    if (store_job_update(f->st, &j, &err))
        fail_msg("store_job_update: %s", err.data);
    for (size_t i = 0; i < nattempts; i++) {
        struct store_attempt a = {.job_id = id,
                                  .number = (int)i + 1,
                                  .state = (char *)attempts[i],
                                  .finished_ms = finished - (int64_t)(nattempts - i - 1)};
        if (store_attempt_insert(f->st, &a, &err) <= 0)
            fail_msg("store_attempt_insert: %s", err.data);
    }
    buf_release(&err);
    return id;
}

static void test_flaky_load(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    static const char *const fail_pass[] = {"failed", "passed"};
    static const char *const timeout_fail_pass[] = {"timed-out", "failed", "passed"};
    static const char *const failed[] = {"failed"};
    static const char *const passed[] = {"passed"};
    static const char *const cancelled_pass[] = {"cancelled", "passed"};
    int64_t r1 = run(f, "change", C1, "failed", 10, 100, 0);
    job(f, r1, "test", "passed", 100, fail_pass, 2);         /* in the run */
    job(f, r1, "lint", "failed", 90, failed, 1);             /* passes in r3 */
    job(f, r1, "e2e", "failed", 95, failed, 1);              /* never passes */
    job(f, r1, "build", "passed", 50, cancelled_pass, 2);    /* interrupted: not flaky */
    int64_t r2 = run(f, "change", C2, "passed", 10, 200, 0); /* another commit */
    job(f, r2, "lint", "passed", 200, passed, 1);
    job(f, r2, "e2e", "passed", 200, passed, 1);
    int64_t r3 = run(f, "main", C1, "passed", 300, 400, r1); /* the same commit again */
    job(f, r3, "lint", "passed", 390, passed, 1);
    job(f, r3, "unit", "passed", 400, timeout_fail_pass, 3); /* twice in the run */
    job(f, r3, "e2e", "failed", 395, failed, 1);
    struct store_flaky fl;
    assert_int_equal(store_flaky_load(f->st, f->repo, 0, 1000, &fl, &err), 0);
    assert_int_equal(fl.n, 4);
    int test = 0, lint = 0, unit = 0;
    for (size_t i = 0; i < fl.n; i++) {
        const struct flaky_record *r = &fl.v[i];
        assert_string_equal(r->commit, C1);
        if (!strcmp(r->job, "test")) {
            test++;
            assert_int_equal(r->run_id, r1);
            assert_int_equal(r->passed_run_id, r1);
            assert_int_equal(r->passed_run_number, 1);
            assert_int_equal(r->attempt, 1);
            assert_int_equal(r->failed_ms, 99);
            assert_int_equal(r->passed_ms, 100);
        } else if (!strcmp(r->job, "lint")) {
            lint++;
            assert_int_equal(r->run_id, r1);
            assert_int_equal(r->passed_run_id, r3);
            assert_int_equal(r->passed_run_number, 0); /* read when shown */
            assert_int_equal(store_flaky_complete(f->st, &fl.v[i], &err), 0);
            assert_int_equal(r->passed_run_number, 3);
            assert_int_equal(r->passed_ms, 390);
        } else {
            assert_string_equal(r->job, "unit");
            unit++;
            assert_int_equal(r->passed_run_id, r3);
        }
    }
    assert_true(test == 1 && lint == 1 && unit == 2);
    store_flaky_release(&fl);
    /* the period is that of the failures */
    assert_int_equal(store_flaky_load(f->st, f->repo, 100, 1000, &fl, &err), 0);
    assert_int_equal(fl.n, 2); /* unit's two, at 398 and 399 */
    store_flaky_release(&fl);
    buf_release(&err);
}

/* ---- the plans ---- */

struct traced {
    char *sql[64];
    size_t n;
};

static int trace(unsigned type, void *ctx, void *p, void *x)
{
    struct traced *t = ctx;
    (void)type;
    const char *sql = x;
    if (sqlite3_stmt_readonly(p) && strncmp(sql, "--", 2) && t->n < 64)
        t->sql[t->n++] = xstrdup(sql);
    return 0;
}

/* The tables whose every row a measure must not read. */
static const char *const big[] = {"runs",        "jobs",          "attempts",  "releases",
                                  "deployments", "deploy_events", "incidents", "run_commits"};

/*
 * Every query the measures make (caught by tracing the loaders) is answered
 * through indexes: EXPLAIN QUERY PLAN shows no SCAN of a large table, not
 * even of a whole index of it, no search by repository (or state) alone,
 * and no temporary B-tree for a sort. The store has no statistics (the
 * server never runs ANALYZE), so these are the plans it gets.
 */
static void test_query_plans(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    struct traced t = {0};
    sqlite3 *db = store_sqlite(f->st);
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace, &t);
    struct store_stages s;
    struct store_caught c;
    struct store_flaky fl;
    struct dora_deployment *dd = NULL;
    struct dora_incident *in = NULL;
    size_t nd = 0, ni = 0;
    assert_int_equal(store_stages_load(f->st, f->repo, 0, 1000, &s, &err), 0);
    assert_int_equal(store_caught_load(f->st, f->repo, 0, 1000, &c, &err), 0);
    assert_int_equal(store_flaky_load(f->st, f->repo, 0, 1000, &fl, &err), 0);
    assert_int_equal(
        store_dora_load(f->st, f->repo, "production", 0, 1000, &dd, &nd, &in, &ni, &err), 0);
    sqlite3_trace_v2(db, 0, NULL, NULL);
    store_stages_release(&s);
    store_caught_release(&c);
    store_flaky_release(&fl);
    free(dd);
    free(in);
    assert_int_equal(t.n, 9); /* stages 3, caught 3, flaky 1, dora 2 */
    for (size_t i = 0; i < t.n; i++) {
        struct buf q = BUF_INIT;
        buf_addf(&q, "EXPLAIN QUERY PLAN %s", t.sql[i]);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, q.data, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            if (getenv("FLYWHEEL_SHOW_PLANS"))
                fprintf(stderr, "%zu: %s\n", i, d);
            if (strstr(d, "TEMP B-TREE"))
                fail_msg("query %zu sorts in a temporary B-tree: %s\n%s", i, d, t.sql[i]);
            /* a search by repository alone reads all of the repository's rows */
            if (strstr(d, "(repo_id=?)") || strstr(d, "runs_by_repo") || strstr(d, "(state=?)"))
                fail_msg("query %zu reads all of a repository: %s\n%s", i, d, t.sql[i]);
            if (strncmp(d, "SCAN ", 5))
                continue;
            for (size_t k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
                size_t len = strlen(big[k]);
                if (!strncmp(d + 5, big[k], len) && (d[5 + len] == ' ' || !d[5 + len]))
                    fail_msg("query %zu reads all of %s: %s\n%s", i, big[k], d, t.sql[i]);
            }
        }
        sqlite3_finalize(st);
        buf_release(&q);
        free(t.sql[i]);
    }
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deploy_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stages_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caught_and_dora_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flaky_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
