/*
 * mirror: the server's bare mirror of a repository.
 *
 *     struct ref_list before = {0}, after = {0};
 *     mirror_sync("https://...", "/data/git/app.git", &before, &after, &err);
 *     refs_diff(&before, &after, &ev, &n);
 *     for forced candidates: mirror_is_ancestor(dir, old, new)
 *
 * The mirror is created with `git clone --mirror` (or `git init --bare` +
 * fetch for an empty repository) and refreshed with `git fetch --prune`
 * (branches and tags only). Git runs through exec/gitcmd.h: no shell, an
 * environment from scratch. A URL is passed to git as one argument after
 * "--", and URLs starting with '-' or using the "ext::" transport are refused.
 *
 * Threads: blocking; call from a worker thread, never the engine loop. Two
 * syncs of the same directory must not run at once (the caller serialises).
 */
#ifndef FLYWHEEL_EXEC_MIRROR_H
#define FLYWHEEL_EXEC_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/refs.h"
#include "util/buf.h"

/* Checks that url is acceptable (see above); 0 or -1 with a reason. */
int mirror_url_ok(const char *url, struct buf *err) __attribute__((warn_unused_result));

/* Lists the mirror's refs (empty list when dir does not exist yet). */
int mirror_refs(const char *dir, struct ref_list *out, struct buf *err)
    __attribute__((warn_unused_result));

/* Creates or refreshes dir from url; fills before/after with the refs around the fetch. */
int mirror_sync(const char *url, const char *dir, struct ref_list *before, struct ref_list *after,
                struct buf *err) __attribute__((warn_unused_result));

/*
 * Fetches one ref of url that is neither a branch nor a tag (a forge's
 * "refs/pull/5/head") into the mirror under the same name, forced. The
 * branches and tags are mirror_sync's: this never touches them, and their
 * --prune never touches such a ref.
 */
int mirror_fetch_ref(const char *url, const char *dir, const char *ref, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * `git maintenance run --auto` in the mirror (a repack and the like when
 * git finds it due). Syncs never run it (their fetches say
 * --no-auto-maintenance): the server calls this from time to time. A
 * mirror not created yet is left alone.
 */
int mirror_maintain(const char *dir, struct buf *err) __attribute__((warn_unused_result));

/* 1 when commit old is an ancestor of new, 0 when not, -1 on error. */
int mirror_is_ancestor(const char *dir, const char *old, const char *new, struct buf *err);

/* Resolves rev (a sha, a branch, a tag) in the mirror to a full commit sha (41 bytes). */
int mirror_resolve(const char *dir, const char *rev, char sha[41], struct buf *err)
    __attribute__((warn_unused_result));

/*
 * The change a commit brings (docs/metrics.md): the commits commit reaches
 * and base does not (base NULL or "": none; base unknown to the mirror:
 * none), or commit alone when there are none. commit_ms is commit's
 * committer time, first_ms the oldest author time of the change, commits
 * its first max commits (newest first; commit alone when the change is
 * empty). Returns 0, or a negative errno when commit cannot be read.
 */
struct mirror_change {
    int64_t commit_ms, first_ms;
    char **commits;
    size_t n;
};
int mirror_change(const char *dir, const char *commit, const char *base, size_t max,
                  struct mirror_change *out, struct buf *err) __attribute__((warn_unused_result));
void mirror_change_release(struct mirror_change *c);

/* Appends the content of path at commit (at most max bytes) to out. -ENOENT when absent. */
int mirror_read_file(const char *dir, const char *commit, const char *path, size_t max,
                     struct buf *out, struct buf *err) __attribute__((warn_unused_result));

/*
 * mirror_resolve and mirror_read_file asking b (exec/gitbatch.h: one git
 * process for many questions) when rev or commit is a full commit id, and
 * a one-shot git otherwise or when b cannot answer. b may be NULL.
 */
struct gitbatch;
int mirror_resolve_with(struct gitbatch *b, const char *dir, const char *rev, char sha[41],
                        struct buf *err) __attribute__((warn_unused_result));
int mirror_read_file_with(struct gitbatch *b, const char *dir, const char *commit, const char *path,
                          size_t max, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));
/*
 * What those two answered of late, without asking git (any thread, no
 * wait): true, with sha or the file appended to out (when it fits max),
 * if the answer for this full object id is remembered. Answers are kept a
 * few minutes, the last few of them (files up to 64 KiB).
 */
bool mirror_resolve_known(const char *dir, const char *rev, char sha[41]);
bool mirror_read_file_known(const char *dir, const char *commit, const char *path, size_t max,
                            struct buf *out);

#endif
