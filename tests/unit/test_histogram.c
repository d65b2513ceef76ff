#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/histogram.h"

static void test_buckets(void **state)
{
    (void)state;
    struct hist h = {0};
    hist_observe(&h, 0);
    hist_observe(&h, 10);      /* on a bound: that bucket (le is "less or equal") */
    hist_observe(&h, 11);      /* the next one */
    hist_observe(&h, -5);      /* a clock step back counts as 0 */
    hist_observe(&h, 7200000); /* two hours: +Inf only */
    assert_int_equal(h.count, 5);
    assert_int_equal(h.bucket[0], 3);
    assert_int_equal(h.bucket[1], 1);
    assert_int_equal(h.bucket[HIST_NBOUNDS], 1);
    assert_int_equal(h.sum_ms, 7200021);
    for (size_t i = 1; i < HIST_NBOUNDS; i++)
        assert_true(hist_bounds_ms[i] > hist_bounds_ms[i - 1]);
}

static void test_format(void **state)
{
    (void)state;
    struct hist h = {0};
    struct buf out = BUF_INIT;
    hist_observe(&h, 40);
    hist_observe(&h, 1500);
    hist_format(&h, "x_seconds", "state=\"passed\"", &out);
    const char *want = "x_seconds_bucket{state=\"passed\",le=\"0.01\"} 0\n"
                       "x_seconds_bucket{state=\"passed\",le=\"0.05\"} 1\n"
                       "x_seconds_bucket{state=\"passed\",le=\"0.1\"} 1\n"
                       "x_seconds_bucket{state=\"passed\",le=\"0.5\"} 1\n"
                       "x_seconds_bucket{state=\"passed\",le=\"1\"} 1\n"
                       "x_seconds_bucket{state=\"passed\",le=\"5\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"10\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"30\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"60\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"300\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"600\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"1800\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"3600\"} 2\n"
                       "x_seconds_bucket{state=\"passed\",le=\"+Inf\"} 2\n"
                       "x_seconds_sum{state=\"passed\"} 1.54\n"
                       "x_seconds_count{state=\"passed\"} 2\n";
    assert_string_equal(out.data, want);
    buf_reset(&out);
    struct hist empty = {0};
    hist_format(&empty, "y", "", &out);
    assert_non_null(strstr(out.data, "y_bucket{le=\"0.01\"} 0\n"));
    assert_non_null(strstr(out.data, "y_bucket{le=\"+Inf\"} 0\ny_sum 0\ny_count 0\n"));
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("histogram", tests, NULL, NULL);
}
