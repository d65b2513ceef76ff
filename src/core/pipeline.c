/*
 * The pipeline file's parser and checker. See pipeline.h for the contract and
 * docs/pipeline.md for the language.
 *
 * It works in three passes over the YAML tree (core/ytree.h):
 *   1. shape: every mapping's keys against the keys it may hold, every value
 *      against its type, each error reported where it is and the pass goes
 *      on, so that one run reports every problem;
 *   2. expansion: matrices into one job per combination;
 *   3. references: needs, release.from and waves resolved by name, cycles
 *      found, jobs sorted.
 * Pass 3 runs only when pass 1 found the jobs' names sound, so that it does
 * not pile consequential errors on top of the real one.
 */
#include "core/pipeline.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dag.h"
#include "core/duration.h"
#include "core/glob.h"
#include "core/jsonptr.h"
#include "core/secret.h"
#include "core/tz.h"
#include "core/ytree.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define NAME_MAX_LEN                 100
#define MAX_RETRIES                  10
#define DEFAULT_TIMEOUT_MS           (3600LL * 1000)
#define DEFAULT_RUN_CHECK_TIMEOUT_MS (60LL * 1000)
#define DEFAULT_HTTP_TIMEOUT_MS      (10LL * 1000)
#define DEFAULT_INTERVAL_MS          (10LL * 1000)
#define MIN_INTERVAL_MS              100
#define DEFAULT_DEPLOY_TIMEOUT_MS    (30LL * 60 * 1000)
#define DEFAULT_ERROR_LIMIT          4
#define MAX_LIMIT                    1000 /* failure_limit and error_limit */
#define MAX_COUNT                    100000

struct entry {
    struct ynode *k, *v;
};

struct entries {
    struct entry *v;
    size_t n, alloc;
};

struct axis {
    char *name;
    struct pos pos;
    struct pl_strs values;
};

/* One combination of matrix values: keys (axis names, or extra include keys) and values. */
struct combo {
    struct pl_kvs kv;
    bool excluded;
};

struct jobdef {
    struct pl_job job; /* the parsed fields; name == base */
    bool has_matrix;
    bool matrix_bad; /* errors reported: not expanded, so as not to pile up more */
    struct pos matrix_pos;
    struct axis *axes;
    size_t naxes;
    struct combo *include, *exclude;
    size_t ninclude, nexclude;
    size_t first, count; /* expanded jobs: pipeline.jobs[first .. first+count) */
};

struct nodes {
    struct ynode **v;
    size_t n, alloc;
};

struct ctx {
    const char *file;
    struct diag_list *d;
    struct pl_limits lim;
    unsigned flags;
    struct pipeline *p;
    struct jobdef *defs;
    size_t ndefs;
    struct pos jobs_pos;
    bool jobs_ok;            /* names sound: references can be resolved */
    struct nodes merge_errs; /* merged values already reported as not mappings */
};

void pipeline_limits_default(struct pl_limits *lim)
{
    lim->max_bytes = 1 << 20;
    lim->max_jobs = 10000;
    lim->max_depth = 32;
    lim->max_string = 64 << 10;
    lim->max_nodes = 1000000;
    lim->max_expanded = 16 << 20;
}

const char *pl_no_data_name(enum pl_no_data n)
{
    switch (n) {
    case PL_NODATA_FAIL:
        return "fail";
    case PL_NODATA_PASS:
        return "pass";
    default:
        return "inconclusive";
    }
}

const char *pl_event_name(enum pl_event e)
{
    switch (e) {
    case PL_EV_MAIN:
        return "main";
    case PL_EV_CHANGE:
        return "change";
    case PL_EV_TAG:
        return "tag";
    default:
        return "always";
    }
}

/* ---- diagnostics helpers ---------------------------------------------- */

static void error_at(struct ctx *c, struct pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void error_at(struct ctx *c, struct pos pos, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    diag_add(c->d, DIAG_ERROR, pos, "%s", b.data);
    buf_release(&b);
}

static void warn_at(struct ctx *c, struct pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *c, struct pos pos, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    diag_add(c->d, DIAG_WARNING, pos, "%s", b.data);
    buf_release(&b);
}

/* What a node is, for "found ..." in messages: its text for a short scalar. */
static void describe(const struct ynode *n, struct buf *out)
{
    if (n && n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
        if (n->slen <= 40 && !memchr(n->str, '\n', n->slen))
            buf_addf(out, "'%s'", n->str);
        else
            buf_adds(out, "a long string");
        return;
    }
    buf_adds(out, ynode_kind_name(n));
}

static void type_error(struct ctx *c, const struct ynode *n, const char *where, const char *key,
                       const char *expected)
{
    struct buf b = BUF_INIT;
    describe(n, &b);
    error_at(c, n->pos, "%s%s'%s' must be %s, found %s", where, *where ? ": " : "", key, expected,
             b.data);
    buf_release(&b);
}

/* Like type_error, for a thing described in words ("job 'a'") rather than a key. */
static void type_error_what(struct ctx *c, const struct ynode *n, const char *what,
                            const char *expected)
{
    struct buf b = BUF_INIT;
    describe(n, &b);
    error_at(c, n->pos, "%s must be %s, found %s", what, expected, b.data);
    buf_release(&b);
}

/*
 * A scalar of the wrong type. When it is a quoted scalar whose text would be
 * right without the quotes ("2" for an integer), says so: the quotes are the
 * mistake, and "must be an integer, found '2'" would puzzle.
 */
static void scalar_type_error(struct ctx *c, const struct ynode *n, const char *where,
                              const char *key, const char *expected, bool right_unquoted)
{
    if (n->kind == YNODE_SCALAR && n->quoted && right_unquoted)
        error_at(c, n->pos,
                 "%s%s'%s' must be %s, found the string '%s' (in quotes): write it without "
                 "quotes",
                 where, *where ? ": " : "", key, expected, n->str);
    else
        type_error(c, n, where, key, expected);
}

/* ---- mappings ---------------------------------------------------------- */

static void add_entry(struct entries *e, struct ynode *k, struct ynode *v)
{
    ALLOC_GROW(e->v, e->n + 1, e->alloc);
    e->v[e->n].k = k;
    e->v[e->n].v = v;
    e->n++;
}

static bool is_merge_key(const struct ynode *k)
{
    return k->kind == YNODE_SCALAR && !k->quoted && !strcmp(k->str, "<<");
}

static void nodes_push(struct nodes *l, struct ynode *n)
{
    ALLOC_GROW(l->v, l->n + 1, l->alloc);
    l->v[l->n++] = n;
}

/*
 * Appends to srcs the mappings that the merge key k's value v names. A value
 * that is not a mapping or a list of mappings is reported at the '<<' key (v
 * may be an alias, whose node is elsewhere), once per key: a template's
 * mistake is reported once, however many mappings merge it.
 */
static void merge_sources(struct ctx *c, struct ynode *k, struct ynode *v, struct nodes *srcs)
{
    struct ynode *one[1] = {v};
    struct ynode **list = v->kind == YNODE_SEQ ? v->items : one;
    size_t n = v->kind == YNODE_SEQ ? v->n : 1;
    struct ynode *bad = NULL;
    for (size_t j = 0; j < n; j++) {
        if (list[j]->kind == YNODE_MAP)
            nodes_push(srcs, list[j]);
        else if (!bad)
            bad = list[j];
    }
    if (!bad)
        return;
    for (size_t q = 0; q < c->merge_errs.n; q++)
        if (c->merge_errs.v[q] == k)
            return;
    nodes_push(&c->merge_errs, k);
    struct buf b = BUF_INIT;
    describe(bad, &b);
    if (v->kind == YNODE_SEQ)
        error_at(c, k->pos, "'<<' merges mappings, found %s in its list", b.data);
    else
        error_at(c, k->pos, "'<<' merges a mapping (an alias such as *defaults), found %s", b.data);
    buf_release(&b);
}

/*
 * Flattens mapping m into out: merge keys ("<<: *base" or "<<: [*a, *b]")
 * applied, also those inside merged mappings, explicit keys winning over
 * merged ones and earlier merge sources over later ones (a depth-first walk
 * with the first key found winning); duplicate explicit keys and non-scalar
 * keys reported. what names the keys in the duplicate message ("job"), or is
 * NULL for "key". The walk is iterative and costs at most m's weight, which
 * the YAML tree bounds.
 */
static void flatten_what(struct ctx *c, struct ynode *m, struct entries *out, const char *what)
{
    struct strmap seen = STRMAP_INIT;
    struct nodes stack = {0}, srcs = {0};

    for (size_t i = 0; i < m->n; i++) {
        struct ynode *k = m->items[2 * i], *v = m->items[2 * i + 1];
        if (k->kind != YNODE_SCALAR) {
            error_at(c, k->pos, "a key must be a string, found %s", ynode_kind_name(k));
            continue;
        }
        if (is_merge_key(k)) {
            merge_sources(c, k, v, &srcs);
            continue;
        }
        size_t prev;
        if (strmap_get(&seen, k->str, &prev)) {
            if (what)
                error_at(c, k->pos, "%s '%s' is defined twice (first at line %u)", what, k->str,
                         out->v[prev].k->pos.line);
            else
                error_at(c, k->pos, "duplicate key '%s' (first at line %u)", k->str,
                         out->v[prev].k->pos.line);
            continue;
        }
        strmap_put(&seen, k->str, out->n);
        add_entry(out, k, v);
    }
    /* the stack holds the sources; the one to apply next is on top. */
    for (size_t i = srcs.n; i-- > 0;)
        nodes_push(&stack, srcs.v[i]);
    while (stack.n) {
        struct ynode *src = stack.v[--stack.n];
        srcs.n = 0;
        for (size_t i = 0; i < src->n; i++) {
            struct ynode *k = src->items[2 * i], *v = src->items[2 * i + 1];
            if (k->kind != YNODE_SCALAR)
                continue;
            if (is_merge_key(k)) {
                merge_sources(c, k, v, &srcs);
                continue;
            }
            size_t prev;
            if (strmap_get(&seen, k->str, &prev))
                continue;
            strmap_put(&seen, k->str, out->n);
            add_entry(out, k, v);
        }
        for (size_t i = srcs.n; i-- > 0;)
            nodes_push(&stack, srcs.v[i]);
    }
    free(stack.v);
    free(srcs.v);
    strmap_release(&seen);
}

static void flatten(struct ctx *c, struct ynode *m, struct entries *out)
{
    flatten_what(c, m, out, NULL);
}

static struct ynode *lookup(const struct entries *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].k->str, key))
            return e->v[i].v;
    return NULL;
}

static struct ynode *lookup_key(const struct entries *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].k->str, key))
            return e->v[i].k;
    return NULL;
}

static void list_keys(const char *const *allowed, struct buf *b)
{
    for (size_t i = 0; allowed[i]; i++)
        buf_addf(b, "%s%s", i ? ", " : "", allowed[i]);
}

static void check_keys_hidden(struct ctx *c, const struct entries *e, const char *const *allowed,
                              const char *where, bool allow_hidden);

/* Reports every key of e not in allowed (NULL-terminated). Keys starting with '.' are
 * allowed where allow_hidden says so: they hold templates for anchors, as in GitLab CI. */
static void check_keys(struct ctx *c, const struct entries *e, const char *const *allowed,
                       const char *where)
{
    check_keys_hidden(c, e, allowed, where, false);
}

static void check_keys_hidden(struct ctx *c, const struct entries *e, const char *const *allowed,
                              const char *where, bool allow_hidden)
{
    size_t na = 0;
    while (allowed[na])
        na++;
    for (size_t i = 0; i < e->n; i++) {
        const char *k = e->v[i].k->str;
        bool ok = allow_hidden && k[0] == '.';
        for (size_t j = 0; j < na && !ok; j++)
            ok = !strcmp(k, allowed[j]);
        if (ok)
            continue;
        if (!diag_would_keep(c->d, e->v[i].k->pos)) {
            error_at(c, e->v[i].k->pos, "unknown key"); /* counted, not shown */
            continue;
        }
        const char *s = diag_suggest(k, allowed, na);
        if (s) {
            error_at(c, e->v[i].k->pos, "unknown key '%s' in %s (did you mean '%s'?)", k, where, s);
        } else {
            struct buf b = BUF_INIT;
            list_keys(allowed, &b);
            error_at(c, e->v[i].k->pos, "unknown key '%s' in %s; expected one of: %s", k, where,
                     b.data);
            buf_release(&b);
        }
    }
}

/*
 * True when a key of e that is not in allowed would be suggested as key: a
 * required key that is missing was misspelt, and the unknown-key error says
 * so already ("did you mean 'run'?"), so "has no 'run'" would only repeat it.
 */
static bool misspelt(const struct entries *e, const char *const *allowed, const char *key)
{
    size_t na = 0;
    while (allowed[na])
        na++;
    for (size_t i = 0; i < e->n; i++) {
        const char *k = e->v[i].k->str;
        bool known = false;
        for (size_t j = 0; j < na && !known; j++)
            known = !strcmp(k, allowed[j]);
        const char *s = known ? NULL : diag_suggest(k, allowed, na);
        if (s && !strcmp(s, key))
            return true;
    }
    return false;
}

/* ---- scalars ----------------------------------------------------------- */

static bool is_scalar(const struct ynode *n)
{
    return n->kind == YNODE_SCALAR && !ynode_is_null(n);
}

