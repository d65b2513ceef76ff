#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/stages.h"

#define S   1000LL
#define DAY (86400 * S)
#define MON 1795392000000LL /* Monday 2026-11-23 00:00 UTC */
#define T1  MON             /* the first release's day */
#define T2  (MON + DAY)     /* the others' */

/*
 * R1 (day 1): a change run 0-40 s, its main run 50-90 s, the release at
 * 100 s; staging 101-120 s; production 120-400 s through the line, approval,
 * two waves, a pause and monitoring; a second production deployment of R1
 * was superseded. R2 (day 2): no change run; it fails in staging after
 * waiting for the window; it also went to "qa", an environment the pipeline
 * does not name. R3 (day 2): still deploying in staging. R4: before the
 * period.
 */
static const struct stage_release rel[] = {
    {.id = 1,
     .version = "r1",
     .created_ms = T1 + 100 * S,
     .run_created_ms = T1 + 50 * S,
     .run_finished_ms = T1 + 90 * S,
     .change_created_ms = T1,
     .change_finished_ms = T1 + 40 * S},
    {.id = 2,
     .version = "r2",
     .created_ms = T2 + 1000 * S,
     .run_created_ms = T2 + 950 * S,
     .run_finished_ms = T2 + 990 * S},
    {.id = 3,
     .version = "r3",
     .created_ms = T2 + 2000 * S,
     .run_created_ms = T2 + 1950 * S,
     .run_finished_ms = T2 + 1990 * S},
    {.id = 4,
     .version = "r0",
     .created_ms = MON - 10 * S,
     .run_created_ms = MON - 60 * S,
     .run_finished_ms = MON - 20 * S},
};

static const struct stage_deployment deps[] = {
    {.id = 11,
     .release_id = 1,
     .env = "staging",
     .succeeded = true,
     .started = true,
     .created_ms = T1 + 101 * S,
     .finished_ms = T1 + 120 * S},
    {.id = 12,
     .release_id = 1,
     .env = "production",
     .succeeded = true,
     .started = true,
     .created_ms = T1 + 120 * S,
     .finished_ms = T1 + 400 * S},
    {.id = 13,
     .release_id = 1,
     .env = "production",
     .created_ms = T1 + 110 * S,
     .finished_ms = T1 + 120 * S},
    {.id = 14,
     .release_id = 2,
     .env = "staging",
     .started = true,
     .created_ms = T2 + 1000 * S,
     .finished_ms = T2 + 1020 * S},
    {.id = 15, .release_id = 3, .env = "staging", .started = true, .created_ms = T2 + 2000 * S},
    {.id = 16,
     .release_id = 2,
     .env = "qa",
     .succeeded = true,
     .started = true,
     .created_ms = T2 + 1000 * S,
     .finished_ms = T2 + 1005 * S},
    {.id = 17,
     .release_id = 4,
     .env = "staging",
     .succeeded = true,
     .started = true,
     .created_ms = MON - 10 * S,
     .finished_ms = MON},
};

#define E(dep, st, w, wt, t)                                                                       \
    {                                                                                              \
        .deployment_id = (dep), .state = (st), .wave = (w), .wait = (wt), .time_ms = (t)           \
    }
static const struct stage_event ev[] = {
    /* R1 production, out of order with the others on purpose */
    E(12, "queued", 0, "", T1 + 120 * S),         E(11, "queued", 0, "", T1 + 101 * S),
    E(12, "queued", 0, "line", T1 + 125 * S),     E(11, "deploying", 0, "", T1 + 103 * S),
    E(12, "approval", 0, "", T1 + 185 * S),       E(11, "succeeded", 0, "", T1 + 120 * S),
    E(12, "deploying", 0, "", T1 + 245 * S),      E(12, "baking", 0, "", T1 + 250 * S),
    E(12, "deploying", 1, "", T1 + 280 * S),      E(12, "baking", 1, "", T1 + 285 * S),
    E(12, "paused", 1, "decision", T1 + 300 * S), E(12, "monitoring", 1, "", T1 + 330 * S),
    E(12, "succeeded", 1, "", T1 + 400 * S),      E(13, "queued", 0, "", T1 + 110 * S),
    E(13, "superseded", 0, "", T1 + 120 * S),     E(14, "queued", 0, "", T2 + 1000 * S),
    E(14, "queued", 0, "window", T2 + 1001 * S),  E(14, "deploying", 0, "", T2 + 1010 * S),
    E(14, "failed", 0, "", T2 + 1020 * S),        E(15, "queued", 0, "", T2 + 2000 * S),
    E(15, "deploying", 0, "", T2 + 2001 * S),     E(16, "queued", 0, "", T2 + 1000 * S),
    E(16, "deploying", 0, "", T2 + 1000 * S),     E(16, "succeeded", 0, "", T2 + 1005 * S),
    E(17, "queued", 0, "", MON - 10 * S),         E(17, "succeeded", 0, "", MON),
};

