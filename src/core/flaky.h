/*
 * flaky: jobs that failed and then passed on the same commit, ranked.
 * Pure: the store finds the records (store_flaky_load), this module groups
 * and ranks them.
 *
 * A record is one failed try of a job (an attempt that failed or timed
 * out: not one cancelled or interrupted) that a later try of the same job
 * on the same commit passed: a retry in the same run (the job's `retries`,
 * or a retry of the job through the API), or the job in a later run of the
 * same commit in the repository (a retried run, the same commit pushed
 * again or to another branch).
 *
 * Per job: commits (how many commits it failed and then passed on: what
 * the ranking counts), failures (the failed tries), in_run and
 * across_runs (of those failures, passed again in the same run, or only in
 * a later one), and the latest failure.
 */
#ifndef FLYWHEEL_CORE_FLAKY_H
#define FLYWHEEL_CORE_FLAKY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flaky_record {
    const char *job, *commit;
    int64_t run_id, run_number;               /* the run of the failure */
    int attempt;                              /* its attempt, from 1 */
    int64_t failed_ms;                        /* when the failed try ended */
    int64_t passed_run_id, passed_run_number; /* where it passed after (the same run or a later) */
    int64_t passed_ms;
};

struct flaky_job {
    const char *job;
    size_t commits, failures, in_run, across_runs;
    const struct flaky_record *last; /* the latest failure */
};

/*
 * Groups v[0..n) by job into *out (malloc'd, the caller frees it; NULL
 * when n is 0), ranked by commits, then failures, then the latest failure
 * (the most recent first), then name.
 */
void flaky_rank(const struct flaky_record *v, size_t n, struct flaky_job **out, size_t *nout);

#endif
