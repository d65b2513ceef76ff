#include "store/release.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

#define RELEASE_COLS                                                                               \
    "id, repo_id, number, run_id, version, commit_id, ref, pipeline_digest, provenance,"           \
    " created_ms, deployed_ms, bad_reason, bad_ms, pipeline"

static char *text_or_null(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static void release_row(sqlite3_stmt *s, void *p)
{
    struct store_release *r = p;
    r->id = sqlite3_column_int64(s, 0);
    r->repo_id = sqlite3_column_int64(s, 1);
    r->number = sqlite3_column_int64(s, 2);
    r->run_id = sqlite3_column_int64(s, 3);
    r->version = store_text(s, 4);
    r->commit = store_text(s, 5);
    r->ref = store_text(s, 6);
    r->pipeline_digest = store_text(s, 7);
    r->provenance = store_text(s, 8);
    r->created_ms = sqlite3_column_int64(s, 9);
    r->deployed_ms = sqlite3_column_int64(s, 10);
    r->bad_reason = text_or_null(s, 11);
    r->bad_ms = sqlite3_column_int64(s, 12);
    r->pipeline = store_text(s, 13);
}

/* Steps s (NULL if it could not be made): 1 for a row, 0 for none, -1 with "what: ..." in err. */
static int exists(struct store *st, sqlite3_stmt *s, struct buf *err, const char *what)
{
    int ret = s ? store_row(st, s, NULL, NULL, err, what) : -EIO;
    return ret == 0 ? 1 : ret == -ENOENT ? 0 : -1;
}

int store_release_version_taken(struct store *st, int64_t repo_id, const char *version,
                                struct buf *err)
{
    return exists(st,
                  store_prep(st, err, "SELECT 1 FROM releases WHERE repo_id = ?1 AND version = ?2",
                             "iT", repo_id, version),
                  err, "cannot look up a release");
}

static int insert_files(struct store *st, int64_t id, const struct store_release_file *files,
                        size_t n, struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "INSERT INTO release_files (release_id, path, digest, size, mode)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5)",
                                 "");
    if (!s)
        return -EIO;
    int ret = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        int rc = store_bind(s, "iTTii", id, files[i].path, files[i].digest, files[i].size,
                            (int64_t)files[i].mode);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(s);
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
    sqlite3_stmt *s =
        store_prep(st, err, "SELECT coalesce(max(number), 0) + 1 FROM releases WHERE repo_id = ?1",
                   "i", r->repo_id);
    int ret =
        s ? store_row(st, s, store_int64_row, &r->number, err, "cannot number a release") : -EIO;
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
    ret = store_exec(st, err, "cannot record a release",
                     "INSERT INTO releases (repo_id, number, version, run_id, commit_id, ref,"
                     " pipeline_digest, provenance, created_ms, pipeline)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                     "iitittttit", r->repo_id, r->number, r->version, r->run_id, r->commit, r->ref,
                     r->pipeline_digest, r->provenance, r->created_ms, r->pipeline);
    if (ret)
        goto out;
    r->id = sqlite3_last_insert_rowid(store_sqlite(st));
    ret = insert_files(st, r->id, files, n, err);
    if (!ret)
        ret = store_run_set_release_pending(st, r->run_id, false, err);
    if (!ret)
        ret = store_commit(st, err);
out:
    if (ret) {
        store_rollback(st);
        return -1;
    }
    return r->id;
}

/* Steps s (NULL if it could not be made), which selects at most one release, into *r. */
static int get_one(struct store *st, sqlite3_stmt *s, struct store_release *r, struct buf *err)
{
    return s ? store_row(st, s, release_row, r, err, "cannot read a release") : -EIO;
}

int store_release_get(struct store *st, int64_t repo_id, const char *version,
                      struct store_release *r, struct buf *err)
{
    return get_one(st,
                   store_prep(st, err,
                              "SELECT " RELEASE_COLS
                              " FROM releases WHERE repo_id = ?1 AND version = ?2",
                              "iT", repo_id, version),
                   r, err);
}

int store_release_get_id(struct store *st, int64_t id, struct store_release *r, struct buf *err)
{
    return get_one(
        st, store_prep(st, err, "SELECT " RELEASE_COLS " FROM releases WHERE id = ?1", "i", id), r,
        err);
}

int store_release_get_run(struct store *st, int64_t run_id, struct store_release *r,
                          struct buf *err)
{
    return get_one(
        st,
        store_prep(st, err, "SELECT " RELEASE_COLS " FROM releases WHERE run_id = ?1", "i", run_id),
        r, err);
}

int store_release_list(struct store *st, int64_t repo_id, int64_t before, size_t limit,
                       struct store_release **out, size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT " RELEASE_COLS " FROM releases WHERE repo_id = ?1"
                                 " AND (?2 = 0 OR number < ?2) ORDER BY number DESC LIMIT ?3",
                                 "iii", repo_id, before, limit ? (int64_t)limit : 50);
    if (!s)
        return -EIO;
    int ret = store_collect(st, s, sizeof(**out), (void **)out, n, release_row, err,
                            "cannot list releases");
    if (ret) {
        store_releases_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

static void file_row(sqlite3_stmt *s, void *p)
{
    struct store_release_file *f = p;
    f->path = store_text(s, 0);
    f->digest = store_text(s, 1);
    f->size = sqlite3_column_int64(s, 2);
    f->mode = sqlite3_column_int(s, 3);
}

int store_release_files(struct store *st, int64_t release_id, struct store_release_file **out,
                        size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT path, digest, size, mode FROM release_files"
                                 " WHERE release_id = ?1 ORDER BY path",
                                 "i", release_id);
    if (!s)
        return -EIO;
    int ret = store_collect(st, s, sizeof(**out), (void **)out, n, file_row, err,
                            "cannot list a release's files");
    if (ret) {
        store_release_files_release(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

int store_release_set_bad(struct store *st, int64_t id, const char *reason, struct buf *err)
{
    int ret = store_exec(st, err, "cannot mark a release",
                         "UPDATE releases SET bad_reason = ?2, bad_ms = ?3 WHERE id = ?1", "iTi",
                         id, reason, reason ? store_now_ms() : 0);
    if (!ret && sqlite3_changes(store_sqlite(st)) == 0)
        ret = -ENOENT;
    return ret;
}

int store_release_mark_deployed(struct store *st, int64_t id, int64_t ms, struct buf *err)
{
    return store_exec(st, err, "cannot mark a release deployed",
                      "UPDATE releases SET deployed_ms = ?2 WHERE id = ?1 AND deployed_ms = 0",
                      "ii", id, ms);
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
    return store_exec(st, err, "cannot update a run",
                      "UPDATE runs SET release_pending = ?2 WHERE id = ?1", "ii", run_id,
                      (int64_t)pending);
}

int store_runs_release_pending(struct store *st, int64_t *ids, size_t max, size_t *n,
                               struct buf *err)
{
    *n = 0;
    sqlite3_stmt *s =
        store_prep(st, err, "SELECT id FROM runs WHERE release_pending <> 0 ORDER BY id LIMIT ?1",
                   "i", (int64_t)max);
    if (!s)
        return -EIO;
    int rc = SQLITE_OK;
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
    return exists(st,
                  store_prep(st, err,
                             "SELECT 1 FROM releases WHERE run_id = ?1 AND deployed_ms > 0", "i",
                             run_id),
                  err, "cannot look up a run's release");
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
