#include "util/memo.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void memo_key(struct buf *key, const char *part, ...)
{
    va_list ap;
    va_start(ap, part);
    for (const char *p = part; p; p = va_arg(ap, const char *))
        buf_add(key, p, strlen(p) + 1);
    va_end(ap);
}

bool memo_get(struct memo *m, const struct buf *key, size_t max, struct buf *out)
{
    bool hit = false;
    time_t now = mono_s();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < MEMO_SLOTS && !hit; i++) {
        const struct memo_slot *s = &m->slot[i];
        if (s->key && s->klen == key->len && !memcmp(s->key, key->data, key->len) &&
            (!m->ttl_s || now - s->at < (time_t)m->ttl_s) && s->vlen <= max &&
            buf_try_add(out, s->val, s->vlen) == 0)
            hit = true;
    }
    pthread_mutex_unlock(&m->mu);
    return hit;
}

void memo_put(struct memo *m, const struct buf *key, const void *p, size_t n)
{
    char *k = xmemdupz(key->data, key->len), *v = xmemdupz(p, n);
    pthread_mutex_lock(&m->mu);
    struct memo_slot *s = &m->slot[m->next++ % MEMO_SLOTS];
    free(s->key);
    free(s->val);
    s->key = k;
    s->klen = key->len;
    s->val = v;
    s->vlen = n;
    s->at = mono_s();
    pthread_mutex_unlock(&m->mu);
}

void memo_release(struct memo *m)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        free(m->slot[i].key);
        free(m->slot[i].val);
        memset(&m->slot[i], 0, sizeof(m->slot[i]));
    }
    pthread_mutex_unlock(&m->mu);
}
