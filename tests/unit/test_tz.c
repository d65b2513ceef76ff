/*
 * Time zones from TZif files, against instants whose offsets are known (and
 * that zdump agrees with), and against hand-made files for the paths the
 * installed files may not take: version 1 only, a footer alone, a version 1
 * block that differs from the 64-bit one, truncation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"
#include "util/fileio.h"

#define H 3600

/* 2026 transitions (UTC) */
#define PARIS_SPRING_2026 1774746000LL /* 2026-03-29 01:00 */
#define PARIS_AUTUMN_2026 1792890000LL /* 2026-10-25 01:00 */
#define NY_SPRING_2026    1772953200LL /* 2026-03-08 07:00 */
#define NY_AUTUMN_2026    1793512800LL /* 2026-11-01 06:00 */
#define SYD_AUTUMN_2026   1775318400LL /* 2026-04-04 16:00, back to +10 */
#define SYD_SPRING_2026   1791043200LL /* 2026-10-03 16:00, on to +11 */
#define JAN_15_2026       1768478400LL /* 2026-01-15 12:00 */
#define JUL_01_2026       1782907200LL /* 2026-07-01 12:00 */
/* 2100: after the last transition in any file; only the footer rule knows */
#define JAN_15_2100       4103697600LL /* 2100-01-15 12:00 */
#define JUL_01_2100       4118126400LL /* 2100-07-01 12:00 */
#define PARIS_SPRING_2100 4109878800LL /* 2100-03-28 01:00 */
#define PARIS_AUTUMN_2100 4128627600LL /* 2100-10-31 01:00 */

static const struct tz *get(const char *name)
{
    struct buf err = BUF_INIT;
    const struct tz *z = tz_get(name, &err);
    if (!z)
        fail_msg("%s: %s", name, err.data);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    return z;
}

static void expect_change(const struct tz *z, int64_t t, int before, int after)
{
    assert_int_equal(tz_offset(z, t - 1), before);
    assert_int_equal(tz_offset(z, t), after);
    assert_int_equal(tz_next_change(z, t - 3 * 86400), t);
    assert_int_equal(tz_next_change(z, t - 1), t);
}

static void test_paris(void **state)
{
    (void)state;
    const struct tz *z = get("Europe/Paris");
    assert_int_equal(tz_offset(z, JAN_15_2026), 1 * H);
    assert_int_equal(tz_offset(z, JUL_01_2026), 2 * H);
    expect_change(z, PARIS_SPRING_2026, 1 * H, 2 * H);
    expect_change(z, PARIS_AUTUMN_2026, 2 * H, 1 * H);
    assert_int_equal(tz_next_change(z, PARIS_SPRING_2026), PARIS_AUTUMN_2026);
    /* Exactly two changes in 2026. */
    int changes = 0;
    for (int64_t t = 1767225600 /* 2026-01-01 */; t < 1798761600; t += H)
        changes += tz_offset(z, t) != tz_offset(z, t + H);
    assert_int_equal(changes, 2);
    /* Long ago: Paris mean time, +0:09:21, until 1891. */
    assert_int_equal(tz_offset(z, -3000000000LL), 561);
}

static void test_new_york(void **state)
{
    (void)state;
    const struct tz *z = get("America/New_York");
    assert_int_equal(tz_offset(z, JAN_15_2026), -5 * H);
    assert_int_equal(tz_offset(z, JUL_01_2026), -4 * H);
    expect_change(z, NY_SPRING_2026, -5 * H, -4 * H);
    expect_change(z, NY_AUTUMN_2026, -4 * H, -5 * H);
    assert_int_equal(tz_offset(z, JAN_15_2100), -5 * H);
    assert_int_equal(tz_offset(z, JUL_01_2100), -4 * H);
}

