/*
 * store: the run history in SQLite (flywheel.db).
 *
 * Calling sequence:
 *
 *     struct store *st;
 *     if (store_open(&st, ".flywheel/flywheel.db", &err)) ...
 *     int64_t run = store_run_insert(st, &r, &err);
 *     int64_t job = store_job_insert(st, run, "build", &err);
 *     store_job_update(st, job, &j, &err);       // after every transition
 *     ...
 *     store_close(st);
 *
 * The database is opened in WAL mode with foreign keys on and a busy timeout
 * of 5 s; the schema is created and migrated by store_open() (versioned with
 * PRAGMA user_version, each migration in one transaction, so a crash in the
 * middle leaves the previous version intact). Every write is its own
 * transaction, unless it is made in a batch (store_batch_begin), and is
 * durable when the call (or the batch's commit) returns (synchronous=NORMAL in
 * WAL mode: durable across a process crash; a power loss may lose the last
 * transactions but never corrupts). The write-ahead log is neither
 * checkpointed nor removed when a connection closes (flywheel.db-wal stays
 * beside flywheel.db and is part of the database): checkpoints happen as
 * the log grows.
 *
 * Threads: one struct store is used by one thread at a time. Other threads
 * open their own handle on the same file.
 *
 * Errors: functions returning int give 0 or a negative value and append a
 * reason to err; functions returning int64_t give the new row id (> 0) or -1.
 * Strings passed in are copied; strings handed out are owned by the caller
 * and freed with the matching _release() function.
 */
#ifndef FLYWHEEL_STORE_STORE_H
#define FLYWHEEL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct store;

/* A run: one execution of the pipeline for one source state. */
struct store_run {
    int64_t id;
    char *kind;   /* "change", "main", "tag", "manual" */
    char *source; /* what was run: "worktree" (a snapshot) or the --rev argument */
    char *commit; /* the commit id run (a snapshot commit for "worktree"), or "" */
    char *branch; /* or "" */
    char *state;  /* "running", "passed", "failed", "cancelled" */
    int64_t created_ms, started_ms, finished_ms; /* Unix ms; 0 = not yet */
    /* Server runs (0 / "" for local ones): */
    int64_t repo_id;  /* the repository's id */
    int64_t number;   /* 1, 2, ... per repository, assigned by store_run_insert */
    char *ref;        /* "refs/heads/feature", "refs/tags/v1" */
    char *trigger;    /* "push", "poll", "hook", "api", "schedule", "retry" */
    int64_t retry_of; /* the run this one repeats, or 0 */
    bool fork;        /* a change from another repository (untrusted: no secrets); never changes */
    /* The times of its change, set once by store_run_set_change() (0: not known): */
    int64_t commit_ms;       /* the committer time of its commit */
    int64_t first_commit_ms; /* the author time of the oldest commit of its change */
    int64_t pushed_ms;       /* when the server first saw the commit on the ref */
};

/* A repository the server watches. */
struct store_repo {
    int64_t id;
    char *name; /* unique; job-name rules */
    char *url;  /* what the mirror fetches from */
    char *main_branch;
    int poll_s; /* polling interval in seconds; 0 = no polling */
    int64_t created_ms;
};

/* Which runs store_run_query returns; zero/NULL fields do not filter. */
struct store_run_filter {
    int64_t repo_id;
    const char *branch; /* matches ref "refs/heads/<branch>" */
    const char *kind;
    const char *state;
    int64_t before_id; /* pagination: only runs with id < before_id */
    size_t limit;      /* 0 = 50 */
};

/* A job of a run. */
struct store_job {
    int64_t id, run_id;
    char *name;
    char *state;   /* job_state_name() values: "queued", "running", "passed", ... */
    char *reason;  /* why it is in this state ("needs 'build', which failed"), or "" */
    int attempts;  /* attempts started so far */
    int exit_code; /* last attempt's exit status, -1 if none / killed by a signal */
    int64_t started_ms, finished_ms;
    int retry_base; /* attempts when it was last rerun (its retries count from there), or 0;
                     * set by store_run_rerun() only (store_job_update leaves it) */
};

/* One attempt of a job. */
struct store_attempt {
    int64_t id, job_id;
    int number;    /* 1-based */
    char *state;   /* "running", "passed", "failed", "timed-out", "cancelled" */
    int exit_code; /* -1 when killed by a signal */
    int signal;    /* the signal that ended it, or 0 */
    char *log_path;
    char *workspace;
    int64_t started_ms, finished_ms;
};

/* A file a job produced, stored by digest. */
struct store_artifact {
    int64_t id, job_id;
    char *path;   /* relative to the workspace */
    char *digest; /* "sha256:<64 hex>" */
    int64_t size;
    int mode; /* permission bits */
};

