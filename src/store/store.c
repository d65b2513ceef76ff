#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "store/store_int.h"
#include "util/xalloc.h"

/*
 * The schema, one migration per entry, applied in order. Entry i brings the
 * database from user_version i to i + 1 and must end by setting
 * user_version to i + 1 (store_open checks it). Never edit an entry once it
 * has shipped: add a new one.
 *
 * Times are Unix milliseconds, 0 meaning "not yet". AUTOINCREMENT keeps ids
 * from ever being reused, since run ids name log directories and URLs.
 */
static const char *const store_migrations[] = {
    /* 1: runs, jobs, attempts, artifacts. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL,"
    "  source TEXT NOT NULL DEFAULT '',"
    "  commit_id TEXT NOT NULL DEFAULT '',"
    "  branch TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX runs_by_state ON runs (state);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  state TEXT NOT NULL DEFAULT 'queued',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    "  exit_code INTEGER NOT NULL DEFAULT -1,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (run_id, name)"
    ");"
    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    "  number INTEGER NOT NULL CHECK (number >= 1),"
    "  state TEXT NOT NULL,"
    "  exit_code INTEGER NOT NULL DEFAULT -1,"
    "  signal INTEGER NOT NULL DEFAULT 0,"
    "  log_path TEXT NOT NULL DEFAULT '',"
    "  workspace TEXT NOT NULL DEFAULT '',"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (job_id, number)"
    ");"
    "CREATE INDEX attempts_by_state ON attempts (state);"
    "CREATE TABLE artifacts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL CHECK (path <> ''),"
    "  digest TEXT NOT NULL"
    "    CHECK (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:'),"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  mode INTEGER NOT NULL,"
    "  UNIQUE (job_id, path)"
    ");"
    /* Which jobs reference a blob: for garbage collection of the CAS. */
    "CREATE INDEX artifacts_by_digest ON artifacts (digest);"
    "PRAGMA user_version = 1;",

    /*
     * 2: repositories and server runs. A local run has NULL repo_id, number
     * and retry_of (store_run gives them as 0): a REFERENCES column added by
     * ALTER TABLE must default to NULL, and NULLs never collide in the
     * UNIQUE index that makes a repository's run numbers unique.
     */
    "CREATE TABLE repos ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE CHECK (name <> ''),"
    "  url TEXT NOT NULL DEFAULT '',"
    "  main_branch TEXT NOT NULL DEFAULT 'main' CHECK (main_branch <> ''),"
    "  poll_s INTEGER NOT NULL DEFAULT 0 CHECK (poll_s >= 0),"
    "  created_ms INTEGER NOT NULL"
    ");"
    /* Apart from repos: rewritten after every fetch, read only by the poller. */
    "CREATE TABLE repo_refs ("
    "  repo_id INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,"
    "  refs TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    "ALTER TABLE runs ADD COLUMN repo_id INTEGER REFERENCES repos (id);"
    /* A server run has a number from 1, a local one none (CHECK fails on false only). */
    "ALTER TABLE runs ADD COLUMN number INTEGER"
    "  CHECK ((repo_id IS NULL) = (number IS NULL) AND coalesce(number, 1) >= 1);"
    "ALTER TABLE runs ADD COLUMN ref TEXT NOT NULL DEFAULT '';"
    /* "trigger" is an SQL keyword. */
    "ALTER TABLE runs ADD COLUMN triggered_by TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN retry_of INTEGER REFERENCES runs (id);"
    "CREATE UNIQUE INDEX runs_by_repo_number ON runs (repo_id, number)"
    "  WHERE repo_id IS NOT NULL;"
    /* For store_run_query: each gives its rows in id order for one value. */
    "CREATE INDEX runs_by_repo ON runs (repo_id) WHERE repo_id IS NOT NULL;"
    "CREATE INDEX runs_by_repo_ref ON runs (repo_id, ref) WHERE repo_id IS NOT NULL;"
    "CREATE INDEX runs_by_ref ON runs (ref);"
    "CREATE INDEX runs_by_kind ON runs (kind);"
    /* The foreign key's child index: deleting a run looks up its retries. */
    "CREATE INDEX runs_by_retry ON runs (retry_of) WHERE retry_of IS NOT NULL;"
    "PRAGMA user_version = 2;",

    /*
     * 3: releases. A release belongs to the run that made it and goes with
     * it, unless an environment has run it (deployed_ms > 0): retention keeps
     * those runs. bad_reason is NULL for a good release. A main or tag run
     * whose pipeline makes releases carries release_pending = 1 from its
     * start until its release is made (or the run ended without one), so a
     * release is never lost between the run's end and its creation.
     */
    "CREATE TABLE releases ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  number INTEGER NOT NULL CHECK (number >= 1),"
    "  version TEXT NOT NULL CHECK (version <> ''),"
    "  run_id INTEGER NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,"
    "  commit_id TEXT NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  pipeline_digest TEXT NOT NULL,"
    "  provenance TEXT NOT NULL,"
    "  pipeline TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  deployed_ms INTEGER NOT NULL DEFAULT 0,"
    "  bad_reason TEXT,"
    "  bad_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (repo_id, number),"
    "  UNIQUE (repo_id, version)"
    ");"
    "CREATE TABLE release_files ("
    "  release_id INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL CHECK (path <> ''),"
    "  digest TEXT NOT NULL"
    "    CHECK (length(digest) = 71 AND substr(digest, 1, 7) = 'sha256:'),"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  mode INTEGER NOT NULL,"
    "  PRIMARY KEY (release_id, path)"
    ") WITHOUT ROWID;"
    "CREATE INDEX release_files_by_digest ON release_files (digest);"
    "ALTER TABLE runs ADD COLUMN release_pending INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX runs_release_pending ON runs (id) WHERE release_pending <> 0;"
    "PRAGMA user_version = 3;",

    /*
     * 4: deployments. At most one deployment per environment is in an active
     * state: the partial unique index is the lock, taken and released by the
     * UPDATE that changes the state. Steps are the commands run on targets;
     * targets say what runs where and what last succeeded there.
     */
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  env TEXT NOT NULL CHECK (env <> ''),"
    "  release_id INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),"
    "  rollback_of INTEGER REFERENCES deployments (id),"
    "  state TEXT NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  wave INTEGER NOT NULL DEFAULT 0,"
    "  actor TEXT NOT NULL DEFAULT '',"
    "  approved_by TEXT NOT NULL DEFAULT '',"
    "  approval_note TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  phase_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX deployments_one_active ON deployments (repo_id, env)"
    "  WHERE state IN ('approval', 'deploying', 'baking', 'monitoring', 'paused');"
    "CREATE INDEX deployments_by_repo ON deployments (repo_id, env);"
    "CREATE INDEX deployments_by_release ON deployments (release_id);"
    "CREATE INDEX deployments_by_rollback ON deployments (rollback_of)"
    "  WHERE rollback_of IS NOT NULL;"
    "CREATE INDEX deployments_unfinished ON deployments (state)"
    "  WHERE state IN ('queued', 'approval', 'deploying', 'baking', 'monitoring', 'paused');"
    "CREATE TABLE deploy_steps ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,"
    "  target TEXT NOT NULL,"
    "  wave INTEGER NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases (id),"
    "  prev_release_id INTEGER REFERENCES releases (id),"
    "  state TEXT NOT NULL,"
    "  exit_code INTEGER NOT NULL DEFAULT -1,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  log_path TEXT NOT NULL DEFAULT '',"
    "  pid INTEGER NOT NULL DEFAULT 0,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX deploy_steps_by_deployment ON deploy_steps (deployment_id);"
    "CREATE TABLE targets ("
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  env TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  release_id INTEGER REFERENCES releases (id),"
    "  good_release_id INTEGER REFERENCES releases (id),"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, env, target)"
    ") WITHOUT ROWID;"
    "CREATE TABLE measurements ("
    "  deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,"
    "  wave INTEGER NOT NULL,"
    "  phase TEXT NOT NULL,"
    "  check_name TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  value REAL,"
    "  message TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX measurements_by_deployment ON measurements (deployment_id);"
    "CREATE TABLE lines ("
    "  repo_id INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,"
    "  stopped INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  since_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE line_events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  action TEXT NOT NULL CHECK (action IN ('stop', 'resume')),"
    "  reason TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE incidents ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  env TEXT NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases (id),"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments (id),"
    "  reason TEXT NOT NULL,"
    "  opened_ms INTEGER NOT NULL,"
    "  closed_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX incidents_open ON incidents (repo_id, env) WHERE closed_ms = 0;"
    "PRAGMA user_version = 4;",

    /*
     * 5: manual retries of jobs. retry_base is the number of attempts a job
     * had when it was last put back in the queue by hand: its `retries`
     * count from there. jobs_by_state serves the metrics' counts.
     */
    "ALTER TABLE jobs ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0"
    "  CHECK (retry_base >= 0);"
    "CREATE INDEX jobs_by_state ON jobs (state);"
    "PRAGMA user_version = 5;",

    /*
     * 6: the DORA measures (store_dora_load) read an environment's
     * deployments by when they finished and its incidents by when they
     * opened or by the deployment that opened them, over a period.
     */
    "CREATE INDEX deployments_by_finish ON deployments (repo_id, env, finished_ms);"
    "CREATE INDEX incidents_by_opening ON incidents (repo_id, env, opened_ms);"
    "CREATE INDEX incidents_by_deployment ON incidents (deployment_id);"
    "PRAGMA user_version = 6;",

    /*
     * 7: a run of a change from another repository (a forge's pull request
     * from a fork) is untrusted: it gets no secrets. Set when the run is
     * made; a retry keeps it.
     */
    "ALTER TABLE runs ADD COLUMN fork INTEGER NOT NULL DEFAULT 0 CHECK (fork IN (0, 1));"
    "PRAGMA user_version = 7;",

    /*
     * 8: API tokens and the audit log. A token is kept as the SHA-256 of
     * its secret; a revoked one stays (revoked_ms) so that the audit's
     * names keep their meaning. The audit log is append-only: triggers
     * refuse every UPDATE and DELETE, whoever tries.
     */
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  role TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'deployer', 'admin')),"
    "  hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),"
    "  created_ms INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL DEFAULT '',"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0,"
    "  used_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_ms = 0;"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  peer TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX audit_by_actor ON audit (actor, id);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "PRAGMA user_version = 8;",

    /*
     * 9: forges (store/forge.h). forge_deliveries holds the delivery ids of
     * the webhooks a forge sent, so that a redelivery does nothing: one row
     * per (repository, forge, id), deleted when older than the bound.
     * forge_statuses is the outbox of commit statuses: a row per run of a
     * repository in forge_status_repos (the repositories whose forge gets
     * statuses), made by the trigger in the transaction that inserts the
     * run, and marked due (next_try_ms = 1) by the trigger in the one that
     * changes its state. So a state change is never lost between the change
     * and its delivery, whatever stops the server. gen counts the changes:
     * a delivery clears the mark only if no change came since it read the
     * run. sent is the forge's state the forge last accepted.
     */
    "CREATE TABLE forge_deliveries ("
    "  id INTEGER PRIMARY KEY,"
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  forge TEXT NOT NULL,"
    "  delivery TEXT NOT NULL,"
    "  received_ms INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX forge_deliveries_unique ON forge_deliveries (repo_id, forge, delivery);"
    "CREATE INDEX forge_deliveries_by_age ON forge_deliveries (received_ms);"
    "CREATE TABLE forge_status_repos ("
    "  repo_id INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE"
    ");"
    "CREATE TABLE forge_statuses ("
    "  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,"
    "  sent TEXT NOT NULL DEFAULT '',"
    "  gen INTEGER NOT NULL DEFAULT 1,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_try_ms INTEGER NOT NULL DEFAULT 1,"
    "  error TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX forge_statuses_due ON forge_statuses (next_try_ms) WHERE next_try_ms > 0;"
    "CREATE TRIGGER forge_status_new AFTER INSERT ON runs"
    "  WHEN NEW.repo_id IN (SELECT repo_id FROM forge_status_repos)"
    "  BEGIN INSERT INTO forge_statuses (run_id) VALUES (NEW.id); END;"
    "CREATE TRIGGER forge_status_change AFTER UPDATE OF state ON runs"
    "  WHEN OLD.state IS NOT NEW.state"
    "  BEGIN UPDATE forge_statuses SET gen = gen + 1, attempts = 0, next_try_ms = 1"
    "    WHERE run_id = NEW.id; END;"
    "PRAGMA user_version = 9;",

    /*
     * 10: a repository's secrets (store/secret.h), sealed with the key in
     * DATA/secrets.key: the nonce and the ciphertext with its tag, never the
     * value. Who set it last, and when.
     */
    "CREATE TABLE secrets ("
    "  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  ciphertext BLOB NOT NULL,"
    "  nonce BLOB NOT NULL CHECK (length(nonce) = 12),"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  set_by TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (repo_id, name)"
    ") WITHOUT ROWID;"
    "PRAGMA user_version = 10;",

    /*
     * 11: the measures of the loop (docs/metrics.md).
     *
     * A run records the times of its change when it is first prepared
     * (0: not known, as for the runs from before): commit_ms, the committer
     * time of its commit; first_commit_ms, the author time of the oldest
     * commit of its change (a main or tag run's change is the commits its
     * commit reaches and the commit of the repository's previous run of the
     * same kind does not; any other run's is its commit alone); pushed_ms,
     * when the server first saw the commit on the ref (the creation of the
     * first run of that ref and commit, which a retry keeps). run_commits
     * holds the commits of a main or tag run's change (at most 1000), and
     * change_run_id the latest change run of one of them made before it (0:
     * none): the checks of the change that became a release (no
     * REFERENCES: retention may delete that run, not the release's).
     *
     * A deployment says why it waits (wait: '' for its turn, 'line',
     * 'window', 'health' while the environment's checks fail, 'decision'
     * when paused for a person), and every change of its state, wave or
     * wait is kept in deploy_events with its time, numbered from 1 per
     * deployment (seq), clustered by deployment (a deployment's history is
     * one read): the triggers write them in the same statement as the
     * change, whoever makes it. An update's time is the row's latest:
     * phase_ms (set at each change) or finished_ms (an end that does not
     * set phase_ms: a superseded one).
     *
     * The indexes keep the measures' reads off full scans: failed runs by
     * the time they ended, runs by commit, releases by creation, rollbacks
     * and failed deployments of a repository, attempts by state and end.
     */
    "ALTER TABLE runs ADD COLUMN commit_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN first_commit_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN pushed_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN change_run_id INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE run_commits ("
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  commit_id TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, commit_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX runs_by_commit ON runs (repo_id, commit_id, kind) WHERE repo_id IS NOT NULL;"
    "CREATE INDEX runs_failed ON runs (repo_id, finished_ms) WHERE state = 'failed';"
    "CREATE INDEX attempts_by_end ON attempts (state, finished_ms, job_id, number);"
    "CREATE INDEX releases_by_creation ON releases (repo_id, created_ms);"
    "ALTER TABLE deployments ADD COLUMN wait TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX deployments_rollbacks ON deployments (repo_id, created_ms)"
    "  WHERE kind = 'rollback';"
    "CREATE INDEX deployments_failed ON deployments (repo_id, finished_ms)"
    "  WHERE kind = 'deploy' AND state IN ('failed', 'cancelled');"
    "CREATE TABLE deploy_events ("
    "  deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL CHECK (seq >= 1),"
    "  state TEXT NOT NULL,"
    "  wave INTEGER NOT NULL,"
    "  wait TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (deployment_id, seq)"
    ") WITHOUT ROWID;"
    "CREATE TRIGGER deploy_events_insert AFTER INSERT ON deployments BEGIN"
    "  INSERT INTO deploy_events (deployment_id, seq, state, wave, wait, time_ms)"
    "  VALUES (new.id, 1, new.state, new.wave, new.wait, new.created_ms);"
    " END;"
    "CREATE TRIGGER deploy_events_update AFTER UPDATE OF state, wave, wait ON deployments"
    "  WHEN new.state <> old.state OR new.wave <> old.wave OR new.wait <> old.wait BEGIN"
    "  INSERT INTO deploy_events (deployment_id, seq, state, wave, wait, time_ms)"
    "  VALUES (new.id, (SELECT coalesce(max(seq), 0) + 1 FROM deploy_events"
    "   WHERE deployment_id = new.id), new.state, new.wave, new.wait,"
    "   max(new.phase_ms, new.finished_ms));"
    " END;"
    "PRAGMA user_version = 11;",
    /* 12: when a commit first reached a ref, without a walk of its runs */
    "CREATE INDEX runs_by_push ON runs (repo_id, commit_id, ref, created_ms)"
    "  WHERE repo_id IS NOT NULL;"
    "PRAGMA user_version = 12;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

