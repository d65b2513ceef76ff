/*
 * runexec: executes one run of a pipeline on a libuv loop: the scheduler
 * (core/sched.h) decides, this module prepares workspaces, starts job
 * processes under the leader (exec/leader.h), streams their output to log
 * files, enforces timeouts, collects artifacts into the content-addressed
 * store, and records every transition in the store before it is reported.
 * `flywheel run` drives it on a loop of its own; the server will drive
 * several on its engine loop.
 *
 * Calling sequence:
 *
 *     struct runexec *rx;
 *     runexec_start(&rx, loop, &cfg, &err);   // returns at once; work happens on the loop
 *     uv_run(loop, UV_RUN_DEFAULT);           // cfg.on_done is called once at the end
 *     runexec_free(rx);                        // after on_done
 *
 * Threads: everything is called on the loop's thread. Blocking work
 * (checkouts, hashing, removal) runs on libuv's thread pool and comes back
 * to the loop before it touches any state.
 */
#ifndef FLYWHEEL_ENGINE_RUNEXEC_H
#define FLYWHEEL_ENGINE_RUNEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/job.h"
#include "core/pipeline.h"
#include "core/sched.h"
#include "exec/workspace.h"
#include "store/cas.h"
#include "store/store.h"

struct runexec;

struct runexec_observer {
    void *ctx;
    /* A job changed state (also each new attempt's start). */
    void (*on_state)(void *ctx, size_t job, enum job_state state, int attempt, const char *reason,
                     int64_t duration_ms);
    /* A chunk of a job's output (the same bytes as the log file). */
    void (*on_output)(void *ctx, size_t job, const char *data, size_t len);
    /* A job ended after running (not one skipped or cancelled before it
     * started): its final state and how long its last attempt took. Optional. */
    void (*on_job_end)(void *ctx, size_t job, enum job_state state, int64_t duration_ms);
    /* The run's end is committed (its jobs' last events told before it): told
     * at once, before the run lets go of what it held. Optional. */
    void (*on_end)(void *ctx, enum sched_result result);
    /* The run ended, and let go of all it held (its directories removed). */
    void (*on_done)(void *ctx, enum sched_result result);
    /* The run's log directory was made (from cfg.log_spare, or without it
     * when it was not there): time to make another spare. Optional. */
    void (*on_log_dir)(void *ctx);
};

enum runexec_isolation { RUNEXEC_ISO_JOB = -1 }; /* or enum pl_isolation to force one */

/* A secret a run may give its jobs: its value, or why it has none. */
struct runexec_secret {
    const char *name;
    const char *value; /* NUL-terminated, len bytes; NULL: not available, error says why */
    size_t len;
    const char *error; /* "secret 'X' is not set for repository 'app' (...)" */
};

