/*
 * seal: authenticated encryption of secrets at rest: AES-256-GCM (OpenSSL
 * libcrypto) with a key of its own in a file of the data directory.
 *
 * Calling sequence:
 *
 *     unsigned char key[SEAL_KEY_LEN];
 *     if (seal_key_load("DATA/secrets.key", true, key, &err)) ...  // made on first use
 *     unsigned char nonce[SEAL_NONCE_LEN];
 *     seal_encrypt(key, ad, adlen, plain, n, nonce, &box, &err);  // box: ciphertext || tag
 *     ... store nonce and box ...
 *     rc = seal_decrypt(key, ad, adlen, nonce, box.data, box.len, &plain, &err);
 *     explicit_bzero(key, sizeof(key));
 *
 * The associated data (ad) is authenticated with the ciphertext but not
 * stored in it: the caller binds each box to where it belongs (a
 * repository's secret of a given name), and a box moved anywhere else fails
 * to open. Every encryption draws a fresh random nonce (96 bits).
 *
 * The key file holds SEAL_KEY_LEN random bytes, mode 0600, owned by the
 * server. It is created atomically (a temporary file with O_EXCL, synced,
 * linked into place without replacing anything; a key another process made
 * meanwhile is used instead) and refused, rather than used, when it is a
 * symbolic link or not a regular file, when group or others may read or
 * write it ("key file %s has mode 0644; it must be 0600"), or when it is not
 * exactly SEAL_KEY_LEN bytes. Losing the file loses every secret sealed
 * with it.
 *
 * Errors: 0 or a negative errno-style code, with a reason appended to err
 * (never quoting a key or a plaintext). OpenSSL's error queue is cleared.
 * Buffers that held a plaintext or a key are wiped before they are freed.
 *
 * Threads: any; no shared state.
 */
#ifndef FLYWHEEL_STORE_SEAL_H
#define FLYWHEEL_STORE_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define SEAL_KEY_LEN   32
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN   16

/*
 * Reads the key at path into key. When there is no file: with create, makes
 * one (its directory must exist); without, -ENOENT with a reason.
 */
int seal_key_load(const char *path, bool create, unsigned char key[SEAL_KEY_LEN], struct buf *err)
    __attribute__((warn_unused_result));

/* Seals len bytes of plain: a new nonce in nonce, ciphertext and tag (len + SEAL_TAG_LEN bytes)
 * appended to box. */
int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *ad, size_t adlen,
                 const void *plain, size_t len, unsigned char nonce[SEAL_NONCE_LEN],
                 struct buf *box, struct buf *err) __attribute__((warn_unused_result));

/*
 * Opens a box sealed by seal_encrypt, appending the plaintext to plain.
 * -EBADMSG when it does not open: another key, other associated data, or
 * any byte of nonce, box or tag changed (plain is left as it was).
 */
int seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const void *ad, size_t adlen,
                 const unsigned char nonce[SEAL_NONCE_LEN], const void *box, size_t len,
                 struct buf *plain, struct buf *err) __attribute__((warn_unused_result));

#endif
