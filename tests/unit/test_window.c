#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/window.h"

#define MON (1u << 0)
#define TUE (1u << 1)
#define WED (1u << 2)
#define THU (1u << 3)
#define FRI (1u << 4)
#define SAT (1u << 5)
#define SUN (1u << 6)
#define ALL 0x7fu

static void expect_range(const char *s, unsigned days, int start, int end, const char *tz)
{
    struct window_range r;
    struct buf err = BUF_INIT;
    if (window_range_parse(s, &r, &err))
        fail_msg("'%s' rejected: %s", s, err.data);
    assert_int_equal(err.len, 0);
    if (r.days != days)
        fail_msg("'%s': days 0x%02x, expected 0x%02x", s, r.days, days);
    assert_int_equal(r.start_min, start);
    assert_int_equal(r.end_min, end);
    assert_string_equal(r.tz, tz);
    buf_release(&err);
}

static void expect_days(const char *s, unsigned days)
{
    expect_range(s, days, 0, 1440, "");
}

static void expect_error(const char *s, const char *msg)
{
    struct window_range r;
    struct buf err = BUF_INIT;
    buf_adds(&err, "> ");
    assert_int_equal(window_range_parse(s, &r, &err), -1);
    assert_memory_equal(err.data, "> ", 2); /* appended to what was there */
    if (strcmp(err.data + 2, msg))
        fail_msg("'%s': got \"%s\", expected \"%s\"", s, err.data + 2, msg);
    buf_release(&err);
}

static void expect_format(const char *s, const char *canonical)
{
    struct window_range r;
    struct buf err = BUF_INIT, out = BUF_INIT;
    assert_int_equal(window_range_parse(s, &r, &err), 0);
    buf_adds(&out, "=");
    window_range_format(&r, &out);
    assert_string_equal(out.data + 1, canonical);
    buf_release(&err);
    buf_release(&out);
}

static void test_days(void **state)
{
    (void)state;
    expect_days("Mon", MON);
    expect_days("Sun", SUN);
    expect_days("Sat,Sun", SAT | SUN);
    expect_days("Sun,Sat", SAT | SUN);
    expect_days("Mon-Fri", MON | TUE | WED | THU | FRI);
    expect_days("Mon,Wed-Fri", MON | WED | THU | FRI);
    expect_days("Mon-Wed,Fri-Sat", MON | TUE | WED | FRI | SAT);
    expect_days("Mon,Mon", MON);
    expect_days("Mon-Wed,Tue", MON | TUE | WED);
    /* Case does not matter; full names work too. */
    expect_days("mon-FRI", MON | TUE | WED | THU | FRI);
    expect_days("Monday", MON);
    expect_days("monday-wednesday", MON | TUE | WED);
    expect_days("Wednesday,thu", WED | THU);
    expect_days("SUNDAY", SUN);
}

static void test_wrapping_ranges(void **state)
{
    (void)state;
    expect_days("Fri-Mon", FRI | SAT | SUN | MON);
    expect_days("Sat-Tue", SAT | SUN | MON | TUE);
    expect_days("Sun-Mon", SUN | MON);
    expect_days("Sun-Sat", ALL);
    expect_days("Tue-Mon", ALL);
    expect_days("Mon-Mon", MON); /* a range of one day, not a whole week */
    expect_days("Fri-Mon,Wed", FRI | SAT | SUN | MON | WED);
}

static void test_day_words(void **state)
{
    (void)state;
    expect_days("daily", ALL);
    expect_days("DAILY", ALL);
    expect_days("*", ALL);
    expect_days("weekdays", MON | TUE | WED | THU | FRI);
    expect_days("Weekdays", MON | TUE | WED | THU | FRI);
    expect_days("weekends", SAT | SUN);
    expect_range("weekends 10:00-14:00", SAT | SUN, 600, 840, "");
}

static void test_times(void **state)
{
    (void)state;
    expect_range("Mon-Fri 09:00-17:00", 0x1f, 540, 1020, "");
    expect_range("daily 00:00-00:01", ALL, 0, 1, "");
    expect_range("daily 23:59-24:00", ALL, 1439, 1440, "");
    expect_range("daily 00:00-24:00", ALL, 0, 1440, "");
    expect_range("Mon 12:34-12:35", MON, 754, 755, "");
    /* An end before the start crosses midnight. */
    expect_range("daily 22:00-06:00", ALL, 1320, 360, "");
    expect_range("Fri 23:30-00:30", FRI, 1410, 30, "");
    /* An end of 00:00 is midnight at the end of the day, like 24:00. */
    expect_range("Mon 22:00-00:00", MON, 1320, 1440, "");
    expect_range("daily 00:01-00:00", ALL, 1, 1440, "");
    expect_range("Fri 18:00-00:00 Europe/Paris", FRI, 1080, 1440, "Europe/Paris");
}

