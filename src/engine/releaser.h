/*
 * releaser: turns a passed main or tag run into a release: collects the
 * artifacts of the pipeline's release.from jobs (already stored by digest),
 * names the release (release.version, or the tag for a tag run), writes its
 * provenance (in-toto statement, SLSA v1 predicate) signed with the server's
 * key, and records it with its manifest in one transaction.
 *
 * File names in the release: with one job in release.from, the artifacts'
 * paths in its workspace ("dist/app"); with several (a matrix job counts as
 * its combinations), each under its job's name ("build-linux/dist/app"), so
 * that two jobs never claim the same name.
 *
 * Threads: the caller's; it uses the store handle it is given.
 */
#ifndef FLYWHEEL_ENGINE_RELEASER_H
#define FLYWHEEL_ENGINE_RELEASER_H

#include <stddef.h>
#include <stdint.h>

#include "core/pipeline.h"
#include "store/sign.h"
#include "store/store.h"
#include "util/buf.h"

struct releaser_input {
    const struct pipeline *pipeline;
    const char *pipeline_src; /* the pipeline file's bytes, for its digest */
    size_t pipeline_len;
    int64_t run_id;
    const char *repo, *repo_url;
    const struct sign_key *key;
};

/*
 * Makes the release of run_id if it should have one: the run passed, is a
 * main or tag run, the pipeline has a release section and every job of
 * release.from passed. Otherwise (and also after making it) the run's
 * release_pending flag is cleared. Returns 1 when a release was made (its id
 * in *release_id), 0 when none was due, or a negative code with err set.
 */
int releaser_make(struct store *st, const struct releaser_input *in, int64_t *release_id,
                  struct buf *err) __attribute__((warn_unused_result));

/* Whether a run of this kind and pipeline will make a release when it passes. */
int releaser_wanted(const struct pipeline *p, const char *kind, const bool *selected);

#endif
