/*
 * The web UI's files (see ui.h).
 */
#include "server/ui.h"

#include <string.h>

const struct ui_asset *ui_asset_find(const char *name)
{
    for (const struct ui_asset *a = ui_assets; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

/* Whether an If-None-Match header names etag (or is "*"); weak tags compare too. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm;
    while (*p) {
        p += strspn(p, " \t,");
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

static void serve(struct http_request *r, const struct ui_asset *a)
{
    /*
     * no-cache: the browser keeps the file but asks every time, and the
     * ETag makes that a 304 without a body. Files keep their names from one
     * version to the next (no build step renames them), so a longer max-age
     * would keep an old module after an upgrade.
     */
    http_add_header(r, "Cache-Control", "no-cache");
    http_add_header(r, "ETag", a->etag);
    http_add_header(r, "Content-Security-Policy", UI_CSP);
    http_add_header(r, "X-Frame-Options", "DENY");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    const char *inm = http_header(r, "If-None-Match");
    if (inm && etag_matches(inm, a->etag)) {
        /* MHD sends no body with a 304, and a Content-Length of the file's. */
        http_reply_static(r, 304, NULL, a->data, a->len);
        return;
    }
    http_reply_static(r, 200, a->type, a->data, a->len);
}

void h_ui_index(struct http_request *r, void *ctx)
{
    (void)ctx;
    const struct ui_asset *a = ui_asset_find("index.html");
    if (!a) {
        http_reply_error(r, 404, "not_found", "this build has no web UI");
        return;
    }
    serve(r, a);
}

void h_ui_file(struct http_request *r, void *ctx)
{
    (void)ctx;
    const char *name = http_param(r, "file");
    const struct ui_asset *a = name ? ui_asset_find(name) : NULL;
    if (!a) {
        http_reply_error(r, 404, "not_found", "no file '%s' in the web UI", name ? name : "");
        return;
    }
    serve(r, a);
}
