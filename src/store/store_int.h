/*
 * store_int: what the store's own modules (store.c, release.c, ...) share: the
 * connection, the transaction helpers and the statement helpers of stmt.c.
 * Not for use outside src/store.
 */
#ifndef FLYWHEEL_STORE_STORE_INT_H
#define FLYWHEEL_STORE_STORE_INT_H

#include <stdarg.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "store/store.h"

sqlite3 *store_sqlite(struct store *st);
#define STORE_EXEC_CACHE 64
/*
 * store_exec's statement of sql, prepared or kept from an earlier call (set
 * *cached: the caller resets it instead of finalizing it); NULL when it
 * cannot be prepared (sqlite3_errmsg says why).
 */
sqlite3_stmt *store_exec_stmt_of(struct store *st, const char *sql, bool *cached);
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
/* Binds parameters 1.. of s by fmt as store_prep does; SQLITE_OK or the first failure. */
int store_bind(sqlite3_stmt *s, const char *fmt, ...);
int store_bindv(sqlite3_stmt *s, const char *fmt, va_list ap);
/*
 * Runs a statement that returns no rows; 0, or a negative code with "what: ..." in err.
 * sql must be a constant: its statement is prepared once and kept, by the
 * address of the text, until the store is closed (STORE_EXEC_CACHE of them).
 */
int store_exec(struct store *st, struct buf *err, const char *what, const char *sql,
               const char *fmt, ...);
/*
 * Steps s, which returns at most one row, and finalizes it: 0 after row(s, out)
 * (row may be NULL), -ENOENT for no row, or another negative code with
 * "what: ..." in err.
 */
int store_row(struct store *st, sqlite3_stmt *s, void (*row)(sqlite3_stmt *, void *), void *out,
              struct buf *err, const char *what);
/* A row function: column 0 into the int64_t at out. */
void store_int64_row(sqlite3_stmt *s, void *out);
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