int store_open(struct store **out, const char *path, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Batches: store_batch_begin() opens one write transaction (BEGIN
 * IMMEDIATE) that every following write joins, until store_batch_commit()
 * commits them together: one commit, one WAL sync point, instead of one
 * per write. Nothing written in a batch is durable, nor visible to other
 * connections, before the commit returns 0: a caller that must persist
 * before it acts acts after the commit. Writes made of several statements
 * (store_run_insert, store_run_delete, ...) nest as savepoints. If the
 * commit fails, the whole batch is rolled back and the error is in err.
 * store_batch_commit() without an open batch does nothing and returns 0.
 */
int store_batch_begin(struct store *st, struct buf *err) __attribute__((warn_unused_result));
int store_batch_commit(struct store *st, struct buf *err) __attribute__((warn_unused_result));
bool store_in_batch(const struct store *st);
void store_close(struct store *st);
/* The schema version after migrations. */
int store_schema_version(struct store *st);

/* A run of a repository (repo_id set) gets the next number of the repository
 * (in r->number), and, when an earlier run of its commit and kind knows its
 * change, that change as by store_run_change_copy(), in the same transaction. */
int64_t store_run_insert(struct store *st, struct store_run *r, struct buf *err);
int store_run_update(struct store *st, const struct store_run *r, struct buf *err);
/* Only the state and times of run id: the indexes of the other columns stay untouched. */
int store_run_set_state(struct store *st, int64_t id, const char *state, int64_t started_ms,
                        int64_t finished_ms, struct buf *err);
/* Loads run id into *r (caller releases). Returns -ENOENT if there is none. */
int store_run_get(struct store *st, int64_t id, struct store_run *r, struct buf *err);
/* The newest runs first, at most limit. *out is an array the caller frees with
 * store_runs_release(). */
int store_run_list(struct store *st, size_t limit, struct store_run **out, size_t *n,
                   struct buf *err);
/* The id of the newest run, or 0 when there is none. */
int64_t store_run_latest(struct store *st);

/*
 * Server runs. store_run_insert assigns number = 1 + the largest number of the
 * same repo_id (in the same transaction as the insert) when repo_id != 0, and
 * writes it back into the caller's struct.
 */
int store_run_query(struct store *st, const struct store_run_filter *f, struct store_run **out,
                    size_t *n, struct buf *err);
/* The queued and running runs with an id above after_id, oldest first, at most limit. */
int store_runs_waiting(struct store *st, int64_t after_id, size_t limit, struct store_run **out,
                       size_t *n, struct buf *err);
/* Finds the run number of a repository; -ENOENT when there is none. */
int store_run_find(struct store *st, int64_t repo_id, int64_t number, struct store_run *r,
                   struct buf *err);

/*
 * The change of a server run (docs/metrics.md), recorded when the run is
 * first prepared, for r (id, repo_id, kind, commit, ref, created_ms).
 * store_run_pushed() reads when the commit first reached the ref: the
 * creation of the first run of that ref and commit (r's own for a first
 * run). store_run_base() reads the commit the change starts after: for a
 * main or tag run, the commit of the repository's latest earlier run of the
 * same kind with another commit (base[0] == '\0' when there is none, and
 * for other kinds); it walks back over the runs of r's own commit, so it is
 * only asked when store_run_change_copy() found nothing to copy.
 * store_run_set_change() records the times and the change's commits (at
 * most STORE_RUN_COMMITS_MAX of them, for main and tag runs) in one
 * transaction, with the latest change run of one of those commits made
 * before r (its change_run_id).
 */
#define STORE_RUN_COMMITS_MAX 1000
int store_run_pushed(struct store *st, const struct store_run *r, int64_t *pushed_ms,
                     struct buf *err) __attribute__((warn_unused_result));
int store_run_base(struct store *st, const struct store_run *r, char base[41], struct buf *err)
    __attribute__((warn_unused_result));
/*
 * The same change without reading the mirror: when an earlier run of the
 * repository with r's commit and kind has its times recorded (a retry, the
 * same commit run again), r gets them and its commits, with pushed_ms.
 * Returns 1 when copied, 0 when there is no such run, or a negative code.
 */
int store_run_change_copy(struct store *st, const struct store_run *r, int64_t pushed_ms,
                          struct buf *err) __attribute__((warn_unused_result));
int store_run_set_change(struct store *st, int64_t run_id, int64_t commit_ms,
                         int64_t first_commit_ms, int64_t pushed_ms, const char *const *commits,
                         size_t n, struct buf *err) __attribute__((warn_unused_result));

/* Deletes an ended run with its jobs, attempts and artifact records (runs that
 * retried it forget it). The caller removes its files. -EBUSY (and nothing
 * changes) when the run is queued or running, or not there. */
int store_run_delete(struct store *st, int64_t id, struct buf *err)
    __attribute__((warn_unused_result));
/* 1 when some artifact record still names digest, 0 when none does, -1 on error. */
int store_digest_used(struct store *st, const char *digest, struct buf *err);

/* Repositories. Insert returns the id, or -1 (err says why; a taken name says so). */
int64_t store_repo_insert(struct store *st, const struct store_repo *r, struct buf *err);
int store_repo_update(struct store *st, const struct store_repo *r, struct buf *err);
/* By name; -ENOENT when there is none. */
int store_repo_get(struct store *st, const char *name, struct store_repo *r, struct buf *err);
int store_repo_get_id(struct store *st, int64_t id, struct store_repo *r, struct buf *err);
int store_repo_list(struct store *st, struct store_repo **out, size_t *n, struct buf *err);
void store_repo_release(struct store_repo *r);
void store_repos_release(struct store_repo *v, size_t n);

/* The refs the server last saw in a repository's mirror: "SHA NAME\n" lines
 * (refs_parse() reads them), replaced as a whole in one transaction. */
int store_repo_refs_get(struct store *st, int64_t repo_id, struct buf *out, struct buf *err);
int store_repo_refs_set(struct store *st, int64_t repo_id, const char *text, struct buf *err);

int64_t store_job_insert(struct store *st, int64_t run_id, const char *name, struct buf *err);
int store_job_update(struct store *st, const struct store_job *j, struct buf *err);
/* The jobs of a run, in insertion order. */
int store_job_list(struct store *st, int64_t run_id, struct store_job **out, size_t *n,
                   struct buf *err);
/* Finds a job of a run by name; -ENOENT if none. */
int store_job_find(struct store *st, int64_t run_id, const char *name, struct store_job *j,
                   struct buf *err);

/*
 * A manual retry of jobs of an ended or running run, in one transaction: each
 * job of job_ids (which must belong to run_id and have ended; else -ENOENT
 * and nothing changes) goes back to "queued" with reason, keeps its attempts
 * (which become its retry_base), loses its exit code, times and artifact
 * records (its next attempt makes them again); the run is "running" again
 * with no finished_ms.
 */
int store_run_rerun(struct store *st, int64_t run_id, const int64_t *job_ids, size_t n,
                    const char *reason, struct buf *err) __attribute__((warn_unused_result));

/* For metrics: counts[i] = how many runs (jobs) are in states[i], exactly. */
int store_run_count_states(struct store *st, const char *const *states, size_t n, int64_t *counts,
                           struct buf *err) __attribute__((warn_unused_result));
int store_job_count_states(struct store *st, const char *const *states, size_t n, int64_t *counts,
                           struct buf *err) __attribute__((warn_unused_result));

int64_t store_attempt_insert(struct store *st, const struct store_attempt *a, struct buf *err);
int store_attempt_update(struct store *st, const struct store_attempt *a, struct buf *err);
int store_attempt_list(struct store *st, int64_t job_id, struct store_attempt **out, size_t *n,
                       struct buf *err);

int64_t store_artifact_insert(struct store *st, const struct store_artifact *a, struct buf *err);
int store_artifact_list(struct store *st, int64_t job_id, struct store_artifact **out, size_t *n,
                        struct buf *err);

/*
 * Marks every run still "running" (and its queued/running jobs and running
 * attempts) as "cancelled" with reason "interrupted: flywheel stopped before
 * the run finished". Called on start: after a crash or kill -9 nothing stays
 * running forever. Returns the number of runs fixed, or -1.
 */
int store_reconcile(struct store *st, struct buf *err);

void store_run_release(struct store_run *r);
void store_job_release(struct store_job *j);
void store_attempt_release(struct store_attempt *a);
void store_artifact_release(struct store_artifact *a);
void store_runs_release(struct store_run *v, size_t n);
void store_jobs_release(struct store_job *v, size_t n);
void store_attempts_release(struct store_attempt *v, size_t n);
void store_artifacts_release(struct store_artifact *v, size_t n);

/*
 * Milliseconds since the Unix epoch: the wall clock, plus the offset of
 * store_set_clock_offset() (0 unless set). Every time the server records
 * (runs, jobs, releases, deployments, incidents, the line) and every
 * decision it takes by the clock (windows, deadlines, schedules, retention)
 * comes from here, so that one offset moves them all together.
 */
int64_t store_now_ms(void);
/* Shifts store_now_ms() by ms (flywheel serve --clock-offset: tests and trials). Any thread. */
void store_set_clock_offset(int64_t ms);

#endif
