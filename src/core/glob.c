#include "core/glob.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

int glob_check(const char *pat, struct buf *err)
{
    if (!*pat) {
        buf_adds(err, "an empty pattern");
        return -1;
    }
    for (const char *p = pat; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f) {
            buf_addf(err, "pattern '%s' contains a space or control character", pat);
            return -1;
        }
        if (c == '\\') {
            if (!p[1]) {
                buf_addf(err, "pattern '%s' ends with a lone '\\'", pat);
                return -1;
            }
            p++;
        } else if (c == '[') {
            const char *q = p + 1;
            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']')
                q++; /* a leading ']' is a literal member */
            while (*q && *q != ']')
                q++;
            if (!*q) {
                buf_addf(err, "pattern '%s' has an unclosed '['", pat);
                return -1;
            }
            if (q == p + 1) {
                buf_addf(err, "pattern '%s' has an empty class '[]'", pat);
                return -1;
            }
            p = q;
        }
    }
    return 0;
}

/* Matches one character c against the class starting at *pp (just after '[');
 * advances *pp past the closing ']'. */
static bool class_match(const char **pp, char c)
{
    const char *p = *pp;
    bool neg = false, hit = false;
    if (*p == '!' || *p == '^') {
        neg = true;
        p++;
    }
    bool first = true;
    while (*p && (*p != ']' || first)) {
        first = false;
        char lo = *p, hi = *p;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = p[2];
            p += 3;
        } else {
            p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    if (*p == ']')
        p++;
    *pp = p;
    return hit != neg && c != '/';
}

bool glob_match(const char *pat, const char *s)
{
    /* Dynamic programming over positions of s: cur[j] = pattern so far matches s[0..j). */
    size_t n = strlen(s);
    bool *cur = xcalloc(n + 1, sizeof(bool));
    bool *next = xcalloc(n + 1, sizeof(bool));
    cur[0] = true;
    const char *p = pat;
    while (*p) {
        memset(next, 0, (n + 1) * sizeof(bool));
        if (p[0] == '*') {
            bool dbl = p[1] == '*';
            p += dbl ? 2 : 1;
            bool run = false;
            for (size_t j = 0; j <= n; j++) {
                if (cur[j])
                    run = true;
                next[j] = run;
                if (j < n && !dbl && s[j] == '/')
                    run = false;
            }
        } else {
            const char *after = p;
            for (size_t j = 0; j < n; j++) {
                if (!cur[j])
                    continue;
                const char *q = p;
                bool ok;
                if (*q == '?') {
                    ok = s[j] != '/';
                    q++;
                } else if (*q == '[') {
                    q++;
                    ok = class_match(&q, s[j]);
                } else {
                    if (*q == '\\')
                        q++;
                    ok = *q == s[j];
                    q++;
                }
                after = q;
                if (ok)
                    next[j + 1] = true;
            }
            if (after == p) {
                /* No live state: still advance over the token. */
                if (*p == '[') {
                    const char *q = p + 1;
                    class_match(&q, 'a');
                    after = q;
                } else {
                    after = p + (*p == '\\' ? 2 : 1);
                }
            }
            p = after;
        }
        bool *t = cur;
        cur = next;
        next = t;
    }
    bool r = cur[n];
    free(cur);
    free(next);
    return r;
}
