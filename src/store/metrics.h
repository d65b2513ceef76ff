/*
 * metrics (store): the records the measures of the loop are computed from
 * (core/stages.h, core/caught.h, core/flaky.h; core/dora.h's are loaded by
 * store_dora_load in store/deploy.h). Each loader reads a repository's
 * records of a period with indexed queries (docs/metrics.md says which)
 * and hands them out in a struct that owns them and their strings.
 *
 * Threads and errors: as in store.h.
 */
#ifndef FLYWHEEL_STORE_METRICS_H
#define FLYWHEEL_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/caught.h"
#include "core/flaky.h"
#include "core/stages.h"
#include "store/store.h"

/* The strings of loaded records, freed together. */
struct store_strings {
    char **v;
    size_t n, alloc;
};

/*
 * The releases of a repository created in [from, to), each with the run
 * that made it and the latest change run of a commit of that run's change
 * made before it; their deployments of kind deploy (any environment, any
 * time); the history of those deployments.
 */
struct store_stages {
    struct stage_release *rel;
    size_t nrel;
    struct stage_deployment *deps;
    size_t ndeps;
    struct stage_event *ev;
    size_t nev;
    struct store_strings strings;
};
int store_stages_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                      struct store_stages *out, struct buf *err)
    __attribute__((warn_unused_result));
void store_stages_release(struct store_stages *s);

/*
 * The failures of a repository in [from, to): its runs that failed (by
 * their end); its deployments of kind deploy that failed, or were cancelled
 * after they started (by their end), each with the state it was in before
 * (phase; "" when its history is not recorded); and the deployments of
 * kind deploy that succeeded and that a rollback made in the period by a
 * person (not one following a failure) reverted, at the rollback's
 * creation (what a rollback reverts: see store_dora_load).
 */
struct store_caught {
    struct caught_record *v;
    size_t n;
    struct store_strings strings;
};
int store_caught_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                      struct store_caught *out, struct buf *err)
    __attribute__((warn_unused_result));
void store_caught_release(struct store_caught *c);

/*
 * The failed tries of jobs of a repository's runs that ended in [from, to)
 * (attempts that failed or timed out) and that a later try of the same job
 * on the same commit passed: in the same run (the job passed in the end),
 * else the first later run of the repository with that commit in which
 * the job passed (core/flaky.h). For a pass in a later run,
 * passed_run_number and passed_ms are 0 until store_flaky_complete() reads
 * them (only the failures shown need them).
 */
struct store_flaky {
    struct flaky_record *v;
    size_t n;
    struct store_strings strings;
};
int store_flaky_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                     struct store_flaky *out, struct buf *err) __attribute__((warn_unused_result));
/* The number of the run where a failure passed later, and the job's end there: read by
 * store_flaky_load for a pass in the same run, here for a later run (a record to show). */
int store_flaky_complete(struct store *st, struct flaky_record *r, struct buf *err)
    __attribute__((warn_unused_result));
void store_flaky_release(struct store_flaky *f);

#endif
