/*
 * pipeline_parse() at the API level: what a caller gets back. The exhaustive
 * file-based cases (every key, every message) live in tests/data/pipeline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pipeline.h"

static struct pipeline *parse_flags(const char *src, const struct pl_limits *lim, unsigned flags,
                                    struct diag_list *d)
{
    return pipeline_parse("p.yml", src, strlen(src), lim, flags, d);
}

/* Parses src expecting success without any diagnostic. */
static struct pipeline *parse_ok(const char *src)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = parse_flags(src, NULL, 0, &d);
    if (!p || d.n) {
        struct buf b = BUF_INIT;
        diag_render(&d, "p.yml", src, strlen(src), false, &b);
        fail_msg("unexpected diagnostics:\n%s", b.data);
    }
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.nwarnings, 0);
    diag_list_release(&d);
    return p;
}

/* The index of the diagnostic whose message contains fragment, or fails. */
static size_t find_diag(const struct diag_list *d, const char *fragment)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->v[i].msg, fragment))
            return i;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < d->n; i++)
        buf_addf(&b, "  %u:%u %s\n", d->v[i].pos.line, d->v[i].pos.col, d->v[i].msg);
    fail_msg("no diagnostic contains \"%s\"; got:\n%s", fragment, b.data);
    return 0;
}

/* Parses src expecting failure with exactly one error, at line:col, containing fragment. */
static void expect_error(const char *src, unsigned line, unsigned col, const char *fragment)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = parse_flags(src, NULL, 0, &d);
    assert_null(p);
    size_t i = find_diag(&d, fragment);
    if (d.nerrors != 1)
        fail_msg("%zu errors, expected 1 (\"%s\")", d.nerrors, fragment);
    assert_int_equal(d.v[i].sev, DIAG_ERROR);
    if (d.v[i].pos.line != line || d.v[i].pos.col != col)
        fail_msg("\"%s\" at %u:%u, expected %u:%u", d.v[i].msg, d.v[i].pos.line, d.v[i].pos.col,
                 line, col);
    diag_list_release(&d);
}

static const struct pl_job *job(const struct pipeline *p, const char *name)
{
    long i = pipeline_job_index(p, name);
    if (i < 0)
        fail_msg("no job '%s'", name);
    return &p->jobs[i];
}

static const char *kv(const struct pl_kvs *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].key, key))
            return l->v[i].value;
    return NULL;
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n  build: { run: make }\n");
    assert_string_equal(p->file, "p.yml");
    assert_null(p->name);
    assert_string_equal(p->main_branch, "main");
    assert_int_equal(p->env.n, 0);
    assert_int_equal(p->njobs, 1);
    const struct pl_job *j = &p->jobs[0];
    assert_string_equal(j->name, "build");
    assert_string_equal(j->base, "build");
    assert_int_equal(j->pos.line, 2);
    assert_int_equal(j->pos.col, 3);
    assert_int_equal(j->run.n, 1);
    assert_string_equal(j->run.v[0].s, "make");
    assert_int_equal(j->needs.n, 0);
    assert_int_equal(j->nneed, 0);
    assert_int_equal(j->env.n, 0);
    assert_int_equal(j->matrix.n, 0);
    assert_int_equal(j->when.events, PL_EV_ALL);
    assert_int_equal(j->when.branches.n, 0);
    assert_int_equal(j->when.tags.n, 0);
    assert_true(j->timeout_ms == 3600 * 1000);
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->artifacts.n, 0);
    assert_int_equal(j->reports.n, 0);
    assert_int_equal(j->cache_inputs.n, 0);
    assert_int_equal(j->secrets.n, 0);
    assert_int_equal(j->isolation, PL_ISO_NONE);
    assert_false(j->network);
    assert_true(j->checkout);
    assert_false(j->allow_failure);
    assert_false(p->release.present);
    assert_null(p->release.version);
    assert_int_equal(p->nenvs, 0);
    pipeline_free(p);
    pipeline_free(NULL);
}

static void test_top_level_values(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("name: quill\n"
                                  "branches: { main: trunk }\n"
                                  "env: { CFLAGS: -O2, JOBS: 4, EMPTY: }\n"
                                  "jobs:\n"
                                  "  build:\n"
                                  "    run: [./configure, make]\n"
                                  "    timeout: 1h30m\n"
                                  "    retries: 2\n"
                                  "    when: [main, tag]\n");
    assert_string_equal(p->name, "quill");
    assert_string_equal(p->main_branch, "trunk");
    assert_int_equal(p->env.n, 3);
    assert_string_equal(kv(&p->env, "CFLAGS"), "-O2");
    assert_string_equal(kv(&p->env, "JOBS"), "4");
    assert_string_equal(kv(&p->env, "EMPTY"), "");
    const struct pl_job *j = &p->jobs[0];
    assert_int_equal(j->run.n, 2);
    assert_string_equal(j->run.v[1].s, "make");
    assert_true(j->timeout_ms == 90 * 60 * 1000);
    assert_int_equal(j->retries, 2);
    assert_int_equal(j->when.events, PL_EV_MAIN | PL_EV_TAG);
    pipeline_free(p);
}

static void test_topological_order(void **state)
{
    (void)state;
    /* In the file: test needs build, deploy needs test and lint. Sorted: a job after
     * what it needs, otherwise the lowest file position first. */
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  deploy: { run: d, needs: [test, lint] }\n"
                                  "  test: { run: t, needs: build }\n"
                                  "  build: { run: b }\n"
                                  "  lint: { run: l }\n");
    assert_int_equal(p->njobs, 4);
    assert_string_equal(p->jobs[0].name, "build");
    assert_string_equal(p->jobs[1].name, "test");
    assert_string_equal(p->jobs[2].name, "lint");
    assert_string_equal(p->jobs[3].name, "deploy");
    assert_int_equal(pipeline_job_index(p, "build"), 0);
    assert_int_equal(pipeline_job_index(p, "deploy"), 3);
    /* needs resolved to the sorted indexes, in increasing order */
    const struct pl_job *d = job(p, "deploy");
    assert_int_equal(d->nneed, 2);
    assert_int_equal(d->need_idx[0], 1);
    assert_int_equal(d->need_idx[1], 2);
    /* as written, too */
    assert_int_equal(d->needs.n, 2);
    assert_string_equal(d->needs.v[0].s, "test");
    assert_int_equal(job(p, "test")->nneed, 1);
    assert_int_equal(job(p, "test")->need_idx[0], 0);
    for (size_t i = 0; i < p->njobs; i++)
        for (size_t k = 0; k < p->jobs[i].nneed; k++)
            assert_true(p->jobs[i].need_idx[k] < i);
    pipeline_free(p);
}

