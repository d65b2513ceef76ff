#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "deploy/check.h"

static const char *const vars[] = {
    "URL=http://127.0.0.1:8081", "PORT=9090", "EMPTY=", "A_1=x", "URL=shadowed", NULL,
};

static void expect_expand(const char *in, const char *want)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    if (check_expand(in, vars, &out, &err))
        fail_msg("'%s': %s", in, err.data);
    assert_string_equal(out.data, want);
    assert_int_equal(err.len, 0);
    buf_release(&out);
    buf_release(&err);
}

static void expect_expand_error(const char *in, const char *want)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(check_expand(in, vars, &out, &err), -1);
    assert_string_equal(err.data, want);
    buf_release(&out);
    buf_release(&err);
}

static void test_expand(void **state)
{
    (void)state;
    expect_expand("", "");
    expect_expand("no variables", "no variables");
    expect_expand("$URL/health", "http://127.0.0.1:8081/health");
    expect_expand("${URL}/health", "http://127.0.0.1:8081/health");
    expect_expand("http://127.0.0.1:${PORT}0", "http://127.0.0.1:90900");
    expect_expand("$PORT$PORT", "90909090");
    expect_expand("a${EMPTY}b$EMPTY", "ab");
    expect_expand("$A_1.y", "x.y");
    /* The first definition wins. */
    expect_expand("$URL", "http://127.0.0.1:8081");
    /* $$ is a dollar; a dollar before no name stays (PromQL regexes end in one). */
    expect_expand("cost $$5", "cost $5");
    expect_expand("{path=~\"/api$\"}", "{path=~\"/api$\"}");
    expect_expand("a$ b$", "a$ b$");
    expect_expand("$1 $-", "$1 $-");
    expect_expand("$$URL", "$URL");
}

static void test_expand_errors(void **state)
{
    (void)state;
    expect_expand_error("$NOPE/x", "undefined variable $NOPE");
    expect_expand_error("${NOPE}", "undefined variable $NOPE");
    /* A prefix of a defined name is another name. */
    expect_expand_error("$UR", "undefined variable $UR");
    expect_expand_error("$URLS", "undefined variable $URLS");
    expect_expand_error("${URL", "bad variable reference '${URL' (expected ${NAME})");
    expect_expand_error("${} x", "bad variable reference '${}' (expected ${NAME})");
    expect_expand_error("${1A}", "bad variable reference '${1A}' (expected ${NAME})");
    expect_expand_error("${A-b}", "bad variable reference '${A-b}' (expected ${NAME})");

    /* No variables at all. */
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(check_expand("$URL", NULL, &out, &err), -1);
    assert_string_equal(err.data, "undefined variable $URL");
    buf_reset(&err);
    buf_reset(&out);
    assert_int_equal(check_expand("plain", NULL, &out, &err), 0);
    assert_string_equal(out.data, "plain");
    buf_release(&out);
    buf_release(&err);
}

/* What fails before any I/O: a check the engine should never have built. */
static void test_errors_before_io(void **state)
{
    (void)state;
    struct check_result r;
    struct pl_check c = {.kind = PL_CHECK_PROMETHEUS, .subject = (char *)"up", .has_min = true};

    check_eval(&c, vars, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_false(r.has_value);
    assert_string_equal(r.message.data, "no Prometheus server given");
    assert_true(r.duration_ms >= 0);
    check_result_release(&r);

    c.server = (char *)"$PROM";
    check_eval(&c, vars, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_string_equal(r.message.data, "undefined variable $PROM in the Prometheus server");
    check_result_release(&r);

    c.server = (char *)"$URL";
    c.subject = (char *)"rate(x{job=\"$JOB\"}[1m])";
    check_eval(&c, vars, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_string_equal(r.message.data, "undefined variable $JOB in the query");
    check_result_release(&r);

    struct pl_check h = {.kind = PL_CHECK_HTTP, .subject = (char *)"${URL/health"};
    check_eval(&h, vars, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_string_equal(r.message.data,
                        "bad variable reference '${URL/health' (expected ${NAME}) in the URL");
    check_result_release(&r);

    struct pl_check k = {.kind = (enum pl_check_kind)42, .subject = (char *)"x"};
    check_eval(&k, NULL, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_string_equal(r.message.data, "unknown kind of check (42)");
    check_result_release(&r);

    struct pl_check none = {.kind = PL_CHECK_RUN};
    check_eval(&none, NULL, &r);
    assert_int_equal(r.outcome, CHECK_ERROR);
    assert_string_equal(r.message.data, "the check has no URL, command or query");
    check_result_release(&r);
}

/* A run check needs no server: the shape of its result, here; the rest in t0800. */
static void test_run(void **state)
{
    (void)state;
    struct check_result r;
    struct pl_check c = {.kind = PL_CHECK_RUN,
                         .subject = (char *)"echo \"$URL\"; printf 'no newline'; exit 7",
                         .timeout_ms = 20000};
    check_eval(&c, vars, &r);
    assert_int_equal(r.outcome, CHECK_FAIL);
    assert_true(r.has_value);
    assert_true(r.value == 7);
    assert_string_equal(r.message.data, "exit 7: no newline");
    assert_string_equal(r.output.data, "http://127.0.0.1:8081\nno newline");
    check_result_release(&r);

    /* Control characters in the last line do not break the message's line. */
    c.subject = (char *)"printf 'a\\tb\\033[31mc\\r\\n'";
    check_eval(&c, NULL, &r);
    assert_int_equal(r.outcome, CHECK_PASS);
    assert_string_equal(r.message.data, "exit 0: a b [31mc");
    check_result_release(&r);

    /* No output: no colon. */
    c.subject = (char *)"exit 1";
    check_eval(&c, NULL, &r);
    assert_string_equal(r.message.data, "exit 1");
    check_result_release(&r);
}

struct worker {
    pthread_t t;
    int n, ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char var[32], want[64];
    const char *const wvars[] = {var, NULL};
    struct pl_check c = {.kind = PL_CHECK_RUN,
                         .subject = (char *)"sleep 0.05; echo \"n=$N\"; exit $N",
                         .timeout_ms = 30000};
    snprintf(var, sizeof(var), "N=%d", w->n);
    snprintf(want, sizeof(want), "exit %d: n=%d", w->n, w->n);
    for (int i = 0; i < 3; i++) {
        struct check_result r;
        check_eval(&c, wvars, &r);
        w->ok += r.outcome == (w->n ? CHECK_FAIL : CHECK_PASS) && r.value == w->n &&
                 !strcmp(r.message.data, want);
        check_result_release(&r);
    }
    return NULL;
}

/* Several threads at once (the engine's worker pool): each gets its own child's status. */
static void test_threads(void **state)
{
    (void)state;
    struct worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.n = i, .ok = 0};
        assert_int_equal(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(w[i].t, NULL);
        assert_int_equal(w[i].ok, 3);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),           cmocka_unit_test(test_expand_errors),
        cmocka_unit_test(test_errors_before_io), cmocka_unit_test(test_run),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
