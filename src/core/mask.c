/*
 * The streaming masker. See mask.h for the contract.
 *
 * The set: a trie of the patterns, built as they are added (which is what
 * makes a pattern added twice count once), then compiled into an
 * Aho-Corasick automaton whose nodes are numbered breadth first: the
 * children of a node have consecutive numbers, in the order of their bytes,
 * so a node needs no edge list, only its first child, its count of children
 * and each child the byte that leads to it. Each node knows its depth and
 * its cover: the length of the longest pattern that ends there (itself or
 * along its failure links), 0 for none.
 *
 * The stream: bytes at absolute positions 0, 1, ... Every occurrence found
 * (found when its last byte is read) covers an interval of positions; the
 * intervals not yet emitted are kept merged, in order. At any time no
 * occurrence found later can start before pos - depth(state): bytes before
 * that are final, and are emitted (as they are, or as one "***" per run of
 * covered bytes); the others are held. A covered byte is final at once:
 * runs of them at the front of what is held are swallowed too, which is
 * what keeps at most (longest - 1) bytes held.
 *
 * The filter: when every pattern has m >= 3 bytes, the q-grams (q = 4, or 2
 * when m < 8) at every offset of every pattern are put in a bit table. In
 * the root state, only every s-th position (s = m - q + 1) of the text is
 * looked at: an occurrence of length L >= m has L - q + 1 >= s q-grams, so
 * one of them starts on that grid, and is in the table. When the q-gram at
 * grid position g is not in the table no occurrence contains it; at the
 * first grid position h whose q-gram is, every possible occurrence starts
 * after h - s (it cannot contain the grid position h - s, a miss), so the
 * automaton starts there at the root and runs byte by byte until it is back
 * at the root past h.
 */
#include "core/mask.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct pat {
    char *s;
    size_t len;
};

struct mask_set {
    /* the patterns (distinct) */
    struct pat *pats;
    size_t npats, apats, bytes, shortest, longest;
    /* the trie while patterns are added: first child, next sibling, byte, pattern length */
    uint32_t *t_first, *t_next, *t_term;
    unsigned char *t_byte;
    size_t t_n, t_alloc;
    uint32_t t_root[256];
    /* the automaton once compiled */
    bool compiled;
    uint32_t root[256]; /* the root's transitions (0: stay at the root) */
    uint32_t *fail, *cover, *depth, *first;
    uint16_t *nchild;
    unsigned char *byte; /* the byte of the edge into each node */
    size_t nnodes;
    /* the filter: NULL when some pattern is shorter than 3 bytes */
    uint64_t *filter;
    unsigned q, step, shift, bits;
    /* per bucket of q-grams (the top 16 bits of their hash): the largest offset at which
     * a pattern has one */
    uint16_t *maxoff;
};

struct ival {
    uint64_t a, b; /* [a, b) */
};

struct mask {
    const struct mask_set *s;
    uint32_t u; /* the automaton's state */
    uint64_t pos, done;
    bool in_star; /* the last thing emitted was "***" (for covered bytes) */
    /* held bytes: positions [hold_base, hold_base + hold_len), which is [done, pos) between calls
     */
    char *hold;
    size_t hold_len, hold_cap;
    uint64_t hold_base;
    /* covered intervals not emitted yet, merged and in order: cov[head .. head + ncov) */
    struct ival *cov;
    size_t head, ncov, acov;
    /* during a call */
    const unsigned char *data;
    uint64_t chunk_start;
    uint64_t pend_a, pend_b; /* a span of plain bytes not handed to emit yet */
    mask_emit_fn emit;
    void *ctx;
};

/* ---- the set -------------------------------------------------------------- */

struct mask_set *mask_set_new(void)
{
    struct mask_set *s = xcalloc(1, sizeof(*s));
    /* node 0 is the root */
    ALLOC_GROW(s->t_first, 1, s->t_alloc);
    s->t_next = xcalloc(s->t_alloc, sizeof(*s->t_next));
    s->t_term = xcalloc(s->t_alloc, sizeof(*s->t_term));
    s->t_byte = xcalloc(s->t_alloc, 1);
    s->t_first[0] = 0;
    s->t_n = 1;
    return s;
}

