/*
 * Allocation that never returns NULL.
 *
 * Every allocation in flywheel goes through these helpers. On exhaustion they
 * print a message and abort(), as git's xmalloc and Redis's zmalloc do, so
 * callers never carry NULL checks that cannot be tested. Size arithmetic goes
 * through xmul/xadd, which abort on overflow instead of wrapping.
 */
#ifndef FLYWHEEL_UTIL_XALLOC_H
#define FLYWHEEL_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* xstrdup(s), or NULL for NULL. */
char *xstrdup_or_null(const char *s);
/* Copies n bytes of s and a terminating NUL. */
char *xmemdupz(const void *s, size_t n);
/* Overflow-checked arithmetic; abort on overflow. */
size_t xmul(size_t a, size_t b);
size_t xadd(size_t a, size_t b);

/*
 * Grows the array *pp (of element size sz) so that it holds at least need
 * elements; *alloc is its capacity. Growth is geometric.
 */
#define ALLOC_GROW(p, need, alloc)                                                                 \
    do {                                                                                           \
        if ((need) > (alloc)) {                                                                    \
            size_t alloc_grow_n = (alloc) < 8 ? 8 : (alloc);                                       \
            while (alloc_grow_n < (need))                                                          \
                alloc_grow_n = xmul(alloc_grow_n, 2);                                              \
            (p) = xrealloc((p), xmul(alloc_grow_n, sizeof(*(p))));                                 \
            (alloc) = alloc_grow_n;                                                                \
        }                                                                                          \
    } while (0)

#endif
