/*
 * verify: the verdict of one check over a bake (or monitor) period, from the
 * outcomes of its measurements. Pure: no I/O and no clock; the caller
 * decides when to measure and when the period ends.
 *
 * Calling sequence (the deployment engine, per check and per period):
 *
 *     struct verify_policy pol;
 *     verify_policy_default(&pol);
 *     pol.failure_limit = ...;                      // from the pipeline file
 *     struct verify v;
 *     verify_init(&v, &pol);
 *     every interval, until the period ends or the state is no longer RUNNING:
 *         if (verify_feed(&v, outcome) == VERIFY_FAILED) ... stop, roll back ...
 *     at the end of the period:
 *         switch (verify_finish(&v)) { PASSED: advance; FAILED: roll back;
 *                                      INCONCLUSIVE: pause and tell people }
 *
 * The rules are Argo Rollouts' AnalysisRun rules (failureLimit,
 * consecutiveErrorLimit) with two of its gotchas fixed: no data is never a
 * silent success, and a period needs a minimum number of measurements:
 *
 *   - PASS is a measurement that passed. FAIL is a failed measurement; the
 *     check fails as soon as more than failure_limit measurements have
 *     failed (in total, not in a row).
 *   - ERROR means the check could not measure (the server did not answer, a
 *     timeout). Errors are not measurements; up to error_limit of them in a
 *     row are tolerated. Each error beyond that streak counts as a failed
 *     measurement, so with failure_limit 0 (the default) the check fails on
 *     the error_limit+1-th error in a row. Any answer (pass, fail, no data)
 *     ends the streak.
 *   - NO_DATA (an empty Prometheus result, NaN) follows on_no_data: PASS
 *     counts it as a passed measurement, FAIL as a failed one, INCONCLUSIVE
 *     (the default) as neither: the check cannot pass while its latest
 *     answer was no data. A later measurement with data resolves it, so a
 *     metric that appears a little after a deploy does not stop the line.
 *   - at the end of the period: FAILED if it failed; INCONCLUSIVE if the
 *     latest answer was unresolved no data, or fewer than min_count
 *     measurements were made; PASSED otherwise. Failed measurements within
 *     the limit count towards min_count (they were measured, and
 *     tolerated); errors never do, even those counted as failures, so a
 *     check that only ever erred cannot pass.
 *
 * Once FAILED, a check stays FAILED: further feeds change the counters but
 * not the state, and verify_finish() returns FAILED. The same holds for any
 * verdict once verify_finish() has given it.
 *
 * Threads: a struct verify belongs to one thread at a time; no shared state.
 */
#ifndef FLYWHEEL_CORE_VERIFY_H
#define FLYWHEEL_CORE_VERIFY_H

#include <stdbool.h>

#include "util/buf.h"

/* The outcome of one evaluation of a check (deploy/check.h makes them). */
enum check_outcome {
    CHECK_PASS,    /* measured, within the expectation */
    CHECK_FAIL,    /* measured, outside it */
    CHECK_NO_DATA, /* answered, but with nothing to measure */
    CHECK_ERROR,   /* no answer: connection refused, timeout, bad query, ... */
};

enum verify_on_no_data { VERIFY_NODATA_INCONCLUSIVE, VERIFY_NODATA_FAIL, VERIFY_NODATA_PASS };

struct verify_policy {
    int failure_limit; /* failed measurements tolerated; default 0 */
    int error_limit;   /* consecutive errors tolerated before an error counts as a failure;
                          default 4 */
    int min_count;     /* measurements required before the check can pass; default 1 */
    enum verify_on_no_data on_no_data; /* default VERIFY_NODATA_INCONCLUSIVE */
};

#define VERIFY_DEFAULT_FAILURE_LIMIT 0
#define VERIFY_DEFAULT_ERROR_LIMIT   4
#define VERIFY_DEFAULT_MIN_COUNT     1

enum verify_state { VERIFY_RUNNING, VERIFY_PASSED, VERIFY_FAILED, VERIFY_INCONCLUSIVE };

struct verify {
    struct verify_policy pol;
    int measurements;        /* answers that count: PASS, FAIL, NO_DATA under _PASS or _FAIL */
    int passes;              /* PASS, and NO_DATA under VERIFY_NODATA_PASS */
    int failures;            /* FAIL, NO_DATA under VERIFY_NODATA_FAIL, and errors past the
                                streak (which are not measurements) */
    int errors;              /* every ERROR fed, including those counted as failures */
    int consecutive_errors;  /* the current streak of errors */
    int no_data;             /* every NO_DATA fed, whatever on_no_data says */
    bool no_data_pending;    /* the latest answer (ignoring errors) was NO_DATA, inconclusive */
    enum check_outcome last; /* the latest outcome fed (meaningless before the first) */
    enum verify_state state;
};

/* The defaults above. */
void verify_policy_default(struct verify_policy *pol);

/* Starts a period: counters at zero, state RUNNING. Negative limits are taken as 0, a
 * min_count below 1 as 1. */
void verify_init(struct verify *v, const struct verify_policy *pol);

/* Feeds one outcome; returns the state after it: RUNNING, or FAILED (for good). */
enum verify_state verify_feed(struct verify *v, enum check_outcome o);

/* Ends the period and returns the verdict (also stored in v->state): PASSED, FAILED or
 * INCONCLUSIVE, never RUNNING. Calling it again returns the same verdict. */
enum verify_state verify_finish(struct verify *v);

/* "running", "passed", "failed", "inconclusive". */
const char *verify_state_name(enum verify_state s);
/* "pass", "fail", "no data", "error". */
const char *check_outcome_name(enum check_outcome o);

/*
 * Appends a one-line summary of the counters, e.g.
 *     "3 measurements: 2 passed, 1 failed (limit 0)"
 *     "0 measurements (1 required): 1 failed (limit 0), 5 errors (the latest 5 in a row,
 *      limit 4 in a row; 1 counted as failed)"
 *     "4 measurements: 4 passed, 0 failed (limit 0); 2 no data (inconclusive), the latest
 *      unresolved"
 */
void verify_summary(const struct verify *v, struct buf *out);

#endif