static void test_job_index(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  a: { run: x }\n"
                                  "  b:\n"
                                  "    run: y\n"
                                  "    matrix: { V: [1, 2] }\n");
    assert_int_equal(p->njobs, 3);
    assert_int_equal(pipeline_job_index(p, "a"), 0);
    assert_int_equal(pipeline_job_index(p, "b[1]"), 1);
    assert_int_equal(pipeline_job_index(p, "b[2]"), 2);
    assert_int_equal(pipeline_job_index(p, "b"), -1); /* the base names no single job */
    assert_int_equal(pipeline_job_index(p, "c"), -1);
    assert_int_equal(pipeline_job_index(p, ""), -1);
    assert_int_equal(pipeline_job_index(p, "A"), -1);
    pipeline_free(p);
}

static void test_matrix(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("env: { CC: cc, TOP: 1 }\n"
                                  "jobs:\n"
                                  "  build:\n"
                                  "    run: make CC=$CC\n"
                                  "    env: { CC: default, OPT: none }\n"
                                  "    matrix:\n"
                                  "      CC: [gcc, clang]\n"
                                  "      OPT: [O0, O2]\n"
                                  "      exclude: [{ CC: clang, OPT: O0 }]\n"
                                  "      include: [{ CC: clang, OPT: O2, SAN: address }]\n"
                                  "  test:\n"
                                  "    run: make check\n"
                                  "    needs: build\n");
    /* the last axis varies fastest; exclude removes; include extends */
    assert_int_equal(p->njobs, 4);
    static const char *const names[] = {"build[gcc,O0]", "build[gcc,O2]", "build[clang,O2,address]",
                                        "test"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(p->jobs[i].name, names[i]);
    const struct pl_job *j = &p->jobs[2];
    assert_string_equal(j->base, "build");
    assert_int_equal(j->pos.line, 3);
    /* matrix values in axis order, then include's extra keys */
    assert_int_equal(j->matrix.n, 3);
    assert_string_equal(j->matrix.v[0].key, "CC");
    assert_string_equal(j->matrix.v[0].value, "clang");
    assert_string_equal(j->matrix.v[1].key, "OPT");
    assert_string_equal(j->matrix.v[2].key, "SAN");
    assert_string_equal(j->matrix.v[2].value, "address");
    /* the job's env with the matrix values set: one entry per name, a matrix value
     * in the place of the job's own, the others last */
    assert_int_equal(j->env.n, 3);
    assert_string_equal(j->env.v[0].key, "CC");
    assert_string_equal(j->env.v[0].value, "clang");
    assert_int_equal(j->env.v[0].pos.line, 7); /* where the value comes from: the axis */
    assert_string_equal(j->env.v[1].key, "OPT");
    assert_string_equal(j->env.v[1].value, "O2");
    assert_string_equal(j->env.v[2].key, "SAN");
    assert_string_equal(j->env.v[2].value, "address");
    for (size_t i = 0; i < 3; i++) {
        const struct pl_kvs *env = &p->jobs[i].env;
        for (size_t a = 0; a < env->n; a++)
            for (size_t b = a + 1; b < env->n; b++)
                if (!strcmp(env->v[a].key, env->v[b].key))
                    fail_msg("%s: env has '%s' twice", p->jobs[i].name, env->v[a].key);
    }
    /* every combination shares the rest */
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(p->jobs[i].run.v[0].s, "make CC=$CC");
        assert_string_equal(p->jobs[i].base, "build");
    }
    /* the base name stands for every combination */
    const struct pl_job *t = job(p, "test");
    assert_int_equal(t->nneed, 3);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(t->need_idx[k], k);
    assert_int_equal(t->needs.n, 1);
    assert_string_equal(t->needs.v[0].s, "build");
    pipeline_free(p);
}

/*
 * One combination cannot be needed on its own: 'needs' takes job names, and
 * "b[2]" is not one (docs/pipeline.md, Names). resolve_job() in pipeline.c
 * still has a branch for full combination names, which this makes unreachable.
 */
static void test_needs_combination_refused(void **state)
{
    (void)state;
    expect_error("jobs:\n"
                 "  b: { run: x, matrix: { V: [1, 2] } }\n"
                 "  t: { run: y, needs: [b, 'b[2]'] }\n",
                 3, 27, "'b[2]' is not a valid job name");
}

static void test_release(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  test: { run: t, needs: [pkg] }\n"
                                  "  pkg:\n"
                                  "    run: make dist\n"
                                  "    artifacts: [dist/]\n"
                                  "    matrix: { ARCH: [x86, arm] }\n"
                                  "  doc: { run: make doc, artifacts: [doc/] }\n"
                                  "release:\n"
                                  "  from: [doc, pkg]\n");
    assert_true(p->release.present);
    assert_string_equal(p->release.version, "r{n}");
    assert_int_equal(p->release.pos.line, 9);
    assert_int_equal(p->release.from.n, 2);
    assert_string_equal(p->release.from.v[0].s, "doc");
    /* resolved after sorting: pkg[x86], pkg[arm], test, doc */
    assert_string_equal(p->jobs[0].name, "pkg[x86]");
    assert_string_equal(p->jobs[3].name, "doc");
    assert_int_equal(p->release.nfrom, 3);
    bool seen[4] = {false};
    for (size_t k = 0; k < p->release.nfrom; k++) {
        assert_true(p->release.from_idx[k] < p->njobs);
        seen[p->release.from_idx[k]] = true;
    }
    assert_true(seen[0]);
    assert_true(seen[1]);
    assert_false(seen[2]);
    assert_true(seen[3]);
    pipeline_free(p);

    p = parse_ok("jobs:\n  b: { run: x, artifacts: [a] }\n"
                 "release: { from: b, version: \"1.{n}+{short_sha}\" }\n");
    assert_string_equal(p->release.version, "1.{n}+{short_sha}");
    assert_int_equal(p->release.nfrom, 1);
    assert_int_equal(p->release.from_idx[0], 0);
    pipeline_free(p);
}

