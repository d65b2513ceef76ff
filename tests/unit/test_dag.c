#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/dag.h"

/* A graph in the compressed form dag.h takes, built edge by edge. */
struct graph {
    size_t n, m;
    size_t *off, *to;
};

/* edges: pairs (i, j) meaning "i needs j", terminated by SIZE_MAX. Edges may come in any order. */
static void graph_build(struct graph *g, size_t n, const size_t *edges)
{
    size_t m = 0;
    while (edges[2 * m] != SIZE_MAX)
        m++;
    g->n = n;
    g->m = m;
    g->off = calloc(n + 1, sizeof(size_t));
    g->to = calloc(m + 1, sizeof(size_t));
    assert_non_null(g->off);
    assert_non_null(g->to);
    for (size_t e = 0; e < m; e++)
        g->off[edges[2 * e] + 1]++;
    for (size_t i = 0; i < n; i++)
        g->off[i + 1] += g->off[i];
    size_t *fill = calloc(n + 1, sizeof(size_t));
    assert_non_null(fill);
    for (size_t e = 0; e < m; e++) {
        size_t i = edges[2 * e];
        g->to[g->off[i] + fill[i]++] = edges[2 * e + 1];
    }
    free(fill);
}

static void graph_free(struct graph *g)
{
    free(g->off);
    free(g->to);
}

static bool has_edge(const struct graph *g, size_t i, size_t j)
{
    for (size_t e = g->off[i]; e < g->off[i + 1]; e++)
        if (g->to[e] == j)
            return true;
    return false;
}

/* order is a permutation of 0..n) with every node after all it needs. */
static void assert_topological(const struct graph *g, const size_t *order)
{
    size_t *where = malloc((g->n + 1) * sizeof(size_t));
    assert_non_null(where);
    for (size_t i = 0; i < g->n; i++)
        where[i] = SIZE_MAX;
    for (size_t k = 0; k < g->n; k++) {
        assert_true(order[k] < g->n);
        assert_true(where[order[k]] == SIZE_MAX); /* no node twice */
        where[order[k]] = k;
    }
    for (size_t i = 0; i < g->n; i++)
        for (size_t e = g->off[i]; e < g->off[i + 1]; e++)
            if (where[g->to[e]] >= where[i])
                fail_msg("node %zu comes before %zu, which it needs", i, g->to[e]);
    free(where);
}

/* The reference order: repeatedly take the lowest-indexed node whose needs are all placed. */
static void reference_order(const struct graph *g, size_t *order)
{
    bool *placed = calloc(g->n + 1, sizeof(bool));
    assert_non_null(placed);
    for (size_t k = 0; k < g->n; k++) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < g->n && pick == SIZE_MAX; i++) {
            if (placed[i])
                continue;
            bool ready = true;
            for (size_t e = g->off[i]; e < g->off[i + 1] && ready; e++)
                ready = placed[g->to[e]];
            if (ready)
                pick = i;
        }
        assert_true(pick != SIZE_MAX);
        placed[pick] = true;
        order[k] = pick;
    }
    free(placed);
}

/* path[0..len) is a cycle of g: distinct nodes, each needing the next, the last the first. */
static void assert_cycle(const struct graph *g, const size_t *path, size_t len)
{
    assert_true(len >= 1);
    assert_true(len <= g->n);
    for (size_t k = 0; k < len; k++) {
        assert_true(path[k] < g->n);
        for (size_t q = 0; q < k; q++)
            assert_true(path[q] != path[k]);
        size_t next = path[(k + 1) % len];
        if (!has_edge(g, path[k], next))
            fail_msg("cycle step %zu -> %zu is not an edge", path[k], next);
    }
}

#define END SIZE_MAX

static void expect_order(size_t n, const size_t *edges, const size_t *want)
{
    struct graph g;
    graph_build(&g, n, edges);
    size_t order[64], path[64];
    assert_int_equal(dag_toposort(g.n, g.off, g.to, order), 0);
    assert_memory_equal(order, want, n * sizeof(size_t));
    assert_int_equal(dag_find_cycle(g.n, g.off, g.to, path), 0);
    graph_free(&g);
}

static void test_empty_and_single(void **state)
{
    (void)state;
    size_t off[1] = {0}, order[1] = {99}, path[1] = {99};
    assert_int_equal(dag_toposort(0, off, NULL, order), 0);
    assert_int_equal(dag_find_cycle(0, off, NULL, path), 0);
    static const size_t none[] = {END};
    static const size_t zero[] = {0};
    expect_order(1, none, zero);
}

