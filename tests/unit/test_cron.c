#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/cron.h"

/* Bits lo..hi set. */
static uint64_t bits(int lo, int hi)
{
    uint64_t m = 0;
    for (int v = lo; v <= hi; v++)
        m |= 1ULL << v;
    return m;
}

/* Field by field: struct cron has padding, so memcmp would compare garbage. */
static bool same_cron(const struct cron *a, const struct cron *b)
{
    return a->minutes == b->minutes && a->hours == b->hours && a->mdays == b->mdays &&
           a->months == b->months && a->wdays == b->wdays && a->flags == b->flags;
}

static void parse_ok(const char *expr, struct cron *c)
{
    struct buf err = BUF_INIT;
    int rc = cron_parse(expr, c, &err);
    if (rc != 0)
        fail_msg("cron_parse(\"%s\"): %s", expr, err.data);
    assert_int_equal(err.len, 0);
    buf_release(&err);
}

/* expr parses, and its canonical form is want. */
static void expect_format(const char *expr, const char *want)
{
    struct cron c;
    struct buf out = BUF_INIT;
    parse_ok(expr, &c);
    cron_format(&c, &out);
    if (strcmp(out.data, want))
        fail_msg("cron_format(\"%s\") = \"%s\", want \"%s\"", expr, out.data, want);
    buf_release(&out);
}

static void expect_error(const char *expr, const char *fragment)
{
    struct cron c, before;
    struct buf err = BUF_INIT;
    memset(&c, 0xa5, sizeof(c));
    before = c;
    if (cron_parse(expr, &c, &err) != -1)
        fail_msg("cron_parse(\"%s\") succeeded, want an error with \"%s\"", expr, fragment);
    if (!strstr(err.data, fragment))
        fail_msg("cron_parse(\"%s\"): \"%s\" does not contain \"%s\"", expr, err.data, fragment);
    assert_memory_equal(&c, &before, sizeof(c));
    buf_release(&err);
}

static void test_fields(void **state)
{
    (void)state;
    struct cron c;

    parse_ok("* * * * *", &c);
    assert_true(c.minutes == bits(0, 59));
    assert_true(c.hours == bits(0, 23));
    assert_true(c.mdays == bits(1, 31));
    assert_true(c.months == bits(1, 12));
    assert_true(c.wdays == bits(0, 6));
    assert_int_equal(c.flags, CRON_DOM_STAR | CRON_DOW_STAR);

    parse_ok("5 4 3 2 1", &c);
    assert_true(c.minutes == 1ULL << 5);
    assert_true(c.hours == 1U << 4);
    assert_true(c.mdays == 1U << 3);
    assert_true(c.months == 1U << 2);
    assert_true(c.wdays == 1U << 1);
    assert_int_equal(c.flags, 0);

    parse_ok("0-4 8-10/2 */10 3/4 1-5", &c);
    assert_true(c.minutes == bits(0, 4));
    assert_true(c.hours == ((1U << 8) | (1U << 10)));
    assert_true(c.mdays == ((1U << 1) | (1U << 11) | (1U << 21) | (1U << 31)));
    assert_true(c.months == ((1U << 3) | (1U << 7) | (1U << 11)));
    assert_true(c.wdays == bits(1, 5));
    assert_int_equal(c.flags, CRON_DOM_STAR);

    /* Bounds of every field. */
    parse_ok("0,59 0,23 1,31 1,12 0,7", &c);
    assert_true(c.minutes == ((1ULL << 0) | (1ULL << 59)));
    assert_true(c.hours == ((1U << 0) | (1U << 23)));
    assert_true(c.mdays == ((1U << 1) | (1U << 31)));
    assert_true(c.months == ((1U << 1) | (1U << 12)));
    assert_true(c.wdays == 1U); /* 0 and 7 are both Sunday */
}

static void test_syntax_forms(void **state)
{
    (void)state;
    /* `*` */
    expect_format("* * * * *", "* * * * *");
    /* N */
    expect_format("5 4 * * *", "5 4 * * *");
    expect_format("05 04 * * *", "5 4 * * *");
    /* A-B */
    expect_format("0 22 * * 1-5", "0 22 * * 1-5");
    expect_format("10-12 * * * *", "10-12 * * * *");
    expect_format("10-11 * * * *", "10,11 * * * *");
    expect_format("7-7 * * * *", "7 * * * *");
    /* `*` /S */
    expect_format("*/15 * * * *", "*/15 * * * *");
    expect_format("*/1 * * * *", "* * * * *");
    expect_format("0 */5 * * *", "0 */5 * * *");
    expect_format("0 0 * */3 *", "0 0 * */3 *");
    expect_format("*/59 * * * *", "*/59 * * * *");
    /* A-B/S */
    expect_format("23 0-20/2 * * *", "23 0,2,4,6,8,10,12,14,16,18,20 * * *");
    expect_format("0-59/20 * * * *", "*/20 * * * *");
    expect_format("1-9/4 * * * *", "1,5,9 * * * *");
    /* N/S: from N to the end of the field */
    expect_format("5/15 * * * *", "5,20,35,50 * * * *");
    expect_format("0 0 * JAN/2 *", "0 0 * */2 *");
    expect_format("0 0 * MAR/2 *", "0 0 * 3,5,7,9,11 *");
    expect_format("0 0 * * 5/1", "0 0 * * 0,5,6");
    expect_format("0/30 * * * *", "*/30 * * * *");
    /* lists of all of these */
    expect_format("1,2,3,10-20/5,*/30 * * * *", "0-3,10,15,20,30 * * * *");
    expect_format("0 12 * * 1,3,5", "0 12 * * 1,3,5");
    expect_format("0,15,30,45 * * * *", "*/15 * * * *");
    expect_format("0-59 0-23 * 1-12 *", "* * * * *");
    /* blanks */
    expect_format(" \t0\t0  *   * *\t ", "0 0 * * *");
    /* a step larger than the range leaves its start */
    expect_format("0 0 1 */12 *", "0 0 1 1 *");
    expect_format("0 0 20-25/10 * *", "0 0 20 * *");
}

