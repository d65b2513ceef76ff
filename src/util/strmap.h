/*
 * strmap: a hash map from C strings to size_t values.
 *
 * Keys are borrowed: the map stores the pointers it is given, and the caller
 * keeps the strings alive for the life of the map. Open addressing with linear
 * probing, kept under 50% full; FNV-1a hashing.
 */
#ifndef FLYWHEEL_UTIL_STRMAP_H
#define FLYWHEEL_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
    const char *key;
    size_t value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t n, size; /* entries, slots (a power of two, or 0) */
};

#define STRMAP_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Sets key to value; returns true if key was already there (its value is replaced). */
bool strmap_put(struct strmap *m, const char *key, size_t value);
/* Returns true and sets *value when key is present. */
bool strmap_get(const struct strmap *m, const char *key, size_t *value);
void strmap_release(struct strmap *m);

#endif
