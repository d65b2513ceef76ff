#include "store/release.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

#define RELEASE_COLS                                                                               \
    "id, repo_id, number, run_id, version, commit_id, ref, pipeline_digest, provenance,"           \
    " created_ms, deployed_ms, bad_reason, bad_ms, pipeline"

/* Releases are rare next to jobs: statements are prepared per call. */
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

static char *text_or_null(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static char *text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

static void release_from_row(sqlite3_stmt *s, struct store_release *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->repo_id = sqlite3_column_int64(s, 1);
    r->number = sqlite3_column_int64(s, 2);
    r->run_id = sqlite3_column_int64(s, 3);
    r->version = text(s, 4);
    r->commit = text(s, 5);
    r->ref = text(s, 6);
    r->pipeline_digest = text(s, 7);
    r->provenance = text(s, 8);
    r->created_ms = sqlite3_column_int64(s, 9);
    r->deployed_ms = sqlite3_column_int64(s, 10);
    r->bad_reason = text_or_null(s, 11);
    r->bad_ms = sqlite3_column_int64(s, 12);
    r->pipeline = text(s, 13);
}

/* Steps s to its end (a write); 0 or the store's code. Finalizes s. */
static int run_write(struct store *st, sqlite3_stmt *s, int brc, struct buf *err, const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
}

static int pending_clear(struct store *st, int64_t run_id, struct buf *err)
{
    sqlite3_stmt *s = prep(st, "UPDATE runs SET release_pending = 0 WHERE id = ?1", err);
    if (!s)
        return -EIO;
    return run_write(st, s, sqlite3_bind_int64(s, 1, run_id), err, "cannot update a run");
}

int store_release_version_taken(struct store *st, int64_t repo_id, const char *version,
                                struct buf *err)
{
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM releases WHERE repo_id = ?1 AND version = ?2", err);
    if (!s)
        return -1;
    int brc = sqlite3_bind_int64(s, 1, repo_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 2, version, -1, SQLITE_STATIC);
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (ret < 0)
        store_fail(st, rc, err, "cannot look up a release");
    sqlite3_finalize(s);
    return ret;
}

static int insert_files(struct store *st, int64_t id, const struct store_release_file *files,
                        size_t n, struct buf *err)
{
    sqlite3_stmt *s = prep(st,
                           "INSERT INTO release_files (release_id, path, digest, size, mode)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           err);
    if (!s)
        return -EIO;
    int ret = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        int brc = sqlite3_bind_int64(s, 1, id);
        if (brc == SQLITE_OK)
            brc = sqlite3_bind_text(s, 2, files[i].path, -1, SQLITE_STATIC);
        if (brc == SQLITE_OK)
            brc = sqlite3_bind_text(s, 3, files[i].digest, -1, SQLITE_STATIC);
        if (brc == SQLITE_OK)
            brc = sqlite3_bind_int64(s, 4, files[i].size);
        if (brc == SQLITE_OK)
            brc = sqlite3_bind_int(s, 5, files[i].mode);
        int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
        if (rc != SQLITE_DONE)
            ret = store_fail(st, rc, err, "cannot record the release's file %s", files[i].path);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return ret;
}

int64_t store_release_insert(struct store *st, struct store_release *r,
                             const struct store_release_file *files, size_t n,
                             int (*fill)(void *ctx, struct store *st, struct store_release *r,
                                         struct buf *err),
                             void *ctx, struct buf *err)
{
    if (store_begin(st, err))
        return -1;
    int ret = 0;
    sqlite3_stmt *s =
        prep(st, "SELECT coalesce(max(number), 0) + 1 FROM releases WHERE repo_id = ?1", err);
    if (!s) {
        ret = -EIO;
        goto out;
    }
    int brc = sqlite3_bind_int64(s, 1, r->repo_id);
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW)
        r->number = sqlite3_column_int64(s, 0);
    else
        ret = store_fail(st, rc, err, "cannot number a release");
    sqlite3_finalize(s);
    if (ret)
        goto out;
    ret = fill(ctx, st, r, err);
    if (ret)
        goto out;
    if (store_release_version_taken(st, r->repo_id, r->version, err)) {
        if (!err->len)
            buf_addf(err, "release version '%s' already exists in this repository", r->version);
        ret = -EEXIST;
        goto out;
    }
    s = prep(st,
             "INSERT INTO releases (repo_id, number, version, run_id, commit_id, ref,"
             " pipeline_digest, provenance, created_ms, pipeline)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
             err);
    if (!s) {
        ret = -EIO;
        goto out;
    }
    /* parameter number -> text */
    const struct {
        int i;
        const char *v;
    } texts[] = {{3, r->version},         {5, r->commit},     {6, r->ref},
                 {7, r->pipeline_digest}, {8, r->provenance}, {10, r->pipeline}};
    brc = sqlite3_bind_int64(s, 1, r->repo_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, r->number);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 4, r->run_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 9, r->created_ms);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]) && brc == SQLITE_OK; i++)
        brc = sqlite3_bind_text(s, texts[i].i, texts[i].v ? texts[i].v : "", -1, SQLITE_STATIC);
    ret = run_write(st, s, brc, err, "cannot record a release");
    if (ret)
        goto out;
    r->id = sqlite3_last_insert_rowid(store_sqlite(st));
    ret = insert_files(st, r->id, files, n, err);
    if (!ret)
        ret = pending_clear(st, r->run_id, err);
    if (!ret)
        ret = store_commit(st, err);
out:
    if (ret) {
        store_rollback(st);
        return -1;
    }
    return r->id;
}

