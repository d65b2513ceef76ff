#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"

static void test_empty_map(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t v = 7;
    assert_false(strmap_get(&m, "anything", &v));
    assert_false(strmap_get(&m, "", &v));
    assert_int_equal(v, 7); /* untouched when missing */
    strmap_release(&m);
    strmap_release(&m); /* releasing twice, or a map never filled, is fine */
    assert_null(m.slots);
    assert_int_equal(m.n, 0);
    assert_int_equal(m.size, 0);
}

static void test_put_get_replace(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t v = 0;
    assert_false(strmap_put(&m, "build", 1));
    assert_false(strmap_put(&m, "test", 2));
    assert_false(strmap_put(&m, "", 3)); /* the empty string is a key like any other */
    assert_int_equal(m.n, 3);

    assert_true(strmap_get(&m, "build", &v));
    assert_int_equal(v, 1);
    assert_true(strmap_get(&m, "test", &v));
    assert_int_equal(v, 2);
    assert_true(strmap_get(&m, "", &v));
    assert_int_equal(v, 3);

    /* Replacing keeps one entry and returns true. */
    assert_true(strmap_put(&m, "build", 10));
    assert_int_equal(m.n, 3);
    assert_true(strmap_get(&m, "build", &v));
    assert_int_equal(v, 10);

    /* A key is compared by content, not by pointer. */
    char other[] = "test";
    assert_true(strmap_get(&m, other, &v));
    assert_int_equal(v, 2);
    assert_true(strmap_put(&m, other, 20));
    assert_int_equal(m.n, 3);
    assert_true(strmap_get(&m, "test", &v));
    assert_int_equal(v, 20);

    /* Missing keys, including prefixes and extensions of present ones. */
    v = 99;
    assert_false(strmap_get(&m, "buil", &v));
    assert_false(strmap_get(&m, "builds", &v));
    assert_false(strmap_get(&m, "Build", &v));
    assert_int_equal(v, 99);
    strmap_release(&m);
}

static void test_values_are_size_t(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t v;
    assert_false(strmap_put(&m, "zero", 0));
    assert_false(strmap_put(&m, "max", SIZE_MAX));
    assert_true(strmap_get(&m, "zero", &v));
    assert_int_equal(v, 0);
    assert_true(strmap_get(&m, "max", &v));
    assert_true(v == SIZE_MAX);
    strmap_release(&m);
}

#define NKEYS 5000

static void test_many_keys_rehash(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char **keys = calloc(NKEYS, sizeof(char *));
    assert_non_null(keys);
    size_t prev_size = 0, rehashes = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        keys[i] = malloc(32);
        assert_non_null(keys[i]);
        snprintf(keys[i], 32, "job-%zu", i);
        assert_false(strmap_put(&m, keys[i], i * 3));
        assert_int_equal(m.n, i + 1);
        /* Under 50% full, and a power of two. */
        assert_true(m.n * 2 <= m.size);
        assert_int_equal(m.size & (m.size - 1), 0);
        bool rehashed = m.size != prev_size;
        if (rehashed) {
            rehashes++;
            prev_size = m.size;
        }
        /* Every key put so far is still found after a rehash. */
        if (rehashed) {
            for (size_t j = 0; j <= i; j++) {
                size_t v;
                assert_true(strmap_get(&m, keys[j], &v));
                assert_int_equal(v, j * 3);
            }
        }
    }
    assert_true(rehashes > 5);
    for (size_t i = 0; i < NKEYS; i++) {
        size_t v = 0;
        char probe[32];
        snprintf(probe, sizeof(probe), "job-%zu", i);
        assert_true(strmap_get(&m, probe, &v));
        assert_int_equal(v, i * 3);
        snprintf(probe, sizeof(probe), "job-%zu-x", i);
        assert_false(strmap_get(&m, probe, &v));
    }
    /* Replacing every value keeps the count. */
    for (size_t i = 0; i < NKEYS; i++)
        assert_true(strmap_put(&m, keys[i], i));
    assert_int_equal(m.n, NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        size_t v;
        assert_true(strmap_get(&m, keys[i], &v));
        assert_int_equal(v, i);
    }
    strmap_release(&m);
    for (size_t i = 0; i < NKEYS; i++)
        free(keys[i]);
    free(keys);
}

/* Keys that share a slot probe past each other and wrap around the table. */
static void test_collisions_and_wrap(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    static char keys[7][8];
    size_t n = 0;
    /* Find keys that land in the last slot of a 16-slot table, forcing a wrap. */
    assert_false(strmap_put(&m, "seed", 0));
    assert_int_equal(m.size, 16);
    for (unsigned i = 0; n < 7 && i < 100000; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%u", i);
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = k; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
        if ((h & 15) == 15)
            memcpy(keys[n++], k, sizeof(k));
    }
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_false(strmap_put(&m, keys[i], i + 1));
    assert_int_equal(m.size, 16); /* 8 of 16: no rehash yet */
    for (size_t i = 0; i < n; i++) {
        size_t v;
        assert_true(strmap_get(&m, keys[i], &v));
        assert_int_equal(v, i + 1);
    }
    size_t v;
    assert_true(strmap_get(&m, "seed", &v));
    assert_int_equal(v, 0);
    assert_false(strmap_get(&m, "k-missing", &v));
    /* The next key forces a rehash; colliding keys stay reachable. */
    assert_false(strmap_put(&m, "more", 8));
    assert_int_equal(m.size, 32);
    for (size_t i = 0; i < n; i++) {
        assert_true(strmap_get(&m, keys[i], &v));
        assert_int_equal(v, i + 1);
    }
    strmap_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),           cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_values_are_size_t),   cmocka_unit_test(test_many_keys_rehash),
        cmocka_unit_test(test_collisions_and_wrap),
    };
    return cmocka_run_group_tests_name("strmap", tests, NULL, NULL);
}