static void test_order(void **state)
{
    (void)state;
    /* Independent nodes: file order. */
    static const size_t e1[] = {END};
    static const size_t w1[] = {0, 1, 2, 3};
    expect_order(4, e1, w1);
    /* A chain written backwards: 0 needs 1 needs 2 needs 3. */
    static const size_t e2[] = {0, 1, 1, 2, 2, 3, END};
    static const size_t w2[] = {3, 2, 1, 0};
    expect_order(4, e2, w2);
    /* Tie-break by index among ready nodes, also for nodes made ready later:
     * 0 needs 3; 1 and 2 are free; 3 is free. Order: 1, 2, 3, 0. */
    static const size_t e3[] = {0, 3, END};
    static const size_t w3[] = {1, 2, 3, 0};
    expect_order(4, e3, w3);
    /* When 4 finishes, 0 and 2 become ready together: 0 first, though 2 was released
     * by an edge listed first. 1 needs 0. */
    static const size_t e4[] = {2, 4, 0, 4, 1, 0, END};
    static const size_t w4[] = {3, 4, 0, 1, 2};
    expect_order(5, e4, w4);
    /* A diamond, with a duplicate edge. */
    static const size_t e5[] = {3, 1, 3, 2, 1, 0, 2, 0, 3, 1, END};
    static const size_t w5[] = {0, 1, 2, 3};
    expect_order(4, e5, w5);
    /* A node waits for what it needs, whatever its index: 1 needs 6. */
    static const size_t e6[] = {1, 6, END};
    static const size_t w6[] = {0, 2, 3, 4, 5, 6, 1};
    expect_order(7, e6, w6);
    /* A chain at the end of the file: 0 needs 6 and 1 needs 0. */
    static const size_t e7[] = {0, 6, 1, 0, END};
    static const size_t w7[] = {2, 3, 4, 5, 6, 0, 1};
    expect_order(7, e7, w7);
    /* A low index made ready goes before higher ones that were ready earlier:
     * 0 needs 1; 2 and 3 are free. */
    static const size_t e8[] = {0, 1, END};
    static const size_t w8[] = {1, 0, 2, 3};
    expect_order(4, e8, w8);
}

static void expect_cycle(size_t n, const size_t *edges, size_t want_len)
{
    struct graph g;
    graph_build(&g, n, edges);
    size_t order[64], path[64];
    assert_int_equal(dag_toposort(g.n, g.off, g.to, order), -1);
    size_t len = dag_find_cycle(g.n, g.off, g.to, path);
    assert_int_equal(len, want_len);
    assert_cycle(&g, path, len);
    graph_free(&g);
}

static void test_cycles(void **state)
{
    (void)state;
    /* a self-loop */
    static const size_t e1[] = {0, 0, END};
    expect_cycle(1, e1, 1);
    static const size_t e1b[] = {0, 1, 2, 2, END};
    expect_cycle(3, e1b, 1);
    /* a 2-cycle */
    static const size_t e2[] = {0, 1, 1, 0, END};
    expect_cycle(2, e2, 2);
    /* a long cycle: i needs i+1, the last needs 0 */
    size_t e3[2 * 40 + 1];
    for (size_t i = 0; i < 40; i++) {
        e3[2 * i] = i;
        e3[2 * i + 1] = (i + 1) % 40;
    }
    e3[80] = END;
    expect_cycle(40, e3, 40);
    /* a tail leading into a cycle: the tail is not part of it */
    static const size_t e4[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 2, END};
    expect_cycle(5, e4, 3);
    /* a cycle reachable only from later nodes: 0..2 are acyclic, 5 -> 6 -> 7 -> 5
     * reached from 4 */
    static const size_t e5[] = {1, 0, 2, 1, 4, 5, 5, 6, 6, 7, 7, 5, 3, 2, END};
    expect_cycle(8, e5, 3);
    /* a cycle among nodes only later ones need: 3 <-> 4 */
    static const size_t e6[] = {0, 1, 2, 3, 3, 4, 4, 3, END};
    expect_cycle(5, e6, 2);
    /* two cycles: one is found, and it is a real one */
    static const size_t e7[] = {0, 1, 1, 0, 2, 3, 3, 4, 4, 2, END};
    struct graph g;
    graph_build(&g, 5, e7);
    size_t path[8];
    size_t len = dag_find_cycle(g.n, g.off, g.to, path);
    assert_true(len == 2 || len == 3);
    assert_cycle(&g, path, len);
    graph_free(&g);
    /* the DFS backs out of a finished branch before meeting the cycle */
    static const size_t e8[] = {0, 1, 0, 2, 1, 3, 2, 3, 2, 4, 4, 0, END};
    expect_cycle(5, e8, 3);
}

