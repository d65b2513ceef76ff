#include "core/refs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define HEADS "refs/heads/"
#define TAGS  "refs/tags/"

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static int ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ref *)a)->name, ((const struct ref *)b)->name);
}

/* Appends a line (without its newline) to err, shortened and with control
 * characters shown as '?', so that a bad input cannot garble the message. */
static void describe_line(struct buf *err, size_t lineno, const char *line, size_t len)
{
    buf_addf(err, "line %zu: '", lineno);
    for (size_t i = 0; i < len && i < 80; i++) {
        unsigned char c = (unsigned char)line[i];
        buf_addch(err, c < 0x20 || c == 0x7f ? '?' : c);
    }
    buf_adds(err, len > 80 ? "...'" : "'");
}

void refs_release(struct ref_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = l->alloc = 0;
}

int refs_parse(const char *text, size_t max, struct ref_list *out, struct buf *err)
{
    struct ref_list l = {0};
    const char *p = text;
    size_t lineno = 0;
    int rc = 0;

    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *line = p;
        p += len + (eol ? 1 : 0);
        lineno++;

        /* "SHA NAME": exactly one space, a name without blanks or
         * control characters (git allows none in a ref name). */
        const char *name = line + REFS_SHA_LEN + 1;
        size_t name_len = len > REFS_SHA_LEN + 1 ? len - REFS_SHA_LEN - 1 : 0;
        bool ok =
            len > REFS_SHA_LEN + 1 && line[REFS_SHA_LEN] == ' ' && is_lower_hex(line, REFS_SHA_LEN);
        for (size_t i = 0; ok && i < name_len; i++) {
            unsigned char c = (unsigned char)name[i];
            if (c <= ' ' || c == 0x7f)
                ok = false;
        }
        if (!ok) {
            buf_adds(err, "malformed ref ");
            describe_line(err, lineno, line, len);
            buf_adds(err,
                     ": expected a 40-digit lowercase hex object name, a space and a ref name");
            rc = -EINVAL;
            goto out;
        }

        char *n = xmemdupz(name, name_len);
        if ((!has_prefix(n, HEADS) || !refs_branch(n)) && (!has_prefix(n, TAGS) || !refs_tag(n))) {
            free(n); /* HEAD, refs/remotes/, refs/pull/, notes...: not ours */
            continue;
        }
        ALLOC_GROW(l.v, l.n + 1, l.alloc);
        l.v[l.n].name = n;
        memcpy(l.v[l.n].sha, line, REFS_SHA_LEN);
        l.v[l.n].sha[REFS_SHA_LEN] = '\0';
        l.n++;
    }

    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), ref_cmp);
    /* Unique names: a repeated identical line is harmless, the same ref
     * with two different objects is not. */
    size_t w = 0;
    for (size_t r = 0; r < l.n; r++) {
        if (w && !strcmp(l.v[w - 1].name, l.v[r].name)) {
            if (strcmp(l.v[w - 1].sha, l.v[r].sha)) {
                buf_addf(err, "ref '%s' is listed twice, with different objects (%s and %s)",
                         l.v[r].name, l.v[w - 1].sha, l.v[r].sha);
                rc = -EINVAL;
                l.n = w + (l.n - r); /* keep the remaining names owned for release */
                memmove(&l.v[w], &l.v[r], (l.n - w) * sizeof(*l.v));
                goto out;
            }
            free(l.v[r].name);
            continue;
        }
        l.v[w++] = l.v[r];
    }
    l.n = w;

    if (l.n > max) {
        buf_addf(err, "too many refs: %zu branches and tags, the limit is %zu", l.n, max);
        rc = -E2BIG;
        goto out;
    }

    refs_release(out);
    *out = l;
    return 0;
out:
    refs_release(&l);
    return rc;
}

const char *refs_get(const struct ref_list *l, const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid].name, name);
        if (!c)
            return l->v[mid].sha;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void push_event(struct ref_event **v, size_t *n, size_t *alloc, enum ref_change change,
                       const char *ref, const char *old, const char *new)
{
    ALLOC_GROW(*v, *n + 1, *alloc);
    struct ref_event *e = &(*v)[(*n)++];
    e->change = change;
    e->ref = xstrdup(ref);
    memcpy(e->old, old, strlen(old) + 1);
    memcpy(e->new, new, strlen(new) + 1);
}

void refs_diff(const struct ref_list *old, const struct ref_list *new, struct ref_event **out,
               size_t *n)
{
    struct ref_event *v = NULL;
    size_t nv = 0, alloc = 0, i = 0, j = 0;

    while (i < old->n || j < new->n) {
        int c = i == old->n ? 1 : j == new->n ? -1 : strcmp(old->v[i].name, new->v[j].name);
        if (c < 0) {
            push_event(&v, &nv, &alloc, REF_DELETED, old->v[i].name, old->v[i].sha, "");
            i++;
        } else if (c > 0) {
            push_event(&v, &nv, &alloc, REF_CREATED, new->v[j].name, "", new->v[j].sha);
            j++;
        } else {
            if (strcmp(old->v[i].sha, new->v[j].sha))
                push_event(&v, &nv, &alloc, REF_UPDATED, new->v[j].name, old->v[i].sha,
                           new->v[j].sha);
            i++;
            j++;
        }
    }
    *out = v;
    *n = nv;
}

void refs_events_free(struct ref_event *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].ref);
    free(v);
}

const char *refs_branch(const char *ref)
{
    if (!has_prefix(ref, HEADS) || !ref[strlen(HEADS)])
        return NULL;
    return ref + strlen(HEADS);
}

const char *refs_tag(const char *ref)
{
    if (!has_prefix(ref, TAGS) || !ref[strlen(TAGS)])
        return NULL;
    return ref + strlen(TAGS);
}

/*
 * git check-ref-format applied to "refs/heads/NAME" or "refs/tags/NAME",
 * plus what `git branch` adds: the name does not start with '-' and is not
 * "@" or "HEAD" (both would be read as the current branch, and git refuses
 * to create such a branch; a tag of that name is refused too, as ambiguous).
 */
int refs_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (!len || name[0] == '-' || name[0] == '/' || name[len - 1] == '/' || name[len - 1] == '.' ||
        !strcmp(name, "@") || !strcmp(name, "HEAD"))
        return 0;
    if (strstr(name, "..") || strstr(name, "@{") || strstr(name, "//"))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || strchr(" ~^:?*[\\", c))
            return 0;
    }
    /* Per component ("a/b.lock/c" is refused as git does, not only a
     * trailing ".lock"): no leading '.', no ".lock" ending. */
    for (const char *comp = name; *comp;) {
        size_t clen = strcspn(comp, "/");
        if (comp[0] == '.')
            return 0;
        if (clen >= 5 && !strncmp(comp + clen - 5, ".lock", 5))
            return 0;
        comp += clen;
        if (*comp == '/')
            comp++;
    }
    return 1;
}