static void test_time_zones(void **state)
{
    (void)state;
    expect_range("Mon-Fri 09:00-17:00 UTC", 0x1f, 540, 1020, "UTC");
    expect_range("daily 22:00-06:00 Europe/Paris", ALL, 1320, 360, "Europe/Paris");
    expect_range("weekends +02:00", SAT | SUN, 0, 1440, "+02:00");
    expect_range("Mon 09:00-10:00 -05:30", MON, 540, 600, "-05:30");
    expect_range("Mon Z", MON, 0, 1440, "Z");
    expect_range("Mon +14:00", MON, 0, 1440, "+14:00");
    expect_range("Mon -14:00", MON, 0, 1440, "-14:00");
    expect_range("Mon America/Port-au-Prince", MON, 0, 1440, "America/Port-au-Prince");
    expect_range("Mon Etc/GMT+2", MON, 0, 1440, "Etc/GMT+2");
    expect_range("Mon America/Argentina/Buenos_Aires", MON, 0, 1440,
                 "America/Argentina/Buenos_Aires");
    /* Tabs and extra blanks separate words like spaces. */
    expect_range("\tMon \t 09:00-10:00   UTC  ", MON, 540, 600, "UTC");
}

static void test_tz_check(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "UTC",    "Z",   "+00:00",       "-00:00",    "+02:00",     "-05:30",  "+14:00",
        "-14:00", "utc", "Europe/Paris", "Etc/GMT+2", "Etc/GMT-14", "EST5EDT", "Asia/Ho_Chi_Minh"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct buf err = BUF_INIT;
        if (window_tz_check(ok[i], &err))
            fail_msg("'%s' rejected: %s", ok[i], err.data);
        assert_int_equal(err.len, 0);
    }
    static const char *const bad[] = {
        "",        "+14:01",  "+15:00", "+24:00",       "+2:00", "+0200",    "02:00",
        "/Europe", "Europe/", "Eu//Pa", "Europe Paris", "x$y",   "\xc3\x84", "_Paris"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf err = BUF_INIT;
        if (window_tz_check(bad[i], &err) != -1)
            fail_msg("'%s' accepted", bad[i]);
        char want[200];
        snprintf(want, sizeof(want),
                 "'%s' is not a time zone: use UTC, an offset like +02:00, or a name like "
                 "Europe/Paris",
                 bad[i]);
        assert_string_equal(err.data, want);
        buf_release(&err);
    }
    /* 63 characters fit; 64 do not. */
    char name[80];
    memset(name, 'a', sizeof(name));
    name[63] = '\0';
    struct buf err = BUF_INIT;
    assert_int_equal(window_tz_check(name, &err), 0);
    name[63] = 'a';
    name[64] = '\0';
    assert_int_equal(window_tz_check(name, &err), -1);
    buf_release(&err);
}

#define NOT_A_DAY                                                                                  \
    " is not a day: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges like Mon-Fri, or daily, "        \
    "weekdays, weekends"
#define NOT_A_RANGE " is not a time range: expected HH:MM-HH:MM such as 09:00-17:00"
#define NOT_A_TZ    " is not a time zone: use UTC, an offset like +02:00, or a name like Europe/Paris"

