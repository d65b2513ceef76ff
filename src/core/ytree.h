/*
 * ytree: a YAML document as a tree of nodes with source positions.
 *
 * Built from libyaml's event stream over a buffer in memory (no I/O). It
 * exists because the checker needs the line and column of every node, and
 * because aliases must be bounded: an alias node is shared, never copied, and
 * every node records its weight (how many nodes it stands for once aliases
 * are expanded). A tree heavier than limits->max_nodes is refused, so an
 * alias bomb ("billion laughs") costs nothing but an error message.
 *
 * Anchors are registered when their node is complete, so an alias can never
 * refer to a node that contains it: the tree is acyclic.
 */
#ifndef FLYWHEEL_CORE_YTREE_H
#define FLYWHEEL_CORE_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
    enum ynode_kind kind;
    struct pos pos;
    bool quoted; /* scalar written in quotes or as a block: always a string */
    bool tagged; /* scalar with an explicit tag such as !!str */
    char *str;   /* scalar value, NUL-terminated (may contain NULs: see slen) */
    size_t slen;
    struct ynode **items; /* SEQ: n items; MAP: 2n entries, key then value */
    size_t n, alloc;
    size_t weight; /* nodes this one stands for, aliases expanded */
};

struct ytree_limits {
    size_t max_depth;  /* nesting of collections */
    size_t max_scalar; /* bytes in one scalar */
    size_t max_nodes;  /* weight of the whole document */
};

struct ytree;

/*
 * Parses src (len bytes). On success returns 0 and sets *out; the root is
 * NULL for an empty document. On failure returns -1, appends errors to d and
 * sets *out to NULL. The caller frees the tree with ytree_free().
 */
int ytree_parse(const char *src, size_t len, const struct ytree_limits *lim, struct ytree **out,
                struct diag_list *d) __attribute__((warn_unused_result));
struct ynode *ytree_root(const struct ytree *t);
void ytree_free(struct ytree *t);

/* "a mapping", "a list", "a string", ... for messages. */
const char *ynode_kind_name(const struct ynode *n);
/* True for a plain scalar that YAML 1.1/1.2 core reads as null: ~, null, empty. */
bool ynode_is_null(const struct ynode *n);

#endif
