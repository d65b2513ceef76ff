/*
 * engine: the server's one owner of runtime state. It runs on a libuv loop
 * (the main thread of `flywheel serve`) and does four things:
 *   - keeps a bare mirror of each repository fresh (polling timers, hook
 *     notifications, API requests) and turns new, moved, force-pushed and
 *     deleted refs into runs: a push to the main branch is a main run, to
 *     another branch a change run, a tag a tag run;
 *   - starts queued runs on a server-wide pool of executor slots, each run
 *     through engine/runexec.h, the executor `flywheel run` uses;
 *   - cancels a change run when a newer push to the same branch arrives;
 *   - after a crash, resumes: runs that were running are adopted again, the
 *     jobs that had passed keep their results and artifacts, interrupted
 *     attempts count as failed attempts with the reason "interrupted" and are
 *     retried when retries remain.
 *
 * The store is the queue: a run is a row (state "queued") before anything
 * else happens to it, so a run accepted is never lost.
 *
 * Threads: engine_open, engine_close and the loop's callbacks run on the
 * loop's thread. engine_call() may be called from any thread (HTTP handlers):
 * it hands a command to the loop and waits for the answer.
 */
#ifndef FLYWHEEL_ENGINE_ENGINE_H
#define FLYWHEEL_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/histogram.h"
#include "core/job.h"
#include "util/buf.h"

struct engine;

struct engine_config {
    const char *data_dir; /* absolute; flywheel.db, git/, logs/, work/, cas/ under it */
    const char *self_exe; /* this binary, for job leaders */
    int slots;            /* jobs at a time, server-wide */
    bool keep_superseded; /* false: a newer push to a change branch cancels the older run */
    long grace_ms;        /* SIGTERM -> SIGKILL for jobs */
    int default_poll_s;   /* polling interval for repositories added without one */
    /*
     * Runs of changes from other repositories (store_run.fork: a forge's pull
     * request from a fork) get no secrets, and their jobs run sandboxed
     * (bubblewrap) without network, whatever the pipeline says, unless these
     * say otherwise (the configuration's `forks:`): fork_no_sandbox runs them
     * as the pipeline says; fork_network gives every sandboxed one the network.
     */
    bool fork_no_sandbox, fork_network;
    /*
     * Optional: called with every event engine_events() will serve (the
     * JSON object, one line of len bytes, no newline; valid during the call
     * only), in their order, from the first event engine_open emits on.
     * Called with the engine's event lock held, on whichever thread emits
     * (the loop's): it must be quick (copy the line, hand it on) and must
     * not call into the engine. Outgoing webhooks (server/webhook.h) use it.
     */
    void (*event_sink)(void *ctx, const char *line, size_t len);
    void *event_sink_ctx;
    /*
     * Optional: called on the loop's thread after each chunk of a job's
     * output of run run_id has been written to its log (so that a reader
     * woken now finds it there), with event_sink_ctx. It must be quick:
     * live log streams use it (http_wake_key).
     */
    void (*output_sink)(void *ctx, int64_t run_id);
};

int engine_open(struct engine **out, uv_loop_t *loop, const struct engine_config *cfg,
                struct buf *err) __attribute__((warn_unused_result));
/*
 * Graceful stop: no new work; running jobs get grace_ms to finish, then are
 * stopped and recorded as interrupted (they resume on the next start). done
 * is called on the loop when everything has ended.
 */
void engine_shutdown(struct engine *e, void (*done)(void *ctx), void *ctx);
void engine_free(struct engine *e);

/*
 * Loop thread, before or while running: makes sure repository name exists
 * with these settings (a configuration file's repositories): adds it, or
 * updates its url, main branch and polling interval.
 */
int engine_repo_ensure(struct engine *e, const char *name, const char *url, const char *main_branch,
                       int poll_s, struct buf *err) __attribute__((warn_unused_result));

/*
 * Loop thread: runs ref of repository name on a cron schedule (core/cron.h)
 * evaluated at UTC + tz_offset_s: each firing fetches and queues a run of the
 * ref's current commit, recorded with trigger "schedule".
 */
int engine_schedule_add(struct engine *e, const char *name, const char *cron, const char *ref,
                        int tz_offset_s, struct buf *err) __attribute__((warn_unused_result));

/*
 * Retention, per repository: finished runs beyond the newest keep_runs AND
 * older than keep_ms are deleted with their logs and workspaces, then
 * artifact blobs no run refers to any more. 0 keeps everything on that
 * count. Runs every interval_ms (and soon after this call) on a worker thread
 * with its own store connection.
 */
void engine_set_retention(struct engine *e, int keep_runs, int64_t keep_ms, int64_t interval_ms);