#define STORE_INTERRUPTED "interrupted: flywheel stopped before the run finished"

enum store_stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_USER_VERSION,
    S_RUN_INSERT,
    S_RUN_UPDATE,
    S_RUN_SET_STATE,
    S_RUNS_WAITING,
    S_RUN_GET,
    S_RUN_LIST,
    S_RUN_LATEST,
    S_RUN_NEXT_NUMBER,
    S_RUN_FIND,
    S_REPO_INSERT,
    S_REPO_UPDATE,
    S_REPO_GET,
    S_REPO_GET_ID,
    S_REPO_LIST,
    S_REFS_GET,
    S_REFS_SET,
    S_JOB_INSERT,
    S_JOB_UPDATE,
    S_JOB_LIST,
    S_JOB_FIND,
    S_ATTEMPT_INSERT,
    S_ATTEMPT_UPDATE,
    S_ATTEMPT_LIST,
    S_ARTIFACT_INSERT,
    S_ARTIFACT_LIST,
    S_RECONCILE_ATTEMPTS,
    S_RECONCILE_JOBS,
    S_RECONCILE_RUNS,
    S_RUN_UNLINK_RETRIES,
    S_RUN_DELETE,
    S_DIGEST_USED,
    S_RERUN_JOB,
    S_RERUN_ARTIFACTS,
    S_RERUN_RUN,
    S_RUN_STATES,
    S_JOB_STATES,
    S_RUN_SET_CHANGE,
    S_RUN_COMMIT_ADD,
    S_RUN_BASE,
    S_RUN_PUSHED,
    S_RUN_SAME_CHANGE,
    S_RUN_COMMITS_COPY,
    S_RUN_CHANGE_RUN,
    S_COUNT
};

#define RUN_COLS                                                                                   \
    "id, kind, source, commit_id, branch, state, created_ms, started_ms, finished_ms,"             \
    " repo_id, number, ref, triggered_by, retry_of, fork, commit_ms, first_commit_ms, pushed_ms"
#define REPO_COLS "id, name, url, main_branch, poll_s, created_ms"
#define JOB_COLS                                                                                   \
    "id, run_id, name, state, reason, attempts, exit_code, started_ms, finished_ms, retry_base"
#define ATTEMPT_COLS                                                                               \
    "id, job_id, number, state, exit_code, signal, log_path, workspace, started_ms, finished_ms"
#define ARTIFACT_COLS "id, job_id, path, digest, size, mode"

