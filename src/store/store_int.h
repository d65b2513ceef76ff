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

#endif
