#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void rehash(struct strmap *m, size_t size)
{
    struct strmap_slot *old = m->slots;
    size_t oldsize = m->size;
    m->slots = xcalloc(size, sizeof(*m->slots));
    m->size = size;
    for (size_t i = 0; i < oldsize; i++) {
        if (!old[i].key)
            continue;
        size_t j = hash(old[i].key) & (size - 1);
        while (m->slots[j].key)
            j = (j + 1) & (size - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

bool strmap_put(struct strmap *m, const char *key, size_t value)
{
    if (xmul(m->n + 1, 2) > m->size)
        rehash(m, m->size ? xmul(m->size, 2) : 16);
    size_t j = hash(key) & (m->size - 1);
    while (m->slots[j].key) {
        if (!strcmp(m->slots[j].key, key)) {
            m->slots[j].value = value;
            return true;
        }
        j = (j + 1) & (m->size - 1);
    }
    m->slots[j].key = key;
    m->slots[j].value = value;
    m->n++;
    return false;
}

bool strmap_get(const struct strmap *m, const char *key, size_t *value)
{
    if (!m->size)
        return false;
    size_t j = hash(key) & (m->size - 1);
    while (m->slots[j].key) {
        if (!strcmp(m->slots[j].key, key)) {
            *value = m->slots[j].value;
            return true;
        }
        j = (j + 1) & (m->size - 1);
    }
    return false;
}

void strmap_release(struct strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->n = m->size = 0;
}