/* Every value is a bound parameter; the SQL text is constant. */
static const char *const store_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* Inside a batch, the writes made of several statements nest as savepoints. */
    [S_SAVEPOINT] = "SAVEPOINT inner",
    [S_RELEASE] = "RELEASE inner",
    [S_ROLLBACK_TO] = "ROLLBACK TO inner",
    [S_USER_VERSION] = "PRAGMA user_version",
    [S_RUN_INSERT] = "INSERT INTO runs (kind, source, commit_id, branch, state, created_ms,"
                     " started_ms, finished_ms, repo_id, number, ref, triggered_by, retry_of, fork)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    /* created_ms, repo_id and number name the run: they never change. */
    [S_RUN_UPDATE] = "UPDATE runs SET kind = ?2, source = ?3, commit_id = ?4, branch = ?5,"
                     " state = ?6, started_ms = ?7, finished_ms = ?8, ref = ?9,"
                     " triggered_by = ?10, retry_of = ?11 WHERE id = ?1",
    [S_RUN_SET_STATE] =
        "UPDATE runs SET state = ?2, started_ms = ?3, finished_ms = ?4 WHERE id = ?1",
    [S_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
    [S_RUN_LIST] = "SELECT " RUN_COLS " FROM runs ORDER BY id DESC LIMIT ?1",
    /* runs_by_state, from after ?1 (states written in: see query_states) */
    [S_RUNS_WAITING] = "SELECT " RUN_COLS " FROM runs WHERE state IN ('queued', 'running')"
                       " AND id > ?1 ORDER BY id LIMIT ?2",
    [S_RUN_LATEST] = "SELECT id FROM runs ORDER BY id DESC LIMIT 1",
    [S_RUN_NEXT_NUMBER] = "SELECT coalesce(max(number), 0) + 1 FROM runs WHERE repo_id = ?1",
    [S_RUN_FIND] = "SELECT " RUN_COLS " FROM runs WHERE repo_id = ?1 AND number = ?2",
    [S_REPO_INSERT] = "INSERT INTO repos (name, url, main_branch, poll_s, created_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_REPO_UPDATE] = "UPDATE repos SET name = ?2, url = ?3, main_branch = ?4, poll_s = ?5"
                      " WHERE id = ?1",
    [S_REPO_GET] = "SELECT " REPO_COLS " FROM repos WHERE name = ?1",
    [S_REPO_GET_ID] = "SELECT " REPO_COLS " FROM repos WHERE id = ?1",
    [S_REPO_LIST] = "SELECT " REPO_COLS " FROM repos ORDER BY name",
    /* A row with NULL refs: the repository exists but no refs were stored yet. */
    [S_REFS_GET] = "SELECT f.refs FROM repos AS r LEFT JOIN repo_refs AS f ON f.repo_id = r.id"
                   " WHERE r.id = ?1",
    [S_REFS_SET] = "INSERT INTO repo_refs (repo_id, refs, updated_ms) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (repo_id) DO UPDATE SET refs = excluded.refs,"
                   " updated_ms = excluded.updated_ms",
    [S_RUN_UNLINK_RETRIES] = "UPDATE runs SET retry_of = NULL WHERE retry_of = ?1",
    /* Never a run in progress: a retry of its jobs may have reopened it since it was listed. */
    [S_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1 AND state NOT IN ('queued', 'running')",
    [S_DIGEST_USED] = "SELECT 1 FROM artifacts WHERE digest = ?1"
                      " UNION ALL SELECT 1 FROM release_files WHERE digest = ?1 LIMIT 1",
    [S_JOB_INSERT] = "INSERT INTO jobs (run_id, name) VALUES (?1, ?2)",
    [S_JOB_UPDATE] = "UPDATE jobs SET state = ?2, reason = ?3, attempts = ?4, exit_code = ?5,"
                     " started_ms = ?6, finished_ms = ?7 WHERE id = ?1",
    [S_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs WHERE run_id = ?1 ORDER BY id",
    [S_JOB_FIND] = "SELECT " JOB_COLS " FROM jobs WHERE run_id = ?1 AND name = ?2",
    [S_ATTEMPT_INSERT] = "INSERT INTO attempts (job_id, number, state, exit_code, signal,"
                         " log_path, workspace, started_ms, finished_ms)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_ATTEMPT_UPDATE] = "UPDATE attempts SET state = ?2, exit_code = ?3, signal = ?4,"
                         " log_path = ?5, workspace = ?6, started_ms = ?7, finished_ms = ?8"
                         " WHERE id = ?1",
    [S_ATTEMPT_LIST] =
        "SELECT " ATTEMPT_COLS " FROM attempts WHERE job_id = ?1 ORDER BY number, id",
    /* A job retried after storing an artifact stores it again: the newest wins. */
    [S_ARTIFACT_INSERT] = "INSERT OR REPLACE INTO artifacts (job_id, path, digest, size, mode)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_ARTIFACT_LIST] = "SELECT " ARTIFACT_COLS " FROM artifacts WHERE job_id = ?1 ORDER BY path",
    [S_RECONCILE_ATTEMPTS] = "UPDATE attempts SET state = 'cancelled',"
                             " finished_ms = CASE WHEN finished_ms = 0 THEN ?1 ELSE finished_ms END"
                             " WHERE state = 'running' AND job_id IN (SELECT jobs.id FROM jobs"
                             " JOIN runs ON runs.id = jobs.run_id WHERE runs.state = 'running')",
    [S_RECONCILE_JOBS] = "UPDATE jobs SET state = 'cancelled', reason = ?2,"
                         " finished_ms = CASE WHEN finished_ms = 0 THEN ?1 ELSE finished_ms END"
                         " WHERE state IN ('queued', 'running')"
                         " AND run_id IN (SELECT id FROM runs WHERE state = 'running')",
    /* A job of run ?3 back in the queue: it keeps its attempts, retries count from them. */
    [S_RERUN_JOB] = "UPDATE jobs SET state = 'queued', reason = ?2, retry_base = attempts,"
                    " exit_code = -1, started_ms = 0, finished_ms = 0"
                    " WHERE id = ?1 AND run_id = ?3 AND state NOT IN ('queued', 'running')",
    [S_RERUN_ARTIFACTS] = "DELETE FROM artifacts WHERE job_id = ?1",
    [S_RERUN_RUN] = "UPDATE runs SET state = 'running', finished_ms = 0,"
                    " started_ms = CASE WHEN started_ms = 0 THEN ?2 ELSE started_ms END"
                    " WHERE id = ?1",
    [S_RUN_STATES] = "SELECT state, count(*) FROM runs GROUP BY state",
    [S_JOB_STATES] = "SELECT state, count(*) FROM jobs GROUP BY state",
    [S_RUN_SET_CHANGE] = "UPDATE runs SET commit_ms = ?2, first_commit_ms = ?3, pushed_ms = ?4"
                         " WHERE id = ?1",
    [S_RUN_COMMIT_ADD] = "INSERT OR IGNORE INTO run_commits (run_id, commit_id) VALUES (?1, ?2)",
    /* runs_by_repo, newest first: the first earlier run of the kind with another commit */
    [S_RUN_BASE] = "SELECT commit_id FROM runs WHERE repo_id = ?1 AND id < ?2 AND kind = ?3"
                   " AND commit_id <> ?4 AND commit_id <> '' ORDER BY id DESC LIMIT 1",
    /* runs_by_push */
    [S_RUN_PUSHED] = "SELECT min(created_ms) FROM runs WHERE repo_id = ?1 AND commit_id = ?2"
                     " AND ref = ?3 AND id <= ?4",
    /* runs_by_commit: the latest earlier run of the commit and kind that knows its change */
    [S_RUN_SAME_CHANGE] = "SELECT id, commit_ms, first_commit_ms FROM runs WHERE repo_id = ?1"
                          " AND commit_id = ?2 AND kind = ?3 AND id < ?4 AND commit_ms > 0"
                          " ORDER BY id DESC LIMIT 1",
    [S_RUN_COMMITS_COPY] = "INSERT OR IGNORE INTO run_commits (run_id, commit_id)"
                           " SELECT ?1, commit_id FROM run_commits WHERE run_id = ?2",
    /* run_commits, then runs_by_commit for each commit (CROSS JOIN keeps that order, where
     * SQLite would rather walk all the runs) */
    [S_RUN_CHANGE_RUN] = "UPDATE runs SET change_run_id = coalesce((SELECT max(x.id)"
                         " FROM run_commits rc CROSS JOIN runs x ON x.repo_id = runs.repo_id"
                         " AND x.commit_id = rc.commit_id WHERE rc.run_id = runs.id"
                         " AND x.kind = 'change' AND x.id < runs.id), 0) WHERE id = ?1",
    [S_RECONCILE_RUNS] = "UPDATE runs SET state = 'cancelled',"
                         " finished_ms = CASE WHEN finished_ms = 0 THEN ?1 ELSE finished_ms END"
                         " WHERE state = 'running'",
};

/*
 * store_run_query builds its SQL from these constant pieces, one per filter
 * in use, so that each combination can use its index; the values are bound.
 */
enum query_filter {
    Q_REPO = 1 << 0,
    Q_BRANCH = 1 << 1,
    Q_KIND = 1 << 2,
    Q_STATE = 1 << 3,
    Q_BEFORE = 1 << 4,
};
#define QUERY_COMBINATIONS (1 << 5)

static const struct {
    enum query_filter flag;
    const char *sql;
} query_where[] = {
    {Q_REPO, " AND repo_id = ?1"},                /* runs_by_repo */
    {Q_BRANCH, " AND ref = 'refs/heads/' || ?2"}, /* runs_by_ref, runs_by_repo_ref */
    {Q_KIND, " AND kind = ?3"},                   /* runs_by_kind */
    {Q_STATE, " AND state = ?4"},                 /* runs_by_state */
    {Q_BEFORE, " AND id < ?5"},                   /* the rowid */
};
#define QUERY_LIMIT_DEFAULT 50
#define QUERY_LIMIT_MAX     1000
/*
 * The states a run is in. A state filter with one of them is written into
 * its statement's text: a parameter compared with state makes SQLite
 * prepare the statement again whenever its value changes (the partial
 * index runs_failed depends on it), as when lists of runs in one state and
 * then another are asked for in turn.
 */
static const char *const query_states[] = {"queued",    "running",     "passed", "failed",
                                           "cancelled", "interrupted", "skipped"};
#define QUERY_STATES (sizeof(query_states) / sizeof(query_states[0]))

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[S_COUNT]; /* prepared on first use, kept until close */
    /* store_run_query's statements, one per set of filters (enum query_filter). */
    sqlite3_stmt *query[QUERY_COMBINATIONS];
    /* those with a state filter of query_states[i] written in, at [mask][i] */
    sqlite3_stmt *query_state[QUERY_COMBINATIONS][QUERY_STATES];
    bool batch; /* a transaction of store_batch_begin() is open */
    /* store_exec's statements, by the address of their (constant) SQL text */
    struct {
        const char *sql;
        sqlite3_stmt *s;
    } exec[STORE_EXEC_CACHE];
    size_t nexec;
};

/* Added to the wall clock by store_now_ms(); set once, read by every thread. */
static int64_t clock_offset_ms;

void store_set_clock_offset(int64_t ms)
{
    __atomic_store_n(&clock_offset_ms, ms, __ATOMIC_RELAXED);
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           __atomic_load_n(&clock_offset_ms, __ATOMIC_RELAXED);
}

/* A negative errno-style code for an SQLite result code. */
static int store_code(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
        return -EINVAL;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: {
        int e = db ? sqlite3_system_errno(db) : 0;
        return e > 0 ? -e : -EIO;
    }
    default:
        return -EIO;
    }
}

