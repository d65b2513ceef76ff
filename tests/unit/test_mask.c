#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "util/buf.h"
#include "util/xalloc.h"

static void to_buf(void *ctx, const char *data, size_t len)
{
    buf_add(ctx, data, len);
}

/* What masking must give: every byte inside some occurrence hidden, each run of them "***". */
static void reference(const char *text, size_t n, const char *const *pats, const size_t *lens,
                      size_t npats, struct buf *out)
{
    char *cov = xcalloc(n + 1, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < npats; k++)
            if (lens[k] && i + lens[k] <= n && !memcmp(text + i, pats[k], lens[k]))
                memset(cov + i, 1, lens[k]);
    for (size_t i = 0; i < n;) {
        if (cov[i]) {
            buf_adds(out, MASK_REPLACEMENT);
            while (i < n && cov[i])
                i++;
        } else {
            buf_addch(out, text[i++]);
        }
    }
    free(cov);
}

static struct mask_set *set_of(const char *const *pats, const size_t *lens, size_t npats)
{
    struct mask_set *s = mask_set_new();
    for (size_t k = 0; k < npats; k++)
        assert_int_equal(mask_set_add(s, pats[k], lens[k]), 0);
    return s;
}

/* Feeds text in chunks ending at cuts[0..ncuts) (increasing), then flushes. */
static void masked(struct mask_set *s, const char *text, size_t n, const size_t *cuts, size_t ncuts,
                   struct buf *out)
{
    struct mask *m = mask_new(s);
    size_t at = 0;
    size_t longest = mask_set_longest(s);
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : n;
        mask_feed(m, text + at, end - at, to_buf, out);
        assert_true(mask_held(m) <= (longest ? longest - 1 : 0));
        at = end;
    }
    mask_flush(m, to_buf, out);
    assert_int_equal(mask_held(m), 0);
    mask_free(m);
}

/* Checks text against the reference, whole, split at every offset, and byte by byte. */
static void check_all_splits(const char *text, size_t n, const char *const *pats,
                             const size_t *lens, size_t npats)
{
    struct buf want = BUF_INIT, got = BUF_INIT;
    struct mask_set *s = set_of(pats, lens, npats);
    reference(text, n, pats, lens, npats, &want);
    masked(s, text, n, NULL, 0, &got);
    if (got.len != want.len || memcmp(got.data, want.data, want.len))
        fail_msg("whole: got '%s', want '%s' (text '%.*s')", got.data, want.data, (int)n, text);
    for (size_t k = 0; k <= n; k++) {
        buf_reset(&got);
        masked(s, text, n, &k, 1, &got);
        if (got.len != want.len || memcmp(got.data, want.data, want.len))
            fail_msg("split at %zu: got '%s', want '%s'", k, got.data, want.data);
    }
    size_t *cuts = xcalloc(n + 1, sizeof(size_t));
    for (size_t k = 0; k < n; k++)
        cuts[k] = k + 1;
    buf_reset(&got);
    masked(s, text, n, cuts, n ? n - 1 : 0, &got);
    if (got.len != want.len || memcmp(got.data, want.data, want.len))
        fail_msg("byte by byte: got '%s', want '%s'", got.data, want.data);
    free(cuts);
    mask_set_free(s);
    buf_release(&want);
    buf_release(&got);
}

static void check1(const char *text, const char *pat, const char *want)
{
    struct buf got = BUF_INIT;
    struct mask_set *s = mask_set_new();
    assert_int_equal(mask_set_add(s, pat, strlen(pat)), 0);
    masked(s, text, strlen(text), NULL, 0, &got);
    assert_string_equal(got.data, want);
    mask_set_free(s);
    buf_release(&got);
    const char *pats[] = {pat};
    size_t lens[] = {strlen(pat)};
    check_all_splits(text, strlen(text), pats, lens, 1);
}

static void test_basic(void **state)
{
    (void)state;
    check1("the token is s3cr3t-value, ok", "s3cr3t-value", "the token is ***, ok");
    check1("s3cr3t-value", "s3cr3t-value", "***");
    check1("s3cr3t-values3cr3t-value", "s3cr3t-value", "***"); /* adjacent: one run */
    check1("s3cr3t-value s3cr3t-value", "s3cr3t-value", "*** ***");
    check1("s3cr3t-valu", "s3cr3t-value", "s3cr3t-valu"); /* a prefix at the end stays */
    check1("3cr3t-value", "s3cr3t-value", "3cr3t-value");
    check1("", "s3cr3t-value", "");
    check1("ss3cr3t-value", "s3cr3t-value", "s***");
    check1("aaaaaaaaab", "aaaab", "aaaaa***"); /* restarts inside a run of the first byte */
    check1("x", "x", "***");
    check1("xyx", "x", "***y***");
    check1("abab", "ab", "***");
}