/* A string value: any non-null scalar. Returns 0 and a copy in *out. */
static int get_string(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      char **out)
{
    if (!is_scalar(n)) {
        type_error(c, n, where, key, "a string");
        return -1;
    }
    if (memchr(n->str, '\0', n->slen)) {
        error_at(c, n->pos, "%s: '%s' contains a NUL character", where, key);
        return -1;
    }
    free(*out);
    *out = xstrdup(n->str);
    return 0;
}

/* 1 or 0 for a scalar whose text is a boolean (quoted or not), else -1. */
static int bool_word(const struct ynode *n)
{
    if (n->kind != YNODE_SCALAR)
        return -1;
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return 0;
    return -1;
}

static int get_bool(struct ctx *c, struct ynode *n, const char *where, const char *key, bool *out)
{
    int v = bool_word(n);
    if (v >= 0 && !n->quoted) {
        *out = v;
        return 0;
    }
    scalar_type_error(c, n, where, key, "true or false", v >= 0);
    return -1;
}

static int get_int(struct ctx *c, struct ynode *n, const char *where, const char *key, long min,
                   long max, int *out)
{
    bool ok = false;
    long v = 0;
    if (n->kind == YNODE_SCALAR && n->slen > 0 && n->slen < 12) {
        char *end;
        errno = 0;
        v = strtol(n->str, &end, 10);
        ok = !errno && *end == '\0' && v >= min && v <= max &&
             (isdigit((unsigned char)n->str[0]) || n->str[0] == '-');
    }
    if (ok && !n->quoted) {
        *out = (int)v;
        return 0;
    }
    struct buf exp = BUF_INIT;
    buf_addf(&exp, "an integer from %ld to %ld", min, max);
    scalar_type_error(c, n, where, key, exp.data, ok);
    buf_release(&exp);
    return -1;
}

/*
 * A decimal number: an optional sign, digits with an optional fraction (or a
 * fraction alone), an optional exponent. strtod() takes more: hexadecimal
 * ("0x10"), "inf", "nan", which a threshold must not be.
 */
static bool is_decimal(const char *s)
{
    size_t digits = 0;
    if (*s == '+' || *s == '-')
        s++;
    for (; isdigit((unsigned char)*s); s++)
        digits++;
    if (*s == '.')
        for (s++; isdigit((unsigned char)*s); s++)
            digits++;
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static int get_number(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      double *out)
{
    bool ok = false;
    double v = 0;
    if (n->kind == YNODE_SCALAR && n->slen > 0 && n->slen < 64 && is_decimal(n->str)) {
        char *end;
        errno = 0;
        v = strtod(n->str, &end);
        ok = !errno && *end == '\0' && isfinite(v);
    }
    if (ok && !n->quoted) {
        *out = v;
        return 0;
    }
    scalar_type_error(c, n, where, key, "a decimal number", ok);
    return -1;
}

static int get_duration(struct ctx *c, struct ynode *n, const char *where, const char *key,
                        int64_t *out)
{
    if (!is_scalar(n)) {
        type_error(c, n, where, key, "a duration such as 90s, 10m or 1h30m");
        return -1;
    }
    struct buf err = BUF_INIT;
    if (duration_parse(n->str, out, &err)) {
        error_at(c, n->pos, "%s%s'%s': %s", where, *where ? ": " : "", key, err.data);
        buf_release(&err);
        return -1;
    }
    return 0;
}

static void strs_add(struct pl_strs *l, const char *s, struct pos pos)
{
    ALLOC_GROW(l->v, l->n + 1, l->alloc);
    l->v[l->n].s = xstrdup(s);
    l->v[l->n].pos = pos;
    l->n++;
}

static void strs_release(struct pl_strs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].s);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void kvs_add(struct pl_kvs *l, const char *k, const char *v, struct pos pos)
{
    ALLOC_GROW(l->v, l->n + 1, l->alloc);
    l->v[l->n].key = xstrdup(k);
    l->v[l->n].value = xstrdup(v);
    l->v[l->n].pos = pos;
    l->n++;
}

static void kvs_release(struct pl_kvs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static const char *kvs_get(const struct pl_kvs *l, const char *k)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].key, k))
            return l->v[i].value;
    return NULL;
}

/* A string, or a list of strings (an empty list is allowed when allow_empty). */
static int get_strlist(struct ctx *c, struct ynode *n, const char *where, const char *key,
                       bool allow_empty, struct pl_strs *out)
{
    if (is_scalar(n)) {
        strs_add(out, n->str, n->pos);
        return 0;
    }
    if (n->kind != YNODE_SEQ) {
        type_error(c, n, where, key, "a string or a list of strings");
        return -1;
    }
    if (!n->n && !allow_empty) {
        error_at(c, n->pos, "%s: '%s' is an empty list", where, key);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n->n; i++) {
        struct ynode *it = n->items[i];
        if (!is_scalar(it)) {
            struct buf b = BUF_INIT;
            describe(it, &b);
            error_at(c, it->pos, "%s%severy item of '%s' must be a string, found %s", where,
                     *where ? ": " : "", key, b.data);
            buf_release(&b);
            rc = -1;
            continue;
        }
        strs_add(out, it->str, it->pos);
    }
    return rc;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > NAME_MAX_LEN || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
            return false;
    }
    return true;
}

#define ENV_NAME_MAX_LEN 256