/*
 * Appends "store: <context>: <sqlite message>" to err and returns the code
 * for rc. Call it right after the failing call, before anything else touches
 * the connection, so that the message is the one that explains rc.
 */
int store_fail(struct store *st, int rc, struct buf *err, const char *fmt, ...)
{
    va_list ap;
    buf_adds(err, "store: ");
    va_start(ap, fmt);
    buf_vaddf(err, fmt, ap);
    va_end(ap);
    buf_addf(err, ": %s", sqlite3_errmsg(st->db));
    return store_code(st->db, rc);
}

static sqlite3_stmt *store_stmt(struct store *st, enum store_stmt id, struct buf *err)
{
    if (!st->stmt[id]) {
        int rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            store_fail(st, rc, err, "cannot prepare \"%s\"", store_sql[id]);
            sqlite3_finalize(st->stmt[id]);
            st->stmt[id] = NULL;
        }
    }
    return st->stmt[id];
}

/* Makes s ready for its next use and drops the bound (borrowed) strings. */
static void store_stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/*
 * Binding: rc chaining as in SQLite itself. The first failure is kept and
 * the later binds are skipped. Strings are bound SQLITE_STATIC: they are the
 * caller's and outlive the statement's use (store_stmt_done clears them).
 * A NULL string is stored as "" (every text column is NOT NULL).
 */
static void bind_text(sqlite3_stmt *s, int i, const char *v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *s, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(s, i, v);
}

/* An id column: 0 (none) is stored as NULL, which is what a REFERENCES column allows. */
static void bind_id(sqlite3_stmt *s, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

static char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

/*
 * Runs a statement that returns no rows (an INSERT, UPDATE or transaction
 * control). Returns 0 or a negative code with the reason in err; s is reset.
 */
static int store_exec_stmt(struct store *st, sqlite3_stmt *s, int brc, struct buf *err,
                           const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = store_fail(st, rc, err, "%s", what);
    store_stmt_done(s);
    return ret;
}

/* Transactions for the writes made of several statements: a savepoint when
 * they happen inside a batch, so that a failure undoes them alone. */
int store_begin(struct store *st, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, st->batch ? S_SAVEPOINT : S_BEGIN, err);
    if (!s)
        return -EIO;
    return store_exec_stmt(st, s, SQLITE_OK, err, "cannot begin a transaction");
}

int store_commit(struct store *st, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, st->batch ? S_RELEASE : S_COMMIT, err);
    if (!s)
        return -EIO;
    return store_exec_stmt(st, s, SQLITE_OK, err, "cannot commit");
}

void store_rollback(struct store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return; /* SQLite already rolled back (after an I/O error, for example) */
    struct buf ignored = BUF_INIT;
    if (st->batch) {
        sqlite3_stmt *s = store_stmt(st, S_ROLLBACK_TO, &ignored);
        if (s && !store_exec_stmt(st, s, SQLITE_OK, &ignored, "rollback to"))
            s = store_stmt(st, S_RELEASE, &ignored);
        if (s && store_exec_stmt(st, s, SQLITE_OK, &ignored, "release")) {
            /* Nothing more to do: the caller is reporting the first error. */
        }
        buf_release(&ignored);
        return;
    }
    sqlite3_stmt *s = store_stmt(st, S_ROLLBACK, &ignored);
    if (s && store_exec_stmt(st, s, SQLITE_OK, &ignored, "rollback")) {
        /* Nothing more to do: the caller is reporting the first error. */
    }
    buf_release(&ignored);
}

int store_batch_begin(struct store *st, struct buf *err)
{
    if (st->batch) {
        buf_adds(err, "store: a batch is already open");
        return -EBUSY;
    }
    sqlite3_stmt *s = store_stmt(st, S_BEGIN, err);
    if (!s)
        return -EIO;
    int rc = store_exec_stmt(st, s, SQLITE_OK, err, "cannot begin a batch");
    if (!rc)
        st->batch = true;
    return rc;
}

int store_batch_commit(struct store *st, struct buf *err)
{
    if (!st->batch)
        return 0;
    st->batch = false;
    if (sqlite3_get_autocommit(st->db)) {
        /* SQLite rolled the transaction back itself (an I/O error, a full disk). */
        buf_adds(err, "store: the batch was rolled back after an error");
        return -EIO;
    }
    sqlite3_stmt *s = store_stmt(st, S_COMMIT, err);
    if (!s) {
        store_rollback(st);
        return -EIO;
    }
    int rc = store_exec_stmt(st, s, SQLITE_OK, err, "cannot commit a batch");
    if (rc)
        store_rollback(st);
    return rc;
}

bool store_in_batch(const struct store *st)
{
    return st->batch;
}

/* Runs constant SQL text (no values in it) whose rows, if any, do not matter. */
static int store_exec_sql(struct store *st, const char *sql, struct buf *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    buf_addf(err, "store: %s: \"%s\" failed: %s", st->path, sql, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return store_code(st->db, rc);
}

/* Runs a one-off statement of constant text returning one text or integer row. */
static int store_pragma(struct store *st, const char *sql, struct buf *out_text, int64_t *out_int,
                        struct buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    int ret = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            buf_addf(err, "store: \"%s\" returned nothing", sql);
        else
            ret = store_fail(st, rc, err, "\"%s\" failed", sql);
        ret = ret ? ret : -EIO;
        goto out;
    }
    if (out_text) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        buf_adds(out_text, t ? (const char *)t : "");
    }
    if (out_int)
        *out_int = sqlite3_column_int64(s, 0);
out:
    sqlite3_finalize(s);
    return ret;
}

static int store_user_version(struct store *st, int64_t *v, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_USER_VERSION, err);
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(s, 0);
    else
        ret = store_fail(st, rc, err, "cannot read the schema version");
    store_stmt_done(s);
    return ret;
}

/*
 * Applies the migrations the database lacks, each in its own transaction.
 * The version is read again inside the transaction: another process opening
 * the same file at the same time may have migrated it meanwhile.
 */
