/*
 * store/secret: a repository's secrets in the store, sealed (store/seal.h)
 * with the key in DATA/secrets.key. A row holds the name, the nonce and the
 * ciphertext (with its tag), when it was created and last set, and by whom;
 * never the value in clear. Each ciphertext is bound to its repository and
 * name (the associated data): a row copied or moved to another repository or
 * name does not decrypt.
 *
 * Calling sequence (the API sets, lists and deletes; the engine and the
 * deployer read the values a run or a deployment asks for):
 *
 *     unsigned char key[SEAL_KEY_LEN];
 *     store_secret_key(data_dir, true, key, &err);                 // made on first use
 *     store_secret_set(st, key, repo_id, "TOKEN", v, n, "alice", now, &created, &err);
 *     explicit_bzero(key, sizeof(key));
 *
 *     struct store_secret_value *v; size_t n;
 *     store_secret_values(st, data_dir, repo_id, "app", names, nnames, &v, &n, &err);
 *     ... v[i].value, or v[i].error: why it is not there ...
 *     store_secret_values_release(v, n);                             // wipes the values
 *
 * Errors and threads as in store.h: one connection per thread; the key is
 * read from its file at each call (it is 32 bytes).
 */
#ifndef FLYWHEEL_STORE_SECRET_H
#define FLYWHEEL_STORE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/store.h"
#include "util/buf.h"

#define STORE_SECRET_KEY_FILE "secrets.key"

/* What the list says of a secret: everything but its value. */
struct store_secret {
    char *name;
    int64_t created_ms, updated_ms;
    char *set_by; /* who set it last, or "" */
};

/* The key in DATA/secrets.key (seal_key_load: made when create and missing). */
int store_secret_key(const char *data_dir, bool create, unsigned char key[SEAL_KEY_LEN],
                     struct buf *err) __attribute__((warn_unused_result));

/*
 * Seals value (len bytes; the caller has checked it, core/secret.h) and
 * stores it as repository repo_id's secret name, replacing what was there.
 * *created says whether it is new.
 */
int store_secret_set(struct store *st, const unsigned char key[SEAL_KEY_LEN], int64_t repo_id,
                     const char *name, const void *value, size_t len, const char *by,
                     int64_t now_ms, bool *created, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Appends the value of secret name to value. -ENOENT (no message) when it
 * is not set; -EBADMSG when it does not decrypt with key.
 */
int store_secret_get(struct store *st, const unsigned char key[SEAL_KEY_LEN], int64_t repo_id,
                     const char *name, struct buf *value, struct buf *err)
    __attribute__((warn_unused_result));

/* The secrets of a repository by name, without values. */
int store_secret_list(struct store *st, int64_t repo_id, struct store_secret **out, size_t *n,
                      struct buf *err) __attribute__((warn_unused_result));
void store_secrets_release(struct store_secret *v, size_t n);

/* -ENOENT (no message) when it is not set. */
int store_secret_delete(struct store *st, int64_t repo_id, const char *name, struct buf *err)
    __attribute__((warn_unused_result));

/* A secret asked for by name: its value, or why there is none. */
struct store_secret_value {
    char *name;
    char *value; /* NUL-terminated, len bytes; NULL when error says why not */
    size_t len;
    char *error; /* "secret 'X' is not set for repository 'app' (...)", or NULL */
};

/*
 * The values of names[0..n) (repeated names once) of repository repo_id
 * (called repo in messages). A secret that is not set or cannot be read
 * gets its reason in error; the call fails (-1 with err) only when the
 * store cannot be read.
 */
int store_secret_values(struct store *st, const char *data_dir, int64_t repo_id, const char *repo,
                        const char *const *names, size_t n, struct store_secret_value **out,
                        size_t *nout, struct buf *err) __attribute__((warn_unused_result));
void store_secret_values_release(struct store_secret_value *v, size_t n);

#endif