static void test_sydney(void **state)
{
    (void)state;
    /* Southern hemisphere: summer time from October to April. */
    const struct tz *z = get("Australia/Sydney");
    assert_int_equal(tz_offset(z, JAN_15_2026), 11 * H);
    assert_int_equal(tz_offset(z, JUL_01_2026), 10 * H);
    expect_change(z, SYD_AUTUMN_2026, 11 * H, 10 * H);
    expect_change(z, SYD_SPRING_2026, 10 * H, 11 * H);
    assert_int_equal(tz_offset(z, JAN_15_2100), 11 * H);
    assert_int_equal(tz_offset(z, JUL_01_2100), 10 * H);
    /* 2100-04-03 16:00 and 2100-10-02 16:00 UTC (first Sundays, local). */
    expect_change(z, 4110451200LL, 11 * H, 10 * H);
    expect_change(z, 4126176000LL, 10 * H, 11 * H);
}

static void test_footer_rule(void **state)
{
    (void)state;
    const struct tz *z = get("Europe/Paris");
    assert_int_equal(tz_offset(z, JAN_15_2100), 1 * H);
    assert_int_equal(tz_offset(z, JUL_01_2100), 2 * H);
    expect_change(z, PARIS_SPRING_2100, 1 * H, 2 * H);
    expect_change(z, PARIS_AUTUMN_2100, 2 * H, 1 * H);
    assert_int_equal(tz_next_change(z, JAN_15_2100), PARIS_SPRING_2100);
    assert_int_equal(tz_next_change(z, PARIS_SPRING_2100), PARIS_AUTUMN_2100);
    /* The ends of time: no overflow, an offset of the zone, no change after the end. */
    for (int64_t t = INT64_MAX; t > INT64_MAX - 3; t--)
        assert_true(tz_offset(z, t) == H || tz_offset(z, t) == 2 * H);
    assert_int_equal(tz_next_change(z, INT64_MAX - 1), INT64_MAX);
    assert_true(tz_next_change(z, INT64_MIN) > INT64_MIN);
    assert_int_equal(tz_offset(z, INT64_MIN), 561);
    /* A zone without DST any more: its last offset for ever. */
    const struct tz *tokyo = get("Asia/Tokyo");
    assert_int_equal(tz_offset(tokyo, JUL_01_2100), 9 * H);
    assert_int_equal(tz_next_change(tokyo, JAN_15_2026), INT64_MAX);
}

static void test_fixed(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int off;
    } cases[] = {{"UTC", 0},
                 {"Z", 0},
                 {"+05:30", 5 * H + 1800},
                 {"-03:00", -3 * H},
                 {"+14:00", 14 * H},
                 {"-14:00", -14 * H},
                 {"+00:00", 0},
                 {"Etc/UTC", 0},
                 {"Etc/GMT+5", -5 * H},
                 {"Asia/Kolkata", 5 * H + 1800}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tz *z = get(cases[i].name);
        assert_int_equal(tz_offset(z, JAN_15_2026), cases[i].off);
        assert_int_equal(tz_offset(z, JUL_01_2100), cases[i].off);
        assert_int_equal(tz_next_change(z, JAN_15_2026), INT64_MAX);
    }
}

static void expect_load_error(const char *name, const char *msg)
{
    struct tz *z = (struct tz *)1;
    struct buf err = BUF_INIT;
    buf_adds(&err, "> ");
    assert_int_equal(tz_load(&z, name, &err), -1);
    assert_null(z);
    if (strncmp(err.data, "> ", 2) || strncmp(err.data + 2, msg, strlen(msg)))
        fail_msg("'%s': got \"%s\", expected \"%s...\"", name, err.data, msg);
    buf_release(&err);
    assert_null(tz_get(name, &err));
    assert_true(err.len > 0);
    buf_release(&err);
}