static int store_migrate(struct store *st, struct buf *err)
{
    int64_t v;
    int ret = store_user_version(st, &v, err);
    if (ret)
        return ret;
    if (v > STORE_SCHEMA_VERSION) {
        buf_addf(err,
                 "store: %s has schema version %lld, newer than this flywheel knows (%d);"
                 " use a newer flywheel",
                 st->path, (long long)v, STORE_SCHEMA_VERSION);
        return -EPROTO;
    }
    for (int i = 0; i < STORE_SCHEMA_VERSION; i++) {
        if (v >= i + 1)
            continue;
        ret = store_begin(st, err);
        if (ret)
            return ret;
        ret = store_user_version(st, &v, err);
        if (ret)
            goto fail;
        if (v >= i + 1) {
            ret = store_commit(st, err);
            if (ret)
                goto fail;
            continue;
        }
        char *msg = NULL;
        int rc = sqlite3_exec(st->db, store_migrations[i], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            buf_addf(err, "store: migration to schema version %d failed: %s", i + 1,
                     msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            ret = store_code(st->db, rc);
            goto fail;
        }
        ret = store_user_version(st, &v, err);
        if (ret)
            goto fail;
        if (v != i + 1) {
            buf_addf(err, "store: migration %d left user_version at %lld", i + 1, (long long)v);
            ret = -EPROTO;
            goto fail;
        }
        ret = store_commit(st, err);
        if (ret)
            goto fail;
    }
    return 0;
fail:
    store_rollback(st);
    return ret;
}

/*
 * SQLite's own message for a missing directory is "unable to open database
 * file"; say which directory instead. The caller creates it.
 */
static int store_check_dir(const char *path, struct buf *err)
{
    if (!strcmp(path, ":memory:") || !*path || !strncmp(path, "file:", 5))
        return 0;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    char *dir = slash == path ? xstrdup("/") : xmemdupz(path, (size_t)(slash - path));
    struct stat sb;
    int ret = 0;
    if (stat(dir, &sb)) {
        ret = -errno;
        if (errno == ENOENT)
            buf_addf(err, "store: cannot open %s: directory %s does not exist", path, dir);
        else
            buf_addf(err, "store: cannot open %s: %s: %s", path, dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        buf_addf(err, "store: cannot open %s: %s is not a directory", path, dir);
        ret = -ENOTDIR;
    }
    free(dir);
    return ret;
}

/*
 * Waiting for another connection's write lock (the API threads and the
 * engine write to the same database): up to 5 s, as sqlite3_busy_timeout
 * would, but with short naps first. Those transactions last tens of
 * microseconds; SQLite's own schedule naps a whole millisecond at once,
 * which a run's way from queued to started felt at each clash.
 */
#define BUSY_MAX_US 5000000
static int busy_wait(void *ctx, int n)
{
    static const int naps_us[] = {20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 25000, 50000};
    const int nnaps = (int)(sizeof(naps_us) / sizeof(naps_us[0]));
    int64_t waited = 0;
    (void)ctx;
    for (int i = 0; i < n && i < nnaps; i++)
        waited += naps_us[i];
    if (n > nnaps)
        waited += (int64_t)(n - nnaps) * 100000;
    if (waited >= BUSY_MAX_US)
        return 0;
    struct timespec ts = {0, (long)(n < nnaps ? naps_us[n] : 100000) * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

/*
 * Pages of log between automatic checkpoints: SQLite's default is 1000.
 * A run writes about 34, and each checkpoint costs two fdatasync calls and
 * the copy of the pages on the writer's thread: at 1000, the server paid
 * one every 30 runs. The log grows to about 33 MB.
 */
#define STORE_CHECKPOINT 8000

int store_open(struct store **out, const char *path, struct buf *err)
{
    struct store *st = xcalloc(1, sizeof(*st));
    struct buf mode = BUF_INIT;
    int64_t fk = 0;
    int rc, ret;

    *out = NULL;
    st->path = xstrdup(path);
    ret = store_check_dir(path, err);
    if (ret)
        goto out;
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db)
            ret = store_fail(st, rc, err, "cannot open %s", path);
        else {
            buf_addf(err, "store: cannot open %s: %s", path, sqlite3_errstr(rc));
            ret = -ENOMEM;
        }
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    rc = sqlite3_busy_handler(st->db, busy_wait, NULL);
    if (rc != SQLITE_OK) {
        ret = store_fail(st, rc, err, "%s: cannot set the busy timeout", path);
        goto out;
    }
    /* journal_mode answers with the mode in effect, which is not always the one asked for. */
    ret = store_pragma(st, "PRAGMA journal_mode = WAL", &mode, NULL, err);
    if (ret)
        goto out;
    if (strcmp(mode.data, "wal") && strcmp(mode.data, "memory")) {
        buf_addf(err, "store: %s: cannot use write-ahead logging (journal mode is %s)", path,
                 mode.data);
        ret = -ENOTSUP;
        goto out;
    }
    {
        /*
         * The write-ahead log stays between processes: closing neither
         * checkpoints it (the next checkpoint, automatic at STORE_CHECKPOINT
         * pages, or a later open, does) nor deletes it, so that a short `flywheel run`
         * does not pay a checkpoint, an fsync and the log's removal and
         * creation every time. Nothing committed is lost by a crash: the
         * log is read back at the next open; as with synchronous=NORMAL, a
         * power loss may lose the last commits.
         */
        int persist = 1;
        sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    }
    sqlite3_wal_autocheckpoint(st->db, STORE_CHECKPOINT);
    ret = store_exec_sql(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err);
    if (ret)
        goto out;
    ret = store_pragma(st, "PRAGMA foreign_keys", NULL, &fk, err);
    if (ret)
        goto out;
    if (fk != 1) {
        buf_addf(err, "store: this SQLite cannot enforce foreign keys");
        ret = -ENOTSUP;
        goto out;
    }
    ret = store_migrate(st, err);
    if (ret)
        goto out;
    *out = st;
out:
    buf_release(&mode);
    if (ret)
        store_close(st);
    return ret;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (size_t i = 0; i < st->nexec; i++)
        sqlite3_finalize(st->exec[i].s);
    for (int i = 0; i < QUERY_COMBINATIONS; i++) {
        sqlite3_finalize(st->query[i]);
        for (size_t k = 0; k < QUERY_STATES; k++)
            sqlite3_finalize(st->query_state[i][k]);
    }
    /* Every statement is finalized, so this closes at once (without a
     * checkpoint: see store_open). */
    sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

sqlite3_stmt *store_exec_stmt_of(struct store *st, const char *sql, bool *cached)
{
    for (size_t i = 0; i < st->nexec; i++) {
        if (st->exec[i].sql == sql) {
            *cached = true;
            return st->exec[i].s;
        }
    }
    sqlite3_stmt *s = NULL;
    *cached = st->nexec < STORE_EXEC_CACHE;
    if (sqlite3_prepare_v3(st->db, sql, -1, *cached ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(s);
        *cached = false;
        return NULL;
    }
    if (*cached) {
        st->exec[st->nexec].sql = sql;
        st->exec[st->nexec++].s = s;
    }
    return s;
}

sqlite3 *store_sqlite(struct store *st)
{
    return st->db;
}

int store_schema_version(struct store *st)
{
    struct buf ignored = BUF_INIT;
    int64_t v = -1;
    if (store_user_version(st, &v, &ignored))
        v = -1;
    buf_release(&ignored);
    return (int)v;
}

/*
 * Runs an INSERT; returns the new row id or -1 with the reason in err.
 * brc is the result of binding the parameters.
 */
static int64_t store_insert(struct store *st, sqlite3_stmt *s, int brc, struct buf *err,
                            const char *what)
{
    if (store_exec_stmt(st, s, brc, err, what))
        return -1;
    return sqlite3_last_insert_rowid(st->db);
}

/* Runs an UPDATE of row id; -ENOENT if there is no such row. */
static int store_update(struct store *st, sqlite3_stmt *s, int brc, struct buf *err,
                        const char *what, int64_t id)
{
    int ret = store_exec_stmt(st, s, brc, err, what);
    if (ret)
        return ret;
    if (sqlite3_changes(st->db) == 0) {
        buf_addf(err, "store: %s: there is no row %lld", what, (long long)id);
        return -ENOENT;
    }
    return 0;
}

/* Runs */

static void run_from_row(sqlite3_stmt *s, struct store_run *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->kind = col_text(s, 1);
    r->source = col_text(s, 2);
    r->commit = col_text(s, 3);
    r->branch = col_text(s, 4);
    r->state = col_text(s, 5);
    r->created_ms = sqlite3_column_int64(s, 6);
    r->started_ms = sqlite3_column_int64(s, 7);
    r->finished_ms = sqlite3_column_int64(s, 8);
    r->repo_id = sqlite3_column_int64(s, 9); /* NULL reads as 0 */
    r->number = sqlite3_column_int64(s, 10);
    r->ref = col_text(s, 11);
    r->trigger = col_text(s, 12);
    r->retry_of = sqlite3_column_int64(s, 13);
    r->fork = sqlite3_column_int(s, 14) != 0;
    r->commit_ms = sqlite3_column_int64(s, 15);
    r->first_commit_ms = sqlite3_column_int64(s, 16);
    r->pushed_ms = sqlite3_column_int64(s, 17);
}

/* Steps s, which selects at most one run (named what), into *r; -ENOENT if none. */
static int run_one(struct store *st, sqlite3_stmt *s, int brc, struct store_run *r, struct buf *err,
                   const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = 0;
    if (rc == SQLITE_ROW) {
        run_from_row(s, r);
    } else if (rc == SQLITE_DONE) {
        buf_addf(err, "store: there is no %s", what);
        ret = -ENOENT;
    } else {
        ret = store_fail(st, rc, err, "cannot read %s", what);
    }
    store_stmt_done(s);
    return ret;
}

/* Steps s into a new array of runs; on failure *out is NULL and *n 0. s is reset. */
static int run_rows(struct store *st, sqlite3_stmt *s, int brc, struct store_run **out, size_t *n,
                    struct buf *err)
{
    struct store_run *v = NULL;
    size_t nr = 0, alloc = 0;
    int rc = brc, ret = 0;

    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        ALLOC_GROW(v, nr + 1, alloc);
        run_from_row(s, &v[nr++]);
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot list runs");
        store_runs_release(v, nr);
    } else {
        *out = v;
        *n = nr;
    }
    store_stmt_done(s);
    return ret;
}

/* The next run number of a repository; call it inside the inserting transaction. */
static int64_t run_next_number(struct store *st, int64_t repo_id, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_NEXT_NUMBER, err);
    int brc = SQLITE_OK, rc;
    int64_t number = -1;
    if (!s)
        return -1;
    bind_int64(s, 1, repo_id, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW)
        number = sqlite3_column_int64(s, 0);
    else
        store_fail(st, rc, err, "cannot number a run of repository %lld", (long long)repo_id);
    store_stmt_done(s);
    return number;
}

static int64_t run_insert_row(struct store *st, const struct store_run *r, int64_t number,
                              struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_INSERT, err);
    int brc = SQLITE_OK;
    if (!s)
        return -1;
    bind_text(s, 1, r->kind, &brc);
    bind_text(s, 2, r->source, &brc);
    bind_text(s, 3, r->commit, &brc);
    bind_text(s, 4, r->branch, &brc);
    bind_text(s, 5, r->state, &brc);
    bind_int64(s, 6, r->created_ms ? r->created_ms : store_now_ms(), &brc);
    bind_int64(s, 7, r->started_ms, &brc);
    bind_int64(s, 8, r->finished_ms, &brc);
    bind_id(s, 9, r->repo_id, &brc);
    bind_id(s, 10, number, &brc);
    bind_text(s, 11, r->ref, &brc);
    bind_text(s, 12, r->trigger, &brc);
    bind_id(s, 13, r->retry_of, &brc);
    bind_int64(s, 14, r->fork, &brc);
    return store_insert(st, s, brc, err, "cannot insert a run");
}

/*
 * A server run is numbered inside a write transaction taken up front
 * (BEGIN IMMEDIATE): no other connection, in this process or another, can
 * insert between reading the largest number and inserting the next. The
 * UNIQUE index on (repo_id, number) backs this up.
 */
static int change_copy(struct store *st, const struct store_run *r, int64_t pushed_ms, bool own_tx,
                       struct buf *err);

int64_t store_run_insert(struct store *st, struct store_run *r, struct buf *err)
{
    int64_t id, number;

    if (!r->repo_id)
        return run_insert_row(st, r, 0, err);
    if (store_begin(st, err))
        return -1;
    number = run_next_number(st, r->repo_id, err);
    if (number < 0)
        goto fail;
    id = run_insert_row(st, r, number, err);
    if (id < 0)
        goto fail;
    if (r->commit && strlen(r->commit) == 40) {
        /* The same commit and kind ran before (a retry): its change is this
         * run's too, recorded now rather than in a transaction of its own. */
        struct store_run t = *r;
        int64_t pushed_ms;
        t.id = id;
        if (store_run_pushed(st, &t, &pushed_ms, err) ||
            change_copy(st, &t, pushed_ms, false, err) < 0)
            goto fail;
    }
    if (store_commit(st, err))
        goto fail;
    /*
     * The header promises the number back in the caller's struct although
     * it takes it const; every caller passes a struct of its own.
     */
    r->number = number;
    return id;
fail:
    store_rollback(st);
    return -1;
}

int store_run_update(struct store *st, const struct store_run *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_UPDATE, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, r->id, &brc);
    bind_text(s, 2, r->kind, &brc);
    bind_text(s, 3, r->source, &brc);
    bind_text(s, 4, r->commit, &brc);
    bind_text(s, 5, r->branch, &brc);
    bind_text(s, 6, r->state, &brc);
    bind_int64(s, 7, r->started_ms, &brc);
    bind_int64(s, 8, r->finished_ms, &brc);
    bind_text(s, 9, r->ref, &brc);
    bind_text(s, 10, r->trigger, &brc);
    bind_id(s, 11, r->retry_of, &brc);
    return store_update(st, s, brc, err, "cannot update run", r->id);
}

int store_run_set_state(struct store *st, int64_t id, const char *state, int64_t started_ms,
                        int64_t finished_ms, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_SET_STATE, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, id, &brc);
    bind_text(s, 2, state, &brc);
    bind_int64(s, 3, started_ms, &brc);
    bind_int64(s, 4, finished_ms, &brc);
    return store_update(st, s, brc, err, "cannot update run", id);
}