static void test_overlapping(void **state)
{
    (void)state;
    const char *p1[] = {"abcd", "cdef"};
    size_t l1[] = {4, 4};
    check_all_splits("xxabcdefyy", 10, p1, l1, 2);
    struct buf got = BUF_INIT;
    struct mask_set *s = set_of(p1, l1, 2);
    masked(s, "xxabcdefyy", 10, NULL, 0, &got);
    assert_string_equal(got.data, "xx***yy");
    mask_set_free(s);
    /* one pattern inside another, and a longer one found after a shorter */
    const char *p2[] = {"bc", "abcd", "bcdefgh"};
    size_t l2[] = {2, 4, 7};
    check_all_splits("abcdefgh abcdx bcx abcdefg", 26, p2, l2, 3);
    buf_reset(&got);
    s = set_of(p2, l2, 3);
    masked(s, "abcdefgh abcdx bcx abcdefg", 26, NULL, 0, &got);
    assert_string_equal(got.data, "*** ***x ***x ***efg");
    mask_set_free(s);
    /* a pattern that is a prefix of another */
    const char *p3[] = {"secret", "secret-long"};
    size_t l3[] = {6, 11};
    check_all_splits("secret-lon secret-long secret", 29, p3, l3, 2);
    buf_release(&got);
}

static void test_chunk_ends(void **state)
{
    (void)state;
    /* a pattern exactly at the end and at the start of chunks */
    const char *pats[] = {"0123456789abcdef"};
    size_t lens[] = {16};
    struct buf got = BUF_INIT;
    struct mask_set *s = set_of(pats, lens, 1);
    const char *t = "0123456789abcdef0123456789abcdef--0123456789abcdef";
    size_t cuts[] = {16, 32, 34};
    masked(s, t, strlen(t), cuts, 3, &got);
    assert_string_equal(got.data, "***--***");
    mask_set_free(s);
    buf_release(&got);
    check_all_splits(t, strlen(t), pats, lens, 1);
}

static void test_flush(void **state)
{
    (void)state;
    struct mask_set *s = mask_set_new();
    assert_int_equal(mask_set_add(s, "password-123", 12), 0);
    struct mask *m = mask_new(s);
    struct buf got = BUF_INIT;
    mask_feed(m, "abc passw", 9, to_buf, &got);
    assert_string_equal(got.data, "abc "); /* "passw" may still be the secret */
    assert_int_equal(mask_held(m), 5);
    mask_feed(m, "ord-1", 5, to_buf, &got);
    assert_string_equal(got.data, "abc ");
    assert_int_equal(mask_held(m), 10);
    mask_flush(m, to_buf, &got); /* the stream ended: they were not */
    assert_string_equal(got.data, "abc password-1");
    assert_int_equal(mask_held(m), 0);
    /* the stream may go on: a new one */
    buf_reset(&got);
    mask_feed(m, "password-123!", 13, to_buf, &got);
    mask_flush(m, to_buf, &got);
    assert_string_equal(got.data, "***!");
    /* a covered run at the end of the stream */
    buf_reset(&got);
    mask_feed(m, "x password-123", 14, to_buf, &got);
    assert_string_equal(got.data, "x ***");
    assert_int_equal(mask_held(m), 0);
    mask_flush(m, to_buf, &got);
    assert_string_equal(got.data, "x ***");
    /* a flush of nothing emits nothing */
    buf_reset(&got);
    mask_flush(m, to_buf, &got);
    assert_int_equal(got.len, 0);
    mask_free(m);
    mask_set_free(s);
    buf_release(&got);
}

static void test_set(void **state)
{
    (void)state;
    struct mask_set *s = mask_set_new();
    assert_int_equal(mask_set_add(s, "", 0), -EINVAL);
    assert_int_equal(mask_set_add(s, "abcdefgh", 8), 0);
    assert_int_equal(mask_set_add(s, "abcdefgh", 8), 0);
    assert_int_equal(mask_set_add(s, "abc", 3), 0);
    assert_int_equal(mask_set_count(s), 2);
    assert_int_equal(mask_set_longest(s), 8);
    char *big = xcalloc(MASK_MAX_BYTES + 1, 1);
    assert_int_equal(mask_set_add(s, big, MASK_MAX_BYTES + 1), -E2BIG);
    free(big);
    struct mask *m = mask_new(s);
    assert_int_equal(mask_set_add(s, "more", 4), -EBUSY);
    mask_free(m);
    mask_set_free(s);
    mask_set_free(NULL);
    mask_free(NULL);
}

static void test_binary(void **state)
{
    (void)state;
    const char pat[] = {'\0', '\n', (char)0xff, 'x', '\0', '\r', (char)0x80, 'y', '\0'};
    const char text[] = {'a',  '\0',       '\0', '\n', (char)0xff, 'x', '\0',
                         '\r', (char)0x80, 'y',  '\0', '\0',       'b'};
    const char *pats[] = {pat};
    size_t lens[] = {sizeof(pat)};
    check_all_splits(text, sizeof(text), pats, lens, 1);
    struct buf got = BUF_INIT;
    struct mask_set *s = set_of(pats, lens, 1);
    masked(s, text, sizeof(text), NULL, 0, &got);
    assert_int_equal(got.len, 7);
    assert_memory_equal(got.data, "a\0***\0b", 7);
    mask_set_free(s);
    buf_release(&got);
}

