#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/walvfs.h"
#include "tmpdir.h"

/*
 * Under the store's VFS sits a counting one, registered as the default
 * before walvfs_name() is first called: walvfs builds on whatever the
 * default is, so each write that reaches the log through it is counted.
 */
static sqlite3_vfs count_vfs;
static sqlite3_vfs *unix_vfs;
static sqlite3_io_methods count_methods;
static const sqlite3_io_methods *unix_wal_methods;
static int wal_writes;

static int count_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
    wal_writes++;
    return unix_wal_methods->xWrite(f, p, amt, off);
}

static int count_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags,
                      int *out_flags)
{
    (void)v;
    int rc = unix_vfs->xOpen(unix_vfs, name, f, flags, out_flags);
    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) {
        if (!unix_wal_methods) {
            unix_wal_methods = f->pMethods;
            count_methods = *f->pMethods;
            count_methods.xWrite = count_write;
        }
        f->pMethods = &count_methods;
    }
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    unix_vfs = sqlite3_vfs_find(NULL);
    if (!unix_vfs)
        return -1;
    count_vfs = *unix_vfs;
    count_vfs.zName = "count";
    count_vfs.pNext = NULL;
    count_vfs.xOpen = count_open;
    if (sqlite3_vfs_register(&count_vfs, 1) != SQLITE_OK)
        return -1;
    return walvfs_name() ? 0 : -1;
}

struct fixture {
    char dir[64];
    char db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-walvfs-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
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

/* A connection in WAL mode with table t (id, blob), through vfs (NULL: the default). */
static sqlite3 *db_open(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                  "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

/* Inserts n rows of size bytes each, in the open transaction or in one of their own. */
static int insert(sqlite3 *db, int n, int size)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO t (b) VALUES (randomblob(?1))", -1, &s, NULL);
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int(s, 1, size);
        rc = sqlite3_step(s);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

static int64_t count_rows(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static int frames(void *ctx, sqlite3 *db, const char *name, int n)
{
    (void)db;
    (void)name;
    *(int *)ctx = n;
    return SQLITE_OK;
}

static void check_integrity(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* A commit of many pages reaches the log in one write; others see it at once. */
static void test_commit_one_write(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = db_open(f->db, walvfs_name());
    sqlite3 *other = db_open(f->db, "count");
    assert_int_equal(count_rows(other), 0);
    int n_frames = 0;
    sqlite3_wal_hook(db, frames, &n_frames);
    int before = wal_writes;
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert(db, 20, 3000), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    int writes = wal_writes - before;
    /* 20 pages at least, each a header and a page: 40 writes without gathering */
    assert_true(n_frames >= 20);
    assert_true(writes >= 1 && writes <= 2);
    assert_int_equal(count_rows(other), 20);

    /* the next commits too, and a reader through the store's VFS sees them */
    before = wal_writes;
    assert_int_equal(insert(db, 5, 3000), SQLITE_OK);
    assert_int_equal(wal_writes - before, 5);
    assert_int_equal(count_rows(other), 25);
    sqlite3_close(other);
    sqlite3_close(db);
    check_integrity(f->db);
}

/* A transaction larger than its page cache spills pages before its commit:
 * it reads them back, and others see all of it after the commit. */
static void test_spill(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = db_open(f->db, walvfs_name());
    sqlite3 *other = db_open(f->db, NULL);
    assert_int_equal(sqlite3_exec(db, "PRAGMA cache_size = 10; BEGIN", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(insert(db, 300, 3000), SQLITE_OK);
    assert_int_equal(count_rows(db), 300);
    assert_int_equal(count_rows(other), 0);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(count_rows(other), 300);
    /* and one rolled back after spilling leaves nothing behind */
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert(db, 300, 3000), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert(db, 1, 10), SQLITE_OK);
    assert_int_equal(count_rows(other), 301);
    sqlite3_close(other);
    sqlite3_close(db);
    check_integrity(f->db);
}

/* A process that ends without closing (a crash) loses only what it had not committed. */
static void test_exit_without_close(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = db_open(f->db, walvfs_name());
        if (insert(db, 10, 3000) != SQLITE_OK)
            _exit(1);
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || insert(db, 7, 3000))
            _exit(1);
        _exit(0); /* neither committed nor closed */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sqlite3 *db = db_open(f->db, NULL);
    assert_int_equal(count_rows(db), 10);
    sqlite3_close(db);
    check_integrity(f->db);
}

/* A write that fails (the file size limit here, a full disk elsewhere) fails
 * the commit, and the store is left as it was. */
static void test_write_error_fails_commit(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = db_open(f->db, walvfs_name());
    assert_int_equal(insert(db, 3, 100), SQLITE_OK);
    sqlite3_close(db);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        sqlite3 *c = db_open(f->db, walvfs_name());
        struct stat sb;
        char wal[160];
        snprintf(wal, sizeof(wal), "%s-wal", f->db);
        off_t size = stat(wal, &sb) ? 0 : sb.st_size;
        struct rlimit lim = {(rlim_t)size + 64 * 1024, (rlim_t)size + 64 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &lim))
            _exit(3);
        if (sqlite3_exec(c, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || insert(c, 100, 3000))
            _exit(4);
        int rc = sqlite3_exec(c, "COMMIT", NULL, NULL, NULL);
        _exit(rc == SQLITE_OK ? 2 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* 2: the commit succeeded */
    db = db_open(f->db, walvfs_name());
    assert_int_equal(count_rows(db), 3);
    assert_int_equal(insert(db, 2, 3000), SQLITE_OK);
    assert_int_equal(count_rows(db), 5);
    sqlite3_close(db);
    check_integrity(f->db);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_commit_one_write),
        T(test_spill),
        T(test_exit_without_close),
        T(test_write_error_fails_commit),
    };
#undef T
    return cmocka_run_group_tests_name("walvfs", tests, group_setup, NULL);
}
