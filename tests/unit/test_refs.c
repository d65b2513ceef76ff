#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/refs.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccc"
#define D "0123456789abcdef0123456789abcdef01234567"

static void parse_ok(const char *text, size_t max, struct ref_list *l)
{
    struct buf err = BUF_INIT;
    assert_int_equal(refs_parse(text, max, l, &err), 0);
    assert_int_equal(err.len, 0);
    buf_release(&err);
}

static void parse_error(const char *text, size_t max, int code, const char *fragment)
{
    struct ref_list l = {0};
    struct buf err = BUF_INIT;
    parse_ok(B " refs/heads/keep\n", 10, &l);
    assert_int_equal(refs_parse(text, max, &l, &err), code);
    if (!strstr(err.data, fragment))
        fail_msg("'%s' not in '%s'", fragment, err.data);
    /* the list is left as it was */
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "refs/heads/keep");
    refs_release(&l);
    buf_release(&err);
}

static void test_parse(void **state)
{
    (void)state;
    struct ref_list l = {0};
    parse_ok(A " refs/tags/v1\n" B " refs/heads/main\n" C " HEAD\n" C " refs/remotes/origin/x\n" C
               " refs/pull/1/head\n" C " refs/notes/commits\n" D " refs/heads/feature/x\n" C
               " refs/headsx/y\n" C " refs/heads/\n" C " refs/tagsy\n",
             10, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].name, "refs/heads/feature/x");
    assert_string_equal(l.v[0].sha, D);
    assert_string_equal(l.v[1].name, "refs/heads/main");
    assert_string_equal(l.v[1].sha, B);
    assert_string_equal(l.v[2].name, "refs/tags/v1");
    assert_string_equal(l.v[2].sha, A);

    assert_string_equal(refs_get(&l, "refs/heads/main"), B);
    assert_string_equal(refs_get(&l, "refs/tags/v1"), A);
    assert_string_equal(refs_get(&l, "refs/heads/feature/x"), D);
    assert_null(refs_get(&l, "refs/heads/feature"));
    assert_null(refs_get(&l, "refs/heads/zzz"));
    assert_null(refs_get(&l, "HEAD"));

    /* parsing again replaces the contents */
    parse_ok(A " refs/heads/other", 10, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "refs/heads/other");
    refs_release(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    refs_release(&l); /* twice is fine */
    refs_release(NULL);
}

static void test_parse_empty_and_order(void **state)
{
    (void)state;
    struct ref_list l = {0};
    parse_ok("", 0, &l);
    assert_int_equal(l.n, 0);
    assert_null(refs_get(&l, "refs/heads/main"));

    /* byte order, as git sorts: '-' < '/' < '0' < 'A' < '_' < 'a' */
    parse_ok(A " refs/heads/b\n" A " refs/heads/a_b\n" A " refs/heads/a/b\n" A " refs/heads/a-b\n" A
               " refs/heads/aB\n" A " refs/heads/a\n",
             10, &l);
    const char *want[] = {"refs/heads/a",  "refs/heads/a-b", "refs/heads/a/b",
                          "refs/heads/aB", "refs/heads/a_b", "refs/heads/b"};
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(l.v[i].name, want[i]);
    refs_release(&l);

    /* non-ASCII names are valid in git */
    parse_ok(A " refs/heads/caf\xc3\xa9\n", 1, &l);
    assert_int_equal(l.n, 1);
    refs_release(&l);
}

static void test_parse_duplicates(void **state)
{
    (void)state;
    struct ref_list l = {0};
    parse_ok(A " refs/heads/x\n" B " refs/heads/y\n" A " refs/heads/x\n", 2, &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "refs/heads/x");
    assert_string_equal(l.v[1].name, "refs/heads/y");
    refs_release(&l);
    parse_error(A " refs/heads/x\n" C " refs/heads/a\n" B " refs/heads/x\n" C " refs/heads/z\n", 10,
                -EINVAL, "ref 'refs/heads/x' is listed twice");
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_error("\n", 10, -EINVAL, "line 1");
    parse_error(A " refs/heads/a\n\n", 10, -EINVAL, "line 2");
    parse_error("abc refs/heads/a\n", 10, -EINVAL, "malformed ref line 1: 'abc refs/heads/a'");
    parse_error(A "a refs/heads/a\n", 10, -EINVAL, "line 1");
    parse_error("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA refs/heads/a\n", 10, -EINVAL, "line 1");
    parse_error("gggggggggggggggggggggggggggggggggggggggg refs/heads/a\n", 10, -EINVAL, "line 1");
    parse_error(A "  refs/heads/a\n", 10, -EINVAL, "line 1");
    parse_error(A "\trefs/heads/a\n", 10, -EINVAL, "line 1");
    parse_error(A " \n", 10, -EINVAL, "line 1");
    parse_error(A "\n", 10, -EINVAL, "line 1");
    parse_error(A " refs/heads/a b\n", 10, -EINVAL, "line 1");
    parse_error(A " refs/heads/a\r\n", 10, -EINVAL, "line 1: '" A " refs/heads/a?'");
    parse_error(A " refs/heads/a\x01x\n", 10, -EINVAL, "refs/heads/a?x");
    /* SHA-256 object names do not fit struct ref */
    parse_error(A A " refs/heads/a\n", 10, -EINVAL, "40-digit");
    /* a long line is shortened in the message */
    char longline[300];
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    parse_error(longline, 10, -EINVAL, "xxx...'");
}

