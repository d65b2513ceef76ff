#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/jsonptr.h"

/* RFC 6901's example document (section 5), plus arrays to index. */
static const char doc_text[] =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, \"e^f\": 3, \"g|h\": 4,"
    " \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, \"m~n\": 8,"
    " \"~1\": \"tilde one\", \"01\": \"a member, not an index\","
    " \"deep\": {\"list\": [10, 11, {\"x\": null}, [true]]}, \"s\": \"text\"}";

static json_t *doc;

static int setup(void **state)
{
    (void)state;
    json_error_t e;
    doc = json_loads(doc_text, 0, &e);
    return doc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(doc);
    return 0;
}

/* The value at ptr, as compact JSON. */
static void expect_get(const char *ptr, const char *want)
{
    struct buf err = BUF_INIT;
    json_t *v = jsonptr_get(doc, ptr, &err);
    if (!v)
        fail_msg("'%s': %s", ptr, err.data);
    assert_int_equal(err.len, 0);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(s, want);
    free(s);
    buf_release(&err);
}

static void expect_none(const char *ptr, const char *why)
{
    struct buf err = BUF_INIT;
    assert_null(jsonptr_get(doc, ptr, &err));
    assert_string_equal(err.data, why);
    buf_release(&err);
}

static void test_rfc6901_examples(void **state)
{
    (void)state;
    char *whole = json_dumps(doc, JSON_COMPACT);
    expect_get("", whole);
    free(whole);
    expect_get("/foo", "[\"bar\",\"baz\"]");
    expect_get("/foo/0", "\"bar\"");
    expect_get("/", "0");
    expect_get("/a~1b", "1");
    expect_get("/c%d", "2");
    expect_get("/e^f", "3");
    expect_get("/g|h", "4");
    expect_get("/i\\j", "5");
    expect_get("/k\"l", "6");
    expect_get("/ ", "7");
    expect_get("/m~0n", "8");
}

static void test_escapes(void **state)
{
    (void)state;
    /* "~01" is '~' then '1', not '/': decoded left to right, once */
    expect_get("/~01", "\"tilde one\"");
    expect_none("/m~1n", "the document has no member \"m/n\"");
    expect_none("/a/b", "the document has no member \"a\"");
}

static void test_arrays(void **state)
{
    (void)state;
    expect_get("/foo/1", "\"baz\"");
    expect_get("/deep/list/0", "10");
    expect_get("/deep/list/2/x", "null");
    expect_get("/deep/list/3/0", "true");
    expect_none("/foo/2", "/foo has no element 2 (it has 2)");
    expect_none("/foo/99999999999999999999999999", "/foo has no element "
                                                   "99999999999999999999999999 (it has 2)");
    expect_none("/foo/-", "/foo: '-' is the position after the last element, not an element");
    expect_none("/foo/01", "/foo: '01' is not an array index (no leading zeros)");
    expect_none("/foo/00", "/foo: '00' is not an array index (no leading zeros)");
    expect_none("/foo/+1", "/foo: '+1' is not an array index");
    expect_none("/foo/-1", "/foo: '-1' is not an array index");
    expect_none("/foo/1x", "/foo: '1x' is not an array index");
    expect_none("/foo/", "/foo: '' is not an array index");
    expect_none("/deep/list/3/1", "/deep/list/3 has no element 1 (it has 1)");
    /* in an object, "01" and "-" are member names like any other */
    expect_get("/01", "\"a member, not an index\"");
    expect_none("/-", "the document has no member \"-\"");
}

static void test_through_scalars(void **state)
{
    (void)state;
    expect_none("/s/0", "/s is a string, not an object or an array");
    expect_none("/foo/0/x", "/foo/0 is a string, not an object or an array");
    expect_none("/deep/list/0/x", "/deep/list/0 is a number, not an object or an array");
    expect_none("/deep/list/2/x/y", "/deep/list/2/x is null, not an object or an array");
    expect_none("/deep/list/3/0/y", "/deep/list/3/0 is true, not an object or an array");
}

