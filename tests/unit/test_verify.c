#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/verify.h"

#define P CHECK_PASS
#define F CHECK_FAIL
#define N CHECK_NO_DATA
#define E CHECK_ERROR

static struct verify_policy policy(int failure_limit, int error_limit, int min_count,
                                   enum verify_on_no_data nd)
{
    struct verify_policy p = {failure_limit, error_limit, min_count, nd};
    return p;
}

/* Feeds the outcomes in order; each must leave the state as given in states. */
static void feed(struct verify *v, const enum check_outcome *o, const enum verify_state *states,
                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum verify_state s = verify_feed(v, o[i]);
        if (s != states[i])
            fail_msg("outcome #%zu (%s): state %s, expected %s", i + 1, check_outcome_name(o[i]),
                     verify_state_name(s), verify_state_name(states[i]));
        assert_int_equal(v->state, s);
    }
}

#define FEED(v, ...)                                                                               \
    do {                                                                                           \
        const enum check_outcome o_[] = {__VA_ARGS__};                                             \
        for (size_t i_ = 0; i_ < sizeof(o_) / sizeof(o_[0]); i_++)                                 \
            verify_feed((v), o_[i_]);                                                              \
    } while (0)

static void expect_summary(const struct verify *v, const char *want)
{
    struct buf b = BUF_INIT;
    verify_summary(v, &b);
    assert_string_equal(b.data, want);
    buf_release(&b);
}

static void test_defaults(void **state)
{
    (void)state;
    struct verify_policy p;
    struct verify v;
    verify_policy_default(&p);
    assert_int_equal(p.failure_limit, 0);
    assert_int_equal(p.error_limit, 4);
    assert_int_equal(p.min_count, 1);
    assert_int_equal(p.on_no_data, VERIFY_NODATA_INCONCLUSIVE);
    verify_init(&v, &p);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.measurements + v.passes + v.failures + v.errors + v.no_data, 0);
    expect_summary(&v, "0 measurements (1 required)");
    /* Nothing measured: never a pass. */
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
}

static void test_all_pass(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    FEED(&v, P, P, P);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.measurements, 3);
    assert_int_equal(v.passes, 3);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    assert_int_equal(v.state, VERIFY_PASSED);
    /* Asked again, the same verdict. */
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    expect_summary(&v, "3 measurements: 3 passed, 0 failed (limit 0)");
}

static void test_failure_limit_0(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    const enum check_outcome o[] = {P, P, F, P};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_FAILED, VERIFY_FAILED};
    feed(&v, o, s, 4);
    assert_int_equal(v.failures, 1);
    assert_int_equal(v.passes, 3);
    assert_int_equal(v.measurements, 4);
    /* Passes after a failure do not bring it back. */
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    expect_summary(&v, "4 measurements: 3 passed, 1 failed (limit 0)");
}

static void test_failure_limit_2(void **state)
{
    (void)state;
    struct verify_policy p = policy(2, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;

    /* Two failures are tolerated, not in a row either: the total counts. */
    verify_init(&v, &p);
    const enum check_outcome o[] = {F, P, F, P, P, F};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING,
                                   VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_FAILED};
    feed(&v, o, s, 6);
    assert_int_equal(v.failures, 3);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    expect_summary(&v, "6 measurements: 3 passed, 3 failed (limit 2)");

    /* Within the limit, the period passes. */
    verify_init(&v, &p);
    FEED(&v, F, P, F, P);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    expect_summary(&v, "4 measurements: 2 passed, 2 failed (limit 2)");

    /* Tolerated failures are measurements: they count towards min_count. */
    p = policy(2, 4, 3, VERIFY_NODATA_INCONCLUSIVE);
    verify_init(&v, &p);
    FEED(&v, F, F, P);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
}

static void test_error_streak_below_limit(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    const enum check_outcome o[] = {P, E, E, E, E};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING,
                                   VERIFY_RUNNING};
    feed(&v, o, s, 5);
    assert_int_equal(v.errors, 4);
    assert_int_equal(v.consecutive_errors, 4);
    assert_int_equal(v.failures, 0);
    /* Errors are not measurements. */
    assert_int_equal(v.measurements, 1);
    expect_summary(&v, "1 measurement: 1 passed, 0 failed (limit 0), 4 errors (the latest 4 in "
                       "a row, limit 4 in a row)");
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
}

