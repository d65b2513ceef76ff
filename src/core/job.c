#include "core/job.h"

#include <errno.h>
#include <string.h>

static const char *const state_names[JOB_NSTATES] = {
    "queued", "running", "passed", "failed", "cancelled", "skipped", "timed-out",
};

static const char *const event_names[JOB_NEVENTS] = {
    "start", "pass", "fail", "time-out", "cancel", "skip", "retry", "rerun",
};

int job_transition(enum job_state from, enum job_event ev, enum job_state *to)
{
    enum job_state next;
    if (ev == JOB_EV_RERUN) {
        if (!job_state_done(from))
            return -EINVAL;
        *to = JOB_QUEUED;
        return 0;
    }
    switch (from) {
    case JOB_QUEUED:
        if (ev == JOB_EV_START)
            next = JOB_RUNNING;
        else if (ev == JOB_EV_SKIP)
            next = JOB_SKIPPED;
        else if (ev == JOB_EV_CANCEL)
            next = JOB_CANCELLED;
        else
            return -EINVAL;
        break;
    case JOB_RUNNING:
        if (ev == JOB_EV_PASS)
            next = JOB_PASSED;
        else if (ev == JOB_EV_FAIL)
            next = JOB_FAILED;
        else if (ev == JOB_EV_TIME_OUT)
            next = JOB_TIMED_OUT;
        else if (ev == JOB_EV_CANCEL)
            next = JOB_CANCELLED;
        else
            return -EINVAL;
        break;
    case JOB_FAILED:
    case JOB_TIMED_OUT:
        if (ev != JOB_EV_RETRY)
            return -EINVAL;
        next = JOB_QUEUED;
        break;
    default:
        return -EINVAL;
    }
    *to = next;
    return 0;
}

const char *job_state_name(enum job_state s)
{
    if ((unsigned)s >= JOB_NSTATES)
        return "unknown";
    return state_names[s];
}

int job_state_parse(const char *name)
{
    for (int i = 0; i < JOB_NSTATES; i++)
        if (!strcmp(state_names[i], name))
            return i;
    return -1;
}

const char *job_event_name(enum job_event e)
{
    if ((unsigned)e >= JOB_NEVENTS)
        return "unknown";
    return event_names[e];
}

bool job_state_done(enum job_state s)
{
    return s != JOB_QUEUED && s != JOB_RUNNING;
}
