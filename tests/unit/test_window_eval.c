/*
 * Deployment windows at given instants: open or closed, the exact instant of
 * the next change, and the message. The instants are written as UTC dates;
 * 2026-11-23 is a Monday.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/tz.h"
#include "core/window_eval.h"

#define MIN  60000LL
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

/* Unix milliseconds of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return ((days * 24 + h) * 60 + mi) * MIN;
}

/* The days of the week of 2026-11-23 to 2026-11-30, Monday to Monday. */
#define MON(h, m)      utc(2026, 11, 23, h, m)
#define TUE(h, m)      utc(2026, 11, 24, h, m)
#define WED(h, m)      utc(2026, 11, 25, h, m)
#define THU(h, m)      utc(2026, 11, 26, h, m)
#define FRI(h, m)      utc(2026, 11, 27, h, m)
#define SAT(h, m)      utc(2026, 11, 28, h, m)
#define SUN(h, m)      utc(2026, 11, 29, h, m)
#define NEXT_MON(h, m) utc(2026, 11, 30, h, m)

struct win {
    struct pl_window w;
    struct window_range allow[8], deny[8];
};

static void win_init(struct win *x, const char *timezone)
{
    memset(x, 0, sizeof(*x));
    x->w.allow = x->allow;
    x->w.deny = x->deny;
    x->w.timezone = (char *)timezone;
}

static void add(struct window_range *r, size_t *n, const char *s)
{
    struct buf err = BUF_INIT;
    if (window_range_parse(s, &r[*n], &err))
        fail_msg("'%s': %s", s, err.data);
    (*n)++;
    buf_release(&err);
}

static void allow(struct win *x, const char *s)
{
    add(x->allow, &x->w.nallow, s);
}

static void deny(struct win *x, const char *s)
{
    add(x->deny, &x->w.ndeny, s);
}

static void fmt(int64_t ms, char *out, size_t n)
{
    if (ms == INT64_MAX) {
        snprintf(out, n, "never");
        return;
    }
    int64_t days = ms / DAY, rem = ms % DAY;
    snprintf(out, n, "day %lld %02lld:%02lld:%02lld.%03lld", (long long)days,
             (long long)(rem / HOUR), (long long)(rem / MIN % 60), (long long)(rem / 1000 % 60),
             (long long)(rem % 1000));
}

#define expect(x, now, open, next) expect_at(x, now, open, next, __LINE__)

static void expect_at(const struct win *x, int64_t now, int open, int64_t next, int line)
{
    struct buf err = BUF_INIT;
    int64_t got_next = -7;
    int got = window_open(&x->w, now, &got_next, &err);
    if (got != open || got_next != next) {
        char a[64], b[64], c[64];
        fmt(now, a, sizeof(a));
        fmt(next, b, sizeof(b));
        fmt(got_next, c, sizeof(c));
        fail_msg("line %d: at %s: expected %d until %s, got %d until %s %s", line, a, open, b, got,
                 c, err.data);
    }
    assert_int_equal(err.len, 0);
    /* Without next_change_ms, the same answer. */
    assert_int_equal(window_open(&x->w, now, NULL, &err), open);
    buf_release(&err);
}

static void expect_describe(const struct win *x, int64_t now, const char *msg)
{
    struct buf out = BUF_INIT;
    buf_adds(&out, "> ");
    window_describe(&x->w, now, &out);
    if (strcmp(out.data + 2, msg))
        fail_msg("got \"%s\", expected \"%s\"", out.data + 2, msg);
    buf_release(&out);
}