int store_run_get(struct store *st, int64_t id, struct store_run *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_GET, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK, ret;
    memset(r, 0, sizeof(*r));
    if (!s)
        return -EIO;
    bind_int64(s, 1, id, &brc);
    buf_addf(&what, "run %lld", (long long)id);
    ret = run_one(st, s, brc, r, err, what.data);
    buf_release(&what);
    return ret;
}

int store_run_find(struct store *st, int64_t repo_id, int64_t number, struct store_run *r,
                   struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_FIND, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK, ret;
    memset(r, 0, sizeof(*r));
    if (!s)
        return -EIO;
    bind_int64(s, 1, repo_id, &brc);
    bind_int64(s, 2, number, &brc);
    buf_addf(&what, "run %lld of repository %lld", (long long)number, (long long)repo_id);
    ret = run_one(st, s, brc, r, err, what.data);
    buf_release(&what);
    return ret;
}

int store_run_base(struct store *st, const struct store_run *r, char base[41], struct buf *err)
{
    base[0] = '\0';
    if (!r->kind || (strcmp(r->kind, "main") && strcmp(r->kind, "tag")))
        return 0;
    sqlite3_stmt *s = store_stmt(st, S_RUN_BASE, err);
    int brc = SQLITE_OK, rc, ret = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, r->repo_id, &brc);
    bind_int64(s, 2, r->id, &brc);
    bind_text(s, 3, r->kind, &brc);
    bind_text(s, 4, r->commit, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(s, 0);
        if (c && strlen(c) == 40)
            memcpy(base, c, 41);
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot find the run before run %lld", (long long)r->id);
    }
    store_stmt_done(s);
    return ret;
}

int store_run_pushed(struct store *st, const struct store_run *r, int64_t *pushed_ms,
                     struct buf *err)
{
    *pushed_ms = r->created_ms;
    sqlite3_stmt *s = store_stmt(st, S_RUN_PUSHED, err);
    int brc = SQLITE_OK, rc, ret = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, r->repo_id, &brc);
    bind_text(s, 2, r->commit, &brc);
    bind_text(s, 3, r->ref, &brc);
    bind_int64(s, 4, r->id, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        *pushed_ms = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_ROW)
        ret = store_fail(st, rc, err, "cannot find the first run of commit %.12s",
                         r->commit ? r->commit : "");
    store_stmt_done(s);
    return ret;
}

/* Records the change run of run_id, from its run_commits (inside the caller's transaction). */
static int run_change_run(struct store *st, int64_t run_id, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_CHANGE_RUN, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, run_id, &brc);
    return store_exec_stmt(st, s, brc, err, "cannot record the change run of a run");
}

/* store_run_change_copy(), inside the caller's transaction when own_tx is false. */
static int change_copy(struct store *st, const struct store_run *r, int64_t pushed_ms, bool own_tx,
                       struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_SAME_CHANGE, err);
    int brc = SQLITE_OK, rc;
    int64_t from = 0, commit_ms = 0, first_ms = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, r->repo_id, &brc);
    bind_text(s, 2, r->commit, &brc);
    bind_text(s, 3, r->kind, &brc);
    bind_int64(s, 4, r->id, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW) {
        from = sqlite3_column_int64(s, 0);
        commit_ms = sqlite3_column_int64(s, 1);
        first_ms = sqlite3_column_int64(s, 2);
    } else if (rc != SQLITE_DONE) {
        int ret = store_fail(st, rc, err, "cannot find an earlier run of run %lld's commit",
                             (long long)r->id);
        store_stmt_done(s);
        return ret;
    }
    store_stmt_done(s);
    if (!from)
        return 0;
    rc = own_tx ? store_begin(st, err) : 0;
    if (rc)
        return rc;
    s = store_stmt(st, S_RUN_SET_CHANGE, err);
    brc = SQLITE_OK;
    if (!s) {
        rc = -EIO;
    } else {
        bind_int64(s, 1, r->id, &brc);
        bind_int64(s, 2, commit_ms, &brc);
        bind_int64(s, 3, first_ms, &brc);
        bind_int64(s, 4, pushed_ms, &brc);
        rc = store_update(st, s, brc, err, "cannot record the times of a run's change", r->id);
    }
    if (!rc) {
        s = store_stmt(st, S_RUN_COMMITS_COPY, err);
        brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
        } else {
            bind_int64(s, 1, r->id, &brc);
            bind_int64(s, 2, from, &brc);
            rc = store_exec_stmt(st, s, brc, err, "cannot copy the commits of a run's change");
        }
    }
    if (!rc)
        rc = run_change_run(st, r->id, err);
    if (!rc && own_tx)
        rc = store_commit(st, err);
    if (rc) {
        if (own_tx)
            store_rollback(st);
        return rc;
    }
    return 1;
}

int store_run_change_copy(struct store *st, const struct store_run *r, int64_t pushed_ms,
                          struct buf *err)
{
    return change_copy(st, r, pushed_ms, true, err);
}

int store_run_set_change(struct store *st, int64_t run_id, int64_t commit_ms,
                         int64_t first_commit_ms, int64_t pushed_ms, const char *const *commits,
                         size_t n, struct buf *err)
{
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    sqlite3_stmt *s = store_stmt(st, S_RUN_SET_CHANGE, err);
    int brc = SQLITE_OK;
    if (!s) {
        rc = -EIO;
    } else {
        bind_int64(s, 1, run_id, &brc);
        bind_int64(s, 2, commit_ms, &brc);
        bind_int64(s, 3, first_commit_ms, &brc);
        bind_int64(s, 4, pushed_ms, &brc);
        rc = store_update(st, s, brc, err, "cannot record the times of a run's change", run_id);
    }
    for (size_t i = 0; i < n && i < STORE_RUN_COMMITS_MAX && !rc; i++) {
        s = store_stmt(st, S_RUN_COMMIT_ADD, err);
        brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
            break;
        }
        bind_int64(s, 1, run_id, &brc);
        bind_text(s, 2, commits[i], &brc);
        rc = store_exec_stmt(st, s, brc, err, "cannot record a commit of a run's change");
    }
    if (!rc && n)
        rc = run_change_run(st, run_id, err);
    if (!rc)
        rc = store_commit(st, err);
    if (rc)
        store_rollback(st);
    return rc;
}

int store_run_list(struct store *st, size_t limit, struct store_run **out, size_t *n,
                   struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUN_LIST, err);
    int brc = SQLITE_OK;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit, &brc);
    return run_rows(st, s, brc, out, n, err);
}

int store_runs_waiting(struct store *st, int64_t after_id, size_t limit, struct store_run **out,
                       size_t *n, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_RUNS_WAITING, err);
    int brc = SQLITE_OK;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, after_id, &brc);
    bind_int64(s, 2, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit, &brc);
    return run_rows(st, s, brc, out, n, err);
}

static bool filter_text(const char *v)
{
    return v && *v;
}

/*
 * The statement for one combination of filters, prepared on first use;
 * state_idx >= 0: the state filter is query_states[state_idx], written in.
 */
static sqlite3_stmt *query_stmt(struct store *st, unsigned mask, int state_idx, struct buf *err)
{
    sqlite3_stmt **slot = state_idx >= 0 ? &st->query_state[mask][state_idx] : &st->query[mask];
    if (!*slot) {
        struct buf sql = BUF_INIT;
        buf_adds(&sql, "SELECT " RUN_COLS " FROM runs WHERE 1");
        for (size_t i = 0; i < sizeof(query_where) / sizeof(query_where[0]); i++) {
            if (!(mask & query_where[i].flag))
                continue;
            if (query_where[i].flag == Q_STATE && state_idx >= 0)
                buf_addf(&sql, " AND state = '%s'", query_states[state_idx]);
            else
                buf_adds(&sql, query_where[i].sql);
        }
        buf_adds(&sql, " ORDER BY id DESC LIMIT ?6");
        int rc = sqlite3_prepare_v3(st->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK) {
            store_fail(st, rc, err, "cannot prepare \"%s\"", sql.data);
            sqlite3_finalize(*slot);
            *slot = NULL;
        }
        buf_release(&sql);
    }
    return *slot;
}

int store_run_query(struct store *st, const struct store_run_filter *f, struct store_run **out,
                    size_t *n, struct buf *err)
{
    static const struct store_run_filter all = {0};
    unsigned mask = 0;
    size_t limit;
    sqlite3_stmt *s;
    int brc = SQLITE_OK;

    *out = NULL;
    *n = 0;
    if (!f)
        f = &all;
    mask |= f->repo_id ? Q_REPO : 0;
    mask |= filter_text(f->branch) ? Q_BRANCH : 0;
    mask |= filter_text(f->kind) ? Q_KIND : 0;
    mask |= filter_text(f->state) ? Q_STATE : 0;
    mask |= f->before_id ? Q_BEFORE : 0;
    int state_idx = -1;
    for (size_t i = 0; (mask & Q_STATE) && i < QUERY_STATES && state_idx < 0; i++)
        if (!strcmp(f->state, query_states[i]))
            state_idx = (int)i;
    s = query_stmt(st, mask, state_idx, err);
    if (!s)
        return -EIO;
    if (mask & Q_REPO)
        bind_int64(s, 1, f->repo_id, &brc);
    if (mask & Q_BRANCH)
        bind_text(s, 2, f->branch, &brc);
    if (mask & Q_KIND)
        bind_text(s, 3, f->kind, &brc);
    if ((mask & Q_STATE) && state_idx < 0)
        bind_text(s, 4, f->state, &brc);
    if (mask & Q_BEFORE)
        bind_int64(s, 5, f->before_id, &brc);
    limit = f->limit ? f->limit : QUERY_LIMIT_DEFAULT;
    bind_int64(s, 6, limit > QUERY_LIMIT_MAX ? QUERY_LIMIT_MAX : (int64_t)limit, &brc);
    return run_rows(st, s, brc, out, n, err);
}