/* A simple xorshift, so that the "random" graphs are the same on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define BIG_N 2000

static void test_large_random_dag(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        /* Nodes ranked by a random permutation; a node needs only lower-ranked ones. */
        size_t *rank = malloc(BIG_N * sizeof(size_t));
        size_t *edges = malloc((BIG_N * 8 + 4) * 2 * sizeof(size_t));
        assert_non_null(rank);
        assert_non_null(edges);
        for (size_t i = 0; i < BIG_N; i++)
            rank[i] = i;
        for (size_t i = BIG_N - 1; i > 0; i--) {
            size_t j = rnd() % (i + 1), t = rank[i];
            rank[i] = rank[j];
            rank[j] = t;
        }
        size_t *byrank = malloc(BIG_N * sizeof(size_t));
        assert_non_null(byrank);
        for (size_t i = 0; i < BIG_N; i++)
            byrank[rank[i]] = i;
        size_t m = 0;
        for (size_t i = 0; i < BIG_N; i++) {
            if (!rank[i])
                continue;
            size_t k = rnd() % 8;
            for (size_t q = 0; q < k; q++) {
                edges[2 * m] = i;
                edges[2 * m + 1] = byrank[rnd() % rank[i]];
                m++;
            }
        }
        edges[2 * m] = END;
        struct graph g;
        graph_build(&g, BIG_N, edges);
        size_t *order = malloc(BIG_N * sizeof(size_t));
        size_t *want = malloc(BIG_N * sizeof(size_t));
        size_t *path = malloc(BIG_N * sizeof(size_t));
        assert_non_null(order);
        assert_non_null(want);
        assert_non_null(path);
        assert_int_equal(dag_toposort(g.n, g.off, g.to, order), 0);
        assert_topological(&g, order);
        reference_order(&g, want);
        assert_memory_equal(order, want, BIG_N * sizeof(size_t));
        assert_int_equal(dag_find_cycle(g.n, g.off, g.to, path), 0);
        graph_free(&g);

        /* One edge against the ranking makes a cycle; the cycle found must be real. */
        size_t a = byrank[rnd() % (BIG_N / 2)], b = byrank[BIG_N / 2 + rnd() % (BIG_N / 2)];
        edges[2 * m] = a; /* a (low rank) needs b (high rank) */
        edges[2 * m + 1] = b;
        edges[2 * m + 2] = b; /* and b needs a, so there is certainly a cycle */
        edges[2 * m + 3] = a;
        edges[2 * m + 4] = END;
        graph_build(&g, BIG_N, edges);
        assert_int_equal(dag_toposort(g.n, g.off, g.to, order), -1);
        size_t len = dag_find_cycle(g.n, g.off, g.to, path);
        assert_true(len >= 2);
        assert_cycle(&g, path, len);
        graph_free(&g);
        free(rank);
        free(byrank);
        free(edges);
        free(order);
        free(want);
        free(path);
    }
}

/* Deep graphs must not exhaust the C stack: both functions are iterative. */
static void test_long_chain(void **state)
{
    (void)state;
    size_t n = 200000;
    size_t *off = malloc((n + 1) * sizeof(size_t));
    size_t *to = malloc(n * sizeof(size_t));
    size_t *order = malloc(n * sizeof(size_t));
    assert_non_null(off);
    assert_non_null(to);
    assert_non_null(order);
    /* i needs i + 1: the DFS from 0 goes n deep */
    for (size_t i = 0; i < n; i++)
        off[i] = i;
    off[n] = n - 1; /* the last node needs nothing */
    for (size_t i = 0; i + 1 < n; i++)
        to[i] = i + 1;
    assert_int_equal(dag_find_cycle(n, off, to, order), 0);
    assert_int_equal(dag_toposort(n, off, to, order), 0);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(order[k], n - 1 - k);
    /* close the chain into one cycle of n nodes */
    off[n] = n;
    to[n - 1] = 0;
    assert_int_equal(dag_find_cycle(n, off, to, order), n);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(order[k], k);
    free(off);
    free(to);
    free(order);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_single), cmocka_unit_test(test_order),
        cmocka_unit_test(test_cycles),           cmocka_unit_test(test_large_random_dag),
        cmocka_unit_test(test_long_chain),
    };
    return cmocka_run_group_tests_name("dag", tests, NULL, NULL);
}
