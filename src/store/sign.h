/*
 * sign: the server's Ed25519 signing key (OpenSSL's EVP_PKEY_ED25519).
 *
 * Calling sequence:
 *
 *     struct sign_key *k;
 *     if (sign_key_load_or_create(&k, "DATA/signing-key.pem", &err)) ...  // once, at start
 *     sign_key_public_pem(k, &pem);        // served to clients
 *     sign_key_id(k, id);                  // "SHA256:<hex>", names the key in envelopes
 *     sign_bytes(k, msg, len, sig, &err);  // as often as needed
 *     sign_key_free(k);
 *
 *     struct sign_pub *p;                  // on the verifying side (CLI, offline)
 *     if (sign_pub_from_pem(&p, pem.data, pem.len, &err)) ...
 *     rc = sign_check(p, msg, len, sig, &err);   // 0, -EBADMSG or another error
 *     sign_pub_free(p);
 *
 * The private key lives in one PEM file (PKCS#8, unencrypted), mode 0600,
 * owned by the server; a file that group or others may read or write is
 * refused rather than used. A key id is "SHA256:" and the lowercase hex of
 * SHA-256 over the raw 32-byte public key: the same id whichever encoding the
 * public key travels in.
 *
 * Errors: functions that can fail return 0 or a negative errno-style code and
 * append a reason to err (left untouched on success); *out is NULL on error.
 * OpenSSL's per-thread error queue is cleared after a failure.
 *
 * Threads: a loaded key or public key is read-only; any number of threads may
 * sign or check with it at once. Free it when no thread uses it any more.
 */
#ifndef FLYWHEEL_STORE_SIGN_H
#define FLYWHEEL_STORE_SIGN_H

#include <stddef.h>

#include "util/buf.h"

#define SIGN_KEYID_LEN 71 /* "SHA256:" + 64 hex digits */
#define SIGN_SIG_LEN   64 /* an Ed25519 signature */

struct sign_key; /* a private key (can sign and verify) */
struct sign_pub; /* a public key (verifies) */

/*
 * Loads the PEM private key at path, or creates it when path does not exist.
 * Creation is atomic: a new key is written to a temporary file in the same
 * directory (O_EXCL, mode 0600), synced, and linked into place without ever
 * replacing a file (a key that another process created meanwhile is loaded
 * instead); the directory is synced. The directory must exist.
 *
 * Refused, with a reason: a symbolic link or anything but a regular file; a
 * key file readable or writable by group or others ("key file %s has mode
 * 0644; it must be 0600"); a file that is not a PEM private key; any key but
 * Ed25519. The file is never changed when it is refused.
 */
int sign_key_load_or_create(struct sign_key **out, const char *path, struct buf *err)
    __attribute__((warn_unused_result));
/*
 * Checks the key file at path as sign_key_load_or_create() does (a regular
 * file of mode 0600, not too large, one unencrypted Ed25519 private key in
 * PKCS#8 PEM), without loading OpenSSL: the key's bytes are read, not used.
 * Returns 0 (also when there is no file), or a negative error with the same
 * reasons (another algorithm: "key file %s does not hold an Ed25519 key;
 * flywheel signs with Ed25519 keys only").
 */
int sign_key_check(const char *path, struct buf *err) __attribute__((warn_unused_result));
void sign_key_free(struct sign_key *k);

/*
 * The public half as PEM ("-----BEGIN PUBLIC KEY-----\n...-----END PUBLIC KEY-----\n"),
 * appended.
 */
void sign_key_public_pem(const struct sign_key *k, struct buf *out);

/* The key id, NUL-terminated, written to out. */
void sign_key_id(const struct sign_key *k, char out[SIGN_KEYID_LEN + 1]);

/* The public half as a struct sign_pub of its own (free it with sign_pub_free). */
struct sign_pub *sign_key_pub(const struct sign_key *k);

/*
 * Reads a PEM public key (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY") from len
 * bytes of pem. Anything but one Ed25519 public key is refused (-EINVAL).
 */
int sign_pub_from_pem(struct sign_pub **out, const char *pem, size_t len, struct buf *err)
    __attribute__((warn_unused_result));
void sign_pub_id(const struct sign_pub *p, char out[SIGN_KEYID_LEN + 1]);
void sign_pub_free(struct sign_pub *p);

/* Writes the Ed25519 signature of len bytes of msg to sig. -EIO on an OpenSSL failure. */
int sign_bytes(const struct sign_key *k, const void *msg, size_t len,
               unsigned char sig[SIGN_SIG_LEN], struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Returns 0 when sig is a valid signature of msg by p; -EBADMSG when it is
 * not ("signature does not match"); another negative code when OpenSSL
 * cannot check at all.
 */
int sign_check(const struct sign_pub *p, const void *msg, size_t len,
               const unsigned char sig[SIGN_SIG_LEN], struct buf *err)
    __attribute__((warn_unused_result));

#endif