static void test_errors(void **state)
{
    (void)state;
    /* the whole string */
    expect_error("", "an empty window: expected DAYS [HH:MM-HH:MM] [TIMEZONE]");
    expect_error(" \t ", "an empty window: expected DAYS [HH:MM-HH:MM] [TIMEZONE]");
    expect_error("Mon 09:00-17:00 UTC extra",
                 "'Mon 09:00-17:00 UTC extra' is not a window: expected DAYS [HH:MM-HH:MM] "
                 "[TIMEZONE]");
    expect_error("Mon UTC extra", "'Mon UTC extra' is not a window: unexpected 'extra'; expected "
                                  "DAYS [HH:MM-HH:MM] [TIMEZONE]");
    /* days */
    expect_error("Funday", "'Funday'" NOT_A_DAY);
    expect_error("Mo", "'Mo'" NOT_A_DAY);
    expect_error("Mond", "'Mond'" NOT_A_DAY);
    expect_error("Mon,", "a day list ends with ','");
    expect_error("Mon-Fri, 09:00-17:00", "a day list ends with ','");
    expect_error(",Mon", "''" NOT_A_DAY);
    expect_error("Mon,,Tue", "''" NOT_A_DAY);
    expect_error("Mon-", "'Mon-'" NOT_A_DAY);
    expect_error("-Fri", "'-Fri'" NOT_A_DAY);
    expect_error("Mon-Tue-Wed", "'Mon-Tue-Wed'" NOT_A_DAY);
    /* the bad end of a range is named */
    expect_error("Mon,Tue-Xyz", "'Xyz'" NOT_A_DAY);
    expect_error("Mon-Fry", "'Fry'" NOT_A_DAY);
    expect_error("Mon-Fry 09:00-17:00", "'Fry'" NOT_A_DAY);
    expect_error("Fry-Mon", "'Fry'" NOT_A_DAY);
    expect_error("Sat-Sun,Mondey", "'Mondey'" NOT_A_DAY);
    expect_error("daily,Mon", "'daily'" NOT_A_DAY);
    expect_error("Mon+02:00", "'Mon+02:00'" NOT_A_DAY);
    expect_error("09:00-17:00", "'09:00-17:00'" NOT_A_DAY);
    /* times */
    expect_error("Mon 9:00-17:00", "'9:00-17:00'" NOT_A_RANGE);
    expect_error("Mon 09:00", "'09:00'" NOT_A_RANGE);
    expect_error("Mon 0900-1700", "'0900-1700'" NOT_A_RANGE);
    expect_error("Mon 09:60-17:00", "'09:60-17:00'" NOT_A_RANGE);
    expect_error("Mon 25:00-26:00", "'25:00-26:00'" NOT_A_RANGE);
    expect_error("Mon 24:01-02:00", "'24:01-02:00'" NOT_A_RANGE);
    expect_error("Mon 09:00-24:30", "'09:00-24:30'" NOT_A_RANGE);
    expect_error("Mon 24:00-01:00", "'24:00-01:00'" NOT_A_RANGE); /* start at 24:00 */
    expect_error("Mon 24:00-00:00", "'24:00-00:00'" NOT_A_RANGE);
    expect_error("Mon 09:00-17:00-18:00", "'09:00-17:00-18:00'" NOT_A_RANGE);
    expect_error("Mon 09:0a-17:00", "'09:0a-17:00'" NOT_A_RANGE);
    expect_error("Mon 1Europe", "'1Europe'" NOT_A_RANGE);
    expect_error("Mon 10:00-10:00", "'10:00-10:00' is an empty time range");
    expect_error("Mon 00:00-00:00", "'00:00-00:00' is an empty time range");
    expect_error("Mon 00:00-24:00 x$", "'x$'" NOT_A_TZ);
    /* blanks around '-' or ',': the advice to write it without them */
    expect_error("Mon - Fri", "'Mon - Fri': write a day range without spaces, as Mon-Fri");
    expect_error("Mon - Fri 09:00-17:00 UTC",
                 "'Mon - Fri': write a day range without spaces, as Mon-Fri");
    expect_error("Mon -Fri", "'Mon -Fri': write a day range without spaces, as Mon-Fri");
    expect_error("Mon- Fri", "'Mon- Fri': write a day range without spaces, as Mon-Fri");
    expect_error("Sat , Sun", "'Sat , Sun': write a list of days without spaces, as Sat,Sun");
    expect_error("Sat, Sun 10:00-12:00",
                 "'Sat, Sun': write a list of days without spaces, as Sat,Sun");
    expect_error("monday - friday", "'monday - friday': write a day range without spaces, as "
                                    "monday-friday");
    expect_error("Mon 09:00 - 17:00",
                 "'09:00 - 17:00': write a time range without spaces, as 09:00-17:00");
    expect_error("Mon-Fri 09:00 -17:00 UTC",
                 "'09:00 -17:00': write a time range without spaces, as 09:00-17:00");
    expect_error("Mon-Fri 09:00- 17:00 UTC",
                 "'09:00- 17:00': write a time range without spaces, as 09:00-17:00");
    /* but a time zone offset after a whole range is a time zone */
    expect_range("Mon 09:00-17:00 -05:00", MON, 540, 1020, "-05:00");
    expect_error("Mon 09:00-17:00 -5", "'-5'" NOT_A_TZ);
    expect_error("Mon -", "'-'" NOT_A_TZ);
    expect_error("Mon - 09:00-17:00", "'-'" NOT_A_TZ);
    /* time zones */
    expect_error("Mon +14:01", "'+14:01'" NOT_A_TZ);
    expect_error("Mon -0900", "'-0900'" NOT_A_TZ);
    expect_error("Mon Europe//Paris", "'Europe//Paris'" NOT_A_TZ);
    expect_error("Mon Europe/", "'Europe/'" NOT_A_TZ);
    expect_error("Mon x$y", "'x$y'" NOT_A_TZ);
    /* A second time range is taken for a time zone. */
    expect_error("Mon 09:00-10:00 11:00-12:00", "'11:00-12:00'" NOT_A_TZ);
    char s[100], want[200];
    char tz[65];
    memset(tz, 'a', 64);
    tz[64] = '\0';
    snprintf(s, sizeof(s), "Mon %s", tz);
    snprintf(want, sizeof(want), "time zone '%s' is too long", tz);
    expect_error(s, want);
}

