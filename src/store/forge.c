#include "store/forge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

static sqlite3_stmt *prep(struct store *st, const char *sql, struct buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(store_sqlite(st), sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, err, "cannot prepare \"%s\"", sql);
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* Steps s to its end (a write); 0 or the store's code. Finalizes s. */
static int run_write(struct store *st, sqlite3_stmt *s, int brc, struct buf *err, const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
}

/* ---- deliveries ---------------------------------------------------------- */

int store_delivery_add(struct store *st, int64_t repo_id, const char *forge, const char *id,
                       int64_t now_ms, int64_t keep_ms, struct buf *err)
{
    int ret = store_begin(st, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = prep(st, "DELETE FROM forge_deliveries WHERE received_ms < ?1", err);
    if (!s) {
        ret = -EIO;
        goto fail;
    }
    ret = run_write(st, s, sqlite3_bind_int64(s, 1, now_ms - keep_ms), err,
                    "cannot forget old deliveries");
    if (ret)
        goto fail;
    s = prep(st,
             "INSERT OR IGNORE INTO forge_deliveries (repo_id, forge, delivery, received_ms)"
             " VALUES (?1, ?2, ?3, ?4)",
             err);
    if (!s) {
        ret = -EIO;
        goto fail;
    }
    int brc = sqlite3_bind_int64(s, 1, repo_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 2, forge, -1, SQLITE_STATIC);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 4, now_ms);
    ret = run_write(st, s, brc, err, "cannot record a delivery");
    if (ret)
        goto fail;
    int added = sqlite3_changes(store_sqlite(st)) > 0;
    ret = store_commit(st, err);
    if (ret)
        goto fail;
    return added;
fail:
    store_rollback(st);
    return ret;
}

int store_delivery_remove(struct store *st, int64_t repo_id, const char *forge, const char *id,
                          struct buf *err)
{
    sqlite3_stmt *s = prep(st,
                           "DELETE FROM forge_deliveries"
                           " WHERE repo_id = ?1 AND forge = ?2 AND delivery = ?3",
                           err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, repo_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 2, forge, -1, SQLITE_STATIC);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
    return run_write(st, s, brc, err, "cannot forget a delivery");
}

/* ---- statuses ------------------------------------------------------------ */

int store_forge_track(struct store *st, const int64_t *repo_ids, size_t n, struct buf *err)
{
    int ret = store_begin(st, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = prep(st, "DELETE FROM forge_status_repos", err);
    ret = s ? run_write(st, s, SQLITE_OK, err, "cannot list the repositories with statuses") : -EIO;
    for (size_t i = 0; i < n && !ret; i++) {
        s = prep(st, "INSERT OR IGNORE INTO forge_status_repos (repo_id) VALUES (?1)", err);
        ret = s ? run_write(st, s, sqlite3_bind_int64(s, 1, repo_ids[i]), err,
                            "cannot list the repositories with statuses")
                : -EIO;
    }
    if (!ret)
        ret = store_commit(st, err);
    if (ret)
        store_rollback(st);
    return ret;
}

#define STATUS_COLS "run_id, sent, gen, attempts, error, next_try_ms"

static void status_from_row(sqlite3_stmt *s, struct store_forge_status *o)
{
    const unsigned char *t;
    o->run_id = sqlite3_column_int64(s, 0);
    t = sqlite3_column_text(s, 1);
    o->sent = xstrdup(t ? (const char *)t : "");
    o->gen = sqlite3_column_int64(s, 2);
    o->attempts = sqlite3_column_int(s, 3);
    t = sqlite3_column_text(s, 4);
    o->error = xstrdup(t ? (const char *)t : "");
    o->next_try_ms = sqlite3_column_int64(s, 5);
}

int store_forge_due(struct store *st, int64_t now_ms, size_t limit, struct store_forge_status **out,
                    size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(st,
                           "SELECT " STATUS_COLS " FROM forge_statuses"
                           " WHERE next_try_ms > 0 AND next_try_ms <= ?1"
                           " ORDER BY next_try_ms, run_id LIMIT ?2",
                           err);
    if (!s)
        return -EIO;
    int rc = sqlite3_bind_int64(s, 1, now_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    size_t alloc = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            *out = xrealloc(*out, alloc * sizeof(**out));
        }
        status_from_row(s, &(*out)[(*n)++]);
        rc = SQLITE_OK;
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot list statuses to send");
    sqlite3_finalize(s);
    if (ret) {
        store_forge_statuses_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int64_t store_forge_next_due(struct store *st, struct buf *err)
{
    sqlite3_stmt *s =
        prep(st, "SELECT MIN(next_try_ms) FROM forge_statuses WHERE next_try_ms > 0", err);
    if (!s)
        return 0;
    int64_t v = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        store_fail(st, rc, err, "cannot look for statuses to send");
    sqlite3_finalize(s);
    return v;
}

int store_forge_get(struct store *st, int64_t run_id, struct store_forge_status *out,
                    struct buf *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = prep(st, "SELECT " STATUS_COLS " FROM forge_statuses WHERE run_id = ?1", err);
    if (!s)
        return -EIO;
    int rc = sqlite3_bind_int64(s, 1, run_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        status_from_row(s, out);
    else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = store_fail(st, rc, err, "cannot read a status");
    sqlite3_finalize(s);
    return ret;
}

int store_forge_sent(struct store *st, int64_t run_id, int64_t gen, const char *state,
                     struct buf *err)
{
    sqlite3_stmt *s = prep(st,
                           "UPDATE forge_statuses SET sent = ?3, attempts = 0, error = '',"
                           " next_try_ms = CASE WHEN gen = ?2 THEN 0 ELSE 1 END"
                           " WHERE run_id = ?1",
                           err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, run_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, gen);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
    return run_write(st, s, brc, err, "cannot record a status sent");
}

int store_forge_retry(struct store *st, int64_t run_id, int64_t gen, const char *state,
                      int attempts, int64_t next_try_ms, const char *why, struct buf *err)
{
    /* A state that changed meanwhile is due at once, with attempts of its own. */
    sqlite3_stmt *s = prep(st,
                           "UPDATE forge_statuses SET error = ?5,"
                           " sent = CASE WHEN ?4 = 0 THEN ?6 ELSE sent END,"
                           " attempts = CASE WHEN gen = ?2 THEN ?3 ELSE 0 END,"
                           " next_try_ms = CASE WHEN gen = ?2 THEN ?4 ELSE 1 END"
                           " WHERE run_id = ?1",
                           err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, run_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, gen);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int(s, 3, attempts);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 4, next_try_ms);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 5, why ? why : "", -1, SQLITE_STATIC);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 6, state ? state : "", -1, SQLITE_STATIC);
    return run_write(st, s, brc, err, "cannot record a failed status");
}

int store_forge_settled(struct store *st, int64_t run_id, int64_t gen, struct buf *err)
{
    sqlite3_stmt *s = prep(st,
                           "UPDATE forge_statuses SET next_try_ms = 0"
                           " WHERE run_id = ?1 AND gen = ?2",
                           err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, run_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, gen);
    return run_write(st, s, brc, err, "cannot record a status");
}

void store_forge_status_release(struct store_forge_status *s)
{
    if (!s)
        return;
    free(s->sent);
    free(s->error);
    memset(s, 0, sizeof(*s));
}

void store_forge_statuses_release(struct store_forge_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_forge_status_release(&v[i]);
    free(v);
}
