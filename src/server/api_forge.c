/*
 * The forges' webhooks: POST /api/v1/repos/{name}/hooks/github, .../gitlab,
 * .../gitea. docs/forges.md says how to connect each forge, docs/api.md
 * what each answer means.
 *
 * Anyone may call these routes (auth.h: AUTH_ANYONE): a request proves
 * itself by its signature, made with the repository's webhook secret. The
 * order is what keeps a forged request harmless: the body is read under the
 * server's cap (413 past it, by http.c), the signature is checked in
 * constant time before anything parses the body (401 when it does not
 * match: nothing else happens), the payload is parsed and checked (400:
 * nothing happens), the delivery id is recorded once (a redelivery is
 * answered 200 and does nothing more), and only then does the engine act:
 * a push fetches the mirror, which makes main, change and tag runs as
 * `flywheel notify` does; a pull request fetches its head and queues a
 * change run of it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/api_int.h"
#include "server/forge.h"
#include "store/forge.h"
#include "util/xalloc.h"

#define CALL_TIMEOUT_MS 60000
/* How long delivery ids are kept: redeliveries come within days (GitHub
 * lets a delivery be redelivered for three). */
#define DELIVERY_KEEP_MS (7LL * 24 * 3600 * 1000)

/* The delivery id of the request, or NULL; -1 (replied 400) when malformed. */
static int delivery_id(struct http_request *r, enum forge_kind k, const char **out)
{
    *out = NULL;
    for (const char *const *h = forge_delivery_headers(k); *h; h++) {
        const char *v = http_header(r, *h);
        if (!v || !*v)
            continue;
        size_t n = strlen(v);
        bool ok = n <= FORGE_DELIVERY_MAX;
        for (size_t i = 0; i < n && ok; i++)
            ok = isgraph((unsigned char)v[i]);
        if (!ok) {
            http_reply_error(r, 400, "bad_request",
                             "%s must be 1 to %d printable characters without spaces", *h,
                             FORGE_DELIVERY_MAX);
            return -1;
        }
        *out = v;
        return 0;
    }
    return 0;
}

static void reply_ignored(struct http_request *r, const char *why)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ignored"));
    json_object_set_new(o, "reason", json_string(why));
    http_reply_json(r, 202, o);
}

static void hook(struct http_request *r, struct api *a, enum forge_kind kind)
{
    const char *name = http_param(r, "name");
    const char *kname = forge_kind_name(kind);
    const struct forge_repo *f = forge_set_find(a->forges, name);
    if (!f || f->kind != kind || !f->secret) {
        /* The same answer whatever is missing: anyone may ask. */
        http_reply_error(r, 404, "not_found", "repository '%s' takes no %s webhooks",
                         name ? name : "", kname);
        return;
    }
    size_t len;
    const char *body = http_body(r, &len);
    const char *sig_name = forge_signature_header(kind);
    const char *sig = http_header(r, sig_name);
    if (!forge_verify(kind, f->secret, f->secret_len, sig, body, len)) {
        if (!sig)
            http_reply_error(r, 401, "bad_signature", "no %s header", sig_name);
        else
            http_reply_error(r, 401, "bad_signature",
                             "the %s header does not match the body and the secret", sig_name);
        return;
    }

    /* Signed by the forge: now the body may be read. */
    const char *delivery;
    struct forge_event ev;
    struct buf err = BUF_INIT;
    struct store_repo repo = {0};
    struct store *st = NULL;
    bool recorded = false;
    if (delivery_id(r, kind, &delivery))
        return;
    if (forge_parse(kind, http_header(r, forge_event_header(kind)), body, len, &ev, &err)) {
        http_reply_error(r, 400, "bad_request", "%s", err.data);
        goto out;
    }
    if (ev.type == FORGE_EV_IGNORED) {
        reply_ignored(r, ev.why);
        goto out;
    }
    if (ev.type == FORGE_EV_PING) {
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string("pong"));
        http_reply_json(r, 200, o);
        goto out;
    }
    if (!forge_project_matches(kind, f->project, &ev)) {
        struct buf why = BUF_INIT;
        buf_addf(&why, "the event is about %s %s; repository '%s' is %s",
                 kind == FORGE_GITLAB ? "project" : "repository",
                 ev.repo[0] ? ev.repo : "(another)", f->repo, f->project);
        reply_ignored(r, why.data);
        buf_release(&why);
        goto out;
    }
    if (!(st = api_store(r, a)) || api_repo(r, st, &repo))
        goto out;
    if (delivery) {
        int rc = store_delivery_add(st, repo.id, kname, delivery, store_now_ms(), DELIVERY_KEEP_MS,
                                    &err);
        if (rc < 0) {
            http_reply_error(r, 500, "store", "%s", err.data);
            goto out;
        }
        if (rc == 0) {
            json_t *o = json_object();
            json_object_set_new(o, "status", json_string("duplicate"));
            json_object_set_new(o, "delivery", json_string(delivery));
            http_reply_json(r, 200, o);
            goto out;
        }
        recorded = true;
    }

    struct engine_request q = {0};
    struct engine_reply rep = {0};
    buf_init(&rep.message, 0);
    buf_init(&rep.jobs, 0);
    q.name = f->repo;
    if (ev.type == FORGE_EV_PUSH) {
        q.op = ENGINE_SYNC;
    } else {
        q.op = ENGINE_PULL;
        q.ref = ev.ref;
        q.commit = ev.sha;
        q.branch = ev.head_branch;
        q.flag = ev.fork;
    }
    int rc = engine_call(a->e, &q, &rep, CALL_TIMEOUT_MS);
    if (rc || rep.status >= 400) {
        /* Nothing was done: a redelivery of this event may try again. */
        buf_reset(&err);
        if (recorded && store_delivery_remove(st, repo.id, kname, delivery, &err))
            fprintf(stderr, "flywheel serve: %s\n", err.data);
        api_reply_engine(r, &rep, rc);
    } else {
        json_t *o = json_object();
        if (ev.type == FORGE_EV_PUSH) {
            json_object_set_new(o, "status", json_string("accepted"));
            json_object_set_new(o, "event", json_string("push"));
            json_object_set_new(o, "ref", json_string(ev.ref));
            json_object_set_new(o, "deleted", json_boolean(ev.deleted));
        } else {
            json_object_set_new(o, "status", json_string("queued"));
            json_object_set_new(o, "event", json_string("pull_request"));
            json_object_set_new(o, "id", json_integer(rep.id));
            json_object_set_new(o, "number", json_integer(rep.number));
            json_object_set_new(o, "ref", json_string(ev.ref));
            json_object_set_new(o, "commit", json_string(ev.sha));
            json_object_set_new(o, "fork", json_boolean(ev.fork));
        }
        http_reply_json(r, ev.type == FORGE_EV_PUSH ? 202 : 201, o);
    }
    buf_release(&rep.message);
    buf_release(&rep.jobs);
out:
    store_repo_release(&repo);
    buf_release(&err);
}

void h_hook_github(struct http_request *r, void *ctx)
{
    hook(r, ctx, FORGE_GITHUB);
}

void h_hook_gitlab(struct http_request *r, void *ctx)
{
    hook(r, ctx, FORGE_GITLAB);
}

void h_hook_gitea(struct http_request *r, void *ctx)
{
    hook(r, ctx, FORGE_GITEA);
}
