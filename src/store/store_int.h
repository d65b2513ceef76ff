/*
 * store_int: what the store's own modules (store.c, release.c) share: the
 * connection and the transaction helpers. Not for use outside src/store.
 */
#ifndef FLYWHEEL_STORE_STORE_INT_H
#define FLYWHEEL_STORE_STORE_INT_H

#include <stdarg.h>

#include <sqlite3.h>

#include "store/store.h"

sqlite3 *store_sqlite(struct store *st);
int store_begin(struct store *st, struct buf *err);
int store_commit(struct store *st, struct buf *err);
/* Rolls back the open transaction, if SQLite has not already. */
void store_rollback(struct store *st);
/*
 * Appends "store: <context>: <sqlite message>" to err and returns the code
 * for rc (-EBUSY, -EINVAL for a constraint, -ENOSPC, -EIO, ...).
 */
int store_fail(struct store *st, int rc, struct buf *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A statement of sql with its parameters bound by fmt, one letter each:
 * 'i' int64_t, 'n' int64_t with 0 bound as NULL, 'd' double, 't' text
 * (NULL as ""), 'T' text (NULL as NULL). NULL with a reason in err on failure;
 * the caller finalizes it.
 */
sqlite3_stmt *store_prep(struct store *st, struct buf *err, const char *sql, const char *fmt, ...);
sqlite3_stmt *store_prepv(struct store *st, const char *sql, struct buf *err, const char *fmt,
                          va_list ap);
/* Runs a statement that returns no rows; 0, or a negative code with "what: ..." in err. */
int store_exec(struct store *st, struct buf *err, const char *what, const char *sql,
               const char *fmt, ...);
/* Column i as a new string ("" for NULL). */
char *store_text(sqlite3_stmt *s, int i);
/*
 * Steps s to its end, growing *out by elem bytes per row (zeroed, then
 * filled by row()); finalizes s. 0, or a negative code with "what: ..." in
 * err (rows read so far stay in *out, *n).
 */
int store_collect(struct store *st, sqlite3_stmt *s, size_t elem, void **out, size_t *n,
                  void (*row)(sqlite3_stmt *, void *), struct buf *err, const char *what);

#endif
