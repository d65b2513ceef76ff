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

sqlite3_stmt *store_prepv(struct store *st, const char *sql, struct buf *err, const char *fmt,
                          va_list ap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(store_sqlite(st), sql, -1, &s, NULL);
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
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = store_prepv(st, sql, err, fmt, ap);
    va_end(ap);
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
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
