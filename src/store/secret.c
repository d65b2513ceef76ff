#include "store/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

/* What a ciphertext is bound to: the format, the repository and the name. */
static void secret_ad(int64_t repo_id, const char *name, struct buf *ad)
{
    buf_adds(ad, "flywheel secret v1");
    buf_addch(ad, '\0');
    buf_addf(ad, "%lld", (long long)repo_id);
    buf_addch(ad, '\0');
    buf_adds(ad, name);
}

int store_secret_key(const char *data_dir, bool create, unsigned char key[SEAL_KEY_LEN],
                     struct buf *err)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/%s", data_dir, STORE_SECRET_KEY_FILE);
    int rc = seal_key_load(path.data, create, key, err);
    buf_release(&path);
    return rc;
}

static int step_done(struct store *st, sqlite3_stmt *s, struct buf *err, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
}

static sqlite3_stmt *prepare(struct store *st, const char *sql, struct buf *err)
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

int store_secret_set(struct store *st, const unsigned char key[SEAL_KEY_LEN], int64_t repo_id,
                     const char *name, const void *value, size_t len, const char *by,
                     int64_t now_ms, bool *created, struct buf *err)
{
    struct buf ad = BUF_INIT, box = BUF_INIT;
    unsigned char nonce[SEAL_NONCE_LEN];
    sqlite3_stmt *s = NULL;
    int ret;

    secret_ad(repo_id, name, &ad);
    if ((ret = seal_encrypt(key, ad.data, ad.len, value, len, nonce, &box, err)))
        goto out;
    if ((ret = store_begin(st, err)))
        goto out;
    s = prepare(st, "SELECT 1 FROM secrets WHERE repo_id = ?1 AND name = ?2", err);
    if (!s)
        goto fail;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot read the secrets");
        goto fail;
    }
    *created = rc == SQLITE_DONE;
    sqlite3_finalize(s);
    s = prepare(st,
                "INSERT INTO secrets (repo_id, name, ciphertext, nonce, created_ms, updated_ms,"
                " set_by) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
                " ON CONFLICT (repo_id, name) DO UPDATE SET ciphertext = ?3, nonce = ?4,"
                " updated_ms = ?5, set_by = ?6",
                err);
    if (!s)
        goto fail;
    if ((rc = sqlite3_bind_int64(s, 1, repo_id)) ||
        (rc = sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT)) ||
        (rc = sqlite3_bind_blob(s, 3, box.data, (int)box.len, SQLITE_TRANSIENT)) ||
        (rc = sqlite3_bind_blob(s, 4, nonce, SEAL_NONCE_LEN, SQLITE_TRANSIENT)) ||
        (rc = sqlite3_bind_int64(s, 5, now_ms)) ||
        (rc = sqlite3_bind_text(s, 6, by ? by : "", -1, SQLITE_TRANSIENT))) {
        ret = store_fail(st, rc, err, "cannot store a secret");
        goto fail;
    }
    ret = step_done(st, s, err, "cannot store a secret");
    s = NULL;
    if (ret)
        goto fail;
    ret = store_commit(st, err);
    goto out;
fail:
    if (!ret)
        ret = -EIO;
    sqlite3_finalize(s);
    store_rollback(st);
out:
    buf_release(&ad);
    buf_release(&box);
    return ret;
}

int store_secret_get(struct store *st, const unsigned char key[SEAL_KEY_LEN], int64_t repo_id,
                     const char *name, struct buf *value, struct buf *err)
{
    sqlite3_stmt *s =
        prepare(st, "SELECT ciphertext, nonce FROM secrets WHERE repo_id = ?1 AND name = ?2", err);
    int ret;
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = -ENOENT;
    } else if (rc != SQLITE_ROW) {
        ret = store_fail(st, rc, err, "cannot read secret '%s'", name);
    } else if (sqlite3_column_bytes(s, 1) != SEAL_NONCE_LEN) {
        buf_addf(err, "secret '%s' has a nonce of %d bytes, not %d", name,
                 sqlite3_column_bytes(s, 1), SEAL_NONCE_LEN);
        ret = -EBADMSG;
    } else {
        struct buf ad = BUF_INIT;
        secret_ad(repo_id, name, &ad);
        ret =
            seal_decrypt(key, ad.data, ad.len, sqlite3_column_blob(s, 1), sqlite3_column_blob(s, 0),
                         (size_t)sqlite3_column_bytes(s, 0), value, err);
        buf_release(&ad);
    }
    sqlite3_finalize(s);
    return ret;
}