static void test_environments(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  b: { run: x, artifacts: [a] }\n"
                                  "release: { from: b }\n"
                                  "deploy:\n"
                                  "  - env: staging\n"
                                  "    run: ./install.sh\n"
                                  "  - env: production\n"
                                  "    approval: true\n"
                                  "    promote: manual\n"
                                  "    window: Mon-Fri 09:00-17:00 Europe/Paris\n"
                                  "    targets:\n"
                                  "      canary: { URL: http://c }\n"
                                  "      eu-1: {}\n"
                                  "      us-1:\n"
                                  "    waves:\n"
                                  "      - canary\n"
                                  "      - [us-1, eu-1]\n"
                                  "    run: ./install.sh\n"
                                  "    rollback: ./rollback.sh\n"
                                  "    verify:\n"
                                  "      bake: 10m\n"
                                  "      checks:\n"
                                  "        - http: $URL/health\n"
                                  "        - run: ./smoke.sh\n"
                                  "          timeout: 2m\n");
    assert_int_equal(p->nenvs, 2);
    const struct pl_environment *s = &p->envs[0];
    assert_string_equal(s->name, "staging");
    assert_int_equal(s->pos.line, 5);
    /* defaults: one target named after the environment, in one wave */
    assert_int_equal(s->ntargets, 1);
    assert_string_equal(s->targets[0].name, "staging");
    assert_int_equal(s->nwaves, 1);
    assert_int_equal(s->waves[0].n, 1);
    assert_int_equal(s->waves[0].targets[0], 0);
    assert_false(s->approval);
    assert_true(s->approval_timeout_ms == 0);
    assert_true(s->timeout_ms == 30 * 60 * 1000);
    assert_true(s->auto_promote);
    assert_int_equal(s->rollback.n, 0);
    assert_int_equal(s->window.nallow, 0);
    assert_int_equal(s->window.ndeny, 0);
    assert_int_equal(s->nchecks, 0);
    assert_true(s->bake_ms == 0);
    assert_true(s->monitor_ms == 0);
    assert_true(s->interval_ms == 10000);

    const struct pl_environment *e = &p->envs[1];
    assert_string_equal(e->name, "production");
    assert_true(e->approval);
    assert_true(e->approval_timeout_ms == 0);
    assert_false(e->auto_promote);
    assert_int_equal(e->ntargets, 3);
    assert_string_equal(e->targets[0].name, "canary");
    assert_string_equal(kv(&e->targets[0].vars, "URL"), "http://c");
    assert_string_equal(e->targets[2].name, "us-1");
    assert_int_equal(e->targets[2].vars.n, 0);
    /* waves hold indexes into targets, in the order written */
    assert_int_equal(e->nwaves, 2);
    assert_int_equal(e->waves[0].n, 1);
    assert_int_equal(e->waves[0].targets[0], 0);
    assert_int_equal(e->waves[1].n, 2);
    assert_int_equal(e->waves[1].targets[0], 2);
    assert_int_equal(e->waves[1].targets[1], 1);
    assert_int_equal(e->window.nallow, 1);
    assert_int_equal(e->window.allow[0].days, 0x1f);
    assert_int_equal(e->window.allow[0].start_min, 9 * 60);
    assert_string_equal(e->window.allow[0].tz, "Europe/Paris");
    assert_int_equal(e->rollback.n, 1);
    assert_true(e->bake_ms == 600000);
    assert_int_equal(e->nchecks, 2);
    assert_int_equal(e->checks[0].kind, PL_CHECK_HTTP);
    assert_string_equal(e->checks[0].subject, "$URL/health");
    assert_string_equal(e->checks[0].name, "http $URL/health");
    assert_int_equal(e->checks[0].nexpect, 1);
    assert_int_equal(e->checks[0].expect[0], 200);
    assert_true(e->checks[0].timeout_ms == 10000);
    assert_int_equal(e->checks[1].kind, PL_CHECK_RUN);
    assert_true(e->checks[1].timeout_ms == 120000);
    pipeline_free(p);
}

/* The fields the deployment engine reads, as the struct holds them: given
 * values, and "not given" as 0 where the engine picks the value. */
static void test_check_measurements(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  b: { run: x, artifacts: [a] }\n"
                                  "release: { from: b }\n"
                                  "deploy:\n"
                                  "  - env: production\n"
                                  "    run: ./install.sh\n"
                                  "    timeout: 5m\n"
                                  "    approval: { timeout: 2h }\n"
                                  "    verify:\n"
                                  "      interval: 30s\n"
                                  "      checks:\n"
                                  "        - http: http://x/health\n"
                                  "        - prometheus: up\n"
                                  "          server: http://p:9090\n"
                                  "          min: 1\n"
                                  "        - prometheus: rate(errors[5m])\n"
                                  "          server: http://p:9090\n"
                                  "          max: 0\n"
                                  "          interval: 250ms\n"
                                  "          count: 7\n"
                                  "          failure_limit: 2\n"
                                  "          error_limit: 0\n"
                                  "          on_no_data: fail\n"
                                  "        - prometheus: up\n"
                                  "          server: http://p:9090\n"
                                  "          min: 1\n"
                                  "          on_no_data: pass\n"
                                  "  - env: lab\n"
                                  "    run: ./install.sh\n"
                                  "    approval: {}\n");
    const struct pl_environment *e = &p->envs[0];
    assert_true(e->timeout_ms == 5 * 60 * 1000);
    assert_true(e->approval);
    assert_true(e->approval_timeout_ms == 2 * 3600 * 1000);
    assert_true(e->interval_ms == 30000);
    assert_int_equal(e->nchecks, 4);
    const struct pl_check *d = &e->checks[0];
    assert_int_equal(d->failure_limit, 0);
    assert_int_equal(d->error_limit, 4);
    assert_int_equal(d->count, 0);
    assert_true(d->interval_ms == 0); /* the engine uses e->interval_ms */
    assert_int_equal(d->on_no_data, PL_NODATA_INCONCLUSIVE);
    assert_int_equal(e->checks[1].on_no_data, PL_NODATA_INCONCLUSIVE);
    const struct pl_check *k = &e->checks[2];
    assert_true(k->interval_ms == 250);
    assert_int_equal(k->count, 7);
    assert_int_equal(k->failure_limit, 2);
    assert_int_equal(k->error_limit, 0);
    assert_int_equal(k->on_no_data, PL_NODATA_FAIL);
    assert_int_equal(e->checks[3].on_no_data, PL_NODATA_PASS);
    assert_string_equal(pl_no_data_name(PL_NODATA_INCONCLUSIVE), "inconclusive");
    assert_string_equal(pl_no_data_name(PL_NODATA_FAIL), "fail");
    assert_string_equal(pl_no_data_name(PL_NODATA_PASS), "pass");
    /* an empty mapping is approval without a deadline, as true is */
    assert_true(p->envs[1].approval);
    assert_true(p->envs[1].approval_timeout_ms == 0);
    assert_true(p->envs[1].timeout_ms == 30 * 60 * 1000);
    pipeline_free(p);
}

