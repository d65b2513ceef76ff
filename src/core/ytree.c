#include "core/ytree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/xalloc.h"

struct anchor {
    char *name;
    struct ynode *node;
};

struct ytree {
    struct ynode *root;
    struct ynode **all; /* every node allocated, for freeing */
    size_t nall, allocall;
    struct anchor *anchors;
    size_t nanchors, allocanchors;
};

struct frame {
    struct ynode *node;
    char *anchor;
};

static struct ynode *new_node(struct ytree *t, enum ynode_kind kind, yaml_mark_t start,
                              yaml_mark_t end)
{
    struct ynode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->pos.line = (unsigned)start.line + 1;
    n->pos.col = (unsigned)start.column + 1;
    n->pos.len = 1;
    if (end.line == start.line && end.column > start.column)
        n->pos.len = (unsigned)(end.column - start.column);
    n->weight = 1;
    ALLOC_GROW(t->all, t->nall + 1, t->allocall);
    t->all[t->nall++] = n;
    return n;
}

static struct pos mark_pos(yaml_mark_t m)
{
    struct pos p = {(unsigned)m.line + 1, (unsigned)m.column + 1, 1};
    return p;
}

/*
 * The position of byte off of src, for reader errors. libyaml reports an
 * invalid trailing octet at that octet: trailing moves the position back to
 * the first byte of the broken sequence.
 */
