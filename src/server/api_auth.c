/*
 * Who may do what: the authorize hook every request passes (one place for
 * every route's check), the audit hook every mutating request leaves a
 * trace through, and the routes of tokens and the audit log.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/duration.h"
#include "server/api.h"
#include "server/api_int.h"
#include "server/auth.h"
#include "store/auth.h"
#include "util/fileio.h"
#include "util/xalloc.h"

#define AUTH_DEFAULT_RATE  50
#define AUTH_DEFAULT_BURST 200
/* Bodies up to this size are kept in the audit log (without secret-looking fields). */
#define AUDIT_MAX_DETAIL 4096
#define MAX_TOKEN_NAME   64

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Tokens seen in the last TOKEN_CACHE_MS, by the hash of their secret, so
 * that a burst of requests does not ask the store each time. A revocation
 * through the API empties the cache; one made directly on the store (flywheel
 * token revoke --data) takes effect within TOKEN_CACHE_MS. An expiry is
 * checked against the entry's own time, and a token the store does not know
 * is never cached.
 */
#define TOKEN_CACHE    64
#define TOKEN_CACHE_MS 1000
static struct token_seen {
    char hash[65];
    int64_t id, expires_ms, used_ms;
    char name[MAX_TOKEN_NAME + 1];
    char role[16];
    uint64_t at_ms; /* when the store said so (wall_ms); 0: empty */
} token_cache[TOKEN_CACHE];
static pthread_mutex_t token_cache_mu = PTHREAD_MUTEX_INITIALIZER;
/* Bumped by each clearing: what was read from the store before it is not cached. */
static uint64_t token_cache_gen;

static struct token_seen *token_slot(const char *hash)
{
    unsigned h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return &token_cache[h % TOKEN_CACHE];
}

/* The cached token of hash, still fresh and unexpired, into *out; false if none. */
static bool token_cached(const char *hash, int64_t now, struct token_seen *out, uint64_t *gen)
{
    bool hit = false;
    pthread_mutex_lock(&token_cache_mu);
    *gen = token_cache_gen;
    struct token_seen *e = token_slot(hash);
    if (e->at_ms && wall_ms() - e->at_ms < TOKEN_CACHE_MS && !strcmp(e->hash, hash) &&
        (e->expires_ms == 0 || e->expires_ms > now)) {
        *out = *e;
        hit = true;
    }
    pthread_mutex_unlock(&token_cache_mu);
    return hit;
}

/* What is kept of a token the store knows; false when it does not fit. */
static bool token_seen_from(struct token_seen *e, const char *hash, const struct store_token *t)
{
    memset(e, 0, sizeof(*e));
    if (snprintf(e->name, sizeof(e->name), "%s", t->name) >= (int)sizeof(e->name) ||
        snprintf(e->role, sizeof(e->role), "%s", t->role) >= (int)sizeof(e->role))
        return false;
    memcpy(e->hash, hash, sizeof(e->hash));
    e->id = t->id;
    e->expires_ms = t->expires_ms;
    e->used_ms = t->used_ms;
    return true;
}

/* Keeps seen unless the cache was cleared since gen was read (a revocation). */
static void token_remember(const struct token_seen *seen, uint64_t gen)
{
    pthread_mutex_lock(&token_cache_mu);
    if (gen == token_cache_gen) {
        struct token_seen *e = token_slot(seen->hash);
        *e = *seen;
        e->at_ms = wall_ms();
    }
    pthread_mutex_unlock(&token_cache_mu);
}

static void token_noted_use(const char *hash, int64_t now)
{
    pthread_mutex_lock(&token_cache_mu);
    struct token_seen *e = token_slot(hash);
    if (!strcmp(e->hash, hash))
        e->used_ms = now;
    pthread_mutex_unlock(&token_cache_mu);
}

static void token_cache_clear(void)
{
    pthread_mutex_lock(&token_cache_mu);
    memset(token_cache, 0, sizeof(token_cache));
    token_cache_gen++;
    pthread_mutex_unlock(&token_cache_mu);
}

