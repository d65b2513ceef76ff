/*
 * ui: the web UI, served from the binary itself. The files under ui/ at the
 * top of the source tree are turned into a C array at build time
 * (scripts/embed-ui writes build/gen/ui_assets.c); nothing is read from disk
 * at run time. docs/ui.md describes the pages and the headers.
 *
 *     GET /            ui/index.html
 *     GET /ui/{file}   any other file of ui/ (one path segment: ui/ is flat)
 *
 * Both need no token (the data comes from the API, which checks them), answer
 * HEAD, revalidate with an ETag made from the file's SHA-256 (If-None-Match:
 * 304), and carry a strict Content-Security-Policy.
 */
#ifndef FLYWHEEL_SERVER_UI_H
#define FLYWHEEL_SERVER_UI_H

#include <stddef.h>

#include "server/http.h"

struct ui_asset {
    const char *name; /* "index.html", "app.js" */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* "\"<hex>\"": the start of the content's SHA-256, quoted */
};

/* The embedded files, terminated by a NULL name (build/gen/ui_assets.c). */
extern const struct ui_asset ui_assets[];

/* The Content-Security-Policy of every UI reply. */
#define UI_CSP                                                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"

/* The asset named name, or NULL. */
const struct ui_asset *ui_asset_find(const char *name);

void h_ui_index(struct http_request *r, void *ctx);
void h_ui_file(struct http_request *r, void *ctx);

#endif
