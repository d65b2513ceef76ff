/*
 * Globs for branch and tag names, as in GitHub Actions' filters, and for
 * paths in a job's workspace: '*' matches any characters except '/', '**'
 * matches any characters including '/', '?' one character except '/',
 * '[abc]' / '[a-z]' / '[!a]' a class, and '\' quotes the next character.
 * A character is a UTF-8 character, not a byte: '?' matches "é", and a
 * class may hold (and a range span) non-ASCII characters. A byte that is not
 * part of a valid UTF-8 sequence counts as one character.
 */
#ifndef FLYWHEEL_CORE_GLOB_H
#define FLYWHEEL_CORE_GLOB_H

#include <stdbool.h>

#include "util/buf.h"

/*
 * Returns 0 when pat is a well-formed glob for branch or tag names; else -1
 * and a reason appended to err. Spaces are refused with control characters:
 * git forbids them in ref names.
 */
int glob_check(const char *pat, struct buf *err) __attribute__((warn_unused_result));
/* The same for a path pattern, which may contain spaces (file names do); control
 * characters are still refused. */
int glob_check_path(const char *pat, struct buf *err) __attribute__((warn_unused_result));
/* Matches s against a well-formed pat (glob_check() == 0). Time O(|pat|*|s|). */
bool glob_match(const char *pat, const char *s);

#endif
