/*
 * spawn: run a program to completion and capture its output, without a
 * shell. For the short commands flywheel needs around a run (git show, git
 * rev-parse); jobs themselves go through engine/runexec.
 *
 * Blocking: call from a CLI or a worker thread, never from an engine loop.
 */
#ifndef FLYWHEEL_EXEC_SPAWN_H
#define FLYWHEEL_EXEC_SPAWN_H

#include <stddef.h>

#include "util/buf.h"

/*
 * Runs argv[0] (searched in PATH) with argv in cwd (NULL: the current
 * directory), stdin from /dev/null, the caller's environment. Appends up to
 * max bytes of its standard output to out (more is an error) and, on failure,
 * its standard error (up to 4 KiB) to err. Returns the exit status (0..255),
 * or -1 when it could not be run, was killed, or produced too much.
 */
int spawn_capture(const char *const *argv, const char *cwd, size_t max, struct buf *out,
                  struct buf *err) __attribute__((warn_unused_result));

#endif
