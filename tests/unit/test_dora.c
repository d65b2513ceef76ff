#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/dora.h"

#define S   1000LL
#define H   (3600 * S)
#define DAY (24 * H)
/* Monday 2026-11-23 00:00 UTC; Thursday 2026-11-26 is MON + 3 * DAY. */
#define MON 1795392000000LL

static struct dora_bucket *compute(enum dora_interval iv, int64_t from, int64_t to,
                                   const struct dora_deployment *d, size_t nd,
                                   const struct dora_incident *in, size_t ni, size_t *n)
{
    struct dora_params p = {.env = "production", .from_ms = from, .to_ms = to, .interval = iv};
    struct dora_bucket *b = NULL;
    struct buf err = BUF_INIT;
    if (dora_compute(&p, d, nd, in, ni, &b, n, &err))
        fail_msg("dora_compute: %s", err.data);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    return b;
}

/* A successful production deployment finished at fin, pushed lead seconds before. */
static struct dora_deployment ok(int64_t id, int64_t fin, int64_t lead_s)
{
    struct dora_deployment d = {.id = id,
                                .env = "production",
                                .state = DORA_SUCCEEDED,
                                .created_ms = fin - 1000,
                                .finished_ms = fin,
                                .merge_ms = fin - lead_s * S,
                                .release_ms = fin - 2000};
    return d;
}

static void test_percentile(void **state)
{
    (void)state;
    double odd[] = {1, 2, 3}, even[] = {1, 2, 3, 4}, one[] = {7};
    assert_float_equal(dora_percentile(odd, 3, 0.5), 2, 1e-9);
    assert_float_equal(dora_percentile(odd, 3, 0.9), 2.8, 1e-9);
    assert_float_equal(dora_percentile(even, 4, 0.5), 2.5, 1e-9);
    assert_float_equal(dora_percentile(even, 4, 0.9), 3.7, 1e-9);
    assert_float_equal(dora_percentile(one, 1, 0.5), 7, 1e-9);
    assert_float_equal(dora_percentile(one, 1, 0.9), 7, 1e-9);
    assert_float_equal(dora_percentile(even, 4, 1.0), 4, 1e-9);
}

static void test_empty_period(void **state)
{
    (void)state;
    size_t n;
    struct dora_bucket *b = compute(DORA_DAY, MON + 3 * DAY, MON + 5 * DAY, NULL, 0, NULL, 0, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(b[i].start_ms, MON + (3 + (int64_t)i) * DAY);
        assert_int_equal(b[i].end_ms, MON + (4 + (int64_t)i) * DAY);
        assert_int_equal(b[i].deployments, 0);
        assert_false(b[i].lead_time.has);
        assert_false(b[i].has_failure_rate);
        assert_false(b[i].restore.has);
    }
    free(b);
}

static void test_one_deployment(void **state)
{
    (void)state;
    struct dora_deployment d = ok(1, MON + 10 * H, 90);
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + 7 * DAY, &d, 1, NULL, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].start_ms, MON);
    assert_int_equal(b[0].end_ms, MON + 7 * DAY);
    assert_int_equal(b[0].deployments, 1);
    assert_true(b[0].lead_time.has);
    assert_int_equal(b[0].lead_time.n, 1);
    assert_float_equal(b[0].lead_time.median_s, 90, 1e-9);
    assert_float_equal(b[0].lead_time.p90_s, 90, 1e-9);
    assert_true(b[0].has_failure_rate);
    assert_int_equal(b[0].finished, 1);
    assert_int_equal(b[0].failed, 0);
    assert_float_equal(b[0].failure_rate, 0, 1e-9);
    assert_false(b[0].restore.has);
    free(b);
}

