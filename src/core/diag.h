/*
 * Diagnostics: errors and warnings about a file, with positions, rendered the
 * way compilers do:
 *
 *     .flywheel.yml:7:5: error: unknown key 'neds' in job 'unit' (did you mean 'needs'?)
 *         7 |     neds: [build]
 *           |     ^~~~
 *
 * Pure: no I/O. The list has a cap on the number of diagnostics it keeps; once
 * reached, further ones are counted but only the earliest in the file (by
 * line, then column) are kept, so a hostile input cannot make the checker
 * produce unbounded output, and what is shown is the start of the file's
 * problems whatever order the checker found them in. Rendering shows at most
 * a window of a very long source line.
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
/* False when a diagnostic at pos would be dropped (the list is at its cap and
 * holds only earlier ones): callers may skip costly work (suggestions) whose
 * result would be dropped anyway. */
bool diag_would_keep(const struct diag_list *d, struct pos pos);
/* Stable sort by position (line, column). */
void diag_sort(struct diag_list *d);
void diag_list_release(struct diag_list *d);

/* Source lines longer than this many characters are shown cut to a window. */
#define DIAG_LINE_MAX 160

/*
 * Appends every diagnostic in d to out: "file:line:col: error: msg", then the
 * source line with its number and a caret line, when src has that line (a
 * line longer than DIAG_LINE_MAX characters is cut to a window around the
 * column, with "..." where it was cut). color adds ANSI colours (callers
 * decide: terminal and no NO_COLOR).
 */
void diag_render(const struct diag_list *d, const char *file, const char *src, size_t srclen,
                 bool color, struct buf *out);

/* Edit distance counting insertions, deletions, substitutions and
 * transpositions of two adjacent characters ("bulid" is one edit from "build"),
 * capped: returns a value > cap as soon as it exceeds cap. */
size_t diag_edit_distance(const char *a, const char *b, size_t cap);
/* The candidate closest to word, or NULL when none is close enough: about one
 * edit per three characters, and never one that changes every character
 * ('a' is not suggested for 'c'). */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

#endif
