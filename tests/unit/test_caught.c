#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/caught.h"
#include "core/flaky.h"

#define S   1000LL
#define H   (3600 * S)
#define DAY (24 * H)
#define MON 1795392000000LL /* Monday 2026-11-23 00:00 UTC */

#define RUN(k, t)                                                                                  \
    {                                                                                              \
        .what = CAUGHT_RUN, .run_kind = (k), .time_ms = (t)                                        \
    }
#define DEP(e, ph, t)                                                                              \
    {                                                                                              \
        .what = CAUGHT_DEPLOYMENT, .env = (e), .phase = (ph), .time_ms = (t)                       \
    }
#define ROLLED_BACK(e, t)                                                                          \
    {                                                                                              \
        .what = CAUGHT_ROLLED_BACK, .env = (e), .time_ms = (t)                                     \
    }

static const char *const order[] = {"dev", "staging", "production"};

static void test_caught(void **state)
{
    (void)state;
    const struct caught_record v[] = {
        RUN("change", MON + H),
        RUN("change", MON + 2 * H),
        RUN("change", MON + DAY + H),
        RUN("main", MON + 3 * H),
        RUN("tag", MON + DAY + 2 * H),
        RUN("manual", MON + 3 * H), /* no stage */
        DEP("staging", "baking", MON + 4 * H),
        ROLLED_BACK("staging", MON + 5 * H),
        DEP("production", "deploying", MON + 6 * H),
        DEP("production", "baking", MON + 7 * H),
        DEP("production", "paused", MON + DAY + 7 * H),
        DEP("production", "", MON + DAY + 8 * H), /* no history: during the waves */
        DEP("production", "monitoring", MON + DAY + 9 * H),
        ROLLED_BACK("production", MON + DAY + 10 * H),
        DEP("canary", "deploying", MON + DAY + 11 * H), /* not in the pipeline */
        RUN("change", MON - 1),                         /* before the period */
        DEP("production", "baking", MON + 2 * DAY),     /* after it */
    };
    struct dora_params p = {.from_ms = MON, .to_ms = MON + 2 * DAY, .interval = DORA_DAY};
    struct caught_result r;
    struct buf err = BUF_INIT;
    assert_int_equal(
        caught_compute(&p, "production", order, 3, v, sizeof(v) / sizeof(v[0]), &r, &err), 0);
    assert_int_equal(r.nspans, 2);
    static const struct {
        enum caught_stage stage;
        const char *env;
        int64_t day1, day2;
    } want[] = {
        {CAUGHT_CHANGE_RUNS, NULL, 2, 1},
        {CAUGHT_MAIN_RUNS, NULL, 1, 1},
        {CAUGHT_VERIFICATION, "dev", 0, 0},
        {CAUGHT_VERIFICATION, "staging", 2, 0},
        {CAUGHT_VERIFICATION, "canary", 0, 1},
        {CAUGHT_PRODUCTION_WAVES, "production", 2, 2},
        {CAUGHT_PRODUCTION_MONITORING, "production", 0, 1},
        {CAUGHT_PRODUCTION_AFTER, "production", 0, 1},
    };
    assert_int_equal(r.nrows, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < r.nrows; i++) {
        assert_int_equal(r.rows[i].stage, want[i].stage);
        if (want[i].env)
            assert_string_equal(r.rows[i].env, want[i].env);
        else
            assert_null(r.rows[i].env);
        assert_int_equal(r.rows[i].counts[0], want[i].day1);
        assert_int_equal(r.rows[i].counts[1], want[i].day2);
        assert_int_equal(r.rows[i].total, want[i].day1 + want[i].day2);
    }
    assert_int_equal(r.totals[0], 7);
    assert_int_equal(r.totals[1], 7);
    assert_int_equal(r.total, 14);
    assert_string_equal(caught_stage_name(r.rows[6].stage), "production_monitoring");
    caught_result_release(&r);
    /* an empty period: every fixed stage, zeros */
    assert_int_equal(caught_compute(&p, "production", NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.nrows, 5);
    assert_int_equal(r.total, 0);
    caught_result_release(&r);
    buf_release(&err);
}

static struct flaky_record rec(const char *job, const char *commit, int64_t run, int attempt,
                               int64_t failed, int64_t passed_run)
{
    struct flaky_record f = {.job = job,
                             .commit = commit,
                             .run_id = run,
                             .run_number = run + 100,
                             .attempt = attempt,
                             .failed_ms = failed,
                             .passed_run_id = passed_run,
                             .passed_run_number = passed_run + 100,
                             .passed_ms = failed + 1000};
    return f;
}

static void test_flaky(void **state)
{
    (void)state;
    const struct flaky_record v[] = {
        /* test: commit a twice in run 1 (two failed attempts, then a pass), commit b in run 5
         * and passed in run 6 (a retried run) */
        rec("test", "a", 1, 1, MON + 1, 1),
        rec("test", "a", 1, 2, MON + 2, 1),
        rec("test", "b", 5, 1, MON + 50, 6),
        /* lint: three commits, once each: ranked first */
        rec("lint", "a", 1, 1, MON + 3, 1),
        rec("lint", "c", 7, 1, MON + 70, 7),
        rec("lint", "d", 8, 1, MON + 80, 9),
        /* e2e and unit: one commit, one failure each; unit's is more recent */
        rec("e2e", "x", 2, 1, MON + 10, 2),
        rec("unit", "y", 3, 1, MON + 20, 3),
    };
    struct flaky_job *j = NULL;
    size_t n = 0;
    flaky_rank(v, sizeof(v) / sizeof(v[0]), &j, &n);
    assert_int_equal(n, 4);
    assert_string_equal(j[0].job, "lint");
    assert_int_equal(j[0].commits, 3);
    assert_int_equal(j[0].failures, 3);
    assert_int_equal(j[0].in_run, 2);
    assert_int_equal(j[0].across_runs, 1);
    assert_int_equal(j[0].last->run_id, 8);
    assert_int_equal(j[0].last->passed_run_id, 9);
    assert_string_equal(j[1].job, "test");
    assert_int_equal(j[1].commits, 2);
    assert_int_equal(j[1].failures, 3);
    assert_int_equal(j[1].in_run, 2);
    assert_int_equal(j[1].across_runs, 1);
    assert_string_equal(j[1].last->commit, "b");
    assert_string_equal(j[2].job, "unit"); /* the same counts as e2e, more recent */
    assert_string_equal(j[3].job, "e2e");
    free(j);
    flaky_rank(NULL, 0, &j, &n);
    assert_null(j);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caught),
        cmocka_unit_test(test_flaky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
