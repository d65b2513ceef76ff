#include "core/dag.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* A binary min-heap of node indexes. */
static void heap_push(size_t *h, size_t *n, size_t v)
{
    size_t i = (*n)++;
    h[i] = v;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= h[i])
            break;
        size_t t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static size_t heap_pop(size_t *h, size_t *n)
{
    size_t top = h[0];
    h[0] = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && h[l] < h[m])
            m = l;
        if (r < *n && h[r] < h[m])
            m = r;
        if (m == i)
            break;
        size_t t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
    return top;
}

int dag_toposort(size_t n, const size_t *off, const size_t *to, size_t *order)
{
    size_t m = off[n];
    size_t *indeg = xcalloc(n + 1, sizeof(size_t));
    size_t *roff = xcalloc(n + 1, sizeof(size_t));
    size_t *rto = xmalloc(xmul(m + 1, sizeof(size_t)));
    size_t *fill = xcalloc(n + 1, sizeof(size_t));
    size_t *heap = xmalloc(xmul(n + 1, sizeof(size_t)));
    size_t nheap = 0, k = 0;

    /* Reverse edges: for each need j of i, i is a dependant of j. */
    for (size_t i = 0; i < n; i++) {
        indeg[i] = off[i + 1] - off[i];
        for (size_t e = off[i]; e < off[i + 1]; e++)
            roff[to[e] + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        roff[i + 1] += roff[i];
    for (size_t i = 0; i < n; i++)
        for (size_t e = off[i]; e < off[i + 1]; e++)
            rto[roff[to[e]] + fill[to[e]]++] = i;

    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            heap_push(heap, &nheap, i);
    while (nheap) {
        size_t v = heap_pop(heap, &nheap);
        order[k++] = v;
        for (size_t e = roff[v]; e < roff[v + 1]; e++)
            if (--indeg[rto[e]] == 0)
                heap_push(heap, &nheap, rto[e]);
    }
    free(indeg);
    free(roff);
    free(rto);
    free(fill);
    free(heap);
    return k == n ? 0 : -1;
}

size_t dag_find_cycle(size_t n, const size_t *off, const size_t *to, size_t *path)
{
    enum { WHITE, GRAY, BLACK };
    unsigned char *color = xcalloc(n + 1, 1);
    size_t *stack = xmalloc(xmul(n + 1, sizeof(size_t)));
    size_t *next = xmalloc(xmul(n + 1, sizeof(size_t))); /* next edge to try, per node */
    size_t found = 0;

    for (size_t s = 0; s < n && !found; s++) {
        if (color[s] != WHITE)
            continue;
        size_t sp = 0;
        stack[sp++] = s;
        color[s] = GRAY;
        next[s] = off[s];
        while (sp && !found) {
            size_t v = stack[sp - 1];
            if (next[v] == off[v + 1]) {
                color[v] = BLACK;
                sp--;
                continue;
            }
            size_t w = to[next[v]++];
            if (color[w] == WHITE) {
                color[w] = GRAY;
                next[w] = off[w];
                stack[sp++] = w;
            } else if (color[w] == GRAY) {
                /* The stack from w to v is the cycle. */
                size_t i = sp;
                while (stack[i - 1] != w)
                    i--;
                for (size_t j = i - 1; j < sp; j++)
                    path[found++] = stack[j];
            }
        }
    }
    free(color);
    free(stack);
    free(next);
    return found;
}
