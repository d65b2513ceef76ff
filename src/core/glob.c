#include "core/glob.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static int check(const char *pat, bool allow_spaces, struct buf *err)
{
    if (!*pat) {
        buf_adds(err, "an empty pattern");
        return -1;
    }
    for (const char *p = pat; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < ' ' || c == 0x7f || (c == ' ' && !allow_spaces)) {
            buf_addf(err, "pattern '%s' contains a %scontrol character", pat,
                     allow_spaces ? "" : "space or ");
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

int glob_check(const char *pat, struct buf *err)
{
    return check(pat, false, err);
}

int glob_check_path(const char *pat, struct buf *err)
{
    return check(pat, true, err);
}

/*
 * Decodes the UTF-8 character at s, of which at most n bytes may be read
 * (SIZE_MAX for a NUL-terminated string: a NUL ends any sequence); sets *len
 * to its length. A byte that does not start a valid sequence (a
 * stray continuation byte, a truncated or overlong sequence) is one character
 * of its own, whose code point is the byte's value plus 0x110000, so that it
 * equals no real character but itself.
 */
static unsigned long utf8_decode(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned long cp;
    size_t l;
    *len = 1;
    if (u[0] < 0x80)
        return u[0];
    if ((u[0] & 0xe0) == 0xc0) {
        cp = u[0] & 0x1f;
        l = 2;
    } else if ((u[0] & 0xf0) == 0xe0) {
        cp = u[0] & 0x0f;
        l = 3;
    } else if ((u[0] & 0xf8) == 0xf0) {
        cp = u[0] & 0x07;
        l = 4;
    } else {
        return 0x110000ul + u[0];
    }
    if (l > n)
        return 0x110000ul + u[0];
    for (size_t i = 1; i < l; i++) {
        if ((u[i] & 0xc0) != 0x80)
            return 0x110000ul + u[0];
        cp = cp << 6 | (u[i] & 0x3f);
    }
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[l] || cp > 0x10ffff)
        return 0x110000ul + u[0];
    *len = l;
    return cp;
}

/* Matches one character c (a code point) against the class starting at *pp
 * (just after '['); advances *pp past the closing ']'. */
static bool class_match(const char **pp, unsigned long c)
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
        size_t l;
        unsigned long lo = utf8_decode(p, SIZE_MAX, &l), hi = lo; /* stops at the NUL */
        p += l;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            hi = utf8_decode(p + 1, SIZE_MAX, &l);
            p += 1 + l;
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
    /* Dynamic programming over byte positions of s: cur[j] = pattern so far matches
     * s[0..j). '?' and classes step over a whole UTF-8 character. */
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
                size_t len = 1;
                bool ok;
                if (*q == '?') {
                    (void)utf8_decode(s + j, n - j, &len);
                    ok = s[j] != '/';
                    q++;
                } else if (*q == '[') {
                    q++;
                    ok = class_match(&q, utf8_decode(s + j, n - j, &len));
                } else {
                    if (*q == '\\')
                        q++;
                    ok = *q == s[j];
                    q++;
                }
                after = q;
                if (ok)
                    next[j + len] = true;
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