static void test_names(void **state)
{
    (void)state;
    expect_format("0 0 1 JAN,FEB,MAR,APR,MAY,JUN *", "0 0 1 1-6 *");
    expect_format("0 0 1 JUL,AUG,SEP,OCT,NOV,DEC *", "0 0 1 7-12 *");
    expect_format("0 0 * * SUN,MON,TUE,WED,THU,FRI,SAT", "0 0 * * 0-6");
    expect_format("0 0 * jan-Mar,dEc sun,sat", "0 0 * 1-3,12 0,6");
    expect_format("0 9 * * MON-FRI", "0 9 * * 1-5");
    expect_format("0 9 * FEB-NOV/3 *", "0 9 * 2,5,8,11 *");
    expect_format("0 0 * * 7", "0 0 * * 0");
    expect_format("0 0 * * 5-7", "0 0 * * 0,5,6");
    expect_format("0 0 * * 0-7", "0 0 * * 0-6");
    expect_format("0 0 * * SAT-7", "0 0 * * 0,6");
}

static void test_macros(void **state)
{
    (void)state;
    expect_format("@hourly", "0 * * * *");
    expect_format("@daily", "0 0 * * *");
    expect_format("@midnight", "0 0 * * *");
    expect_format("@weekly", "0 0 * * 0");
    expect_format("@monthly", "0 0 1 * *");
    expect_format("@yearly", "0 0 1 1 *");
    expect_format("@annually", "0 0 1 1 *");
    expect_format("  @DAILY\t", "0 0 * * *");

    struct cron a, b;
    parse_ok("@weekly", &a);
    parse_ok("0 0 * * 0", &b);
    assert_true(same_cron(&a, &b));
}

/* Which day fields count as unrestricted for the day rule. */
static void test_day_flags(void **state)
{
    (void)state;
    struct cron c;

    parse_ok("0 0 * * *", &c);
    assert_int_equal(c.flags, CRON_DOM_STAR | CRON_DOW_STAR);
    parse_ok("0 0 */2 * */3", &c);
    assert_int_equal(c.flags, CRON_DOM_STAR | CRON_DOW_STAR);
    parse_ok("0 0 1 * *", &c);
    assert_int_equal(c.flags, CRON_DOW_STAR);
    parse_ok("0 0 * * 1", &c);
    assert_int_equal(c.flags, CRON_DOM_STAR);
    /* Covering every value is not the same as `*`. */
    parse_ok("0 0 1-31 * 0-7", &c);
    assert_int_equal(c.flags, 0);
    assert_true(c.mdays == bits(1, 31));
    assert_true(c.wdays == bits(0, 6));
    /* Neither is a list that starts with `*`. */
    parse_ok("0 0 *,5 * *,1", &c);
    assert_int_equal(c.flags, 0);
    /* Flags survive cron_format. */
    expect_format("0 0 1-31 * 0-7", "0 0 1-31 * 0-6");
    expect_format("0 0 *,5 * 1", "0 0 1-31 * 1");
    expect_format("0 0 */2 * 1", "0 0 */2 * 1");
    expect_format("0 0 1-31/2 * 1", "0 0 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 * 1");
    expect_format("0 0 */31 * */7", "0 0 */31 * */7");
    expect_format("0 0 * * */2", "0 0 * * */2");
    expect_format("0 0 * * */4", "0 0 * * */4");
}

