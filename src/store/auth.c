#include "store/auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

#define TOKEN_COLS "id, name, role, created_ms, created_by, expires_ms, revoked_ms, used_ms"

static void token_row(sqlite3_stmt *s, void *p)
{
    struct store_token *t = p;
    t->id = sqlite3_column_int64(s, 0);
    t->name = store_text(s, 1);
    t->role = store_text(s, 2);
    t->created_ms = sqlite3_column_int64(s, 3);
    t->created_by = store_text(s, 4);
    t->expires_ms = sqlite3_column_int64(s, 5);
    t->revoked_ms = sqlite3_column_int64(s, 6);
    t->used_ms = sqlite3_column_int64(s, 7);
}

int64_t store_token_insert(struct store *st, const struct store_token *t, const char *hash_hex,
                           struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "INSERT INTO tokens (name, role, hash, created_ms, created_by,"
                   " expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   "tttiti", t->name, t->role, hash_hex,
                   t->created_ms ? t->created_ms : store_now_ms(), t->created_by, t->expires_ms);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        buf_addf(err, "a token named '%s' exists; revoke it first or pick another name", t->name);
        return -1;
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, err, "cannot record a token");
        return -1;
    }
    return sqlite3_last_insert_rowid(store_sqlite(st));
}

/* Steps s, which selects at most one token, into *t: 0 or -ENOENT. */
static int token_one(struct store *st, sqlite3_stmt *s, struct store_token *t, struct buf *err)
{
    memset(t, 0, sizeof(*t));
    return store_row(st, s, token_row, t, err, "cannot read a token");
}

int store_token_find(struct store *st, const char *hash_hex, int64_t now_ms, struct store_token *t,
                     struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?"
                                 " AND revoked_ms = 0 AND (expires_ms = 0 OR expires_ms > ?)",
                                 "ti", hash_hex, now_ms);
    if (!s) {
        memset(t, 0, sizeof(*t));
        return -EIO;
    }
    return token_one(st, s, t, err);
}

int store_token_live(struct store *st, int64_t id, int64_t now_ms, struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT 1 FROM tokens WHERE id = ?"
                                 " AND revoked_ms = 0 AND (expires_ms = 0 OR expires_ms > ?)",
                                 "ii", id, now_ms);
    if (!s)
        return -EIO;
    return store_row(st, s, NULL, NULL, err, "cannot read a token");
}

void store_token_used(struct store *st, int64_t id, int64_t now_ms)
{
    struct buf err = BUF_INIT;
    /* A failure to note a use is not worth failing a request for. */
    (void)store_exec(st, &err, "cannot note a token's use",
                     "UPDATE tokens SET used_ms = ?2 WHERE id = ?1 AND used_ms < ?2 - 60000", "ii",
                     id, now_ms);
    buf_release(&err);
}

int store_token_list(struct store *st, int all, struct store_token **out, size_t *n,
                     struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   all ? "SELECT " TOKEN_COLS " FROM tokens ORDER BY id DESC"
                       : "SELECT " TOKEN_COLS " FROM tokens WHERE revoked_ms = 0 ORDER BY id DESC",
                   "");
    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, token_row, err,
                         "cannot list tokens");
}

int store_token_count(struct store *st, int64_t *out, struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err, "SELECT count(*) FROM tokens", "");
    *out = 0;
    if (!s)
        return -EIO;
    return store_row(st, s, store_int64_row, out, err, "cannot count tokens");
}

int store_token_revoke(struct store *st, int64_t id, const char *name, int64_t now_ms,
                       struct store_token *out, struct buf *err)
{
    int rc = store_begin(st, err);
    if (rc) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    sqlite3_stmt *s =
        id > 0 ? store_prep(st, err,
                            "SELECT " TOKEN_COLS " FROM tokens WHERE id = ? AND revoked_ms = 0",
                            "i", id)
               : store_prep(st, err,
                            "SELECT " TOKEN_COLS " FROM tokens WHERE name = ? AND revoked_ms = 0",
                            "t", name);
    if (!s) {
        memset(out, 0, sizeof(*out));
        rc = -EIO;
    } else {
        rc = token_one(st, s, out, err);
    }
    if (!rc)
        rc = store_exec(st, err, "cannot revoke a token",
                        "UPDATE tokens SET revoked_ms = ? WHERE id = ?", "ii", now_ms, out->id);
    if (!rc)
        rc = store_commit(st, err);
    if (rc)
        store_rollback(st);
    return rc;
}

void store_token_release(struct store_token *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->role);
    free(t->created_by);
    memset(t, 0, sizeof(*t));
}

void store_token_free(struct store_token *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_token_release(&v[i]);
    free(v);
}

int store_audit_add(struct store *st, const struct store_audit *a, struct buf *err)
{
    return store_exec(st, err, "cannot append to the audit log",
                      "INSERT INTO audit (time_ms, actor, role, peer, method, path, action, status,"
                      " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "ittttttit", a->time_ms ? a->time_ms : store_now_ms(), a->actor, a->role,
                      a->peer, a->method, a->path, a->action, (int64_t)a->status, a->detail);
}

static void audit_row(sqlite3_stmt *s, void *p)
{
    struct store_audit *a = p;
    a->id = sqlite3_column_int64(s, 0);
    a->time_ms = sqlite3_column_int64(s, 1);
    a->actor = store_text(s, 2);
    a->role = store_text(s, 3);
    a->peer = store_text(s, 4);
    a->method = store_text(s, 5);
    a->path = store_text(s, 6);
    a->action = store_text(s, 7);
    a->status = sqlite3_column_int(s, 8);
    a->detail = store_text(s, 9);
}

int store_audit_list(struct store *st, int64_t before, const char *actor, int64_t since_ms,
                     size_t limit, struct store_audit **out, size_t *n, struct buf *err)
{
    sqlite3_stmt *s = store_prep(
        st, err,
        "SELECT id, time_ms, actor, role, peer, method, path, action, status, detail FROM audit"
        " WHERE id < ?1 AND (?2 IS NULL OR actor = ?2) AND time_ms >= ?3"
        " ORDER BY id DESC LIMIT ?4",
        "iTii", before > 0 ? before : INT64_MAX, actor, since_ms, (int64_t)(limit ? limit : 50));
    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, audit_row, err,
                         "cannot read the audit log");
}

void store_audit_copy(struct store_audit *dst, const struct store_audit *src)
{
    *dst = *src;
    dst->actor = xstrdup_or_null(src->actor);
    dst->role = xstrdup_or_null(src->role);
    dst->peer = xstrdup_or_null(src->peer);
    dst->method = xstrdup_or_null(src->method);
    dst->path = xstrdup_or_null(src->path);
    dst->action = xstrdup_or_null(src->action);
    dst->detail = xstrdup_or_null(src->detail);
}

void store_audit_release(struct store_audit *a)
{
    free(a->actor);
    free(a->role);
    free(a->peer);
    free(a->method);
    free(a->path);
    free(a->action);
    free(a->detail);
    memset(a, 0, sizeof(*a));
}

void store_audit_free(struct store_audit *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_audit_release(&v[i]);
    free(v);
}
