#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"

static struct pipeline *parse(const char *src)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = pipeline_parse("t.yml", src, strlen(src), NULL, 0, &d);
    if (!p) {
        for (size_t i = 0; i < d.n; i++)
            print_error("%u:%u: %s\n", d.v[i].pos.line, d.v[i].pos.col, d.v[i].msg);
    }
    assert_non_null(p);
    diag_list_release(&d);
    return p;
}

static size_t idx(const struct pipeline *p, const char *name)
{
    long i = pipeline_job_index(p, name);
    assert_true(i >= 0);
    return (size_t)i;
}

static const char diamond[] = "jobs:\n"
                              "  a: { run: x }\n"
                              "  b: { run: x, needs: [a] }\n"
                              "  c: { run: x, needs: [a] }\n"
                              "  d: { run: x, needs: [b, c] }\n"
                              "  e: { run: x }\n";

static void test_ready_order(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    struct sched *s = sched_new(p, NULL, 0);
    /* a and e are ready at once; a first (file order) */
    assert_int_equal(sched_waiting(s), 2);
    assert_int_equal(sched_next(s), idx(p, "a"));
    assert_int_equal(sched_waiting(s), 1);
    assert_int_equal(sched_next(s), idx(p, "e"));
    assert_int_equal(sched_next(s), -1);
    assert_int_equal(sched_waiting(s), 0);
    assert_int_equal(sched_running(s), 2);
    sched_finish(s, idx(p, "a"), JOB_EV_PASS);
    assert_int_equal(sched_waiting(s), 2); /* b and c */
    assert_int_equal(sched_next(s), idx(p, "b"));
    assert_int_equal(sched_next(s), idx(p, "c"));
    assert_int_equal(sched_next(s), -1); /* d waits for b and c */
    sched_finish(s, idx(p, "b"), JOB_EV_PASS);
    assert_int_equal(sched_next(s), -1);
    sched_finish(s, idx(p, "c"), JOB_EV_PASS);
    assert_int_equal(sched_next(s), idx(p, "d"));
    assert_false(sched_done(s));
    sched_finish(s, idx(p, "d"), JOB_EV_PASS);
    sched_finish(s, idx(p, "e"), JOB_EV_PASS);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_PASSED);
    sched_free(s);
    pipeline_free(p);
}

static void test_failure_skips_dependants_only(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    struct sched *s = sched_new(p, NULL, 0);
    assert_int_equal(sched_next(s), idx(p, "a"));
    assert_int_equal(sched_next(s), idx(p, "e"));
    sched_finish(s, idx(p, "a"), JOB_EV_FAIL);
    assert_int_equal(sched_state(s, idx(p, "b")), JOB_SKIPPED);
    assert_int_equal(sched_state(s, idx(p, "c")), JOB_SKIPPED);
    assert_int_equal(sched_state(s, idx(p, "d")), JOB_SKIPPED);
    assert_string_equal(sched_reason(s, idx(p, "b")), "needs 'a', which failed");
    assert_string_equal(sched_reason(s, idx(p, "d")), "needs 'b', which was skipped");
    /* the independent job goes on */
    assert_int_equal(sched_state(s, idx(p, "e")), JOB_RUNNING);
    assert_false(sched_done(s));
    sched_finish(s, idx(p, "e"), JOB_EV_PASS);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_FAILED);
    sched_free(s);
    pipeline_free(p);
}

static void test_fail_fast(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    struct sched *s = sched_new(p, NULL, SCHED_FAIL_FAST);
    sched_next(s);
    sched_next(s);
    sched_finish(s, idx(p, "e"), JOB_EV_FAIL);
    assert_true(sched_cancelling(s));
    assert_int_equal(sched_state(s, idx(p, "b")), JOB_CANCELLED);
    assert_string_equal(sched_reason(s, idx(p, "b")), "'e' failed and --fail-fast is set");
    assert_int_equal(sched_next(s), -1);
    assert_false(sched_done(s)); /* a is still running */
    sched_finish(s, idx(p, "a"), JOB_EV_CANCEL);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_CANCELLED);
    sched_free(s);
    pipeline_free(p);
}