static void test_errors(void **state)
{
    (void)state;
    /* shape */
    expect_error("", "an empty cron expression");
    expect_error(" \t ", "an empty cron expression");
    expect_error("* * * *", "'* * * *' has 4 fields; a cron expression has 5");
    expect_error("*", "has 1 field;");
    expect_error("* * * * * *", "has 6 fields");
    expect_error("0 0 * * * UTC", "seconds, years and time zones are not supported");
    /* out of range, every field, both ends */
    expect_error("60 * * * *", "minute: '60' is out of range 0-59");
    expect_error("* 24 * * *", "hour: '24' is out of range 0-23");
    expect_error("* * 0 * *", "day-of-month: '0' is out of range 1-31");
    expect_error("* * 32 * *", "day-of-month: '32' is out of range 1-31");
    expect_error("* * * 0 *", "month: '0' is out of range 1-12");
    expect_error("* * * 13 *", "month: '13' is out of range 1-12");
    expect_error("* * * * 8", "day-of-week: '8' is out of range 0-7");
    expect_error("99999999999999999999 * * * *",
                 "minute: '99999999999999999999' is out of range 0-59");
    expect_error("* 20-24 * * *", "hour: '24' is out of range 0-23");
    expect_error("* 1,2,30 * * *", "hour: '30' is out of range 0-23");
    /* ranges */
    expect_error("* 22-2 * * *", "hour: range '22-2' goes backwards");
    expect_error("* 22-2 * * *", "write it as '22-23,0-2'");
    expect_error("* * * * FRI-MON", "day-of-week: range 'FRI-MON' goes backwards");
    expect_error("* * * * FRI-MON", "'5-7,0-1'");
    expect_error("* * * * MON-", "day-of-week: a value is missing at the end of 'MON-'");
    expect_error("1-2-3 * * * *", "minute: unexpected '-3' in '1-2-3'");
    /* steps */
    expect_error("*/0 * * * *", "minute: step '0' is out of range 1-59");
    expect_error("*/60 * * * *", "minute: step '60' is out of range 1-59");
    expect_error("* */24 * * *", "hour: step '24' is out of range 1-23");
    expect_error("* * */32 * *", "day-of-month: step '32' is out of range 1-31");
    expect_error("* * * */13 *", "month: step '13' is out of range 1-12");
    expect_error("* * * * */8", "day-of-week: step '8' is out of range 1-7");
    expect_error("*/ * * * *", "minute: a step is missing after '/' in '*/'");
    expect_error("*/x * * * *", "minute: step 'x' is not a number");
    expect_error("* * * */JAN *", "month: step 'JAN' is not a number");
    expect_error("1/2/3 * * * *", "minute: unexpected '/3' in '1/2/3'");
    /* lists */
    expect_error("1,,2 * * * *", "minute: an empty item in '1,,2'");
    expect_error(",1 * * * *", "minute: an empty item in ',1'");
    expect_error("* 1, * * *", "hour: an empty item in '1,'");
    /* values */
    expect_error("x * * * *", "minute: 'x' is not a number");
    expect_error("5x * * * *", "minute: '5x' is not a number");
    expect_error("* MON * * *", "hour: 'MON' is not a number");
    expect_error("* * * FOO *", "month: 'FOO' is not a month (1-12 or JAN-DEC)");
    expect_error("* * * JANUARY *", "month: 'JANUARY' is not a month");
    expect_error("* * * * MONDAY", "day-of-week: 'MONDAY' is not a day of the week");
    expect_error("* * * MON *", "month: 'MON' is not a month");
    expect_error("* * * * JAN", "day-of-week: 'JAN' is not a day of the week");
    expect_error("-5 * * * *", "minute: unexpected '-' in '-5'");
    expect_error("*-5 * * * *", "minute: unexpected '-5' in '*-5'");
    expect_error("** * * * *", "minute: unexpected '*' in '**'");
    /* Quartz extensions */
    expect_error("* * ? * *", "day-of-month: '?' is not supported");
    expect_error("* * L * *", "day-of-month: 'L' is not a number");
    expect_error("* * 15W * *", "day-of-month: '15W' is not a number");
    expect_error("* * * * 1#2", "day-of-week: '#' in '1#2' is not supported");
    /* macros */
    expect_error("@reboot", "'@reboot' is not supported");
    expect_error("@often", "unknown macro '@often'");
    expect_error("@", "unknown macro '@'");
    expect_error("@daily 0", "'@daily' stands alone");
}

/* Errors are appended; success leaves err alone. */
static void test_error_buffer(void **state)
{
    (void)state;
    struct cron c;
    struct buf err = BUF_INIT;
    buf_adds(&err, "schedule: ");
    assert_int_equal(cron_parse("* 24 * * *", &c, &err), -1);
    assert_string_equal(err.data, "schedule: hour: '24' is out of range 0-23");
    assert_int_equal(cron_parse("* 23 * * *", &c, &err), 0);
    assert_string_equal(err.data, "schedule: hour: '24' is out of range 0-23");
    buf_release(&err);
}

static int64_t next_of(const char *expr, int64_t after, int tz)
{
    struct cron c;
    parse_ok(expr, &c);
    return cron_next(&c, after, tz);
}

static void expect_next(const char *expr, int64_t after, int tz, int64_t want)
{
    int64_t got = next_of(expr, after, tz);
    if (got != want)
        fail_msg("cron_next(\"%s\", %lld, %d) = %lld, want %lld", expr, (long long)after, tz,
                 (long long)got, (long long)want);
}

