/*
 * crypto: what flywheel hashes and draws all the time, linked in: SHA-256
 * (artefact digests, API token hashes), HMAC-SHA-256 (webhook signatures),
 * random bytes (tokens, ids, keys) and a comparison that takes the same time
 * whatever the bytes.
 *
 * SHA-256 is OpenSSL's own block function (SHA256_Init/Update/Final, which
 * uses the CPU's SHA extensions when there are any). Only those 25 KB of
 * libcrypto are linked. Signing keys and sealed secrets (store/sign.c,
 * store/seal.c) use the rest of OpenSSL, loaded on first use
 * (util/dl_crypto.h): linking EVP pulls in every algorithm of its default
 * provider, 2.2 MB of code and 19,000 relocations that every start of
 * flywheel would pay for.
 *
 *     struct sha256 h;
 *     sha256_init(&h);
 *     sha256_update(&h, p, n);   // as often as needed
 *     sha256_final(&h, md);      // h may then be initialised again
 *
 * Threads: any; a struct sha256 belongs to one thread at a time.
 */
#ifndef FLYWHEEL_UTIL_CRYPTO_H
#define FLYWHEEL_UTIL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define SHA256_LEN 32

/* Room for OpenSSL's SHA256_CTX (112 bytes), which the header keeps out of
 * sight (its functions are marked deprecated in OpenSSL 3). */
struct sha256 {
    _Alignas(8) unsigned char state[128];
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes the digest and wipes the state. */
void sha256_final(struct sha256 *h, unsigned char md[SHA256_LEN]);
/* The digest of n bytes at p (p may be NULL when n is 0). */
void sha256(const void *p, size_t n, unsigned char md[SHA256_LEN]);
/* The digest as 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *p, size_t n, char hex[2 * SHA256_LEN + 1]);
/* The n bytes at p as 2n lower-case hex digits at out, and a NUL. */
void crypto_hex(const unsigned char *p, size_t n, char *out);

/* HMAC-SHA-256 (RFC 2104) of msg under key; either may be NULL when its
 * length is 0. */
void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                 unsigned char mac[SHA256_LEN]);

/* Whether the n bytes at a and b are equal, in a time that depends on n
 * only. */
bool crypto_equal(const void *a, const void *b, size_t n);

/* Wipes n bytes at p in a way the compiler cannot drop. */
void crypto_wipe(void *p, size_t n);

/*
 * Fills p with n bytes from the kernel's random number generator
 * (getrandom(2), waiting until it is seeded). Returns 0, or -errno (ENOSYS
 * on a kernel without getrandom, EFAULT...).
 */
int crypto_random(void *p, size_t n) __attribute__((warn_unused_result));

#endif
