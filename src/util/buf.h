/*
 * struct buf: a growable byte buffer with an optional hard cap.
 *
 * Calling sequence:
 *
 *     struct buf b = BUF_INIT;          // or buf_init(&b, cap)
 *     buf_addf(&b, "%d jobs", n);
 *     ... use b.data (always NUL-terminated) and b.len ...
 *     buf_release(&b);                  // or char *s = buf_detach(&b);
 *
 * Invariants: data is never NULL and data[len] == '\0', so a buffer can be
 * passed to any function taking a C string. A buffer may hold NUL bytes.
 *
 * Cap: a buffer filled from outside (a request body, a pipeline file, a log
 * chunk) is given a maximum with buf_init(). The checked appends
 * (buf_try_add) refuse to grow past it and return -E2BIG, leaving the buffer
 * unchanged. The unchecked appends (buf_add, buf_addf, ...) are for data the
 * program builds itself; they ignore the cap.
 *
 * Error reporting: functions that can fail take a `struct buf *err` and append
 * a human-readable reason to it on failure; on success they leave it alone.
 */
#ifndef FLYWHEEL_UTIL_BUF_H
#define FLYWHEEL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t alloc; /* 0 while data points at the shared empty string */
    size_t cap;   /* 0 = no cap */
};

extern char buf_empty[];
#define BUF_INIT                                                                                   \
    {                                                                                              \
        buf_empty, 0, 0, 0                                                                         \
    }

void buf_init(struct buf *b, size_t cap);
void buf_release(struct buf *b);
/* Returns the contents (malloc'd, NUL-terminated) and re-initialises b. */
char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_setlen(struct buf *b, size_t len);

void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, int c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends len bytes unless that would exceed the cap: then -E2BIG, b unchanged. */
int buf_try_add(struct buf *b, const void *data, size_t len) __attribute__((warn_unused_result));

/* Appends s as a JSON string literal (quoted, escaped). */
void buf_add_json_str(struct buf *b, const char *s);

#endif