static void expect_syntax_error(const char *ptr, const char *why)
{
    struct buf err = BUF_INIT;
    assert_int_equal(jsonptr_check(ptr, &err), -1);
    assert_string_equal(err.data, why);
    buf_reset(&err);
    assert_null(jsonptr_get(doc, ptr, &err));
    assert_string_equal(err.data, why);
    buf_release(&err);
}

static void test_syntax(void **state)
{
    (void)state;
    struct buf err = BUF_INIT;
    const char *good[] = {"", "/", "//", "/a~0~1", "/~0", "/~1/~0/x", "/0/-/01", NULL};
    for (size_t i = 0; good[i]; i++) {
        if (jsonptr_check(good[i], &err))
            fail_msg("'%s': %s", good[i], err.data);
    }
    assert_int_equal(err.len, 0);
    buf_release(&err);
    const char *start = "a JSON pointer is \"\" (the whole document) or starts with '/'";
    expect_syntax_error("foo", start);
    expect_syntax_error("$.foo", start);
    expect_syntax_error("#/foo", start); /* the URI fragment form is not taken */
    expect_syntax_error("/a~2", "'~' at offset 2 is not followed by 0 or 1: write '~0' for '~' "
                                "and '~1' for '/'");
    expect_syntax_error("/a~", "'~' at offset 2 is not followed by 0 or 1: write '~0' for '~' "
                               "and '~1' for '/'");
    expect_syntax_error("/~0/~~", "'~' at offset 4 is not followed by 0 or 1: write '~0' for "
                                  "'~' and '~1' for '/'");
}

static void expect_number(double d, const char *want)
{
    struct buf b = BUF_INIT;
    jsonptr_number(d, &b);
    assert_string_equal(b.data, want);
    buf_release(&b);
}

static void test_numbers(void **state)
{
    (void)state;
    /* RFC 8785's examples (appendix B) and ECMAScript's rules */
    expect_number(0, "0");
    expect_number(-0.0, "0");
    expect_number(1, "1");
    expect_number(-1, "-1");
    expect_number(1.5, "1.5");
    expect_number(0.1, "0.1");
    expect_number(100, "100");
    expect_number(1e21, "1e+21");
    expect_number(1e20, "100000000000000000000");
    expect_number(123456789012345680000.0, "123456789012345680000");
    expect_number(1e-6, "0.000001");
    expect_number(1e-7, "1e-7");
    expect_number(1.5e-7, "1.5e-7");
    expect_number(-1.5e300, "-1.5e+300");
    expect_number(5e-324, "5e-324");
    expect_number(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_number(9007199254740994.0, "9007199254740994");
    expect_number(0.3 - 0.1, "0.19999999999999998");
    expect_number(295147905179352830000.0, "295147905179352830000");
    expect_number(333333333.3333333, "333333333.3333333");
}

static void expect_text(const char *json, const char *want)
{
    struct buf b = BUF_INIT;
    json_error_t e;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(v);
    if (want) {
        assert_int_equal(jsonptr_text(v, &b), 0);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
    } else {
        assert_int_equal(jsonptr_text(v, &b), -1);
        assert_int_equal(b.len, 0);
    }
    json_decref(v);
    buf_release(&b);
}

static void test_text(void **state)
{
    (void)state;
    expect_text("\"ok\"", "ok");
    expect_text("\"\"", "");
    expect_text("\"a\\nb\\u00e9\"", "a\nb\xc3\xa9");
    expect_text("42", "42");
    expect_text("-0", "0");
    expect_text("9223372036854775807", "9223372036854775807"); /* exact, not via a double */
    expect_text("1.0", "1");
    expect_text("1e2", "100");
    expect_text("2.50", "2.5");
    expect_text("1E-7", "1e-7");
    expect_text("true", "true");
    expect_text("false", "false");
    expect_text("null", "null");
    expect_text("{\"a\": 1}", NULL);
    expect_text("[1]", NULL);
    assert_string_equal(jsonptr_type_name(json_object_get(doc, "foo")), "an array");
    assert_string_equal(jsonptr_type_name(doc), "an object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6901_examples),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_through_scalars),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