static const char *const order[] = {"staging", "production"};

static void compute(enum dora_interval iv, struct stages_result *r)
{
    struct dora_params p = {.from_ms = MON, .to_ms = MON + 2 * DAY, .interval = iv};
    struct buf err = BUF_INIT;
    if (stages_compute(&p, order, 2, rel, 4, deps, 7, ev, sizeof(ev) / sizeof(ev[0]), r, &err))
        fail_msg("stages_compute: %s", err.data);
    buf_release(&err);
}

/* The index of a stage among r->keys, or fails. */
static size_t key(const struct stages_result *r, int env, enum stage_kind kind, int wave)
{
    struct stage_key k = {.env = env, .kind = kind, .wave = wave};
    for (size_t i = 0; i < r->nkeys; i++)
        if (!stage_key_cmp(&r->keys[i], &k))
            return i;
    fail_msg("no stage %d %s %d", env, stage_kind_name(kind), wave);
    return 0;
}

static const struct stage_time *in(const struct stage_release_times *t, int env,
                                   enum stage_kind kind, int wave)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].key.env == env && t->v[i].key.kind == kind && t->v[i].key.wave == wave)
            return &t->v[i];
    return NULL;
}

static void expect(const struct stages_result *r, size_t b, int env, enum stage_kind kind, int wave,
                   size_t n, double median, double p90)
{
    const struct dora_stat *s = &r->stats[key(r, env, kind, wave) * r->nspans + b];
    assert_int_equal(s->n, n);
    assert_true(s->has);
    assert_float_equal(s->median_s, median, 1e-9);
    assert_float_equal(s->p90_s, p90, 1e-9);
}

static void test_one_release(void **state)
{
    (void)state;
    struct stages_result r;
    compute(DORA_ALL, &r);
    assert_int_equal(r.nenvs, 3);
    assert_string_equal(r.envs[0], "staging");
    assert_string_equal(r.envs[1], "production");
    assert_string_equal(r.envs[2], "qa"); /* not in the pipeline: after */
    assert_int_equal(r.nreleases, 3);
    assert_string_equal(r.releases[0].release->version, "r3"); /* newest first */
    assert_string_equal(r.releases[2].release->version, "r1");
    const struct stage_release_times *t = &r.releases[2];
    /* in the order of the loop, each with its time */
    static const struct {
        int env;
        enum stage_kind kind;
        int wave;
        int64_t s;
    } want[] = {
        {-1, STAGE_CHANGE_CHECKS, 0, 40}, {-1, STAGE_MAIN_RUN, 0, 40}, {-1, STAGE_RELEASE, 0, 10},
        {0, STAGE_PROMOTION, 0, 1},       {0, STAGE_QUEUED, 0, 2},     {0, STAGE_DEPLOY, 1, 17},
        {1, STAGE_PROMOTION, 0, 0},       {1, STAGE_QUEUED, 0, 5},     {1, STAGE_LINE, 0, 60},
        {1, STAGE_APPROVAL, 0, 60},       {1, STAGE_DEPLOY, 1, 5},     {1, STAGE_BAKE, 1, 30},
        {1, STAGE_DEPLOY, 2, 5},          {1, STAGE_BAKE, 2, 15},      {1, STAGE_PAUSED, 0, 30},
        {1, STAGE_MONITORING, 0, 70},
    };
    assert_int_equal(t->n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < t->n; i++) {
        assert_int_equal(t->v[i].key.env, want[i].env);
        assert_int_equal(t->v[i].key.kind, want[i].kind);
        assert_int_equal(t->v[i].key.wave, want[i].wave);
        assert_int_equal(t->v[i].ms, want[i].s * S);
    }
    const struct stage_time *line = in(t, 1, STAGE_LINE, 0);
    assert_int_equal(line->start_ms, T1 + 125 * S);
    assert_int_equal(line->end_ms, T1 + 185 * S);
    struct buf name = BUF_INIT;
    stage_key_describe(&t->v[13].key, r.envs, &name);
    assert_string_equal(name.data, "production wave 2 bake");
    buf_reset(&name);
    stage_key_describe(&t->v[8].key, r.envs, &name);
    assert_string_equal(name.data, "production waiting behind the stopped line");
    buf_release(&name);
    stages_result_release(&r);
}