static bool limited(struct http_request *r, struct api *a, const char *key)
{
    unsigned retry_s = 1;
    if (auth_limiter_take(a->limiter, key, wall_ms(), &retry_s))
        return false;
    char v[16];
    snprintf(v, sizeof(v), "%u", retry_s);
    http_add_header(r, "Retry-After", v);
    http_reply_error(r, 429, "too_many_requests", "over %u requests per second; retry in %u s",
                     a->rate, retry_s);
    return true;
}

/* A refused attempt to change something, by a known token, is worth a line in the audit. */
static void audit_refusal(struct http_request *r, struct api *a, const char *actor,
                          const char *role, unsigned status)
{
    const char *m = http_method(r);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return;
    struct buf err = BUF_INIT, action = BUF_INIT;
    struct store *st = api_store_quiet(a, &err);
    buf_addf(&action, "%s %s", m, http_route_path(r));
    struct store_audit e = {0};
    e.actor = (char *)actor;
    e.role = (char *)role;
    e.peer = (char *)http_peer(r);
    e.method = (char *)m;
    e.path = (char *)http_path(r);
    e.action = action.data;
    e.status = (int)status;
    e.detail = "";
    if (st && store_audit_add(st, &e, &err))
        fprintf(stderr, "flywheel serve: audit: %s\n", err.data);
    buf_release(&action);
    buf_release(&err);
}

void api_grant_init(struct api_grant *g, const struct http_request *r)
{
    g->token_id = http_token(r, &g->expires_ms);
    pthread_mutex_lock(&token_cache_mu);
    g->gen = token_cache_gen;
    pthread_mutex_unlock(&token_cache_mu);
    g->asked_ms = wall_ms();
}

bool api_grant_valid(struct api *a, struct api_grant *g)
{
    if (!g->token_id)
        return true;
    int64_t now = store_now_ms();
    if (g->expires_ms && g->expires_ms <= now)
        return false;
    pthread_mutex_lock(&token_cache_mu);
    uint64_t gen = token_cache_gen;
    pthread_mutex_unlock(&token_cache_mu);
    uint64_t t = wall_ms();
    if (gen == g->gen && t - g->asked_ms < API_GRANT_RECHECK_MS)
        return true;
    struct buf err = BUF_INIT;
    struct store *st = api_store_quiet(a, &err);
    int rc = st ? store_token_live(st, g->token_id, now, &err) : -EIO;
    if (rc && rc != -ENOENT)
        fprintf(stderr, "flywheel serve: %s\n", err.data);
    buf_release(&err);
    g->gen = gen;
    g->asked_ms = t;
    return rc == 0;
}

bool api_authorize(struct http_request *r, unsigned need, void *ctx)
{
    struct api *a = ctx;
    const char *h = http_header(r, "Authorization");
    struct buf key = BUF_INIT, err = BUF_INIT;
    bool ok = false;

    if (!h && (need == AUTH_ANYONE || (need == AUTH_VIEWER && a->public_read))) {
        buf_addf(&key, "a:%s", http_peer(r));
        ok = !limited(r, a, key.data);
        goto out;
    }
    if (!h) {
        if (need == AUTH_ANYONE) {
            ok = true;
            goto out;
        }
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthorized",
                         "%s %s needs a token: send 'Authorization: Bearer TOKEN'", http_method(r),
                         http_path(r));
        goto out;
    }
    const char *tok = auth_bearer(h);
    if (!tok) {
        http_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_request\"");
        http_reply_error(r, 401, "unauthorized", "the Authorization header is not 'Bearer TOKEN'");
        goto out;
    }
    char hash[65];
    auth_token_hash(tok, hash);
    struct store *st = NULL;
    struct token_seen t;
    int64_t now = store_now_ms();
    uint64_t gen;
    if (!token_cached(hash, now, &t, &gen)) {
        st = api_store_quiet(a, &err);
        if (!st) {
            http_reply_error(r, 500, "store", "%s", err.data);
            goto out;
        }
        struct store_token found;
        int rc = store_token_find(st, hash, now, &found, &err);
        if (rc == -ENOENT) {
            http_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            http_reply_error(r, 401, "unauthorized", "the token is unknown, revoked or expired");
            goto out;
        }
        if (rc) {
            http_reply_error(r, 500, "store", "%s", err.data);
            goto out;
        }
        bool fits = token_seen_from(&t, hash, &found);
        store_token_release(&found);
        if (!fits) {
            http_reply_error(r, 500, "store", "a token in the store has a name over %d bytes",
                             MAX_TOKEN_NAME);
            goto out;
        }
        token_remember(&t, gen);
    }
    int role = auth_role_parse(t.role);
    buf_addf(&key, "t:%lld", (long long)t.id);
    if (limited(r, a, key.data))
        goto out;
    if (role < (int)need) {
        http_reply_error(r, 403, "forbidden", "token '%s' is a %s; %s %s needs a %s", t.name,
                         t.role, http_method(r), http_route_path(r), auth_role_name(need));
        audit_refusal(r, a, t.name, t.role, 403);
        goto out;
    }
    http_set_user(r, t.name, (unsigned)role);
    http_set_token(r, t.id, t.expires_ms);
    /* Its last use is kept to the minute: a write only when that has moved. */
    if (t.used_ms < now - 60000) {
        if (!st)
            st = api_store_quiet(a, &err);
        if (st) {
            store_token_used(st, t.id, now);
            token_noted_use(hash, now);
        }
    }
    ok = true;
