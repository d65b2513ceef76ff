#include "util/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t cap)
{
    b->data = buf_empty;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void buf_release(struct buf *b)
{
    if (b->alloc)
        free(b->data);
    buf_init(b, b->cap);
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *r;
    if (len)
        *len = b->len;
    if (!b->alloc)
        r = xstrdup("");
    else
        r = b->data;
    buf_init(b, b->cap);
    return r;
}

void buf_reset(struct buf *b)
{
    buf_setlen(b, 0);
}

void buf_grow(struct buf *b, size_t extra)
{
    size_t need = xadd(xadd(b->len, extra), 1);
    if (need <= b->alloc)
        return;
    if (!b->alloc)
        b->data = NULL;
    size_t n = b->alloc < 64 ? 64 : b->alloc;
    while (n < need)
        n = xmul(n, 2);
    b->data = xrealloc(b->data, n);
    b->alloc = n;
    if (!b->len)
        b->data[0] = '\0';
}

void buf_setlen(struct buf *b, size_t len)
{
    if (!b->alloc) {
        if (len)
            abort();
        return;
    }
    if (len >= b->alloc)
        abort();
    b->len = len;
    b->data[len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    if (!len)
        return;
    buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, int c)
{
    char ch = (char)c;
    buf_add(b, &ch, 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n <= 0)
        return;
    buf_grow(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

int buf_try_add(struct buf *b, const void *data, size_t len)
{
    if (b->cap && (len > b->cap || b->len > b->cap - len))
        return -E2BIG;
    buf_add(b, data, len);
    return 0;
}

void buf_add_json_str(struct buf *b, const char *s)
{
    buf_addch(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            buf_adds(b, "\\\"");
            break;
        case '\\':
            buf_adds(b, "\\\\");
            break;
        case '\n':
            buf_adds(b, "\\n");
            break;
        case '\r':
            buf_adds(b, "\\r");
            break;
        case '\t':
            buf_adds(b, "\\t");
            break;
        default:
            if (*p < 0x20)
                buf_addf(b, "\\u%04x", *p);
            else
                buf_addch(b, *p);
        }
    }
    buf_addch(b, '"');
}