static void test_error_streak_above_limit(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    const enum check_outcome o[] = {P, E, E, E, E, E};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING,
                                   VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_FAILED};
    feed(&v, o, s, 6);
    assert_int_equal(v.errors, 5);
    assert_int_equal(v.failures, 1); /* the fifth error counts as a failure */
    assert_int_equal(v.measurements, 1);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    expect_summary(&v, "1 measurement: 1 passed, 1 failed (limit 0), 5 errors (the latest 5 in "
                       "a row, limit 4 in a row; 1 counted as failed)");

    /* error_limit 0: the first error fails. */
    p = policy(0, 0, 1, VERIFY_NODATA_INCONCLUSIVE);
    verify_init(&v, &p);
    assert_int_equal(verify_feed(&v, E), VERIFY_FAILED);
}

static void test_error_streak_reset(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;

    /* Eight errors, but never more than four in a row. */
    verify_init(&v, &p);
    FEED(&v, E, E, E, E, P, E, E, E, E);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.errors, 8);
    assert_int_equal(v.consecutive_errors, 4);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);

    /* A failure tolerated, or no data, is an answer too: it ends the streak. */
    p = policy(1, 2, 1, VERIFY_NODATA_INCONCLUSIVE);
    verify_init(&v, &p);
    FEED(&v, E, E, F, E, E, N, E, E, P);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.failures, 1);
    assert_int_equal(v.consecutive_errors, 0);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
}

static void test_errors_past_streak_count_as_failures(void **state)
{
    (void)state;
    /* With failures tolerated, each error past the streak uses one of them. */
    struct verify_policy p = policy(2, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    const enum check_outcome o[] = {P, E, E, E, E, E, E, E};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING,
                                   VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_FAILED};
    feed(&v, o, s, 8);
    assert_int_equal(v.failures, 3);
    assert_int_equal(v.measurements, 1);

    /* Errors counted as failures are not measurements: a check that only erred cannot pass. */
    verify_init(&v, &p);
    FEED(&v, E, E, E, E, E, E);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.failures, 2);
    assert_int_equal(v.measurements, 0);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
}

static void test_only_errors_within_limit(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    FEED(&v, E, E, E);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
    expect_summary(&v, "0 measurements (1 required): 3 errors (the latest 3 in a row, limit 4 "
                       "in a row)");
}

static void test_no_data_inconclusive(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;

    /* Only no data: neither a pass nor a failure. */
    verify_init(&v, &p);
    const enum check_outcome o[] = {N, N, N};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_RUNNING, VERIFY_RUNNING};
    feed(&v, o, s, 3);
    assert_int_equal(v.no_data, 3);
    assert_int_equal(v.measurements, 0);
    assert_int_equal(v.failures, 0);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
    expect_summary(&v, "0 measurements (1 required): 3 no data (inconclusive), the latest "
                       "unresolved");

    /* Passes, then no data at the end: inconclusive, even with enough measurements. */
    verify_init(&v, &p);
    FEED(&v, P, P, N);
    assert_true(v.no_data_pending);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
    expect_summary(&v, "2 measurements: 2 passed, 0 failed (limit 0); 1 no data (inconclusive), "
                       "the latest unresolved");

    /* Errors after no data do not resolve it. */
    verify_init(&v, &p);
    FEED(&v, P, N, E);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);

    /* Data after no data resolves it (a metric that appears after the deploy). */
    verify_init(&v, &p);
    FEED(&v, N, N, P);
    assert_false(v.no_data_pending);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    expect_summary(&v, "1 measurement: 1 passed, 0 failed (limit 0); 2 no data (inconclusive)");

    /* A failure still fails. */
    verify_init(&v, &p);
    FEED(&v, N, F, N);
    assert_int_equal(v.state, VERIFY_FAILED);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
}

