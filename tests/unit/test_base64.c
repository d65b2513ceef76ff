#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "util/base64.h"

/* RFC 4648, section 10. */
static const char *const vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        buf_reset(&b);
        base64_encode(vectors[i][0], strlen(vectors[i][0]), &b);
        assert_string_equal(b.data, vectors[i][1]);
        buf_reset(&b);
        assert_int_equal(base64_decode(vectors[i][1], strlen(vectors[i][1]), &b), 0);
        assert_string_equal(b.data, vectors[i][0]);
    }
    /* Appended. */
    buf_reset(&b);
    buf_adds(&b, "x=");
    base64_encode("foo", 3, &b);
    assert_int_equal(base64_decode("YmFy", 4, &b), 0);
    assert_string_equal(b.data, "x=Zm9vbar");
    buf_release(&b);
}

static void test_all_bytes_roundtrip(void **state)
{
    (void)state;
    unsigned char data[300];
    struct buf enc = BUF_INIT, dec = BUF_INIT;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(data); len += 1 + len / 8) {
        buf_reset(&enc);
        buf_reset(&dec);
        base64_encode(data, len, &enc);
        assert_int_equal(enc.len, (len + 2) / 3 * 4);
        assert_int_equal(base64_decode(enc.data, enc.len, &dec), 0);
        assert_int_equal(dec.len, len);
        assert_true(len == 0 || !memcmp(dec.data, data, len));
    }
    buf_release(&enc);
    buf_release(&dec);
}

static void test_url_safe_and_unpadded(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    /* 0xfb 0xff 0xbf: "+/+/" in the standard alphabet, "-_-_" in the URL-safe one. */
    assert_int_equal(base64_decode("-_-_", 4, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\xfb\xff\xbf", 3);
    buf_reset(&b);
    assert_int_equal(base64_decode("+/+/", 4, &b), 0);
    assert_memory_equal(b.data, "\xfb\xff\xbf", 3);
    buf_reset(&b);
    assert_int_equal(base64_decode("Zg", 2, &b), 0);
    assert_string_equal(b.data, "f");
    buf_reset(&b);
    assert_int_equal(base64_decode("Zm8", 3, &b), 0);
    assert_string_equal(b.data, "fo");
    buf_release(&b);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Z",        /* one character cannot be a byte */
        "Zm9vY",    /* nor can 4n+1 */
        "Zg=",      /* padding short of a multiple of 4 */
        "Zg===",    /* too much padding */
        "Z===",     /* three padding characters */
        "====",     /* padding alone */
        "Zm9v====", /* padding after a whole group */
        "Zg==Zg==", /* padding in the middle */
        "Zm=v",     /* padding inside a group */
        "Zm9v\n",   /* whitespace */
        " Zm9v",    /* whitespace */
        "Zm9v!A==", /* outside the alphabets */
        "Zh==",     /* non-zero left-over bits: "f" is Zg== */
        "Zm9=",     /* non-zero left-over bits: "fo" is Zm8= */
        "Zm8.",     /* outside the alphabets */
    };
    struct buf b = BUF_INIT;
    buf_adds(&b, "kept");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (base64_decode(bad[i], strlen(bad[i]), &b) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_string_equal(b.data, "kept");
    }
    /* A NUL inside the given length is not skipped. */
    assert_int_equal(base64_decode("Zm9v\0Zm9v", 9, &b), -EINVAL);
    assert_string_equal(b.data, "kept");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648),
        cmocka_unit_test(test_all_bytes_roundtrip),
        cmocka_unit_test(test_url_safe_and_unpadded),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
