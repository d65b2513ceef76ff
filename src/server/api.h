/*
 * api: the JSON API under /api/v1/ and /metrics, on top of server/http.h.
 * docs/api.md documents every route.
 *
 * Reads go straight to the store through a connection of the HTTP thread's
 * own; changes go to the engine (engine_call), which owns runtime state.
 */
#ifndef FLYWHEEL_SERVER_API_H
#define FLYWHEEL_SERVER_API_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "server/http.h"
#include "store/store.h"

struct api;

/*
 * An event line of the engine (engine_config's event sink) has happened:
 * wakes the streams waiting for it, those that wait on its run only for
 * that run's events (http_reply_stream_keyed), the others for every one.
 */
void api_wake_for_event(struct http_server *h, const char *line, size_t len);
/* A job of run run_id printed (engine_config's output sink): its live logs read on. */
void api_wake_for_output(struct http_server *h, int64_t run_id);

/* db_path: the store's file; data_dir: where logs live. e outlives the api. */
struct api *api_new(struct engine *e, const char *db_path, const char *data_dir);
void api_free(struct api *a);
/* The repositories' forges, for their webhooks (server/forge.h); f outlives the api. */
struct forge_set;
void api_set_forges(struct api *a, const struct forge_set *f);
/* The routing table (terminated by a NULL method); handlers take the api as ctx. */
const struct http_route *api_routes(void);

/*
 * Who may do what (api_auth.c). api_authorize and api_audit are the
 * http_config's authorize and after hooks, with the api as ctx: every
 * route's role is checked by the first, every request that changes
 * something is appended to the audit log by the second.
 */
bool api_authorize(struct http_request *r, unsigned need, void *ctx);
/* The http_idle of the API: hands the thread's store connection back to the pool. */
void api_idle(void *ctx);
void api_audit(struct http_request *r, unsigned status, void *ctx);
/*
 * The audit entry of r (its strings point into r, action and detail),
 * unless r only reads (GET, HEAD): then false.
 */
struct store_audit;
bool api_audit_entry(struct http_request *r, unsigned status, struct store_audit *e,
                     struct buf *action, struct buf *detail);
/* Reading without a token; requests per second per token and burst (0: defaults 50 and 200). */
void api_auth_configure(struct api *a, bool public_read, unsigned rate, unsigned burst);
/*
 * On a store with no token ever made, makes an admin token named "admin"
 * and writes it to DATA/admin.token (mode 0600): *made is that path (the
 * caller frees it), else NULL. 0, or a negative code with err.
 */
int api_auth_bootstrap(const char *db_path, const char *data_dir, char **made, struct buf *err)
    __attribute__((warn_unused_result));
/*
 * Makes a token of role for name (expiring at expires_ms, 0: never) made by
 * `by`; its secret into tok, once. -EINVAL (bad name or role), -EEXIST (a live
 * token has that name) or -EIO, with err.
 */
int api_token_make(struct store *st, const char *name, const char *role, int64_t expires_ms,
                   const char *by, char *tok, int64_t *id, struct buf *err)
    __attribute__((warn_unused_result));

#endif