static void test_no_data_fail(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_FAIL);
    struct verify v;
    verify_init(&v, &p);
    const enum check_outcome o[] = {P, N};
    const enum verify_state s[] = {VERIFY_RUNNING, VERIFY_FAILED};
    feed(&v, o, s, 2);
    assert_int_equal(v.failures, 1);
    assert_int_equal(v.no_data, 1);
    assert_int_equal(v.measurements, 2);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    expect_summary(&v, "2 measurements: 1 passed, 1 failed (limit 0); 1 no data (counted as "
                       "failed)");

    /* Counted as failures, so under failure_limit. */
    p = policy(1, 4, 1, VERIFY_NODATA_FAIL);
    verify_init(&v, &p);
    FEED(&v, N, P);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    verify_init(&v, &p);
    FEED(&v, N, P, N);
    assert_int_equal(v.state, VERIFY_FAILED);
}

static void test_no_data_pass(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 2, VERIFY_NODATA_PASS);
    struct verify v;
    verify_init(&v, &p);
    FEED(&v, N, N);
    assert_int_equal(v.state, VERIFY_RUNNING);
    assert_int_equal(v.passes, 2);
    assert_int_equal(v.measurements, 2);
    assert_false(v.no_data_pending);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);
    expect_summary(&v, "2 measurements: 2 passed, 0 failed (limit 0); 2 no data (counted as "
                       "passed)");
}

static void test_min_count(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 3, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;

    verify_init(&v, &p);
    FEED(&v, P, P);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
    expect_summary(&v, "2 measurements (3 required): 2 passed, 0 failed (limit 0)");

    /* Errors do not make up for missing measurements. */
    verify_init(&v, &p);
    FEED(&v, P, E, P, E);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);

    verify_init(&v, &p);
    FEED(&v, P, E, P, P);
    assert_int_equal(verify_finish(&v), VERIFY_PASSED);

    /* Not enough measurements, but a failure: failed, not inconclusive. */
    verify_init(&v, &p);
    FEED(&v, F);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
}

static void test_policy_clamped(void **state)
{
    (void)state;
    struct verify_policy p = policy(-1, -3, 0, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    assert_int_equal(v.pol.failure_limit, 0);
    assert_int_equal(v.pol.error_limit, 0);
    assert_int_equal(v.pol.min_count, 1);
    assert_int_equal(verify_finish(&v), VERIFY_INCONCLUSIVE);
}

static void test_finish_after_failure_stays_failed(void **state)
{
    (void)state;
    struct verify_policy p = policy(0, 4, 1, VERIFY_NODATA_INCONCLUSIVE);
    struct verify v;
    verify_init(&v, &p);
    assert_int_equal(verify_feed(&v, F), VERIFY_FAILED);
    FEED(&v, P, P, P, P, P);
    assert_int_equal(v.state, VERIFY_FAILED);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    assert_int_equal(verify_finish(&v), VERIFY_FAILED);
    /* Feeding after the end changes the counters, not the verdict. */
    assert_int_equal(verify_feed(&v, F), VERIFY_FAILED);
    assert_int_equal(v.failures, 2);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(verify_state_name(VERIFY_RUNNING), "running");
    assert_string_equal(verify_state_name(VERIFY_PASSED), "passed");
    assert_string_equal(verify_state_name(VERIFY_FAILED), "failed");
    assert_string_equal(verify_state_name(VERIFY_INCONCLUSIVE), "inconclusive");
    assert_string_equal(check_outcome_name(CHECK_PASS), "pass");
    assert_string_equal(check_outcome_name(CHECK_FAIL), "fail");
    assert_string_equal(check_outcome_name(CHECK_NO_DATA), "no data");
    assert_string_equal(check_outcome_name(CHECK_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_pass),
        cmocka_unit_test(test_failure_limit_0),
        cmocka_unit_test(test_failure_limit_2),
        cmocka_unit_test(test_error_streak_below_limit),
        cmocka_unit_test(test_error_streak_above_limit),
        cmocka_unit_test(test_error_streak_reset),
        cmocka_unit_test(test_errors_past_streak_count_as_failures),
        cmocka_unit_test(test_only_errors_within_limit),
        cmocka_unit_test(test_no_data_inconclusive),
        cmocka_unit_test(test_no_data_fail),
        cmocka_unit_test(test_no_data_pass),
        cmocka_unit_test(test_min_count),
        cmocka_unit_test(test_policy_clamped),
        cmocka_unit_test(test_finish_after_failure_stays_failed),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("verify", tests, NULL, NULL);
}
