/*
 * dl_crypto: the part of OpenSSL's libcrypto that only some commands need
 * (Ed25519 signing keys, store/sign.c; AES-256-GCM sealed secrets,
 * store/seal.c), loaded with dlopen("libcrypto.so.3") on first use instead
 * of linked (see util/dynlib.h for why, and util/crypto.h for the SHA-256
 * that is linked). Include this instead of <openssl/evp.h>: the calls go
 * through pointers resolved by dl_crypto_load(), and read as usual. The
 * headers (types, NIDs, EVP_CTRL_*) are the -dev package's.
 *
 * Calling sequence: dl_crypto_load() before the first call that makes an
 * object (a key, a context, a BIO); every other function takes such an
 * object, so it is only ever called with the library loaded.
 *
 * Threads: dl_crypto_load() from any thread (once per process,
 * pthread_once); the functions as OpenSSL's own.
 */
#ifndef FLYWHEEL_UTIL_DL_CRYPTO_H
#define FLYWHEEL_UTIL_DL_CRYPTO_H

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "util/buf.h"

#define DL_CRYPTO_FUNCS(X)                                                                         \
    X(ERR_get_error)                                                                               \
    X(ERR_error_string_n)                                                                          \
    X(ERR_clear_error)                                                                             \
    X(BIO_new)                                                                                     \
    X(BIO_new_mem_buf)                                                                             \
    X(BIO_s_mem)                                                                                   \
    X(BIO_ctrl)                                                                                    \
    X(BIO_free)                                                                                    \
    X(PEM_read_bio_PrivateKey)                                                                     \
    X(PEM_write_bio_PrivateKey)                                                                    \
    X(PEM_read_bio_PUBKEY)                                                                         \
    X(PEM_write_bio_PUBKEY)                                                                        \
    X(EVP_PKEY_CTX_new_id)                                                                         \
    X(EVP_PKEY_CTX_free)                                                                           \
    X(EVP_PKEY_keygen_init)                                                                        \
    X(EVP_PKEY_keygen)                                                                             \
    X(EVP_PKEY_Q_keygen)                                                                           \
    X(EVP_PKEY_new_raw_public_key)                                                                 \
    X(EVP_PKEY_get_raw_public_key)                                                                 \
    X(EVP_PKEY_get_id)                                                                             \
    X(EVP_PKEY_get0_type_name)                                                                     \
    X(EVP_PKEY_free)                                                                               \
    X(EVP_MD_CTX_new)                                                                              \
    X(EVP_MD_CTX_free)                                                                             \
    X(EVP_DigestSignInit)                                                                          \
    X(EVP_DigestSign)                                                                              \
    X(EVP_DigestVerifyInit)                                                                        \
    X(EVP_DigestVerify)                                                                            \
    X(EVP_aes_256_gcm)                                                                             \
    X(EVP_CIPHER_CTX_new)                                                                          \
    X(EVP_CIPHER_CTX_ctrl)                                                                         \
    X(EVP_CIPHER_CTX_free)                                                                         \
    X(EVP_EncryptInit_ex)                                                                          \
    X(EVP_EncryptUpdate)                                                                           \
    X(EVP_EncryptFinal_ex)                                                                         \
    X(EVP_DecryptInit_ex)                                                                          \
    X(EVP_DecryptUpdate)                                                                           \
    X(EVP_DecryptFinal_ex)

#define DL_CRYPTO_FIELD(name) __typeof__(name) *name;
struct dl_crypto {
    DL_CRYPTO_FUNCS(DL_CRYPTO_FIELD)
};
#undef DL_CRYPTO_FIELD
/* Filled by dl_crypto_load(); read only after it succeeded. */
extern struct dl_crypto dl_crypto;

/*
 * Loads libcrypto (the first call; later ones return its result). Returns
 * 0, or -1 with err: "cannot load libcrypto.so.3 (install the Debian
 * package libssl3): ...".
 */