static struct pos offset_pos(const char *src, size_t len, size_t off, bool trailing)
{
    if (off > len)
        off = len;
    for (size_t k = 1; trailing && k <= 3 && k <= off; k++) {
        if ((unsigned char)src[off - k] >= 0xc0) {
            off -= k;
            break;
        }
    }
    struct pos p = {1, 1, 1};
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            p.line++;
            p.col = 1;
        } else if (((unsigned char)src[i] & 0xc0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static void add_anchor(struct ytree *t, const char *name, struct ynode *n)
{
    for (size_t i = 0; i < t->nanchors; i++) {
        if (!strcmp(t->anchors[i].name, name)) {
            t->anchors[i].node = n; /* redefinition: later aliases see the new node */
            return;
        }
    }
    ALLOC_GROW(t->anchors, t->nanchors + 1, t->allocanchors);
    t->anchors[t->nanchors].name = xstrdup(name);
    t->anchors[t->nanchors].node = n;
    t->nanchors++;
}

static struct ynode *find_anchor(struct ytree *t, const char *name)
{
    for (size_t i = t->nanchors; i-- > 0;)
        if (!strcmp(t->anchors[i].name, name))
            return t->anchors[i].node;
    return NULL;
}

static size_t sat_add(size_t a, size_t b)
{
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* Attaches child to the collection on top of the stack (or makes it the root). */
static void attach(struct ytree *t, struct frame *stack, size_t depth, struct ynode *child)
{
    if (!depth) {
        t->root = child;
        return;
    }
    struct ynode *parent = stack[depth - 1].node;
    ALLOC_GROW(parent->items, parent->n + 1, parent->alloc);
    parent->items[parent->n++] = child;
}

int ytree_parse(const char *src, size_t len, const struct ytree_limits *lim, struct ytree **out,
                struct diag_list *d)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct ytree *t = xcalloc(1, sizeof(*t));
    struct frame *stack = NULL;
    size_t depth = 0, stack_alloc = 0;
    int ndocs = 0;
    int rc = -1;
    bool done = false;
    size_t total_bytes = 0; /* the document's size so far, aliases expanded */
    const size_t max_bytes = YTREE_MAX_BYTES;

    *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        diag_add(d, DIAG_ERROR, (struct pos){0, 0, 0}, "cannot initialise the YAML parser");
        free(t);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_READER_ERROR) {
                /* Bad encoding or a control character: libyaml gives a byte offset,
                 * not a mark. */
                const char *problem = parser.problem ? parser.problem : "unreadable input";
                diag_add(d, DIAG_ERROR,
                         offset_pos(src, len, parser.problem_offset,
                                    strstr(problem, "trailing") != NULL),
                         "invalid YAML: %s%s", problem,
                         strstr(problem, "UTF-8") ? " (the file must be UTF-8 text)" : "");
                goto out;
            }
            struct pos p = mark_pos(parser.problem_mark);
            if (parser.context && parser.problem_mark.index >= len &&
                parser.context_mark.index < len)
                /* Something left open at the end of the file (a quote, a bracket):
                 * libyaml finds out past the last line; where it opened is what
                 * the reader needs. */
                diag_add(d, DIAG_ERROR, mark_pos(parser.context_mark),
                         "invalid YAML: %s %s (opened here, still open at the end of the file)",
                         parser.problem, parser.context);
            else if (parser.context)
                diag_add(d, DIAG_ERROR, p, "invalid YAML: %s %s", parser.problem, parser.context);
            else
                diag_add(d, DIAG_ERROR, p, "invalid YAML: %s",
                         parser.problem ? parser.problem : "parse error");
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark),
                         "a second YAML document: the pipeline file holds exactly one");
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT: {
            struct ynode *target = find_anchor(t, (const char *)ev.data.alias.anchor);
            if (!target) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark),
                         "unknown anchor '%s' (an alias must follow its anchor's node)",
                         (const char *)ev.data.alias.anchor);
                yaml_event_delete(&ev);
                goto out;
            }
            total_bytes = sat_add(total_bytes, target->bytes);
            if (total_bytes > max_bytes) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark),
                         "the document expands to more than %zu bytes through aliases: '*%s' "
                         "here stands for %zu bytes",
                         max_bytes, (const char *)ev.data.alias.anchor, target->bytes);
                yaml_event_delete(&ev);
                goto out;
            }
            attach(t, stack, depth, target);
            break;
        }
        case YAML_SCALAR_EVENT: {
            if (ev.data.scalar.length > lim->max_scalar) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark),
                         "a string of %zu bytes; the limit is %zu", ev.data.scalar.length,
                         lim->max_scalar);
                yaml_event_delete(&ev);
                goto out;
            }
            total_bytes = sat_add(total_bytes, ev.data.scalar.length);
            if (total_bytes > max_bytes) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark),
                         "the document holds more than %zu bytes of text", max_bytes);
                yaml_event_delete(&ev);
                goto out;
            }
            struct ynode *n = new_node(t, YNODE_SCALAR, ev.start_mark, ev.end_mark);
            n->str = xmemdupz(ev.data.scalar.value, ev.data.scalar.length);
            n->slen = ev.data.scalar.length;
            n->bytes = n->slen;
            n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                        ev.data.scalar.style != YAML_ANY_SCALAR_STYLE;
            n->tagged = ev.data.scalar.tag != NULL && !ev.data.scalar.plain_implicit;
            n->null_tagged = n->tagged && !strcmp((const char *)ev.data.scalar.tag, YAML_NULL_TAG);
            if (ev.data.scalar.anchor)
                add_anchor(t, (const char *)ev.data.scalar.anchor, n);
            attach(t, stack, depth, n);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            if (depth >= lim->max_depth) {
                diag_add(d, DIAG_ERROR, mark_pos(ev.start_mark), "nesting deeper than %zu levels",
                         lim->max_depth);
                yaml_event_delete(&ev);
                goto out;
            }
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            struct ynode *n =
                new_node(t, seq ? YNODE_SEQ : YNODE_MAP, ev.start_mark, ev.start_mark);
            const yaml_char_t *anchor =
                seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
            ALLOC_GROW(stack, depth + 1, stack_alloc);
            stack[depth].node = n;
            stack[depth].anchor = anchor ? xstrdup((const char *)anchor) : NULL;
            depth++;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            struct frame f = stack[--depth];
            struct ynode *n = f.node;
            if (n->kind == YNODE_MAP)
                n->n /= 2; /* entries were attached as key, value, key, value... */
            size_t total = n->kind == YNODE_MAP ? n->n * 2 : n->n;
            size_t w = 1, bytes = 0;
            for (size_t i = 0; i < total; i++) {
                w = sat_add(w, n->items[i]->weight);
                bytes = sat_add(bytes, n->items[i]->bytes);
            }
            n->weight = w;
            n->bytes = bytes;
            if (w > lim->max_nodes) {
                diag_add(d, DIAG_ERROR, n->pos,
                         "the document expands to more than %zu nodes (through aliases?)",
                         lim->max_nodes);
                free(f.anchor);
                yaml_event_delete(&ev);
                goto out;
            }
            if (f.anchor) {
                add_anchor(t, f.anchor, n);
                free(f.anchor);
            }
            attach(t, stack, depth, n);
            break;
        }
        case YAML_NO_EVENT:
            done = true;
            break;
        }
        yaml_event_delete(&ev);
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    while (depth > 0)
        free(stack[--depth].anchor);
    free(stack);
    yaml_parser_delete(&parser);
    ytree_free(t);
    return rc;
}

struct ynode *ytree_root(const struct ytree *t)
{
    return t->root;
}

void ytree_free(struct ytree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nall; i++) {
        free(t->all[i]->str);
        free(t->all[i]->items);
        free(t->all[i]);
    }
    free(t->all);
    for (size_t i = 0; i < t->nanchors; i++)
        free(t->anchors[i].name);
    free(t->anchors);
    free(t);
}

const char *ynode_kind_name(const struct ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->kind) {
    case YNODE_MAP:
        return "a mapping";
    case YNODE_SEQ:
        return "a list";
    case YNODE_SCALAR:
        break;
    }
    if (ynode_is_null(n))
        return "null";
    return "a scalar";
}

bool ynode_is_null(const struct ynode *n)
{
    if (n && n->kind == YNODE_SCALAR && n->null_tagged)
        return true;
    if (!n || n->kind != YNODE_SCALAR || n->quoted || n->tagged)
        return false;
    return n->slen == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}
