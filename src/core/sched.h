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
 * - A failed or timed-out attempt is retried while the attempts since the
 *   job last (re)started counting, attempts - base, are <= retries; base is
 *   0, and a rerun (sched_rerun) sets it to the attempts made so far.
 * - When a job fails for good (and may not fail), every queued job that
 *   needs it, directly or not, is skipped with the reason; independent jobs
 *   go on. With SCHED_FAIL_FAST every queued job is cancelled instead and
 *   sched_cancelling() becomes true.
 * - sched_cancel_all() cancels the queued jobs at once and marks the run as
 *   cancelling; running ones end when their process does.
 * - sched_rerun() puts ended jobs back in the queue (a manual retry): the
 *   run goes on as if they had never run, each with a fresh budget of retries.
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
 * Resumes a run recorded earlier (after a restart, or a rerun of a run that
 * had ended): before the first sched_next(), puts job j back in a state it
 * had reached, with its retry base (see the rules). PASSED, SKIPPED and
 * CANCELLED are final; QUEUED with attempts > base means an attempt was
 * interrupted: it counts as a failed attempt, so the job is retried while
 * attempts - base <= retries, and otherwise fails with reason (its
 * dependants are skipped). QUEUED with attempts == base is a job waiting
 * for its first attempt since a rerun.
 */
void sched_restore(struct sched *s, size_t j, enum job_state state, int attempts, int base,
                   const char *reason);

/* The next ready job, now running; -1 when none is ready. */
long sched_next(struct sched *s);
/* Ends the running attempt of job j with ev (PASS, FAIL, TIME_OUT or CANCEL). */
void sched_finish(struct sched *s, size_t j, enum job_event ev);
/*
 * Ends the running attempt of job j as failed for a reason no retry would
 * change (a secret that is not set): no retry, whatever its retries; the
 * reason is its reason; then as sched_finish(FAIL).
 */
void sched_fail(struct sched *s, size_t j, const char *reason);
/* Cancels queued job j with reason and skips what needs it; false when j is not
 * queued (a running job is stopped by the caller and ends with JOB_EV_CANCEL,
 * which skips what needs it too). */
bool sched_cancel_job(struct sched *s, size_t j, const char *reason);
/* Cancels every queued job with reason; the running ones must be stopped by the caller. */
void sched_cancel_all(struct sched *s, const char *reason);

/*
 * A rerun (a manual retry): which jobs go back to the queue. With job >= 0,
 * that job, which must have ended and whose needs must all be met (passed,
 * or failed with allow_failure); with job < 0, every job that failed, timed
 * out or was cancelled. With them, every job that needs one of them, directly
 * or not, whatever its state, as long as its other needs are met or rerun
 * too (one that is queued waits for them anyway and is left as it is).
 * Sets set[0..njobs) and returns how many jobs it holds, or a negative code
 * with a sentence in err:
 *   -EBUSY      job, or a job that needs it, is queued or running
 *   -EDEADLK    a need of job has not passed: alone it would be skipped again
 *   -ENOENT     (job < 0) no job failed, timed out or was cancelled
 *   -ECANCELED  the run is being cancelled
 * Changes nothing: sched_rerun() applies the set.
 */
int sched_rerun_plan(const struct sched *s, long job, bool *set, struct buf *err)
    __attribute__((warn_unused_result));
/*
 * Puts every job of set (from sched_rerun_plan() on the same state) back in
 * the queue with reason; each keeps its attempts and gets a fresh budget of
 * retries (its base becomes its attempts).
 */
void sched_rerun(struct sched *s, const bool *set, const char *reason);

/* Queued jobs whose needs are met: what would start if slots were free. */
size_t sched_waiting(const struct sched *s);

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
/* The attempts the job had when it was last rerun (0 if never). */
int sched_retry_base(const struct sched *s, size_t j);
/* True when the job's last attempt failed and it is queued again. */
bool sched_retrying(const struct sched *s, size_t j);

#endif