/* ---- errors -------------------------------------------------------------- */

static void test_error_returns_null(void **state)
{
    (void)state;
    const char *src = "jobs:\n"
                      "  unit:\n"
                      "    run: make\n"
                      "    neds: [build]\n";
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(src, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].sev, DIAG_ERROR);
    assert_string_equal(d.v[0].msg, "unknown key 'neds' in job 'unit' (did you mean 'needs'?)");
    assert_int_equal(d.v[0].pos.line, 4);
    assert_int_equal(d.v[0].pos.col, 5);
    assert_int_equal(d.v[0].pos.len, 4);
    diag_list_release(&d);
}

static void test_representative_errors(void **state)
{
    (void)state;
    expect_error("", 0, 0, "empty");
    expect_error("# nothing\n", 0, 0, "empty");
    expect_error("- a\n- b\n", 1, 1, "the pipeline must be a mapping");
    expect_error("name: x\n", 1, 1, "no 'jobs'");
    expect_error("jobs: {}\n", 1, 7, "'jobs' is empty");
    expect_error("jobs:\n  build: make\n", 2, 10, "write 'run: make'");
    expect_error("jobs:\n  build: { needs: [] }\n", 2, 3, "job 'build' has no 'run'");
    expect_error("jobs:\n  a: { run: x }\n  t: { run: y, needs: [bild] }\n", 3, 24,
                 "'needs' names unknown job 'bild'");
    expect_error("jobs:\n  a: { run: x, retries: 11 }\n", 2, 25, "an integer from 0 to 10");
    expect_error("jobs:\n  a: { run: x, timeout: 30 }\n", 2, 25, "no unit");
    expect_error("jobs:\n  a: { run: x }\n  a: { run: y }\n", 3, 3,
                 "job 'a' is defined twice (first at line 2)");
    expect_error("jobs:\n  'my job': { run: x }\n", 2, 3, "not a valid job name");
    expect_error("jobs:\n  a: { run: x, when: { branches: ['a b'] } }\n", 2, 35, "space");
    expect_error("jobs:\n  a: { run: x }\ndeploy:\n  - { env: prod, run: d }\n", 3, 1,
                 "'deploy' needs a 'release' section");
    /* invalid YAML is reported alone */
    expect_error("jobs:\n  a: { run: x\n", 2, 6, "invalid YAML"); /* where it opened */
    expect_error("jobs:\n  a: *nope\n", 2, 6, "unknown anchor 'nope'");
}

