#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/mask.h"
#include "core/secret.h"
#include "util/base64.h"
#include "util/buf.h"

static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {"A", "_", "TOKEN", "DEPLOY_KEY_2", "_X9", "E2E_API_KEY"};
    static const char *const bad[] = {"",           "token",        "Token", "9LIVES", "A-B",
                                      "WITH SPACE", "FLYWHEEL_KEY", "É",     "A.B"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(secret_name_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(secret_name_valid(bad[i]));
    char name[SECRET_NAME_MAX + 2];
    memset(name, 'A', sizeof(name));
    name[SECRET_NAME_MAX] = '\0';
    assert_true(secret_name_valid(name));
    name[SECRET_NAME_MAX] = 'A';
    name[SECRET_NAME_MAX + 1] = '\0';
    assert_false(secret_name_valid(name));

    struct buf err = BUF_INIT;
    assert_int_equal(secret_name_check("TOKEN", &err), 0);
    assert_int_equal(err.len, 0);
    assert_int_equal(secret_name_check("my-token", &err), -EINVAL);
    assert_non_null(strstr(err.data, "'my-token' is not a valid secret name"));
    buf_reset(&err);
    assert_int_equal(secret_name_check("FLYWHEEL_X", &err), -EINVAL);
    assert_non_null(strstr(err.data, "reserved"));
    buf_reset(&err);
    assert_int_equal(secret_name_check(name, &err), -EINVAL);
    assert_non_null(strstr(err.data, "the limit is 256"));
    buf_release(&err);
}

static void test_values(void **state)
{
    (void)state;
    struct buf err = BUF_INIT;
    assert_int_equal(secret_value_check("12345678", 8, &err), 0);
    assert_int_equal(secret_value_check("1234567", 7, &err), -EINVAL);
    /* says why, and never quotes the value */
    assert_non_null(strstr(err.data, "at least 8"));
    assert_non_null(strstr(err.data, "destroy the logs"));
    assert_null(strstr(err.data, "1234567"));
    buf_reset(&err);
    assert_int_equal(secret_value_check("abc\0defgh", 9, &err), -EINVAL);
    assert_non_null(strstr(err.data, "NUL"));
    buf_reset(&err);
    assert_int_equal(secret_value_check(" \n\t      ", 9, &err), -EINVAL);
    assert_non_null(strstr(err.data, "white space"));
    buf_reset(&err);
    static char big[SECRET_VALUE_MAX + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(secret_value_check(big, SECRET_VALUE_MAX, &err), 0);
    assert_int_equal(secret_value_check(big, SECRET_VALUE_MAX + 1, &err), -EINVAL);
    assert_non_null(strstr(err.data, "65536"));
    assert_int_equal(secret_value_check("line one\nline two\n", 18, &err), 0);
    buf_release(&err);
}

static void to_buf(void *ctx, const char *data, size_t len)
{
    buf_add(ctx, data, len);
}

/* text masked with the forms of value. */
static void mask_text(const char *value, size_t vlen, const char *text, size_t n, struct buf *out)
{
    struct mask_set *s = mask_set_new();
    assert_int_equal(secret_mask_add(s, value, vlen), 0);
    struct mask *m = mask_new(s);
    for (size_t i = 0; i < n; i++) /* one byte at a time, as a job may write */
        mask_feed(m, text + i, 1, to_buf, out);
    mask_flush(m, to_buf, out);
    mask_free(m);
    mask_set_free(s);
}

static bool contains(const struct buf *b, const char *s, size_t n)
{
    return n <= b->len && memmem(b->data, b->len, s, n) != NULL;
}

static void test_forms_single_line(void **state)
{
    (void)state;
    const char *v = "hunter2 is/my+pass";
    size_t n = strlen(v);
    struct buf text = BUF_INIT, out = BUF_INIT, b64 = BUF_INIT, url = BUF_INIT;
    base64_encode(v, n, &b64);
    buf_adds(&url, "hunter2%20is%2Fmy%2Bpass");
    buf_addf(&text, "plain: %s\n", v);
    buf_addf(&text, "b64: %s\n", b64.data);
    buf_addf(&text, "b64 unpadded: %.*s!\n", (int)strcspn(b64.data, "="), b64.data);
    buf_addf(&text, "url: %s\n", url.data);
    buf_addf(&text, "url lower: hunter2%%20is%%2fmy%%2bpass\n");
    buf_addf(&text, "form: hunter2+is%%2Fmy%%2Bpass\n");
    buf_adds(&text, "all: ");
    for (size_t i = 0; i < n; i++)
        buf_addf(&text, "%%%02x", (unsigned char)v[i]);
    buf_addch(&text, '\n');
    mask_text(v, n, text.data, text.len, &out);
    assert_false(contains(&out, v, n));
    assert_false(contains(&out, b64.data, b64.len));
    assert_false(contains(&out, url.data, url.len));
    assert_string_equal(out.data, "plain: ***\n"
                                  "b64: ***\n"
                                  "b64 unpadded: ***!\n"
                                  "url: ***\n"
                                  "url lower: ***\n"
                                  "form: ***\n"
                                  "all: ***\n");

    /* encodeURIComponent keeps ! ' ( ) *; jq's @uri too */
    buf_reset(&out);
    const char *js = "js: my%20pass!word(1)*x, rfc: my%20pass%21word%281%29%2Ax, all: "
                     "%6D%79%20%70%61%73%73%21%77%6F%72%64%28%31%29%2A%78.";
    mask_text("my pass!word(1)*x", 17, js, strlen(js), &out);
    assert_string_equal(out.data, "js: ***, rfc: ***, all: ***.");

    /* URL-safe Base64 */
    struct buf u = BUF_INIT;
    buf_add(&u, b64.data, b64.len);
    for (size_t i = 0; i < u.len; i++)
        u.data[i] = u.data[i] == '+' ? '-' : u.data[i] == '/' ? '_' : u.data[i];
    buf_reset(&out);
    mask_text(v, n, u.data, u.len, &out);
    assert_string_equal(out.data, "***");

    /* The value inside something encoded: at each of the three offsets, the
     * characters made of its bits only are hidden. */
    for (size_t k = 0; k < 3; k++) {
        struct buf in = BUF_INIT, enc = BUF_INIT;
        buf_add(&in, "{\"password\": \"xy", 14 + k);
        buf_add(&in, v, n);
        buf_adds(&in, "\"}");
        base64_encode(in.data, in.len, &enc);
        buf_reset(&out);
        mask_text(v, n, enc.data, enc.len, &out);
        assert_non_null(strstr(out.data, "***"));
        /* what is left is the encoding of the text around the value, a character or two more */
        assert_true(out.len <= enc.len - (n * 8 / 6 - 3) + 3);
        buf_release(&in);
        buf_release(&enc);
    }
    buf_release(&u);
    buf_release(&text);
    buf_release(&out);
    buf_release(&b64);
    buf_release(&url);
}

static void collect(void *ctx, const char *form, size_t len)
{
    struct buf *b = ctx;
    buf_add(b, form, len);
    buf_addch(b, '\n');
}

static void test_forms_multi_line(void **state)
{
    (void)state;
    const char *v = "-----BEGIN TEST KEY-----\r\n"
                    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\r\n"
                    "short\r\n"
                    "        \r\n"
                    "\r\n"
                    "-----END TEST KEY-----\r\n";
    size_t n = strlen(v);
    struct buf forms = BUF_INIT;
    secret_forms(v, n, collect, &forms);
    /* its lines first, without their line ends; short and blank lines left out */
    assert_int_equal(strncmp(forms.data,
                             "-----BEGIN TEST KEY-----\n"
                             "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
                             "-----END TEST KEY-----\n",
                             strlen("-----BEGIN TEST KEY-----\n"
                                    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
                                    "-----END TEST KEY-----\n")),
                     0);
    assert_null(strstr(forms.data, "short\n"));
    assert_int_equal(secret_short_lines(v, n), 2);
    assert_int_equal(secret_short_lines("single line value", 17), 0);

    /* printed as it is (the lines with \n only), and Base64 wrapped at 76 */
    struct buf text = BUF_INIT, out = BUF_INIT, b64 = BUF_INIT;
    buf_adds(&text, "key:\n-----BEGIN TEST KEY-----\n"
                    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nshort\n"
                    "-----END TEST KEY-----\nb64:\n");
    base64_encode(v, n, &b64);
    for (size_t at = 0; at < b64.len; at += 76) {
        buf_add(&text, b64.data + at, b64.len - at < 76 ? b64.len - at : 76);
        buf_addch(&text, '\n');
    }
    mask_text(v, n, text.data, text.len, &out);
    assert_string_equal(out.data, "key:\n***\n***\nshort\n***\nb64:\n***\n***\n***\n");
    buf_release(&forms);
    buf_release(&text);
    buf_release(&out);
    buf_release(&b64);
}

static void test_forms_lengths(void **state)
{
    (void)state;
    /* every form of the shortest value is long enough to be masked on its own */
    struct buf forms = BUF_INIT;
    secret_forms("abcdefgh", 8, collect, &forms);
    size_t count = 0;
    for (const char *p = forms.data; *p; p = strchr(p, '\n') + 1) {
        assert_true(strcspn(p, "\n") >= SECRET_LINE_MIN);
        count++;
    }
    assert_true(count >= 6);
    assert_non_null(strstr(forms.data, "abcdefgh\n"));
    assert_non_null(strstr(forms.data, "YWJjZGVmZ2g=\n"));
    assert_non_null(strstr(forms.data, "YWJjZGVmZ2g\n"));
    buf_release(&forms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_forms_single_line),
        cmocka_unit_test(test_forms_multi_line),
        cmocka_unit_test(test_forms_lengths),
    };
    return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