int dl_crypto_load(struct buf *err) __attribute__((warn_unused_result));

#ifndef DL_CRYPTO_IMPL
#define ERR_get_error               (*dl_crypto.ERR_get_error)
#define ERR_error_string_n          (*dl_crypto.ERR_error_string_n)
#define ERR_clear_error             (*dl_crypto.ERR_clear_error)
#define BIO_new                     (*dl_crypto.BIO_new)
#define BIO_new_mem_buf             (*dl_crypto.BIO_new_mem_buf)
#define BIO_s_mem                   (*dl_crypto.BIO_s_mem)
#define BIO_ctrl                    (*dl_crypto.BIO_ctrl)
#define BIO_free                    (*dl_crypto.BIO_free)
#define PEM_read_bio_PrivateKey     (*dl_crypto.PEM_read_bio_PrivateKey)
#define PEM_write_bio_PrivateKey    (*dl_crypto.PEM_write_bio_PrivateKey)
#define PEM_read_bio_PUBKEY         (*dl_crypto.PEM_read_bio_PUBKEY)
#define PEM_write_bio_PUBKEY        (*dl_crypto.PEM_write_bio_PUBKEY)
#define EVP_PKEY_CTX_new_id         (*dl_crypto.EVP_PKEY_CTX_new_id)
#define EVP_PKEY_CTX_free           (*dl_crypto.EVP_PKEY_CTX_free)
#define EVP_PKEY_keygen_init        (*dl_crypto.EVP_PKEY_keygen_init)
#define EVP_PKEY_keygen             (*dl_crypto.EVP_PKEY_keygen)
#define EVP_PKEY_Q_keygen           (*dl_crypto.EVP_PKEY_Q_keygen)
#define EVP_PKEY_new_raw_public_key (*dl_crypto.EVP_PKEY_new_raw_public_key)
#define EVP_PKEY_get_raw_public_key (*dl_crypto.EVP_PKEY_get_raw_public_key)
#define EVP_PKEY_get_id             (*dl_crypto.EVP_PKEY_get_id)
#define EVP_PKEY_get0_type_name     (*dl_crypto.EVP_PKEY_get0_type_name)
#define EVP_PKEY_free               (*dl_crypto.EVP_PKEY_free)
#define EVP_MD_CTX_new              (*dl_crypto.EVP_MD_CTX_new)
#define EVP_MD_CTX_free             (*dl_crypto.EVP_MD_CTX_free)
#define EVP_DigestSignInit          (*dl_crypto.EVP_DigestSignInit)
#define EVP_DigestSign              (*dl_crypto.EVP_DigestSign)
#define EVP_DigestVerifyInit        (*dl_crypto.EVP_DigestVerifyInit)
#define EVP_DigestVerify            (*dl_crypto.EVP_DigestVerify)
#define EVP_aes_256_gcm             (*dl_crypto.EVP_aes_256_gcm)
#define EVP_CIPHER_CTX_new          (*dl_crypto.EVP_CIPHER_CTX_new)
#define EVP_CIPHER_CTX_ctrl         (*dl_crypto.EVP_CIPHER_CTX_ctrl)
#define EVP_CIPHER_CTX_free         (*dl_crypto.EVP_CIPHER_CTX_free)
#define EVP_EncryptInit_ex          (*dl_crypto.EVP_EncryptInit_ex)
#define EVP_EncryptUpdate           (*dl_crypto.EVP_EncryptUpdate)
#define EVP_EncryptFinal_ex         (*dl_crypto.EVP_EncryptFinal_ex)
#define EVP_DecryptInit_ex          (*dl_crypto.EVP_DecryptInit_ex)
#define EVP_DecryptUpdate           (*dl_crypto.EVP_DecryptUpdate)
#define EVP_DecryptFinal_ex         (*dl_crypto.EVP_DecryptFinal_ex)
#endif

#endif
