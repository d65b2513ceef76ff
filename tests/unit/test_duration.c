#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/duration.h"

static void expect_ms(const char *s, int64_t want)
{
    int64_t ms = -1;
    struct buf err = BUF_INIT;
    assert_int_equal(duration_parse(s, &ms, &err), 0);
    assert_int_equal(ms, want);
    assert_int_equal(err.len, 0);
    buf_release(&err);
}

static void expect_error(const char *s, const char *fragment)
{
    int64_t ms = 42;
    struct buf err = BUF_INIT;
    assert_int_equal(duration_parse(s, &ms, &err), -1);
    assert_int_equal(ms, 42);
    assert_non_null(strstr(err.data, fragment));
    buf_release(&err);
}

static void test_units(void **state)
{
    (void)state;
    expect_ms("90s", 90000);
    expect_ms("10m", 600000);
    expect_ms("1h30m", 5400000);
    expect_ms("250ms", 250);
    expect_ms("2d", 172800000);
    expect_ms("1h1m1s1ms", 3661001);
    expect_ms("0s", 0);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "empty");
    expect_error("10", "no unit");
    expect_error("10x", "unknown unit");
    expect_error("1m1h", "largest to smallest");
    expect_error("1s1s", "largest to smallest");
    expect_error("-1s", "expected a number");
    expect_error("1.5h", "unknown unit");
    expect_error("366d", "too long");
    expect_error("99999999999999999999d", "too long");
}

static void test_format(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    duration_format(5400000, &b);
    assert_string_equal(b.data, "1h30m");
    buf_reset(&b);
    duration_format(0, &b);
    assert_string_equal(b.data, "0s");
    buf_reset(&b);
    duration_format(1250, &b);
    assert_string_equal(b.data, "1s250ms");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