static void test_errors(void **state)
{
    (void)state;
    expect_load_error("Mars/Olympus", "unknown time zone 'Mars/Olympus' (not found in ");
    expect_load_error("Europe", "unknown time zone 'Europe' (not found in ");
    expect_load_error("Europe/Paris/x", "unknown time zone 'Europe/Paris/x'");
    expect_load_error("zone.tab", "'zone.tab' is not a time zone name"); /* '.' */
    expect_load_error("leapseconds", "time zone 'leapseconds': not a valid time zone file");
    expect_load_error("Factory/", "unknown time zone 'Factory/'");
    static const char *const refused[] = {
        "",       "/etc/passwd",   "../../etc/passwd", "Europe/../Paris", "Europe/Paris ",
        "Eu\\ro", "Europe/Pa%ris", "+05:60",           "+15:00",          "Europe/Paris\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_load_error(refused[i], "'");
}

/* ---- hand-made TZif files ---- */

static void be32(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {v >> 24, v >> 16, v >> 8, v};
    buf_add(b, p, 4);
}

struct ttype {
    int32_t off;
    int dst;
};

/* One header and data block: times of tsize bytes, types' abbreviations all "X". */
static void block(struct buf *b, char version, int tsize, size_t n, const int64_t *times,
                  const unsigned char *idx, size_t ntypes, const struct ttype *types)
{
    buf_add(b, "TZif", 4);
    buf_addch(b, version);
    buf_add(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    be32(b, 0); /* isutcnt */
    be32(b, 0); /* isstdcnt */
    be32(b, 0); /* leapcnt */
    be32(b, (uint32_t)n);
    be32(b, (uint32_t)ntypes);
    be32(b, 2); /* charcnt: "X\0" */
    for (size_t i = 0; i < n; i++) {
        if (tsize == 8)
            be32(b, (uint32_t)((uint64_t)times[i] >> 32));
        be32(b, (uint32_t)times[i]);
    }
    buf_add(b, idx, n);
    for (size_t i = 0; i < ntypes; i++) {
        be32(b, (uint32_t)types[i].off);
        buf_addch(b, types[i].dst);
        buf_addch(b, 0);
    }
    buf_add(b, "X", 2);
}

static struct tz *parse_ok(const struct buf *b)
{
    struct tz *z = NULL;
    struct buf err = BUF_INIT;
    if (tz_parse(&z, "Test/Zone", b->data, b->len, &err))
        fail_msg("%s", err.data);
    buf_release(&err);
    return z;
}

static void test_version1(void **state)
{
    (void)state;
    const int64_t times[] = {PARIS_SPRING_2026, PARIS_AUTUMN_2026};
    const unsigned char idx[] = {1, 0};
    const struct ttype types[] = {{H, 0}, {2 * H, 1}};
    struct buf b = BUF_INIT;
    block(&b, 0, 4, 2, times, idx, 2, types);
    struct tz *z = parse_ok(&b);
    assert_int_equal(tz_offset(z, 0), H); /* before the first: type 0 */
    expect_change(z, PARIS_SPRING_2026, H, 2 * H);
    expect_change(z, PARIS_AUTUMN_2026, 2 * H, H);
    /* No footer: the last type for ever. */
    assert_int_equal(tz_offset(z, JUL_01_2100), H);
    assert_int_equal(tz_next_change(z, PARIS_AUTUMN_2026), INT64_MAX);
    tz_free(z);
    buf_release(&b);
}

static void test_version2_blocks(void **state)
{
    (void)state;
    /* The 32-bit block says +5h for ever; the 64-bit block is the one to use. */
    const int64_t times[] = {PARIS_SPRING_2026, PARIS_AUTUMN_2026};
    const unsigned char idx[] = {1, 0};
    const struct ttype wrong[] = {{5 * H, 0}};
    const struct ttype types[] = {{H, 0}, {2 * H, 1}};
    for (char v = '2'; v <= '4'; v++) {
        struct buf b = BUF_INIT;
        block(&b, v, 4, 0, NULL, NULL, 1, wrong);
        block(&b, v, 8, 2, times, idx, 2, types);
        buf_adds(&b, "\nCET-1CEST,M3.5.0,M10.5.0/3\n");
        struct tz *z = parse_ok(&b);
        assert_int_equal(tz_offset(z, JAN_15_2026), H);
        expect_change(z, PARIS_SPRING_2026, H, 2 * H);
        expect_change(z, PARIS_AUTUMN_2026, 2 * H, H);
        expect_change(z, PARIS_SPRING_2100, H, 2 * H);
        tz_free(z);
        buf_release(&b);
    }
}

static void expect_footer(const char *footer, int64_t t, int before, int after)
{
    const struct ttype utc[] = {{0, 0}};
    struct buf b = BUF_INIT;
    block(&b, '3', 4, 0, NULL, NULL, 1, utc);
    block(&b, '3', 8, 0, NULL, NULL, 1, utc);
    buf_addf(&b, "\n%s\n", footer);
    struct tz *z = parse_ok(&b);
    int64_t next = before == after ? INT64_MAX : t; /* no DST: never a change */
    if (tz_offset(z, t - 1) != before || tz_offset(z, t) != after ||
        tz_next_change(z, t - 86400) != next)
        fail_msg("'%s' at %lld: %d then %d, next change %lld", footer, (long long)t,
                 tz_offset(z, t - 1), tz_offset(z, t), (long long)tz_next_change(z, t - 86400));
    tz_free(z);
    buf_release(&b);
}

static void test_footer_forms(void **state)
{
    (void)state;
    /* Without transitions, the footer rules every instant. */
    expect_footer("CET-1CEST,M3.5.0,M10.5.0/3", PARIS_SPRING_2026, H, 2 * H);
    expect_footer("EST5EDT,M3.2.0,M11.1.0", NY_AUTUMN_2026, -4 * H, -5 * H);
    expect_footer("AEST-10AEDT,M10.1.0,M4.1.0/3", SYD_AUTUMN_2026, 11 * H, 10 * H);
    expect_footer("AEST-10AEDT,M10.1.0,M4.1.0/3", SYD_SPRING_2026, 10 * H, 11 * H);
    /* Quoted names, an explicit DST offset, a negative rule time (Greenland). */
    expect_footer("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1791041400LL /* 2026-10-03 15:30 */,
                  10 * H + 1800, 11 * H);
    expect_footer("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1774746000LL, -2 * H, -1 * H);
    /* Julian days: J60 is 1 March in every year; 59 (counted from 0) is 1 March, or 29
     * February in a leap year. */
    expect_footer("XST-1XDT,J60/0,J300/0", 1772319600LL /* 2026-03-01 00:00 +1 */, H, 2 * H);
    expect_footer("XST-1XDT,59/0,300/0", 4107538800LL /* 2100-03-01 00:00 +1 (2100: no leap) */, H,
                  2 * H);
    expect_footer("XST-1XDT,59/0,300/0", 1709161200LL /* 2024-02-29 00:00 +1 */, H, 2 * H);
    expect_footer("XST-1XDT,J60/0,J300/0", 1709247600LL /* 2024-03-01 00:00 +1 */, H, 2 * H);
    /* Far from now, where only the rule says anything. */
    const struct ttype utc[] = {{0, 0}};
    struct buf b = BUF_INIT;
    block(&b, '2', 4, 0, NULL, NULL, 1, utc);
    block(&b, '2', 8, 0, NULL, NULL, 1, utc);
    buf_adds(&b, "\nCET-1CEST,M3.5.0,M10.5.0/3\n");
    struct tz *z = parse_ok(&b);
    assert_true(tz_offset(z, INT64_MIN) == H || tz_offset(z, INT64_MIN) == 2 * H);
    assert_true(tz_offset(z, INT64_MAX) == H || tz_offset(z, INT64_MAX) == 2 * H);
    assert_true(tz_next_change(z, INT64_MIN) > INT64_MIN);
    assert_int_equal(tz_next_change(z, INT64_MAX - 1), INT64_MAX);
    tz_free(z);
    buf_release(&b);
    /* No DST: one offset. */
    expect_footer("<+0530>-5:30", 0, 5 * H + 1800, 5 * H + 1800);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct buf src = BUF_INIT, err = BUF_INIT;
    if (file_read("/usr/share/zoneinfo/Europe/Paris", TZ_MAX_FILE, &src, &err))
        fail_msg("%s", err.data);
    /* Every proper prefix is refused, reading nothing past its end. */
    for (size_t n = 0; n < src.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, src.data, n);
        struct tz *z = (struct tz *)1;
        buf_reset(&err);
        if (tz_parse(&z, "Europe/Paris", copy, n, &err) != -1)
            fail_msg("a prefix of %zu bytes was accepted", n);
        assert_null(z);
        assert_non_null(strstr(err.data, "not a valid time zone file"));
        free(copy);
    }
    /* Footers that are not understood. */
    static const char *const footers[] = {"CET",
                                          "CET-1CEST",
                                          "CET-1CEST,M3.5.0",
                                          "CET-1CEST,M13.5.0,M10.5.0",
                                          "CET-1CEST,M3.6.0,M10.5.0",
                                          "CET-1CEST,M3.5.7,M10.5.0",
                                          "CET-1CEST,M3.5.0,M10.5.0/x",
                                          "<CET-1",
                                          "CET-1CEST,J0,J300",
                                          "CET-1CEST,M3.5.0,M10.5.0 "};
    const struct ttype utc[] = {{0, 0}};
    for (size_t i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
        struct buf b = BUF_INIT;
        block(&b, '2', 4, 0, NULL, NULL, 1, utc);
        block(&b, '2', 8, 0, NULL, NULL, 1, utc);
        buf_addf(&b, "\n%s\n", footers[i]);
        struct tz *z = (struct tz *)1;
        buf_reset(&err);
        if (tz_parse(&z, "Test/Zone", b.data, b.len, &err) != -1)
            fail_msg("footer '%s' was accepted", footers[i]);
        assert_null(z);
        buf_release(&b);
    }
    /* Transitions out of order; a type index out of range. */
    const int64_t backwards[] = {PARIS_AUTUMN_2026, PARIS_SPRING_2026};
    const unsigned char idx[] = {0, 0}, bad_idx[] = {0, 2};
    const struct ttype types[] = {{H, 0}, {2 * H, 1}};
    const int64_t times[] = {PARIS_SPRING_2026, PARIS_AUTUMN_2026};
    struct buf b = BUF_INIT;
    block(&b, 0, 4, 2, backwards, idx, 2, types);
    struct tz *z = NULL;
    assert_int_equal(tz_parse(&z, "T", b.data, b.len, &err), -1);
    buf_reset(&b);
    block(&b, 0, 4, 2, times, bad_idx, 2, types);
    assert_int_equal(tz_parse(&z, "T", b.data, b.len, &err), -1);
    buf_release(&b);
    buf_release(&src);
    buf_release(&err);
}

static void *get_many(void *arg)
{
    static const char *const names[] = {"Europe/Paris", "America/New_York", "Australia/Sydney",
                                        "UTC", "Asia/Tokyo"};
    const struct tz **got = arg;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < 5; i++) {
            struct buf err = BUF_INIT;
            const struct tz *z = tz_get(names[i], &err);
            buf_release(&err);
            if (!z || (got[i] && got[i] != z))
                return (void *)1;
            got[i] = z;
            (void)tz_offset(z, JUL_01_2026 + round);
        }
    }
    return NULL;
}

static void test_cache(void **state)
{
    (void)state;
    tz_cache_clear();
    const struct tz *a = get("Europe/Paris");
    assert_ptr_equal(get("Europe/Paris"), a);
    assert_ptr_not_equal(get("Europe/Berlin"), a);

    pthread_t th[8];
    const struct tz *got[8][5];
    memset(got, 0, sizeof(got));
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, get_many, got[i]), 0);
    for (int i = 0; i < 8; i++) {
        void *rc;
        assert_int_equal(pthread_join(th[i], &rc), 0);
        assert_null(rc);
    }
    /* Every thread was given the same zones, loaded once. */
    for (int i = 1; i < 8; i++)
        assert_memory_equal(got[i], got[0], sizeof(got[0]));
    assert_ptr_equal(got[0][0], a);
    tz_cache_clear();
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
        cmocka_unit_test(test_paris),        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_sydney),       cmocka_unit_test(test_footer_rule),
        cmocka_unit_test(test_fixed),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_version1),     cmocka_unit_test(test_version2_blocks),
        cmocka_unit_test(test_footer_forms), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests_name("tz", tests, NULL, teardown);
}
