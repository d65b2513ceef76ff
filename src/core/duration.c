#include "core/duration.h"

#include <stdbool.h>
#include <string.h>

static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"d", 86400000LL}, {"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL}, {"ms", 1LL},
};

#define NUNITS (sizeof(units) / sizeof(units[0]))

int duration_parse(const char *s, int64_t *ms, struct buf *err)
{
    const char *p = s;
    int64_t total = 0;
    size_t last = 0; /* index past the last unit used: units must decrease */
    bool any = false;

    if (!*s) {
        buf_adds(err, "an empty duration");
        return -1;
    }
    while (*p) {
        if (*p < '0' || *p > '9') {
            buf_addf(err, "'%s' is not a duration: expected a number at '%s'", s, p);
            return -1;
        }
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > DURATION_MAX_MS) {
                buf_addf(err, "'%s' is too long a duration (the limit is 365d)", s);
                return -1;
            }
            v = v * 10 + (*p - '0');
            p++;
        }
        size_t u = NUNITS;
        for (size_t i = 0; i < NUNITS; i++) {
            size_t l = strlen(units[i].name);
            if (!strncmp(p, units[i].name, l) && !(l == 1 && p[0] == 'm' && p[1] == 's')) {
                u = i;
                p += l;
                break;
            }
        }
        if (u == NUNITS) {
            if (!*p)
                buf_addf(err, "'%s' has no unit: write it as %llds, %lldm or %lldh", s,
                         (long long)v, (long long)v, (long long)v);
            else if (*p == '.' && p[1] >= '0' && p[1] <= '9')
                buf_addf(err,
                         "'%s' is not a duration: unknown unit at '%s'; there are no fractions: "
                         "use smaller units, as in 1h30m or 1s500ms",
                         s, p);
            else
                buf_addf(err, "'%s' is not a duration: unknown unit at '%s' (use ms, s, m, h, d)",
                         s, p);
            return -1;
        }
        if (any && u < last) {
            buf_addf(err,
                     "'%s' is not a duration: units must go from largest to smallest, once each",
                     s);
            return -1;
        }
        last = u + 1;
        any = true;
        if (v > DURATION_MAX_MS / units[u].ms || total > DURATION_MAX_MS - v * units[u].ms) {
            buf_addf(err, "'%s' is too long a duration (the limit is 365d)", s);
            return -1;
        }
        total += v * units[u].ms;
    }
    *ms = total;
    return 0;
}

void duration_format(int64_t ms, struct buf *out)
{
    if (ms == 0) {
        buf_adds(out, "0s");
        return;
    }
    for (size_t i = 0; i < NUNITS; i++) {
        if (ms >= units[i].ms) {
            buf_addf(out, "%lld%s", (long long)(ms / units[i].ms), units[i].name);
            ms %= units[i].ms;
        }
    }
}
