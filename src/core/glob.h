/*
 * Globs for branch and tag names, as in GitHub Actions' filters:
 * '*' matches any characters except '/', '**' matches any characters
 * including '/', '?' one character except '/', '[abc]' / '[a-z]' / '[!a]'
 * a class, and '\' quotes the next character.
 */
#ifndef FLYWHEEL_CORE_GLOB_H
#define FLYWHEEL_CORE_GLOB_H

#include <stdbool.h>

#include "util/buf.h"

/* Returns 0 when pat is a well-formed glob; else -1 and a reason in err. */
int glob_check(const char *pat, struct buf *err) __attribute__((warn_unused_result));
/* Matches s against a well-formed pat (glob_check() == 0). Time O(|pat|*|s|). */
bool glob_match(const char *pat, const char *s);

#endif