static void test_parse_max(void **state)
{
    (void)state;
    struct ref_list l = {0};
    const char *three = A " refs/heads/a\n" B " refs/heads/b\n" C " refs/tags/c\n" C " HEAD\n";
    parse_ok(three, 3, &l);
    assert_int_equal(l.n, 3);
    refs_release(&l);
    parse_error(three, 2, -E2BIG, "too many refs: 3 branches and tags, the limit is 2");
    parse_error(A " refs/heads/a\n", 0, -E2BIG, "the limit is 0");
    parse_ok(C " HEAD\n", 0, &l); /* only kept refs count */
    assert_int_equal(l.n, 0);
    refs_release(&l);
}

static void test_diff(void **state)
{
    (void)state;
    struct ref_list old = {0}, new = {0};
    struct ref_event *ev = NULL;
    size_t n = 99;

    parse_ok(A " refs/heads/gone\n" A " refs/heads/main\n" B " refs/heads/same\n" A
               " refs/tags/v1\n",
             10, &old);
    parse_ok(B " refs/heads/main\n" C " refs/heads/new\n" B " refs/heads/same\n" C
               " refs/tags/v1\n" C " refs/tags/v2\n",
             10, &new);
    refs_diff(&old, &new, &ev, &n);
    assert_int_equal(n, 5);
    assert_int_equal(ev[0].change, REF_DELETED);
    assert_string_equal(ev[0].ref, "refs/heads/gone");
    assert_string_equal(ev[0].old, A);
    assert_string_equal(ev[0].new, "");
    assert_int_equal(ev[1].change, REF_UPDATED);
    assert_string_equal(ev[1].ref, "refs/heads/main");
    assert_string_equal(ev[1].old, A);
    assert_string_equal(ev[1].new, B);
    assert_int_equal(ev[2].change, REF_CREATED);
    assert_string_equal(ev[2].ref, "refs/heads/new");
    assert_string_equal(ev[2].old, "");
    assert_string_equal(ev[2].new, C);
    assert_int_equal(ev[3].change, REF_UPDATED);
    assert_string_equal(ev[3].ref, "refs/tags/v1");
    assert_int_equal(ev[4].change, REF_CREATED);
    assert_string_equal(ev[4].ref, "refs/tags/v2");
    refs_events_free(ev, n);

    /* nothing changed */
    refs_diff(&new, &new, &ev, &n);
    assert_int_equal(n, 0);
    refs_events_free(ev, n);

    /* from and to nothing */
    struct ref_list empty = {0};
    refs_diff(&empty, &empty, &ev, &n);
    assert_int_equal(n, 0);
    refs_events_free(ev, n);
    refs_diff(&empty, &old, &ev, &n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].change, REF_CREATED);
        assert_string_equal(ev[i].ref, old.v[i].name);
        assert_string_equal(ev[i].new, old.v[i].sha);
    }
    refs_events_free(ev, n);
    refs_diff(&old, &empty, &ev, &n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].change, REF_DELETED);
        assert_string_equal(ev[i].ref, old.v[i].name);
        assert_string_equal(ev[i].old, old.v[i].sha);
    }
    refs_events_free(ev, n);
    refs_events_free(NULL, 0);

    refs_release(&old);
    refs_release(&new);
}

static void test_branch_tag(void **state)
{
    (void)state;
    assert_string_equal(refs_branch("refs/heads/main"), "main");
    assert_string_equal(refs_branch("refs/heads/feature/x"), "feature/x");
    assert_null(refs_branch("refs/heads/"));
    assert_null(refs_branch("refs/heads"));
    assert_null(refs_branch("refs/tags/v1"));
    assert_null(refs_branch("refs/remotes/origin/main"));
    assert_null(refs_branch("main"));
    assert_null(refs_branch(""));
    assert_string_equal(refs_tag("refs/tags/v1"), "v1");
    assert_string_equal(refs_tag("refs/tags/release/1.0"), "release/1.0");
    assert_null(refs_tag("refs/tags/"));
    assert_null(refs_tag("refs/heads/v1"));
    assert_null(refs_tag("v1"));
}

static void test_name_ok(void **state)
{
    (void)state;
    static const char *const good[] = {
        "main",  "feature/x",   "v1.0",       "release/1.2.3",
        "a-b_c", "caf\xc3\xa9", "a.b/c.d",    "x@y",
        "@a",    "a@",          "foo.lock.x", "a/b-",
        "HEADS", "x{y}",        "a.lockx",    "lock",
        "a-",    "1",           "UPPER",      "a+b=c",
        "a,b;c", "a!b#c%d&e",   "a'b\"c",     "@@",
        "a/@/b", "x.loc",       "_",
    };
    static const char *const bad[] = {
        "",        "-x",   "/x",   "x/",   "x.lock", "a/b.lock/c", "x.",    "a..b",  "..",  ".",
        ".x",      "a/.b", "a//b", "a b",  "a\tb",   "a\nb",       "a\x7f", "a\x01", "a~1", "a^",
        "a:b",     "a?",   "a*",   "a[b",  "a\\b",   "@",          "a@{1}", "@{",    "x/.", ".lock",
        "a/.lock", "a/",   "/",    "a/b/", "-",      "a/..",       "HEAD",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!refs_name_ok(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (refs_name_ok(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_empty_and_order),
        cmocka_unit_test(test_parse_duplicates),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_max),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_branch_tag),
        cmocka_unit_test(test_name_ok),
    };
    return cmocka_run_group_tests_name("refs", tests, NULL, NULL);
}
