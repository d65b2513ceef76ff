#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

static void hex_of(const unsigned char *md, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void expect_sha256(const void *p, size_t n, const char *want)
{
    unsigned char md[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256(p, n, md);
    hex_of(md, sizeof(md), hex);
    assert_string_equal(hex, want);
    sha256_hex(p, n, hex);
    assert_string_equal(hex, want);
}

/* FIPS 180-4 examples (NIST's "SHA256.pdf"), and the empty message. */
static void test_sha256_known(void **state)
{
    (void)state;
    expect_sha256(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_sha256(two, strlen(two),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* The capability words crypto.c fills for OpenSSL's assembly. */
extern unsigned int OPENSSL_ia32cap_P[16];

/* Every code the assembly may choose gives the same digests: with the
 * features this CPU has taken away one by one (SHA extensions, then AVX2,
 * then AVX, then SSSE3: the plain code last). */
static void test_sha256_each_code(void **state)
{
    (void)state;
    unsigned char md[SHA256_LEN];
    sha256("x", 1, md); /* the words are filled at the first hash */
    unsigned int saved[3] = {OPENSSL_ia32cap_P[0], OPENSSL_ia32cap_P[1], OPENSSL_ia32cap_P[2]};
    static const struct {
        int word;
        unsigned int bits;
    } off[] = {{2, 1u << 29}, {2, 1u << 5}, {1, 1u << 28}, {1, 1u << 9}};
    char *a = malloc(100000);
    memset(a, 'a', 100000);
    for (size_t k = 0; k <= sizeof(off) / sizeof(off[0]); k++) {
        expect_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        expect_sha256(a, 100000,
                      "6d1cf22d7cc09b085dfc25ee1a1f3ae0265804c607bc2074ad253bcc82fd81ee");
        if (k < sizeof(off) / sizeof(off[0]))
            OPENSSL_ia32cap_P[off[k].word] &= ~off[k].bits;
    }
    free(a);
    memcpy(OPENSSL_ia32cap_P, saved, sizeof(saved));
}

/* A million 'a's, fed in pieces of every size from 1 to 997 bytes: the
 * same digest as in one piece. */
static void test_sha256_pieces(void **state)
{
    (void)state;
    size_t total = 1000000;
    char *a = malloc(total);
    memset(a, 'a', total);
    expect_sha256(a, total, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    struct sha256 h;
    unsigned char md[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_init(&h);
    size_t off = 0, step = 1;
    while (off < total) {
        size_t n = total - off < step ? total - off : step;
        sha256_update(&h, a + off, n);
        off += n;
        step = step % 997 + 1;
    }
    sha256_update(&h, NULL, 0);
    sha256_final(&h, md);
    hex_of(md, sizeof(md), hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void expect_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                        const char *want)
{
    unsigned char mac[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    hmac_sha256(key, klen, msg, mlen, mac);
    hex_of(mac, sizeof(mac), hex);
    assert_string_equal(hex, want);
}

/* RFC 4231, test cases 1, 2, 4 and 6 (a key longer than a block), and an
 * empty key and message. */
static void test_hmac_known(void **state)
{
    (void)state;
    unsigned char k[131];
    memset(k, 0x0b, 20);
    expect_hmac(k, 20, "Hi There", 8,
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    expect_hmac("Jefe", 4, "what do ya want for nothing?", 28,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    for (int i = 0; i < 25; i++)
        k[i] = (unsigned char)(i + 1);
    unsigned char m[50];
    memset(m, 0xcd, sizeof(m));
    expect_hmac(k, 25, m, sizeof(m),
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0xaa, sizeof(k));
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    expect_hmac(k, sizeof(k), big, strlen(big),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    expect_hmac(NULL, 0, NULL, 0,
                "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_equal_wipe_random(void **state)
{
    (void)state;
    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_false(crypto_equal("xbcd", "abcd", 4));
    assert_true(crypto_equal("a", "b", 0));

    unsigned char b[64];
    memset(b, 0x5a, sizeof(b));
    crypto_wipe(b, sizeof(b));
    for (size_t i = 0; i < sizeof(b); i++)
        assert_int_equal(b[i], 0);

    /* Two draws of 64 bytes are not equal, nor all zero. */
    unsigned char r1[64] = {0}, r2[64] = {0}, zero[64] = {0};
    assert_int_equal(crypto_random(r1, sizeof(r1)), 0);
    assert_int_equal(crypto_random(r2, sizeof(r2)), 0);
    assert_memory_not_equal(r1, r2, sizeof(r1));
    assert_memory_not_equal(r1, zero, sizeof(r1));
    /* A draw larger than getrandom gives at once (32 MiB - 1 on Linux)
     * fills it all: its last bytes are not left as they were. */
    size_t n = 40u << 20;
    unsigned char *big = calloc(1, n);
    assert_int_equal(crypto_random(big, n), 0);
    assert_memory_not_equal(big + n - 64, zero, 64);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known),      cmocka_unit_test(test_sha256_pieces),
        cmocka_unit_test(test_sha256_each_code),  cmocka_unit_test(test_hmac_known),
        cmocka_unit_test(test_equal_wipe_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
