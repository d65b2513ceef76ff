/*
 * deploy (store): deployments, their steps (a command on one target), what
 * runs on each target, the stop-the-line state of each repository, and
 * incidents, in flywheel.db.
 *
 * One deployment per environment at a time is the store's rule, not the
 * caller's: a unique index covers the deployments in an active state
 * (approval, deploying, baking, monitoring, paused), so store_deploy_set()
 * moving a second one into such a state fails with -EBUSY, whoever tries.
 *
 * Threads and errors: as in store.h.
 */
#ifndef FLYWHEEL_STORE_DEPLOY_H
#define FLYWHEEL_STORE_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dora.h"
#include "store/store.h"

/* States; the active ones hold their environment. */
#define DEPLOY_QUEUED     "queued"     /* waiting: its turn, the line, the window */
#define DEPLOY_APPROVAL   "approval"   /* waiting for a person */
#define DEPLOY_DEPLOYING  "deploying"  /* a wave's commands run */
#define DEPLOY_BAKING     "baking"     /* a wave's checks run */
#define DEPLOY_MONITORING "monitoring" /* after the last wave */
#define DEPLOY_PAUSED     "paused"     /* inconclusive checks or a stopped line: a person decides */
#define DEPLOY_SUCCEEDED  "succeeded"
#define DEPLOY_FAILED     "failed"
#define DEPLOY_REJECTED   "rejected"
#define DEPLOY_SUPERSEDED "superseded"
#define DEPLOY_CANCELLED  "cancelled"

bool deploy_state_active(const char *state);

struct store_deployment {
    int64_t id, repo_id, release_id;
    char *env;
    char *kind; /* "deploy" or "rollback" */
    int64_t rollback_of;
    char *state;
    char *reason;
    int wave; /* the current (or last) wave, from 0 */
    char *actor;
    char *approved_by, *approval_note;
    int64_t created_ms, started_ms, finished_ms, phase_ms;
    char *wait; /* why it waits (queued, paused): one of DEPLOY_WAIT_*; NULL is "" */
};

/*
 * Why a queued or paused deployment waits (its wait), for the measures of
 * the loop: its turn (""), the stopped line, a closed window, the
 * environment's checks failing before it starts, a person's decision on a
 * pause. Every change of a deployment's state, wave or wait is kept, with
 * its time, in its history (store_deploy_history): written by the store's
 * triggers on insert and on store_deploy_set(), at created_ms for an
 * insert and at the later of phase_ms and finished_ms for a change.
 */
#define DEPLOY_WAIT_TURN     ""
#define DEPLOY_WAIT_LINE     "line"
#define DEPLOY_WAIT_WINDOW   "window"
#define DEPLOY_WAIT_HEALTH   "health"
#define DEPLOY_WAIT_DECISION "decision"

struct store_deploy_event {
    int64_t deployment_id;
    char *state, *wait;
    int wave;
    int64_t time_ms;
};

struct store_deploy_step {
    int64_t id, deployment_id, release_id, prev_release_id;
    char *target;
    int wave;
    char *state; /* running, passed, failed, skipped, interrupted */
    int exit_code;
    char *reason;
    char *log_path;
    int64_t pid; /* the command's process group while it runs (a restart stops what is left) */
    int64_t started_ms, finished_ms;
};

struct store_target {
    char *env, *target;
    int64_t release_id;      /* installed now (0: nothing yet) */
    int64_t good_release_id; /* the last release whose deployment succeeded here (0: none) */
    int64_t updated_ms;
};

struct store_line {
    bool stopped;
    char *reason, *actor;
    int64_t since_ms;
};

struct store_incident {
    int64_t id, repo_id, release_id, deployment_id;
    char *env, *reason;
    int64_t opened_ms, closed_ms;
};

/* Inserts d (state, env, release, kind, actor, ...); returns its id or -1. */
int64_t store_deploy_insert(struct store *st, struct store_deployment *d, struct buf *err);
/* Writes state, reason, wave, started/finished/phase times, approval fields.
 * -EBUSY when the new state is active and another deployment of the
 * environment already is (err says so). */
int store_deploy_set(struct store *st, const struct store_deployment *d, struct buf *err);
int store_deploy_get(struct store *st, int64_t id, struct store_deployment *d, struct buf *err);
/* Newest first; env NULL = all; before 0 = no bound; limit 0 = 50. */
int store_deploy_list(struct store *st, int64_t repo_id, const char *env, int64_t before,
                      size_t limit, struct store_deployment **out, size_t *n, struct buf *err);
