/*
 * store_int: what the store's own modules (store.c, release.c) share: the
 * connection and the transaction helpers. Not for use outside src/store.
 */
#ifndef FLYWHEEL_STORE_STORE_INT_H
#define FLYWHEEL_STORE_STORE_INT_H

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
 * Prepares sql and binds its parameters from fmt, one letter each: 'i'
 * int64_t, 'n' int64_t where 0 is NULL (an id), 'd' double, 't' text (NULL
 * as ""), 'T' text (NULL as NULL). Returns NULL with err on failure.
 */
sqlite3_stmt *store_prep(struct store *st, struct buf *err, const char *sql, const char *fmt, ...);
/* Steps s to its end, each row into a new element of size elem of a growing array (*out,
 * malloc'd; zeroed before row() fills it); finalizes s. 0, or the store's code with err. */
int store_collect(struct store *st, sqlite3_stmt *s, size_t elem, void **out, size_t *n,
                  void (*row)(sqlite3_stmt *, void *), struct buf *err, const char *what);

#endif