static void test_format(void **state)
{
    (void)state;
    expect_format("Mon-Fri 09:00-17:00 UTC", "Mon-Fri 09:00-17:00 UTC");
    expect_format("weekdays", "Mon-Fri");
    expect_format("weekends", "Sat,Sun");
    expect_format("*", "daily");
    expect_format("Sun-Sat", "daily");
    expect_format("monday", "Mon");
    expect_format("Mon,Tue", "Mon,Tue");
    expect_format("Tue,Mon,Wed", "Mon-Wed");
    expect_format("Fri-Mon", "Mon,Fri-Sun");
    expect_format("Mon,Wed,Fri,Sun", "Mon,Wed,Fri,Sun");
    expect_format("Mon-Tue,Thu-Sun", "Mon,Tue,Thu-Sun");
    expect_format("daily 00:00-24:00", "daily");
    expect_format("daily 00:00-06:00", "daily 00:00-06:00");
    expect_format("daily 18:00-24:00", "daily 18:00-24:00");
    expect_format("daily 18:00-00:00", "daily 18:00-24:00");
    expect_format("daily 22:00-06:00 Europe/Paris", "daily 22:00-06:00 Europe/Paris");
    expect_format("sat +02:00", "Sat +02:00");
    expect_format("  mon-fri   08:05-09:07  ", "Mon-Fri 08:05-09:07");
}

/* Every day set, a spread of times and zones: format, then parse, gives the same range. */
static void test_round_trip(void **state)
{
    (void)state;
    static const char *const zones[] = {"", "UTC", "+02:00", "-05:30", "Europe/Paris"};
    size_t checked = 0;
    for (unsigned days = 1; days <= ALL; days++) {
        for (int start = 0; start < 1440; start += 97) {
            for (int end = 1; end <= 1440; end += 89) {
                if (end == start)
                    continue;
                for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
                    struct window_range r = {0}, back;
                    r.days = days;
                    r.start_min = start;
                    r.end_min = end;
                    snprintf(r.tz, sizeof(r.tz), "%s", zones[z]);
                    struct buf out = BUF_INIT, err = BUF_INIT;
                    window_range_format(&r, &out);
                    if (window_range_parse(out.data, &back, &err))
                        fail_msg("'%s' does not parse back: %s", out.data, err.data);
                    if (back.days != r.days || back.start_min != r.start_min ||
                        back.end_min != r.end_min || strcmp(back.tz, r.tz))
                        fail_msg("'%s' parses back differently", out.data);
                    /* and the canonical form is a fixed point */
                    struct buf again = BUF_INIT;
                    window_range_format(&back, &again);
                    assert_string_equal(again.data, out.data);
                    buf_release(&out);
                    buf_release(&err);
                    buf_release(&again);
                    checked++;
                }
            }
        }
    }
    assert_true(checked > 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days),       cmocka_unit_test(test_wrapping_ranges),
        cmocka_unit_test(test_day_words),  cmocka_unit_test(test_times),
        cmocka_unit_test(test_time_zones), cmocka_unit_test(test_tz_check),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
