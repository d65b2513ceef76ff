/*
 * api_int: what the API's modules (api.c, api_release.c, api_deploy.c, api_metrics.c,
 * api_pipeline.c, api_auth.c, api_forge.c, api_secret.c) share. Not for use outside
 * src/server.
 */
#ifndef FLYWHEEL_SERVER_API_INT_H
#define FLYWHEEL_SERVER_API_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "server/auth.h"
#include "server/http.h"
#include "store/store.h"

struct forge_set;

/* Store connections kept open for the next request beyond those in use. */
#define API_STORE_POOL 8

struct api {
    struct engine *e;
    char *db_path, *data_dir;
    pthread_key_t store_key; /* the connection a worker thread holds now */
    pthread_mutex_t pool_mu;
    struct store *pool[API_STORE_POOL]; /* connections no thread holds, under pool_mu */
    size_t npool;
    bool public_read;               /* reading needs no token */
    unsigned rate;                  /* requests per second per token or address */
    struct auth_limiter *limiter;   /* never NULL once api_new returns */
    const struct forge_set *forges; /* the repositories' forges (server/forge.h), or NULL */
};

/*
 * A store connection for the calling thread until the request is done with
 * it for now (http_idle: api_idle); on failure replies 500 and returns NULL.
 */
struct store *api_store(struct http_request *r, struct api *a);
/* The same without replying: NULL with a reason in err. */
struct store *api_store_quiet(struct api *a, struct buf *err);
/*
 * The token behind an answer that lasts (a live log, the event stream, a
 * wait for a run's end), asked again while it lasts: a stream ends once its
 * token is revoked or expired, as its next request would be refused.
 */
struct api_grant {
    int64_t token_id;   /* 0: none (reading open to anyone) */
    int64_t expires_ms; /* 0: never */
    uint64_t gen;       /* the token cache's generation when last asked */
    uint64_t asked_ms;  /* when the store was last asked (monotonic) */
};
/* A revocation through the API is seen at the stream's next read; one made
 * in the store directly, within API_GRANT_RECHECK_MS. */
#define API_GRANT_RECHECK_MS 5000
void api_grant_init(struct api_grant *g, const struct http_request *r);
/* False once the token is revoked or expired (or the store cannot say). */
bool api_grant_valid(struct api *a, struct api_grant *g);
/* Hands a request to the engine and answers with what it says. */
void api_call_engine(struct http_request *r, struct api *a, const struct engine_request *q);
/* Answers with the engine's reply (rc: engine_call's return). */
void api_reply_engine(struct http_request *r, struct engine_reply *rep, int rc);
/* "bytes=A-B", "bytes=A-", "bytes=-N" against size: [*from, *to); 0, or -1 when
 * malformed or unsatisfiable. */
int api_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);
/* The repository named by the route's {name}; replies 404 or 500 and returns -1 on failure. */
int api_repo(struct http_request *r, struct store *st, struct store_repo *out);

/* Release routes (api_release.c). */
void h_releases(struct http_request *r, void *ctx);
void h_release(struct http_request *r, void *ctx);
void h_release_file(struct http_request *r, void *ctx);
void h_release_archive(struct http_request *r, void *ctx);
void h_release_bad(struct http_request *r, void *ctx);
void h_release_good(struct http_request *r, void *ctx);
void h_signing_key(struct http_request *r, void *ctx);

/* Deployment routes (api_deploy.c). */
void h_deployments(struct http_request *r, void *ctx);
void h_deployment(struct http_request *r, void *ctx);
void h_step_log(struct http_request *r, void *ctx);
void h_deploy(struct http_request *r, void *ctx);
void h_rollback(struct http_request *r, void *ctx);
void h_approve(struct http_request *r, void *ctx);
void h_reject(struct http_request *r, void *ctx);
void h_line(struct http_request *r, void *ctx);
void h_line_stop(struct http_request *r, void *ctx);
void h_line_resume(struct http_request *r, void *ctx);
void h_envs(struct http_request *r, void *ctx);
void h_incidents(struct http_request *r, void *ctx);

/* The pipeline a run runs: its job graph and environments (api_pipeline.c). */
void h_run_pipeline(struct http_request *r, void *ctx);

/* Tokens and the audit log (api_auth.c). */
void h_token_create(struct http_request *r, void *ctx);
void h_tokens(struct http_request *r, void *ctx);
void h_token_revoke(struct http_request *r, void *ctx);
void h_whoami(struct http_request *r, void *ctx);
void h_audit(struct http_request *r, void *ctx);
/* The forges' webhooks (api_forge.c). */
void h_hook_github(struct http_request *r, void *ctx);
void h_hook_gitlab(struct http_request *r, void *ctx);
void h_hook_gitea(struct http_request *r, void *ctx);

/* Secrets (api_secret.c). */
void h_secret_put(struct http_request *r, void *ctx);
void h_secrets(struct http_request *r, void *ctx);
void h_secret_delete(struct http_request *r, void *ctx);

/* The measures of the loop (api_metrics.c). */
void h_metrics_dora(struct http_request *r, void *ctx);
void h_metrics_stages(struct http_request *r, void *ctx);
void h_metrics_caught(struct http_request *r, void *ctx);
void h_metrics_flaky(struct http_request *r, void *ctx);
/* The trailing window of the measures /metrics exports: 30 days. */
#define API_METRICS_WINDOW_MS (30LL * 86400 * 1000)
/* Appends the current measures of every repository over the window (Prometheus text). */
void api_metrics_prometheus(struct store *st, struct buf *out);

#endif
