/*
 * The job state machine.
 *
 *     queued --start--> running --pass--> passed
 *        |                 |----fail----> failed ----retry--> queued
 *        |                 |--time_out--> timed-out --retry--> queued
 *        |                 '---cancel---> cancelled
 *        |--skip--> skipped
 *        '--cancel--> cancelled
 *
 *     passed, failed, timed-out, cancelled, skipped --rerun--> queued
 *
 * retry is the pipeline's own `retries` taking another attempt after a
 * failure; rerun is someone asking for a job that has ended to run again
 * (a manual retry, through the API). Without a rerun, passed, skipped and
 * cancelled are final, and failed and timed-out are final unless retried.
 * job_transition() is the only way states change, and it refuses every move
 * not drawn above.
 */
#ifndef FLYWHEEL_CORE_JOB_H
#define FLYWHEEL_CORE_JOB_H

#include <stdbool.h>

enum job_state {
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_PASSED,
    JOB_FAILED,
    JOB_CANCELLED,
    JOB_SKIPPED,
    JOB_TIMED_OUT,
};

#define JOB_NSTATES 7

enum job_event {
    JOB_EV_START,
    JOB_EV_PASS,
    JOB_EV_FAIL,
    JOB_EV_TIME_OUT,
    JOB_EV_CANCEL,
    JOB_EV_SKIP,
    JOB_EV_RETRY,
    JOB_EV_RERUN,
};

#define JOB_NEVENTS 8

/* Sets *to and returns 0, or returns -EINVAL (and leaves *to) for an illegal move. */
int job_transition(enum job_state from, enum job_event ev, enum job_state *to)
    __attribute__((warn_unused_result));
/* "queued", "running", "passed", "failed", "cancelled", "skipped", "timed-out". */
const char *job_state_name(enum job_state s);
/* Parses a name given by job_state_name(); -1 if unknown. */
int job_state_parse(const char *name);
const char *job_event_name(enum job_event e);
/* Ended: passed, skipped, cancelled, failed, timed-out (only retry or rerun leave them). */
bool job_state_done(enum job_state s);

#endif