static uint32_t trie_node(struct mask_set *s, unsigned char c)
{
    if (s->t_n >= UINT32_MAX)
        abort(); /* MASK_MAX_BYTES keeps it far below */
    if (s->t_n == s->t_alloc) {
        ALLOC_GROW(s->t_first, s->t_n + 1, s->t_alloc);
        s->t_next = xrealloc(s->t_next, xmul(s->t_alloc, sizeof(*s->t_next)));
        s->t_term = xrealloc(s->t_term, xmul(s->t_alloc, sizeof(*s->t_term)));
        s->t_byte = xrealloc(s->t_byte, s->t_alloc);
    }
    uint32_t v = (uint32_t)s->t_n++;
    s->t_first[v] = s->t_next[v] = s->t_term[v] = 0;
    s->t_byte[v] = c;
    return v;
}

int mask_set_add(struct mask_set *s, const void *pat, size_t len)
{
    const unsigned char *p = pat;
    if (s->compiled)
        return -EBUSY;
    if (!len)
        return -EINVAL;
    if (len > MASK_MAX_BYTES || s->bytes + len > MASK_MAX_BYTES)
        return -E2BIG;
    uint32_t u = s->t_root[p[0]];
    if (!u) {
        u = trie_node(s, p[0]);
        s->t_root[p[0]] = u;
    }
    for (size_t i = 1; i < len; i++) {
        uint32_t c = s->t_first[u];
        while (c && s->t_byte[c] != p[i])
            c = s->t_next[c];
        if (!c) {
            c = trie_node(s, p[i]);
            s->t_next[c] = s->t_first[u];
            s->t_first[u] = c;
        }
        u = c;
    }
    if (s->t_term[u])
        return 0; /* known already */
    s->t_term[u] = (uint32_t)len;
    ALLOC_GROW(s->pats, s->npats + 1, s->apats);
    s->pats[s->npats].s = xmemdupz(p, len);
    s->pats[s->npats].len = len;
    s->npats++;
    s->bytes += len;
    if (!s->shortest || len < s->shortest)
        s->shortest = len;
    if (len > s->longest)
        s->longest = len;
    return 0;
}

size_t mask_set_count(const struct mask_set *s)
{
    return s->npats;
}

size_t mask_set_longest(const struct mask_set *s)
{
    return s->longest;
}

static int cmp_byte(const void *a, const void *b)
{
    return (int)*(const unsigned char *)a - (int)*(const unsigned char *)b;
}

static inline uint32_t gram4(const unsigned char *p, unsigned shift)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return (x * 0x9E3779B1u) >> shift;
}