/*
 * Known answers, computed with Python's datetime (a minute-by-minute search)
 * and checked by hand.
 */
static const struct {
    const char *expr;
    int64_t after;
    int tz;
    int64_t want;
} next_cases[] = {
    /* 2024-01-15T10:30:00Z (a Monday) -> 10:31 */
    {"* * * * *", 1705314600LL, 0, 1705314660LL},
    /* 10:30:59 -> 10:31: strictly after, to the next whole minute */
    {"* * * * *", 1705314659LL, 0, 1705314660LL},
    /* 10:30 -> 11:00 */
    {"0 * * * *", 1705314600LL, 0, 1705316400LL},
    /* Friday 2024-01-19T09:30 -> Monday 2024-01-22T09:30 */
    {"30 9 * * 1-5", 1705656600LL, 0, 1705915800LL},
    /* 2024-01-31T23:59 -> 2024-02-01T00:00 */
    {"0 0 1 * *", 1706745540LL, 0, 1706745600LL},
    /* 2024-03-01 -> 2028-02-29 */
    {"0 0 29 2 *", 1709251200LL, 0, 1835395200LL},
    /* 2024-04-01 -> 2024-05-31: April has no 31st */
    {"0 0 31 * *", 1711929600LL, 0, 1717113600LL},
    /* +02:00: 10:30Z is 12:30 local -> 2024-01-16T12:00 local = 10:00Z */
    {"0 12 * * *", 1705314600LL, 7200, 1705399200LL},
    /* -05:00: 2024-01-15T04:59Z is 23:59 local on the 14th -> 05:00Z */
    {"0 0 * * *", 1705294740LL, -18000, 1705294800LL},
    /* +02:00: 2023-12-31T23:00Z is already 2024 locally -> 2024-12-31T22:00Z */
    {"0 0 1 1 *", 1704063600LL, 7200, 1735682400LL},
    /* the day rule: the 13th OR a Friday; from 2024-01-01 -> Friday the 5th */
    {"0 0 13 * 5", 1704067200LL, 0, 1704412800LL},
    /* from Friday 2024-01-12T00:00 -> Saturday the 13th */
    {"0 0 13 * 5", 1705017600LL, 0, 1705104000LL},
    /* `*` /2 is unrestricted: an odd day AND a Monday; 2024-01-01 -> the 15th */
    {"0 0 */2 * 1", 1704067200LL, 0, 1705276800LL},
    /* 7 is Sunday: 2024-01-15 -> 2024-01-21 */
    {"0 0 * * 7", 1705276800LL, 0, 1705795200LL},
    /* Feb 29 OR a Monday in February: 2024-03-01 -> 2025-02-03 */
    {"0 0 29 2 1", 1709251200LL, 0, 1738540800LL},
    /* 2000 was a leap year: 1999-06-01 -> 2000-02-29 */
    {"0 0 29 2 *", 928195200LL, 0, 951782400LL},
    /* 1900 was not: 1900-01-01 -> 1904-02-29 */
    {"0 0 29 2 *", -2208988800LL, 0, -2077747200LL},
    /* 2024-06-01 -> 2024-12-31T23:59 */
    {"59 23 31 12 *", 1717200000LL, 0, 1735689540LL},
    /* 10:30 -> 10:45; 10:44:59 -> 10:45 */
    {"*/15 * * * *", 1705314600LL, 0, 1705315500LL},
    {"*/15 * * * *", 1705315499LL, 0, 1705315500LL},
    /* before the epoch: 1969-12-31T12:00 -> 1970-01-01T00:00 */
    {"0 0 1 1 *", -43200LL, 0, 0LL},
    /* -05:00 across a month: 2024-02-01T03:00Z is Jan 31 locally -> 05:00Z */
    {"0 0 1 * *", 1706756400LL, -18000, 1706763600LL},
    /* +05:45: local midnight of 2024-01-16 is 2024-01-15T18:15Z */
    {"0 0 * * *", 1705276800LL, 20700, 1705342500LL},
    /* Wednesday 2024-07-31T17:00 -> Wednesday 2025-01-01T09:00 */
    {"0 9-17/4 * JAN,jul mon-FRI", 1722445200LL, 0, 1735722000LL},
    /* 2023 has no Feb 29-31: 2023-02-28T22:45 -> 2024-02-28T22:05 */
    {"5/20 22 28-31 2 *", 1677624300LL, 0, 1709157900LL},
    /* -01:00 over a leap day: 2024-02-29T23:59:59Z -> 2024-03-01T01:00Z */
    {"0 0 1 3 *", 1709251199LL, -3600, 1709254800LL},
    /* across a year: Sunday 2024-12-29T12:00 -> Monday 2024-12-30T06:00 */
    {"0 6 * * 1", 1735473600LL, 0, 1735538400LL},
};

static void test_next_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++)
        expect_next(next_cases[i].expr, next_cases[i].after, next_cases[i].tz, next_cases[i].want);
}

