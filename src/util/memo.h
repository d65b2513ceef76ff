/*
 * A small memo of answers worth keeping: the last MEMO_SLOTS values put,
 * each under a key of bytes, for at most ttl_s seconds (0: no limit). Any
 * thread. Meant for answers that do not change (what an object id names,
 * a path once resolved), asked again and again.
 *
 *     static struct memo answers = MEMO_INIT(600);
 *     memo_key(&key, dir, rev, NULL);
 *     if (!memo_get(&answers, &key, max, &out)) { ...; memo_put(&answers, &key, p, n); }
 */
#ifndef FLYWHEEL_UTIL_MEMO_H
#define FLYWHEEL_UTIL_MEMO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define MEMO_SLOTS 16

struct memo {
    pthread_mutex_t mu;
    unsigned ttl_s, next;
    struct memo_slot {
        char *key, *val;
        size_t klen, vlen;
        time_t at; /* CLOCK_MONOTONIC seconds */
    } slot[MEMO_SLOTS];
};
#define MEMO_INIT(ttl_s)                                                                           \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (ttl_s), 0,                                                     \
        {                                                                                          \
            {                                                                                      \
                0                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* key gets the strings given (up to a NULL), each with its NUL: a key of several parts. */
void memo_key(struct buf *key, const char *part, ...) __attribute__((sentinel));
/* Appends the value kept under key to out, when there is one of at most max bytes that out can
 * hold. */
bool memo_get(struct memo *m, const struct buf *key, size_t max, struct buf *out);
/* Keeps a copy of n bytes at p under key, in place of the oldest value. */
void memo_put(struct memo *m, const struct buf *key, const void *p, size_t n);
/* Forgets every value (a memo that is not static, before it goes). */
void memo_release(struct memo *m);

#endif