static void test_office_hours(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, NULL); /* UTC */
    allow(&x, "Mon-Fri 09:00-17:00");
    expect(&x, MON(0, 0), 0, MON(9, 0));
    expect(&x, MON(8, 59) + 59999, 0, MON(9, 0));
    expect(&x, MON(9, 0), 1, MON(17, 0));
    expect(&x, MON(12, 34) + 5678, 1, MON(17, 0));
    expect(&x, MON(16, 59) + 59999, 1, MON(17, 0));
    expect(&x, MON(17, 0), 0, TUE(9, 0));
    expect(&x, WED(23, 59), 0, THU(9, 0));
    expect(&x, FRI(16, 0), 1, FRI(17, 0));
    expect(&x, FRI(17, 0), 0, NEXT_MON(9, 0));
    expect(&x, SAT(12, 0), 0, NEXT_MON(9, 0));
    expect(&x, SUN(23, 59), 0, NEXT_MON(9, 0));
    expect_describe(&x, MON(8, 0), "closed until 09:00 UTC");
    expect_describe(&x, MON(10, 0), "open until 17:00 UTC");
    expect_describe(&x, SAT(12, 0), "closed until Mon 09:00 UTC");
    expect_describe(&x, FRI(18, 0), "closed until Mon 09:00 UTC");

    /* The window's time zone; a range's own zone wins over it. */
    win_init(&x, "Europe/Paris");
    allow(&x, "Mon-Fri 09:00-17:00");
    expect(&x, MON(8, 0), 1, MON(16, 0)); /* November: Paris is UTC+1 */
    expect_describe(&x, MON(8, 0), "open until 17:00 Europe/Paris");
    expect_describe(&x, FRI(16, 0), "closed until Mon 09:00 Europe/Paris");
    win_init(&x, "Europe/Paris");
    allow(&x, "Mon-Fri 09:00-17:00 UTC");
    expect(&x, MON(8, 0), 0, MON(9, 0));
    win_init(&x, "+05:30");
    allow(&x, "daily 09:00-17:00");
    expect(&x, MON(3, 29), 0, MON(3, 30));
    expect(&x, MON(3, 30), 1, MON(11, 30));
    expect_describe(&x, MON(4, 0), "open until 17:00 +05:30");
    win_init(&x, NULL);
    allow(&x, "weekdays 09:00-17:00 Z");
    expect_describe(&x, MON(4, 0), "closed until 09:00 UTC");
}

static void test_deny_inside_allow(void **state)
{
    (void)state;
    /* The example of docs/pipeline.md, in November (UTC+1). */
    struct win x;
    win_init(&x, "Europe/Paris");
    allow(&x, "weekdays 08:00-18:00");
    deny(&x, "Fri 15:00-24:00");
    deny(&x, "Mon 08:00-10:00");
    expect(&x, MON(6, 59), 0, MON(9, 0)); /* 07:59 Paris: opens at 10:00, not 08:00 */
    expect(&x, MON(7, 30), 0, MON(9, 0));
    expect(&x, MON(9, 0), 1, MON(17, 0));
    expect(&x, TUE(7, 0), 1, TUE(17, 0));
    expect(&x, FRI(13, 59), 1, FRI(14, 0));
    expect(&x, FRI(14, 0), 0, NEXT_MON(9, 0));
    expect_describe(&x, FRI(16, 0), "closed until Mon 10:00 Europe/Paris");
    expect_describe(&x, MON(7, 30), "closed until 10:00 Europe/Paris");

    /* A deny range covering an allow range entirely: closed for ever. */
    win_init(&x, NULL);
    allow(&x, "Sat,Sun");
    deny(&x, "weekends");
    expect(&x, SAT(12, 0), 0, INT64_MAX);
    expect(&x, MON(12, 0), 0, INT64_MAX);
    expect_describe(&x, MON(12, 0), "closed at all times");
}

static void test_deny_only(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, NULL);
    deny(&x, "Sat,Sun");
    expect(&x, WED(12, 0), 1, SAT(0, 0));
    expect(&x, FRI(23, 59) + 59999, 1, SAT(0, 0));
    expect(&x, SAT(0, 0), 0, NEXT_MON(0, 0));
    expect(&x, SUN(12, 0), 0, NEXT_MON(0, 0));
    expect_describe(&x, SUN(12, 0), "closed until Mon 00:00 UTC");
    expect_describe(&x, WED(12, 0), "open until Sat 00:00 UTC");

    deny(&x, "Fri 22:00-06:00"); /* Friday night and the weekend, in one piece */
    expect(&x, FRI(21, 0), 1, FRI(22, 0));
    expect(&x, FRI(22, 0), 0, NEXT_MON(0, 0));
}

static void test_midnight(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, NULL);
    allow(&x, "Fri 22:00-06:00");
    expect(&x, FRI(3, 0), 0, FRI(22, 0)); /* Thursday night is not Friday's */
    expect(&x, FRI(21, 59), 0, FRI(22, 0));
    expect(&x, FRI(22, 0), 1, SAT(6, 0));
    expect(&x, FRI(23, 59), 1, SAT(6, 0));
    expect(&x, SAT(0, 0), 1, SAT(6, 0));
    expect(&x, SAT(3, 0), 1, SAT(6, 0));
    expect(&x, SAT(6, 0), 0, utc(2026, 12, 4, 22, 0));
    expect(&x, SUN(3, 0), 0, utc(2026, 12, 4, 22, 0));
    expect_describe(&x, SAT(3, 0), "open until 06:00 UTC");
    expect_describe(&x, FRI(23, 0), "open until Sat 06:00 UTC");

    /* Sunday night runs into Monday, across the end of the week. */
    win_init(&x, NULL);
    allow(&x, "Sun 23:00-01:00");
    expect(&x, NEXT_MON(0, 30), 1, NEXT_MON(1, 0));
    expect(&x, MON(0, 30), 1, MON(1, 0));
    expect(&x, MON(1, 0), 0, SUN(23, 0));
}