/* Unix seconds of a UTC civil time, computed here with timegm as a second opinion. */
static int64_t utc(int y, int mon, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static void test_next_boundaries(void **state)
{
    (void)state;
    /* the last minute of a month, a year, a leap day */
    expect_next("* * * * *", utc(2024, 1, 31, 23, 59), 0, utc(2024, 2, 1, 0, 0));
    expect_next("* * * * *", utc(2024, 12, 31, 23, 59), 0, utc(2025, 1, 1, 0, 0));
    expect_next("* * * * *", utc(2024, 2, 28, 23, 59), 0, utc(2024, 2, 29, 0, 0));
    expect_next("* * * * *", utc(2023, 2, 28, 23, 59), 0, utc(2023, 3, 1, 0, 0));
    /* the last day of each month */
    expect_next("0 12 28-31 * *", utc(2024, 2, 29, 12, 0), 0, utc(2024, 3, 28, 12, 0));
    expect_next("0 12 30 * *", utc(2023, 1, 30, 12, 0), 0, utc(2023, 3, 30, 12, 0));
    expect_next("0 12 30 * *", utc(2024, 1, 30, 12, 0), 0, utc(2024, 3, 30, 12, 0));
    expect_next("0 0 31 * *", utc(2024, 1, 31, 0, 0), 0, utc(2024, 3, 31, 0, 0));
    expect_next("0 0 31 * *", utc(2024, 8, 31, 0, 0), 0, utc(2024, 10, 31, 0, 0));
    /* leap years: every 4, not every 100, every 400 */
    expect_next("0 0 29 2 *", utc(2024, 2, 29, 0, 0), 0, utc(2028, 2, 29, 0, 0));
    expect_next("0 0 29 2 *", utc(1996, 3, 1, 0, 0), 0, utc(2000, 2, 29, 0, 0));
    expect_next("0 0 29 2 *", utc(2097, 1, 1, 0, 0), 0, -1); /* 2100 is not a leap year */
    expect_next("0 0 29 2 *", utc(2099, 3, 1, 0, 0), 0, utc(2104, 2, 29, 0, 0));
    expect_next("0 0 29 2 *", utc(2396, 3, 1, 0, 0), 0, utc(2400, 2, 29, 0, 0));
    /* the same instant in the hour/minute skip paths */
    expect_next("30 10 * * *", utc(2024, 1, 15, 10, 29), 0, utc(2024, 1, 15, 10, 30));
    expect_next("30 10 * * *", utc(2024, 1, 15, 10, 30), 0, utc(2024, 1, 16, 10, 30));
    expect_next("15,45 10,14 * * *", utc(2024, 1, 15, 10, 45), 0, utc(2024, 1, 15, 14, 15));
    expect_next("15,45 10,14 * * *", utc(2024, 1, 15, 14, 45), 0, utc(2024, 1, 16, 10, 15));
    expect_next("0 0 * 3,9 *", utc(2024, 3, 31, 0, 0), 0, utc(2024, 9, 1, 0, 0));
    expect_next("0 0 * 3,9 *", utc(2024, 9, 30, 0, 0), 0, utc(2025, 3, 1, 0, 0));
}

static void test_next_offsets(void **state)
{
    (void)state;
    const int plus2 = 2 * 3600, minus5 = -5 * 3600;

    /* 09:00 local is 07:00Z at +02:00 and 14:00Z at -05:00 */
    expect_next("0 9 * * *", utc(2024, 6, 1, 0, 0), plus2, utc(2024, 6, 1, 7, 0));
    expect_next("0 9 * * *", utc(2024, 6, 1, 7, 0), plus2, utc(2024, 6, 2, 7, 0));
    expect_next("0 9 * * *", utc(2024, 6, 1, 0, 0), minus5, utc(2024, 6, 1, 14, 0));
    /* the local day differs from the UTC day */
    expect_next("0 0 * * *", utc(2024, 6, 1, 21, 0), plus2, utc(2024, 6, 1, 22, 0));
    expect_next("0 23 * * *", utc(2024, 6, 1, 0, 0), minus5, utc(2024, 6, 1, 4, 0));
    expect_next("0 23 * * *", utc(2024, 6, 1, 4, 0), minus5, utc(2024, 6, 2, 4, 0));
    /* the local weekday: Monday 00:30 at +02:00 is Sunday 22:30Z */
    expect_next("30 0 * * MON", utc(2024, 6, 1, 0, 0), plus2, utc(2024, 6, 2, 22, 30));
    /* Friday 20:00 local at -05:00 is Saturday 01:00Z */
    expect_next("0 20 * * FRI", utc(2024, 6, 1, 0, 0), minus5, utc(2024, 6, 1, 1, 0));
    expect_next("0 20 * * FRI", utc(2024, 6, 1, 1, 0), minus5, utc(2024, 6, 8, 1, 0));
    /* the local month and year */
    expect_next("0 0 1 1 *", utc(2024, 6, 1, 0, 0), plus2, utc(2024, 12, 31, 22, 0));
    expect_next("0 0 1 1 *", utc(2024, 6, 1, 0, 0), minus5, utc(2025, 1, 1, 5, 0));
    expect_next("59 23 31 12 *", utc(2024, 6, 1, 0, 0), minus5, utc(2025, 1, 1, 4, 59));
    /* a leap day in local time only */
    expect_next("0 0 29 2 *", utc(2024, 2, 28, 20, 0), plus2, utc(2024, 2, 28, 22, 0));
    expect_next("0 22 28 2 *", utc(2024, 2, 28, 0, 0), minus5, utc(2024, 2, 29, 3, 0));
    /* half- and quarter-hour offsets, and the extremes */
    expect_next("0 * * * *", utc(2024, 6, 1, 0, 0), 5 * 3600 + 1800, utc(2024, 6, 1, 0, 30));
    expect_next("0 0 * * *", utc(2024, 6, 1, 0, 0), -(9 * 3600 + 1800), utc(2024, 6, 1, 9, 30));
    expect_next("0 0 * * *", utc(2024, 6, 1, 0, 0), 14 * 3600, utc(2024, 6, 1, 10, 0));
    expect_next("0 0 * * *", utc(2024, 6, 1, 0, 0), CRON_MAX_TZ_OFFSET_S, utc(2024, 6, 1, 6, 0));
    expect_next("0 0 * * *", utc(2024, 6, 1, 0, 0), -CRON_MAX_TZ_OFFSET_S, utc(2024, 6, 1, 18, 0));
    /* an offset with seconds: the local minute, not the UTC minute */
    expect_next("* * * * *", utc(2024, 6, 1, 0, 0), 30, utc(2024, 6, 1, 0, 0) + 30);
    expect_next("* * * * *", utc(2024, 6, 1, 0, 0) + 29, 30, utc(2024, 6, 1, 0, 0) + 30);
}

/* Both day fields restricted: either may match. One is `*`: both must. */
static void test_next_day_rule(void **state)
{
    (void)state;
    /* 2024-06: the 1st is a Saturday; Mondays are 3, 10, 17, 24 */
    int64_t t = utc(2024, 5, 31, 12, 0);
    expect_next("0 0 1 * MON", t, 0, utc(2024, 6, 1, 0, 0));
    expect_next("0 0 1 * MON", utc(2024, 6, 1, 0, 0), 0, utc(2024, 6, 3, 0, 0));
    expect_next("0 0 15 * MON", utc(2024, 6, 10, 0, 0), 0, utc(2024, 6, 15, 0, 0));
    expect_next("0 0 15 * MON", utc(2024, 6, 15, 0, 0), 0, utc(2024, 6, 17, 0, 0));
    /* day-of-month `*`: only the weekday counts */
    expect_next("0 0 * * MON", t, 0, utc(2024, 6, 3, 0, 0));
    /* day-of-week `*`: only the day of the month counts */
    expect_next("0 0 15 * *", t, 0, utc(2024, 6, 15, 0, 0));
    /* a step keeps the star: an odd day AND a Monday (3, 17) */
    expect_next("0 0 */2 * MON", t, 0, utc(2024, 6, 3, 0, 0));
    expect_next("0 0 */2 * MON", utc(2024, 6, 3, 0, 0), 0, utc(2024, 6, 17, 0, 0));
    expect_next("0 0 1 * */7", t, 0, utc(2024, 9, 1, 0, 0)); /* the 1st AND a Sunday */
    /* "1-31" is restricted: with a weekday, it matches every day */
    expect_next("0 0 1-31 * MON", t, 0, utc(2024, 6, 1, 0, 0));
    expect_next("0 0 1-31 * MON", utc(2024, 6, 1, 0, 0), 0, utc(2024, 6, 2, 0, 0));
    /* Friday the 13th, the Vixie way: every Friday and every 13th */
    expect_next("0 0 13 * FRI", utc(2024, 9, 1, 0, 0), 0, utc(2024, 9, 6, 0, 0));
    expect_next("0 0 13 * FRI", utc(2024, 9, 6, 0, 0), 0, utc(2024, 9, 13, 0, 0));
    expect_next("0 0 13 * FRI", utc(2024, 9, 13, 0, 0), 0, utc(2024, 9, 20, 0, 0));
    /* the month still restricts both: Feb 30 never, but Mondays in Feb do */
    expect_next("0 0 30 2 MON", utc(2024, 3, 1, 0, 0), 0, utc(2025, 2, 3, 0, 0));
}

static void test_next_impossible(void **state)
{
    (void)state;
    int64_t t = utc(2024, 1, 1, 0, 0);
    expect_next("0 0 31 2 *", t, 0, -1);
    expect_next("0 0 30 2 *", t, 0, -1);
    expect_next("0 0 30,31 2 *", t, 0, -1);
    expect_next("0 0 31 4,6,9,11 *", t, 0, -1);
    expect_next("* * 31 2 *", t, 3600, -1);
    /* `*` /7 is unrestricted, so the 30th must be in February too */
    expect_next("0 0 30 2 */7", t, 0, -1);
    /* the horizon: Feb 29 2096 to Feb 29 2104 is eight years */
    expect_next("0 0 29 2 *", utc(2096, 2, 29, 0, 0), 0, -1);
    /* 1884 days ahead is past it, 1825 days is within it */
    expect_next("0 0 29 2 *", utc(2099, 1, 1, 0, 0), 0, -1);
    expect_next("0 0 29 2 *", utc(2099, 3, 1, 0, 0), 0, utc(2104, 2, 29, 0, 0));
}

static void test_next_limits(void **state)
{
    (void)state;
    struct cron c;
    parse_ok("* * * * *", &c);
    assert_int_equal(cron_next(&c, 0, CRON_MAX_TZ_OFFSET_S + 1), -1);
    assert_int_equal(cron_next(&c, 0, -CRON_MAX_TZ_OFFSET_S - 1), -1);
    assert_int_equal(cron_next(&c, CRON_TIME_MIN - 1, 0), -1);
    assert_int_equal(cron_next(&c, CRON_TIME_MAX + 1, 0), -1);
    assert_int_equal(cron_next(&c, INT64_MAX, 0), -1);
    assert_int_equal(cron_next(&c, INT64_MIN, 0), -1);
    assert_int_equal(cron_next(&c, CRON_TIME_MIN, 0), CRON_TIME_MIN + 60);
    assert_int_equal(cron_next(&c, CRON_TIME_MAX, 0), CRON_TIME_MAX + 1);
    /* 0001-01-01 was a Monday, 9999-12-31 a Friday */
    parse_ok("0 0 * * MON", &c);
    assert_int_equal(cron_next(&c, CRON_TIME_MIN, 0), CRON_TIME_MIN + 7 * 86400);
    parse_ok("0 0 * * SAT", &c);
    assert_int_equal(cron_next(&c, CRON_TIME_MAX, 0), CRON_TIME_MAX + 1);
}

/*
 * Many calls on a schedule that skips most of the year; each answer is a
 * Monday in February or a Feb 29, and each is the next one.
 */
static void test_next_many(void **state)
{
    (void)state;
    struct cron c;
    parse_ok("0 0 29 2 1", &c);
    int64_t t = utc(2000, 1, 1, 0, 0);
    for (int i = 0; i < 100000; i++) {
        int64_t n = cron_next(&c, t, 0);
        assert_true(n > t);
        time_t tt = (time_t)n;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        assert_int_equal(tm.tm_mon, 1);
        assert_true(tm.tm_wday == 1 || tm.tm_mday == 29);
        assert_int_equal(tm.tm_hour * 60 + tm.tm_min, 0);
        /* the gap to the next one is at most a year */
        assert_true(n - t <= 366 * 86400);
        t = i % 1000 == 999 ? utc(2000, 1, 1, 0, 0) : n;
    }
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [lo, hi]. */
static int rnd_in(int lo, int hi)
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const wday_names[] = {"sun", "Mon", "TUE", "wed", "Thu", "FRI", "sat"};

/* Appends v, as a name one time in three where the field has names. */
static void add_value(struct buf *b, int field, int v)
{
    if (field == 3 && rnd() % 3 == 0)
        buf_adds(b, month_names[v - 1]);
    else if (field == 4 && v < 7 && rnd() % 3 == 0)
        buf_adds(b, wday_names[v]);
    else
        buf_addf(b, "%d", v);
}

/*
 * Appends a random field text for field (0 minute .. 4 day-of-week) and
 * sets *set to its values (day-of-week 7 folded to 0), computed here, apart
 * from the parser. *star says whether the day rule sees it as unrestricted.
 */
static void random_field(int field, struct buf *b, uint64_t *set, bool *star)
{
    static const int lo[] = {0, 0, 1, 1, 0}, hi[] = {59, 23, 31, 12, 7};
    int n = rnd() % 4 == 0 ? rnd_in(2, 3) : 1;

    *set = 0;
    *star = false;
    for (int i = 0; i < n; i++) {
        int a, z, step = 1;
        if (i)
            buf_addch(b, ',');
        switch (rnd() % 7) {
        case 0: /* * */
        case 1:
            a = lo[field];
            z = hi[field];
            buf_addch(b, '*');
            *star = n == 1;
            break;
        case 2: /* * /S */
            a = lo[field];
            z = hi[field];
            step = rnd_in(1, hi[field] > 12 ? 12 : hi[field]);
            buf_addf(b, "*/%d", step);
            *star = n == 1;
            break;
        case 3: /* N */
            a = z = rnd_in(lo[field], hi[field]);
            add_value(b, field, a);
            break;
        case 4: /* A-B */
            a = rnd_in(lo[field], hi[field]);
            z = rnd_in(a, hi[field]);
            add_value(b, field, a);
            buf_addch(b, '-');
            add_value(b, field, z);
            break;
        case 5: /* A-B/S */
            a = rnd_in(lo[field], hi[field]);
            z = rnd_in(a, hi[field]);
            step = rnd_in(1, hi[field]);
            add_value(b, field, a);
            buf_addch(b, '-');
            add_value(b, field, z);
            buf_addf(b, "/%d", step);
            break;
        default: /* N/S */
            a = rnd_in(lo[field], hi[field]);
            z = hi[field];
            step = rnd_in(1, hi[field]);
            add_value(b, field, a);
            buf_addf(b, "/%d", step);
            break;
        }
        for (int v = a; v <= z; v += step)
            *set |= 1ULL << (field == 4 && v == 7 ? 0 : v);
    }
}

struct naive {
    uint64_t set[5];
    bool dom_star, dow_star;
};

static bool naive_matches(const struct naive *s, int64_t local_s)
{
    time_t t = (time_t)local_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        fail_msg("gmtime_r(%lld)", (long long)local_s);
    if (!(s->set[0] >> tm.tm_min & 1) || !(s->set[1] >> tm.tm_hour & 1) ||
        !(s->set[3] >> (tm.tm_mon + 1) & 1))
        return false;
    bool dom = s->set[2] >> tm.tm_mday & 1, dow = s->set[4] >> tm.tm_wday & 1;
    return s->dom_star || s->dow_star ? dom && dow : dom || dow;
}

#define NAIVE_DAYS 400

/* The first matching minute after after_s within NAIVE_DAYS (false if none). */
static bool naive_next(const struct naive *s, int64_t after_s, int tz, int64_t *next)
{
    int64_t local = after_s + tz;
    int64_t m = (local >= 0 ? local / 60 : -((-local + 59) / 60)) + 1;
    for (int64_t i = 0; i <= (int64_t)NAIVE_DAYS * 1440; i++)
        if (naive_matches(s, (m + i) * 60)) {
            *next = (m + i) * 60 - tz;
            return true;
        }
    return false;
}

static void test_brute_force(void **state)
{
    (void)state;
    static const int offsets[] = {0, 7200, -18000, 19800, 20700, -34200, 14 * 3600, -12 * 3600};
    int found = 0, never = 0;

    for (int i = 0; i < 200; i++) {
        struct buf expr = BUF_INIT, canon = BUF_INIT;
        struct naive s;
        bool star[5];
        for (int f = 0; f < 5; f++) {
            if (f)
                buf_adds(&expr, rnd() % 4 ? " " : " \t ");
            random_field(f, &expr, &s.set[f], &star[f]);
        }
        s.dom_star = star[2];
        s.dow_star = star[4];

        struct cron c, again;
        parse_ok(expr.data, &c);
        assert_true(c.minutes == s.set[0]);
        assert_true(c.hours == s.set[1]);
        assert_true(c.mdays == s.set[2]);
        assert_true(c.months == s.set[3]);
        assert_true(c.wdays == s.set[4]);
        assert_int_equal(!!(c.flags & CRON_DOM_STAR), s.dom_star);
        assert_int_equal(!!(c.flags & CRON_DOW_STAR), s.dow_star);

        /* the canonical form means the same */
        cron_format(&c, &canon);
        parse_ok(canon.data, &again);
        if (!same_cron(&c, &again))
            fail_msg("'%s' formats as '%s', which parses differently", expr.data, canon.data);

        for (int k = 0; k < 2; k++) {
            /* 1950 .. 2150, at any second */
            int64_t after = -631152000LL + (int64_t)(rnd() % 6311433600ULL);
            int tz = offsets[rnd() % (sizeof(offsets) / sizeof(offsets[0]))];
            int64_t want;
            int64_t got = cron_next(&c, after, tz);
            if (naive_next(&s, after, tz, &want)) {
                found++;
                if (got != want)
                    fail_msg("cron_next(\"%s\", %lld, %d) = %lld, the naive search says %lld",
                             expr.data, (long long)after, tz, (long long)got, (long long)want);
            } else {
                never++;
                if (got != -1 && got <= after + (int64_t)NAIVE_DAYS * 86400)
                    fail_msg("cron_next(\"%s\", %lld, %d) = %lld, the naive search finds none",
                             expr.data, (long long)after, tz, (long long)got);
            }
        }
        buf_release(&expr);
        buf_release(&canon);
    }
    /* The generator exercises both outcomes. */
    assert_true(found > 200);
    assert_true(never > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),          cmocka_unit_test(test_syntax_forms),
        cmocka_unit_test(test_names),           cmocka_unit_test(test_macros),
        cmocka_unit_test(test_day_flags),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffer),    cmocka_unit_test(test_next_table),
        cmocka_unit_test(test_next_boundaries), cmocka_unit_test(test_next_offsets),
        cmocka_unit_test(test_next_day_rule),   cmocka_unit_test(test_next_impossible),
        cmocka_unit_test(test_next_limits),     cmocka_unit_test(test_next_many),
        cmocka_unit_test(test_brute_force),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