out:
    buf_release(&key);
    buf_release(&err);
    return ok;
}

/* The body as JSON text for the audit, without the fields that may hold secrets. */
static void audit_detail(struct http_request *r, struct buf *out)
{
    static const char *const hidden[] = {"value", "token", "secret", "password", NULL};
    size_t len;
    const char *body = http_body(r, &len);
    if (!len || len > AUDIT_MAX_DETAIL)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    for (size_t i = 0; hidden[i]; i++)
        if (json_object_get(j, hidden[i]))
            json_object_set_new(j, hidden[i], json_string("***"));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (s)
        buf_adds(out, s);
    free(s);
    json_decref(j);
}

bool api_audit_entry(struct http_request *r, unsigned status, struct store_audit *e,
                     struct buf *action, struct buf *detail)
{
    const char *m = http_method(r);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return false;
    buf_addf(action, "%s %s", m, http_route_path(r));
    if (http_user(r))
        audit_detail(r, detail);
    memset(e, 0, sizeof(*e));
    e->actor = (char *)(http_user(r) ? http_user(r) : "anonymous");
    e->role = (char *)auth_role_name(http_user(r) ? http_user_role(r) : AUTH_ANYONE);
    e->peer = (char *)http_peer(r);
    e->method = (char *)m;
    e->path = (char *)http_path(r);
    e->action = action->data;
    e->status = (int)status;
    e->detail = detail->data;
    return true;
}

void api_audit(struct http_request *r, unsigned status, void *ctx)
{
    struct api *a = ctx;
    struct buf err = BUF_INIT, action = BUF_INIT, detail = BUF_INIT;
    struct store_audit e;
    if (!http_audited(r) && api_audit_entry(r, status, &e, &action, &detail)) {
        struct store *st = api_store_quiet(a, &err);
        if (!st || store_audit_add(st, &e, &err))
            fprintf(stderr, "flywheel serve: audit: %s\n", err.data);
    }
    buf_release(&action);
    buf_release(&detail);
    buf_release(&err);
}

/* ---- tokens ---- */

static json_t *token_json(const struct store_token *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(t->id));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "role", json_string(t->role));
    json_object_set_new(o, "created_ms", json_integer(t->created_ms));
    json_object_set_new(o, "created_by", json_string(t->created_by));
    json_object_set_new(o, "expires_ms", t->expires_ms ? json_integer(t->expires_ms) : json_null());
    json_object_set_new(o, "revoked_ms", t->revoked_ms ? json_integer(t->revoked_ms) : json_null());
    json_object_set_new(o, "used_ms", t->used_ms ? json_integer(t->used_ms) : json_null());
    return o;
}

static bool token_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > MAX_TOKEN_NAME)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == '@'))
            return false;
    return true;
}

