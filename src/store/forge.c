#include "store/forge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* ---- deliveries ---------------------------------------------------------- */

int store_delivery_add(struct store *st, int64_t repo_id, const char *forge, const char *id,
                       int64_t now_ms, int64_t keep_ms, struct buf *err)
{
    int ret = store_begin(st, err);
    if (ret)
        return ret;
    ret = store_exec(st, err, "cannot forget old deliveries",
                     "DELETE FROM forge_deliveries WHERE received_ms < ?1", "i", now_ms - keep_ms);
    if (!ret)
        ret = store_exec(st, err, "cannot record a delivery",
                         "INSERT OR IGNORE INTO forge_deliveries (repo_id, forge, delivery,"
                         " received_ms) VALUES (?1, ?2, ?3, ?4)",
                         "iTTi", repo_id, forge, id, now_ms);
    int added = !ret && sqlite3_changes(store_sqlite(st)) > 0;
    if (!ret)
        ret = store_commit(st, err);
    if (ret) {
        store_rollback(st);
        return ret;
    }
    return added;
}

int store_delivery_remove(struct store *st, int64_t repo_id, const char *forge, const char *id,
                          struct buf *err)
{
    return store_exec(st, err, "cannot forget a delivery",
                      "DELETE FROM forge_deliveries"
                      " WHERE repo_id = ?1 AND forge = ?2 AND delivery = ?3",
                      "iTT", repo_id, forge, id);
}

/* ---- statuses ------------------------------------------------------------ */

int store_forge_track(struct store *st, const int64_t *repo_ids, size_t n, struct buf *err)
{
    static const char what[] = "cannot list the repositories with statuses";
    int ret = store_begin(st, err);
    if (ret)
        return ret;
    ret = store_exec(st, err, what, "DELETE FROM forge_status_repos", "");
    for (size_t i = 0; i < n && !ret; i++)
        ret = store_exec(st, err, what,
                         "INSERT OR IGNORE INTO forge_status_repos (repo_id) VALUES (?1)", "i",
                         repo_ids[i]);
    if (!ret)
        ret = store_commit(st, err);
    if (ret)
        store_rollback(st);
    return ret;
}

#define STATUS_COLS "run_id, sent, gen, attempts, error, next_try_ms"

static void status_row(sqlite3_stmt *s, void *p)
{
    struct store_forge_status *o = p;
    o->run_id = sqlite3_column_int64(s, 0);
    o->sent = store_text(s, 1);
    o->gen = sqlite3_column_int64(s, 2);
    o->attempts = sqlite3_column_int(s, 3);
    o->error = store_text(s, 4);
    o->next_try_ms = sqlite3_column_int64(s, 5);
}

int store_forge_due(struct store *st, int64_t now_ms, size_t limit, struct store_forge_status **out,
                    size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT " STATUS_COLS " FROM forge_statuses"
                                 " WHERE next_try_ms > 0 AND next_try_ms <= ?1"
                                 " ORDER BY next_try_ms, run_id LIMIT ?2",
                                 "ii", now_ms, (int64_t)limit);
    if (!s)
        return -EIO;
    int ret = store_collect(st, s, sizeof(**out), (void **)out, n, status_row, err,
                            "cannot list statuses to send");
    if (ret) {
        store_forge_statuses_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int64_t store_forge_next_due(struct store *st, struct buf *err)
{
    int64_t v = 0;
    sqlite3_stmt *s = store_prep(
        st, err, "SELECT MIN(next_try_ms) FROM forge_statuses WHERE next_try_ms > 0", "");
    if (s)
        (void)store_row(st, s, store_int64_row, &v, err, "cannot look for statuses to send");
    return v;
}

int store_forge_get(struct store *st, int64_t run_id, struct store_forge_status *out,
                    struct buf *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = store_prep(
        st, err, "SELECT " STATUS_COLS " FROM forge_statuses WHERE run_id = ?1", "i", run_id);
    if (!s)
        return -EIO;
    return store_row(st, s, status_row, out, err, "cannot read a status");
}

int store_forge_sent(struct store *st, int64_t run_id, int64_t gen, const char *state,
                     struct buf *err)
{
    return store_exec(st, err, "cannot record a status sent",
                      "UPDATE forge_statuses SET sent = ?3, attempts = 0, error = '',"
                      " next_try_ms = CASE WHEN gen = ?2 THEN 0 ELSE 1 END"
                      " WHERE run_id = ?1",
                      "iiT", run_id, gen, state);
}

int store_forge_retry(struct store *st, int64_t run_id, int64_t gen, const char *state,
                      int attempts, int64_t next_try_ms, const char *why, struct buf *err)
{
    /* A state that changed meanwhile is due at once, with attempts of its own. */
    return store_exec(st, err, "cannot record a failed status",
                      "UPDATE forge_statuses SET error = ?5,"
                      " sent = CASE WHEN ?4 = 0 THEN ?6 ELSE sent END,"
                      " attempts = CASE WHEN gen = ?2 THEN ?3 ELSE 0 END,"
                      " next_try_ms = CASE WHEN gen = ?2 THEN ?4 ELSE 1 END"
                      " WHERE run_id = ?1",
                      "iiiitt", run_id, gen, (int64_t)attempts, next_try_ms, why, state);
}

int store_forge_settled(struct store *st, int64_t run_id, int64_t gen, struct buf *err)
{
    return store_exec(st, err, "cannot record a status",
                      "UPDATE forge_statuses SET next_try_ms = 0"
                      " WHERE run_id = ?1 AND gen = ?2",
                      "ii", run_id, gen);
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