int64_t store_run_latest(struct store *st)
{
    struct buf ignored = BUF_INIT;
    sqlite3_stmt *s = store_stmt(st, S_RUN_LATEST, &ignored);
    int64_t id = -1;
    if (s) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            id = sqlite3_column_int64(s, 0);
        else if (rc == SQLITE_DONE)
            id = 0;
        store_stmt_done(s);
    }
    buf_release(&ignored);
    return id;
}

/* Repositories */

static void repo_from_row(sqlite3_stmt *s, struct store_repo *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->name = col_text(s, 1);
    r->url = col_text(s, 2);
    r->main_branch = col_text(s, 3);
    r->poll_s = sqlite3_column_int(s, 4);
    r->created_ms = sqlite3_column_int64(s, 5);
}

static const char *repo_main_branch(const struct store_repo *r)
{
    return r->main_branch && *r->main_branch ? r->main_branch : "main";
}

/*
 * Runs the INSERT or UPDATE of a repository bound in s. A taken name is
 * -EEXIST, said in words; a missing row (an UPDATE) -ENOENT.
 */
static int repo_write(struct store *st, sqlite3_stmt *s, int brc, const struct store_repo *r,
                      struct buf *err, const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        buf_addf(err, "store: %s: a repository named '%s' already exists", what,
                 r->name ? r->name : "");
        ret = -EEXIST;
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "%s '%s'", what, r->name ? r->name : "");
    } else if (sqlite3_changes(st->db) == 0) {
        buf_addf(err, "store: %s: there is no repository %lld", what, (long long)r->id);
        ret = -ENOENT;
    }
    store_stmt_done(s);
    return ret;
}

int64_t store_repo_insert(struct store *st, const struct store_repo *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REPO_INSERT, err);
    int brc = SQLITE_OK;
    if (!s)
        return -1;
    bind_text(s, 1, r->name, &brc);
    bind_text(s, 2, r->url, &brc);
    bind_text(s, 3, repo_main_branch(r), &brc);
    bind_int64(s, 4, r->poll_s, &brc);
    bind_int64(s, 5, r->created_ms ? r->created_ms : store_now_ms(), &brc);
    if (repo_write(st, s, brc, r, err, "cannot add repository"))
        return -1;
    return sqlite3_last_insert_rowid(st->db);
}

int store_repo_update(struct store *st, const struct store_repo *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REPO_UPDATE, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, r->id, &brc);
    bind_text(s, 2, r->name, &brc);
    bind_text(s, 3, r->url, &brc);
    bind_text(s, 4, repo_main_branch(r), &brc);
    bind_int64(s, 5, r->poll_s, &brc);
    return repo_write(st, s, brc, r, err, "cannot update repository");
}

/* Steps s, which selects at most one repository (named what), into *r; -ENOENT if none. */
static int repo_one(struct store *st, sqlite3_stmt *s, int brc, struct store_repo *r,
                    struct buf *err, const char *what)
{
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    int ret = 0;
    if (rc == SQLITE_ROW) {
        repo_from_row(s, r);
    } else if (rc == SQLITE_DONE) {
        buf_addf(err, "store: there is no %s", what);
        ret = -ENOENT;
    } else {
        ret = store_fail(st, rc, err, "cannot read %s", what);
    }
    store_stmt_done(s);
    return ret;
}

int store_repo_get(struct store *st, const char *name, struct store_repo *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REPO_GET, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK, ret;
    memset(r, 0, sizeof(*r));
    if (!s)
        return -EIO;
    bind_text(s, 1, name, &brc);
    buf_addf(&what, "repository '%s'", name ? name : "");
    ret = repo_one(st, s, brc, r, err, what.data);
    buf_release(&what);
    return ret;
}

int store_repo_get_id(struct store *st, int64_t id, struct store_repo *r, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REPO_GET_ID, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK, ret;
    memset(r, 0, sizeof(*r));
    if (!s)
        return -EIO;
    bind_int64(s, 1, id, &brc);
    buf_addf(&what, "repository %lld", (long long)id);
    ret = repo_one(st, s, brc, r, err, what.data);
    buf_release(&what);
    return ret;
}

int store_repo_list(struct store *st, struct store_repo **out, size_t *n, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REPO_LIST, err);
    struct store_repo *v = NULL;
    size_t nr = 0, alloc = 0;
    int rc = SQLITE_OK, ret = 0;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        ALLOC_GROW(v, nr + 1, alloc);
        repo_from_row(s, &v[nr++]);
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot list repositories");
        store_repos_release(v, nr);
    } else {
        *out = v;
        *n = nr;
    }
    store_stmt_done(s);
    return ret;
}

int store_repo_refs_get(struct store *st, int64_t repo_id, struct buf *out, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REFS_GET, err);
    int brc = SQLITE_OK, rc, ret = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, repo_id, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW) {
        const void *t = sqlite3_column_blob(s, 0);
        int len = sqlite3_column_bytes(s, 0);
        if (t && len > 0)
            buf_add(out, t, (size_t)len);
    } else if (rc == SQLITE_DONE) {
        buf_addf(err, "store: there is no repository %lld", (long long)repo_id);
        ret = -ENOENT;
    } else {
        ret = store_fail(st, rc, err, "cannot read refs of repository %lld", (long long)repo_id);
    }
    store_stmt_done(s);
    return ret;
}

int store_repo_refs_set(struct store *st, int64_t repo_id, const char *text, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_REFS_SET, err);
    int brc = SQLITE_OK, rc, ret = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, repo_id, &brc);
    bind_text(s, 2, text, &brc);
    bind_int64(s, 3, store_now_ms(), &brc);
    /* One statement: the old text is replaced whole or not at all. */
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        buf_addf(err, "store: cannot store refs: there is no repository %lld", (long long)repo_id);
        ret = -ENOENT;
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot store refs of repository %lld", (long long)repo_id);
    }
    store_stmt_done(s);
    return ret;
}

int store_run_delete(struct store *st, int64_t id, struct buf *err)
{
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    static const enum store_stmt steps[] = {S_RUN_UNLINK_RETRIES, S_RUN_DELETE};
    for (size_t i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *s = store_stmt(st, steps[i], err);
        int brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
            break;
        }
        bind_int64(s, 1, id, &brc);
        rc = store_exec_stmt(st, s, brc, err, "cannot delete a run");
        if (!rc && steps[i] == S_RUN_DELETE && sqlite3_changes(st->db) == 0) {
            buf_addf(err, "store: run %lld is not there or has not ended", (long long)id);
            rc = -EBUSY;
        }
    }
    if (!rc)
        rc = store_commit(st, err);
    if (rc)
        store_rollback(st);
    return rc;
}

int store_digest_used(struct store *st, const char *digest, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_DIGEST_USED, err);
    int brc = SQLITE_OK, ret;
    if (!s)
        return -1;
    bind_text(s, 1, digest, &brc);
    int rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW)
        ret = 1;
    else if (rc == SQLITE_DONE)
        ret = 0;
    else
        ret = store_fail(st, rc, err, "cannot look up a digest") ? -1 : -1;
    store_stmt_done(s);
    return ret;
}

/* Jobs */

static void job_from_row(sqlite3_stmt *s, struct store_job *j)
{
    j->id = sqlite3_column_int64(s, 0);
    j->run_id = sqlite3_column_int64(s, 1);
    j->name = col_text(s, 2);
    j->state = col_text(s, 3);
    j->reason = col_text(s, 4);
    j->attempts = sqlite3_column_int(s, 5);
    j->exit_code = sqlite3_column_int(s, 6);
    j->started_ms = sqlite3_column_int64(s, 7);
    j->finished_ms = sqlite3_column_int64(s, 8);
    j->retry_base = sqlite3_column_int(s, 9);
}

int64_t store_job_insert(struct store *st, int64_t run_id, const char *name, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_JOB_INSERT, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK;
    int64_t id;
    if (!s)
        return -1;
    bind_int64(s, 1, run_id, &brc);
    bind_text(s, 2, name, &brc);
    buf_addf(&what, "cannot insert job '%s' of run %lld", name ? name : "", (long long)run_id);
    id = store_insert(st, s, brc, err, what.data);
    buf_release(&what);
    return id;
}

int store_job_update(struct store *st, const struct store_job *j, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_JOB_UPDATE, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, j->id, &brc);
    bind_text(s, 2, j->state, &brc);
    bind_text(s, 3, j->reason, &brc);
    bind_int64(s, 4, j->attempts, &brc);
    bind_int64(s, 5, j->exit_code, &brc);
    bind_int64(s, 6, j->started_ms, &brc);
    bind_int64(s, 7, j->finished_ms, &brc);
    return store_update(st, s, brc, err, "cannot update job", j->id);
}

int store_job_list(struct store *st, int64_t run_id, struct store_job **out, size_t *n,
                   struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_JOB_LIST, err);
    struct store_job *v = NULL;
    size_t nr = 0, alloc = 0;
    int brc = SQLITE_OK, rc, ret = 0;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, run_id, &brc);
    rc = brc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        ALLOC_GROW(v, nr + 1, alloc);
        job_from_row(s, &v[nr++]);
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot list the jobs of run %lld", (long long)run_id);
        store_jobs_release(v, nr);
    } else {
        *out = v;
        *n = nr;
    }
    store_stmt_done(s);
    return ret;
}

