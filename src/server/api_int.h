/*
 * api_int: what the API's modules (api.c, api_release.c, api_deploy.c, api_metrics.c) share. Not
 * for use outside src/server.
 */
#ifndef FLYWHEEL_SERVER_API_INT_H
#define FLYWHEEL_SERVER_API_INT_H

#include <pthread.h>
#include <stdint.h>

#include "engine/engine.h"
#include "server/http.h"
#include "store/store.h"

struct api {
    struct engine *e;
    char *db_path, *data_dir;
    pthread_key_t store_key;
};

/* The calling thread's own store connection; on failure replies 500 and returns NULL. */
struct store *api_store(struct http_request *r, struct api *a);
/* Hands a request to the engine and answers with what it says. */
void api_call_engine(struct http_request *r, struct api *a, const struct engine_request *q);
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
