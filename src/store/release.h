/*
 * release: the store's records of releases (the artifacts of a main or tag
 * run's release jobs, with a version and signed provenance) in flywheel.db.
 *
 * Calling sequence (the engine, when a run that makes a release has passed):
 *
 *     struct store_release r = {.repo_id = ..., .run_id = ..., ...};
 *     store_release_insert(st, &r, files, n, fill, ctx, &err);
 *         // fill(ctx, st, &r) runs inside the transaction once r.number is
 *         // known: it sets r.version and r.provenance (which name the number)
 *
 * A release's number is 1 + the largest of its repository, assigned in the
 * insert's transaction; versions are unique per repository. Releases are
 * deleted with their run (retention), except the ones an environment has
 * run: store_release_mark_deployed() makes a release, and so its run,
 * permanent.
 *
 * Threads and errors: as in store.h.
 */
#ifndef FLYWHEEL_STORE_RELEASE_H
#define FLYWHEEL_STORE_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct store_release {
    int64_t id, repo_id, number, run_id;
    char *version;
    char *commit;
    char *ref;             /* "refs/heads/main", "refs/tags/v1.2" */
    char *pipeline_digest; /* "sha256:<hex>" of the pipeline file */
    char *provenance;      /* the signed DSSE envelope (JSON text) */
    char *pipeline;        /* the pipeline file's text (its deploy section drives deployments) */
    int64_t created_ms;
    int64_t deployed_ms; /* first time an environment ran it; 0 = never */
    char *bad_reason;    /* NULL: good; else why it is refused for promotion */
    int64_t bad_ms;
};

struct store_release_file {
    char *path; /* '/'-separated, relative */
    char *digest;
    int64_t size;
    int mode;
};

/*
 * Inserts r with its files in one transaction, assigning r->number; calls
 * fill(ctx, st, r) inside the transaction, which must set r->version and
 * r->provenance (malloc'd; the caller frees them after the call) and may call
 * store_release_version_taken(). Also clears the run's release_pending.
 * Returns the id (and sets r->id), or -1: a version already taken gives
 * "release version 'v1' already exists in this repository".
 */
int64_t store_release_insert(struct store *st, struct store_release *r,
                             const struct store_release_file *files, size_t n,
                             int (*fill)(void *ctx, struct store *st, struct store_release *r,
                                         struct buf *err),
                             void *ctx, struct buf *err);
/* 1 when the repository has a release named version, 0 when not, -1 on error. */
int store_release_version_taken(struct store *st, int64_t repo_id, const char *version,
                                struct buf *err);

/* By version; -ENOENT when there is none. */
int store_release_get(struct store *st, int64_t repo_id, const char *version,
                      struct store_release *r, struct buf *err);
/* By id; -ENOENT when there is none. */
int store_release_get_id(struct store *st, int64_t id, struct store_release *r, struct buf *err);
/* The release a run made; -ENOENT when it made none. */
int store_release_get_run(struct store *st, int64_t run_id, struct store_release *r,
                          struct buf *err);
/* The newest first; only numbers below before (0: no bound); limit 0 = 50. */
int store_release_list(struct store *st, int64_t repo_id, int64_t before, size_t limit,
                       struct store_release **out, size_t *n, struct buf *err);
/* Files in path order. */
int store_release_files(struct store *st, int64_t release_id, struct store_release_file **out,
                        size_t *n, struct buf *err);

/* Marks a release bad with reason (non-empty), or good again with reason NULL.
 * -ENOENT when there is no such release. */
int store_release_set_bad(struct store *st, int64_t id, const char *reason, struct buf *err);
/* Records that an environment ran it (the first time only). */
int store_release_mark_deployed(struct store *st, int64_t id, int64_t ms, struct buf *err);
/*
 * Whether r may be promoted: 0, or -EPERM with "release r3 is marked bad:
 * <reason>" in err. Every promotion asks this first.
 */
int store_release_promotable(const struct store_release *r, struct buf *err);

/* The pending flag of a run (see the schema): set when a run that will make a
 * release starts; cleared by store_release_insert or here when it made none. */
int store_run_set_release_pending(struct store *st, int64_t run_id, bool pending, struct buf *err);
/* Runs whose release is pending, oldest first (at most max). */
int store_runs_release_pending(struct store *st, int64_t *ids, size_t max, size_t *n,
                               struct buf *err);
/* 1 when run_id made a release some environment ran (retention keeps it). */
int store_run_has_deployed_release(struct store *st, int64_t run_id, struct buf *err);

void store_release_release(struct store_release *r);
void store_releases_release(struct store_release *v, size_t n);
void store_release_files_release(struct store_release_file *v, size_t n);

#endif