static int get_one(struct store *st, const char *sql, int64_t a, const char *b,
                   struct store_release *r, struct buf *err)
{
    sqlite3_stmt *s = prep(st, sql, err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, a);
    if (b && brc == SQLITE_OK)
        brc = sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = 0;
    if (rc == SQLITE_ROW)
        release_from_row(s, r);
    else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = store_fail(st, rc, err, "cannot read a release");
    sqlite3_finalize(s);
    return ret;
}

int store_release_get(struct store *st, int64_t repo_id, const char *version,
                      struct store_release *r, struct buf *err)
{
    return get_one(st, "SELECT " RELEASE_COLS " FROM releases WHERE repo_id = ?1 AND version = ?2",
                   repo_id, version, r, err);
}

int store_release_get_id(struct store *st, int64_t id, struct store_release *r, struct buf *err)
{
    return get_one(st, "SELECT " RELEASE_COLS " FROM releases WHERE id = ?1", id, NULL, r, err);
}

int store_release_get_run(struct store *st, int64_t run_id, struct store_release *r,
                          struct buf *err)
{
    return get_one(st, "SELECT " RELEASE_COLS " FROM releases WHERE run_id = ?1", run_id, NULL, r,
                   err);
}

int store_release_list(struct store *st, int64_t repo_id, int64_t before, size_t limit,
                       struct store_release **out, size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(st,
                           "SELECT " RELEASE_COLS " FROM releases WHERE repo_id = ?1"
                           " AND (?2 = 0 OR number < ?2) ORDER BY number DESC LIMIT ?3",
                           err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, repo_id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, before);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 3, limit ? (int64_t)limit : 50);
    int rc = brc;
    size_t alloc = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        if (*n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            *out = xrealloc(*out, alloc * sizeof(**out));
        }
        release_from_row(s, &(*out)[(*n)++]);
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot list releases");
    sqlite3_finalize(s);
    if (ret) {
        store_releases_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int store_release_files(struct store *st, int64_t release_id, struct store_release_file **out,
                        size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(st,
                           "SELECT path, digest, size, mode FROM release_files"
                           " WHERE release_id = ?1 ORDER BY path",
                           err);
    if (!s)
        return -EIO;
    int rc = sqlite3_bind_int64(s, 1, release_id);
    size_t alloc = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        if (*n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            *out = xrealloc(*out, alloc * sizeof(**out));
        }
        struct store_release_file *f = &(*out)[(*n)++];
        f->path = text(s, 0);
        f->digest = text(s, 1);
        f->size = sqlite3_column_int64(s, 2);
        f->mode = sqlite3_column_int(s, 3);
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot list a release's files");
    sqlite3_finalize(s);
    if (ret) {
        store_release_files_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int store_release_set_bad(struct store *st, int64_t id, const char *reason, struct buf *err)
{
    sqlite3_stmt *s =
        prep(st, "UPDATE releases SET bad_reason = ?2, bad_ms = ?3 WHERE id = ?1", err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, id);
    if (brc == SQLITE_OK)
        brc = reason ? sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 2);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 3, reason ? store_now_ms() : 0);
    int ret = run_write(st, s, brc, err, "cannot mark a release");
    if (!ret && sqlite3_changes(store_sqlite(st)) == 0)
        ret = -ENOENT;
    return ret;
}

int store_release_mark_deployed(struct store *st, int64_t id, int64_t ms, struct buf *err)
{
    sqlite3_stmt *s =
        prep(st, "UPDATE releases SET deployed_ms = ?2 WHERE id = ?1 AND deployed_ms = 0", err);
    if (!s)
        return -EIO;
    int brc = sqlite3_bind_int64(s, 1, id);
    if (brc == SQLITE_OK)
        brc = sqlite3_bind_int64(s, 2, ms);
    return run_write(st, s, brc, err, "cannot mark a release deployed");
}

int store_release_promotable(const struct store_release *r, struct buf *err)
{
    if (!r->bad_reason)
        return 0;
    buf_addf(err, "release %s is marked bad: %s", r->version, r->bad_reason);
    return -EPERM;
}

int store_run_set_release_pending(struct store *st, int64_t run_id, bool pending, struct buf *err)
{
    if (!pending)
        return pending_clear(st, run_id, err);
    sqlite3_stmt *s = prep(st, "UPDATE runs SET release_pending = 1 WHERE id = ?1", err);
    if (!s)
        return -EIO;
    return run_write(st, s, sqlite3_bind_int64(s, 1, run_id), err, "cannot update a run");
}

int store_runs_release_pending(struct store *st, int64_t *ids, size_t max, size_t *n,
                               struct buf *err)
{
    *n = 0;
    sqlite3_stmt *s =
        prep(st, "SELECT id FROM runs WHERE release_pending <> 0 ORDER BY id LIMIT ?1", err);
    if (!s)
        return -EIO;
    int rc = sqlite3_bind_int64(s, 1, (int64_t)max);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && *n < max) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            ids[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (rc == SQLITE_ROW)
        rc = SQLITE_DONE;
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot list pending releases");
    sqlite3_finalize(s);
    return ret;
}

int store_run_has_deployed_release(struct store *st, int64_t run_id, struct buf *err)
{
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM releases WHERE run_id = ?1 AND deployed_ms > 0", err);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (ret < 0)
        store_fail(st, rc, err, "cannot look up a run's release");
    sqlite3_finalize(s);
    return ret;
}

void store_release_release(struct store_release *r)
{
    if (!r)
        return;
    free(r->version);
    free(r->commit);
    free(r->ref);
    free(r->pipeline_digest);
    free(r->provenance);
    free(r->bad_reason);
    free(r->pipeline);
    memset(r, 0, sizeof(*r));
}

void store_releases_release(struct store_release *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_release_release(&v[i]);
    free(v);
}

void store_release_files_release(struct store_release_file *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].path);
        free(v[i].digest);
    }
    free(v);
}