int store_secret_list(struct store *st, int64_t repo_id, struct store_secret **out, size_t *n,
                      struct buf *err)
{
    sqlite3_stmt *s = prepare(st,
                              "SELECT name, created_ms, updated_ms, set_by FROM secrets"
                              " WHERE repo_id = ?1 ORDER BY name",
                              err);
    size_t alloc = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, repo_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ALLOC_GROW(*out, *n + 1, alloc);
        struct store_secret *v = &(*out)[(*n)++];
        const unsigned char *t = sqlite3_column_text(s, 0);
        v->name = xstrdup(t ? (const char *)t : "");
        v->created_ms = sqlite3_column_int64(s, 1);
        v->updated_ms = sqlite3_column_int64(s, 2);
        t = sqlite3_column_text(s, 3);
        v->set_by = xstrdup(t ? (const char *)t : "");
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot list the secrets");
    sqlite3_finalize(s);
    return ret;
}

void store_secrets_release(struct store_secret *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].set_by);
    }
    free(v);
}

int store_secret_delete(struct store *st, int64_t repo_id, const char *name, struct buf *err)
{
    sqlite3_stmt *s = prepare(st, "DELETE FROM secrets WHERE repo_id = ?1 AND name = ?2", err);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
    int ret = step_done(st, s, err, "cannot delete a secret");
    if (!ret && !sqlite3_changes(store_sqlite(st)))
        ret = -ENOENT;
    return ret;
}

int store_secret_values(struct store *st, const char *data_dir, int64_t repo_id, const char *repo,
                        const char *const *names, size_t n, struct store_secret_value **out,
                        size_t *nout, struct buf *err)
{
    unsigned char key[SEAL_KEY_LEN];
    bool have_key = false;
    struct buf key_err = BUF_INIT;
    int key_rc = 0;
    size_t alloc = 0;

    *out = NULL;
    *nout = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < *nout && !dup; k++)
            dup = !strcmp((*out)[k].name, names[i]);
        if (dup)
            continue;
        ALLOC_GROW(*out, *nout + 1, alloc);
        struct store_secret_value *v = &(*out)[(*nout)++];
        memset(v, 0, sizeof(*v));
        v->name = xstrdup(names[i]);
        struct buf val = BUF_INIT, why = BUF_INIT, gerr = BUF_INIT;
        if (!have_key && !key_rc) {
            key_rc = store_secret_key(data_dir, false, key, &key_err);
            have_key = !key_rc;
        }
        /* Without the key, a zero key still tells a secret that is not set (-ENOENT)
         * from one that is (-EBADMSG). */
        static const unsigned char nokey[SEAL_KEY_LEN];
        int rc = store_secret_get(st, have_key ? key : nokey, repo_id, names[i], &val, &gerr);
        if (rc == -ENOENT) {
            buf_addf(&why,
                     "secret '%s' is not set for repository '%s' (set it with: flywheel secret "
                     "set %s %s)",
                     names[i], repo, repo, names[i]);
        } else if (!have_key && rc == -EBADMSG) {
            buf_addf(&why, "secret '%s' of repository '%s' cannot be read: %s", names[i], repo,
                     key_err.data);
        } else if (rc == -EBADMSG) {
            buf_addf(&why,
                     "secret '%s' of repository '%s' cannot be read: %s (was %s/%s replaced? "
                     "set the secret again)",
                     names[i], repo, gerr.data, data_dir, STORE_SECRET_KEY_FILE);
        } else if (rc) {
            buf_addf(err, "%s", gerr.data);
            explicit_bzero(key, sizeof(key));
            buf_release(&val);
            buf_release(&why);
            buf_release(&gerr);
            buf_release(&key_err);
            store_secret_values_release(*out, *nout);
            *out = NULL;
            *nout = 0;
            return -1;
        }
        if (why.len) {
            v->error = buf_detach(&why, NULL);
        } else {
            v->len = val.len;
            v->value = xmemdupz(val.data, val.len);
        }
        if (val.alloc)
            explicit_bzero(val.data, val.alloc);
        buf_release(&val);
        buf_release(&why);
        buf_release(&gerr);
    }
    explicit_bzero(key, sizeof(key));
    buf_release(&key_err);
    return 0;
}

void store_secret_values_release(struct store_secret_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        if (v[i].value)
            explicit_bzero(v[i].value, v[i].len);
        free(v[i].value);
        free(v[i].error);
    }
    free(v);
}
