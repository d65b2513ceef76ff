/*
 * sched: which job runs next. The pure core of the scheduler that both
 * `flywheel run` and the server drive; it does no I/O and knows nothing of
 * processes, only of states.
 *
 * Calling sequence:
 *
 *     struct sched *s = sched_new(p, selected, SCHED_FAIL_FAST?);
 *     while (!sched_done(s)) {
 *         long j;
 *         while (slots_free && (j = sched_next(s)) >= 0)
 *             start job j (attempt sched_attempts(s, j));
 *         ... wait for an attempt to end ...
 *         sched_finish(s, j, JOB_EV_PASS / JOB_EV_FAIL / JOB_EV_TIME_OUT / JOB_EV_CANCEL);
 *         if (sched_cancelling(s)) cancel the running jobs (each ends with JOB_EV_CANCEL)
 *     }
 *     enum sched_result r = sched_result(s);
 *     sched_free(s);
 *
 * Rules:
 * - A job is ready when all it needs has passed, or failed with
 *   allow_failure. Ready jobs start lowest index first (the pipeline's
 *   topological order, so file order among equals).
 * - A failed or timed-out attempt is retried while attempts <= retries.
 * - When a job fails for good (and may not fail), every queued job that
 *   needs it, directly or not, is skipped with the reason; independent jobs
 *   go on. With SCHED_FAIL_FAST every queued job is cancelled instead and
 *   sched_cancelling() becomes true.
 * - sched_cancel_all() cancels the queued jobs at once and marks the run as
 *   cancelling; running ones end when their process does.
 * Every state change goes through job_transition(); an illegal one is a bug
 * and aborts.
 */
#ifndef FLYWHEEL_CORE_SCHED_H
#define FLYWHEEL_CORE_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "core/job.h"
#include "core/pipeline.h"

enum sched_flags {
    SCHED_FAIL_FAST = 1 << 0,
};

enum sched_result {
    SCHED_PASSED,    /* every job passed (or failed with allow_failure) */
    SCHED_FAILED,    /* a job failed, timed out or was skipped */
    SCHED_CANCELLED, /* the run was cancelled */
};

struct sched;

/*
 * A scheduler for the jobs of p with selected[i] true (NULL: all). The
 * selection must be closed under needs (see sched_select). p must outlive s.
 */
struct sched *sched_new(const struct pipeline *p, const bool *selected, unsigned flags);
void sched_free(struct sched *s);

/*
 * Computes a selection into selected[0..p->njobs): with names (n > 0), the
 * jobs named (a base name selects every matrix combination) and all they
 * need; without, the jobs whose when.events include event (branch and tag
 * globs are matched against ref when ref is not NULL) and all they need.
 * Returns 0, or -1 with "unknown job 'x'" (and a suggestion) in err.
 */
int sched_select(const struct pipeline *p, const char *const *names, size_t n, unsigned event,
                 const char *ref, bool *selected, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Resumes a run recorded earlier (after a restart): before the first
 * sched_next(), puts job j back in a state it had reached. PASSED, SKIPPED and
 * CANCELLED are final; QUEUED with attempts > 0 means an attempt was
 * interrupted: it counts as a failed attempt, so the job is retried while
 * attempts <= retries, and otherwise fails with reason (its dependants are
 * skipped).
 */
void sched_restore(struct sched *s, size_t j, enum job_state state, int attempts,
                   const char *reason);

/* The next ready job, now running; -1 when none is ready. */
long sched_next(struct sched *s);
/* Ends the running attempt of job j with ev (PASS, FAIL, TIME_OUT or CANCEL). */
void sched_finish(struct sched *s, size_t j, enum job_event ev);
/* Cancels queued job j with reason and skips what needs it; false when j is not
 * queued (a running job is stopped by the caller and ends with JOB_EV_CANCEL,
 * which skips what needs it too). */
bool sched_cancel_job(struct sched *s, size_t j, const char *reason);
/* Cancels every queued job with reason; the running ones must be stopped by the caller. */
void sched_cancel_all(struct sched *s, const char *reason);

bool sched_done(const struct sched *s);
bool sched_cancelling(const struct sched *s);
size_t sched_running(const struct sched *s);
enum sched_result sched_result(const struct sched *s);
const char *sched_result_name(enum sched_result r);

bool sched_selected(const struct sched *s, size_t j);
enum job_state sched_state(const struct sched *s, size_t j);
/* Why the job is in its state, or "" (owned by s). */
const char *sched_reason(const struct sched *s, size_t j);
/* Attempts started so far. */
int sched_attempts(const struct sched *s, size_t j);
/* True when the job's last attempt failed and it is queued again. */
bool sched_retrying(const struct sched *s, size_t j);

#endif
