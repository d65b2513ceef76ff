/*
 * originref: reads a ref of a repository on this machine without running
 * git, the way git itself stores refs in files.
 *
 *     struct buf gitdir = BUF_INIT, err = BUF_INIT;
 *     char sha[41], peeled[41];
 *     if (originref_gitdir(url, &gitdir, &err) == 0 &&
 *         originref_read(gitdir.data, "refs/heads/main", sha, peeled, &err) == 0)
 *         ... sha is what refs/heads/main holds ...
 *
 * Only what is certain is answered; anything unusual is -ENOTSUP, and the
 * caller then asks git (fetches) as it would have anyway.
 *
 * Threads: any; blocking file I/O (small files, packed-refs at most
 * ORIGINREF_PACKED_MAX bytes).
 */
#ifndef FLYWHEEL_EXEC_ORIGINREF_H
#define FLYWHEEL_EXEC_ORIGINREF_H

#include "util/buf.h"

#define ORIGINREF_PACKED_MAX (64u << 20)

/*
 * The directory holding the refs of the repository at url, appended to
 * gitdir, when url is a local path ("/srv/app", "/srv/app.git") or a
 * file:// URL (no host, no %-escapes): PATH/.git (a directory, or a file
 * "gitdir: X", X relative to PATH or absolute), else PATH when it is a
 * bare repository (HEAD, objects/ and refs/ in it). A linked worktree's
 * git directory leads to the common directory ("commondir"). Returns 0;
 * -ENOTSUP for a remote URL, a repository stored another way (reftable),
 * or anything that is not plainly one of these; -ENOENT when nothing is
 * there. err says why.
 */
int originref_gitdir(const char *url, struct buf *gitdir, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * The object ref ("refs/heads/main", "refs/tags/v1") holds in gitdir: the
 * loose ref file, else the packed-refs entry; a symbolic ref ("ref: X") is
 * followed (at most 5 deep). sha gets the object id (41 bytes), peeled the
 * object an annotated tag points to when packed-refs says so, else "".
 * Returns 0; -ENOENT when there is no such ref; -ENOTSUP when its files
 * are unreadable or not as git writes them.
 */
int originref_read(const char *gitdir, const char *ref, char sha[41], char peeled[41],
                   struct buf *err) __attribute__((warn_unused_result));

#endif
