/*
 * gitcmd: runs `git` as a child process, without a shell, in a given
 * directory and with an environment built from scratch.
 *
 *     const char *args[] = { "rev-parse", "--show-toplevel", NULL };
 *     struct buf out = BUF_INIT, err = BUF_INIT;
 *     int rc = gitcmd_run(dir, args, NULL, &out, &err);
 *     if (rc) ... err.data says which command failed, where, and why ...
 *
 * The child's environment holds only: PATH (the caller's, or a default),
 * HOME and XDG_CONFIG_HOME (the caller's, when set: git finds the user's own
 * configuration and global ignore rules there), LANG=C, GIT_CONFIG_NOSYSTEM=1,
 * GIT_TERMINAL_PROMPT=0, GIT_SSH_COMMAND="ssh -o BatchMode=yes", and the
 * "NAME=VALUE" strings of env. No other
 * variable of the caller leaks in, in particular no GIT_DIR, GIT_INDEX_FILE
 * or GIT_WORK_TREE. Signal dispositions and the signal mask are reset to the
 * defaults in the child; its standard input is /dev/null.
 *
 * Standard output is appended to out, at most GITCMD_OUT_MAX bytes (or
 * out->cap when that is set and smaller): more is an error. Standard error
 * is kept (its last GITCMD_ERR_MAX bytes) only to explain a failure.
 *
 * Returns 0 when git exited with status 0. When it exited with a non-zero
 * status, returns that status (1..255) and appends to err a line naming
 * the command, the directory and git's own message, e.g.
 *     git rev-parse --verify nosuch (in /src/app) failed (exit 128): fatal: ...
 * Returns a negative errno when git could not be started, died of a signal,
 * or printed too much; err says why. On any failure out is left as it was.
 *
 * Whatever is appended to err has the user and password of any URL in it
 * replaced by "***" (before the "@host"): a token in a repository's URL
 * never reaches a log or an API answer through git's messages. ssh runs
 * with BatchMode (no prompt; an unknown host key fails).
 *
 * Threads: blocking (waits for the child); safe to call from several threads
 * at once (posix_spawn; the pipes are close-on-exec, so a child started by
 * another thread never inherits them). Do not call from the engine loop.
 */
#ifndef FLYWHEEL_EXEC_GITCMD_H
#define FLYWHEEL_EXEC_GITCMD_H

#include <sys/types.h>

#include "util/buf.h"

#define GITCMD_OUT_MAX (16u << 20)
#define GITCMD_ERR_MAX (16u << 10)

/* args: git's arguments without "git" itself, NULL-terminated. env: NULL or
 * a NULL-terminated list of "NAME=VALUE" added to the child's environment. */
int gitcmd_run(const char *dir, const char *const *args, const char *const *env, struct buf *out,
               struct buf *err) __attribute__((warn_unused_result));

/*
 * Starts git for a conversation: its standard input is a socket whose other
 * end *in gets (write to it with send(MSG_NOSIGNAL): no SIGPIPE when git is
 * gone), its standard output the one whose read end *out gets (both
 * close-on-exec, so no other child inherits them: git sees end of file on
 * its input when this process closes *in or dies), its standard error
 * /dev/null. The environment is gitcmd_run's. The caller owns the two
 * descriptors and must reap *pid. Returns 0, or a negative errno with a
 * reason in err (nothing to release then).
 */
int gitcmd_start(const char *dir, const char *const *args, const char *const *env, pid_t *pid,
                 int *in, int *out, struct buf *err) __attribute__((warn_unused_result));

/* Replaces the user and password of every "scheme://USER:PASS@host" in b from byte `from` on. */
void gitcmd_redact(struct buf *b, size_t from);

#endif
