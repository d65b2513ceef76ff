/*
 * gitbatch: one long-lived `git cat-file --batch-command` in a repository,
 * asked about objects by many threads in turn.
 *
 *     struct gitbatch *b = gitbatch_new("/data/git/app.git");
 *     char oid[41], type[16];
 *     uint64_t size;
 *     rc = gitbatch_info(b, "SHA^{commit}", oid, type, &size, &err);
 *     rc = gitbatch_contents(b, oid, 1 << 20, type, &out, &err);
 *     gitbatch_stop(b);   (optional: the next question starts a new git)
 *     gitbatch_free(b);
 *
 * The process is started by the first question (with --git-dir=. in dir,
 * and gitcmd's environment) and started again by a question after it died
 * or was stopped. Its standard input is a socket only this process holds:
 * when this process dies, even by SIGKILL, git reads end of file and exits.
 *
 * Questions name objects by object id, "OID^{commit}"/"OID^{tree}" or
 * "OID:path": never by ref name (git cat-file caches the refs it has read,
 * and a ref that moved since would be answered from that cache). Objects
 * fetched after the process started are found (git looks at the object
 * directory again when an object is missing).
 *
 * Returns: 0; -ENOENT when the object is missing (err says so); another
 * negative errno when the process could not be used (started, written to,
 * read from, or it answered something unexpected): the caller then falls
 * back to a one-shot git, which also explains the failure better.
 *
 * Threads: any thread; one question at a time per gitbatch (a mutex).
 * Blocking: do not call from an event loop.
 */
#ifndef FLYWHEEL_EXEC_GITBATCH_H
#define FLYWHEEL_EXEC_GITBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gitbatch;

/* A gitbatch for the repository at dir (no process yet); dir is copied. */
struct gitbatch *gitbatch_new(const char *dir);

/* Ends the process, if any (waiting for a question in flight), and frees b. NULL is fine. */
void gitbatch_free(struct gitbatch *b);

/* Ends the process, if any: e.g. after a repack, so that git lets go of the
 * packs it removed. The next question starts another. */
void gitbatch_stop(struct gitbatch *b);

/* The object spec names: its id (41 bytes), type ("commit", "tree", "blob", "tag"), size. */
int gitbatch_info(struct gitbatch *b, const char *spec, char oid[41], char type[16], uint64_t *size,
                  struct buf *err) __attribute__((warn_unused_result));

/*
 * Appends the content of the object spec names to out, when its size is at
 * most max, and gives its type. One question: over max, the content is not
 * read (-E2BIG) and the process is stopped, to start again at the next.
 */
int gitbatch_contents(struct gitbatch *b, const char *spec, size_t max, char type[16],
                      struct buf *out, struct buf *err) __attribute__((warn_unused_result));
/* The same, with the object's size (also on -E2BIG). */
int gitbatch_contents_sized(struct gitbatch *b, const char *spec, size_t max, char type[16],
                            uint64_t *size, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));

/* The number of processes started so far (for tests). */
unsigned gitbatch_starts(struct gitbatch *b);

#endif