static void test_end_of_day(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, NULL);
    allow(&x, "Fri 15:00-24:00");
    expect(&x, FRI(23, 59) + 59999, 1, SAT(0, 0));
    expect(&x, SAT(0, 0), 0, utc(2026, 12, 4, 15, 0));
    win_init(&x, NULL);
    allow(&x, "Fri 22:00-00:00");
    expect(&x, FRI(23, 0), 1, SAT(0, 0));
    /* Ranges that touch make one: no change at Saturday midnight. */
    allow(&x, "Sat");
    expect(&x, FRI(23, 0), 1, SUN(0, 0));
    allow(&x, "Sun 00:00-09:00");
    expect(&x, FRI(23, 0), 1, SUN(9, 0));
    expect_describe(&x, FRI(23, 0), "open until Sun 09:00 UTC");
}

static void test_dst(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, "Europe/Paris");
    allow(&x, "daily 09:00-17:00");
    /* Spring: 2026-03-29 01:00 UTC, from +1 to +2. 09:00 local is 08:00 UTC
     * before and 07:00 UTC after. */
    expect(&x, utc(2026, 3, 28, 7, 59), 0, utc(2026, 3, 28, 8, 0));
    expect(&x, utc(2026, 3, 28, 8, 0), 1, utc(2026, 3, 28, 16, 0));
    expect(&x, utc(2026, 3, 28, 16, 0), 0, utc(2026, 3, 29, 7, 0));
    expect(&x, utc(2026, 3, 29, 7, 0), 1, utc(2026, 3, 29, 15, 0));
    expect(&x, utc(2026, 3, 30, 6, 59), 0, utc(2026, 3, 30, 7, 0));
    expect_describe(&x, utc(2026, 3, 28, 16, 0), "closed until Sun 09:00 Europe/Paris");
    /* Autumn: 2026-10-25 01:00 UTC, from +2 back to +1. */
    expect(&x, utc(2026, 10, 24, 7, 0), 1, utc(2026, 10, 24, 15, 0));
    expect(&x, utc(2026, 10, 24, 15, 0), 0, utc(2026, 10, 25, 8, 0));
    expect(&x, utc(2026, 10, 25, 7, 30), 0, utc(2026, 10, 25, 8, 0));
    expect(&x, utc(2026, 10, 25, 8, 0), 1, utc(2026, 10, 25, 16, 0));

    /* A range starting in the hour skipped in spring opens when the clocks
     * go forward (01:59:59 CET, then 03:00 CEST). */
    win_init(&x, "Europe/Paris");
    allow(&x, "Sun 02:30-04:00");
    expect(&x, utc(2026, 3, 29, 0, 59) + 59999, 0, utc(2026, 3, 29, 1, 0));
    expect(&x, utc(2026, 3, 29, 1, 0), 1, utc(2026, 3, 29, 2, 0));
    expect_describe(&x, utc(2026, 3, 29, 0, 30), "closed until 03:00 Europe/Paris");
    /* In autumn the wall clock reads 02:30-03:00 twice, then 02:00-02:30
     * (outside) again: the range follows the clock. */
    expect(&x, utc(2026, 10, 25, 0, 29), 0, utc(2026, 10, 25, 0, 30));
    expect(&x, utc(2026, 10, 25, 0, 30), 1, utc(2026, 10, 25, 1, 0));
    expect(&x, utc(2026, 10, 25, 1, 0), 0, utc(2026, 10, 25, 1, 30));
    expect(&x, utc(2026, 10, 25, 1, 30), 1, utc(2026, 10, 25, 3, 0));

    /* Southern hemisphere: Sydney leaves summer time on 2026-04-05 (03:00
     * AEDT = 02:00 AEST, 2026-04-04 16:00 UTC). */
    win_init(&x, "Australia/Sydney");
    allow(&x, "daily 09:00-17:00");
    expect(&x, utc(2026, 4, 3, 22, 0), 1, utc(2026, 4, 4, 6, 0));
    expect(&x, utc(2026, 4, 4, 6, 0), 0, utc(2026, 4, 4, 23, 0));
}

static void test_empty_and_constant(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, NULL);
    expect(&x, MON(12, 0), 1, INT64_MAX);
    expect(&x, 0, 1, INT64_MAX);
    expect_describe(&x, MON(12, 0), "open at any time");
    win_init(&x, "Mars/Olympus"); /* no range reads it */
    expect(&x, MON(12, 0), 1, INT64_MAX);
    win_init(&x, NULL);
    allow(&x, "daily");
    expect(&x, MON(12, 0), 1, INT64_MAX);
    expect_describe(&x, MON(12, 0), "open at any time");
    /* Far from now, the arithmetic holds. */
    expect(&x, INT64_MAX, 1, INT64_MAX);
    expect(&x, INT64_MIN, 1, INT64_MAX);
}