static void test_lead_time_even_and_odd(void **state)
{
    (void)state;
    /* day 1: 10, 20, 40 s (odd); day 2: 10, 20, 30, 100 s (even) */
    struct dora_deployment d[] = {
        ok(1, MON + 1 * H, 40),       ok(2, MON + 2 * H, 10),       ok(3, MON + 3 * H, 20),
        ok(4, MON + DAY + H, 100),    ok(5, MON + DAY + 2 * H, 30), ok(6, MON + DAY + 3 * H, 10),
        ok(7, MON + DAY + 4 * H, 20),
    };
    size_t n;
    struct dora_bucket *b = compute(DORA_DAY, MON, MON + 2 * DAY, d, 7, NULL, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].deployments, 3);
    assert_float_equal(b[0].lead_time.median_s, 20, 1e-9);
    assert_float_equal(b[0].lead_time.p90_s, 36, 1e-9); /* 20 + 0.8 * (40 - 20) */
    assert_int_equal(b[1].deployments, 4);
    assert_float_equal(b[1].lead_time.median_s, 25, 1e-9);
    assert_float_equal(b[1].lead_time.p90_s, 79, 1e-9); /* 30 + 0.7 * (100 - 30) */
    free(b);
}

static void test_week_boundary(void **state)
{
    (void)state;
    /* Sunday 23:59:59.999 and Monday 00:00 fall in two weeks */
    struct dora_deployment d[] = {ok(1, MON + 7 * DAY - 1, 60), ok(2, MON + 7 * DAY, 60)};
    size_t n;
    /* from Thursday: the first week starts on the Monday before */
    struct dora_bucket *b = compute(DORA_WEEK, MON + 3 * DAY, MON + 10 * DAY, d, 2, NULL, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].start_ms, MON);
    assert_int_equal(b[1].start_ms, MON + 7 * DAY);
    assert_int_equal(b[1].end_ms, MON + 14 * DAY);
    assert_int_equal(b[0].deployments, 1);
    assert_int_equal(b[1].deployments, 1);
    free(b);
    /* only [from, to) counts, even inside a bucket */
    b = compute(DORA_WEEK, MON + 3 * DAY, MON + 7 * DAY, d, 2, NULL, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].deployments, 1);
    free(b);
    b = compute(DORA_WEEK, MON + 7 * DAY, MON + 8 * DAY, d, 2, NULL, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].deployments, 1);
    free(b);
}

static void test_month_buckets(void **state)
{
    (void)state;
    int64_t feb1 = 1769904000000LL, mar1 = 1772323200000LL; /* 2026 */
    struct dora_deployment d[] = {ok(1, feb1 + 27 * DAY + 23 * H, 5), ok(2, mar1, 5)};
    size_t n;
    struct dora_bucket *b = compute(DORA_MONTH, feb1 + 10 * DAY, mar1 + DAY, d, 2, NULL, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].start_ms, feb1);
    assert_int_equal(b[0].end_ms, mar1);
    assert_int_equal(b[1].start_ms, mar1);
    assert_int_equal(b[1].end_ms, mar1 + 31 * DAY);
    assert_int_equal(b[0].deployments, 1);
    assert_int_equal(b[1].deployments, 1);
    free(b);
}

static void test_failure_rate(void **state)
{
    (void)state;
    struct dora_deployment d[] = {
        ok(1, MON + 1 * H, 10), ok(2, MON + 2 * H, 10),
        ok(3, MON + 3 * H, 10),                         /* opened an incident later */
        ok(4, MON + 4 * H, 10), ok(5, MON + 5 * H, 10), /* a rollback: not counted */
        ok(6, MON + 6 * H, 10),                         /* staging: not counted */
        ok(7, MON + 7 * H, 10),                         /* superseded: not counted */
        ok(8, MON + 8 * H, 10),                         /* cancelled by a rollback: a failure */
    };
    d[1].state = DORA_FAILED;
    d[4].rollback = true;
    d[5].env = "staging";
    d[6].state = DORA_OTHER;
    d[7].state = DORA_CANCELLED;
    struct dora_incident in[] = {
        {.id = 1, .deployment_id = 2, .env = "production", .opened_ms = MON + 2 * H},
        {.id = 2, .deployment_id = 3, .env = "production", .opened_ms = MON + 3 * H + 5 * S},
    };
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + DAY, d, 8, in, 2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].deployments, 3); /* 1, 3, 4 succeeded */
    assert_int_equal(b[0].finished, 5);    /* 1, 2, 3, 4, 8 */
    assert_int_equal(b[0].failed, 3);      /* 2, 3, 8 */
    assert_float_equal(b[0].failure_rate, 0.6, 1e-9);
    assert_int_equal(b[0].lead_time.n, 3); /* succeeded ones only */
    /* both incidents are still open: no time to restore */
    assert_false(b[0].restore.has);
    free(b);
}