static void test_retries(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x, retries: 2 }\n"
                               "  b: { run: x, needs: [a] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b");
    assert_int_equal(sched_next(s), a);
    assert_int_equal(sched_attempts(s, a), 1);
    sched_finish(s, a, JOB_EV_FAIL);
    assert_int_equal(sched_state(s, a), JOB_QUEUED);
    assert_true(sched_retrying(s, a));
    assert_string_equal(sched_reason(s, a), "attempt 1 failed; retrying");
    assert_int_equal(sched_next(s), a);
    assert_int_equal(sched_attempts(s, a), 2);
    sched_finish(s, a, JOB_EV_TIME_OUT);
    assert_int_equal(sched_next(s), a);
    assert_int_equal(sched_attempts(s, a), 3);
    sched_finish(s, a, JOB_EV_FAIL); /* retries used up */
    assert_int_equal(sched_state(s, a), JOB_FAILED);
    assert_int_equal(sched_state(s, b), JOB_SKIPPED);
    assert_true(sched_done(s));
    sched_free(s);
    pipeline_free(p);
}

/* A failure no retry would change: no retry, the reason kept, dependants skipped. */
static void test_fail_final(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x, retries: 2 }\n"
                               "  b: { run: x, needs: [a] }\n"
                               "  c: { run: x, allow_failure: true }\n"
                               "  d: { run: x, needs: [c] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b"), c = idx(p, "c"), d = idx(p, "d");
    assert_int_equal(sched_next(s), a);
    sched_fail(s, a, "secret 'X' is not set");
    assert_int_equal(sched_state(s, a), JOB_FAILED);
    assert_false(sched_retrying(s, a));
    assert_int_equal(sched_attempts(s, a), 1);
    assert_string_equal(sched_reason(s, a), "secret 'X' is not set");
    assert_int_equal(sched_state(s, b), JOB_SKIPPED);
    assert_int_equal(sched_next(s), c);
    sched_fail(s, c, "secret 'Y' is not set");
    assert_int_equal(sched_next(s), d); /* allowed to fail: its dependants go on */
    sched_finish(s, d, JOB_EV_PASS);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_FAILED);
    sched_free(s);
    pipeline_free(p);
}

static void test_allow_failure(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x, allow_failure: true }\n"
                               "  b: { run: x, needs: [a] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b");
    sched_next(s);
    sched_finish(s, a, JOB_EV_FAIL);
    assert_int_equal(sched_next(s), b); /* dependants go on */
    sched_finish(s, b, JOB_EV_PASS);
    assert_int_equal(sched_result(s), SCHED_PASSED);
    sched_free(s);
    pipeline_free(p);
}

static void test_cancel_all(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    struct sched *s = sched_new(p, NULL, 0);
    sched_next(s);
    sched_cancel_all(s, "interrupted");
    assert_int_equal(sched_next(s), -1);
    assert_int_equal(sched_state(s, idx(p, "e")), JOB_CANCELLED);
    assert_string_equal(sched_reason(s, idx(p, "e")), "interrupted");
    sched_finish(s, idx(p, "a"), JOB_EV_CANCEL);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_CANCELLED);
    sched_free(s);
    pipeline_free(p);
}