static void test_unknown_zone(void **state)
{
    (void)state;
    struct win x;
    win_init(&x, "Europe/Paris");
    allow(&x, "Mon-Fri 09:00-17:00");
    allow(&x, "Sat 10:00-12:00 Mars/Olympus");
    struct buf err = BUF_INIT, out = BUF_INIT;
    int64_t next = 42;
    assert_int_equal(window_open(&x.w, MON(12, 0), &next, &err), -1);
    assert_int_equal(next, 42);
    assert_non_null(strstr(err.data, "unknown time zone 'Mars/Olympus'"));
    window_describe(&x.w, MON(12, 0), &out);
    assert_int_equal(strncmp(out.data, "cannot be evaluated: unknown time zone 'Mars/Olympus'",
                             strlen("cannot be evaluated: unknown time zone 'Mars/Olympus'")),
                     0);
    buf_release(&err);
    buf_release(&out);
    /* The window's zone when a range has none. */
    win_init(&x, "Mars/Olympus");
    allow(&x, "Mon");
    assert_int_equal(window_open(&x.w, MON(12, 0), NULL, &err), -1);
    assert_non_null(strstr(err.data, "Mars/Olympus"));
    buf_release(&err);
}

/*
 * next_change_ms against a walk: minute by minute over 8 days, the state
 * stays the same until the reported instant and differs there.
 */
static void walk(const struct win *x, int64_t from)
{
    struct buf err = BUF_INIT;
    int64_t next;
    int open = window_open(&x->w, from, &next, &err);
    assert_true(open >= 0);
    int64_t t = from;
    while (t + MIN <= from + 8 * DAY) {
        int64_t step = (t / MIN + 1) * MIN; /* the next whole minute */
        if (window_open(&x->w, step, NULL, &err) != open) {
            char a[64], b[64];
            fmt(step, a, sizeof(a));
            fmt(next, b, sizeof(b));
            if (step != next)
                fail_msg("changes at %s, reported %s", a, b);
            buf_release(&err);
            return;
        }
        t = step;
    }
    if (next != INT64_MAX && next <= from + 8 * DAY)
        fail_msg("no change seen before the reported one");
    buf_release(&err);
}

static void test_walk(void **state)
{
    (void)state;
    struct win x[6];
    win_init(&x[0], "Europe/Paris");
    allow(&x[0], "weekdays 08:00-18:00");
    deny(&x[0], "Fri 15:00-24:00");
    deny(&x[0], "Mon 08:00-10:00");
    win_init(&x[1], "Europe/Paris");
    allow(&x[1], "daily 02:30-03:15");
    win_init(&x[2], "Australia/Sydney");
    allow(&x[2], "Sat,Sun 22:00-06:00");
    deny(&x[2], "Sun 02:00-03:00 America/New_York");
    win_init(&x[3], NULL);
    deny(&x[3], "Fri 22:00-06:00 -03:00");
    allow(&x[3], "daily 01:00-23:00 Asia/Kolkata");
    win_init(&x[4], "America/New_York");
    allow(&x[4], "Sun 01:30-02:30");
    win_init(&x[5], "Asia/Tokyo");
    allow(&x[5], "Mon");
    const int64_t starts[] = {
        utc(2026, 3, 22, 0, 0),   utc(2026, 3, 27, 13, 7), utc(2026, 4, 1, 5, 0),
        utc(2026, 10, 20, 0, 0),  utc(2026, 10, 30, 9, 9), utc(2026, 3, 5, 0, 0),
        utc(2026, 11, 1, 5, 0),   utc(2026, 9, 30, 0, 0),  utc(2100, 3, 25, 0, 0),
        utc(2026, 11, 23, 12, 0),
    };
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        for (size_t j = 0; j < sizeof(starts) / sizeof(starts[0]); j++)
            for (int64_t k = 0; k < 3; k++)
                walk(&x[i], starts[j] + k * 2 * DAY + 1234);
}

static int teardown(void **state)
{
    (void)state;
    tz_cache_clear();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_office_hours),
        cmocka_unit_test(test_deny_inside_allow),
        cmocka_unit_test(test_deny_only),
        cmocka_unit_test(test_midnight),
        cmocka_unit_test(test_end_of_day),
        cmocka_unit_test(test_dst),
        cmocka_unit_test(test_empty_and_constant),
        cmocka_unit_test(test_unknown_zone),
        cmocka_unit_test(test_walk),
    };
    return cmocka_run_group_tests_name("window_eval", tests, NULL, teardown);
}