static void test_incident_spanning_buckets(void **state)
{
    (void)state;
    struct dora_deployment d = ok(1, MON + DAY - 2 * H, 10);
    d.state = DORA_FAILED;
    /* opened at 23:00 on Monday, closed at 01:30 on Tuesday; another on Tuesday */
    struct dora_incident in[] = {
        {.id = 1,
         .deployment_id = 1,
         .env = "production",
         .opened_ms = MON + DAY - H,
         .closed_ms = MON + DAY + H + 30 * 60 * S},
        {.id = 2,
         .deployment_id = 9,
         .env = "production",
         .opened_ms = MON + DAY + 5 * H,
         .closed_ms = MON + DAY + 5 * H + 60 * S},
        {.id = 3,
         .deployment_id = 10,
         .env = "staging",
         .opened_ms = MON + DAY + 5 * H,
         .closed_ms = MON + DAY + 6 * H},
    };
    size_t n;
    struct dora_bucket *b = compute(DORA_DAY, MON, MON + 2 * DAY, &d, 1, in, 3, &n);
    assert_int_equal(n, 2);
    assert_true(b[0].restore.has);
    assert_int_equal(b[0].restore.n, 1);
    assert_float_equal(b[0].restore.median_s, 9000, 1e-9);
    assert_float_equal(b[0].failure_rate, 1, 1e-9);
    assert_int_equal(b[0].deployments, 0);
    assert_false(b[0].lead_time.has);
    assert_true(b[1].restore.has);
    assert_int_equal(b[1].restore.n, 1);
    assert_float_equal(b[1].restore.median_s, 60, 1e-9);
    assert_false(b[1].has_failure_rate);
    free(b);
    /* opened before the period: not in it, even though it closed inside */
    b = compute(DORA_ALL, MON + DAY, MON + 2 * DAY, &d, 1, in, 3, &n);
    assert_int_equal(b[0].restore.n, 1);
    assert_float_equal(b[0].restore.median_s, 60, 1e-9);
    free(b);
}

static void test_open_incident(void **state)
{
    (void)state;
    struct dora_deployment d[] = {ok(1, MON + H, 10), ok(2, MON + 2 * H, 10)};
    d[1].state = DORA_FAILED;
    struct dora_incident in[] = {
        {.id = 1, .deployment_id = 2, .env = "production", .opened_ms = MON + 2 * H}};
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + DAY, d, 2, in, 1, &n);
    assert_int_equal(b[0].finished, 2);
    assert_int_equal(b[0].failed, 1);
    assert_float_equal(b[0].failure_rate, 0.5, 1e-9);
    assert_false(b[0].restore.has);
    free(b);
}

static void test_lead_time_falls_back_to_the_release(void **state)
{
    (void)state;
    struct dora_deployment d = ok(1, MON + H, 10);
    d.merge_ms = 0;
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + DAY, &d, 1, NULL, 0, &n);
    assert_float_equal(b[0].lead_time.median_s, 2, 1e-9);
    free(b);
}