/* The characters of a variable name; its length is checked apart, for its own message. */
static bool valid_env_name(const char *s)
{
    if (!*s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

/* A job, target or environment name; where ("environment 'p'") may be "". */
static int check_name(struct ctx *c, const struct ynode *k, const char *where, const char *what)
{
    if (valid_name(k->str))
        return 0;
    if (!k->slen)
        error_at(c, k->pos, "%s%san empty %s name", where, *where ? ": " : "", what);
    else
        error_at(c, k->pos,
                 "%s%s'%s' is not a valid %s name: use letters, digits, '_', '-' and '.', "
                 "starting with a letter or digit, at most %d characters",
                 where, *where ? ": " : "", k->str, what, NAME_MAX_LEN);
    return -1;
}

/* An environment variable's name (a variable, a secret, a matrix axis); where says
 * whose ("job 'a'", "env"). */
static int check_env_name(struct ctx *c, const struct ynode *k, const char *where, const char *what)
{
    if (!valid_env_name(k->str)) {
        error_at(c, k->pos,
                 "%s: '%s' is not a valid %s name: use letters, digits and '_', not starting "
                 "with a digit",
                 where, k->str, what);
        return -1;
    }
    if (k->slen > ENV_NAME_MAX_LEN) {
        error_at(c, k->pos, "%s: %s name '%.20s...' has %zu characters; the limit is %d", where,
                 what, k->str, k->slen, ENV_NAME_MAX_LEN);
        return -1;
    }
    if (!strncmp(k->str, "FLYWHEEL_", 9)) {
        error_at(c, k->pos,
                 "%s: %s '%s' is reserved: names starting with FLYWHEEL_ are set by flywheel",
                 where, what, k->str);
        return -1;
    }
    return 0;
}

/* A secret's name: core/secret.h's rules (upper case: as the API and the CLI take them). */
static int check_secret_name(struct ctx *c, const struct pl_str *name, const char *where)
{
    struct buf err = BUF_INIT;
    int rc = secret_name_check(name->s, &err);
    if (rc)
        error_at(c, name->pos, "%s: %s", where, err.data);
    buf_release(&err);
    return rc;
}

/* A mapping of variable names to scalar values. */
static void get_vars(struct ctx *c, struct ynode *n, const char *where, const char *key,
                     struct pl_kvs *out)
{
    if (ynode_is_null(n))
        return;
    if (n->kind != YNODE_MAP) {
        type_error(c, n, where, key, "a mapping of names to values");
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    for (size_t i = 0; i < e.n; i++) {
        struct ynode *k = e.v[i].k, *v = e.v[i].v;
        if (check_env_name(c, k, *where ? where : key, "variable"))
            continue;
        if (v->kind != YNODE_SCALAR) {
            struct buf w = BUF_INIT;
            buf_addf(&w, "%s%s%s", where, *where ? ": " : "", key);
            type_error(c, v, w.data, k->str, "a string, a number or a boolean");
            buf_release(&w);
            continue;
        }
        if (memchr(v->str, '\0', v->slen)) {
            error_at(c, v->pos, "'%s' contains a NUL character", k->str);
            continue;
        }
        kvs_add(out, k->str, ynode_is_null(v) ? "" : v->str, k->pos);
    }
    free(e.v);
}

/*
 * A reference to a job in needs or release.from: a name under jobs:. One
 * combination of a matrix ("build[gcc]") is not a name: the matrix job's name
 * stands for all its combinations.
 */
static int check_job_ref(struct ctx *c, const struct pl_str *ref, const char *where,
                         const char *key)
{
    if (valid_name(ref->s))
        return 0;
    const char *br = strchr(ref->s, '[');
    char *base = br && br > ref->s ? xmemdupz(ref->s, (size_t)(br - ref->s)) : NULL;
    if (!*ref->s)
        error_at(c, ref->pos, "%s: '%s' has an empty job name", where, key);
    else if (base && valid_name(base))
        error_at(c, ref->pos,
                 "%s: '%s': '%s' is not a valid job name: a single matrix combination cannot be "
                 "named; name the matrix job ('%s') to take all its combinations",
                 where, key, ref->s, base);
    else
        error_at(c, ref->pos,
                 "%s: '%s': '%s' is not a valid job name: use letters, digits, '_', '-' and "
                 "'.', starting with a letter or digit, at most %d characters",
                 where, key, ref->s, NAME_MAX_LEN);
    free(base);
    return -1;
}

static void get_names(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      struct pl_strs *out, bool env_names)
{
    struct pl_strs tmp = {0};
    if (get_strlist(c, n, where, key, true, &tmp) == 0) {
        for (size_t i = 0; i < tmp.n; i++) {
            if (env_names ? check_secret_name(c, &tmp.v[i], where)
                          : check_job_ref(c, &tmp.v[i], where, key))
                continue;
            bool dup = false;
            for (size_t j = 0; j < out->n && !dup; j++)
                dup = !strcmp(out->v[j].s, tmp.v[i].s);
            if (dup) {
                error_at(c, tmp.v[i].pos, "%s: '%s' lists '%s' twice", where, key, tmp.v[i].s);
                continue;
            }
            strs_add(out, tmp.v[i].s, tmp.v[i].pos);
        }
    }
    strs_release(&tmp);
}

/* Paths inside the workspace: relative, no '..', no empty. Globs allowed, and spaces
 * (file names have them; branch and tag globs may not). */
static void get_paths(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      struct pl_strs *out)
{
    struct pl_strs tmp = {0};
    if (get_strlist(c, n, where, key, true, &tmp) == 0) {
        for (size_t i = 0; i < tmp.n; i++) {
            const char *s = tmp.v[i].s;
            struct buf err = BUF_INIT;
            bool bad = false;
            if (!*s) {
                error_at(c, tmp.v[i].pos, "%s: '%s' has an empty path", where, key);
                bad = true;
            } else if (s[0] == '/') {
                error_at(c, tmp.v[i].pos,
                         "%s: '%s' path '%s' is absolute; paths are relative to the workspace",
                         where, key, s);
                bad = true;
            } else {
                for (const char *p = s; *p && !bad;) {
                    const char *e = strchr(p, '/');
                    size_t l = e ? (size_t)(e - p) : strlen(p);
                    if (l == 2 && p[0] == '.' && p[1] == '.') {
                        error_at(c, tmp.v[i].pos, "%s: '%s' path '%s' leaves the workspace ('..')",
                                 where, key, s);
                        bad = true;
                    }
                    p += l;
                    if (*p == '/')
                        p++;
                }
                if (!bad && glob_check_path(s, &err)) {
                    error_at(c, tmp.v[i].pos, "%s: '%s': %s", where, key, err.data);
                    bad = true;
                }
            }
            buf_release(&err);
            if (!bad)
                strs_add(out, s, tmp.v[i].pos);
        }
    }
    strs_release(&tmp);
}

static void get_globs(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      struct pl_strs *out)
{
    struct pl_strs tmp = {0};
    if (get_strlist(c, n, where, key, false, &tmp) == 0) {
        for (size_t i = 0; i < tmp.n; i++) {
            struct buf err = BUF_INIT;
            if (glob_check(tmp.v[i].s, &err))
                error_at(c, tmp.v[i].pos, "%s: bad glob in '%s': %s", where, key, err.data);
            else
                strs_add(out, tmp.v[i].s, tmp.v[i].pos);
            buf_release(&err);
        }
    }
    strs_release(&tmp);
}

/* ---- when --------------------------------------------------------------- */

static const char *const event_words[] = {"main", "change", "tag", "always", NULL};

static int event_word(struct ctx *c, struct ynode *n, const char *where, unsigned *events)
{
    if (!is_scalar(n)) {
        type_error(c, n, where, "when", "main, change, tag or always");
        return -1;
    }
    if (!strcmp(n->str, "main"))
        *events |= PL_EV_MAIN;
    else if (!strcmp(n->str, "change"))
        *events |= PL_EV_CHANGE;
    else if (!strcmp(n->str, "tag"))
        *events |= PL_EV_TAG;
    else if (!strcmp(n->str, "always"))
        *events |= PL_EV_ALL;
    else {
        const char *s = diag_suggest(n->str, event_words, 4);
        if (s)
            error_at(c, n->pos, "%s: unknown 'when' value '%s' (did you mean '%s'?)", where, n->str,
                     s);
        else
            error_at(c, n->pos,
                     "%s: unknown 'when' value '%s'; expected main, change, tag or always "
                     "(branch globs go under 'when: { branches: [...] }')",
                     where, n->str);
        return -1;
    }
    return 0;
}

static const char *const when_keys[] = {"events", "branches", "tags", NULL};

/* Can a job with these branch filters run for the branch called name? */
static bool branches_match(const struct pl_strs *branches, const char *name)
{
    if (!branches->n)
        return true;
    for (size_t i = 0; i < branches->n; i++)
        if (glob_match(branches->v[i].s, name))
            return true;
    return false;
}

static void get_when(struct ctx *c, struct ynode *n, const char *where, struct pl_when *w)
{
    w->events = 0;
    if (is_scalar(n)) {
        if (event_word(c, n, where, &w->events))
            w->events = PL_EV_ALL;
        return;
    }
    if (n->kind == YNODE_SEQ) {
        if (!n->n)
            error_at(c, n->pos, "%s: 'when' is an empty list; the job would never run", where);
        for (size_t i = 0; i < n->n; i++)
            (void)event_word(c, n->items[i], where, &w->events);
        if (!w->events)
            w->events = PL_EV_ALL;
        return;
    }
    if (n->kind != YNODE_MAP) {
        type_error(c, n, where, "when", "main, change, tag, always, a list of them, or a mapping");
        w->events = PL_EV_ALL;
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    check_keys(c, &e, when_keys, "'when'");
    struct ynode *ev = lookup(&e, "events"), *br = lookup(&e, "branches"), *tg = lookup(&e, "tags");
    if (ev) {
        struct ynode *items[1] = {ev};
        struct ynode **list = ev->kind == YNODE_SEQ ? ev->items : items;
        size_t nl = ev->kind == YNODE_SEQ ? ev->n : 1;
        if (!nl)
            error_at(c, ev->pos, "%s: 'when.events' is an empty list; the job would never run",
                     where);
        for (size_t i = 0; i < nl; i++)
            (void)event_word(c, list[i], where, &w->events);
    } else {
        w->events = (br ? PL_EV_MAIN | PL_EV_CHANGE : 0) | (tg ? PL_EV_TAG : 0);
    }
    if (br)
        get_globs(c, br, where, "when.branches", &w->branches);
    if (tg)
        get_globs(c, tg, where, "when.tags", &w->tags);
    if (!w->events)
        w->events = PL_EV_ALL;
    /* Filters that the events make pointless: 'events' was written with them. */
    if (ev && tg && !(w->events & PL_EV_TAG))
        warn_at(c, lookup_key(&e, "tags")->pos,
                "%s: 'when.tags' never applies: 'when.events' has no tag runs (add tag to the "
                "events, or remove the tags)",
                where);
    if (ev && br && !(w->events & (PL_EV_MAIN | PL_EV_CHANGE)))
        warn_at(c, lookup_key(&e, "branches")->pos,
                "%s: 'when.branches' never applies: 'when.events' has no main or change runs "
                "(branch filters apply to those)",
                where);
    else if (ev && br && w->branches.n && (w->events & PL_EV_MAIN) && !(w->events & PL_EV_CHANGE) &&
             !branches_match(&w->branches, c->p->main_branch))
        warn_at(c, lookup_key(&e, "branches")->pos,
                "%s: 'when.branches' does not match the main branch '%s', so the job never runs "
                "on main runs",
                where, c->p->main_branch);
    free(e.v);
}

/* ---- jobs --------------------------------------------------------------- */

static const char *const job_keys[] = {
    "run",     "needs", "env",       "when",    "timeout",  "retries", "matrix",        "artifacts",
    "reports", "cache", "isolation", "network", "checkout", "secrets", "allow_failure", NULL};

static const char *const cache_keys[] = {"inputs", NULL};

static void combo_release(struct combo *cb)
{
    kvs_release(&cb->kv);
}

/* Returns -1 when it reported an error. */
static int get_combos(struct ctx *c, struct ynode *n, const char *where, const char *key,
                      struct combo **out, size_t *nout)
{
    size_t before = c->d->nerrors;
    if (n->kind != YNODE_SEQ) {
        type_error(c, n, where, key, "a list of mappings");
        return -1;
    }
    *out = xcalloc(n->n + 1, sizeof(**out));
    for (size_t i = 0; i < n->n; i++) {
        struct ynode *it = n->items[i];
        if (it->kind != YNODE_MAP || !it->n) {
            type_error(c, it, where, key, "a list of mappings of axis names to values");
            continue;
        }
        struct combo *cb = &(*out)[(*nout)++];
        get_vars(c, it, where, key, &cb->kv);
    }
    return c->d->nerrors == before ? 0 : -1;
}

static void get_matrix(struct ctx *c, struct jobdef *jd, struct ynode *key, struct ynode *n,
                       const char *where)
{
    size_t before = c->d->nerrors;
    bool any_axis = false;
    jd->has_matrix = true;
    jd->matrix_pos = key->pos;
    if (n->kind != YNODE_MAP) {
        type_error(c, n, where, "matrix", "a mapping of axes to lists of values");
        jd->matrix_bad = true;
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    jd->axes = xcalloc(e.n + 1, sizeof(*jd->axes));
    for (size_t i = 0; i < e.n; i++) {
        struct ynode *k = e.v[i].k, *v = e.v[i].v;
        if (!strcmp(k->str, "include")) {
            (void)get_combos(c, v, where, "matrix.include", &jd->include, &jd->ninclude);
            continue;
        }
        if (!strcmp(k->str, "exclude")) {
            (void)get_combos(c, v, where, "matrix.exclude", &jd->exclude, &jd->nexclude);
            continue;
        }
        any_axis = true;
        if (check_env_name(c, k, where, "matrix axis"))
            continue;
        struct axis *ax = &jd->axes[jd->naxes];
        if (v->kind != YNODE_SEQ) {
            type_error(c, v, where, k->str, "a list of values (matrix axis)");
            continue;
        }
        if (!v->n) {
            error_at(c, v->pos, "%s: matrix axis '%s' has no values", where, k->str);
            continue;
        }
        for (size_t j = 0; j < v->n; j++) {
            struct ynode *it = v->items[j];
            if (it->kind != YNODE_SCALAR || ynode_is_null(it)) {
                type_error(c, it, where, k->str, "a list of strings or numbers (matrix axis)");
                continue;
            }
            for (size_t q = 0; q < ax->values.n; q++) {
                if (!strcmp(ax->values.v[q].s, it->str))
                    error_at(c, it->pos, "%s: matrix axis '%s' lists '%s' twice", where, k->str,
                             it->str);
            }
            strs_add(&ax->values, it->str, it->pos);
        }
        ax->name = xstrdup(k->str);
        ax->pos = k->pos;
        jd->naxes++;
    }
    if (!any_axis && !jd->ninclude)
        error_at(c, n->pos, "%s: 'matrix' has no axes", where);
    /* Exclude entries may only name axes. */
    for (size_t i = 0; i < jd->nexclude; i++) {
        for (size_t k = 0; k < jd->exclude[i].kv.n; k++) {
            bool found = false;
            for (size_t a = 0; a < jd->naxes && !found; a++)
                found = !strcmp(jd->axes[a].name, jd->exclude[i].kv.v[k].key);
            if (!found)
                error_at(c, jd->exclude[i].kv.v[k].pos,
                         "%s: matrix.exclude names '%s', which is not an axis", where,
                         jd->exclude[i].kv.v[k].key);
        }
    }
    jd->matrix_bad = c->d->nerrors != before;
    free(e.v);
}

static void parse_job(struct ctx *c, struct jobdef *jd, struct ynode *k, struct ynode *v)
{
    struct pl_job *j = &jd->job;
    struct buf where = BUF_INIT;
    buf_addf(&where, "job '%s'", k->str);

    j->name = xstrdup(k->str);
    j->base = xstrdup(k->str);
    j->pos = k->pos;
    j->timeout_ms = DEFAULT_TIMEOUT_MS;
    j->checkout = true;
    j->when.events = PL_EV_ALL;

    if (v->kind != YNODE_MAP) {
        if (is_scalar(v))
            error_at(c, v->pos,
                     "%s must be a mapping with at least 'run'; to run one command "
                     "write 'run: %s'",
                     where.data, v->slen <= 40 ? v->str : "...");
        else
            type_error_what(c, v, where.data, "a mapping with at least 'run'");
        buf_release(&where);
        return;
    }
    struct entries e = {0};
    flatten(c, v, &e);
    check_keys(c, &e, job_keys, where.data);

    struct ynode *n;
    if ((n = lookup(&e, "run")))
        (void)get_strlist(c, n, where.data, "run", false, &j->run);
    else if (!misspelt(&e, job_keys, "run"))
        error_at(c, k->pos, "%s has no 'run': every job needs a command", where.data);
    if ((n = lookup(&e, "needs")))
        get_names(c, n, where.data, "needs", &j->needs, false);
    if ((n = lookup(&e, "env")))
        get_vars(c, n, where.data, "env", &j->env);
    if ((n = lookup(&e, "when")))
        get_when(c, n, where.data, &j->when);
    if ((n = lookup(&e, "timeout"))) {
        if (get_duration(c, n, where.data, "timeout", &j->timeout_ms) == 0 && !j->timeout_ms)
            error_at(c, n->pos, "%s: 'timeout' must be longer than 0s", where.data);
    }
    if ((n = lookup(&e, "retries")))
        (void)get_int(c, n, where.data, "retries", 0, MAX_RETRIES, &j->retries);
    if ((n = lookup(&e, "matrix")))
        get_matrix(c, jd, lookup_key(&e, "matrix"), n, where.data);
    if ((n = lookup(&e, "artifacts")))
        get_paths(c, n, where.data, "artifacts", &j->artifacts);
    if ((n = lookup(&e, "reports")))
        get_paths(c, n, where.data, "reports", &j->reports);
    if ((n = lookup(&e, "cache"))) {
        if (n->kind != YNODE_MAP) {
            type_error(c, n, where.data, "cache", "a mapping with 'inputs'");
        } else {
            struct entries ce = {0};
            flatten(c, n, &ce);
            struct buf w2 = BUF_INIT;
            buf_addf(&w2, "'cache' of %s", where.data);
            check_keys(c, &ce, cache_keys, w2.data);
            struct ynode *in = lookup(&ce, "inputs");
            if (in)
                get_paths(c, in, where.data, "cache.inputs", &j->cache_inputs);
            else if (!misspelt(&ce, cache_keys, "inputs"))
                error_at(c, lookup_key(&e, "cache")->pos,
                         "%s: 'cache' needs 'inputs' (the files whose content keys it)",
                         where.data);
            if (in && !j->cache_inputs.n && in->kind == YNODE_SEQ && !in->n)
                error_at(c, in->pos, "%s: 'cache.inputs' is an empty list", where.data);
            buf_release(&w2);
            free(ce.v);
        }
    }
    if ((n = lookup(&e, "isolation"))) {
        if (is_scalar(n) && !strcmp(n->str, "none"))
            j->isolation = PL_ISO_NONE;
        else if (is_scalar(n) && !strcmp(n->str, "sandbox"))
            j->isolation = PL_ISO_SANDBOX;
        else
            type_error(c, n, where.data, "isolation", "none or sandbox");
    }
    if ((n = lookup(&e, "network")))
        (void)get_bool(c, n, where.data, "network", &j->network);
    if ((n = lookup(&e, "checkout")))
        (void)get_bool(c, n, where.data, "checkout", &j->checkout);
    if ((n = lookup(&e, "secrets")))
        get_names(c, n, where.data, "secrets", &j->secrets, true);
    if ((n = lookup(&e, "allow_failure")))
        (void)get_bool(c, n, where.data, "allow_failure", &j->allow_failure);

    if (j->network && j->isolation != PL_ISO_SANDBOX)
        warn_at(c, lookup_key(&e, "network")->pos,
                "%s: 'network' only matters with 'isolation: sandbox'; without it the job "
                "has the host's network",
                where.data);
    free(e.v);
    buf_release(&where);
}

static void job_release(struct pl_job *j)
{
    free(j->name);
    free(j->base);
    strs_release(&j->run);
    strs_release(&j->needs);
    free(j->need_idx);
    kvs_release(&j->env);
    kvs_release(&j->matrix);
    strs_release(&j->when.branches);
    strs_release(&j->when.tags);
    strs_release(&j->artifacts);
    strs_release(&j->reports);
    strs_release(&j->cache_inputs);
    strs_release(&j->secrets);
}

static void strs_copy(struct pl_strs *dst, const struct pl_strs *src)
{
    for (size_t i = 0; i < src->n; i++)
        strs_add(dst, src->v[i].s, src->v[i].pos);
}

static void kvs_copy(struct pl_kvs *dst, const struct pl_kvs *src)
{
    for (size_t i = 0; i < src->n; i++)
        kvs_add(dst, src->v[i].key, src->v[i].value, src->v[i].pos);
}

static void job_copy(struct pl_job *dst, const struct pl_job *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = xstrdup(src->name);
    dst->base = xstrdup(src->base);
    dst->pos = src->pos;
    strs_copy(&dst->run, &src->run);
    strs_copy(&dst->needs, &src->needs);
    kvs_copy(&dst->env, &src->env);
    dst->when.events = src->when.events;
    strs_copy(&dst->when.branches, &src->when.branches);
    strs_copy(&dst->when.tags, &src->when.tags);
    dst->timeout_ms = src->timeout_ms;
    dst->retries = src->retries;
    strs_copy(&dst->artifacts, &src->artifacts);
    strs_copy(&dst->reports, &src->reports);
    strs_copy(&dst->cache_inputs, &src->cache_inputs);
    strs_copy(&dst->secrets, &src->secrets);
    dst->isolation = src->isolation;
    dst->network = src->network;
    dst->checkout = src->checkout;
    dst->allow_failure = src->allow_failure;
}

/* Does combination cb match every key of pattern pat? */
static bool combo_matches(const struct pl_kvs *cb, const struct pl_kvs *pat)
{
    for (size_t i = 0; i < pat->n; i++) {
        const char *v = kvs_get(cb, pat->v[i].key);
        if (!v || strcmp(v, pat->v[i].value))
            return false;
    }
    return true;
}

static size_t strs_bytes(const struct pl_strs *l)
{
    size_t b = 0;
    for (size_t i = 0; i < l->n; i++)
        b = xadd(b, strlen(l->v[i].s) + 1);
    return b;
}

static size_t kvs_bytes(const struct pl_kvs *l)
{
    size_t b = 0;
    for (size_t i = 0; i < l->n; i++)
        b = xadd(b, strlen(l->v[i].key) + strlen(l->v[i].value) + 2);
    return b;
}

/* The bytes of text in job j: what one more copy of it costs. */
static size_t job_bytes(const struct pl_job *j)
{
    size_t b = strlen(j->name) + strlen(j->base) + 2;
    const struct pl_strs *lists[] = {&j->run,       &j->needs,   &j->when.branches, &j->when.tags,
                                     &j->artifacts, &j->reports, &j->cache_inputs,  &j->secrets};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        b = xadd(b, strs_bytes(lists[i]));
    return xadd(b, kvs_bytes(&j->env));
}

/*
 * What a combination whose values hold kv_bytes bytes adds to the expanded
 * pipeline: a copy of the job, and its values three times (the job's matrix,
 * its env and its name).
 */
static double combo_cost(size_t job, double kv_bytes)
{
    return (double)job + 3 * kv_bytes;
}

static void matrix_text_error(struct ctx *c, struct jobdef *jd, size_t left)
{
    if (left == c->lim.max_expanded)
        error_at(c, jd->matrix_pos,
                 "job '%s': the matrix expands to more than %zu bytes of text, the limit for "
                 "the expanded pipeline (each combination is a copy of the job)",
                 jd->job.base, left);
    else
        error_at(c, jd->matrix_pos,
                 "job '%s': the matrix expands to more than the %zu bytes of text that the jobs "
                 "before it leave of the limit of %zu for the expanded pipeline (each "
                 "combination is a copy of the job)",
                 jd->job.base, left, c->lim.max_expanded);
}

/*
 * Expands jd's matrix into combos; returns their number, or SIZE_MAX (after
 * reporting why) when the pipeline would have more than max jobs with the
 * `others` it already has, or when the combinations would hold more than
 * *text_left bytes of text (which is decreased by what they hold).
 *
 * include works as in GitHub Actions: an entry is added to every combination
 * of the axes (after exclude) whose values it does not change, its other
 * keys set in them (overwriting what an earlier entry set, never an axis
 * value), so that an entry without axis keys extends every combination and
 * one that only repeats a combination's values changes nothing; an entry
 * that fits no combination becomes one of its own, with exactly its keys.
 */
static size_t expand_matrix(struct ctx *c, struct jobdef *jd, struct combo **out, size_t others,
                            size_t max, size_t *text_left)
{
    size_t left = max > others ? max - others : 0;
    size_t total = jd->naxes ? 1 : 0;
    for (size_t a = 0; a < jd->naxes; a++) {
        if (__builtin_mul_overflow(total, jd->axes[a].values.n, &total) || total > left) {
            total = SIZE_MAX;
            break;
        }
    }
    if (total == SIZE_MAX || total + jd->ninclude > left) {
        /* Compute the size for the message without overflowing. */
        double t = jd->naxes ? 1 : 0;
        for (size_t a = 0; a < jd->naxes; a++)
            t *= (double)jd->axes[a].values.n;
        t += (double)jd->ninclude;
        struct buf b = BUF_INIT;
        if (t < 1e15)
            buf_addf(&b, "%.0f", t);
        else
            buf_adds(&b, "more than 10^15");
        if (t > (double)max || !others)
            error_at(c, jd->matrix_pos, "job '%s': the matrix expands to %s jobs; the limit is %zu",
                     jd->job.base, b.data, max);
        else
            error_at(c, jd->matrix_pos,
                     "job '%s': the matrix expands to %s jobs, which with the %zu jobs before it "
                     "makes %.0f; the limit is %zu",
                     jd->job.base, b.data, others, t + (double)others, max);
        buf_release(&b);
        return SIZE_MAX;
    }
    /* What the combinations of the axes would hold, before making them (and before
     * exclude: many axes of one value each cost much even if excluded): each value
     * of an axis is in total / (its number of values) of them. */
    size_t jb = job_bytes(&jd->job);
    double cost = 0;
    for (size_t a = 0; a < jd->naxes; a++) {
        const struct axis *ax = &jd->axes[a];
        double per = (double)total / (double)ax->values.n;
        for (size_t q = 0; q < ax->values.n; q++)
            cost += 3 * per * (double)(strlen(ax->name) + strlen(ax->values.v[q].s) + 2);
    }
    cost += (double)total * combo_cost(jb, 0);
    if (cost > (double)*text_left) {
        matrix_text_error(c, jd, *text_left);
        return SIZE_MAX;
    }
    struct combo *v = xcalloc(total + jd->ninclude + 1, sizeof(*v));
    size_t n = 0;
    size_t *digit = xcalloc(jd->naxes + 1, sizeof(size_t));
    for (size_t i = 0; i < total; i++) {
        size_t rest = i;
        /* The last axis varies fastest, as in GitHub Actions. */
        for (size_t a = jd->naxes; a-- > 0;) {
            digit[a] = rest % jd->axes[a].values.n;
            rest /= jd->axes[a].values.n;
        }
        for (size_t a = 0; a < jd->naxes; a++)
            kvs_add(&v[n].kv, jd->axes[a].name, jd->axes[a].values.v[digit[a]].s, jd->axes[a].pos);
        for (size_t x = 0; x < jd->nexclude; x++)
            if (jd->exclude[x].kv.n && combo_matches(&v[n].kv, &jd->exclude[x].kv))
                v[n].excluded = true;
        if (v[n].excluded) {
            combo_release(&v[n]);
            v[n].excluded = false; /* the slot is reused by the next combination */
        } else {
            n++;
        }
    }
    free(digit);
    cost = 0; /* what the combinations left by exclude hold */
    for (size_t i = 0; i < n; i++)
        cost += combo_cost(jb, (double)kvs_bytes(&v[i].kv));

    /* Each include entry split into its axis keys and its other keys. */
    struct pl_kvs *inc_axes = xcalloc(jd->ninclude + 1, sizeof(*inc_axes));
    struct pl_kvs *inc_extra = xcalloc(jd->ninclude + 1, sizeof(*inc_extra));
    bool *fits = xcalloc(jd->ninclude + 1, sizeof(bool));
    for (size_t x = 0; x < jd->ninclude; x++) {
        const struct pl_kvs *inc = &jd->include[x].kv;
        for (size_t k = 0; k < inc->n; k++) {
            bool is_axis = false;
            for (size_t a = 0; a < jd->naxes && !is_axis; a++)
                is_axis = !strcmp(jd->axes[a].name, inc->v[k].key);
            kvs_add(is_axis ? &inc_axes[x] : &inc_extra[x], inc->v[k].key, inc->v[k].value,
                    inc->v[k].pos);
        }
    }
    /* Combination by combination, every entry in order: a map of the combination's
     * keys keeps setting one a linear search (entries may add thousands). */
    size_t norig = n;
    bool over = false;
    for (size_t i = 0; i < norig && !over; i++) {
        struct strmap keys = STRMAP_INIT;
        for (size_t k = 0; k < v[i].kv.n; k++)
            strmap_put(&keys, v[i].kv.v[k].key, k);
        for (size_t x = 0; x < jd->ninclude && !over; x++) {
            if (!combo_matches(&v[i].kv, &inc_axes[x]))
                continue;
            fits[x] = true;
            for (size_t k = 0; k < inc_extra[x].n; k++) {
                const struct pl_kv *e = &inc_extra[x].v[k];
                size_t at;
                if (strmap_get(&keys, e->key, &at)) {
                    free(v[i].kv.v[at].value);
                    v[i].kv.v[at].value = xstrdup(e->value);
                    v[i].kv.v[at].pos = e->pos;
                    cost += 3.0 * (double)(strlen(e->value) + 1);
                } else {
                    kvs_add(&v[i].kv, e->key, e->value, e->pos);
                    strmap_put(&keys, v[i].kv.v[v[i].kv.n - 1].key, v[i].kv.n - 1);
                    cost += 3.0 * (double)(strlen(e->key) + strlen(e->value) + 2);
                }
            }
            over = cost > (double)*text_left;
        }
        strmap_release(&keys);
    }
    for (size_t x = 0; x < jd->ninclude && !over; x++) {
        if (fits[x])
            continue;
        kvs_copy(&v[n++].kv, &jd->include[x].kv);
        cost += combo_cost(jb, (double)kvs_bytes(&jd->include[x].kv));
        over = cost > (double)*text_left;
    }
    for (size_t x = 0; x < jd->ninclude; x++) {
        kvs_release(&inc_axes[x]);
        kvs_release(&inc_extra[x]);
    }
    free(inc_axes);
    free(inc_extra);
    free(fits);
    if (over) {
        matrix_text_error(c, jd, *text_left);
        for (size_t i = 0; i < n; i++)
            combo_release(&v[i]);
        free(v);
        return SIZE_MAX;
    }
    *text_left -= (size_t)cost;
    *out = v;
    return n;
}

/* Expands every job definition into p->jobs. */
static void expand_jobs(struct ctx *c)
{
    struct pipeline *p = c->p;
    size_t cap = 0;
    size_t text_left = c->lim.max_expanded;
    for (size_t i = 0; i < c->ndefs; i++) {
        struct jobdef *jd = &c->defs[i];
        jd->first = p->njobs;
        if (!jd->has_matrix || jd->matrix_bad) {
            ALLOC_GROW(p->jobs, p->njobs + 1, cap);
            job_copy(&p->jobs[p->njobs++], &jd->job);
            jd->count = 1;
            /* No check here: a job without a matrix holds text that the YAML
             * tree's own limit bounds. What it holds is still spent. */
            size_t jb = job_bytes(&jd->job);
            text_left = jb < text_left ? text_left - jb : 0;
            continue;
        }
        struct combo *combos = NULL;
        size_t n = expand_matrix(c, jd, &combos, p->njobs, c->lim.max_jobs, &text_left);
        if (n == SIZE_MAX) {
            c->jobs_ok = false;
            continue;
        }
        if (!n)
            error_at(c, jd->matrix_pos, "job '%s': the matrix excludes every combination",
                     jd->job.base);
        /* The job's own env names, by index: a copy keeps them at the same place. */
        struct strmap own = STRMAP_INIT;
        for (size_t q = 0; q < jd->job.env.n; q++)
            strmap_put(&own, jd->job.env.v[q].key, q);
        for (size_t k = 0; k < n; k++) {
            ALLOC_GROW(p->jobs, p->njobs + 1, cap);
            struct pl_job *j = &p->jobs[p->njobs++];
            job_copy(j, &jd->job);
            struct buf name = BUF_INIT;
            buf_addf(&name, "%s[", jd->job.base);
            for (size_t q = 0; q < combos[k].kv.n; q++) {
                const struct pl_kv *m = &combos[k].kv.v[q];
                size_t at;
                buf_addf(&name, "%s%s", q ? "," : "", m->value);
                kvs_add(&j->matrix, m->key, m->value, m->pos);
                if (strmap_get(&own, m->key, &at)) {
                    /* the matrix value wins over the job's own, in its place */
                    free(j->env.v[at].value);
                    j->env.v[at].value = xstrdup(m->value);
                    j->env.v[at].pos = m->pos;
                } else {
                    kvs_add(&j->env, m->key, m->value, m->pos);
                }
            }
            buf_addch(&name, ']');
            free(j->name);
            j->name = buf_detach(&name, NULL);
            combo_release(&combos[k]);
        }
        strmap_release(&own);
        free(combos);
        jd->count = n;
    }
    if (p->njobs > c->lim.max_jobs) {
        error_at(c, c->jobs_pos,
                 "the pipeline has %zu jobs after matrix expansion; the limit is %zu", p->njobs,
                 c->lim.max_jobs);
        c->jobs_ok = false;
    }
}

/* ---- references --------------------------------------------------------- */

struct names {
    struct strmap exact; /* expanded name -> job index */
    struct strmap base;  /* base name -> def index */
    const char **base_list;
};

static void names_build(struct ctx *c, struct names *nm)
{
    memset(nm, 0, sizeof(*nm));
    nm->base_list = xcalloc(c->ndefs + 1, sizeof(char *));
    for (size_t i = 0; i < c->p->njobs; i++) {
        if (strmap_put(&nm->exact, c->p->jobs[i].name, i))
            error_at(c, c->p->jobs[i].pos, "two jobs are named '%s' after matrix expansion",
                     c->p->jobs[i].name);
    }
    for (size_t i = 0; i < c->ndefs; i++) {
        strmap_put(&nm->base, c->defs[i].job.base, i);
        nm->base_list[i] = c->defs[i].job.base;
    }
}

static void names_release(struct names *nm)
{
    strmap_release(&nm->exact);
    strmap_release(&nm->base);
    free(nm->base_list);
}

/*
 * Resolves a job reference (a name under jobs:, for a matrix job all its
 * combinations) to job indexes appended to *idx. Reports an unknown name with a suggestion,
 * never self (the referring job's base name, or NULL): a job needing itself
 * is an error of its own.
 */
static int resolve_job(struct ctx *c, struct names *nm, const struct pl_str *ref, const char *self,
                       const char *where, const char *key, size_t **idx, size_t *n, size_t *alloc)
{
    size_t v;
    if (strmap_get(&nm->base, ref->s, &v)) {
        struct jobdef *jd = &c->defs[v];
        for (size_t k = 0; k < jd->count; k++) {
            ALLOC_GROW(*idx, *n + 1, *alloc);
            (*idx)[(*n)++] = jd->first + k;
        }
        return 0;
    }
    const char *s = NULL;
    if (diag_would_keep(c->d, ref->pos)) {
        const char **cand = xcalloc(c->ndefs + 1, sizeof(*cand));
        size_t nc = 0;
        for (size_t i = 0; i < c->ndefs; i++)
            if (!self || strcmp(nm->base_list[i], self))
                cand[nc++] = nm->base_list[i];
        s = diag_suggest(ref->s, cand, nc);
        free(cand);
    }
    if (s)
        error_at(c, ref->pos, "%s: '%s' names unknown job '%s' (did you mean '%s'?)", where, key,
                 ref->s, s);
    else
        error_at(c, ref->pos, "%s: '%s' names unknown job '%s'", where, key, ref->s);
    return -1;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void events_words(unsigned ev, struct buf *out)
{
    if (ev == PL_EV_ALL) {
        buf_adds(out, "every run");
        return;
    }
    bool first = true;
    for (unsigned e = PL_EV_MAIN; e <= PL_EV_TAG; e <<= 1) {
        if (ev & e) {
            buf_addf(out, "%s%s", first ? "" : " and ", pl_event_name(e));
            first = false;
        }
    }
    buf_adds(out, " runs");
}

/*
 * Resolves every definition's needs once (a matrix job's combinations share
 * them, and an error in them is reported once, naming the job's key), then
 * gives each expanded job the sorted list without duplicates or
 * self-references: what the scheduler uses.
 */
static void resolve_needs(struct ctx *c, struct names *nm)
{
    struct pipeline *p = c->p;
    const char *main_br = p->main_branch;
    for (size_t d = 0; d < c->ndefs; d++) {
        struct jobdef *jd = &c->defs[d];
        if (!jd->count)
            continue;
        const struct pl_job *j = &p->jobs[jd->first];
        size_t *idx = NULL, n = 0, alloc = 0;
        struct buf where = BUF_INIT;
        buf_addf(&where, "job '%s'", j->base);
        for (size_t k = 0; k < j->needs.n; k++) {
            size_t before = n;
            if (resolve_job(c, nm, &j->needs.v[k], j->base, where.data, "needs", &idx, &n, &alloc))
                continue;
            for (size_t q = before; q < n; q++) {
                size_t t = idx[q];
                if (t >= jd->first && t < jd->first + jd->count) {
                    error_at(c, j->needs.v[k].pos, "job '%s' needs itself", j->base);
                    break;
                }
                unsigned missing = j->when.events & ~p->jobs[t].when.events;
                if (missing) {
                    struct buf a = BUF_INIT, b = BUF_INIT;
                    events_words(j->when.events, &a);
                    events_words(p->jobs[t].when.events, &b);
                    error_at(c, j->needs.v[k].pos,
                             "job '%s' runs on %s but needs '%s', which runs only on %s", j->base,
                             a.data, p->jobs[t].base, b.data);
                    buf_release(&a);
                    buf_release(&b);
                    break;
                }
                /* Of the branch filters, only the main branch is known here: a job
                 * that runs on main runs cannot need one whose filters leave it out. */
                if ((j->when.events & PL_EV_MAIN) && branches_match(&j->when.branches, main_br) &&
                    !branches_match(&p->jobs[t].when.branches, main_br)) {
                    error_at(c, j->needs.v[k].pos,
                             "job '%s' runs on main runs but needs '%s', whose 'when.branches' "
                             "does not match the main branch '%s'",
                             j->base, p->jobs[t].base, main_br);
                    break;
                }
            }
        }
        if (n > 1)
            qsort(idx, n, sizeof(size_t), cmp_size);
        size_t w = 0;
        for (size_t q = 0; q < n; q++) {
            bool self = idx[q] >= jd->first && idx[q] < jd->first + jd->count;
            if (!self && (!w || idx[w - 1] != idx[q]))
                idx[w++] = idx[q];
        }
        for (size_t i = jd->first; i < jd->first + jd->count; i++) {
            p->jobs[i].need_idx = xcalloc(w + 1, sizeof(size_t));
            if (w)
                memcpy(p->jobs[i].need_idx, idx, w * sizeof(size_t));
            p->jobs[i].nneed = w;
        }
        free(idx);
        buf_release(&where);
    }
}

/* The position of the 'needs' entry of job a that leads to job b. */
static struct pos need_pos(struct ctx *c, size_t a, size_t b)
{
    struct pl_job *j = &c->p->jobs[a];
    for (size_t k = 0; k < j->needs.n; k++)
        if (!strcmp(j->needs.v[k].s, c->p->jobs[b].name) ||
            !strcmp(j->needs.v[k].s, c->p->jobs[b].base))
            return j->needs.v[k].pos;
    return j->pos;
}

/* Finds cycles, then sorts jobs topologically (remapping every index). */
static int sort_jobs(struct ctx *c)
{
    struct pipeline *p = c->p;
    size_t n = p->njobs, m = 0;
    for (size_t i = 0; i < n; i++)
        m += p->jobs[i].nneed;
    size_t *off = xmalloc(xmul(n + 1, sizeof(size_t)));
    size_t *to = xmalloc(xmul(m + 1, sizeof(size_t)));
    size_t *order = xmalloc(xmul(n + 1, sizeof(size_t)));
    size_t e = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = e;
        for (size_t k = 0; k < p->jobs[i].nneed; k++)
            to[e++] = p->jobs[i].need_idx[k];
    }
    off[n] = e;
    /* Report every cycle, not just the first: after each, take out the edge that
     * closes it and look again (at most as many times as a report can show). */
    for (size_t found = 0; found < 50; found++) {
        size_t len = dag_find_cycle(n, off, to, order);
        if (!len)
            break;
        size_t from = order[len - 1], into = order[0];
        struct buf b = BUF_INIT;
        for (size_t k = 0; k < len; k++)
            buf_addf(&b, "%s -> ", p->jobs[order[k]].name);
        buf_adds(&b, p->jobs[into].name);
        error_at(c, need_pos(c, from, into), "dependency cycle: %s", b.data);
        buf_release(&b);
        rc = -1;
        for (size_t x = off[from]; x < off[from + 1]; x++) {
            if (to[x] == into) {
                memmove(&to[x], &to[x + 1], (off[n] - x - 1) * sizeof(size_t));
                for (size_t i = from + 1; i <= n; i++)
                    off[i]--;
                break;
            }
        }
    }
    if (rc)
        goto out;
    if (dag_toposort(n, off, to, order)) {
        rc = -1;
        goto out;
    }
    size_t *newidx = xmalloc(xmul(n + 1, sizeof(size_t)));
    for (size_t k = 0; k < n; k++)
        newidx[order[k]] = k;
    struct pl_job *sorted = xcalloc(n + 1, sizeof(*sorted));
    for (size_t k = 0; k < n; k++) {
        sorted[k] = p->jobs[order[k]];
        for (size_t q = 0; q < sorted[k].nneed; q++)
            sorted[k].need_idx[q] = newidx[sorted[k].need_idx[q]];
        if (sorted[k].nneed > 1)
            qsort(sorted[k].need_idx, sorted[k].nneed, sizeof(size_t), cmp_size);
    }
    for (size_t q = 0; q < p->release.nfrom; q++)
        p->release.from_idx[q] = newidx[p->release.from_idx[q]];
    free(p->jobs);
    p->jobs = sorted;
    free(newidx);
out:
    free(off);
    free(to);
    free(order);
    return rc;
}

/* ---- release ------------------------------------------------------------ */

static const char *const release_keys[] = {"from", "version", NULL};
static const char *const version_fields[] = {"n",      "sha",  "short_sha", "tag",
                                             "branch", "date", NULL};

static void check_version(struct ctx *c, struct ynode *n, const char *s)
{
    bool unique = false;
    for (const char *p = s; *p;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (!e) {
                error_at(c, n->pos, "release: 'version' has an unclosed '{' in '%s'", s);
                return;
            }
            size_t l = (size_t)(e - p - 1);
            char field[32];
            if (l >= sizeof(field))
                l = sizeof(field) - 1;
            memcpy(field, p + 1, l);
            field[l] = '\0';
            bool ok = false;
            for (size_t i = 0; version_fields[i] && !ok; i++)
                ok = !strcmp(field, version_fields[i]);
            if (!ok) {
                const char *sg = diag_suggest(field, version_fields, 6);
                error_at(c, n->pos,
                         "release: unknown field '{%s}' in 'version'%s%s%s; known fields: {n}, "
                         "{sha}, {short_sha}, {tag}, {branch}, {date}",
                         field, sg ? " (did you mean '{" : "", sg ? sg : "", sg ? "}'?)" : "");
                return;
            }
            if (!strcmp(field, "n") || !strcmp(field, "sha") || !strcmp(field, "short_sha"))
                unique = true;
            p = e + 1;
            continue;
        }
        if (!isalnum((unsigned char)*p) && !strchr("._+-", *p)) {
            error_at(c, n->pos,
                     "release: 'version' may hold letters, digits, '.', '_', '+', '-' and "
                     "{fields}, found '%c'",
                     *p);
            return;
        }
        p++;
    }
    if (!unique)
        error_at(c, n->pos,
                 "release: 'version' '%s' must contain {n}, {sha} or {short_sha} so that every "
                 "release gets its own version",
                 s);
}

static void parse_release(struct ctx *c, struct ynode *key, struct ynode *n)
{
    struct pl_release *r = &c->p->release;
    r->present = true;
    r->pos = n->pos;
    if (n->kind != YNODE_MAP) {
        type_error(c, n, "", "release", "a mapping with 'from'");
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    check_keys(c, &e, release_keys, "'release'");
    struct ynode *v;
    if ((v = lookup(&e, "from")))
        get_names(c, v, "release", "from", &r->from, false);
    else if (!misspelt(&e, release_keys, "from"))
        error_at(c, key->pos,
                 "release: 'from' is missing: name the jobs whose artifacts make the "
                 "release");
    if (v && v->kind == YNODE_SEQ && !v->n)
        error_at(c, v->pos, "release: 'from' is an empty list");
    if ((v = lookup(&e, "version"))) {
        if (v->kind == YNODE_MAP)
            /* version: {n} is YAML for a mapping: the pattern wanted quotes */
            error_at(c, v->pos,
                     "release: 'version' must be a string, found a mapping: quote a pattern "
                     "that starts with '{', as in version: \"{n}\"");
        else if (get_string(c, v, "release", "version", &r->version) == 0) {
            r->version_given = true;
            check_version(c, v, r->version);
        }
    }
    free(e.v);
}

static void resolve_release(struct ctx *c, struct names *nm)
{
    struct pl_release *r = &c->p->release;
    size_t alloc = 0;
    for (size_t k = 0; k < r->from.n; k++) {
        size_t before = r->nfrom;
        if (resolve_job(c, nm, &r->from.v[k], NULL, "release", "from", &r->from_idx, &r->nfrom,
                        &alloc))
            continue;
        for (size_t q = before; q < r->nfrom; q++) {
            struct pl_job *j = &c->p->jobs[r->from_idx[q]];
            if (!j->artifacts.n) {
                error_at(c, r->from.v[k].pos,
                         "release: job '%s' declares no 'artifacts', so it adds nothing to the "
                         "release",
                         j->name);
                break;
            }
            if (!(j->when.events & PL_EV_MAIN)) {
                error_at(c, r->from.v[k].pos,
                         "release: job '%s' does not run on main runs, where releases are made",
                         j->name);
                break;
            }
            if (!branches_match(&j->when.branches, c->p->main_branch)) {
                error_at(c, r->from.v[k].pos,
                         "release: job '%s' does not run on main runs, where releases are made: "
                         "its 'when.branches' does not match the main branch '%s'",
                         j->base, c->p->main_branch);
                break;
            }
        }
    }
}

/* ---- deploy ------------------------------------------------------------- */

static const char *const env_keys[] = {"env",     "targets",  "waves",   "run",    "rollback",
                                       "timeout", "approval", "promote", "window", "variables",
                                       "secrets", "verify",   NULL};
static const char *const approval_keys[] = {"timeout", NULL};
static const char *const verify_keys[] = {"bake", "monitor", "interval", "checks", NULL};
/* Each kind's keys: its subject, its own keys, then the keys every kind has. */
static const char *const check_keys_http[] = {
    "http", "name",    "expect",   "contains", "json",          "equals",      "min",
    "max",  "timeout", "interval", "count",    "failure_limit", "error_limit", NULL};
static const char *const check_keys_run[] = {"run",   "name",          "timeout",     "interval",
                                             "count", "failure_limit", "error_limit", NULL};
static const char *const check_keys_prom[] = {
    "prometheus", "name",     "server", "min",           "max",         "on_no_data",
    "timeout",    "interval", "count",  "failure_limit", "error_limit", NULL};
static const char *const check_keys_any[] = {
    "http",    "run",      "prometheus", "name",          "expect",      "contains",
    "json",    "equals",   "server",     "min",           "max",         "on_no_data",
    "timeout", "interval", "count",      "failure_limit", "error_limit", NULL};
static const char *const no_data_words[] = {"fail", "pass", "inconclusive", NULL};
static const char *const window_keys[] = {"allow", "deny", "timezone", NULL};

/* Under PL_ZONES, whether the zone tz (of a good shape) cannot be loaded; "" is none. */
static bool zone_missing(struct ctx *c, const char *tz, struct buf *err)
{
    return (c->flags & PL_ZONES) && tz[0] && !tz_get(tz, err);
}

static void parse_window_ranges(struct ctx *c, struct ynode *n, const char *where, const char *key,
                                struct window_range **out, size_t *nout)
{
    struct pl_strs items = {0};
    if (get_strlist(c, n, where, key, false, &items) == 0) {
        *out = xcalloc(items.n + 1, sizeof(**out));
        for (size_t i = 0; i < items.n; i++) {
            struct buf err = BUF_INIT;
            if (window_range_parse(items.v[i].s, &(*out)[*nout], &err) ||
                zone_missing(c, (*out)[*nout].tz, &err))
                error_at(c, items.v[i].pos, "%s: '%s': %s", where, key, err.data);
            else
                (*nout)++;
            buf_release(&err);
        }
    }
    strs_release(&items);
}

static void parse_window(struct ctx *c, struct pl_environment *env, struct ynode *key,
                         struct ynode *n, const char *where)
{
    struct pl_window *w = &env->window;
    if (n->kind != YNODE_MAP) {
        parse_window_ranges(c, n, where, "window", &w->allow, &w->nallow);
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    struct buf w2 = BUF_INIT;
    buf_addf(&w2, "'window' of %s", where);
    check_keys(c, &e, window_keys, w2.data);
    buf_release(&w2);
    struct ynode *v;
    if ((v = lookup(&e, "allow")))
        parse_window_ranges(c, v, where, "window.allow", &w->allow, &w->nallow);
    if ((v = lookup(&e, "deny")))
        parse_window_ranges(c, v, where, "window.deny", &w->deny, &w->ndeny);
    if ((v = lookup(&e, "timezone")) &&
        get_string(c, v, where, "window.timezone", &w->timezone) == 0) {
        struct buf err = BUF_INIT;
        if (window_tz_check(w->timezone, &err) || zone_missing(c, w->timezone, &err))
            error_at(c, v->pos, "%s: 'window.timezone': %s", where, err.data);
        buf_release(&err);
    }
    if (!lookup(&e, "allow") && !lookup(&e, "deny") && !misspelt(&e, window_keys, "allow") &&
        !misspelt(&e, window_keys, "deny"))
        error_at(c, key->pos, "%s: 'window' needs 'allow' or 'deny' ranges", where);
    free(e.v);
}

static bool url_like(const char *s)
{
    return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || s[0] == '$';
}

/* A duration key that must be at least MIN_INTERVAL_MS; key is as the message names it. */
static int get_interval(struct ctx *c, struct ynode *n, const char *where, const char *key,
                        int64_t *out)
{
    int64_t ms;
    if (get_duration(c, n, where, key, &ms))
        return -1;
    if (ms < MIN_INTERVAL_MS) {
        error_at(c, n->pos, "%s: '%s' must be at least %dms", where, key, MIN_INTERVAL_MS);
        return -1;
    }
    *out = ms;
    return 0;
}

static void get_no_data(struct ctx *c, struct ynode *n, const char *where, enum pl_no_data *out)
{
    if (!is_scalar(n)) {
        type_error(c, n, where, "on_no_data", "fail, pass or inconclusive");
        return;
    }
    if (!strcmp(n->str, "fail")) {
        *out = PL_NODATA_FAIL;
    } else if (!strcmp(n->str, "pass")) {
        *out = PL_NODATA_PASS;
    } else if (!strcmp(n->str, "inconclusive")) {
        *out = PL_NODATA_INCONCLUSIVE;
    } else {
        const char *s = diag_suggest(n->str, no_data_words, 3);
        if (s)
            error_at(c, n->pos, "%s: unknown 'on_no_data' value '%s' (did you mean '%s'?)", where,
                     n->str, s);
        else
            error_at(c, n->pos,
                     "%s: unknown 'on_no_data' value '%s'; expected fail, pass or inconclusive",
                     where, n->str);
    }
}

/*
 * Keys that were part of the language and are no longer, each with what
 * replaced it: reported with the replacement and dropped from e, so that
 * they are neither unknown keys nor suggestions for other typos.
 */
static void drop_replaced_keys(struct ctx *c, struct entries *e, const char *where)
{
    size_t kept = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (!strcmp(e->v[i].k->str, "failures")) {
            error_at(c, e->v[i].k->pos,
                     "%s: 'failures' was replaced by 'failure_limit' (failed measurements "
                     "tolerated) and 'error_limit' (consecutive errors tolerated)",
                     where);
            continue;
        }
        e->v[kept++] = e->v[i];
    }
    e->n = kept;
}

/*
 * An http check's `json` and what judges the value it points at: `equals`
 * (text), or `min`/`max` (a number; parsed with the prometheus thresholds).
 */
static void parse_check_json(struct ctx *c, struct pl_check *ck, const struct entries *e,
                             const char *where)
{
    struct ynode *js = lookup(e, "json"), *eq = lookup(e, "equals"), *k;
    static const char *const judges[] = {"equals", "min", "max", NULL};
    if (js && get_string(c, js, where, "json", &ck->json) == 0) {
        struct buf err = BUF_INIT;
        const char *p = ck->json;
        if (p[0] && p[0] != '/') {
            /* "$.a[0].b" is JSONPath (Argo Rollouts' jsonPath): suggest its pointer */
            bool path = p[0] == '$' && p[1] == '.';
            buf_addch(&err, '/');
            for (const char *q = path ? p + 2 : p; *q; q++) {
                if (path && (*q == '.' || *q == '['))
                    buf_addch(&err, '/');
                else if (!path || *q != ']')
                    buf_addch(&err, *q);
            }
            error_at(c, js->pos,
                     "%s: 'json' must be a JSON pointer starting with '/' (or \"\" for the whole "
                     "document), found '%s' (did you mean '%s'?)",
                     where, p, err.data);
        } else if (jsonptr_check(p, &err)) {
            error_at(c, js->pos, "%s: 'json' must be a JSON pointer, found '%s': %s", where, p,
                     err.data);
        }
        buf_release(&err);
    }
    if (eq)
        (void)get_string(c, eq, where, "equals", &ck->equals);
    if (!js && misspelt(e, check_keys_http, "json"))
        return; /* the unknown-key error suggests 'json' */
    for (size_t i = 0; judges[i]; i++) {
        if (!(k = lookup_key(e, judges[i])))
            continue;
        if (!js)
            error_at(c, k->pos,
                     "%s: '%s' needs 'json': a JSON pointer to the value in the response "
                     "that it compares",
                     where, judges[i]);
        else if (i > 0 && eq)
            error_at(c, k->pos,
                     "%s: 'equals' and '%s' do not go together: 'equals' compares the value as "
                     "text, '%s' as a number",
                     where, judges[i], judges[i]);
    }
}

static void parse_check(struct ctx *c, struct pl_check *ck, struct ynode *n, const char *envwhere,
                        size_t idx)
{
    struct buf where = BUF_INIT;
    buf_addf(&where, "check %zu of %s", idx + 1, envwhere);
    ck->pos = n->pos;
    ck->expect[0] = 200;
    ck->nexpect = 1;
    ck->error_limit = DEFAULT_ERROR_LIMIT;
    if (n->kind != YNODE_MAP) {
        type_error_what(c, n, where.data, "a mapping with one of http, run or prometheus");
        buf_release(&where);
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    drop_replaced_keys(c, &e, where.data);
    struct ynode *h = lookup(&e, "http"), *r = lookup(&e, "run"), *pr = lookup(&e, "prometheus");
    int kinds = !!h + !!r + !!pr;
    if (kinds != 1) {
        /* Which kind is meant is unknown: check the keys against every kind's, so
         * that a typo ("htp") still gets its suggestion. */
        check_keys(c, &e, check_keys_any, where.data);
        if (!kinds &&
            (misspelt(&e, check_keys_any, "http") || misspelt(&e, check_keys_any, "run") ||
             misspelt(&e, check_keys_any, "prometheus"))) {
            /* the unknown-key error names the kind that was meant */
        } else if (!kinds) {
            error_at(c, n->pos, "%s has no kind: it needs one of 'http', 'run' or 'prometheus'",
                     where.data);
        } else {
            /* Point at the second kind key in the file. */
            struct ynode *kk[2] = {NULL, NULL};
            for (size_t i = 0, m = 0; i < e.n && m < 2; i++) {
                const char *k = e.v[i].k->str;
                if (!strcmp(k, "http") || !strcmp(k, "run") || !strcmp(k, "prometheus"))
                    kk[m++] = e.v[i].k;
            }
            error_at(c, kk[1]->pos, "%s has both '%s' and '%s': a check has exactly one kind",
                     where.data, kk[0]->str, kk[1]->str);
        }
        free(e.v);
        buf_release(&where);
        return;
    }
    const char *const *allowed = h ? check_keys_http : r ? check_keys_run : check_keys_prom;
    const char *kind = h ? "http" : r ? "run" : "prometheus";
    /* A key of another kind ('expect' in a run check) is named as such; the rest
     * are checked as unknown keys, with suggestions from this kind's keys. */
    struct entries other = {0};
    for (size_t i = 0; i < e.n; i++) {
        const char *k = e.v[i].k->str;
        bool mine = false, any = false;
        for (size_t q = 0; allowed[q] && !mine; q++)
            mine = !strcmp(k, allowed[q]);
        for (size_t q = 0; check_keys_any[q] && !any; q++)
            any = !strcmp(k, check_keys_any[q]);
        if (!mine && any)
            error_at(c, e.v[i].k->pos, "%s: '%s' does not apply to %s %s check", where.data, k,
                     h ? "an" : "a", kind);
        else
            add_entry(&other, e.v[i].k, e.v[i].v);
    }
    check_keys(c, &other, allowed, where.data);
    free(other.v);
    ck->kind = h ? PL_CHECK_HTTP : r ? PL_CHECK_RUN : PL_CHECK_PROMETHEUS;
    ck->timeout_ms = r ? DEFAULT_RUN_CHECK_TIMEOUT_MS : DEFAULT_HTTP_TIMEOUT_MS;
    struct ynode *subj = h ? h : r ? r : pr;
    const char *key = h ? "http" : r ? "run" : "prometheus";
    (void)get_string(c, subj, where.data, key, &ck->subject);
    if (h && ck->subject && !url_like(ck->subject))
        error_at(c, subj->pos, "%s: 'http' must be an http:// or https:// URL, found '%s'",
                 where.data, ck->subject);
    struct ynode *v;
    if ((v = lookup(&e, "name")))
        (void)get_string(c, v, where.data, "name", &ck->name);
    if ((v = lookup(&e, "timeout"))) {
        if (get_duration(c, v, where.data, "timeout", &ck->timeout_ms) == 0 && !ck->timeout_ms)
            error_at(c, v->pos, "%s: 'timeout' must be longer than 0s", where.data);
    }
    if ((v = lookup(&e, "interval")))
        (void)get_interval(c, v, where.data, "interval", &ck->interval_ms);
    if ((v = lookup(&e, "count")))
        (void)get_int(c, v, where.data, "count", 1, MAX_COUNT, &ck->count);
    if ((v = lookup(&e, "failure_limit")))
        (void)get_int(c, v, where.data, "failure_limit", 0, MAX_LIMIT, &ck->failure_limit);
    if ((v = lookup(&e, "error_limit")))
        (void)get_int(c, v, where.data, "error_limit", 0, MAX_LIMIT, &ck->error_limit);
    if (h) {
        if ((v = lookup(&e, "expect"))) {
            struct ynode *one[1] = {v};
            struct ynode **list = v->kind == YNODE_SEQ ? v->items : one;
            size_t nl = v->kind == YNODE_SEQ ? v->n : 1;
            ck->nexpect = 0;
            if (!nl)
                error_at(c, v->pos, "%s: 'expect' is an empty list", where.data);
            for (size_t i = 0; i < nl; i++) {
                int code;
                if (get_int(c, list[i], where.data, "expect", 100, 599, &code))
                    continue;
                if (ck->nexpect == PL_MAX_EXPECT) {
                    error_at(c, list[i]->pos, "%s: 'expect' lists more than %d status codes",
                             where.data, PL_MAX_EXPECT);
                    break;
                }
                ck->expect[ck->nexpect++] = code;
            }
            if (!ck->nexpect) {
                ck->expect[0] = 200;
                ck->nexpect = 1;
            }
        }
        if ((v = lookup(&e, "contains")))
            (void)get_string(c, v, where.data, "contains", &ck->contains);
        parse_check_json(c, ck, &e, where.data);
    }
    if (h || pr) {
        if ((v = lookup(&e, "min")) && get_number(c, v, where.data, "min", &ck->min) == 0)
            ck->has_min = true;
        if ((v = lookup(&e, "max")) && get_number(c, v, where.data, "max", &ck->max) == 0)
            ck->has_max = true;
        if (ck->has_min && ck->has_max && ck->min > ck->max)
            error_at(c, lookup(&e, "min")->pos, "%s: 'min' (%g) is greater than 'max' (%g)",
                     where.data, ck->min, ck->max);
    }
    if (pr) {
        if ((v = lookup(&e, "server"))) {
            if (get_string(c, v, where.data, "server", &ck->server) == 0 && !url_like(ck->server))
                error_at(c, v->pos, "%s: 'server' must be an http:// or https:// URL, found '%s'",
                         where.data, ck->server);
        } else {
            if (!misspelt(&e, allowed, "server"))
                error_at(c, n->pos,
                         "%s: a prometheus check needs 'server' (the Prometheus base URL)",
                         where.data);
        }
        if (!lookup(&e, "min") && !lookup(&e, "max") && !misspelt(&e, allowed, "min") &&
            !misspelt(&e, allowed, "max"))
            error_at(c, n->pos,
                     "%s: a prometheus check needs a threshold: 'max' (fail above it), 'min' "
                     "(fail below it), or both",
                     where.data);
        if ((v = lookup(&e, "on_no_data")))
            get_no_data(c, v, where.data, &ck->on_no_data);
    }
    if (!ck->name && ck->subject) {
        /* The first 60 characters, not bytes: a cut inside a UTF-8 sequence would
         * make the name invalid text (and JSON refuses it). */
        size_t len = 0;
        for (size_t chars = 0; ck->subject[len]; len++) {
            if (((unsigned char)ck->subject[len] & 0xc0) != 0x80 && chars++ == 60)
                break;
        }
        struct buf nm = BUF_INIT;
        buf_addf(&nm, "%s %.*s", key, (int)len, ck->subject);
        ck->name = buf_detach(&nm, NULL);
    }
    free(e.v);
    buf_release(&where);
}

static void parse_verify(struct ctx *c, struct pl_environment *env, struct ynode *key,
                         struct ynode *n, const char *where)
{
    if (n->kind != YNODE_MAP) {
        type_error(c, n, where, "verify", "a mapping with 'checks'");
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    struct buf w2 = BUF_INIT;
    buf_addf(&w2, "'verify' of %s", where);
    check_keys(c, &e, verify_keys, w2.data);
    buf_release(&w2);
    struct ynode *v;
    if ((v = lookup(&e, "bake")))
        (void)get_duration(c, v, where, "verify.bake", &env->bake_ms);
    if ((v = lookup(&e, "monitor")))
        (void)get_duration(c, v, where, "verify.monitor", &env->monitor_ms);
    if ((v = lookup(&e, "interval")))
        (void)get_interval(c, v, where, "verify.interval", &env->interval_ms);
    if ((v = lookup(&e, "checks"))) {
        if (v->kind != YNODE_SEQ) {
            type_error(c, v, where, "verify.checks", "a list of checks");
        } else {
            env->checks = xcalloc(v->n + 1, sizeof(*env->checks));
            for (size_t i = 0; i < v->n; i++)
                parse_check(c, &env->checks[env->nchecks++], v->items[i], where, i);
        }
    } else if (!misspelt(&e, verify_keys, "checks")) {
        error_at(c, key->pos, "%s: 'verify' has no 'checks'", where);
    }
    free(e.v);
}

static void parse_targets(struct ctx *c, struct pl_environment *env, struct ynode *n,
                          const char *where)
{
    if (n->kind != YNODE_MAP) {
        type_error(c, n, where, "targets", "a mapping of target names to their variables");
        return;
    }
    struct entries e = {0};
    flatten_what(c, n, &e, "target");
    if (!e.n)
        error_at(c, n->pos, "%s: 'targets' is empty", where);
    env->targets = xcalloc(e.n + 1, sizeof(*env->targets));
    for (size_t i = 0; i < e.n; i++) {
        if (check_name(c, e.v[i].k, where, "target"))
            continue;
        struct pl_target *t = &env->targets[env->ntargets++];
        t->name = xstrdup(e.v[i].k->str);
        t->pos = e.v[i].k->pos;
        struct buf w2 = BUF_INIT;
        buf_addf(&w2, "target '%s' of %s", t->name, where);
        get_vars(c, e.v[i].v, w2.data, "variables", &t->vars);
        buf_release(&w2);
    }
    free(e.v);
}

static long target_index(const struct pl_environment *env, const char *name)
{
    for (size_t i = 0; i < env->ntargets; i++)
        if (!strcmp(env->targets[i].name, name))
            return (long)i;
    return -1;
}

static void parse_waves(struct ctx *c, struct pl_environment *env, struct ynode *n,
                        const char *where)
{
    if (n->kind == YNODE_SEQ && !n->n) {
        error_at(c, n->pos, "%s: 'waves' is an empty list", where);
        return;
    }
    if (n->kind != YNODE_SEQ) {
        type_error(c, n, where, "waves", "a list of waves (each a target or a list of targets)");
        return;
    }
    size_t *seen = xcalloc(env->ntargets + 1, sizeof(size_t)); /* wave number + 1 */
    bool *suggested = xcalloc(env->ntargets + 1, sizeof(bool));
    const char **names = xcalloc(env->ntargets + 1, sizeof(char *));
    for (size_t i = 0; i < env->ntargets; i++)
        names[i] = env->targets[i].name;
    env->waves = xcalloc(n->n + 1, sizeof(*env->waves));
    for (size_t w = 0; w < n->n; w++) {
        struct ynode *it = n->items[w];
        struct ynode *one[1] = {it};
        struct ynode **list = it->kind == YNODE_SEQ ? it->items : one;
        size_t nl = it->kind == YNODE_SEQ ? it->n : 1;
        struct pl_wave *wave = &env->waves[env->nwaves++];
        wave->targets = xcalloc(nl + 1, sizeof(size_t));
        if (!nl)
            error_at(c, it->pos, "%s: wave %zu is empty", where, w + 1);
        for (size_t k = 0; k < nl; k++) {
            struct ynode *t = list[k];
            if (!is_scalar(t)) {
                type_error(c, t, where, "waves",
                           "a list of waves, each a target or a list of targets");
                continue;
            }
            long ti = target_index(env, t->str);
            if (ti < 0) {
                const char *s = diag_suggest(t->str, names, env->ntargets);
                error_at(c, t->pos, "%s: wave %zu names unknown target '%s'%s%s%s", where, w + 1,
                         t->str, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
                if (s) /* its absence from the waves is the same mistake */
                    suggested[target_index(env, s)] = true;
                continue;
            }
            if (seen[ti] == w + 1) {
                error_at(c, t->pos, "%s: wave %zu lists target '%s' twice", where, w + 1, t->str);
                continue;
            }
            if (seen[ti]) {
                error_at(c, t->pos, "%s: target '%s' is in wave %zu and again in wave %zu", where,
                         t->str, seen[ti], w + 1);
                continue;
            }
            seen[ti] = w + 1;
            wave->targets[wave->n++] = (size_t)ti;
        }
    }
    for (size_t i = 0; i < env->ntargets; i++)
        if (!seen[i] && !suggested[i])
            error_at(c, n->pos, "%s: target '%s' is in no wave; every target belongs to one", where,
                     env->targets[i].name);
    free(seen);
    free(suggested);
    free(names);
}

/*
 * approval: true or false, or a mapping that requires approval and may set
 * its deadline. An empty mapping is approval without a deadline, as with
 * true: the mapping's keys refine an approval, and it has none to refine.
 */
static void parse_approval(struct ctx *c, struct pl_environment *env, struct ynode *n,
                           const char *where)
{
    if (n->kind != YNODE_MAP) {
        int b = bool_word(n);
        if (b >= 0 && !n->quoted)
            env->approval = b;
        else
            scalar_type_error(c, n, where, "approval", "true, false or a mapping with 'timeout'",
                              b >= 0);
        return;
    }
    env->approval = true;
    struct entries e = {0};
    flatten(c, n, &e);
    struct buf w2 = BUF_INIT;
    buf_addf(&w2, "'approval' of %s", where);
    check_keys(c, &e, approval_keys, w2.data);
    buf_release(&w2);
    struct ynode *v;
    if ((v = lookup(&e, "timeout")) &&
        get_duration(c, v, where, "approval.timeout", &env->approval_timeout_ms) == 0 &&
        !env->approval_timeout_ms)
        error_at(c, v->pos,
                 "%s: 'approval.timeout' must be longer than 0s (without it, a deployment waits "
                 "for approval without limit)",
                 where);
    free(e.v);
}

static void parse_environment(struct ctx *c, struct pl_environment *env, struct ynode *n,
                              size_t idx)
{
    struct buf where = BUF_INIT;
    env->pos = n->pos;
    env->auto_promote = true;
    env->interval_ms = DEFAULT_INTERVAL_MS;
    env->timeout_ms = DEFAULT_DEPLOY_TIMEOUT_MS;
    if (n->kind != YNODE_MAP) {
        buf_addf(&where, "deploy entry %zu", idx + 1);
        type_error_what(c, n, where.data, "a mapping with 'env' and 'run'");
        buf_release(&where);
        return;
    }
    struct entries e = {0};
    flatten(c, n, &e);
    struct ynode *v = lookup(&e, "env");
    buf_addf(&where, "deploy entry %zu", idx + 1);
    if (v && is_scalar(v) && check_name(c, v, where.data, "environment") == 0) {
        buf_reset(&where);
        env->name = xstrdup(v->str);
        env->pos = v->pos;
        buf_addf(&where, "environment '%s'", env->name);
    } else {
        if (!v) {
            if (!misspelt(&e, env_keys, "env"))
                error_at(c, n->pos, "%s has no 'env' (the environment's name)", where.data);
        } else if (!is_scalar(v)) {
            type_error(c, v, where.data, "env", "the environment's name");
        }
    }
    check_keys(c, &e, env_keys, where.data);
    if ((v = lookup(&e, "targets")))
        parse_targets(c, env, v, where.data);
    if (!lookup(&e, "targets") && env->name) {
        /* No targets: the environment is its own single target. */
        env->targets = xcalloc(1, sizeof(*env->targets));
        env->targets[0].name = xstrdup(env->name);
        env->targets[0].pos = env->pos;
        env->ntargets = 1;
    }
    if ((v = lookup(&e, "waves"))) {
        parse_waves(c, env, v, where.data);
    } else if (env->ntargets) {
        env->waves = xcalloc(1, sizeof(*env->waves));
        env->waves[0].targets = xcalloc(env->ntargets, sizeof(size_t));
        for (size_t i = 0; i < env->ntargets; i++)
            env->waves[0].targets[i] = i;
        env->waves[0].n = env->ntargets;
        env->nwaves = 1;
    }
    if ((v = lookup(&e, "run")))
        (void)get_strlist(c, v, where.data, "run", false, &env->run);
    else if (!misspelt(&e, env_keys, "run"))
        error_at(c, n->pos, "%s has no 'run': the command that deploys a release to a target",
                 where.data);
    if ((v = lookup(&e, "rollback")))
        (void)get_strlist(c, v, where.data, "rollback", false, &env->rollback);
    if ((v = lookup(&e, "timeout"))) {
        if (get_duration(c, v, where.data, "timeout", &env->timeout_ms) == 0 && !env->timeout_ms)
            error_at(c, v->pos, "%s: 'timeout' must be longer than 0s", where.data);
    }
    if ((v = lookup(&e, "approval")))
        parse_approval(c, env, v, where.data);
    if ((v = lookup(&e, "promote"))) {
        if (is_scalar(v) && !strcmp(v->str, "auto"))
            env->auto_promote = true;
        else if (is_scalar(v) && !strcmp(v->str, "manual"))
            env->auto_promote = false;
        else
            type_error(c, v, where.data, "promote", "auto or manual");
    }
    if ((v = lookup(&e, "window")))
        parse_window(c, env, lookup_key(&e, "window"), v, where.data);
    if ((v = lookup(&e, "variables")))
        get_vars(c, v, where.data, "variables", &env->env);
    if ((v = lookup(&e, "secrets")))
        get_names(c, v, where.data, "secrets", &env->secrets, true);
    if ((v = lookup(&e, "verify")))
        parse_verify(c, env, lookup_key(&e, "verify"), v, where.data);
    free(e.v);
    buf_release(&where);
}

static void parse_deploy(struct ctx *c, struct ynode *key, struct ynode *n)
{
    struct pipeline *p = c->p;
    if (n->kind != YNODE_SEQ) {
        type_error(c, n, "", "deploy", "a list of environments, in promotion order");
        return;
    }
    p->envs = xcalloc(n->n + 1, sizeof(*p->envs));
    for (size_t i = 0; i < n->n; i++) {
        struct pl_environment *env = &p->envs[p->nenvs++];
        parse_environment(c, env, n->items[i], i);
        for (size_t k = 0; env->name && k + 1 < p->nenvs; k++) {
            if (p->envs[k].name && !strcmp(p->envs[k].name, env->name))
                error_at(c, env->pos, "environment '%s' is defined twice (first at line %u)",
                         env->name, p->envs[k].pos.line);
        }
    }
    if (!c->p->release.present && p->nenvs)
        error_at(c, key->pos, "'deploy' needs a 'release' section: environments receive releases");
}

static void env_release(struct pl_environment *env)
{
    free(env->name);
    for (size_t i = 0; i < env->ntargets; i++) {
        free(env->targets[i].name);
        kvs_release(&env->targets[i].vars);
    }
    free(env->targets);
    for (size_t i = 0; i < env->nwaves; i++)
        free(env->waves[i].targets);
    free(env->waves);
    strs_release(&env->run);
    strs_release(&env->rollback);
    free(env->window.allow);
    free(env->window.deny);
    free(env->window.timezone);
    kvs_release(&env->env);
    strs_release(&env->secrets);
    for (size_t i = 0; i < env->nchecks; i++) {
        free(env->checks[i].name);
        free(env->checks[i].subject);
        free(env->checks[i].server);
        free(env->checks[i].contains);
        free(env->checks[i].json);
        free(env->checks[i].equals);
    }
    free(env->checks);
}

/* ---- warnings ----------------------------------------------------------- */

static void warn_unused(struct ctx *c)
{
    struct pipeline *p = c->p;
    bool *needed = xcalloc(p->njobs + 1, sizeof(bool));
    for (size_t i = 0; i < p->njobs; i++)
        for (size_t k = 0; k < p->jobs[i].nneed; k++)
            needed[p->jobs[i].need_idx[k]] = true;
    for (size_t k = 0; k < p->release.nfrom; k++)
        needed[p->release.from_idx[k]] = true;
    for (size_t i = 0; i < p->njobs; i++) {
        struct pl_job *j = &p->jobs[i];
        if (needed[i])
            continue;
        if (j->artifacts.n)
            warn_at(c, j->artifacts.v[0].pos,
                    "job '%s' declares artifacts, but no job needs it and the release does not "
                    "take them",
                    j->name);
    }
    free(needed);
}

/* ---- top level ---------------------------------------------------------- */

/*
 * A secret is given as the environment variable of its name: it must not be
 * a name the job (or the environment's commands) already gets a value for,
 * from the pipeline's env, its own, a matrix axis, or flywheel.
 */
static void check_secret_clash(struct ctx *c, const struct pl_str *sec, const char *where,
                               const char *const *own, const struct pl_kvs *const *vars,
                               const char *const *var_what, size_t nvars)
{
    for (size_t k = 0; own[k]; k++) {
        if (!strcmp(sec->s, own[k])) {
            error_at(c, sec->pos,
                     "%s: secret '%s' would replace the variable %s that flywheel sets; choose "
                     "another name",
                     where, sec->s, own[k]);
            return;
        }
    }
    for (size_t k = 0; k < nvars; k++) {
        if (vars[k] && kvs_get(vars[k], sec->s)) {
            error_at(c, sec->pos,
                     "%s: '%s' is both a secret and a variable (%s); a secret is given as the "
                     "variable of its name",
                     where, sec->s, var_what[k]);
            return;
        }
    }
}

static void check_secret_clashes(struct ctx *c)
{
    static const char *const job_own[] = {"CI", "HOME", "LANG", "PATH", "PWD", "TMPDIR", NULL};
    static const char *const deploy_own[] = {"HOME", "LANG", "PATH", NULL};
    for (size_t i = 0; i < c->ndefs; i++) {
        struct jobdef *jd = &c->defs[i];
        struct buf where = BUF_INIT;
        buf_addf(&where, "job '%s'", jd->job.name);
        for (size_t k = 0; k < jd->job.secrets.n; k++) {
            const struct pl_str *sec = &jd->job.secrets.v[k];
            const struct pl_kvs *vars[] = {&c->p->env, &jd->job.env};
            static const char *const what[] = {"the pipeline's env", "the job's env"};
            check_secret_clash(c, sec, where.data, job_own, vars, what, 2);
            for (size_t a = 0; a < jd->naxes; a++)
                if (!strcmp(jd->axes[a].name, sec->s))
                    error_at(c, sec->pos,
                             "%s: '%s' is both a secret and a matrix axis; a secret is given as "
                             "the variable of its name",
                             where.data, sec->s);
        }
        buf_release(&where);
    }
    for (size_t i = 0; i < c->p->nenvs; i++) {
        const struct pl_environment *env = &c->p->envs[i];
        struct buf where = BUF_INIT;
        buf_addf(&where, "environment '%s'", env->name ? env->name : "");
        for (size_t k = 0; k < env->secrets.n; k++) {
            const struct pl_str *sec = &env->secrets.v[k];
            const struct pl_kvs *vars[] = {&c->p->env, &env->env};
            static const char *const what[] = {"the pipeline's env", "the environment's variables"};
            size_t before = c->d->nerrors;
            check_secret_clash(c, sec, where.data, deploy_own, vars, what, 2);
            for (size_t t = 0; t < env->ntargets && c->d->nerrors == before; t++)
                if (kvs_get(&env->targets[t].vars, sec->s))
                    error_at(c, sec->pos,
                             "%s: '%s' is both a secret and a variable of target '%s'; a secret "
                             "is given as the variable of its name",
                             where.data, sec->s, env->targets[t].name);
        }
        buf_release(&where);
    }
}

static const char *const top_keys[] = {"name",    "branches", "env", "jobs",
                                       "release", "deploy",   NULL};
static const char *const branches_keys[] = {"main", NULL};

static bool valid_branch(const char *s)
{
    if (!*s || s[0] == '-' || s[0] == '/' || strstr(s, "..") || strstr(s, "//") ||
        s[strlen(s) - 1] == '/' || s[strlen(s) - 1] == '.')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == 0x7f || strchr("~^:?*[\\", ch))
            return false;
    }
    return true;
}

static void parse_top(struct ctx *c, struct ynode *root)
{
    struct pipeline *p = c->p;
    struct entries e = {0};
    flatten(c, root, &e);
    check_keys_hidden(c, &e, top_keys, "the pipeline", true);

    struct ynode *v;
    if ((v = lookup(&e, "name")) && !ynode_is_null(v))
        (void)get_string(c, v, "", "name", &p->name);
    p->main_branch = xstrdup("main");
    if ((v = lookup(&e, "branches"))) {
        if (v->kind != YNODE_MAP) {
            type_error(c, v, "", "branches", "a mapping such as { main: main }");
        } else {
            struct entries be = {0};
            flatten(c, v, &be);
            check_keys(c, &be, branches_keys, "'branches'");
            struct ynode *m = lookup(&be, "main");
            if (m && get_string(c, m, "branches", "main", &p->main_branch) == 0 &&
                !valid_branch(p->main_branch))
                error_at(c, m->pos, "branches: '%s' is not a valid branch name", p->main_branch);
            free(be.v);
        }
    }
    if ((v = lookup(&e, "env")))
        get_vars(c, v, "", "env", &p->env);

    struct ynode *jobs = lookup(&e, "jobs");
    c->jobs_ok = true;
    if (!jobs) {
        if (!misspelt(&e, top_keys, "jobs"))
            error_at(c, root->pos, "the pipeline has no 'jobs'");
        c->jobs_ok = false;
    } else if (jobs->kind != YNODE_MAP) {
        type_error(c, jobs, "", "jobs", "a mapping of job names to jobs");
        c->jobs_ok = false;
    } else {
        c->jobs_pos = lookup_key(&e, "jobs")->pos;
        struct entries je = {0};
        size_t before = c->d->nerrors;
        flatten_what(c, jobs, &je, "job");
        if (c->d->nerrors != before)
            c->jobs_ok = false; /* duplicate names: references would be ambiguous */
        if (!je.n) {
            error_at(c, jobs->pos, "'jobs' is empty: a pipeline has at least one job");
            c->jobs_ok = false;
        }
        size_t njobs = 0; /* hidden keys are templates, not jobs */
        for (size_t i = 0; i < je.n; i++)
            njobs += je.v[i].k->str[0] != '.';
        if (njobs > c->lim.max_jobs) {
            error_at(c, jobs->pos, "the pipeline has %zu jobs; the limit is %zu", njobs,
                     c->lim.max_jobs);
            c->jobs_ok = false;
            je.n = 0;
        }
        c->defs = xcalloc(je.n + 1, sizeof(*c->defs));
        for (size_t i = 0; i < je.n; i++) {
            if (je.v[i].k->str[0] == '.')
                continue; /* a hidden job: a template for anchors */
            if (check_name(c, je.v[i].k, "", "job")) {
                c->jobs_ok = false;
                continue;
            }
            parse_job(c, &c->defs[c->ndefs++], je.v[i].k, je.v[i].v);
        }
        if (je.n && !c->ndefs && c->jobs_ok) {
            error_at(c, jobs->pos,
                     "every job is hidden (its name starts with '.'): a pipeline "
                     "has at least one job");
            c->jobs_ok = false;
        }
        free(je.v);
    }
    if ((v = lookup(&e, "release")))
        parse_release(c, lookup_key(&e, "release"), v);
    if ((v = lookup(&e, "deploy")))
        parse_deploy(c, lookup_key(&e, "deploy"), v);
    free(e.v);
}

struct pipeline *pipeline_parse(const char *file, const char *src, size_t len,
                                const struct pl_limits *lim, unsigned flags, struct diag_list *d)
{
    struct ctx c = {0};
    struct ytree *tree = NULL;
    size_t errors_before = d->nerrors;

    c.file = file;
    c.d = d;
    c.flags = flags;
    if (lim)
        c.lim = *lim;
    else
        pipeline_limits_default(&c.lim);
    c.p = xcalloc(1, sizeof(*c.p));
    c.p->file = xstrdup(file);

    if (len > c.lim.max_bytes) {
        /* Worded without the size: `flywheel check` says the same of a file it
         * stopped reading at the limit, whose size it does not know. */
        error_at(&c, (struct pos){0, 0, 0}, "the file is larger than the limit of %zu bytes",
                 c.lim.max_bytes);
        goto out;
    }
    if (memchr(src, '\0', len)) {
        const char *z = memchr(src, '\0', len);
        unsigned line = 1, col = 1;
        for (const char *q = src; q < z; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)*q & 0xc0) != 0x80) {
                col++;
            }
        }
        error_at(&c, (struct pos){line, col, 1}, "the file contains a NUL byte; it is not text");
        goto out;
    }
    struct ytree_limits yl = {c.lim.max_depth, c.lim.max_string, c.lim.max_nodes};
    if (ytree_parse(src, len, &yl, &tree, d))
        goto out;
    struct ynode *root = ytree_root(tree);
    if (!root || ynode_is_null(root)) {
        error_at(&c, (struct pos){0, 0, 0}, "the file is empty: expected a mapping with 'jobs'");
        goto out;
    }
    if (root->kind != YNODE_MAP) {
        type_error_what(&c, root, "the pipeline", "a mapping with 'jobs'");
        goto out;
    }
    parse_top(&c, root);
    check_secret_clashes(&c);
    if (c.jobs_ok) {
        expand_jobs(&c);
        if (c.jobs_ok) {
            struct names nm;
            names_build(&c, &nm);
            resolve_needs(&c, &nm);
            if (c.p->release.present)
                resolve_release(&c, &nm);
            names_release(&nm);
            if (d->nerrors == errors_before && sort_jobs(&c) == 0)
                warn_unused(&c);
        }
    }
out:
    for (size_t i = 0; i < c.ndefs; i++) {
        struct jobdef *jd = &c.defs[i];
        job_release(&jd->job);
        for (size_t a = 0; a < jd->naxes; a++) {
            free(jd->axes[a].name);
            strs_release(&jd->axes[a].values);
        }
        free(jd->axes);
        for (size_t k = 0; k < jd->ninclude; k++)
            combo_release(&jd->include[k]);
        free(jd->include);
        for (size_t k = 0; k < jd->nexclude; k++)
            combo_release(&jd->exclude[k]);
        free(jd->exclude);
    }
    free(c.defs);
    free(c.merge_errs.v);
    ytree_free(tree);
    diag_sort(d);
    if (d->nerrors != errors_before) {
        pipeline_free(c.p);
        return NULL;
    }
    if (!c.p->release.version && c.p->release.present)
        c.p->release.version = xstrdup("r{n}");
    return c.p;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    free(p->file);
    free(p->name);
    free(p->main_branch);
    kvs_release(&p->env);
    for (size_t i = 0; i < p->njobs; i++)
        job_release(&p->jobs[i]);
    free(p->jobs);
    strs_release(&p->release.from);
    free(p->release.from_idx);
    free(p->release.version);
    for (size_t i = 0; i < p->nenvs; i++)
        env_release(&p->envs[i]);
    free(p->envs);
    free(p);
}

long pipeline_job_index(const struct pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->njobs; i++)
        if (!strcmp(p->jobs[i].name, name))
            return (long)i;
    return -1;
}