int api_token_make(struct store *st, const char *name, const char *role, int64_t expires_ms,
                   const char *by, char *tok, int64_t *id, struct buf *err)
{
    char hash[65];
    if (!token_name_ok(name)) {
        buf_addf(err, "a token's name is 1 to %d letters, digits, '-', '_', '.' or '@'",
                 MAX_TOKEN_NAME);
        return -EINVAL;
    }
    if (auth_role_parse(role) < 0) {
        buf_addf(err, "'%s' is not a role: viewer, developer, deployer or admin", role);
        return -EINVAL;
    }
    if (auth_token_new(tok, hash)) {
        buf_adds(err, "no randomness to make a token from");
        return -EIO;
    }
    struct store_token t = {0};
    t.name = (char *)name;
    t.role = (char *)role;
    t.created_by = (char *)(by ? by : "");
    t.expires_ms = expires_ms;
    *id = store_token_insert(st, &t, hash, err);
    return *id > 0 ? 0 : -EEXIST;
}

void h_token_create(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    json_t *body = http_body_json(r);
    if (!body)
        return;
    json_t *name = json_object_get(body, "name"), *role = json_object_get(body, "role"),
           *exp = json_object_get(body, "expires_in");
    int64_t expires_ms = 0;
    if (!json_is_string(name) || !json_is_string(role)) {
        http_reply_error(r, 400, "bad_request", "'name' and 'role' are strings");
        goto out;
    }
    if (exp && !json_is_null(exp)) {
        struct buf e = BUF_INIT;
        if (!json_is_string(exp) || duration_parse(json_string_value(exp), &expires_ms, &e) ||
            expires_ms <= 0) {
            http_reply_error(r, 400, "bad_request",
                             "'expires_in' is a duration such as \"30d\" or \"12h\"");
            buf_release(&e);
            goto out;
        }
        buf_release(&e);
        expires_ms += store_now_ms();
    }
    struct store *st = api_store(r, a);
    if (!st)
        goto out;
    struct buf err = BUF_INIT;
    char tok[AUTH_TOKEN_LEN + 1];
    int64_t id;
    int rc = api_token_make(st, json_string_value(name), json_string_value(role), expires_ms,
                            http_user(r), tok, &id, &err);
    if (rc) {
        http_reply_error(r,
                         rc == -EIO      ? 500
                         : rc == -EEXIST ? 409
                                         : 400,
                         rc == -EEXIST ? "conflict" : "bad_request", "%s", err.data);
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(id));
        json_object_set_new(o, "name", json_string(json_string_value(name)));
        json_object_set_new(o, "role", json_string(json_string_value(role)));
        json_object_set_new(o, "expires_ms", expires_ms ? json_integer(expires_ms) : json_null());
        json_object_set_new(o, "token", json_string(tok));
        http_add_header(r, "Cache-Control", "no-store");
        http_reply_json(r, 201, o);
    }
    buf_release(&err);
out:
    json_decref(body);
}

void h_tokens(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    if (!st)
        return;
    const char *all = http_query(r, "all");
    struct store_token *v;
    size_t n;
    struct buf err = BUF_INIT;
    if (store_token_list(st, all && strcmp(all, "0") && strcmp(all, "false"), &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, token_json(&v[i]));
        json_t *o = json_object();
        json_object_set_new(o, "tokens", arr);
        http_reply_json(r, 200, o);
    }
    store_token_free(v, n);
    buf_release(&err);
}

void h_token_revoke(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    if (!st)
        return;
    const char *which = http_param(r, "token");
    char *end;
    errno = 0;
    long long id = strtoll(which, &end, 10);
    bool by_id = !errno && end != which && !*end && id > 0;
    struct store_token t;
    struct buf err = BUF_INIT;
    int rc = store_token_revoke(st, by_id ? id : 0, which, store_now_ms(), &t, &err);
    token_cache_clear(); /* whichever it was, no request may pass with it from now on */
    if (rc == -ENOENT)
        http_reply_error(r, 404, "not_found", "no live token '%s'", which);
    else if (rc)
        http_reply_error(r, 500, "store", "%s", err.data);
    else
        http_reply_json(r, 200, token_json(&t));
    store_token_release(&t);
    buf_release(&err);
}