static void test_select(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  build: { run: x }\n"
                               "  unit: { run: x, needs: [build] }\n"
                               "  e2e: { run: x, needs: [build], when: main }\n"
                               "  m: { run: x, matrix: { CC: [gcc, clang] } }\n"
                               "  rel: { run: x, when: { branches: ['release/*'] } }\n");
    bool sel[16];
    struct buf err = BUF_INIT;
    /* change run: e2e is main-only */
    assert_int_equal(sched_select(p, NULL, 0, PL_EV_CHANGE, "feature", sel, &err), 0);
    assert_true(sel[idx(p, "build")]);
    assert_true(sel[idx(p, "unit")]);
    assert_false(sel[idx(p, "e2e")]);
    assert_true(sel[idx(p, "m[gcc]")]);
    assert_false(sel[idx(p, "rel")]);
    assert_int_equal(sched_select(p, NULL, 0, PL_EV_MAIN, "release/1.2", sel, &err), 0);
    assert_true(sel[idx(p, "e2e")]);
    assert_true(sel[idx(p, "rel")]);
    /* named jobs bring what they need; a base name selects every combination */
    const char *names[] = {"e2e", "m"};
    assert_int_equal(sched_select(p, names, 2, PL_EV_CHANGE, NULL, sel, &err), 0);
    assert_true(sel[idx(p, "build")]);
    assert_true(sel[idx(p, "e2e")]);
    assert_false(sel[idx(p, "unit")]);
    assert_true(sel[idx(p, "m[gcc]")]);
    assert_true(sel[idx(p, "m[clang]")]);
    const char *bad[] = {"unti"};
    assert_int_equal(sched_select(p, bad, 1, PL_EV_CHANGE, NULL, sel, &err), -1);
    assert_string_equal(err.data, "unknown job 'unti' (did you mean 'unit'?)");
    buf_release(&err);
    pipeline_free(p);
}

static void test_partial_selection(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    bool sel[8] = {0};
    sel[idx(p, "a")] = true;
    sel[idx(p, "b")] = true;
    struct sched *s = sched_new(p, sel, 0);
    assert_int_equal(sched_next(s), idx(p, "a"));
    assert_int_equal(sched_next(s), -1); /* e is not selected */
    sched_finish(s, idx(p, "a"), JOB_EV_PASS);
    assert_int_equal(sched_next(s), idx(p, "b"));
    sched_finish(s, idx(p, "b"), JOB_EV_PASS);
    assert_true(sched_done(s));
    assert_false(sched_selected(s, idx(p, "d")));
    assert_int_equal(sched_result(s), SCHED_PASSED);
    sched_free(s);
    pipeline_free(p);
}

/* Runs every ready job to the end with ev_of(name). */
static void run_all(struct sched *s, const struct pipeline *p, const char *failing)
{
    long i;
    while ((i = sched_next(s)) >= 0)
        sched_finish(s, (size_t)i,
                     failing && !strcmp(p->jobs[i].name, failing) ? JOB_EV_FAIL : JOB_EV_PASS);
}

static void test_rerun_one(void **state)
{
    (void)state;
    struct pipeline *p = parse(diamond);
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b"), d = idx(p, "d"), e = idx(p, "e");
    bool set[8];
    struct buf err = BUF_INIT;
    run_all(s, p, "a");
    assert_true(sched_done(s));
    assert_int_equal(sched_state(s, d), JOB_SKIPPED);
    assert_int_equal(sched_result(s), SCHED_FAILED);

    /* b alone would be skipped again: refused, naming the need */
    assert_int_equal(sched_rerun_plan(s, (long)b, set, &err), -EDEADLK);
    assert_string_equal(err.data, "job 'b' needs 'a', which failed: retry that one first");
    buf_reset(&err);

    /* a, and everything that needs it; e is left alone */
    assert_int_equal(sched_rerun_plan(s, (long)a, set, &err), 4);
    assert_true(set[a] && set[b] && set[idx(p, "c")] && set[d]);
    assert_false(set[e]);
    assert_int_equal(err.len, 0);
    sched_rerun(s, set, "retried");
    assert_false(sched_done(s));
    assert_int_equal(sched_state(s, a), JOB_QUEUED);
    assert_int_equal(sched_state(s, d), JOB_QUEUED);
    assert_string_equal(sched_reason(s, d), "retried");
    assert_int_equal(sched_state(s, e), JOB_PASSED);
    assert_int_equal(sched_retry_base(s, a), 1);
    assert_int_equal(sched_retry_base(s, d), 0);

    /* while a runs again, neither it nor what needs it can be rerun */
    assert_int_equal(sched_next(s), a);
    assert_int_equal(sched_attempts(s, a), 2);
    assert_int_equal(sched_rerun_plan(s, (long)a, set, &err), -EBUSY);
    assert_string_equal(err.data, "job 'a' is still running");
    buf_reset(&err);
    assert_int_equal(sched_next(s), -1); /* b waits for a */
    sched_finish(s, a, JOB_EV_PASS);
    run_all(s, p, NULL);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_PASSED);
    assert_int_equal(sched_attempts(s, d), 1);

    /* a passed job may be rerun too: what needs it, passed, runs again */
    assert_int_equal(sched_rerun_plan(s, (long)b, set, &err), 2);
    assert_true(set[b] && set[d]);
    sched_rerun(s, set, "");
    assert_int_equal(sched_next(s), b);
    assert_int_equal(sched_next(s), -1); /* d waits for b, c has passed */
    sched_finish(s, b, JOB_EV_PASS);
    assert_int_equal(sched_next(s), d);
    sched_finish(s, d, JOB_EV_PASS);
    assert_true(sched_done(s));
    assert_int_equal(sched_attempts(s, d), 2);

    assert_int_equal(sched_rerun_plan(s, 99, set, &err), -ENOENT);
    buf_release(&err);
    sched_free(s);
    pipeline_free(p);
}

