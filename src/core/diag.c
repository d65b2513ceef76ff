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

bool diag_full(const struct diag_list *d)
{
    return d->n >= diag_cap(d);
}

void diag_add(struct diag_list *d, enum diag_severity sev, struct pos pos, const char *fmt, ...)
{
    if (sev == DIAG_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
    if (diag_full(d)) {
        d->dropped++;
        return;
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
    if (x->pos.line != y->pos.line)
        return x->pos.line < y->pos.line ? -1 : 1;
    if (x->pos.col != y->pos.col)
        return x->pos.col < y->pos.col ? -1 : 1;
    return 0;
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
        buf_addf(out, "%5u | ", g->pos.line);
        for (size_t k = 0; k < ln; k++) {
            unsigned char c = (unsigned char)ls[k];
            /* Control characters would garble a terminal; show them as '?'. */
            buf_addch(out, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
        }
        buf_adds(out, "\n      | ");
        /* The column counts characters; copy tabs so the caret lines up. */
        unsigned col = 1;
        for (size_t k = 0; k < ln && col < g->pos.col; k++) {
            unsigned char c = (unsigned char)ls[k];
            if ((c & 0xc0) == 0x80)
                continue; /* UTF-8 continuation byte: same character */
            buf_addch(out, c == '\t' ? '\t' : ' ');
            col++;
        }
        while (col < g->pos.col) {
            buf_addch(out, ' ');
            col++;
        }
        buf_addf(out, "%s^", green);
        for (unsigned k = 1; k < g->pos.len && k < 200; k++)
            buf_addch(out, '~');
        buf_addf(out, "%s\n", reset);
    }
    if (d->dropped)
        buf_addf(out, "%s: %zu more diagnostic%s not shown\n", file, d->dropped,
                 d->dropped == 1 ? "" : "s");
}

size_t diag_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    if (la > 64 || lb > 64)
        return cap + 1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        size_t rowmin = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
            if (cur[j] < rowmin)
                rowmin = cur[j];
        }
        if (rowmin > cap)
            return cap + 1;
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
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
        size_t dd = diag_edit_distance(word, candidates[i], cap);
        if (dd < bestd) {
            bestd = dd;
            best = candidates[i];
        }
    }
    return best;
}