static void test_failed_and_unfinished(void **state)
{
    (void)state;
    struct stages_result r;
    compute(DORA_ALL, &r);
    const struct stage_release_times *r2 = &r.releases[1], *r3 = &r.releases[0];
    assert_null(in(r2, -1, STAGE_CHANGE_CHECKS, 0)); /* no change run */
    assert_int_equal(in(r2, 0, STAGE_WINDOW, 0)->ms, 9 * S);
    assert_int_equal(in(r2, 0, STAGE_DEPLOY, 1)->ms, 10 * S);
    /* failed in staging: the next environments have no promotion to wait for */
    assert_null(in(r2, 1, STAGE_PROMOTION, 0));
    assert_null(in(r2, 2, STAGE_PROMOTION, 0));
    assert_int_equal(in(r2, 2, STAGE_DEPLOY, 1)->ms, 5 * S);
    assert_int_equal(in(r2, 2, STAGE_QUEUED, 0)->ms, 0);
    /* still deploying: the deploy has not ended, so it is not counted yet */
    assert_int_equal(in(r3, 0, STAGE_QUEUED, 0)->ms, 1 * S);
    assert_null(in(r3, 0, STAGE_DEPLOY, 1));
    stages_result_release(&r);
}

static void test_aggregates(void **state)
{
    (void)state;
    struct stages_result r;
    compute(DORA_ALL, &r);
    assert_int_equal(r.nspans, 1);
    assert_int_equal(r.nkeys, 19);
    expect(&r, 0, -1, STAGE_CHANGE_CHECKS, 0, 1, 40, 40);
    expect(&r, 0, -1, STAGE_MAIN_RUN, 0, 3, 40, 40);
    expect(&r, 0, 0, STAGE_PROMOTION, 0, 3, 0, 0.8);  /* 0, 0, 1 */
    expect(&r, 0, 0, STAGE_QUEUED, 0, 3, 1, 1.8);     /* 1, 1, 2 */
    expect(&r, 0, 0, STAGE_DEPLOY, 1, 2, 13.5, 16.3); /* 10, 17 */
    expect(&r, 0, 1, STAGE_MONITORING, 0, 1, 70, 70);
    /* the keys in the order of the loop */
    for (size_t i = 1; i < r.nkeys; i++)
        assert_true(stage_key_cmp(&r.keys[i - 1], &r.keys[i]) < 0);
    stages_result_release(&r);
    /* per day: R1 on the first, R2 and R3 on the second */
    compute(DORA_DAY, &r);
    assert_int_equal(r.nspans, 2);
    expect(&r, 0, -1, STAGE_MAIN_RUN, 0, 1, 40, 40);
    expect(&r, 1, -1, STAGE_MAIN_RUN, 0, 2, 40, 40);
    const struct dora_stat *none = &r.stats[key(&r, -1, STAGE_CHANGE_CHECKS, 0) * r.nspans + 1];
    assert_false(none->has);
    assert_int_equal(none->n, 0);
    stages_result_release(&r);
}

static void test_empty(void **state)
{
    (void)state;
    struct dora_params p = {.from_ms = MON, .to_ms = MON + DAY, .interval = DORA_DAY};
    struct stages_result r;
    struct buf err = BUF_INIT;
    assert_int_equal(stages_compute(&p, order, 2, NULL, 0, NULL, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.nkeys, 0);
    assert_int_equal(r.nreleases, 0);
    assert_int_equal(r.nspans, 1);
    assert_int_equal(r.nenvs, 2);
    stages_result_release(&r);
    p.to_ms = MON;
    assert_int_equal(stages_compute(&p, order, 2, NULL, 0, NULL, 0, NULL, 0, &r, &err), -1);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_release),
        cmocka_unit_test(test_failed_and_unfinished),
        cmocka_unit_test(test_aggregates),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
