/*
 * auth: who may do what. Every route of the API names the least role it
 * needs (struct http_route.need); the server's authorize hook compares it
 * with the role of the caller's token, in one place, before a body is read.
 *
 * Roles are ordered: each one may do everything the ones below it may.
 */
#ifndef FLYWHEEL_SERVER_AUTH_H
#define FLYWHEEL_SERVER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

enum auth_role {
    AUTH_ANYONE = 0,    /* no token needed: health, the signing key, forge webhooks */
    AUTH_VIEWER = 1,    /* read */
    AUTH_DEVELOPER = 2, /* trigger, cancel, retry */
    AUTH_DEPLOYER = 3,  /* approve, reject, deploy, rollback, stop and resume the line */
    AUTH_ADMIN = 4,     /* repositories, tokens, secrets, settings */
};

/* "viewer", ... ("anyone" for AUTH_ANYONE). */
const char *auth_role_name(unsigned role);
/* The role named s (viewer, developer, deployer, admin); -1 if none. */
int auth_role_parse(const char *s);

/*
 * A token is "fw_" and 43 characters of base64url (256 random bits). Only
 * its SHA-256, in hex, is stored.
 */
#define AUTH_TOKEN_LEN 46
/* A new token into tok (AUTH_TOKEN_LEN + 1 bytes) and its hash; -1 if no randomness. */
int auth_token_new(char *tok, char hash_hex[65]) __attribute__((warn_unused_result));
void auth_token_hash(const char *tok, char hash_hex[65]);
/* The token of an "Authorization: Bearer TOKEN" header; NULL if it is not one. */
const char *auth_bearer(const char *header);

/*
 * Requests per second, per key (a token's id or a client's address): a
 * token bucket of `burst` requests refilled at `rate` per second. The
 * table is bounded: when full, idle keys go first (a full bucket is the
 * same as no entry). Thread-safe.
 */
struct auth_limiter;
struct auth_limiter *auth_limiter_new(unsigned rate, unsigned burst);
void auth_limiter_free(struct auth_limiter *l);
/* Takes one request for key at now_ms: true, or false with the seconds to wait in *retry_s. */
bool auth_limiter_take(struct auth_limiter *l, const char *key, uint64_t now_ms, unsigned *retry_s);

#endif
