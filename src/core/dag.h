/*
 * Directed acyclic graphs of jobs, in compressed form: node i needs the nodes
 * to[off[i]] .. to[off[i+1]-1]. Pure functions, linear in nodes + edges (the
 * topological order adds a log factor for its deterministic tie-break).
 */
#ifndef FLYWHEEL_CORE_DAG_H
#define FLYWHEEL_CORE_DAG_H

#include <stddef.h>

/*
 * Writes a topological order into order[0..n): every node after all it needs;
 * among nodes that are ready together, the lower index first (file order).
 * Returns 0, or -1 if the graph has a cycle (order is then partial).
 */
int dag_toposort(size_t n, const size_t *off, const size_t *to, size_t *order)
    __attribute__((warn_unused_result));

/*
 * Finds one cycle. Writes its nodes to path (room for n) so that path[k]
 * needs path[k+1] and the last needs path[0]; returns its length, or 0 when
 * the graph is acyclic. Each node is visited once.
 */
size_t dag_find_cycle(size_t n, const size_t *off, const size_t *to, size_t *path);

#endif