static inline uint32_t gram2(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static void build_filter(struct mask_set *s)
{
    size_t m = s->shortest;
    if (m < 3)
        return;
    s->q = m >= 8 ? 4 : 2;
    s->step = (unsigned)(m - s->q + 1);
    unsigned bits = 16;
    if (s->q == 4) {
        size_t grams = 0;
        for (size_t i = 0; i < s->npats; i++)
            grams += s->pats[i].len - 3;
        /* about 1 bit in 16 set: few false hits on text without the patterns */
        while (bits < 24 && ((size_t)1 << bits) < grams * 16)
            bits++;
        s->shift = 32 - bits;
    }
    s->bits = bits;
    s->filter = xcalloc(((size_t)1 << bits) / 64, sizeof(uint64_t));
    s->maxoff = xcalloc(65536, sizeof(uint16_t));
    for (size_t i = 0; i < s->npats; i++) {
        const unsigned char *p = (const unsigned char *)s->pats[i].s;
        for (size_t o = 0; o + s->q <= s->pats[i].len; o++) {
            uint32_t h = s->q == 4 ? gram4(p + o, s->shift) : gram2(p + o);
            s->filter[h >> 6] |= (uint64_t)1 << (h & 63);
            uint32_t b = h >> (bits - 16);
            if (o > s->maxoff[b])
                s->maxoff[b] = o > 65535 ? 65535 : (uint16_t)o;
        }
    }
}

static inline uint32_t child_of(const struct mask_set *s, uint32_t u, unsigned char c)
{
    uint32_t f = s->first[u], n = s->nchild[u];
    const unsigned char *b = s->byte + f;
    if (n <= 16) {
        for (uint32_t k = 0; k < n; k++)
            if (b[k] == c)
                return f + k;
        return 0;
    }
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (b[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && b[lo] == c ? f + lo : 0;
}

static inline uint32_t go(const struct mask_set *s, uint32_t u, unsigned char c)
{
    while (u) {
        uint32_t t = child_of(s, u, c);
        if (t)
            return t;
        u = s->fail[u];
    }
    return s->root[c];
}

static void compile(struct mask_set *s)
{
    size_t n = s->t_n;
    s->nnodes = n;
    uint32_t *order = xcalloc(n, sizeof(uint32_t));  /* new number -> trie node */
    uint32_t *parent = xcalloc(n, sizeof(uint32_t)); /* new number -> parent's new number */
    unsigned char kids[256];
    uint32_t kid_node[256];
    size_t tail = 1;

    s->fail = xcalloc(n, sizeof(uint32_t));
    s->cover = xcalloc(n, sizeof(uint32_t));
    s->depth = xcalloc(n, sizeof(uint32_t));
    s->first = xcalloc(n, sizeof(uint32_t));
    s->nchild = xcalloc(n, sizeof(uint16_t));
    s->byte = xcalloc(n, 1);
    order[0] = 0;
    /* Breadth first: the children of each node get consecutive numbers, by byte. */
    for (size_t v = 0; v < tail; v++) {
        uint32_t t = order[v];
        size_t k = 0;
        if (v == 0) {
            for (int c = 0; c < 256; c++)
                if (s->t_root[c])
                    kids[k++] = (unsigned char)c;
        } else {
            for (uint32_t c = s->t_first[t]; c; c = s->t_next[c])
                kids[k++] = s->t_byte[c];
            qsort(kids, k, 1, cmp_byte);
        }
        for (size_t i = 0; i < k; i++) {
            uint32_t c;
            if (v == 0) {
                c = s->t_root[kids[i]];
            } else {
                for (c = s->t_first[t]; s->t_byte[c] != kids[i]; c = s->t_next[c])
                    ;
            }
            kid_node[i] = c;
        }
        s->first[v] = (uint32_t)tail;
        s->nchild[v] = (uint16_t)k;
        for (size_t i = 0; i < k; i++) {
            order[tail] = kid_node[i];
            parent[tail] = (uint32_t)v;
            s->byte[tail] = kids[i];
            s->depth[tail] = s->depth[v] + 1;
            tail++;
        }
    }
    memset(s->root, 0, sizeof(s->root));
    for (uint32_t k = 0; k < s->nchild[0]; k++)
        s->root[s->byte[s->first[0] + k]] = s->first[0] + k;
    s->nchild[0] = 0; /* the root goes through its table */
    /* Failure links and covers, breadth first: a link leads to a shallower node. */
    for (size_t v = 1; v < n; v++) {
        uint32_t p = parent[v];
        s->fail[v] = p ? go(s, s->fail[p], s->byte[v]) : 0;
        uint32_t term = s->t_term[order[v]];
        s->cover[v] = term > s->cover[s->fail[v]] ? term : s->cover[s->fail[v]];
    }
    free(order);
    free(parent);
    free(s->t_first);
    free(s->t_next);
    free(s->t_term);
    explicit_bzero(s->t_byte, s->t_alloc);
    free(s->t_byte);
    s->t_first = s->t_next = s->t_term = NULL;
    s->t_byte = NULL;
    build_filter(s);
    s->compiled = true;
}

void mask_set_free(struct mask_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->npats; i++) {
        explicit_bzero(s->pats[i].s, s->pats[i].len); /* secrets: leave no copy */
        free(s->pats[i].s);
    }
    free(s->pats);
    free(s->t_first);
    free(s->t_next);
    free(s->t_term);
    if (s->t_byte)
        explicit_bzero(s->t_byte, s->t_alloc);
    free(s->t_byte);
    if (s->byte && s->nnodes)
        explicit_bzero(s->byte, s->nnodes);
    free(s->fail);
    free(s->cover);
    free(s->depth);
    free(s->first);
    free(s->nchild);
    free(s->byte);
    free(s->filter);
    free(s->maxoff);
    free(s);
}

/* ---- the stream ----------------------------------------------------------- */

struct mask *mask_new(struct mask_set *s)
{
    if (!s->compiled)
        compile(s);
    struct mask *m = xcalloc(1, sizeof(*m));
    m->s = s;
    m->hold_cap = s->longest + 1;
    m->hold = xmalloc(m->hold_cap);
    return m;
}

void mask_free(struct mask *m)
{
    if (!m)
        return;
    explicit_bzero(m->hold, m->hold_cap);
    free(m->hold);
    free(m->cov);
    free(m);
}

size_t mask_held(const struct mask *m)
{
    return m->hold_len;
}

static void out_flush(struct mask *m)
{
    if (m->pend_a >= m->pend_b)
        return;
    const char *p = m->pend_a < m->chunk_start
                        ? m->hold + (m->pend_a - m->hold_base)
                        : (const char *)m->data + (m->pend_a - m->chunk_start);
    m->emit(m->ctx, p, (size_t)(m->pend_b - m->pend_a));
    m->pend_a = m->pend_b = 0;
}

/* Plain bytes [a, b), joined to the pending span when they follow it in the same memory. */
static void out_raw(struct mask *m, uint64_t a, uint64_t b)
{
    while (a < b) {
        uint64_t e = a < m->chunk_start && b > m->chunk_start ? m->chunk_start : b;
        if (m->pend_a < m->pend_b && m->pend_b == a &&
            (a < m->chunk_start) == (m->pend_a < m->chunk_start)) {
            m->pend_b = e;
        } else {
            out_flush(m);
            m->pend_a = a;
            m->pend_b = e;
        }
        a = e;
    }
}

static void out_star(struct mask *m)
{
    out_flush(m);
    m->emit(m->ctx, MASK_REPLACEMENT, sizeof(MASK_REPLACEMENT) - 1);
}

/* Emits everything before f, and the covered bytes at the front of what is left. */
static void decide(struct mask *m, uint64_t f)
{
    for (;;) {
        if (m->ncov && m->cov[m->head].a <= m->done) {
            if (!m->in_star) {
                out_star(m);
                m->in_star = true;
            }
            if (m->cov[m->head].b > m->done)
                m->done = m->cov[m->head].b;
            m->head++;
            if (!--m->ncov)
                m->head = 0;
            continue;
        }
        if (m->done >= f)
            break;
        uint64_t e = f;
        if (m->ncov && m->cov[m->head].a < e)
            e = m->cov[m->head].a;
        out_raw(m, m->done, e);
        m->in_star = false;
        m->done = e;
    }
}

/* An occurrence covers [a, b); b is the largest end so far. */
static void add_cov(struct mask *m, uint64_t a, uint64_t b)
{
    if (a < m->done)
        a = m->done; /* the rest was swallowed as covered already */
    if (a >= b)
        return;
    while (m->ncov && m->cov[m->head + m->ncov - 1].b >= a) {
        struct ival *last = &m->cov[m->head + m->ncov - 1];
        if (last->a < a)
            a = last->a;
        m->ncov--;
    }
    if (!m->ncov)
        m->head = 0;
    if (m->head + m->ncov == m->acov && m->head) {
        memmove(m->cov, m->cov + m->head, m->ncov * sizeof(*m->cov));
        m->head = 0;
    }
    ALLOC_GROW(m->cov, m->head + m->ncov + 1, m->acov);
    m->cov[m->head + m->ncov].a = a;
    m->cov[m->head + m->ncov].b = b;
    m->ncov++;
}

static inline void step_byte(struct mask *m, unsigned char c)
{
    const struct mask_set *s = m->s;
    m->u = go(s, m->u, c);
    m->pos++;
    uint32_t l = s->cover[m->u];
    if (l)
        add_cov(m, m->pos - l, m->pos);
    uint64_t f = m->pos - s->depth[m->u];
    if (f > m->done || m->ncov)
        decide(m, f);
}

void mask_feed(struct mask *m, const void *data, size_t len, mask_emit_fn emit, void *ctx)
{
    const struct mask_set *s = m->s;
    const unsigned char *d = data;
    size_t i = 0;

    if (!len)
        return;
    m->data = d;
    m->chunk_start = m->pos;
    m->emit = emit;
    m->ctx = ctx;
    while (i < len) {
        if (m->u || !s->filter) {
            step_byte(m, d[i++]);
            continue;
        }
        /* At the root, nothing is pending: skip along the grid. */
        size_t g = i, st = s->step, back = st - 1;
        uint32_t h = 0;
        bool hit = false;
        if (s->q == 4) {
            for (; g + 4 <= len; g += st) {
                h = gram4(d + g, s->shift);
                if (s->filter[h >> 6] >> (h & 63) & 1) {
                    hit = true;
                    break;
                }
            }
        } else {
            for (; g + 2 <= len; g += st) {
                h = gram2(d + g);
                if (s->filter[h >> 6] >> (h & 63) & 1) {
                    hit = true;
                    break;
                }
            }
        }
        /*
         * No occurrence starts before g - step + 1: those bytes are final and
         * plain. After a hit, none starts before g - the largest offset of a
         * q-gram of its bucket in a pattern either.
         */
        if (hit && s->maxoff[h >> (s->bits - 16)] < back)
            back = s->maxoff[h >> (s->bits - 16)];
        size_t r = g >= i + back ? g - back : i;
        if (r > i) {
            m->pos = m->chunk_start + r;
            decide(m, m->pos);
            i = r;
        }
        size_t until = hit ? g + 1 : len;
        while (i < until) {
            if (!m->u) {
                /* at the root, bytes that start no pattern change nothing */
                size_t j = i;
                while (j < until && !s->root[d[j]])
                    j++;
                if (j > i) {
                    m->pos += j - i;
                    i = j;
                    decide(m, m->pos);
                    continue;
                }
            }
            step_byte(m, d[i++]);
        }
    }
    out_flush(m);
    /* Keep what is held: [done, pos). */
    size_t keep = (size_t)(m->pos - m->done);
    if (keep > m->hold_cap)
        abort(); /* the invariant above: never more than the longest pattern */
    if (m->done >= m->chunk_start) {
        memcpy(m->hold, d + (m->done - m->chunk_start), keep);
    } else {
        size_t old = (size_t)(m->chunk_start - m->done);
        memmove(m->hold, m->hold + (m->done - m->hold_base), old);
        memcpy(m->hold + old, d, len);
    }
    m->hold_len = keep;
    m->hold_base = m->done;
    m->data = NULL;
}

void mask_flush(struct mask *m, mask_emit_fn emit, void *ctx)
{
    m->data = NULL;
    m->chunk_start = m->pos;
    m->emit = emit;
    m->ctx = ctx;
    decide(m, m->pos);
    out_flush(m);
    m->hold_len = 0;
    m->hold_base = m->done = m->pos;
    m->u = 0;
    m->in_star = false;
    m->head = m->ncov = 0;
}
