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
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

/* The schema version store.c migrates to; bump it with each new migration. */
#define SCHEMA_VERSION 1

struct fixture {
    char dir[64];
    char db[128];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

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
    int rc = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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

static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
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
                                    " AND name IN ('runs', 'jobs', 'attempts', 'artifacts')"),
                     4);
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
        cmocka_unit_test(test_now),
    };
#undef T
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
