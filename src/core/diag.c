#include "core/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define DIAG_DEFAULT_MAX 50

static size_t diag_cap(const struct diag_list *d)
{
    return d->max ? d->max : DIAG_DEFAULT_MAX;
}

static int pos_cmp(struct pos a, struct pos b)
{
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    if (a.col != b.col)
        return a.col < b.col ? -1 : 1;
    return 0;
}

/* Index of the kept diagnostic that sorts last: the latest found among equals. */
static size_t diag_last(const struct diag_list *d)
{
    size_t m = 0;
    for (size_t i = 1; i < d->n; i++)
        if (pos_cmp(d->v[i].pos, d->v[m].pos) >= 0)
            m = i;
    return m;
}

bool diag_would_keep(const struct diag_list *d, struct pos pos)
{
    return d->n < diag_cap(d) || pos_cmp(pos, d->v[diag_last(d)].pos) < 0;
}

void diag_add(struct diag_list *d, enum diag_severity sev, struct pos pos, const char *fmt, ...)
{
    if (sev == DIAG_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
    if (d->n >= diag_cap(d)) {
        /* Full: keep the earliest in the file. The one that sorts last makes room for
         * an earlier newcomer; the rest keep the order they were found in. */
        d->dropped++;
        size_t last = diag_last(d);
        if (pos_cmp(pos, d->v[last].pos) >= 0)
            return;
        free(d->v[last].msg);
        memmove(&d->v[last], &d->v[last + 1], (d->n - last - 1) * sizeof(*d->v));
        d->n--;
    }
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    ALLOC_GROW(d->v, d->n + 1, d->alloc);
    d->v[d->n].sev = sev;
    d->v[d->n].pos = pos;
    d->v[d->n].msg = buf_detach(&b, NULL);
    d->n++;
}

static int diag_cmp(const void *a, const void *b)
{
    const struct diag *x = a, *y = b;
    return pos_cmp(x->pos, y->pos);
}

void diag_sort(struct diag_list *d)
{
    /* Insertion sort keeps equal positions in the order found; n is capped small. */
    for (size_t i = 1; i < d->n; i++) {
        struct diag t = d->v[i];
        size_t j = i;
        while (j > 0 && diag_cmp(&d->v[j - 1], &t) > 0) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = t;
    }
}

void diag_list_release(struct diag_list *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    size_t max = d->max;
    memset(d, 0, sizeof(*d));
    d->max = max;
}

/* Finds line number `line` (1-based) in src; returns its start and length. */
static bool find_line(const char *src, size_t len, unsigned line, const char **start, size_t *n)
{
    unsigned cur = 1;
    size_t i = 0;
    while (cur < line) {
        const char *nl = memchr(src + i, '\n', len - i);
        if (!nl)
            return false;
        i = (size_t)(nl - src) + 1;
        cur++;
    }
    if (i > len)
        return false;
    const char *nl = memchr(src + i, '\n', len - i);
    *start = src + i;
    *n = nl ? (size_t)(nl - (src + i)) : len - i;
    if (*n && (*start)[*n - 1] == '\r')
        (*n)--;
    return true;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 1 for any other byte. */
static size_t utf8_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
    if (c >= 0xf5 || len > n)
        return 1;
    for (size_t i = 1; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return len;
}

/* Byte offset of character number idx (0-based, UTF-8) in s[0..n), or n. */
static size_t char_offset(const char *s, size_t n, size_t idx)
{
    size_t k = 0;
    for (size_t chars = 0; k < n; k++) {
        if (((unsigned char)s[k] & 0xc0) == 0x80)
            continue; /* UTF-8 continuation byte: same character */
        if (chars++ == idx)
            break;
    }
    return k;
}

/*
 * The source line and the caret line under it. A long line is cut to a window
 * of DIAG_LINE_MAX characters around the column, so that a hostile one-line
 * file does not come back once per diagnostic.
 */
static void render_line(struct buf *out, const struct diag *g, const char *ls, size_t ln,
                        const char *green, const char *reset)
{
    size_t nchars = 0;
    for (size_t k = 0; k < ln; k++)
        nchars += ((unsigned char)ls[k] & 0xc0) != 0x80;
    size_t col = g->pos.col ? g->pos.col - 1 : 0; /* 0-based character index */
    size_t first = 0, last = nchars;              /* window [first, last) */
    if (nchars > DIAG_LINE_MAX) {
        first = col > DIAG_LINE_MAX / 4 ? col - DIAG_LINE_MAX / 4 : 0;
        if (first > nchars - DIAG_LINE_MAX)
            first = nchars - DIAG_LINE_MAX;
        last = first + DIAG_LINE_MAX;
    }
    size_t b0 = char_offset(ls, ln, first), b1 = char_offset(ls, ln, last);
    const char *more = first ? "..." : "";

    buf_addf(out, "%5u | %s", g->pos.line, more);
    for (size_t k = b0; k < b1;) {
        unsigned char c = (unsigned char)ls[k];
        size_t n = utf8_len(ls + k, b1 - k);
        if (n > 1) {
            buf_add(out, ls + k, n);
            k += n;
            continue;
        }
        /* Control characters and bytes that are not UTF-8 would garble a
         * terminal; show them as '?'. */
        buf_addch(out, (c < 0x20 && c != '\t') || c >= 0x7f ? '?' : c);
        k++;
    }
    buf_addf(out, "%s\n      | %s", last < nchars ? "..." : "", first ? "   " : "");
    /* The column counts characters; copy tabs so the caret lines up. */
    size_t want = col > first ? col - first : 0, done = 0;
    for (size_t k = b0; k < b1 && done < want; k++) {
        unsigned char c = (unsigned char)ls[k];
        if ((c & 0xc0) == 0x80)
            continue;
        buf_addch(out, c == '\t' ? '\t' : ' ');
        done++;
    }
    for (; done < want; done++)
        buf_addch(out, ' ');
    buf_addf(out, "%s^", green);
    size_t room = last > col ? last - col : 1;
    for (unsigned i = 1; i < g->pos.len && i < room; i++)
        buf_addch(out, '~');
    buf_addf(out, "%s\n", reset);
}

void diag_render(const struct diag_list *d, const char *file, const char *src, size_t srclen,
                 bool color, struct buf *out)
{
    const char *bold = color ? "\033[1m" : "";
    const char *red = color ? "\033[1;31m" : "";
    const char *mag = color ? "\033[1;35m" : "";
    const char *green = color ? "\033[1;32m" : "";
    const char *reset = color ? "\033[0m" : "";

    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        const char *kind = g->sev == DIAG_ERROR ? "error" : "warning";
        const char *kc = g->sev == DIAG_ERROR ? red : mag;
        if (g->pos.line)
            buf_addf(out, "%s%s:%u:%u:%s %s%s:%s %s\n", bold, file, g->pos.line, g->pos.col, reset,
                     kc, kind, reset, g->msg);
        else
            buf_addf(out, "%s%s:%s %s%s:%s %s\n", bold, file, reset, kc, kind, reset, g->msg);

        const char *ls;
        size_t ln;
        if (!g->pos.line || !src || !find_line(src, srclen, g->pos.line, &ls, &ln))
            continue;
        if (g->pos.line == 1 && ln >= 3 && !memcmp(ls, "\xef\xbb\xbf", 3)) {
            ls += 3; /* a byte order mark: not shown, not counted in columns */
            ln -= 3;
        }
        render_line(out, g, ls, ln, green, reset);
    }
    if (d->dropped)
        buf_addf(out, "%s: %zu more diagnostic%s not shown\n", file, d->dropped,
                 d->dropped == 1 ? "" : "s");
}

size_t diag_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b), over = cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return over;
    /*
     * Three rows of the optimal string alignment table (rows i - 2, i - 1, i),
     * computed only in the band |i - j| <= cap: a cell outside it is over the
     * cap anyway. Cost: la * (2 * cap + 1) cells, whatever the lengths.
     */
    size_t *rows = xmalloc(xmul(xmul(3, lb + 1), sizeof(size_t)));
    size_t *prev2 = rows, *prev = rows + lb + 1, *cur = rows + 2 * (lb + 1);
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j <= cap ? j : over;
    for (size_t i = 1; i <= la; i++) {
        size_t lo = i > cap ? i - cap : 0, hi = i + cap < lb ? i + cap : lb;
        size_t rowmin = over;
        if (lo > 0)
            cur[lo - 1] = over;
        else
            cur[0] = rowmin = i <= cap ? i : over;
        for (size_t j = lo ? lo : 1; j <= hi; j++) {
            size_t v = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v < over ? v : over;
            if (cur[j] < rowmin)
                rowmin = cur[j];
        }
        if (hi < lb)
            cur[hi + 1] = over;
        /* Rows never shrink by more than one and a transposition adds one, so once a
         * whole row is over the cap, every later cell is too. */
        if (rowmin > cap) {
            free(rows);
            return over;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    size_t d = prev[lb];
    free(rows);
    return d;
}

const char *diag_suggest(const char *word, const char *const *candidates, size_t n)
{
    size_t wl = strlen(word);
    /* Allow roughly one edit per three characters, at least one, at most three. */
    size_t cap = wl / 3;
    if (cap < 1)
        cap = 1;
    if (cap > 3)
        cap = 3;
    const char *best = NULL;
    size_t bestd = cap + 1;
    for (size_t i = 0; i < n; i++) {
        size_t cl = strlen(candidates[i]);
        size_t dd = diag_edit_distance(word, candidates[i], cap);
        /* An edit of every character is no resemblance: 'c' does not suggest 'a'. */
        if (dd >= (wl > cl ? wl : cl))
            continue;
        if (dd < bestd) {
            bestd = dd;
            best = candidates[i];
        }
    }
    return best;
}
