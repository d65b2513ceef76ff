/*
 * api: the JSON API under /api/v1/ and /metrics, on top of server/http.h.
 * docs/api.md documents every route.
 *
 * Reads go straight to the store through a connection of the HTTP thread's
 * own; changes go to the engine (engine_call), which owns runtime state.
 */
#ifndef FLYWHEEL_SERVER_API_H
#define FLYWHEEL_SERVER_API_H

#include "engine/engine.h"
#include "server/http.h"

struct api;

/* db_path: the store's file; data_dir: where logs live. e outlives the api. */
struct api *api_new(struct engine *e, const char *db_path, const char *data_dir);
void api_free(struct api *a);
/* The repositories' forges, for their webhooks (server/forge.h); f outlives the api. */
struct forge_set;
void api_set_forges(struct api *a, const struct forge_set *f);
/* The routing table (terminated by a NULL method); handlers take the api as ctx. */
const struct http_route *api_routes(void);

#endif