int store_job_find(struct store *st, int64_t run_id, const char *name, struct store_job *j,
                   struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_JOB_FIND, err);
    int brc = SQLITE_OK, rc, ret = 0;
    memset(j, 0, sizeof(*j));
    if (!s)
        return -EIO;
    bind_int64(s, 1, run_id, &brc);
    bind_text(s, 2, name, &brc);
    rc = brc == SQLITE_OK ? sqlite3_step(s) : brc;
    if (rc == SQLITE_ROW) {
        job_from_row(s, j);
    } else if (rc == SQLITE_DONE) {
        buf_addf(err, "store: run %lld has no job '%s'", (long long)run_id, name ? name : "");
        ret = -ENOENT;
    } else {
        ret = store_fail(st, rc, err, "cannot find job '%s' of run %lld", name ? name : "",
                         (long long)run_id);
    }
    store_stmt_done(s);
    return ret;
}

int store_run_rerun(struct store *st, int64_t run_id, const int64_t *job_ids, size_t n,
                    const char *reason, struct buf *err)
{
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_stmt *s = store_stmt(st, S_RERUN_JOB, err);
        int brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
            break;
        }
        bind_int64(s, 1, job_ids[i], &brc);
        bind_text(s, 2, reason, &brc);
        bind_int64(s, 3, run_id, &brc);
        rc = store_update(st, s, brc, err, "cannot queue a job again", job_ids[i]);
        if (rc)
            break;
        s = store_stmt(st, S_RERUN_ARTIFACTS, err);
        brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
            break;
        }
        bind_int64(s, 1, job_ids[i], &brc);
        rc = store_exec_stmt(st, s, brc, err, "cannot drop the artifacts of a job");
    }
    if (!rc) {
        sqlite3_stmt *s = store_stmt(st, S_RERUN_RUN, err);
        int brc = SQLITE_OK;
        if (!s) {
            rc = -EIO;
        } else {
            bind_int64(s, 1, run_id, &brc);
            bind_int64(s, 2, store_now_ms(), &brc);
            rc = store_update(st, s, brc, err, "cannot set a run running again", run_id);
        }
    }
    if (!rc)
        rc = store_commit(st, err);
    if (rc)
        store_rollback(st);
    return rc;
}

static int count_states(struct store *st, enum store_stmt id, const char *const *states, size_t n,
                        int64_t *counts, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, id, err);
    int rc, ret = 0;
    memset(counts, 0, n * sizeof(*counts));
    if (!s)
        return -EIO;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        for (size_t i = 0; state && i < n; i++)
            if (!strcmp(state, states[i]))
                counts[i] = sqlite3_column_int64(s, 1);
    }
    if (rc != SQLITE_DONE)
        ret = store_fail(st, rc, err, "cannot count by state");
    store_stmt_done(s);
    return ret;
}

int store_run_count_states(struct store *st, const char *const *states, size_t n, int64_t *counts,
                           struct buf *err)
{
    return count_states(st, S_RUN_STATES, states, n, counts, err);
}

int store_job_count_states(struct store *st, const char *const *states, size_t n, int64_t *counts,
                           struct buf *err)
{
    return count_states(st, S_JOB_STATES, states, n, counts, err);
}

/* Attempts */

static void attempt_from_row(sqlite3_stmt *s, struct store_attempt *a)
{
    a->id = sqlite3_column_int64(s, 0);
    a->job_id = sqlite3_column_int64(s, 1);
    a->number = sqlite3_column_int(s, 2);
    a->state = col_text(s, 3);
    a->exit_code = sqlite3_column_int(s, 4);
    a->signal = sqlite3_column_int(s, 5);
    a->log_path = col_text(s, 6);
    a->workspace = col_text(s, 7);
    a->started_ms = sqlite3_column_int64(s, 8);
    a->finished_ms = sqlite3_column_int64(s, 9);
}

int64_t store_attempt_insert(struct store *st, const struct store_attempt *a, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_ATTEMPT_INSERT, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK;
    int64_t id;
    if (!s)
        return -1;
    bind_int64(s, 1, a->job_id, &brc);
    bind_int64(s, 2, a->number, &brc);
    bind_text(s, 3, a->state, &brc);
    bind_int64(s, 4, a->exit_code, &brc);
    bind_int64(s, 5, a->signal, &brc);
    bind_text(s, 6, a->log_path, &brc);
    bind_text(s, 7, a->workspace, &brc);
    bind_int64(s, 8, a->started_ms, &brc);
    bind_int64(s, 9, a->finished_ms, &brc);
    buf_addf(&what, "cannot insert attempt %d of job %lld", a->number, (long long)a->job_id);
    id = store_insert(st, s, brc, err, what.data);
    buf_release(&what);
    return id;
}

int store_attempt_update(struct store *st, const struct store_attempt *a, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_ATTEMPT_UPDATE, err);
    int brc = SQLITE_OK;
    if (!s)
        return -EIO;
    bind_int64(s, 1, a->id, &brc);
    bind_text(s, 2, a->state, &brc);
    bind_int64(s, 3, a->exit_code, &brc);
    bind_int64(s, 4, a->signal, &brc);
    bind_text(s, 5, a->log_path, &brc);
    bind_text(s, 6, a->workspace, &brc);
    bind_int64(s, 7, a->started_ms, &brc);
    bind_int64(s, 8, a->finished_ms, &brc);
    return store_update(st, s, brc, err, "cannot update attempt", a->id);
}

int store_attempt_list(struct store *st, int64_t job_id, struct store_attempt **out, size_t *n,
                       struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_ATTEMPT_LIST, err);
    struct store_attempt *v = NULL;
    size_t nr = 0, alloc = 0;
    int brc = SQLITE_OK, rc, ret = 0;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, job_id, &brc);
    rc = brc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        ALLOC_GROW(v, nr + 1, alloc);
        attempt_from_row(s, &v[nr++]);
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot list the attempts of job %lld", (long long)job_id);
        store_attempts_release(v, nr);
    } else {
        *out = v;
        *n = nr;
    }
    store_stmt_done(s);
    return ret;
}

/* Artifacts */

static void artifact_from_row(sqlite3_stmt *s, struct store_artifact *a)
{
    a->id = sqlite3_column_int64(s, 0);
    a->job_id = sqlite3_column_int64(s, 1);
    a->path = col_text(s, 2);
    a->digest = col_text(s, 3);
    a->size = sqlite3_column_int64(s, 4);
    a->mode = sqlite3_column_int(s, 5);
}

int64_t store_artifact_insert(struct store *st, const struct store_artifact *a, struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_ARTIFACT_INSERT, err);
    struct buf what = BUF_INIT;
    int brc = SQLITE_OK;
    int64_t id;
    if (!s)
        return -1;
    bind_int64(s, 1, a->job_id, &brc);
    bind_text(s, 2, a->path, &brc);
    bind_text(s, 3, a->digest, &brc);
    bind_int64(s, 4, a->size, &brc);
    bind_int64(s, 5, a->mode, &brc);
    buf_addf(&what, "cannot insert artifact '%s' of job %lld", a->path ? a->path : "",
             (long long)a->job_id);
    id = store_insert(st, s, brc, err, what.data);
    buf_release(&what);
    return id;
}

int store_artifact_list(struct store *st, int64_t job_id, struct store_artifact **out, size_t *n,
                        struct buf *err)
{
    sqlite3_stmt *s = store_stmt(st, S_ARTIFACT_LIST, err);
    struct store_artifact *v = NULL;
    size_t nr = 0, alloc = 0;
    int brc = SQLITE_OK, rc, ret = 0;

    *out = NULL;
    *n = 0;
    if (!s)
        return -EIO;
    bind_int64(s, 1, job_id, &brc);
    rc = brc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        ALLOC_GROW(v, nr + 1, alloc);
        artifact_from_row(s, &v[nr++]);
    }
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot list the artifacts of job %lld", (long long)job_id);
        store_artifacts_release(v, nr);
    } else {
        *out = v;
        *n = nr;
    }
    store_stmt_done(s);
    return ret;
}

/* Recovery */

int store_reconcile(struct store *st, struct buf *err)
{
    static const enum store_stmt steps[] = {
        /* Children first: each step selects by the run still being "running". */
        S_RECONCILE_ATTEMPTS,
        S_RECONCILE_JOBS,
        S_RECONCILE_RUNS,
    };
    int64_t now = store_now_ms();
    int fixed = 0;

    if (store_begin(st, err))
        return -1;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        sqlite3_stmt *s = store_stmt(st, steps[i], err);
        int brc = SQLITE_OK;
        if (!s)
            goto fail;
        bind_int64(s, 1, now, &brc);
        if (steps[i] == S_RECONCILE_JOBS)
            bind_text(s, 2, STORE_INTERRUPTED, &brc);
        if (store_exec_stmt(st, s, brc, err, "cannot reconcile interrupted runs"))
            goto fail;
        if (steps[i] == S_RECONCILE_RUNS)
            fixed = sqlite3_changes(st->db);
    }
    if (store_commit(st, err))
        goto fail;
    return fixed;
fail:
    store_rollback(st);
    return -1;
}

/* Releasing */

void store_run_release(struct store_run *r)
{
    if (!r)
        return;
    free(r->kind);
    free(r->source);
    free(r->commit);
    free(r->branch);
    free(r->state);
    free(r->ref);
    free(r->trigger);
    memset(r, 0, sizeof(*r));
}

void store_repo_release(struct store_repo *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->url);
    free(r->main_branch);
    memset(r, 0, sizeof(*r));
}

void store_repos_release(struct store_repo *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_repo_release(&v[i]);
    free(v);
}

void store_job_release(struct store_job *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->state);
    free(j->reason);
    memset(j, 0, sizeof(*j));
}

void store_attempt_release(struct store_attempt *a)
{
    if (!a)
        return;
    free(a->state);
    free(a->log_path);
    free(a->workspace);
    memset(a, 0, sizeof(*a));
}

void store_artifact_release(struct store_artifact *a)
{
    if (!a)
        return;
    free(a->path);
    free(a->digest);
    memset(a, 0, sizeof(*a));
}

void store_runs_release(struct store_run *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_run_release(&v[i]);
    free(v);
}

void store_jobs_release(struct store_job *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_job_release(&v[i]);
    free(v);
}

void store_attempts_release(struct store_attempt *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_attempt_release(&v[i]);
    free(v);
}

void store_artifacts_release(struct store_artifact *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_artifact_release(&v[i]);
    free(v);
}
