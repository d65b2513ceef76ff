/*
 * workspace: fresh copies of the source for jobs, and the safe handling of
 * the paths jobs declare as artifacts.
 *
 * Calling sequence (one run):
 *
 *     struct ws_source src;
 *     ws_source_worktree(&src, repo_dir, state_dir, &err);   // the working tree as it is
 *   or ws_source_rev(&src, repo_dir, state_dir, "HEAD~1", &err); // a commit
 *     for each job attempt:
 *         ws_create(&src, "/path/.flywheel/work/3/build.1", &err);  // a fresh checkout
 *         ... run the job there ...
 *         ws_remove("/path/.flywheel/work/3/build.1", &err);
 *     ws_source_release(&src);
 *
 * A source is an immutable commit. For the working tree it is a snapshot:
 * tracked files as they are on disk (uncommitted changes included) plus
 * untracked files that are not ignored, committed with a temporary index
 * into an object directory of flywheel's own (state_dir/objects) that
 * borrows the repository's objects as alternates. Nothing in the user's
 * working tree, index, refs or object directory is written; the state
 * directory (normally REPO/.flywheel, which holds a .gitignore of "*" so git
 * never sees it) is the only place written.
 *
 * A workspace is a git repository whose objects are borrowed (alternates:
 * the repository's and state_dir/objects), with HEAD detached at the source
 * commit and the files checked out: jobs can run git commands in it.
 *
 * Git is run as a child process (`git` from PATH) with a clean environment
 * (GIT_DIR and friends from the caller never leak in) and without a shell.
 *
 * Threads: blocking calls (processes and file I/O); call from one thread
 * per source, never from the engine loop of a server (use a worker).
 */
#ifndef FLYWHEEL_EXEC_WORKSPACE_H
#define FLYWHEEL_EXEC_WORKSPACE_H

#include <stddef.h>

#include "util/buf.h"

struct ws_source {
    char *repo;      /* absolute path of the repository's top level */
    char *state_dir; /* absolute path of the state directory */
    char *commit;    /* the 40-hex commit checked out into workspaces */
    char *branch;    /* the current branch name, or "" when detached */
    char *head;      /* the 40-hex HEAD commit the source is based on, or "" */
};

/* Prepares state_dir (mkdir -p, .gitignore of "*", objects/) for repo. */
int ws_state_init(const char *repo, const char *state_dir, struct buf *err)
    __attribute__((warn_unused_result));

/* Finds the top level of the git repository containing dir; appends it to out. */
int ws_find_repo(const char *dir, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));

/* A snapshot of repo's working tree (see above). */
int ws_source_worktree(struct ws_source *src, const char *repo, const char *state_dir,
                       struct buf *err) __attribute__((warn_unused_result));
/* The commit rev names (any git revision: a sha, a branch, HEAD~2). */
int ws_source_rev(struct ws_source *src, const char *repo, const char *state_dir, const char *rev,
                  struct buf *err) __attribute__((warn_unused_result));
/*
 * The commit commit (40 hex digits, which the caller has verified is a
 * commit of mirror) of the bare repository mirror (a server's mirror),
 * without asking git anything: branch and head are "".
 */
int ws_source_mirror(struct ws_source *src, const char *mirror, const char *state_dir,
                     const char *commit, struct buf *err) __attribute__((warn_unused_result));
void ws_source_release(struct ws_source *src);

/*
 * Creates the workspace dir (must not exist; parents are created) with the
 * source checked out. With checkout == 0 the directory is created empty.
 * On error nothing is left at dir.
 */
int ws_create(const struct ws_source *src, const char *dir, int checkout, struct buf *err)
    __attribute__((warn_unused_result));

/* Removes a directory tree (like rm -rf, without following symlinks, and
 * making read-only directories writable first). Missing is not an error. */
int ws_remove(const char *dir, struct buf *err) __attribute__((warn_unused_result));

/*
 * Resolves an artifact pattern declared by a job (a relative path, or a glob
 * in the syntax of core/glob.h where '*' does not cross '/' and '**' does)
 * against workspace dir. Appends each matching regular file's path relative
 * to dir, in sorted order, to the NUL-separated list out (each entry ends
 * with '\0'; count in *n). Directories named by the pattern contribute every
 * regular file below them.
 *
 * Refused, with a message naming the path: absolute paths, '..' components,
 * a match that is a symlink pointing outside the workspace (a symlink inside
 * it is followed: the file it points to is taken, under the link's name), a
 * special file (device, fifo, socket). A pattern matching nothing is an
 * error: "artifact 'bin/app' was not produced".
 */
int ws_artifact_resolve(const char *dir, const char *pattern, struct buf *out, size_t *n,
                        struct buf *err) __attribute__((warn_unused_result));

#endif