static void test_cycle(void **state)
{
    (void)state;
    struct diag_list d = DIAG_LIST_INIT;
    const char *src = "jobs:\n"
                      "  a: { run: x, needs: c }\n"
                      "  b: { run: x, needs: a }\n"
                      "  c: { run: x, needs: b }\n"
                      "  d: { run: x, needs: d }\n";
    assert_null(parse_flags(src, NULL, 0, &d));
    size_t i = find_diag(&d, "needs itself");
    assert_int_equal(d.v[i].pos.line, 5);
    diag_list_release(&d);

    src = "jobs:\n"
          "  a: { run: x, needs: c }\n"
          "  b: { run: x, needs: a }\n"
          "  c: { run: x, needs: b }\n"
          "  e: { run: x }\n";
    assert_null(parse_flags(src, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    i = find_diag(&d, "dependency cycle: ");
    /* the path is a real cycle, starting anywhere on it */
    const char *path = strstr(d.v[i].msg, "dependency cycle: ") + strlen("dependency cycle: ");
    static const char *const rotations[] = {"a -> c -> b -> a", "c -> b -> a -> c",
                                            "b -> a -> c -> b"};
    bool ok = false;
    for (size_t r = 0; r < 3; r++)
        ok = ok || !strcmp(path, rotations[r]);
    if (!ok)
        fail_msg("unexpected cycle path '%s'", path);
    /* reported at the 'needs' entry that closes it */
    assert_true(d.v[i].pos.line >= 2 && d.v[i].pos.line <= 4);
    assert_int_equal(d.v[i].pos.col, 23);
    diag_list_release(&d);
}

static void test_every_error_sorted(void **state)
{
    (void)state;
    const char *src = "jobs:\n"
                      "  a:\n"
                      "    run: x\n"
                      "    retries: many\n"
                      "    timeot: 5m\n"
                      "  b:\n"
                      "    isolation: docker\n";
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(src, NULL, 0, &d));
    assert_int_equal(d.nerrors, 4);
    assert_int_equal(d.n, 4);
    for (size_t i = 1; i < d.n; i++)
        assert_true(
            d.v[i - 1].pos.line < d.v[i].pos.line ||
            (d.v[i - 1].pos.line == d.v[i].pos.line && d.v[i - 1].pos.col <= d.v[i].pos.col));
    assert_int_equal(d.v[0].pos.line, 4);
    assert_non_null(strstr(d.v[1].msg, "did you mean 'timeout'?"));
    assert_int_equal(d.v[2].pos.line, 6); /* b has no run */
    assert_int_equal(d.v[3].pos.line, 7);
    diag_list_release(&d);
}

static void test_nul_byte(void **state)
{
    (void)state;
    static const char src[] = "jobs:\n  a: { run: \xc3\xa9x\0 }\n";
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(pipeline_parse("p.yml", src, sizeof(src) - 1, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    size_t i = find_diag(&d, "NUL byte");
    assert_int_equal(d.v[i].pos.line, 2);
    assert_int_equal(d.v[i].pos.col, 15); /* columns count characters, not bytes */
    diag_list_release(&d);
}

/* ---- warnings and flags ---------------------------------------------------- */

static void test_warnings_keep_pipeline(void **state)
{
    (void)state;
    const char *src = "jobs:\n"
                      "  a:\n"
                      "    run: x\n"
                      "    network: true\n"
                      "  b:\n"
                      "    run: y\n"
                      "    artifacts: [out/]\n";
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = parse_flags(src, NULL, 0, &d);
    assert_non_null(p);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.nwarnings, 2);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.v[0].sev, DIAG_WARNING);
    assert_int_equal(d.v[0].pos.line, 4);
    assert_non_null(strstr(d.v[0].msg, "'network' only matters with 'isolation: sandbox'"));
    assert_int_equal(d.v[1].sev, DIAG_WARNING);
    assert_int_equal(d.v[1].pos.line, 7);
    assert_non_null(strstr(d.v[1].msg, "job 'b' declares artifacts, but no job needs it"));
    assert_true(job(p, "a")->network);
    pipeline_free(p);
    diag_list_release(&d);
}

/*
 * Test and lint jobs are needed by nothing and released by nothing by nature:
 * strict or not, they get no warning. The unused job worth a warning is one
 * whose artifacts nothing takes, and it gets it either way.
 */
static void test_strict(void **state)
{
    (void)state;
    const char *src = "jobs:\n"
                      "  build: { run: make, artifacts: [app] }\n"
                      "  unit: { run: make check, needs: build }\n"
                      "  lint: { run: lint }\n"
                      "release: { from: build }\n";
    for (unsigned flags = 0; flags <= PL_STRICT; flags += PL_STRICT) {
        struct diag_list d = DIAG_LIST_INIT;
        struct pipeline *p = parse_flags(src, NULL, flags, &d);
        assert_non_null(p);
        assert_int_equal(d.n, 0);
        pipeline_free(p);
        diag_list_release(&d);

        p = parse_flags("jobs:\n"
                        "  build: { run: make, artifacts: [app] }\n"
                        "  doc: { run: make doc, artifacts: [doc/] }\n"
                        "  unit: { run: make check, needs: build }\n"
                        "release: { from: build }\n",
                        NULL, flags, &d);
        assert_non_null(p); /* warnings, not errors: the caller decides what strict means */
        assert_int_equal(d.nerrors, 0);
        assert_int_equal(d.nwarnings, 1);
        assert_non_null(strstr(d.v[0].msg, "job 'doc' declares artifacts, but no job needs it"));
        assert_int_equal(d.v[0].pos.line, 3);
        pipeline_free(p);
        diag_list_release(&d);
    }
}

/* The list may hold diagnostics from before: only new errors count. */
static void test_reused_diag_list(void **state)
{
    (void)state;
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags("jobs: {}\n", NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    struct pipeline *p = parse_flags("jobs:\n  a: { run: x }\n", NULL, 0, &d);
    assert_non_null(p);
    assert_int_equal(d.nerrors, 1);
    assert_int_equal(d.n, 1);
    pipeline_free(p);
    diag_list_release(&d);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_limits_default(void **state)
{
    (void)state;
    struct pl_limits lim;
    memset(&lim, 0xff, sizeof(lim));
    pipeline_limits_default(&lim);
    assert_int_equal(lim.max_bytes, 1 << 20);
    assert_int_equal(lim.max_jobs, 10000);
    assert_int_equal(lim.max_depth, 32);
    assert_int_equal(lim.max_string, 64 << 10);
    assert_int_equal(lim.max_nodes, 1000000);
    assert_int_equal(lim.max_expanded, 16 << 20);
}

static void expect_limit_error(const char *src, const struct pl_limits *lim, const char *fragment)
{
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(src, lim, 0, &d));
    assert_true(d.nerrors >= 1);
    (void)find_diag(&d, fragment);
    diag_list_release(&d);
    /* and the same file passes with the defaults */
    struct pipeline *p = parse_flags(src, NULL, 0, &d);
    if (!p)
        fail_msg("'%s' fails with the default limits: %s", src, d.n ? d.v[0].msg : "");
    pipeline_free(p);
    diag_list_release(&d);
}

static void test_limits_passed(void **state)
{
    (void)state;
    struct pl_limits lim;

    pipeline_limits_default(&lim);
    lim.max_bytes = 20;
    expect_limit_error("jobs:\n  a: { run: x }\n", &lim, "the limit");
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags("jobs:\n  a: { run: x }\n", &lim, 0, &d));
    assert_int_equal(d.v[0].pos.line, 0); /* about the whole file */
    diag_list_release(&d);
    lim.max_bytes = 22; /* exactly the file's size is allowed */
    struct pipeline *p = parse_flags("jobs:\n  a: { run: x }\n", &lim, 0, &d);
    assert_non_null(p);
    pipeline_free(p);
    diag_list_release(&d);

    pipeline_limits_default(&lim);
    lim.max_jobs = 2;
    expect_limit_error("jobs:\n  a: { run: x }\n  b: { run: x }\n  c: { run: x }\n", &lim,
                       "the limit is 2");
    expect_limit_error("jobs:\n  a: { run: x, matrix: { V: [1, 2, 3] } }\n", &lim,
                       "the matrix expands to 3 jobs; the limit is 2");
    p = parse_flags("jobs:\n  a: { run: x, matrix: { V: [1, 2] } }\n", &lim, 0, &d);
    assert_non_null(p);
    assert_int_equal(p->njobs, 2);
    pipeline_free(p);
    diag_list_release(&d);

    pipeline_limits_default(&lim);
    lim.max_depth = 3;
    expect_limit_error("jobs:\n  a: { run: [x] }\n", &lim, "nesting deeper than 3 levels");

    pipeline_limits_default(&lim);
    lim.max_string = 8;
    expect_limit_error("jobs:\n  a: { run: 123456789 }\n", &lim,
                       "a string of 9 bytes; the limit is 8");

    pipeline_limits_default(&lim);
    lim.max_nodes = 10;
    expect_limit_error("jobs:\n  a: { run: [1, 2, 3, 4, 5, 6, 7] }\n", &lim,
                       "the document expands to more than 10 nodes");
}

/* Hidden keys under 'jobs' are templates, not jobs: max_jobs does not count them. */
static void test_hidden_jobs_not_counted(void **state)
{
    (void)state;
    struct pl_limits lim;
    pipeline_limits_default(&lim);
    lim.max_jobs = 2;
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = parse_flags("jobs:\n"
                                     "  .tmpl: &t { run: x }\n"
                                     "  a: { run: x }\n"
                                     "  b: { run: y }\n",
                                     &lim, 0, &d);
    assert_non_null(p);
    assert_int_equal(p->njobs, 2);
    pipeline_free(p);
    diag_list_release(&d);
    /* and three jobs are still too many, with the count that says so */
    expect_limit_error("jobs:\n  .t: { run: x }\n  a: { run: x }\n  b: { run: y }\n"
                       "  c: { run: z }\n",
                       &lim, "the pipeline has 3 jobs; the limit is 2");
}

/* Past the diag list's cap: every error counted, the earliest kept, NULL returned. */
static void test_many_errors(void **state)
{
    (void)state;
    struct buf src = BUF_INIT;
    buf_adds(&src, "jobs:\n  a:\n    run: x\n");
    for (int i = 0; i < 60; i++)
        buf_addf(&src, "    bogus%02d: 1\n", i);
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(src.data, NULL, 0, &d));
    assert_int_equal(d.nerrors, 60);
    assert_int_equal(d.n, 50);
    assert_int_equal(d.dropped, 10);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.v[i].pos.line, 4 + i);
    struct buf out = BUF_INIT;
    diag_render(&d, "p.yml", src.data, src.len, false, &out);
    assert_non_null(strstr(out.data, "p.yml: 10 more diagnostics not shown\n"));
    buf_release(&out);
    diag_list_release(&d);

    /* a smaller cap set by the caller is honoured */
    d.max = 5;
    assert_null(parse_flags(src.data, NULL, 0, &d));
    assert_int_equal(d.nerrors, 60);
    assert_int_equal(d.n, 5);
    assert_non_null(
        strstr(d.v[4].msg, "unknown key 'bogus04' in job 'a'; expected one of: run, needs, "));
    diag_list_release(&d);
    buf_release(&src);
}

