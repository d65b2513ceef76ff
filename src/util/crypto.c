/*
 * crypto: SHA-256, HMAC-SHA-256, random bytes (see crypto.h).
 */
/* The block functions are what this file is for: see crypto.h. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "util/crypto.h"

#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

/*
 * What OpenSSL's SHA-256 assembly reads to choose its code: the words its
 * own start-up code (x86_64cpuid.o, linked for these two symbols alone)
 * would fill from CPUID in a constructor, at the start of every process,
 * flywheel's clients included. Here they are filled at the first hash, with
 * the bits that assembly chooses by, where OpenSSL puts them:
 *   word 0, bit 30: an Intel CPU (its AVX code is taken on Intel's only);
 *   word 1: CPUID 1's ECX, SSSE3 (bit 9) and AVX (bit 28);
 *   word 2: CPUID 7's EBX, BMI1 (3), AVX2 (5), BMI2 (8), SHA (29).
 * AVX and AVX2 only when the system saves the YMM registers (XGETBV), as
 * OpenSSL checks too. With none, the assembly takes its plain x86-64 code.
 */
unsigned int OPENSSL_ia32cap_P[16];

static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

static void caps_init(void)
{
    unsigned a, b, c, d, max = __get_cpuid_max(0, NULL);
    bool ymm = false;
    if (max >= 1 && __get_cpuid(1, &a, &b, &c, &d)) {
        if (c & bit_OSXSAVE) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ymm = (lo & 6) == 6;
        }
        OPENSSL_ia32cap_P[1] = c & (bit_SSSE3 | (ymm ? bit_AVX : 0));
    }
    if (max >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d))
        OPENSSL_ia32cap_P[2] = b & (bit_BMI | bit_BMI2 | bit_SHA | (ymm ? bit_AVX2 : 0));
    if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e)
        OPENSSL_ia32cap_P[0] = 1u << 30; /* "GenuineIntel" */
}

/* What SHA256_Final wipes its state with. */
void OPENSSL_cleanse(void *p, size_t n);
void OPENSSL_cleanse(void *p, size_t n)
{
    explicit_bzero(p, n);
}

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct sha256 *)0)->state),
               "struct sha256 holds a SHA256_CTX");
_Static_assert(SHA256_DIGEST_LENGTH == SHA256_LEN, "SHA-256 is 32 bytes");

#define CTX(h) ((SHA256_CTX *)(void *)(h)->state)

/* The block size of SHA-256, for HMAC's pads. */
#define SHA256_BLOCK 64

void sha256_init(struct sha256 *h)
{
    pthread_once(&caps_once, caps_init);
    SHA256_Init(CTX(h));
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
    if (n)
        SHA256_Update(CTX(h), p, n);
}

void sha256_final(struct sha256 *h, unsigned char md[SHA256_LEN])
{
    SHA256_Final(md, CTX(h));
    crypto_wipe(h->state, sizeof(h->state));
}

void sha256(const void *p, size_t n, unsigned char md[SHA256_LEN])
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, p, n);
    sha256_final(&h, md);
}

void crypto_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void sha256_hex(const void *p, size_t n, char hex[2 * SHA256_LEN + 1])
{
    unsigned char md[SHA256_LEN];
    sha256(p, n, md);
    crypto_hex(md, sizeof(md), hex);
}

void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                 unsigned char mac[SHA256_LEN])
{
    unsigned char k[SHA256_BLOCK] = {0}, pad[SHA256_BLOCK], inner[SHA256_LEN];
    struct sha256 h;

    if (key_len > SHA256_BLOCK)
        sha256(key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&h);
    sha256_update(&h, pad, sizeof(pad));
    sha256_update(&h, msg, msg_len);
    sha256_final(&h, inner);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&h);
    sha256_update(&h, pad, sizeof(pad));
    sha256_update(&h, inner, sizeof(inner));
    sha256_final(&h, mac);
    crypto_wipe(k, sizeof(k));
    crypto_wipe(pad, sizeof(pad));
    crypto_wipe(inner, sizeof(inner));
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

void crypto_wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

int crypto_random(void *p, size_t n)
{
    unsigned char *o = p;
    while (n) {
        ssize_t got = getrandom(o, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        o += got;
        n -= (size_t)got;
    }
    return 0;
}