enum engine_op {
    ENGINE_REPO_ADD,     /* name, url, main branch, poll_s -> the repository's id */
    ENGINE_SYNC,         /* name: fetch now (a hook's notification) */
    ENGINE_TRIGGER,      /* name, ref -> a run for the ref's current commit */
    ENGINE_CANCEL,       /* run id */
    ENGINE_RETRY,        /* run id -> a new run of the same commit and pipeline */
    ENGINE_CANCEL_JOB,   /* run id, name (the job's) */
    ENGINE_RELEASE_MARK, /* name (the repository's), version, reason: bad; NULL reason: good */
    ENGINE_DEPLOY,       /* name, version, env, actor -> the deployment's id */
    ENGINE_ROLLBACK,     /* name, env, version (NULL: each target's last good), actor */
    ENGINE_DECIDE,       /* run_id (the deployment's id), flag (approve), actor, reason */
    ENGINE_LINE,         /* name, flag (stop), actor, reason */
    ENGINE_RETRY_JOB,    /* run id, name: the job and what needs it run again, in that run */
    ENGINE_RETRY_FAILED, /* run id: its failed, timed-out and cancelled jobs, the same way */
    ENGINE_PULL, /* name, ref, commit, branch, flag (fork): a change run of a pull request */
};

struct store_audit;

struct engine_request {
    enum engine_op op;
    const char *name, *url, *ref, *main_branch;
    const char *version, *reason, *env, *actor;
    const char *commit, *branch; /* ENGINE_PULL */
    bool flag;
    int poll_s;
    int64_t run_id;
    /* written to the audit, with the reply's status, as the engine replies (NULL: none) */
    const struct store_audit *audit;
};

struct engine_reply {
    int status;         /* an HTTP status: 200, 201, 202, 400, 404, 409, 500, 503 */
    int64_t id;         /* the repository's or run's id */
    int64_t number;     /* the run's number */
    struct buf message; /* why, when status >= 400 */
    struct buf jobs;    /* ENGINE_RETRY_JOB, _FAILED: the jobs queued again, one name a line */
    bool audited;       /* the engine wrote the request's audit entry (engine_request.audit) */
};

/*
 * Hands req to the loop and waits (at most timeout_ms) for the reply; the
 * caller initialises and releases reply->message and reply->jobs. Returns 0,
 * or -ETIMEDOUT.
 *
 * Retrying jobs (ENGINE_RETRY_JOB, ENGINE_RETRY_FAILED) works on the run
 * itself, ended or still running: the jobs go back to the queue with a fresh
 * budget of retries, the run is "running" again, all of it committed in one
 * transaction before the reply (202); a run that had ended is then adopted
 * again like a run interrupted by a restart (the jobs that passed keep their
 * results and artifacts). 404: no such run or job; 409: the run is queued or
 * being cancelled, the job (or one that needs it) is queued or running, a
 * need of the job has not passed, nothing failed.
 */
int engine_call(struct engine *e, const struct engine_request *req, struct engine_reply *reply,
                long timeout_ms);

/*
 * ENGINE_PULL: a forge's pull (merge) request (server/forge.h). The
 * repository is fetched as for ENGINE_SYNC, then ref (the head of the pull
 * request on the repository: "refs/pull/N/head", "refs/merge-requests/N/head";
 * no other refs) is fetched into the mirror under the same name, and commit
 * (the head the forge announced; 40 hex) is queued as a change run of ref,
 * its branch the head's branch name, marked fork when flag is set (the head
 * comes from another repository: the run is untrusted). A newer run of the
 * same ref cancels the older ones, as a push to a branch does. 201 with the
 * run; 404: no repository; 400: a bad ref, commit or branch; 502: a fetch
 * failed; 409: commit is not in the fetched ref (the request moved on since).
 */
bool engine_pull_ref_ok(const char *ref);

/*
 * State changes for live viewers: one event per change of a run's or a job's
 * state (never per log chunk), numbered from 1. Appends to out the events
 * after seq (at most max, each a JSON object on one line followed by '\n')
 * and sets *last to the number of the last one appended (seq when none).
 * Returns the number appended, or -1 when events after seq were already
 * dropped (the server keeps the last ENGINE_EVENTS): the viewer reloads.
 * Any thread.
 */
#define ENGINE_EVENTS 4096
int engine_events(struct engine *e, uint64_t seq, size_t max, struct buf *out, uint64_t *last);

/*
 * Counters for /metrics, read from any thread. They live in memory and start
 * from zero with each start of the server (Prometheus handles counter
 * resets): log_bytes and the job duration histograms are not rebuilt from
 * the store.
 */
struct engine_stats {
    int slots, slots_used;
    int64_t jobs_waiting; /* jobs of running runs ready to start, waiting for a slot */
    int64_t log_bytes;
    /* per job_state: jobs that ended after running, by final state, with the
     * duration of their last attempt */
    struct hist job_duration[JOB_NSTATES];
    int deploy_tasks;        /* deploy commands, checks, preparations running now */
    int64_t measurements[4]; /* checks of deployments since the start: pass, fail, no data, error */
};
void engine_stats(struct engine *e, struct engine_stats *out);

/* The public half of the key that signs releases (PEM) and its key id
 * ("SHA256:<hex>"). Any thread: the key is loaded (or created) by the first
 * caller and does not change after. Returns 0, or -1 with a reason in err
 * (a key file that is not an Ed25519 key, libcrypto missing...). */
#define ENGINE_KEYID_LEN 71
int engine_public_key(struct engine *e, struct buf *pem, char keyid[ENGINE_KEYID_LEN + 1],
                      struct buf *err) __attribute__((warn_unused_result));

#endif
