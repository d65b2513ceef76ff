/*
 * The secrets routes (docs/api.md, docs/secrets.md): set, list, delete.
 * Write-only: no reply ever holds a value.
 *
 * A secret is a row and nothing more: no runtime state depends on it (a run
 * reads the values it needs when it starts). So, unlike the other changes,
 * these go straight to the store through the HTTP thread's own connection,
 * not through the engine: the engine's loop never waits for them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"
#include "server/api_int.h"
#include "store/secret.h"
#include "util/xalloc.h"

/* The repository and the secret's name the route names; replies and returns -1 when wrong. */
static int route_secret(struct http_request *r, struct store *st, struct store_repo *repo,
                        const char **name)
{
    if (api_repo(r, st, repo))
        return -1;
    struct buf err = BUF_INIT;
    *name = http_param(r, "secret");
    if (!*name || secret_name_check(*name, &err)) {
        http_reply_error(r, 400, "bad_request", "%s", err.len ? err.data : "no secret name");
        buf_release(&err);
        return -1;
    }
    return 0;
}

static json_t *secret_json(const char *repo, const struct store_secret *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo));
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "created_ms", json_integer(s->created_ms));
    json_object_set_new(o, "updated_ms", json_integer(s->updated_ms));
    json_object_set_new(o, "set_by", json_string(s->set_by));
    return o;
}

/* PUT /api/v1/repos/{name}/secrets/{secret}  {"value": "...", "actor": "..."} */
void h_secret_put(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct buf err = BUF_INIT;
    const char *name;
    json_t *body = NULL;
    unsigned char key[SEAL_KEY_LEN];
    bool have_key = false;

    if (!st || route_secret(r, st, &repo, &name))
        goto out;
    body = http_body_json(r);
    http_body_wipe(r); /* parsed: the value lives on in body only */
    if (!body)
        goto out;
    json_t *v = json_object_get(body, "value");
    const char *key_name;
    json_t *item;
    json_object_foreach(body, key_name, item)
    {
        if (strcmp(key_name, "value") && strcmp(key_name, "actor")) {
            http_reply_error(r, 400, "bad_request",
                             "unknown key '%s': a secret's body is {\"value\": \"...\"}", key_name);
            goto out;
        }
    }
    if (!json_is_string(v)) {
        http_reply_error(r, 400, "bad_request", "a secret needs 'value' (a string)");
        goto out;
    }
    const char *value = json_string_value(v);
    size_t len = json_string_length(v);
    if (secret_value_check(value, len, &err)) {
        http_reply_error(r, 400, "bad_value", "secret '%s': %s", name, err.data);
        goto out;
    }
    json_t *actor = json_object_get(body, "actor");
    const char *by = http_user(r);
    if (!by && json_is_string(actor))
        by = json_string_value(actor);
    if (by && strlen(by) > 256) {
        http_reply_error(r, 400, "bad_request", "'actor' is longer than 256 bytes");
        goto out;
    }
    if (store_secret_key(a->data_dir, true, key, &err)) {
        http_reply_error(r, 500, "secrets_key", "%s", err.data);
        goto out;
    }
    have_key = true;
    bool created = false;
    int64_t now = store_now_ms();
    if (store_secret_set(st, key, repo.id, name, value, len, by, now, &created, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    struct store_secret s = {
        .name = (char *)name, .updated_ms = now, .set_by = (char *)(by ? by : "")};
    struct store_secret *list = NULL;
    size_t n = 0;
    if (store_secret_list(st, repo.id, &list, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(list[i].name, name))
                s.created_ms = list[i].created_ms;
    json_t *o = secret_json(repo.name, &s);
    json_object_set_new(o, "created", json_boolean(created));
    /* Lines of a value spanning lines that are too short to be masked on their own. */
    json_object_set_new(o, "unmasked_lines",
                        json_integer((json_int_t)secret_short_lines(value, len)));
    store_secrets_release(list, n);
    explicit_bzero((char *)value, len); /* the parsed copy: nothing else needs it */
    http_reply_json(r, created ? 201 : 200, o);
out:
    if (have_key)
        explicit_bzero(key, sizeof(key));
    json_decref(body);
    store_repo_release(&repo);
    buf_release(&err);
}

/* GET /api/v1/repos/{name}/secrets: names, when and who; never values. */
void h_secrets(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_secret *list = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st || api_repo(r, st, &repo))
        goto out;
    if (store_secret_list(st, repo.id, &list, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, secret_json(repo.name, &list[i]));
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo.name));
    json_object_set_new(o, "secrets", arr);
    http_reply_json(r, 200, o);
out:
    store_secrets_release(list, n);
    store_repo_release(&repo);
    buf_release(&err);
}

/* DELETE /api/v1/repos/{name}/secrets/{secret} */
void h_secret_delete(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct buf err = BUF_INIT;
    const char *name;
    if (!st || route_secret(r, st, &repo, &name))
        goto out;
    int rc = store_secret_delete(st, repo.id, name, &err);
    if (rc == -ENOENT) {
        http_reply_error(r, 404, "not_found", "repository '%s' has no secret '%s'", repo.name,
                         name);
    } else if (rc) {
        http_reply_error(r, 500, "store", "%s", err.data);
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "repo", json_string(repo.name));
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "deleted", json_true());
        http_reply_json(r, 200, o);
    }
out:
    store_repo_release(&repo);
    buf_release(&err);
}