struct runexec_config {
    const struct pipeline *pipeline; /* outlives the run */
    const bool *selected;            /* jobs to run (closed under needs) */
    const struct ws_source *source;  /* what workspaces are made of */
    struct store *store;
    struct cas *cas;
    const char *state_dir; /* logs/ and work/ go under it */
    const char *subdir;   /* jobs run in this subdirectory of the workspace ("" or NULL: the top) */
    const char *kind;     /* "change", "main", "tag", "manual" */
    const char *self_exe; /* this binary, for the leader */
    int slots;            /* jobs at a time, >= 1 */
    unsigned sched_flags; /* SCHED_FAIL_FAST */
    int isolation;        /* RUNEXEC_ISO_JOB, PL_ISO_NONE or PL_ISO_SANDBOX */
    bool keep;            /* keep every workspace (failed ones are always kept) */
    /* The pool of empty attempt directories this run shares with later
     * runs of the process (a server) that name the same pool: the
     * repository's, for runs of its own code. NULL: none (the directories
     * left at the end are removed). */
    const char *spare_pool;
    /* Server runs: the run's log directory (STATE_DIR/logs/ID) is made when
     * a job first writes to it, by renaming this empty directory there when
     * it exists (made ahead off the loop), so that a run whose jobs print
     * nothing allocates no inode for it. NULL: the log directory is made at
     * the start. Outlives the run. */
    const char *log_spare;
    long grace_ms; /* SIGTERM -> SIGKILL, default 5000 */
    struct runexec_observer obs;
    /* Server runs: repo_id, ref, trigger and retry_of are recorded with the run
     * (the store assigns its number). NULL for a local run. */
    const struct store_run *run_fields;
    /* Adopt this existing run (queued, or interrupted by a restart) instead of
     * recording a new one: jobs already passed keep their results and
     * artifacts; interrupted attempts count as failed ones. 0: a new run. */
    int64_t adopt_run_id;
    /*
     * Secrets: each job gets, as environment variables, the ones its
     * `secrets:` names, and nothing else; a job that names one without a
     * value fails before it starts, with the secret's error as its reason
     * (no retry). Every secret with a value here (the caller gives those the
     * selected jobs name) is masked in every log of the run (core/secret.h's
     * forms, core/mask.h): the bytes are masked before they reach the log
     * file or on_output. None: no mask, and no cost. Copied (and wiped at
     * runexec_free).
     */
    const struct runexec_secret *secrets;
    size_t nsecrets;
    /* A run of an untrusted change (a fork's): no job gets a secret; one that names some runs
     * without them, and its log says so. Give it no secrets either. */
    bool untrusted;
    /* Sandboxed jobs get no network (no_network), or get it (with_network), whatever their
     * `network:` says. */
    bool no_network, with_network;
    /* A pool of executor slots shared by several runs (NULL: only `slots`
     * limits this run). take() returns true when it gave a slot; each slot
     * taken is given back with give() when its attempt ends. When slots come
     * free, the owner calls runexec_pump() on the runs that may be waiting. */
    bool (*pool_take)(void *pool_ctx);
    void (*pool_give)(void *pool_ctx);
    void *pool_ctx;
};

int runexec_start(struct runexec **out, uv_loop_t *loop, const struct runexec_config *cfg,
                  struct buf *err) __attribute__((warn_unused_result));
/* Cancels the run: queued jobs at once, running ones by signal. A second call
 * kills the running ones without grace. */
void runexec_cancel(struct runexec *rx, const char *reason);
/* Cancels one job by name (queued: at once; running: by signal); what needs it
 * is skipped. Returns 0, -ENOENT for an unknown job, -EALREADY when it has ended. */
int runexec_cancel_job(struct runexec *rx, const char *name, const char *reason);
/*
 * A manual retry while the run goes on (it must not be done): job name (NULL:
 * every job that failed, timed out or was cancelled) and what needs it go
 * back to the queue, as sched_rerun_plan() decides. The store records it all
 * in one transaction first (store_run_rerun); then the jobs are reported
 * queued (on_state) and start when they can. Appends the jobs' names to
 * names, one a line. Returns the number of jobs, or sched_rerun_plan()'s
 * negative code with the reason in err, -ENOENT also for a job the run does
 * not have, -EIO when the store failed.
 */
int runexec_rerun(struct runexec *rx, const char *name, const char *reason, struct buf *names,
                  struct buf *err) __attribute__((warn_unused_result));
void runexec_free(struct runexec *rx);
/* Starts whatever is ready and fits: after slots of a shared pool came free. */
void runexec_pump(struct runexec *rx);
/*
 * Moves an empty directory kept in the spare pool pool_name (a
 * runexec_config.spare_pool) to path, as mkdir(path, 0755) would make it:
 * 0, or -1 when the pool has none (the caller makes one). Any thread.
 */
int runexec_spare_dir(const char *pool_name, const char *path);
bool runexec_done(const struct runexec *rx);
/* The run's number in its repository (server runs), else its id. */
int64_t runexec_run_number(const struct runexec *rx);

int64_t runexec_run_id(const struct runexec *rx);
const struct sched *runexec_sched(const struct runexec *rx);
/* The log file of the job's last attempt, or NULL. */
const char *runexec_log_path(const struct runexec *rx, size_t job);
/* The kept workspace of a job, or NULL when it was removed. */
const char *runexec_workspace(const struct runexec *rx, size_t job);
int64_t runexec_duration_ms(const struct runexec *rx, size_t job);
/* Where the run's logs are. */
const char *runexec_log_dir(const struct runexec *rx);

/* True when bubblewrap can be found in PATH. */
bool runexec_have_bwrap(void);

#endif