void h_whoami(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    json_t *o = json_object();
    json_object_set_new(o, "name", http_user(r) ? json_string(http_user(r)) : json_null());
    json_object_set_new(
        o, "role", json_string(auth_role_name(http_user(r) ? http_user_role(r) : AUTH_ANYONE)));
    json_object_set_new(o, "public_read", json_boolean(a->public_read));
    http_reply_json(r, 200, o);
}

void h_audit(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    long limit, before;
    if (http_query_int(r, "limit", 1, 1000, 50, &limit) ||
        http_query_int(r, "before", 1, INT64_MAX > LONG_MAX ? LONG_MAX : INT64_MAX, 0, &before))
        return;
    int64_t since = 0;
    const char *s = http_query(r, "since");
    if (s) {
        struct buf e = BUF_INIT;
        int64_t d;
        if (duration_parse(s, &d, &e) || d <= 0) {
            http_reply_error(r, 400, "bad_request", "'since' is a duration such as \"7d\"");
            buf_release(&e);
            return;
        }
        buf_release(&e);
        since = store_now_ms() - d;
    }
    struct store *st = api_store(r, a);
    if (!st)
        return;
    struct store_audit *v;
    size_t n;
    struct buf err = BUF_INIT;
    if (store_audit_list(st, before, http_query(r, "actor"), since, (size_t)limit, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_integer(v[i].id));
            json_object_set_new(o, "time_ms", json_integer(v[i].time_ms));
            json_object_set_new(o, "actor", json_string(v[i].actor));
            json_object_set_new(o, "role", json_string(v[i].role));
            json_object_set_new(o, "peer", json_string(v[i].peer));
            json_object_set_new(o, "method", json_string(v[i].method));
            json_object_set_new(o, "path", json_string(v[i].path));
            json_object_set_new(o, "action", json_string(v[i].action));
            json_object_set_new(o, "status", json_integer(v[i].status));
            json_t *d = v[i].detail[0] ? json_loads(v[i].detail, 0, NULL) : NULL;
            json_object_set_new(o, "detail", d ? d : json_null());
            json_array_append_new(arr, o);
        }
        json_t *o = json_object();
        json_object_set_new(o, "entries", arr);
        if (n == (size_t)limit)
            json_object_set_new(o, "next_before", json_integer(v[n - 1].id));
        http_reply_json(r, 200, o);
    }
    store_audit_free(v, n);
    buf_release(&err);
}

/* ---- the first token ---- */

int api_auth_bootstrap(const char *db_path, const char *data_dir, char **made, struct buf *err)
{
    struct store *st = NULL;
    struct buf path = BUF_INIT, tmp = BUF_INIT;
    int64_t count;
    int rc, fd = -1;
    *made = NULL;
    if ((rc = store_open(&st, db_path, err)) || (rc = store_token_count(st, &count, err)))
        goto out;
    if (count)
        goto out; /* tokens were made before: their owners decide */
    char tok[AUTH_TOKEN_LEN + 1];
    int64_t id;
    if ((rc = api_token_make(st, "admin", "admin", 0, "flywheel", tok, &id, err)))
        goto out;
    buf_addf(&path, "%s/admin.token", data_dir);
    buf_addf(&tmp, "%s.tmp", path.data);
    unlink(tmp.data);
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || file_write_all(fd, tok, strlen(tok)) || file_write_all(fd, "\n", 1) ||
        fsync(fd) || close(fd) || rename(tmp.data, path.data)) {
        rc = -errno;
        buf_addf(err, "%s: %s", path.data, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp.data);
        goto out;
    }
    *made = buf_detach(&path, NULL);
out:
    store_close(st);
    buf_release(&path);
    buf_release(&tmp);
    return rc;
}

void api_auth_configure(struct api *a, bool public_read, unsigned rate, unsigned burst)
{
    a->public_read = public_read;
    a->rate = rate ? rate : AUTH_DEFAULT_RATE;
    auth_limiter_free(a->limiter);
    a->limiter = auth_limiter_new(a->rate, burst ? burst : AUTH_DEFAULT_BURST);
}