static void test_rerun_failed(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x }\n"
                               "  b: { run: x, needs: [a] }\n"
                               "  c: { run: x, needs: [b] }\n"
                               "  d: { run: x }\n"
                               "  e: { run: x, needs: [d] }\n"
                               "  f: { run: x, needs: [a, d] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b"), c = idx(p, "c"), d = idx(p, "d"), e = idx(p, "e"),
           f = idx(p, "f");
    bool set[8];
    struct buf err = BUF_INIT;
    run_all(s, p, NULL);
    assert_int_equal(sched_rerun_plan(s, -1, set, &err), -ENOENT);
    assert_string_equal(err.data, "no job failed, timed out or was cancelled");
    buf_reset(&err);

    /* b fails (c skipped) and e fails; a, d and f have passed */
    assert_int_equal(sched_rerun_plan(s, (long)b, set, &err), 2);
    sched_rerun(s, set, "");
    assert_int_equal(sched_next(s), b);
    sched_finish(s, b, JOB_EV_FAIL);
    assert_int_equal(sched_state(s, c), JOB_SKIPPED);
    assert_int_equal(sched_rerun_plan(s, (long)e, set, &err), 1);
    sched_rerun(s, set, "");
    assert_int_equal(sched_next(s), e);
    sched_finish(s, e, JOB_EV_TIME_OUT);
    assert_true(sched_done(s));

    assert_int_equal(sched_rerun_plan(s, -1, set, &err), 3);
    assert_true(set[b] && set[c] && set[e]);
    assert_false(set[a] || set[d] || set[f]);
    sched_rerun(s, set, "retried");
    run_all(s, p, NULL);
    assert_true(sched_done(s));
    assert_int_equal(sched_result(s), SCHED_PASSED);

    /* cancelled jobs are retried with the failed ones */
    struct sched *t = sched_new(p, NULL, 0);
    assert_int_equal(sched_next(t), a);
    sched_cancel_all(t, "stop");
    assert_int_equal(sched_rerun_plan(t, -1, set, &err), -ECANCELED);
    buf_reset(&err);
    sched_finish(t, a, JOB_EV_CANCEL);
    assert_true(sched_done(t));
    sched_free(t);
    /* a run cancelled while it ran: a fresh scheduler restores it (the server's way) */
    t = sched_new(p, NULL, 0);
    for (size_t i = 0; i < p->njobs; i++)
        sched_restore(t, i, JOB_CANCELLED, i == a, 0, "stop");
    assert_int_equal(sched_rerun_plan(t, -1, set, &err), 6);
    sched_rerun(t, set, "");
    run_all(t, p, NULL);
    assert_int_equal(sched_result(t), SCHED_PASSED);
    assert_int_equal(sched_attempts(t, a), 2);
    sched_free(t);
    buf_release(&err);
    sched_free(s);
    pipeline_free(p);
}