static void test_lead_time_from_first_commit(void **state)
{
    (void)state;
    /* first commits 1 h, 3 h and 2 h before; one not recorded; one dated after its end */
    struct dora_deployment d[] = {ok(1, MON + 10 * H, 60), ok(2, MON + 11 * H, 60),
                                  ok(3, MON + 12 * H, 60), ok(4, MON + 13 * H, 60),
                                  ok(5, MON + 14 * H, 60)};
    d[0].commit_ms = MON + 9 * H;
    d[1].commit_ms = MON + 8 * H;
    d[2].commit_ms = MON + 10 * H;
    d[3].commit_ms = 0;
    d[4].commit_ms = MON + 14 * H + 5 * S;
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + DAY, d, 5, NULL, 0, &n);
    assert_int_equal(b[0].deployments, 5);
    /* from the merge: five times 60 s */
    assert_int_equal(b[0].lead_time.n, 5);
    assert_float_equal(b[0].lead_time.median_s, 60, 1e-9);
    /* from the first commit: 0 (after its end), 3600, 7200, 10800 */
    assert_int_equal(b[0].lead_time_commit.n, 4);
    assert_float_equal(b[0].lead_time_commit.median_s, 5400, 1e-9);
    assert_float_equal(b[0].lead_time_commit.p90_s, 9720, 1e-9); /* 7200 + 0.7 * 3600 */
    free(b);
    /* a failed deployment has no lead time at all */
    d[0].state = DORA_FAILED;
    b = compute(DORA_ALL, MON, MON + DAY, d, 1, NULL, 0, &n);
    assert_false(b[0].lead_time.has);
    assert_false(b[0].lead_time_commit.has);
    free(b);
}

/* A rollback in production, finished at fin, reverting `of`. */
static struct dora_deployment rollback(int64_t id, int64_t fin, int64_t of)
{
    struct dora_deployment d = ok(id, fin, 0);
    d.rollback = true;
    d.rolls_back = of;
    return d;
}

static void test_rollbacks(void **state)
{
    (void)state;
    /*
     * 1 succeeds, then a person rolls it back (10); the rollback is itself
     * rolled back (11: back to 1's release), and that one too (12).
     * 2 fails and is rolled back automatically (13). 3 succeeds and stays.
     * 14 reverts a deployment not given (before the period): nothing.
     */
    struct dora_deployment d[] = {
        ok(1, MON + 1 * H, 10),
        ok(2, MON + 3 * H, 10),
        ok(3, MON + 5 * H, 10),
        rollback(10, MON + 2 * H, 1),
        rollback(11, MON + 2 * H + 1, 10),
        rollback(12, MON + 2 * H + 2, 11),
        rollback(13, MON + 3 * H + 1, 2),
        rollback(14, MON + 6 * H, 99),
    };
    d[1].state = DORA_FAILED;
    size_t n;
    struct dora_bucket *b = compute(DORA_ALL, MON, MON + DAY, d, 8, NULL, 0, &n);
    assert_int_equal(b[0].deployments, 2); /* 1 and 3: rollbacks never count */
    assert_int_equal(b[0].finished, 3);
    assert_int_equal(b[0].failed, 2); /* 1 (rolled back, once however many rollbacks) and 2 */
    assert_float_equal(b[0].failure_rate, 2.0 / 3.0, 1e-9);
    assert_int_equal(b[0].lead_time.n, 2); /* a deployment rolled back keeps its lead time */
    free(b);
    /* the rollback of 1 comes after the period: 1 still counts as failed */
    b = compute(DORA_ALL, MON, MON + 90 * 60 * S, d, 8, NULL, 0, &n);
    assert_int_equal(b[0].finished, 1);
    assert_int_equal(b[0].failed, 1);
    free(b);
    /* a rollback into another environment does not count here */
    d[3].env = "staging";
    b = compute(DORA_ALL, MON, MON + DAY, d, 8, NULL, 0, &n);
    assert_int_equal(b[0].failed, 1); /* only 2 */
    free(b);
    /* with an incident too, a deployment still fails once */
    d[3].env = "production";
    struct dora_incident in = {.id = 1,
                               .deployment_id = 1,
                               .env = "production",
                               .opened_ms = MON + 2 * H,
                               .closed_ms = MON + 2 * H + 60 * S};
    b = compute(DORA_ALL, MON, MON + DAY, d, 8, &in, 1, &n);
    assert_int_equal(b[0].failed, 2);
    assert_float_equal(b[0].restore.median_s, 60, 1e-9);
    free(b);
}