static void test_alias_bomb(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_adds(&b, ".l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++) {
        buf_addf(&b, ".l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            buf_addf(&b, "%s*l%d", k ? ", " : "", i - 1);
        buf_adds(&b, "]\n");
    }
    buf_adds(&b, "jobs:\n  a: { run: *l9 }\n");
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(b.data, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    (void)find_diag(&d, "the document expands to more than 1000000 nodes");
    diag_list_release(&d);
    buf_release(&b);
}

/*
 * The fuzzer's out-of-memory input (tests/fuzz/corpus/
 * invalid-alias-text-amplification.yml), smaller: a 32,000-byte string, a list
 * of aliases to it, and jobs that are aliases of one job running that list.
 * Under the node limit; refused for its size at the alias that passes 16 MiB,
 * before anything is copied.
 */
static void test_alias_text_amplification(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_adds(&b, ".big: &s ");
    for (int i = 0; i < 32000; i++)
        buf_addch(&b, 'x');
    buf_adds(&b, "\n.list: &L [");
    for (int i = 0; i < 100; i++)
        buf_adds(&b, i ? ", *s" : "*s");
    buf_adds(&b, "]\njobs:\n  j0: &J { run: *L }\n");
    for (int i = 1; i < 10; i++)
        buf_addf(&b, "  j%d: *J\n", i);
    /* 100 aliases make 3.2 MB: the list and j0..j3 hold 16 MB; j4 takes the
     * document past 16 MiB */
    struct diag_list d = DIAG_LIST_INIT;
    assert_null(parse_flags(b.data, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    size_t i = find_diag(&d, "the document expands to more than 16777216 bytes through aliases: "
                             "'*J' here stands for 3200003 bytes");
    assert_int_equal(d.v[i].pos.line, 8);
    assert_int_equal(d.v[i].pos.col, 7);
    diag_list_release(&d);
    buf_release(&b);
}

/* A matrix copies its job once per combination: the copies' text is bounded too. */
static void test_matrix_text_limit(void **state)
{
    (void)state;
    struct pl_limits lim;
    pipeline_limits_default(&lim);
    lim.max_expanded = 1000;
    /* a job of 15 bytes (its name and base "j", the command, their NULs) and 1-byte
     * values: 27 bytes a combination (the job, and "V" and its value three times) */
    const char *src = "jobs:\n"
                      "  j:\n"
                      "    run: '0123456789'\n"
                      "    matrix: { V: [a, b, c, d, e, f, g, h, i, j] }\n";
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = parse_flags(src, &lim, 0, &d);
    assert_non_null(p);
    pipeline_free(p);
    lim.max_expanded = 200;
    expect_limit_error(src, &lim,
                       "job 'j': the matrix expands to more than 200 bytes of text, the limit "
                       "for the expanded pipeline (each combination is a copy of the job)");
    /* what the jobs before it hold counts */
    lim.max_expanded = 300;
    src = "jobs:\n"
          "  a: { run: '0123456789012345678901234567890123456789012345678901234567890123456789' }\n"
          "  j:\n"
          "    run: '0123456789'\n"
          "    matrix: { V: [a, b, c, d, e, f, g, h, i, j] }\n";
    expect_limit_error(src, &lim,
                       "job 'j': the matrix expands to more than the 225 bytes of text that the "
                       "jobs before it leave of the limit of 300 for the expanded pipeline");
    /* include entries without axis keys extend every combination: counted as they go */
    lim.max_expanded = 1000;
    src = "jobs:\n"
          "  j:\n"
          "    run: '0123456789'\n"
          "    matrix:\n"
          "      V: [a, b, c, d, e, f, g, h, i, j]\n"
          "      include:\n"
          "        - { LONG: '0123456789012345678901234567890123456789' }\n";
    expect_limit_error(src, &lim, "job 'j': the matrix expands to more than 1000 bytes of text");
    diag_list_release(&d);

    /* At the default limit: a job with 2 KB of commands and 10,000 combinations
     * would be 20 MB of copies. */
    struct buf b = BUF_INIT;
    buf_adds(&b, "jobs:\n  j:\n    run:\n");
    for (int i = 0; i < 100; i++)
        buf_addf(&b, "      - echo 01234567890123456789 %02d\n", i);
    buf_adds(&b, "    matrix:\n      A: [");
    for (int i = 0; i < 100; i++)
        buf_addf(&b, "%sa%d", i ? ", " : "", i);
    buf_adds(&b, "]\n      B: [");
    for (int i = 0; i < 100; i++)
        buf_addf(&b, "%sb%d", i ? ", " : "", i);
    buf_adds(&b, "]\n");
    assert_null(parse_flags(b.data, NULL, 0, &d));
    assert_int_equal(d.nerrors, 1);
    (void)find_diag(&d, "job 'j': the matrix expands to more than 16777216 bytes of text");
    diag_list_release(&d);
    buf_release(&b);
}

/* include works as in GitHub Actions (their documentation's example). */
static void test_matrix_include_github(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  t:\n"
                                  "    run: x\n"
                                  "    matrix:\n"
                                  "      fruit: [apple, pear]\n"
                                  "      animal: [cat, dog]\n"
                                  "      include:\n"
                                  "        - color: green\n"
                                  "        - color: pink\n"
                                  "          animal: cat\n"
                                  "        - fruit: apple\n"
                                  "          shape: circle\n"
                                  "        - fruit: banana\n"
                                  "        - fruit: banana\n"
                                  "          animal: cat\n"
                                  "        - { fruit: pear, animal: dog }\n");
    static const char *const names[] = {
        "t[apple,cat,pink,circle]",
        "t[apple,dog,green,circle]",
        "t[pear,cat,pink]",
        "t[pear,dog,green]",
        "t[banana]",
        "t[banana,cat]",
    };
    assert_int_equal(p->njobs, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p->jobs[i].name, names[i]);
    /* an added value is overwritten in its place; an axis value never is */
    const struct pl_job *j = &p->jobs[0];
    assert_int_equal(j->matrix.n, 4);
    assert_string_equal(j->matrix.v[2].key, "color");
    assert_string_equal(j->matrix.v[2].value, "pink");
    assert_string_equal(kv(&j->env, "color"), "pink");
    /* a combination of its own holds exactly the entry's keys */
    assert_int_equal(p->jobs[4].matrix.n, 1);
    assert_string_equal(p->jobs[5].matrix.v[1].key, "animal");
    pipeline_free(p);

    /* repeating a combination changes nothing; entries without axis keys extend
     * every combination, also in a matrix whose combinations all come from include */
    p = parse_ok("jobs:\n"
                 "  t:\n"
                 "    run: x\n"
                 "    matrix:\n"
                 "      CC: [gcc, clang]\n"
                 "      include: [{ CC: gcc }, { CC: clang }, { OS: linux }]\n"
                 "  u:\n"
                 "    run: x\n"
                 "    matrix:\n"
                 "      include: [{ CC: gcc }, { OS: linux }]\n");
    assert_int_equal(p->njobs, 4);
    assert_string_equal(p->jobs[0].name, "t[gcc,linux]");
    assert_string_equal(p->jobs[1].name, "t[clang,linux]");
    /* without axes there is nothing to extend: each entry is a combination */
    assert_string_equal(p->jobs[2].name, "u[gcc]");
    assert_string_equal(p->jobs[3].name, "u[linux]");
    pipeline_free(p);

    /* an entry fits combinations left by exclude, or brings an excluded one back */
    p = parse_ok("jobs:\n"
                 "  t:\n"
                 "    run: x\n"
                 "    matrix:\n"
                 "      CC: [gcc, clang]\n"
                 "      exclude: [{ CC: clang }]\n"
                 "      include: [{ CC: clang, X: 1 }]\n");
    assert_int_equal(p->njobs, 2);
    assert_string_equal(p->jobs[0].name, "t[gcc]");
    assert_string_equal(p->jobs[1].name, "t[clang,1]");
    pipeline_free(p);
}

/* Numbers (prometheus thresholds) are decimal: strtod's hexadecimal, inf and nan are not. */
static void test_numbers(void **state)
{
    (void)state;
    static const char *const ok[] = {"0",  "16", "-5",   "+5",   "0.01",
                                     ".5", "5.", "1e-3", "1E+3", "-0.5e2"};
    static const double want[] = {0, 16, -5, 5, 0.01, 0.5, 5, 1e-3, 1e3, -50};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct buf src = BUF_INIT;
        buf_addf(&src,
                 "jobs: { b: { run: x, artifacts: [a] } }\n"
                 "release: { from: b }\n"
                 "deploy:\n"
                 "  - env: p\n"
                 "    run: d\n"
                 "    verify:\n"
                 "      checks: [{ prometheus: q, server: 'http://p', max: %s }]\n",
                 ok[i]);
        struct pipeline *p = parse_ok(src.data);
        assert_true(p->envs[0].checks[0].has_max);
        if (p->envs[0].checks[0].max != want[i])
            fail_msg("'%s' read as %g", ok[i], p->envs[0].checks[0].max);
        pipeline_free(p);
        buf_release(&src);
    }
    static const char *const bad[] = {"0x10", "-0x10", "0x1p3", "inf",  "+inf",  "-Infinity",
                                      "nan",  "NAN",   "1e999", "1e",   "e3",    ".",
                                      "+",    "1.2.3", "1_000", ".inf", "0b101", "1 2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf src = BUF_INIT, want_msg = BUF_INIT;
        buf_addf(&src,
                 "jobs: { b: { run: x, artifacts: [a] } }\n"
                 "release: { from: b }\n"
                 "deploy:\n"
                 "  - env: p\n"
                 "    run: d\n"
                 "    verify:\n"
                 "      checks: [{ prometheus: q, server: 'http://p', max: %s }]\n",
                 bad[i]);
        buf_addf(&want_msg, "'max' must be a decimal number, found '%s'", bad[i]);
        expect_error(src.data, 7, 58, want_msg.data);
        buf_release(&src);
        buf_release(&want_msg);
    }
}

static void test_variable_name_length(void **state)
{
    (void)state;
    struct buf src = BUF_INIT;
    char name[300];
    memset(name, 'V', sizeof(name));
    name[256] = '\0';
    buf_addf(&src, "env: { %s: 1 }\njobs: { a: { run: x } }\n", name);
    struct pipeline *p = parse_ok(src.data); /* 256 characters are allowed */
    pipeline_free(p);
    buf_reset(&src);
    name[256] = 'V';
    name[257] = '\0';
    buf_addf(&src, "env: { %s: 1 }\njobs: { a: { run: x } }\n", name);
    expect_error(src.data, 1, 8,
                 "env: variable name 'VVVVVVVVVVVVVVVVVVVV...' has 257 characters; the limit "
                 "is 256");
    /* for every kind of name: a secret, a matrix axis */
    buf_reset(&src);
    buf_addf(&src, "jobs: { a: { run: x, secrets: [%s] } }\n", name);
    expect_error(src.data, 1, 32, "secret name 'VVVVVVVVVVVVVVVVVVVV...' has 257 characters");
    buf_reset(&src);
    buf_addf(&src, "jobs: { a: { run: x, matrix: { %s: [1] } } }\n", name);
    expect_error(src.data, 1, 32, "matrix axis name 'VVVVVVVVVVVVVVVVVVVV...' has 257");
    buf_release(&src);
}

/* A scalar explicitly tagged !!null is null, whatever its text. */
static void test_null_tag(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("name: !!null ~\n"
                                  "env: { A: !!null ~, B: !!null '', C: !!str ~, D: ~ }\n"
                                  "jobs: { a: { run: x } }\n");
    assert_null(p->name);
    assert_string_equal(kv(&p->env, "A"), "");
    assert_string_equal(kv(&p->env, "B"), "");
    assert_string_equal(kv(&p->env, "C"), "~");
    assert_string_equal(kv(&p->env, "D"), "");
    pipeline_free(p);
    expect_error("jobs: { a: { run: !!null ~ } }\n", 1, 19,
                 "job 'a': 'run' must be a string or a list of strings, found null");
}

/* Workspace paths may contain spaces; branch and tag globs may not. */
static void test_paths_with_spaces(void **state)
{
    (void)state;
    struct pipeline *p = parse_ok("jobs:\n"
                                  "  a:\n"
                                  "    run: x\n"
                                  "    artifacts: ['My App.app/**', 'out/release notes.txt']\n"
                                  "    reports: ['test results/*.xml']\n"
                                  "    cache: { inputs: ['Package Files/*'] }\n"
                                  "  b: { run: y, needs: a }\n");
    const struct pl_job *j = job(p, "a");
    assert_string_equal(j->artifacts.v[0].s, "My App.app/**");
    assert_string_equal(j->reports.v[0].s, "test results/*.xml");
    assert_string_equal(j->cache_inputs.v[0].s, "Package Files/*");
    pipeline_free(p);
    expect_error("jobs: { a: { run: x, artifacts: [\"a\\tb\"] } }\n", 1, 34,
                 "job 'a': 'artifacts': pattern 'a\tb' contains a control character");
    expect_error("jobs: { a: { run: x, when: { tags: ['v 1'] } } }\n", 1, 37,
                 "pattern 'v 1' contains a space or control character");
}

/* The main branch against branch filters: in needs, in release.from, and in when itself. */
static void test_branch_filters_and_main(void **state)
{
    (void)state;
    /* b runs on main runs; a never runs on them */
    expect_error("jobs:\n"
                 "  a: { run: x, when: { branches: [foo] } }\n"
                 "  b: { run: y, when: main, needs: a }\n",
                 3, 35,
                 "job 'b' runs on main runs but needs 'a', whose 'when.branches' does not match "
                 "the main branch 'main'");
    /* the main branch is branches.main, matched as a glob */
    struct pipeline *p = parse_ok("branches: { main: trunk }\n"
                                  "jobs:\n"
                                  "  a: { run: x, when: { branches: [foo, 'tr*'] } }\n"
                                  "  b: { run: y, when: main, needs: a }\n"
                                  "  c: { run: y, when: { branches: ['feat/*'] }, needs: a }\n");
    pipeline_free(p);
    expect_error("branches: { main: trunk }\n"
                 "jobs:\n"
                 "  a: { run: x, when: { branches: [main] } }\n"
                 "  b: { run: y, when: [main, change], needs: a }\n",
                 4, 45, "whose 'when.branches' does not match the main branch 'trunk'");
    /* release.from */
    expect_error("jobs:\n"
                 "  a: { run: x, artifacts: [o], when: { branches: ['release/*'] } }\n"
                 "release: { from: a }\n",
                 3, 18,
                 "release: job 'a' does not run on main runs, where releases are made: its "
                 "'when.branches' does not match the main branch 'main'");
    /* filters that never apply, and a job that never runs on main runs: warnings */
    struct diag_list d = DIAG_LIST_INIT;
    p = parse_flags("jobs:\n"
                    "  a: { run: x, when: { events: main, tags: ['v*'] } }\n"
                    "  b: { run: x, when: { events: tag, branches: [main] } }\n"
                    "  c: { run: x, when: { events: [main, tag], branches: [dev] } }\n"
                    "  d: { run: x, when: { branches: [dev], tags: ['v*'] } }\n",
                    NULL, 0, &d);
    assert_non_null(p);
    assert_int_equal(d.nwarnings, 3);
    assert_int_equal(d.v[0].pos.line, 2);
    assert_string_equal(d.v[0].msg, "job 'a': 'when.tags' never applies: 'when.events' has no "
                                    "tag runs (add tag to the events, or remove the tags)");
    assert_int_equal(d.v[1].pos.line, 3);
    assert_string_equal(d.v[1].msg,
                        "job 'b': 'when.branches' never applies: 'when.events' has no main or "
                        "change runs (branch filters apply to those)");
    assert_int_equal(d.v[2].pos.line, 4);
    assert_string_equal(d.v[2].msg, "job 'c': 'when.branches' does not match the main branch "
                                    "'main', so the job never runs on main runs");
    pipeline_free(p);
    diag_list_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_top_level_values),
        cmocka_unit_test(test_topological_order),
        cmocka_unit_test(test_job_index),
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_needs_combination_refused),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_environments),
        cmocka_unit_test(test_check_measurements),
        cmocka_unit_test(test_error_returns_null),
        cmocka_unit_test(test_representative_errors),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_every_error_sorted),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_warnings_keep_pipeline),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_reused_diag_list),
        cmocka_unit_test(test_limits_default),
        cmocka_unit_test(test_limits_passed),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_hidden_jobs_not_counted),
        cmocka_unit_test(test_alias_text_amplification),
        cmocka_unit_test(test_matrix_text_limit),
        cmocka_unit_test(test_matrix_include_github),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_variable_name_length),
        cmocka_unit_test(test_null_tag),
        cmocka_unit_test(test_paths_with_spaces),
        cmocka_unit_test(test_branch_filters_and_main),
    };
    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