static void test_rerun_busy_dependant(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x, allow_failure: true }\n"
                               "  b: { run: x, needs: [a] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b");
    bool set[4];
    struct buf err = BUF_INIT;
    sched_next(s);
    sched_finish(s, a, JOB_EV_FAIL);
    assert_int_equal(sched_next(s), b);
    assert_int_equal(sched_rerun_plan(s, (long)a, set, &err), -EBUSY);
    assert_string_equal(err.data, "job 'b', which needs 'a', is still running");
    buf_reset(&err);
    assert_int_equal(sched_rerun_plan(s, -1, set, &err), -EBUSY);
    buf_release(&err);
    sched_finish(s, b, JOB_EV_PASS);
    sched_free(s);
    pipeline_free(p);
}

/* A rerun job gets its retries again; a restore keeps where they count from. */
static void test_rerun_retry_budget(void **state)
{
    (void)state;
    struct pipeline *p = parse("jobs:\n"
                               "  a: { run: x, retries: 1 }\n"
                               "  b: { run: x, needs: [a] }\n");
    struct sched *s = sched_new(p, NULL, 0);
    size_t a = idx(p, "a"), b = idx(p, "b");
    bool set[4];
    struct buf err = BUF_INIT;
    run_all(s, p, "a");
    assert_int_equal(sched_state(s, a), JOB_FAILED);
    assert_int_equal(sched_attempts(s, a), 2);
    assert_int_equal(sched_rerun_plan(s, (long)a, set, &err), 2);
    sched_rerun(s, set, "");
    assert_int_equal(sched_next(s), a);
    sched_finish(s, a, JOB_EV_FAIL);
    assert_int_equal(sched_state(s, a), JOB_QUEUED); /* attempt 3 of 1 + 1 retry since the rerun */
    assert_true(sched_retrying(s, a));
    assert_int_equal(sched_next(s), a);
    sched_finish(s, a, JOB_EV_FAIL);
    assert_int_equal(sched_state(s, a), JOB_FAILED);
    assert_int_equal(sched_attempts(s, a), 4);
    sched_free(s);

    /* restored: rerun and waiting (attempts == base) is simply queued */
    s = sched_new(p, NULL, 0);
    sched_restore(s, a, JOB_QUEUED, 2, 2, "retried");
    assert_int_equal(sched_state(s, a), JOB_QUEUED);
    assert_false(sched_retrying(s, a));
    assert_string_equal(sched_reason(s, a), "retried");
    assert_int_equal(sched_next(s), a);
    assert_int_equal(sched_attempts(s, a), 3);
    sched_free(s);
    /* one interrupted attempt since the rerun: retried, one retry is allowed */
    s = sched_new(p, NULL, 0);
    sched_restore(s, a, JOB_QUEUED, 3, 2, "interrupted");
    assert_true(sched_retrying(s, a));
    sched_free(s);
    /* two: failed, b skipped */
    s = sched_new(p, NULL, 0);
    sched_restore(s, a, JOB_QUEUED, 4, 2, "interrupted");
    assert_int_equal(sched_state(s, a), JOB_FAILED);
    assert_int_equal(sched_state(s, b), JOB_SKIPPED);
    assert_true(sched_done(s));
    sched_free(s);
    buf_release(&err);
    pipeline_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_order),
        cmocka_unit_test(test_failure_skips_dependants_only),
        cmocka_unit_test(test_fail_fast),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_fail_final),
        cmocka_unit_test(test_allow_failure),
        cmocka_unit_test(test_cancel_all),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_partial_selection),
        cmocka_unit_test(test_rerun_one),
        cmocka_unit_test(test_rerun_failed),
        cmocka_unit_test(test_rerun_busy_dependant),
        cmocka_unit_test(test_rerun_retry_budget),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
