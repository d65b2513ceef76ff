/*
 * auth (store): API tokens and the audit log, in flywheel.db.
 *
 * A token's secret is never stored: only its SHA-256 (tokens are 256 random
 * bits, so a fast hash is enough). Looking one up by its hash is how a
 * request is authenticated; a revoked or expired token is not found.
 *
 * The audit log only grows: the schema's triggers refuse to change or
 * delete an entry, and no function here does either.
 *
 * Threads and errors: as in store.h.
 */
#ifndef FLYWHEEL_STORE_AUTH_H
#define FLYWHEEL_STORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct store_token {
    int64_t id;
    char *name;
    char *role; /* viewer, developer, deployer, admin */
    int64_t created_ms;
    char *created_by;
    int64_t expires_ms; /* 0: never */
    int64_t revoked_ms; /* 0: live */
    int64_t used_ms;    /* last use, to the minute; 0: never */
};

/* Records a token by the hash of its secret (64 hex digits); returns its id, or -1 (-EINVAL-like: a
 * live token has that name) with err. */
int64_t store_token_insert(struct store *st, const struct store_token *t, const char *hash_hex,
                           struct buf *err) __attribute__((warn_unused_result));
/*
 * The live token (not revoked, not expired at now_ms) with that hash into
 * *t: 0, -ENOENT if none, or another negative code with err.
 */
int store_token_find(struct store *st, const char *hash_hex, int64_t now_ms, struct store_token *t,
                     struct buf *err) __attribute__((warn_unused_result));
/* Whether token id is live (not revoked, not expired at now_ms): 0, -ENOENT, or another code. */
int store_token_live(struct store *st, int64_t id, int64_t now_ms, struct buf *err)
    __attribute__((warn_unused_result));
/* Notes a use (cheap: written only when the minute changed). */
void store_token_used(struct store *st, int64_t id, int64_t now_ms);
/* Every token, newest first (revoked ones too when all); caller frees with store_token_free. */
int store_token_list(struct store *st, int all, struct store_token **out, size_t *n,
                     struct buf *err) __attribute__((warn_unused_result));
/* How many tokens were ever made (revoked ones included). */
int store_token_count(struct store *st, int64_t *out, struct buf *err)
    __attribute__((warn_unused_result));
/*
 * Revokes the live token named by id (when id > 0) or by name: 0, -ENOENT
 * if there is none, or another negative code. *out gets the token as it was.
 */
int store_token_revoke(struct store *st, int64_t id, const char *name, int64_t now_ms,
                       struct store_token *out, struct buf *err)
    __attribute__((warn_unused_result));
void store_token_release(struct store_token *t);
void store_token_free(struct store_token *v, size_t n);

struct store_audit {
    int64_t id, time_ms;
    char *actor, *role, *peer, *method, *path, *action;
    int status;
    char *detail; /* JSON text of what the request asked, or "" */
};

/* Appends an entry (id and time_ms are set by the store when 0). */
int store_audit_add(struct store *st, const struct store_audit *a, struct buf *err)
    __attribute__((warn_unused_result));
/* Entries newest first, with id < before (0: from the newest), by actor when not NULL. */
int store_audit_list(struct store *st, int64_t before, const char *actor, int64_t since_ms,
                     size_t limit, struct store_audit **out, size_t *n, struct buf *err)
    __attribute__((warn_unused_result));
void store_audit_free(struct store_audit *v, size_t n);
/* A copy of src with strings of its own; store_audit_release frees them. */
void store_audit_copy(struct store_audit *dst, const struct store_audit *src);
void store_audit_release(struct store_audit *a);

#endif