/* A small generator, the same on every machine. */
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Random texts over a small alphabet, built from pieces of the patterns so that
 * occurrences, near misses and overlaps are common; every split checked. */
static void test_random(void **state)
{
    (void)state;
    for (int round = 0; round < 300; round++) {
        size_t npats = 1 + rnd() % 5;
        const char *alpha = round % 3 ? "ab" : "abcd";
        size_t na = strlen(alpha);
        size_t minlen = round % 4 == 0 ? 1 : round % 4 == 1 ? 3 : 8;
        char *pats[5];
        size_t lens[5];
        for (size_t k = 0; k < npats; k++) {
            lens[k] = minlen + rnd() % 9;
            pats[k] = xmalloc(lens[k] + 1);
            for (size_t i = 0; i < lens[k]; i++)
                pats[k][i] = alpha[rnd() % na];
            pats[k][lens[k]] = '\0';
        }
        char text[96];
        size_t n = 0;
        while (n < sizeof(text)) {
            if (rnd() % 3 == 0) {
                size_t k = rnd() % npats, from = rnd() % lens[k], l = 1 + rnd() % lens[k];
                for (size_t i = from; i < lens[k] && i < from + l && n < sizeof(text); i++)
                    text[n++] = pats[k][i];
            } else {
                text[n++] = alpha[rnd() % na];
            }
        }
        check_all_splits(text, n, (const char *const *)pats, lens, npats);
        for (size_t k = 0; k < npats; k++)
            free(pats[k]);
    }
}

/* Long texts through random chunkings: the skipping filter on both of its grams. */
static void test_random_long(void **state)
{
    (void)state;
    for (int round = 0; round < 40; round++) {
        size_t npats = 1 + rnd() % 12;
        char *pats[12];
        size_t lens[12];
        for (size_t k = 0; k < npats; k++) {
            lens[k] = (round % 2 ? 3 : 8) + rnd() % 40;
            pats[k] = xmalloc(lens[k] + 1);
            for (size_t i = 0; i < lens[k]; i++)
                pats[k][i] = (char)('a' + rnd() % 6);
            pats[k][lens[k]] = '\0';
        }
        size_t n = 20000;
        char *text = xmalloc(n);
        for (size_t i = 0; i < n;) {
            if (rnd() % 50 == 0) {
                size_t k = rnd() % npats;
                for (size_t j = 0; j < lens[k] && i < n; j++)
                    text[i++] = pats[k][j];
            } else {
                text[i++] = (char)('a' + rnd() % 26);
            }
        }
        struct buf want = BUF_INIT, got = BUF_INIT;
        struct mask_set *s = set_of((const char *const *)pats, lens, npats);
        reference(text, n, (const char *const *)pats, lens, npats, &want);
        for (int t = 0; t < 5; t++) {
            size_t cuts[64], nc = 0, at = 0;
            while (nc < 64 && at < n) {
                at += 1 + rnd() % (t == 0 ? 7 : 2000);
                if (at < n)
                    cuts[nc++] = at;
            }
            buf_reset(&got);
            masked(s, text, n, cuts, nc, &got);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
        }
        mask_set_free(s);
        buf_release(&want);
        buf_release(&got);
        free(text);
        for (size_t k = 0; k < npats; k++)
            free(pats[k]);
    }
}

/* Nodes with many children (searched by halves), and many patterns. */
static void test_wide(void **state)
{
    (void)state;
    char *pats[300];
    size_t lens[300];
    for (size_t k = 0; k < 300; k++) {
        lens[k] = 10;
        pats[k] = xmalloc(11);
        memcpy(pats[k], "pre", 3);
        pats[k][3] = (char)(k % 256);
        for (size_t i = 4; i < 10; i++)
            pats[k][i] = (char)('a' + (k + i) % 26);
        pats[k][10] = '\0';
    }
    struct buf text = BUF_INIT;
    for (size_t k = 0; k < 300; k += 7) {
        buf_adds(&text, "pre-");
        buf_add(&text, pats[k], lens[k]);
        buf_add(&text, pats[k], 6);
    }
    check_all_splits(text.data, text.len, (const char *const *)pats, lens, 300);
    buf_release(&text);
    for (size_t k = 0; k < 300; k++)
        free(pats[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),      cmocka_unit_test(test_overlapping),
        cmocka_unit_test(test_chunk_ends), cmocka_unit_test(test_flush),
        cmocka_unit_test(test_set),        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_random),     cmocka_unit_test(test_random_long),
        cmocka_unit_test(test_wide),
    };
    return cmocka_run_group_tests_name("mask", tests, NULL, NULL);
}
