/*
 * refs: the references of a repository as a list, and what changed between
 * two lists: the pure part of turning `git fetch` into push events.
 */
#ifndef FLYWHEEL_CORE_REFS_H
#define FLYWHEEL_CORE_REFS_H

#include <stddef.h>

#include "util/buf.h"

#define REFS_SHA_LEN 40

struct ref {
    char *name;                 /* "refs/heads/main", "refs/tags/v1" */
    char sha[REFS_SHA_LEN + 1]; /* the object it points to */
};

struct ref_list {
    struct ref *v; /* sorted by name, unique */
    size_t n, alloc;
};

enum ref_change {
    REF_CREATED,
    REF_UPDATED, /* moved forward (or the caller could not tell) */
    REF_FORCED,  /* moved to a commit that does not contain the old one */
    REF_DELETED,
};

struct ref_event {
    enum ref_change change;
    char *ref;
    char old[REFS_SHA_LEN + 1], new[REFS_SHA_LEN + 1]; /* "" when absent */
};

/*
 * Parses lines "SHA NAME\n" (as printed by `git for-each-ref
 * --format='%(objectname) %(refname)'`), keeping refs/heads/ and refs/tags/
 * only, sorted. A malformed line is an error naming it. At most max refs.
 */
int refs_parse(const char *text, size_t max, struct ref_list *out, struct buf *err)
    __attribute__((warn_unused_result));
void refs_release(struct ref_list *l);
/* The sha of name, or NULL. */
const char *refs_get(const struct ref_list *l, const char *name);

/*
 * What changed from old to new, in name order: created, updated (REF_UPDATED;
 * the caller upgrades to REF_FORCED after asking git), deleted. The caller
 * frees the events with refs_events_free().
 */
void refs_diff(const struct ref_list *old, const struct ref_list *new, struct ref_event **out,
               size_t *n);
void refs_events_free(struct ref_event *v, size_t n);

/* "refs/heads/x" -> "x" (branch), "refs/tags/v1" -> "v1" (tag); NULL for others. */
const char *refs_branch(const char *ref);
const char *refs_tag(const char *ref);
/* A valid git ref name for a branch or tag (git check-ref-format rules). */
int refs_name_ok(const char *name);

#endif
