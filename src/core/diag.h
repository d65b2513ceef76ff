/*
 * Diagnostics: errors and warnings about a file, with positions, rendered the
 * way compilers do:
 *
 *     .flywheel.yml:7:5: error: unknown key 'neds' in job 'unit' (did you mean 'needs'?)
 *         7 |     neds: [build]
 *           |     ^~~~
 *
 * Pure: no I/O. The list has a cap on the number of diagnostics it keeps; once
 * reached, further ones are counted but dropped, and diag_full() says so, so a
 * hostile input cannot make the checker produce unbounded output.
 */
#ifndef FLYWHEEL_CORE_DIAG_H
#define FLYWHEEL_CORE_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* A place in a file. Line and column are 1-based; len is how many characters
 * to underline (at least 1). line == 0 means "the whole file". */
struct pos {
    unsigned line, col, len;
};

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
    enum diag_severity sev;
    struct pos pos;
    char *msg;
};

struct diag_list {
    struct diag *v;
    size_t n, alloc;
    size_t max;     /* keep at most this many (0 = 50) */
    size_t nerrors; /* all errors seen, including dropped ones */
    size_t nwarnings;
    size_t dropped;
};

#define DIAG_LIST_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0, 0, 0, 0                                                                     \
    }

void diag_add(struct diag_list *d, enum diag_severity sev, struct pos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* True once the list has reached its cap: callers may skip costly work
 * (suggestions) whose result would be dropped anyway. */
bool diag_full(const struct diag_list *d);
/* Stable sort by position (line, column). */
void diag_sort(struct diag_list *d);
void diag_list_release(struct diag_list *d);

/*
 * Appends every diagnostic in d to out: "file:line:col: error: msg", then the
 * source line with its number and a caret line, when src has that line.
 * color adds ANSI colours (callers decide: terminal and no NO_COLOR).
 */
void diag_render(const struct diag_list *d, const char *file, const char *src, size_t srclen,
                 bool color, struct buf *out);

/* Levenshtein distance, capped: returns a value > cap as soon as it exceeds cap. */
size_t diag_edit_distance(const char *a, const char *b, size_t cap);
/* The candidate closest to word, or NULL when none is close enough. */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

#endif
