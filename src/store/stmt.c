/*
 * Statements made on the spot, for the store's modules: the SQL text is a
 * constant and every value a bound parameter.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

int store_bindv(sqlite3_stmt *s, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && fmt[i]; i++) {
        switch (fmt[i]) {
        case 'i':
            rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
            break;
        case 'n': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(s, i + 1, v) : sqlite3_bind_null(s, i + 1);
            break;
        }
        case 'd':
            rc = sqlite3_bind_double(s, i + 1, va_arg(ap, double));
            break;
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = sqlite3_bind_text(s, i + 1, v ? v : "", -1, SQLITE_TRANSIENT);
            break;
        }
        case 'T': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(s, i + 1);
            break;
        }
        default:
            abort();
        }
    }
    return rc;
}

int store_bind(sqlite3_stmt *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = store_bindv(s, fmt, ap);
    va_end(ap);
    return rc;
}

sqlite3_stmt *store_prepv(struct store *st, const char *sql, struct buf *err, const char *fmt,
                          va_list ap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(store_sqlite(st), sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = store_bindv(s, fmt, ap);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, err, "cannot prepare \"%s\"", sql);
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

sqlite3_stmt *store_prep(struct store *st, struct buf *err, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = store_prepv(st, sql, err, fmt, ap);
    va_end(ap);
    return s;
}

/* Runs a statement without rows; 0 or the store's code. */
int store_exec(struct store *st, struct buf *err, const char *what, const char *sql,
               const char *fmt, ...)
{
    bool cached;
    sqlite3_stmt *s = store_exec_stmt_of(st, sql, &cached);
    if (!s)
        return store_fail(st, sqlite3_errcode(store_sqlite(st)), err, "cannot prepare \"%s\"", sql);
    va_list ap;
    va_start(ap, fmt);
    int rc = store_bindv(s, fmt, ap);
    va_end(ap);
    int ret = 0;
    if (rc != SQLITE_OK)
        ret = store_fail(st, rc, err, "cannot bind the values of \"%s\"", sql);
    else if ((rc = sqlite3_step(s)) != SQLITE_DONE)
        ret = store_fail(st, rc, err, "%s", what);
    if (cached) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    } else {
        sqlite3_finalize(s);
    }
    return ret;
}

int store_row(struct store *st, sqlite3_stmt *s, void (*row)(sqlite3_stmt *, void *), void *out,
              struct buf *err, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (row)
            row(s, out);
    } else if (rc == SQLITE_DONE) {
        ret = -ENOENT;
    } else {
        ret = store_fail(st, rc, err, "%s", what);
        if (ret == -ENOENT) /* an I/O error's errno: keep -ENOENT for "no row" */
            ret = -EIO;
    }
    sqlite3_finalize(s);
    return ret;
}

void store_int64_row(sqlite3_stmt *s, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(s, 0);
}

char *store_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

/* Collects the rows of s into a growing array of size elem via row(). */
int store_collect(struct store *st, sqlite3_stmt *s, size_t elem, void **out, size_t *n,
                  void (*row)(sqlite3_stmt *, void *), struct buf *err, const char *what)
{
    size_t alloc = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == alloc) {
            alloc = alloc ? 2 * alloc : 8;
            *out = xrealloc(*out, alloc * elem);
        }
        char *slot = (char *)*out + *n * elem;
        memset(slot, 0, elem);
        row(s, slot);
        (*n)++;
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
}

/* ---- deployments ---- */
