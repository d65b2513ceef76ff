#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
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
    assert_int_equal(sched_next(s), idx(p, "a"));
    assert_int_equal(sched_next(s), idx(p, "e"));
    assert_int_equal(sched_next(s), -1);
    assert_int_equal(sched_running(s), 2);
    sched_finish(s, idx(p, "a"), JOB_EV_PASS);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_order),   cmocka_unit_test(test_failure_skips_dependants_only),
        cmocka_unit_test(test_fail_fast),     cmocka_unit_test(test_retries),
        cmocka_unit_test(test_allow_failure), cmocka_unit_test(test_cancel_all),
        cmocka_unit_test(test_select),        cmocka_unit_test(test_partial_selection),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