/* The history of a deployment: its changes of state, wave or wait, oldest first. */
int store_deploy_history(struct store *st, int64_t deployment_id, struct store_deploy_event **out,
                         size_t *n, struct buf *err);
void store_deploy_events_release(struct store_deploy_event *v, size_t n);
/* Every deployment in an active state, or queued (restart), oldest first. */
int store_deploy_unfinished(struct store *st, struct store_deployment **out, size_t *n,
                            struct buf *err);

int64_t store_step_insert(struct store *st, struct store_deploy_step *s, struct buf *err);
int store_step_set(struct store *st, const struct store_deploy_step *s, struct buf *err);
int store_step_list(struct store *st, int64_t deployment_id, struct store_deploy_step **out,
                    size_t *n, struct buf *err);

/* What runs on the targets of a repository (env NULL: every environment). */
int store_target_list(struct store *st, int64_t repo_id, const char *env, struct store_target **out,
                      size_t *n, struct buf *err);
/* Sets what a target runs now (and, when good, that it succeeded there). */
int store_target_set(struct store *st, int64_t repo_id, const char *env, const char *target,
                     int64_t release_id, bool good, struct buf *err);

int store_line_get(struct store *st, int64_t repo_id, struct store_line *l, struct buf *err);
/* Stops or resumes the line; records who and why in the line's history.
 * Returns 1 when the state changed, 0 when it already was so. */
int store_line_set(struct store *st, int64_t repo_id, bool stop, const char *actor,
                   const char *reason, struct buf *err);

int64_t store_incident_open(struct store *st, const struct store_incident *in, struct buf *err);
/* Closes the open incidents of an environment; returns how many. */
int store_incident_close(struct store *st, int64_t repo_id, const char *env, int64_t ms,
                         struct buf *err);
int store_incident_list(struct store *st, int64_t repo_id, struct store_incident **out, size_t *n,
                        struct buf *err);

/* One measurement of a check, for the history (bounded by the caller). */
int store_measurement_add(struct store *st, int64_t deployment_id, int wave, const char *phase,
                          const char *check, const char *target, const char *outcome, double value,
                          bool has_value, const char *message, struct buf *err);

struct store_measurement {
    int wave;
    char *phase, *check, *target, *outcome, *message;
    double value;
    bool has_value;
    int64_t time_ms;
};
/* The last max measurements of a deployment, oldest first. */
int store_measurement_list(struct store *st, int64_t deployment_id, size_t max,
                           struct store_measurement **out, size_t *n, struct buf *err);
void store_measurements_release(struct store_measurement *v, size_t n);

/* For /metrics: deployments by state (states[i] -> counts[i]), stopped lines, open incidents. */
int store_deploy_counts(struct store *st, const char *const *states, size_t n, int64_t *counts,
                        int64_t *lines_stopped, int64_t *incidents_open, struct buf *err);

/*
 * The records of the DORA measures (core/dora.h) of env in [from, to): the
 * deployments into env (both kinds) that finished in it, and the rollbacks
 * of env made since from (whenever they finished), each rollback with the
 * deployment it reverts (rolls_back); with the times of their change
 * (commit_ms: the first commit of the change of the run that made the
 * release; merge_ms: when the server saw that run's commit pushed, else
 * the run's creation; 0 when not recorded), and the incidents of env
 * opened in the period or opened by one of those deployments. Each
 * record's env is env itself (the caller's string). Indexed queries. The
 * caller frees *deps and *incs with free(); on error both are NULL.
 */
int store_dora_load(struct store *st, int64_t repo_id, const char *env, int64_t from, int64_t to,
                    struct dora_deployment **deps, size_t *ndeps, struct dora_incident **incs,
                    size_t *nincs, struct buf *err) __attribute__((warn_unused_result));

void store_deployment_release(struct store_deployment *d);
void store_deployments_release(struct store_deployment *v, size_t n);
void store_steps_release(struct store_deploy_step *v, size_t n);
void store_targets_release(struct store_target *v, size_t n);
void store_line_release(struct store_line *l);
void store_incidents_release(struct store_incident *v, size_t n);

#endif