static void test_incident_across_the_period_end(void **state)
{
    (void)state;
    struct dora_deployment d = ok(1, MON + DAY - 2 * H, 10);
    d.state = DORA_FAILED;
    /* opened inside the period, closed a day after it ended: the whole time counts */
    struct dora_incident in = {.id = 1,
                               .deployment_id = 1,
                               .env = "production",
                               .opened_ms = MON + DAY - H,
                               .closed_ms = MON + 2 * DAY - H};
    size_t n;
    struct dora_bucket *b = compute(DORA_DAY, MON, MON + DAY, &d, 1, &in, 1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(b[0].restore.n, 1);
    assert_float_equal(b[0].restore.median_s, 86400, 1e-9);
    free(b);
    /* the period starts after it opened: not in it, even though it closed inside */
    b = compute(DORA_DAY, MON + DAY, MON + 2 * DAY, &d, 1, &in, 1, &n);
    assert_false(b[0].restore.has);
    assert_false(b[0].has_failure_rate); /* the deployment ended before the period */
    free(b);
}

static const struct tz *zone(const char *name)
{
    struct buf err = BUF_INIT;
    const struct tz *z = tz_get(name, &err);
    if (!z)
        fail_msg("%s: %s", name, err.data);
    buf_release(&err);
    return z;
}

static void test_time_zone_days(void **state)
{
    (void)state;
    /* Europe/Paris: 2026-03-29 has 23 hours (the clocks go forward at 02:00) */
    int64_t mar28 = 1774652400000LL, mar29 = 1774738800000LL, mar30 = 1774821600000LL,
            mar31 = 1774908000000LL;
    struct dora_params p = {.env = "production",
                            .from_ms = mar28 + 12 * H,
                            .to_ms = mar30 + H,
                            .interval = DORA_DAY,
                            .tz = zone("Europe/Paris")};
    /* 23:30 UTC on the 29th is 01:30 on the 30th in Paris; 22:59:59.999 UTC is the 29th */
    struct dora_deployment d[] = {ok(1, 1774823400000LL, 5), ok(2, mar30 - 1, 5), ok(3, mar29, 5)};
    struct dora_bucket *b = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    assert_int_equal(dora_compute(&p, d, 3, NULL, 0, &b, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(b[0].start_ms, mar28);
    assert_int_equal(b[0].end_ms, mar29);
    assert_int_equal(b[1].start_ms, mar29);
    assert_int_equal(b[1].end_ms, mar30);
    assert_int_equal(b[1].end_ms - b[1].start_ms, 23 * H);
    assert_int_equal(b[2].start_ms, mar30);
    assert_int_equal(b[2].end_ms, mar31);
    assert_int_equal(b[0].deployments, 0);
    assert_int_equal(b[1].deployments, 2); /* 2 and 3 */
    assert_int_equal(b[2].deployments, 1); /* 1 */
    struct buf date = BUF_INIT;
    dora_format_date_tz(b[2].start_ms, p.tz, &date);
    assert_string_equal(date.data, "2026-03-30");
    buf_reset(&date);
    dora_format_date(b[2].start_ms, &date);
    assert_string_equal(date.data, "2026-03-29"); /* in UTC, still the 29th */
    free(b);
    /* the same records in UTC: 1 and 2 fall on the 29th, 3 on the 28th; the period starts
     * at 23:00 UTC on the 27th */
    p.tz = NULL;
    p.from_ms = mar28;
    p.to_ms = mar31;
    assert_int_equal(dora_compute(&p, d, 3, NULL, 0, &b, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(b[0].start_ms, 1774569600000LL); /* 2026-03-27T00:00Z */
    assert_int_equal(b[0].deployments, 0);
    assert_int_equal(b[1].deployments, 1);
    assert_int_equal(b[2].deployments, 2);
    free(b);
    /* weeks from Monday in Paris: Monday 2026-03-23 00:00+01:00 to Monday the 30th 00:00+02:00 */
    p.tz = zone("Europe/Paris");
    p.interval = DORA_WEEK;
    p.from_ms = mar28;
    p.to_ms = mar30 + H;
    assert_int_equal(dora_compute(&p, d, 3, NULL, 0, &b, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].start_ms, 1774220400000LL);
    assert_int_equal(b[0].end_ms, mar30);
    assert_int_equal(b[0].end_ms - b[0].start_ms, 7 * DAY - H);
    assert_int_equal(b[0].deployments, 2);
    assert_int_equal(b[1].deployments, 1);
    free(b);
    /* a fixed offset: +10:00, days from 14:00 UTC */
    p.tz = zone("+10:00");
    p.interval = DORA_DAY;
    p.from_ms = MON;
    p.to_ms = MON + DAY;
    assert_int_equal(dora_compute(&p, NULL, 0, NULL, 0, &b, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].start_ms, MON - 10 * H);
    assert_int_equal(b[1].start_ms, MON + 14 * H);
    free(b);
    buf_release(&date);
    buf_release(&err);
}

static void test_time_zone_skipped_midnight(void **state)
{
    (void)state;
    /* America/Santiago: 2026-09-06 begins at 01:00 (-03), midnight is skipped */
    int64_t sep5 = 1788580800000LL, sep6 = 1788667200000LL, sep7 = 1788750000000LL;
    struct dora_params p = {.env = "production",
                            .from_ms = sep5 + H,
                            .to_ms = sep7 - H,
                            .interval = DORA_DAY,
                            .tz = zone("America/Santiago")};
    struct dora_span *sp = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT, date = BUF_INIT;
    assert_int_equal(dora_spans(&p, &sp, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(sp[0].start_ms, sep5);
    assert_int_equal(sp[0].end_ms, sep6);
    assert_int_equal(sp[1].start_ms, sep6);
    assert_int_equal(sp[1].end_ms, sep7);
    assert_int_equal(sp[1].end_ms - sp[1].start_ms, 23 * H);
    dora_format_date_tz(sp[1].start_ms, p.tz, &date);
    assert_string_equal(date.data, "2026-09-06");
    assert_int_equal(dora_span_index(&p, sp, n, sep6 - 1), 0);
    assert_int_equal(dora_span_index(&p, sp, n, sep6), 1);
    assert_int_equal(dora_span_index(&p, sp, n, sep7 - H), -1); /* to is outside */
    free(sp);
    /* a date alone, in that zone, is its first instant */
    int64_t ms = 0;
    assert_int_equal(dora_parse_time_tz("2026-09-06", p.tz, &ms, &err), 0);
    assert_int_equal(ms, sep6);
    buf_release(&err);
    buf_release(&date);
}

static void test_parse_time_in_a_zone(void **state)
{
    (void)state;
    const struct tz *paris = zone("Europe/Paris");
    int64_t ms = 0;
    struct buf err = BUF_INIT;
    assert_int_equal(dora_parse_time_tz("2026-03-29", paris, &ms, &err), 0);
    assert_int_equal(ms, 1774738800000LL); /* 2026-03-28T23:00Z */
    /* 02:30 does not exist that night: read with the offset before (+01:00), as mktime */
    assert_int_equal(dora_parse_time_tz("2026-03-29T02:30", paris, &ms, &err), 0);
    assert_int_equal(ms, 1774738800000LL + 150 * 60 * S); /* 01:30Z */
    /* 02:30 happens twice on 2026-10-25: the first (+02:00) */
    assert_int_equal(dora_parse_time_tz("2026-10-25T02:30", paris, &ms, &err), 0);
    assert_int_equal(ms, 1792879200000LL + 150 * 60 * S); /* 00:30Z */
    /* an explicit offset, or milliseconds, ignore the zone */
    assert_int_equal(dora_parse_time_tz("2026-03-29T00:00Z", paris, &ms, &err), 0);
    assert_int_equal(ms, 1774742400000LL);
    assert_int_equal(dora_parse_time_tz("1774742400000", paris, &ms, &err), 0);
    assert_int_equal(ms, 1774742400000LL);
    buf_release(&err);
}

static void test_bad_periods(void **state)
{
    (void)state;
    struct dora_params p = {.env = "production", .from_ms = MON, .to_ms = MON};
    struct dora_bucket *b = (void *)1;
    size_t n = 9;
    struct buf err = BUF_INIT;
    assert_int_equal(dora_compute(&p, NULL, 0, NULL, 0, &b, &n, &err), -1);
    assert_null(b);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.data, "'from' must come before 'to'"));
    buf_reset(&err);
    p.to_ms = MON + 3000 * DAY;
    p.interval = DORA_DAY;
    assert_int_equal(dora_compute(&p, NULL, 0, NULL, 0, &b, &n, &err), -1);
    assert_non_null(strstr(err.data, "use a longer interval"));
    buf_release(&err);
}

static void expect_time(const char *s, int64_t want)
{
    int64_t ms = -1;
    struct buf err = BUF_INIT;
    if (dora_parse_time(s, &ms, &err))
        fail_msg("%s: %s", s, err.data);
    assert_int_equal(ms, want);
    buf_release(&err);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t thu = MON + 3 * DAY;
    expect_time("2026-11-26", thu);
    expect_time("2026-11-26T09:30", thu + 9 * H + 30 * 60 * S);
    expect_time("2026-11-26T09:30:15Z", thu + 9 * H + 30 * 60 * S + 15 * S);
    expect_time("2026-11-26T09:30:15.25+01:00", thu + 8 * H + 30 * 60 * S + 15 * S + 250);
    expect_time("2026-11-26 00:00:00-00:30", thu + 30 * 60 * S);
    expect_time("1795651200000", thu);
    expect_time("0", 0);
    static const char *const bad[] = {"",
                                      "yesterday",
                                      "2026-13-01",
                                      "2026-02-29",
                                      "2026-11-26T25:00",
                                      "2026-11-26T10",
                                      "2026-11-26x",
                                      "2026-11-26T10:00:00+1",
                                      "1e9",
                                      "-5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        struct buf err = BUF_INIT;
        assert_int_equal(dora_parse_time(bad[i], &ms, &err), -1);
        assert_int_equal(ms, 42);
        assert_non_null(strstr(err.data, "is not a time"));
        buf_release(&err);
    }
    expect_time("2024-02-29", 1709164800000LL);
    struct buf out = BUF_INIT;
    dora_format_date(thu + DAY - 1, &out);
    assert_string_equal(out.data, "2026-11-26");
    buf_release(&out);
}

static void test_interval_names(void **state)
{
    (void)state;
    assert_int_equal(dora_interval_parse("day"), DORA_DAY);
    assert_int_equal(dora_interval_parse("week"), DORA_WEEK);
    assert_int_equal(dora_interval_parse("month"), DORA_MONTH);
    assert_int_equal(dora_interval_parse("all"), DORA_ALL);
    assert_int_equal(dora_interval_parse("year"), -1);
    assert_int_equal(dora_interval_parse(NULL), -1);
    assert_string_equal(dora_interval_name(DORA_WEEK), "week");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_empty_period),
        cmocka_unit_test(test_one_deployment),
        cmocka_unit_test(test_lead_time_even_and_odd),
        cmocka_unit_test(test_week_boundary),
        cmocka_unit_test(test_month_buckets),
        cmocka_unit_test(test_failure_rate),
        cmocka_unit_test(test_incident_spanning_buckets),
        cmocka_unit_test(test_open_incident),
        cmocka_unit_test(test_lead_time_falls_back_to_the_release),
        cmocka_unit_test(test_lead_time_from_first_commit),
        cmocka_unit_test(test_rollbacks),
        cmocka_unit_test(test_incident_across_the_period_end),
        cmocka_unit_test(test_time_zone_days),
        cmocka_unit_test(test_time_zone_skipped_midnight),
        cmocka_unit_test(test_parse_time_in_a_zone),
        cmocka_unit_test(test_bad_periods),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_interval_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tz_cache_clear();
    return rc;
}
