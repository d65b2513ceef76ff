#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/memo.h"

static void key_of(struct buf *key, const char *a, const char *b)
{
    buf_reset(key);
    memo_key(key, a, b, NULL);
}

static void test_get_put(void **state)
{
    (void)state;
    struct memo m = MEMO_INIT(0);
    struct buf key = BUF_INIT, out = BUF_INIT;
    key_of(&key, "a", "bc");
    assert_false(memo_get(&m, &key, 100, &out));
    memo_put(&m, &key, "one", 3);
    assert_true(memo_get(&m, &key, 100, &out));
    assert_string_equal(out.data, "one");
    /* the parts of a key are kept apart: "ab" + "c" is another key */
    buf_reset(&out);
    key_of(&key, "ab", "c");
    assert_false(memo_get(&m, &key, 100, &out));
    /* a value over max is not given, nor one over what out may hold */
    key_of(&key, "a", "bc");
    assert_false(memo_get(&m, &key, 2, &out));
    struct buf small;
    buf_init(&small, 2);
    assert_false(memo_get(&m, &key, 100, &small));
    assert_int_equal(small.len, 0);
    buf_release(&small);
    memo_release(&m);
    assert_false(memo_get(&m, &key, 100, &out));
    buf_release(&key);
    buf_release(&out);
}

static void test_oldest_goes(void **state)
{
    (void)state;
    struct memo m = MEMO_INIT(0);
    struct buf key = BUF_INIT, out = BUF_INIT;
    char name[16];
    for (int i = 0; i <= MEMO_SLOTS; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        key_of(&key, name, "x");
        memo_put(&m, &key, name, strlen(name));
    }
    key_of(&key, "k0", "x");
    assert_false(memo_get(&m, &key, 100, &out)); /* the first, replaced by the last */
    key_of(&key, "k1", "x");
    assert_true(memo_get(&m, &key, 100, &out));
    assert_string_equal(out.data, "k1");
    buf_reset(&out);
    snprintf(name, sizeof(name), "k%d", MEMO_SLOTS);
    key_of(&key, name, "x");
    assert_true(memo_get(&m, &key, 100, &out));
    memo_release(&m);
    buf_release(&key);
    buf_release(&out);
}

static void test_expiry(void **state)
{
    (void)state;
    struct memo m = MEMO_INIT(1);
    struct buf key = BUF_INIT, out = BUF_INIT;
    key_of(&key, "dir", "rev");
    memo_put(&m, &key, "v", 1);
    assert_true(memo_get(&m, &key, 100, &out));
    sleep(2);
    assert_false(memo_get(&m, &key, 100, &out)); /* older than ttl_s */
    memo_release(&m);
    buf_release(&key);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put),
        cmocka_unit_test(test_oldest_goes),
        cmocka_unit_test(test_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
