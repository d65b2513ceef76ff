/*
 * ytree: a YAML document as a tree of nodes with source positions.
 *
 * Built from libyaml's event stream over a buffer in memory (no I/O). It
 * exists because the checker needs the line and column of every node, and
 * because aliases must be bounded: an alias node is shared, never copied, and
 * every node records its weight (how many nodes it stands for once aliases
 * are expanded) and its size (how many bytes of scalar text it stands for).
 * A tree heavier than limits->max_nodes, or larger than YTREE_MAX_BYTES, is
 * refused, so an alias bomb ("billion laughs") costs nothing but an error
 * message, and neither does a long string repeated through aliases, which
 * would otherwise make a caller that copies the strings it reads (the
 * pipeline checker does) copy gigabytes.
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
    bool quoted;      /* scalar written in quotes or as a block: always a string */
    bool tagged;      /* scalar with an explicit tag such as !!str */
    bool null_tagged; /* scalar tagged !!null: null whatever its text (implies tagged) */
    char *str;        /* scalar value, NUL-terminated (may contain NULs: see slen) */
    size_t slen;
    struct ynode **items; /* SEQ: n items; MAP: 2n entries, key then value */
    size_t n, alloc;
    size_t weight; /* nodes this one stands for, aliases expanded */
    size_t bytes;  /* bytes of scalar text it stands for, aliases expanded (saturating) */
};

struct ytree_limits {
    size_t max_depth;  /* nesting of collections */
    size_t max_scalar; /* bytes in one scalar */
    size_t max_nodes;  /* weight of the whole document */
};

/*
 * The size limit of every document: 16 MiB of scalar text, aliases expanded.
 * A constant rather than a field of ytree_limits, whose callers initialise
 * it by position; a file small enough to read can only reach it through
 * aliases.
 */
#define YTREE_MAX_BYTES ((size_t)16 << 20)

struct ytree;

/*
 * Parses src (len bytes). On success returns 0 and sets *out; the root is
 * NULL for an empty document. On failure returns -1, appends errors to d and
 * sets *out to NULL. The caller frees the tree with ytree_free().
 *
 * The size of the document is the sum of the lengths of its scalars (keys
 * included), each alias counting the size of its anchor's node every time it
 * appears. It is counted as the parse goes, so a document over YTREE_MAX_BYTES is
 * refused at the alias (or scalar) that takes it over the limit.
 */
int ytree_parse(const char *src, size_t len, const struct ytree_limits *lim, struct ytree **out,
                struct diag_list *d) __attribute__((warn_unused_result));
struct ynode *ytree_root(const struct ytree *t);
void ytree_free(struct ytree *t);

/* "a mapping", "a list", "a string", ... for messages. */
const char *ynode_kind_name(const struct ynode *n);
/* True for a plain scalar that YAML 1.1/1.2 core reads as null (~, null, empty),
 * and for any scalar tagged !!null. */
bool ynode_is_null(const struct ynode *n);

#endif
