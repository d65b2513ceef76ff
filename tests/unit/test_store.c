#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tmpdir.h"

/* The schema version store.c migrates to; bump it with each new migration. */
#define SCHEMA_VERSION 12

struct fixture {
    char dir[64];
    char db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/flywheel-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (strlen(f->dir) + 1 >= sizeof(f->dir) || !mkdtemp(f->dir)) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-store-XXXXXX");
        if (!mkdtemp(f->dir)) {
            free(f);
            return -1;
        }
    }
    snprintf(f->db, sizeof(f->db), "%s/flywheel.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static struct store *open_ok(const char *path)
{
    struct store *st = NULL;
    struct buf err = BUF_INIT;
    int rc = store_open(&st, path, &err);
    if (rc)
        fail_msg("store_open(%s): %d: %s", path, rc, err.data);
    assert_non_null(st);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    return st;
}

static int64_t add_run(struct store *st, const char *state, int64_t created)
{
    struct store_run r = {
        .kind = "manual",
        .source = "worktree",
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .branch = "main",
        .state = (char *)state,
        .created_ms = created,
    };
    struct buf err = BUF_INIT;
    int64_t id = store_run_insert(st, &r, &err);
    if (id <= 0)
        fail_msg("store_run_insert: %s", err.data);
    buf_release(&err);
    return id;
}

static int64_t add_job(struct store *st, int64_t run, const char *name)
{
    struct buf err = BUF_INIT;
    int64_t id = store_job_insert(st, run, name, &err);
    if (id <= 0)
        fail_msg("store_job_insert(%s): %s", name, err.data);
    buf_release(&err);
    return id;
}

/* A raw connection, to look at what the store left on disk. */
static int64_t raw_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* Runs sql on a raw connection (foreign keys on, as the store has them); the result code. */
static int raw_exec_rc(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    int rc;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc;
}

static void raw_exec(const char *db, const char *sql)
{
    assert_int_equal(raw_exec_rc(db, sql), SQLITE_OK);
}

static int64_t add_repo(struct store *st, const char *name)
{
    struct store_repo r = {.name = (char *)name, .url = "https://example.com/x.git"};
    struct buf err = BUF_INIT;
    int64_t id = store_repo_insert(st, &r, &err);
    if (id <= 0)
        fail_msg("store_repo_insert(%s): %s", name, err.data);
    buf_release(&err);
    return id;
}

/* A server run; *number gets the number the store gave it. */
static int64_t add_server_run(struct store *st, int64_t repo, const char *ref, const char *kind,
                              const char *state, int64_t *number)
{
    struct store_run r = {
        .kind = (char *)kind,
        .source = "0123456789abcdef0123456789abcdef01234567",
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .state = (char *)state,
        .repo_id = repo,
        .number = 777, /* ignored: the store numbers the run */
        .ref = (char *)ref,
        .trigger = "push",
    };
    struct buf err = BUF_INIT;
    int64_t id = store_run_insert(st, &r, &err);
    if (id <= 0)
        fail_msg("store_run_insert(repo %lld): %s", (long long)repo, err.data);
    buf_release(&err);
    if (number)
        *number = r.number;
    return id;
}

static void test_open_migrate_idempotent(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    assert_int_equal(store_schema_version(st), SCHEMA_VERSION);
    int64_t run = add_run(st, "passed", 1000);
    store_close(st);

    st = open_ok(f->db); /* migrating again changes nothing */
    assert_int_equal(store_schema_version(st), SCHEMA_VERSION);
    assert_int_equal(store_run_latest(st), run);

    struct store_run r;
    struct buf err = BUF_INIT;
    assert_int_equal(store_run_get(st, run, &r, &err), 0);
    assert_string_equal(r.state, "passed");
    store_run_release(&r);
    buf_release(&err);

    /* While a handle is open the database is in WAL mode with its files. */
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(raw_int(f->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    " AND name IN ('runs', 'jobs', 'attempts', 'artifacts',"
                                    " 'repos', 'repo_refs')"),
                     6);
    assert_int_equal(access(f->db, F_OK), 0);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_int_equal(access(wal, F_OK), 0);
    store_close(st);
}

static void test_open_missing_dir(void **state)
{
    struct fixture *f = *state;
    char path[200];
    struct store *st = (struct store *)&st;
    struct buf err = BUF_INIT;
    snprintf(path, sizeof(path), "%s/no/such/dir/flywheel.db", f->dir);
    assert_int_equal(store_open(&st, path, &err), -ENOENT);
    assert_null(st);
    assert_non_null(strstr(err.data, "does not exist"));
    assert_non_null(strstr(err.data, "no/such/dir"));
    buf_release(&err);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_open_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    store_close(open_ok(f->db));
    raw_exec(f->db, "PRAGMA user_version = 99");

    struct store *st = NULL;
    struct buf err = BUF_INIT;
    assert_true(store_open(&st, f->db, &err) < 0);
    assert_null(st);
    assert_non_null(strstr(err.data, "newer"));
    buf_release(&err);
}

static void test_runs(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run r;

    assert_int_equal(store_run_latest(st), 0);
    int64_t a = add_run(st, "running", 1000);
    int64_t b = add_run(st, "running", 1000); /* same time: the id decides the order */
    int64_t c = add_run(st, "running", 0);    /* 0: stamped with the current time */
    assert_true(a > 0 && b > a && c > b);
    assert_int_equal(store_run_latest(st), c);

    assert_int_equal(store_run_get(st, a, &r, &err), 0);
    assert_int_equal(r.id, a);
    assert_string_equal(r.kind, "manual");
    assert_string_equal(r.source, "worktree");
    assert_string_equal(r.commit, "0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(r.branch, "main");
    assert_string_equal(r.state, "running");
    assert_int_equal(r.created_ms, 1000);
    assert_int_equal(r.started_ms, 0);
    assert_int_equal(r.finished_ms, 0);

    free(r.state);
    r.state = strdup("failed");
    r.started_ms = 1100;
    r.finished_ms = 2200;
    assert_int_equal(store_run_update(st, &r, &err), 0);
    store_run_release(&r);
    assert_int_equal(store_run_get(st, a, &r, &err), 0);
    assert_string_equal(r.state, "failed");
    assert_int_equal(r.started_ms, 1100);
    assert_int_equal(r.finished_ms, 2200);
    assert_int_equal(r.created_ms, 1000);
    store_run_release(&r);

    assert_int_equal(store_run_get(st, c, &r, &err), 0);
    assert_true(r.created_ms > 1600000000000LL);
    store_run_release(&r);
    assert_int_equal(err.len, 0);

    /* Newest first, at most limit. */
    struct store_run *v = NULL;
    size_t n = 99;
    assert_int_equal(store_run_list(st, 10, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, c);
    assert_int_equal(v[1].id, b);
    assert_int_equal(v[2].id, a);
    assert_string_equal(v[2].state, "failed");
    store_runs_release(v, n);
    assert_int_equal(store_run_list(st, 2, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, c);
    assert_int_equal(v[1].id, b);
    store_runs_release(v, n);
    assert_int_equal(store_run_list(st, 0, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_runs_release(v, n);
    assert_int_equal(err.len, 0);

    /* Missing rows. */
    assert_int_equal(store_run_get(st, 4242, &r, &err), -ENOENT);
    assert_non_null(strstr(err.data, "4242"));
    store_run_release(&r); /* releasing after a failed get is harmless */
    buf_reset(&err);
    r = (struct store_run){.id = 4242, .kind = "manual", .state = "passed"};
    assert_int_equal(store_run_update(st, &r, &err), -ENOENT);
    buf_release(&err);
    store_close(st);
}

static void test_jobs(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    int64_t run = add_run(st, "running", 1000);
    int64_t other = add_run(st, "running", 1000);

    int64_t test = add_job(st, run, "test");
    int64_t build = add_job(st, run, "build");
    int64_t lint = add_job(st, run, "lint");
    add_job(st, other, "build"); /* the same name in another run */

    struct store_job j;
    assert_int_equal(store_job_find(st, run, "build", &j, &err), 0);
    assert_int_equal(j.id, build);
    assert_int_equal(j.run_id, run);
    assert_string_equal(j.name, "build");
    assert_string_equal(j.state, "queued");
    assert_string_equal(j.reason, "");
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.exit_code, -1);
    assert_int_equal(j.started_ms, 0);
    assert_int_equal(j.finished_ms, 0);

    free(j.state);
    free(j.reason);
    j.state = strdup("failed");
    j.reason = strdup("exit status 2");
    j.attempts = 2;
    j.exit_code = 2;
    j.started_ms = 10;
    j.finished_ms = 20;
    assert_int_equal(store_job_update(st, &j, &err), 0);
    store_job_release(&j);

    /* Insertion order, whatever the names. */
    struct store_job *v = NULL;
    size_t n = 0;
    assert_int_equal(store_job_list(st, run, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, test);
    assert_string_equal(v[0].name, "test");
    assert_int_equal(v[1].id, build);
    assert_string_equal(v[1].state, "failed");
    assert_string_equal(v[1].reason, "exit status 2");
    assert_int_equal(v[1].attempts, 2);
    assert_int_equal(v[1].exit_code, 2);
    assert_int_equal(v[1].started_ms, 10);
    assert_int_equal(v[1].finished_ms, 20);
    assert_int_equal(v[2].id, lint);
    store_jobs_release(v, n);
    assert_int_equal(store_job_list(st, 999, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_jobs_release(v, n);
    assert_int_equal(err.len, 0);

    assert_int_equal(store_job_find(st, run, "deploy", &j, &err), -ENOENT);
    assert_non_null(strstr(err.data, "deploy"));
    store_job_release(&j);
    buf_reset(&err);

    /* Foreign key: a job of a run that does not exist is refused. */
    assert_int_equal(store_job_insert(st, 9999, "ghost", &err), -1);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    assert_non_null(strstr(err.data, "ghost"));
    buf_reset(&err);
    /* A name is unique within its run. */
    assert_int_equal(store_job_insert(st, run, "build", &err), -1);
    assert_non_null(strstr(err.data, "UNIQUE"));
    buf_reset(&err);

    j = (struct store_job){.id = 9999, .state = "passed"};
    assert_int_equal(store_job_update(st, &j, &err), -ENOENT);
    buf_release(&err);
    store_close(st);
}

static void test_attempts(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    int64_t run = add_run(st, "running", 1000);
    int64_t job = add_job(st, run, "build");

    struct store_attempt a = {
        .job_id = job,
        .number = 2,
        .state = "running",
        .exit_code = -1,
        .log_path = "logs/1/build.2.log",
        .workspace = "work/1/build.2",
        .started_ms = 500,
    };
    int64_t second = store_attempt_insert(st, &a, &err);
    a.number = 1;
    a.state = "failed";
    a.exit_code = 1;
    a.finished_ms = 400;
    a.log_path = NULL; /* stored as "" */
    int64_t first = store_attempt_insert(st, &a, &err);
    assert_int_equal(err.len, 0);
    assert_true(second > 0 && first > second);

    /* The same number twice is refused. */
    assert_int_equal(store_attempt_insert(st, &a, &err), -1);
    buf_reset(&err);
    /* An attempt of a missing job is refused. */
    a.job_id = 777;
    a.number = 1;
    assert_int_equal(store_attempt_insert(st, &a, &err), -1);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    buf_reset(&err);

    struct store_attempt u = {
        .id = second,
        .state = "timed-out",
        .exit_code = -1,
        .signal = 9,
        .log_path = "logs/1/build.2.log",
        .workspace = "",
        .started_ms = 500,
        .finished_ms = 900,
    };
    assert_int_equal(store_attempt_update(st, &u, &err), 0);
    u.id = 31337;
    assert_int_equal(store_attempt_update(st, &u, &err), -ENOENT);
    buf_reset(&err);

    struct store_attempt *v = NULL;
    size_t n = 0;
    assert_int_equal(store_attempt_list(st, job, &v, &n, &err), 0);
    assert_int_equal(n, 2); /* by number */
    assert_int_equal(v[0].id, first);
    assert_int_equal(v[0].number, 1);
    assert_string_equal(v[0].state, "failed");
    assert_int_equal(v[0].exit_code, 1);
    assert_string_equal(v[0].log_path, "");
    assert_int_equal(v[0].finished_ms, 400);
    assert_int_equal(v[1].id, second);
    assert_int_equal(v[1].job_id, job);
    assert_int_equal(v[1].number, 2);
    assert_string_equal(v[1].state, "timed-out");
    assert_int_equal(v[1].exit_code, -1);
    assert_int_equal(v[1].signal, 9);
    assert_string_equal(v[1].log_path, "logs/1/build.2.log");
    assert_string_equal(v[1].workspace, "");
    assert_int_equal(v[1].started_ms, 500);
    assert_int_equal(v[1].finished_ms, 900);
    store_attempts_release(v, n);
    buf_release(&err);
    store_close(st);
}

#define DIGEST_A "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define DIGEST_E "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_artifacts(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    int64_t run = add_run(st, "running", 1000);
    int64_t job = add_job(st, run, "build");

    struct store_artifact a = {
        .job_id = job, .path = "dist/z.tar", .digest = DIGEST_A, .size = 3, .mode = 0644};
    int64_t z = store_artifact_insert(st, &a, &err);
    a.path = "bin/app";
    a.digest = DIGEST_E;
    a.size = 0;
    a.mode = 0755;
    int64_t app = store_artifact_insert(st, &a, &err);
    assert_int_equal(err.len, 0);
    assert_true(z > 0 && app > z);

    struct store_artifact *v = NULL;
    size_t n = 0;
    assert_int_equal(store_artifact_list(st, job, &v, &n, &err), 0);
    assert_int_equal(n, 2); /* by path */
    assert_int_equal(v[0].id, app);
    assert_int_equal(v[0].job_id, job);
    assert_string_equal(v[0].path, "bin/app");
    assert_string_equal(v[0].digest, DIGEST_E);
    assert_int_equal(v[0].size, 0);
    assert_int_equal(v[0].mode, 0755);
    assert_string_equal(v[1].path, "dist/z.tar");
    assert_int_equal(v[1].size, 3);
    assert_int_equal(v[1].mode, 0644);
    store_artifacts_release(v, n);

    /* Stored again (a retried job): the newest replaces the old one. */
    a.digest = DIGEST_A;
    a.size = 3;
    int64_t again = store_artifact_insert(st, &a, &err);
    assert_true(again > app);
    assert_int_equal(store_artifact_list(st, job, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, again);
    assert_string_equal(v[0].digest, DIGEST_A);
    store_artifacts_release(v, n);
    assert_int_equal(err.len, 0);

    /* Refused: a malformed digest, a missing job. */
    a.digest = "sha256:abc";
    assert_int_equal(store_artifact_insert(st, &a, &err), -1);
    assert_non_null(strstr(err.data, "CHECK"));
    buf_reset(&err);
    a.digest = DIGEST_A;
    a.job_id = 5555;
    assert_int_equal(store_artifact_insert(st, &a, &err), -1);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    buf_reset(&err);

    assert_int_equal(store_artifact_list(st, 5555, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_artifacts_release(v, n);
    buf_release(&err);
    store_close(st);
}

static void set_job(struct store *st, int64_t run, const char *name, const char *state)
{
    struct store_job j;
    struct buf err = BUF_INIT;
    assert_int_equal(store_job_find(st, run, name, &j, &err), 0);
    free(j.state);
    j.state = strdup(state);
    j.started_ms = 100;
    if (!strcmp(state, "passed"))
        j.finished_ms = 200;
    assert_int_equal(store_job_update(st, &j, &err), 0);
    store_job_release(&j);
    buf_release(&err);
}

static void test_reconcile(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;

    int64_t crashed = add_run(st, "running", 1000);
    add_job(st, crashed, "queued-one");
    add_job(st, crashed, "running-one");
    add_job(st, crashed, "passed-one");
    set_job(st, crashed, "running-one", "running");
    set_job(st, crashed, "passed-one", "passed");
    struct store_job rj;
    assert_int_equal(store_job_find(st, crashed, "running-one", &rj, &err), 0);
    struct store_attempt a = {.job_id = rj.id,
                              .number = 1,
                              .state = "failed",
                              .exit_code = 1,
                              .started_ms = 100,
                              .finished_ms = 150};
    int64_t a1 = store_attempt_insert(st, &a, &err);
    a.number = 2;
    a.state = "running";
    a.exit_code = -1;
    a.finished_ms = 0;
    int64_t a2 = store_attempt_insert(st, &a, &err);
    assert_true(a1 > 0 && a2 > 0);

    int64_t done = add_run(st, "passed", 1000);
    add_job(st, done, "build");
    set_job(st, done, "build", "passed");

    assert_int_equal(store_reconcile(st, &err), 1);
    assert_int_equal(err.len, 0);

    struct store_run r;
    assert_int_equal(store_run_get(st, crashed, &r, &err), 0);
    assert_string_equal(r.state, "cancelled");
    assert_true(r.finished_ms > 0);
    store_run_release(&r);
    assert_int_equal(store_run_get(st, done, &r, &err), 0);
    assert_string_equal(r.state, "passed");
    assert_int_equal(r.finished_ms, 0);
    store_run_release(&r);

    struct store_job *v = NULL;
    size_t n = 0;
    assert_int_equal(store_job_list(st, crashed, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(v[i].state, "cancelled");
        assert_string_equal(v[i].reason, "interrupted: flywheel stopped before the run finished");
        assert_true(v[i].finished_ms > 0);
    }
    assert_string_equal(v[2].state, "passed");
    assert_string_equal(v[2].reason, "");
    assert_int_equal(v[2].finished_ms, 200);
    store_jobs_release(v, n);
    assert_int_equal(store_job_list(st, done, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].state, "passed");
    store_jobs_release(v, n);

    struct store_attempt *av = NULL;
    assert_int_equal(store_attempt_list(st, rj.id, &av, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(av[0].state, "failed");
    assert_int_equal(av[0].finished_ms, 150);
    assert_string_equal(av[1].state, "cancelled");
    assert_true(av[1].finished_ms > 0);
    store_attempts_release(av, n);
    store_job_release(&rj);

    /* Nothing is left to fix. */
    assert_int_equal(store_reconcile(st, &err), 0);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    store_close(st);
}

static void test_two_handles(void **state)
{
    struct fixture *f = *state;
    struct store *one = open_ok(f->db);
    struct store *two = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run r;

    int64_t run = add_run(one, "running", 1000);
    assert_int_equal(store_run_latest(two), run);
    assert_int_equal(store_run_get(two, run, &r, &err), 0);
    free(r.state);
    r.state = strdup("passed");
    assert_int_equal(store_run_update(two, &r, &err), 0);
    store_run_release(&r);
    int64_t job = add_job(two, run, "build");

    assert_int_equal(store_run_get(one, run, &r, &err), 0);
    assert_string_equal(r.state, "passed");
    store_run_release(&r);
    struct store_job j;
    assert_int_equal(store_job_find(one, run, "build", &j, &err), 0);
    assert_int_equal(j.id, job);
    store_job_release(&j);
    assert_int_equal(err.len, 0);

    buf_release(&err);
    store_close(two);
    store_close(one);
    store_close(NULL);
}

/* The schema as flywheel shipped it at version 1, to test the migration from it. */
static const char schema_v1[] =
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
    "CREATE INDEX artifacts_by_digest ON artifacts (digest);"
    "PRAGMA user_version = 1;";

static void test_migrate_from_v1(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    struct store_run r;

    raw_exec(f->db, schema_v1);
    raw_exec(f->db, "INSERT INTO runs (kind, source, commit_id, branch, state, created_ms,"
                    " started_ms, finished_ms) VALUES ('main', 'HEAD', 'abc', 'main', 'passed',"
                    " 1000, 1100, 1200);"
                    "INSERT INTO jobs (run_id, name, state) VALUES (1, 'build', 'passed');");
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 1);

    struct store *st = open_ok(f->db);
    assert_int_equal(store_schema_version(st), SCHEMA_VERSION);

    /* The old run is kept, as a local run. */
    assert_int_equal(store_run_get(st, 1, &r, &err), 0);
    assert_string_equal(r.kind, "main");
    assert_string_equal(r.source, "HEAD");
    assert_string_equal(r.commit, "abc");
    assert_string_equal(r.branch, "main");
    assert_string_equal(r.state, "passed");
    assert_int_equal(r.created_ms, 1000);
    assert_int_equal(r.started_ms, 1100);
    assert_int_equal(r.finished_ms, 1200);
    assert_int_equal(r.repo_id, 0);
    assert_int_equal(r.number, 0);
    assert_string_equal(r.ref, "");
    assert_string_equal(r.trigger, "");
    assert_int_equal(r.retry_of, 0);
    store_run_release(&r);
    struct store_job j;
    assert_int_equal(store_job_find(st, 1, "build", &j, &err), 0);
    assert_string_equal(j.state, "passed");
    assert_int_equal(j.retry_base, 0);
    store_job_release(&j);

    /* The new parts work on the migrated file; ids go on after the old ones. */
    int64_t repo = add_repo(st, "app");
    int64_t number = 0;
    int64_t id = add_server_run(st, repo, "refs/heads/main", "main", "running", &number);
    assert_int_equal(id, 2);
    assert_int_equal(number, 1);
    assert_int_equal(add_run(st, "running", 0), 3);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    store_close(st);

    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_integrity_check"
                                    " WHERE integrity_check <> 'ok'"),
                     0);
    /* A local run stores NULL, not 0, so the UNIQUE index never sees it. */
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM runs WHERE repo_id IS NULL"
                                    " AND number IS NULL AND retry_of IS NULL"),
                     2);
    st = open_ok(f->db); /* and a second open has nothing to migrate */
    assert_int_equal(store_schema_version(st), SCHEMA_VERSION);
    store_close(st);
}

static void test_run_numbers(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run r;
    int64_t n1, n2, n3, m1;

    int64_t app = add_repo(st, "app");
    int64_t lib = add_repo(st, "lib");
    int64_t a1 = add_server_run(st, app, "refs/heads/main", "main", "running", &n1);
    int64_t local = add_run(st, "running", 0);
    int64_t b1 = add_server_run(st, lib, "refs/heads/main", "main", "running", &m1);
    int64_t a2 = add_server_run(st, app, "refs/heads/x", "change", "running", &n2);
    int64_t a3 = add_server_run(st, app, "refs/tags/v1", "tag", "running", &n3);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 2);
    assert_int_equal(n3, 3);
    assert_int_equal(m1, 1); /* each repository counts from 1 */

    /* A local run has no number, and the struct it came from is left alone. */
    struct store_run lr = {.kind = "manual", .state = "running", .number = 5};
    int64_t local2 = store_run_insert(st, &lr, &err);
    assert_true(local2 > a3);
    assert_int_equal(lr.number, 5);
    assert_int_equal(store_run_get(st, local2, &r, &err), 0);
    assert_int_equal(r.repo_id, 0);
    assert_int_equal(r.number, 0);
    store_run_release(&r);
    assert_int_equal(store_run_get(st, local, &r, &err), 0);
    assert_int_equal(r.number, 0);
    store_run_release(&r);

    assert_int_equal(store_run_find(st, app, 2, &r, &err), 0);
    assert_int_equal(r.id, a2);
    assert_int_equal(r.repo_id, app);
    assert_int_equal(r.number, 2);
    assert_string_equal(r.ref, "refs/heads/x");
    assert_string_equal(r.trigger, "push");
    store_run_release(&r);
    assert_int_equal(store_run_find(st, lib, 1, &r, &err), 0);
    assert_int_equal(r.id, b1);
    store_run_release(&r);
    assert_int_equal(store_run_find(st, app, 1, &r, &err), 0);
    assert_int_equal(r.id, a1);
    store_run_release(&r);
    assert_int_equal(err.len, 0);

    assert_int_equal(store_run_find(st, lib, 2, &r, &err), -ENOENT);
    assert_non_null(strstr(err.data, "no run 2 of repository"));
    store_run_release(&r);
    buf_reset(&err);
    assert_int_equal(store_run_find(st, app, 0, &r, &err), -ENOENT); /* local runs have none */
    buf_reset(&err);

    /* A run of a repository that does not exist is refused and takes no number. */
    struct store_run ghost = {.kind = "main", .state = "running", .repo_id = 999};
    assert_int_equal(store_run_insert(st, &ghost, &err), -1);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    assert_int_equal(ghost.number, 0);
    buf_reset(&err);
    /* ... and leaves no transaction open: another handle can write at once. */
    struct store *other = open_ok(f->db);
    int64_t n4;
    add_server_run(other, app, "refs/heads/main", "main", "running", &n4);
    assert_int_equal(n4, 4);
    store_close(other);

    /* Numbers are never assigned twice, whatever the caller does. */
    assert_int_not_equal(raw_exec_rc(f->db, "UPDATE runs SET number = 1 WHERE number = 2"
                                            " AND repo_id IS NOT NULL"),
                         SQLITE_OK);
    /* A server run without a number, or a local run with one, is refused. */
    assert_int_not_equal(raw_exec_rc(f->db, "UPDATE runs SET number = NULL WHERE number = 3"),
                         SQLITE_OK);
    assert_int_not_equal(raw_exec_rc(f->db, "UPDATE runs SET number = 9 WHERE repo_id IS NULL"),
                         SQLITE_OK);
    buf_release(&err);
    store_close(st);
}

static void test_run_numbers_two_handles(void **state)
{
    struct fixture *f = *state;
    struct store *one = open_ok(f->db);
    struct store *two = open_ok(f->db);
    int64_t app = add_repo(one, "app");
    int64_t lib = add_repo(two, "lib");
    int64_t number, next_app = 1, next_lib = 1;

    for (int i = 0; i < 20; i++) {
        struct store *st = i % 2 ? two : one;
        int64_t repo = i % 3 ? app : lib;
        add_server_run(st, repo, "refs/heads/main", "main", "running", &number);
        assert_int_equal(number, repo == app ? next_app++ : next_lib++);
    }
    /* Each handle sees every run the other numbered. */
    struct store_run_filter filter = {.repo_id = app};
    struct store_run *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    assert_int_equal(store_run_query(one, &filter, &v, &n, &err), 0);
    assert_int_equal(n, next_app - 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].number, next_app - 1 - (int64_t)i);
    store_runs_release(v, n);
    buf_release(&err);
    store_close(two);
    store_close(one);
}

#define PROCS_RUNS 200

/* A child process: inserts PROCS_RUNS runs of repo with its own handle. 0 when all went well. */
static int child_insert(const char *db, int64_t repo)
{
    struct store *st = NULL;
    struct buf err = BUF_INIT;
    int64_t last = 0;
    int ret = 0;
    if (store_open(&st, db, &err)) {
        fprintf(stderr, "child: %s\n", err.data);
        return 1;
    }
    for (int i = 0; i < PROCS_RUNS && !ret; i++) {
        struct store_run r = {.kind = "main", .state = "passed", .repo_id = repo};
        if (store_run_insert(st, &r, &err) <= 0) {
            fprintf(stderr, "child: %s\n", err.data);
            ret = 1;
        } else if (r.number <= last) {
            fprintf(stderr, "child: number %lld after %lld\n", (long long)r.number,
                    (long long)last);
            ret = 1;
        }
        last = r.number;
    }
    store_close(st);
    buf_release(&err);
    return ret;
}

static void test_run_numbers_two_processes(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    int64_t repo = add_repo(st, "app");
    pid_t pid[2];
    store_close(st); /* no SQLite handle crosses the fork */

    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0)
            _exit(child_insert(f->db, repo));
    }
    for (int i = 0; i < 2; i++) {
        int status;
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    st = open_ok(f->db);
    struct store_run_filter filter = {.repo_id = repo, .limit = 1000};
    struct store_run *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    char seen[2 * PROCS_RUNS + 1] = {0};
    assert_int_equal(store_run_query(st, &filter, &v, &n, &err), 0);
    assert_int_equal(n, 2 * PROCS_RUNS);
    for (size_t i = 0; i < n; i++) {
        assert_in_range(v[i].number, 1, 2 * PROCS_RUNS);
        assert_int_equal(seen[v[i].number], 0);
        seen[v[i].number] = 1;
        if (i > 0) /* numbers follow ids */
            assert_int_equal(v[i].number, v[i - 1].number - 1);
    }
    store_runs_release(v, n);
    buf_release(&err);
    store_close(st);
}

static void test_run_server_fields(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run r;
    int64_t number;

    int64_t repo = add_repo(st, "app");
    int64_t first = add_server_run(st, repo, "refs/heads/main", "main", "failed", &number);
    struct store_run retry = {
        .kind = "main",
        .source = "abc",
        .commit = "abc",
        .state = "running",
        .repo_id = repo,
        .ref = "refs/heads/main",
        .trigger = "retry",
        .retry_of = first,
    };
    int64_t second = store_run_insert(st, &retry, &err);
    assert_true(second > first);
    assert_int_equal(retry.number, 2);

    assert_int_equal(store_run_get(st, second, &r, &err), 0);
    assert_int_equal(r.repo_id, repo);
    assert_int_equal(r.number, 2);
    assert_string_equal(r.ref, "refs/heads/main");
    assert_string_equal(r.trigger, "retry");
    assert_int_equal(r.retry_of, first);

    /* Update writes ref, trigger and retry_of; the repository and number stay. */
    free(r.ref);
    free(r.trigger);
    r.ref = strdup("refs/heads/other");
    r.trigger = strdup("api");
    r.retry_of = 0;
    r.repo_id = 0;
    r.number = 42;
    assert_int_equal(store_run_update(st, &r, &err), 0);
    store_run_release(&r);
    assert_int_equal(store_run_get(st, second, &r, &err), 0);
    assert_string_equal(r.ref, "refs/heads/other");
    assert_string_equal(r.trigger, "api");
    assert_int_equal(r.retry_of, 0);
    assert_int_equal(r.repo_id, repo);
    assert_int_equal(r.number, 2);
    store_run_release(&r);

    /* The list carries the new fields too. */
    struct store_run *v = NULL;
    size_t n = 0;
    add_run(st, "running", 0);
    assert_int_equal(store_run_list(st, 10, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].repo_id, 0);
    assert_string_equal(v[0].ref, "");
    assert_int_equal(v[1].id, second);
    assert_string_equal(v[1].ref, "refs/heads/other");
    assert_int_equal(v[2].number, 1);
    assert_string_equal(v[2].trigger, "push");
    store_runs_release(v, n);
    assert_int_equal(err.len, 0);

    /* retry_of names an existing run. */
    retry.retry_of = 4242;
    assert_int_equal(store_run_insert(st, &retry, &err), -1);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    buf_reset(&err);
    assert_int_equal(store_run_get(st, first, &r, &err), 0);
    r.retry_of = 4242;
    assert_int_equal(store_run_update(st, &r, &err), -EINVAL);
    assert_non_null(strstr(err.data, "FOREIGN KEY"));
    store_run_release(&r);
    buf_release(&err);
    store_close(st);
}

/* Checks that a query gives exactly the runs want (newest first), n_want of them. */
static void check_query(struct store *st, const struct store_run_filter *filter,
                        const int64_t *want, size_t n_want)
{
    struct store_run *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (store_run_query(st, filter, &v, &n, &err))
        fail_msg("store_run_query: %s", err.data);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].id, want[i]);
    store_runs_release(v, n);
    buf_release(&err);
}

#define CHECK_QUERY(st, ...)                                                                       \
    do {                                                                                           \
        struct store_run_filter q_ = {__VA_ARGS__};                                                \
        check_query(st, &q_, want, sizeof(want) / sizeof(want[0]));                                \
    } while (0)

static void test_run_query(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    int64_t app = add_repo(st, "app");
    int64_t lib = add_repo(st, "lib");

    int64_t r1 = add_server_run(st, app, "refs/heads/main", "main", "passed", NULL);
    int64_t r2 = add_server_run(st, app, "refs/heads/feature", "change", "failed", NULL);
    int64_t r3 = add_server_run(st, lib, "refs/heads/main", "main", "running", NULL);
    int64_t r4 = add_run(st, "passed", 0); /* local: kind "manual", branch "main", no ref */
    int64_t r5 = add_server_run(st, app, "refs/tags/v1", "tag", "passed", NULL);
    int64_t r6 = add_server_run(st, app, "refs/heads/main", "main", "running", NULL);
    int64_t r7 = add_server_run(st, app, "refs/heads/feature/main", "change", "passed", NULL);

    {
        const int64_t want[] = {r7, r6, r5, r4, r3, r2, r1};
        check_query(st, NULL, want, 7);
        CHECK_QUERY(st, .branch = "", .kind = "", .state = ""); /* empty: no filter */
    }
    {
        const int64_t want[] = {r7, r6, r5, r2, r1};
        CHECK_QUERY(st, .repo_id = app);
    }
    {
        const int64_t want[] = {r3};
        CHECK_QUERY(st, .repo_id = lib);
    }
    {
        const int64_t want[] = {r6, r3, r1}; /* the ref, not the local branch column */
        CHECK_QUERY(st, .branch = "main");
    }
    {
        const int64_t want[] = {r6, r1};
        CHECK_QUERY(st, .repo_id = app, .branch = "main");
    }
    {
        const int64_t want[] = {r2};
        CHECK_QUERY(st, .branch = "feature");
    }
    {
        const int64_t want[] = {r7, r2};
        CHECK_QUERY(st, .kind = "change");
    }
    {
        const int64_t want[] = {r7, r5, r4, r1};
        CHECK_QUERY(st, .state = "passed");
    }
    {
        const int64_t want[] = {r7, r5, r1};
        CHECK_QUERY(st, .repo_id = app, .state = "passed");
    }
    {
        const int64_t want[] = {r1};
        CHECK_QUERY(st, .repo_id = app, .branch = "main", .kind = "main", .state = "passed");
        CHECK_QUERY(st, .repo_id = app, .branch = "main", .kind = "main", .before_id = r6);
    }
    {
        const int64_t want[] = {r4};
        CHECK_QUERY(st, .kind = "manual");
    }
    {
        const int64_t want[] = {0};
        check_query(st, &(struct store_run_filter){.repo_id = 999}, want, 0);
        check_query(st, &(struct store_run_filter){.branch = "nope"}, want, 0);
        check_query(st, &(struct store_run_filter){.repo_id = lib, .state = "passed"}, want, 0);
        check_query(st, &(struct store_run_filter){.before_id = r1}, want, 0);
    }

    /* Pagination: pages of 2 with before_id set to the last id seen cover everything once. */
    {
        const int64_t want[] = {r7, r6, r5, r2, r1};
        struct store_run_filter q = {.repo_id = app, .limit = 2};
        struct store_run *v = NULL;
        size_t n = 0, got = 0, pages = 0;
        struct buf err = BUF_INIT;
        do {
            assert_int_equal(store_run_query(st, &q, &v, &n, &err), 0);
            assert_true(n <= 2);
            for (size_t i = 0; i < n; i++) {
                assert_true(got < 5);
                assert_int_equal(v[i].id, want[got++]);
            }
            if (n)
                q.before_id = v[n - 1].id;
            store_runs_release(v, n);
            pages++;
        } while (n == 2);
        assert_int_equal(got, 5);
        assert_int_equal(pages, 3);
        buf_release(&err);
    }
    {
        const int64_t want[] = {r5, r4};
        CHECK_QUERY(st, .before_id = r6, .limit = 2);
    }
    store_close(st);
}

static void test_run_query_limits(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run *v = NULL;
    size_t n = 0;

    for (int i = 0; i < 1005; i++)
        add_run(st, "passed", 1000);

    assert_int_equal(store_run_query(st, &(struct store_run_filter){0}, &v, &n, &err), 0);
    assert_int_equal(n, 50); /* 0 = the default */
    assert_int_equal(v[0].id, 1005);
    assert_int_equal(v[49].id, 956);
    store_runs_release(v, n);
    assert_int_equal(store_run_query(st, &(struct store_run_filter){.limit = 1000}, &v, &n, &err),
                     0);
    assert_int_equal(n, 1000);
    store_runs_release(v, n);
    assert_int_equal(
        store_run_query(st, &(struct store_run_filter){.limit = SIZE_MAX}, &v, &n, &err), 0);
    assert_int_equal(n, 1000); /* the maximum */
    assert_int_equal(v[999].id, 6);
    store_runs_release(v, n);
    /* store_run_list is not capped. */
    assert_int_equal(store_run_list(st, 5000, &v, &n, &err), 0);
    assert_int_equal(n, 1005);
    store_runs_release(v, n);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    store_close(st);
}

/* The scheduler's read: queued and running runs after an id, oldest first. */
static void test_runs_waiting(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_run *v = NULL;
    size_t n = 0;

    int64_t q1 = add_run(st, "queued", 1);
    add_run(st, "passed", 2);
    int64_t r1 = add_run(st, "running", 3);
    add_run(st, "failed", 4);
    int64_t q2 = add_run(st, "queued", 5);
    assert_int_equal(store_runs_waiting(st, 0, 10, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, q1);
    assert_int_equal(v[1].id, r1);
    assert_int_equal(v[2].id, q2);
    store_runs_release(v, n);
    assert_int_equal(store_runs_waiting(st, q1, 1, &v, &n, &err), 0);
    assert_int_equal(n, 1); /* the limit, from the oldest after q1 */
    assert_int_equal(v[0].id, r1);
    store_runs_release(v, n);
    assert_int_equal(store_runs_waiting(st, q2, 10, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_runs_release(v, n);

    /* A state filter gives the same answers whichever state was asked
     * before, a known one (written into the statement) or not. */
    static const char *const order[] = {"queued", "running", "nonsense", "queued", "failed"};
    static const size_t want[] = {2, 1, 0, 2, 1};
    for (size_t i = 0; i < 5; i++) {
        struct store_run_filter q = {.state = order[i]};
        assert_int_equal(store_run_query(st, &q, &v, &n, &err), 0);
        assert_int_equal(n, want[i]);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(v[k].state, order[i]);
        store_runs_release(v, n);
    }
    assert_int_equal(err.len, 0);
    buf_release(&err);
    store_close(st);
}

static void test_repos(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    struct store_repo r;

    struct store_repo in = {.name = "web", .url = "https://example.com/web.git", .poll_s = 60};
    int64_t web = store_repo_insert(st, &in, &err);
    in = (struct store_repo){
        .name = "api", .url = "/srv/git/api.git", .main_branch = "trunk", .created_ms = 1234};
    int64_t api = store_repo_insert(st, &in, &err);
    assert_int_equal(err.len, 0);
    assert_true(web > 0 && api > web);

    assert_int_equal(store_repo_get(st, "web", &r, &err), 0);
    assert_int_equal(r.id, web);
    assert_string_equal(r.name, "web");
    assert_string_equal(r.url, "https://example.com/web.git");
    assert_string_equal(r.main_branch, "main"); /* the default */
    assert_int_equal(r.poll_s, 60);
    assert_true(r.created_ms > 1600000000000LL);
    store_repo_release(&r);
    assert_int_equal(store_repo_get_id(st, api, &r, &err), 0);
    assert_string_equal(r.name, "api");
    assert_string_equal(r.url, "/srv/git/api.git");
    assert_string_equal(r.main_branch, "trunk");
    assert_int_equal(r.poll_s, 0);
    assert_int_equal(r.created_ms, 1234);

    /* Update: every field but the creation time. */
    free(r.url);
    free(r.main_branch);
    r.url = strdup("/srv/git/api2.git");
    r.main_branch = strdup("main");
    r.poll_s = 300;
    r.created_ms = 1;
    assert_int_equal(store_repo_update(st, &r, &err), 0);
    store_repo_release(&r);
    assert_int_equal(store_repo_get(st, "api", &r, &err), 0);
    assert_string_equal(r.url, "/srv/git/api2.git");
    assert_string_equal(r.main_branch, "main");
    assert_int_equal(r.poll_s, 300);
    assert_int_equal(r.created_ms, 1234);
    store_repo_release(&r);
    assert_int_equal(err.len, 0);

    /* By name: sorted, not in insertion order. */
    struct store_repo *v = NULL;
    size_t n = 0;
    assert_int_equal(store_repo_list(st, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "api");
    assert_string_equal(v[1].name, "web");
    assert_int_equal(v[1].poll_s, 60);
    store_repos_release(v, n);

    /* A taken name, on insert and on rename. */
    in = (struct store_repo){.name = "web", .url = "x"};
    assert_int_equal(store_repo_insert(st, &in, &err), -1);
    assert_non_null(strstr(err.data, "'web' already exists"));
    buf_reset(&err);
    assert_int_equal(store_repo_get_id(st, api, &r, &err), 0);
    free(r.name);
    r.name = strdup("web");
    assert_int_equal(store_repo_update(st, &r, &err), -EEXIST);
    assert_non_null(strstr(err.data, "'web' already exists"));
    buf_reset(&err);
    /* A rename to a free name. */
    free(r.name);
    r.name = strdup("api-v2");
    assert_int_equal(store_repo_update(st, &r, &err), 0);
    store_repo_release(&r);
    assert_int_equal(store_repo_get(st, "api", &r, &err), -ENOENT);
    assert_non_null(strstr(err.data, "'api'"));
    store_repo_release(&r);
    buf_reset(&err);
    assert_int_equal(store_repo_get(st, "api-v2", &r, &err), 0);
    assert_int_equal(r.id, api);
    store_repo_release(&r);

    /* Refused: no name, a negative interval; missing rows. */
    in = (struct store_repo){.name = "", .url = "x"};
    assert_int_equal(store_repo_insert(st, &in, &err), -1);
    assert_non_null(strstr(err.data, "CHECK"));
    buf_reset(&err);
    in = (struct store_repo){.name = "neg", .url = "x", .poll_s = -1};
    assert_int_equal(store_repo_insert(st, &in, &err), -1);
    buf_reset(&err);
    assert_int_equal(store_repo_get_id(st, 999, &r, &err), -ENOENT);
    assert_non_null(strstr(err.data, "999"));
    buf_reset(&err);
    in = (struct store_repo){.id = 999, .name = "ghost", .url = "x"};
    assert_int_equal(store_repo_update(st, &in, &err), -ENOENT);
    buf_reset(&err);
    assert_int_equal(store_repo_list(st, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    store_repos_release(v, n);
    buf_release(&err);
    store_close(st);
}

static void test_repo_refs(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT, out = BUF_INIT;
    int64_t app = add_repo(st, "app");
    int64_t lib = add_repo(st, "lib");
    const char *refs = "0123456789abcdef0123456789abcdef01234567 refs/heads/main\n"
                       "89abcdef0123456789abcdef0123456789abcdef refs/tags/v1\n";

    /* Nothing stored yet: empty, not an error. */
    assert_int_equal(store_repo_refs_get(st, app, &out, &err), 0);
    assert_int_equal(out.len, 0);

    assert_int_equal(store_repo_refs_set(st, app, refs, &err), 0);
    assert_int_equal(store_repo_refs_get(st, app, &out, &err), 0);
    assert_string_equal(out.data, refs);
    buf_reset(&out);
    assert_int_equal(store_repo_refs_get(st, lib, &out, &err), 0); /* per repository */
    assert_int_equal(out.len, 0);

    /* Replaced as a whole; also seen by a new handle. */
    assert_int_equal(store_repo_refs_set(st, app, "abc refs/heads/x\n", &err), 0);
    store_close(st);
    st = open_ok(f->db);
    assert_int_equal(store_repo_refs_get(st, app, &out, &err), 0);
    assert_string_equal(out.data, "abc refs/heads/x\n");
    buf_reset(&out);
    assert_int_equal(store_repo_refs_set(st, app, "", &err), 0);
    assert_int_equal(store_repo_refs_get(st, app, &out, &err), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(err.len, 0);

    /* A repository that does not exist. */
    assert_int_equal(store_repo_refs_set(st, 999, refs, &err), -ENOENT);
    assert_non_null(strstr(err.data, "999"));
    buf_reset(&err);
    assert_int_equal(store_repo_refs_get(st, 999, &out, &err), -ENOENT);
    assert_int_equal(out.len, 0);
    buf_release(&err);
    buf_release(&out);
    store_close(st);
}

static void test_repo_foreign_keys(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    int64_t app = add_repo(st, "app");
    int64_t lib = add_repo(st, "lib");
    add_server_run(st, app, "refs/heads/main", "main", "passed", NULL);
    assert_int_equal(store_repo_refs_set(st, app, "abc refs/heads/main\n", &err), 0);
    assert_int_equal(store_repo_refs_set(st, lib, "abc refs/heads/main\n", &err), 0);
    store_close(st);

    /* A repository with runs cannot go; one without takes its refs along. */
    assert_int_equal(raw_exec_rc(f->db, "DELETE FROM repos WHERE name = 'app'"), SQLITE_CONSTRAINT);
    raw_exec(f->db, "DELETE FROM repos WHERE name = 'lib'");
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM repo_refs"), 1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    buf_release(&err);
}

/* A manual retry: the jobs queued again and the run running, in one transaction. */
static void test_rerun(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    int64_t run = add_run(st, "failed", 1000);
    int64_t other = add_run(st, "passed", 1000);
    int64_t build = add_job(st, run, "build");
    int64_t test = add_job(st, run, "test");
    int64_t lint = add_job(st, run, "lint");
    int64_t elsewhere = add_job(st, other, "build");
    set_job(st, run, "build", "failed");
    set_job(st, run, "test", "skipped");
    set_job(st, run, "lint", "passed");
    set_job(st, other, "build", "passed");
    struct store_job j;
    assert_int_equal(store_job_find(st, run, "build", &j, &err), 0);
    j.attempts = 2;
    j.exit_code = 3;
    assert_int_equal(store_job_update(st, &j, &err), 0);
    store_job_release(&j);
    struct store_artifact a = {.job_id = build, .path = "out", .digest = DIGEST_A, .mode = 0644};
    assert_true(store_artifact_insert(st, &a, &err) > 0);
    a.job_id = lint;
    assert_true(store_artifact_insert(st, &a, &err) > 0);

    /* A job of another run: refused, and nothing changed. */
    int64_t bad[] = {build, elsewhere};
    assert_int_equal(store_run_rerun(st, run, bad, 2, "again", &err), -ENOENT);
    assert_true(err.len > 0);
    buf_reset(&err);
    assert_int_equal(store_job_find(st, run, "build", &j, &err), 0);
    assert_string_equal(j.state, "failed");
    store_job_release(&j);
    struct store_run r;
    assert_int_equal(store_run_get(st, run, &r, &err), 0);
    assert_string_equal(r.state, "failed");
    store_run_release(&r);

    int64_t ids[] = {build, test};
    assert_int_equal(store_run_rerun(st, run, ids, 2, "retried through the API", &err), 0);
    assert_int_equal(err.len, 0);
    assert_int_equal(store_job_find(st, run, "build", &j, &err), 0);
    assert_string_equal(j.state, "queued");
    assert_string_equal(j.reason, "retried through the API");
    assert_int_equal(j.attempts, 2);
    assert_int_equal(j.retry_base, 2);
    assert_int_equal(j.exit_code, -1);
    assert_int_equal(j.started_ms, 0);
    assert_int_equal(j.finished_ms, 0);
    /* store_job_update leaves retry_base alone */
    free(j.state);
    j.state = strdup("running");
    j.attempts = 3;
    assert_int_equal(store_job_update(st, &j, &err), 0);
    store_job_release(&j);
    assert_int_equal(store_job_find(st, run, "build", &j, &err), 0);
    assert_int_equal(j.retry_base, 2);
    store_job_release(&j);
    assert_int_equal(store_job_find(st, run, "test", &j, &err), 0);
    assert_string_equal(j.state, "queued");
    store_job_release(&j);
    assert_int_equal(store_job_find(st, run, "lint", &j, &err), 0);
    assert_string_equal(j.state, "passed");
    store_job_release(&j);
    assert_int_equal(store_run_get(st, run, &r, &err), 0);
    assert_string_equal(r.state, "running");
    assert_int_equal(r.finished_ms, 0);
    store_run_release(&r);
    /* The retried job's artifact records are gone, the others' stay. */
    struct store_artifact *v = NULL;
    size_t n = 0;
    assert_int_equal(store_artifact_list(st, build, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_artifacts_release(v, n);
    assert_int_equal(store_artifact_list(st, lint, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    store_artifacts_release(v, n);
    /* A job that has not ended cannot be queued again. */
    assert_int_equal(store_run_rerun(st, run, ids, 1, "again", &err), -ENOENT);
    buf_reset(&err);
    /* Running again: retention cannot delete it; an ended run it can. */
    assert_int_equal(store_run_delete(st, run, &err), -EBUSY);
    assert_int_equal(store_run_get(st, run, &r, &err), 0);
    store_run_release(&r);
    buf_reset(&err);
    assert_int_equal(store_run_delete(st, other, &err), 0);
    assert_int_equal(store_run_get(st, other, &r, &err), -ENOENT);
    buf_release(&err);
    store_close(st);
}

static void test_count_states(void **state)
{
    struct fixture *f = *state;
    struct store *st = open_ok(f->db);
    struct buf err = BUF_INIT;
    static const char *const states[] = {"queued", "running", "passed", "failed"};
    int64_t c[4];
    assert_int_equal(store_run_count_states(st, states, 4, c, &err), 0);
    assert_int_equal(c[0] + c[1] + c[2] + c[3], 0);
    int64_t run = add_run(st, "running", 1);
    add_run(st, "passed", 1);
    add_run(st, "passed", 1);
    add_run(st, "odd", 1);
    add_job(st, run, "a");
    add_job(st, run, "b");
    add_job(st, run, "c");
    set_job(st, run, "c", "failed");
    assert_int_equal(store_run_count_states(st, states, 4, c, &err), 0);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 1);
    assert_int_equal(c[2], 2);
    assert_int_equal(c[3], 0);
    assert_int_equal(store_job_count_states(st, states, 4, c, &err), 0);
    assert_int_equal(c[0], 2);
    assert_int_equal(c[1], 0);
    assert_int_equal(c[2], 0);
    assert_int_equal(c[3], 1);
    assert_int_equal(err.len, 0);
    buf_release(&err);
    store_close(st);
}

static void test_now(void **state)
{
    (void)state;
    int64_t a = store_now_ms();
    int64_t b = store_now_ms();
    assert_true(a > 1600000000000LL); /* after 2020 */
    assert_true(b >= a);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_migrate_idempotent),
        T(test_open_missing_dir),
        T(test_open_newer_schema_refused),
        T(test_runs),
        T(test_jobs),
        T(test_attempts),
        T(test_artifacts),
        T(test_reconcile),
        T(test_two_handles),
        T(test_migrate_from_v1),
        T(test_run_numbers),
        T(test_run_numbers_two_handles),
        T(test_run_numbers_two_processes),
        T(test_run_server_fields),
        T(test_run_query),
        T(test_run_query_limits),
        T(test_runs_waiting),
        T(test_repos),
        T(test_repo_refs),
        T(test_repo_foreign_keys),
        T(test_rerun),
        T(test_count_states),
        cmocka_unit_test(test_now),
    };
#undef T
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
