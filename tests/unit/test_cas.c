#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cas.h"
#include "tmpdir.h"

#define DIGEST_ABC   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define DIGEST_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define DIGEST_ABD "sha256:a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9"

struct fixture {
    char dir[64];
    char root[128];
    struct cas *cas;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct buf err = BUF_INIT;
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-cas-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    /* A root whose parents do not exist yet: cas_open creates them. */
    snprintf(f->root, sizeof(f->root), "%s/data/cas", f->dir);
    if (cas_open(&f->cas, f->root, &err)) {
        fprintf(stderr, "cas_open: %s\n", err.data);
        buf_release(&err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cas_close(f->cas);
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static void path_in(const struct fixture *f, const char *name, char *out, size_t n)
{
    int len = snprintf(out, n, "%s/%s", f->dir, name);
    assert_true(len > 0 && (size_t)len < n);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
    assert_int_equal(close(fd), 0);
}

/* Reads a whole (test-sized) file; *len gets its size. */
static unsigned char *read_file(const char *path, size_t *len)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    unsigned char *data = malloc((size_t)sb.st_size + 1);
    assert_non_null(data);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, data + got, (size_t)sb.st_size + 1 - got);
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    assert_int_equal(got, (size_t)sb.st_size);
    *len = got;
    return data;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void put_ok(struct fixture *f, const char *path, char digest[CAS_DIGEST_LEN + 1],
                   int64_t *size)
{
    struct buf err = BUF_INIT;
    int rc = cas_put_file(f->cas, path, digest, size, &err);
    if (rc)
        fail_msg("cas_put_file(%s): %d: %s", path, rc, err.data);
    buf_release(&err);
}

static void get_ok(struct fixture *f, const char *digest, const char *dest, int mode)
{
    struct buf err = BUF_INIT;
    int rc = cas_get_file(f->cas, digest, dest, mode, &err);
    if (rc)
        fail_msg("cas_get_file(%s): %d: %s", dest, rc, err.data);
    buf_release(&err);
}

static void test_known_digests(void **state)
{
    struct fixture *f = *state;
    char path[160], digest[CAS_DIGEST_LEN + 1];
    struct buf err = BUF_INIT;
    int64_t size = -1;

    path_in(f, "abc", path, sizeof(path));
    write_file(path, "abc", 3);
    assert_int_equal(cas_hash_file(path, digest, &size, &err), 0);
    assert_string_equal(digest, DIGEST_ABC);
    assert_int_equal(strlen(digest), CAS_DIGEST_LEN);
    assert_int_equal(size, 3);

    path_in(f, "empty", path, sizeof(path));
    write_file(path, "", 0);
    assert_int_equal(cas_hash_file(path, digest, &size, &err), 0);
    assert_string_equal(digest, DIGEST_EMPTY);
    assert_int_equal(size, 0);
    assert_int_equal(err.len, 0);

    path_in(f, "missing", path, sizeof(path));
    assert_int_equal(cas_hash_file(path, digest, &size, &err), -ENOENT);
    assert_non_null(strstr(err.data, "missing"));
    buf_release(&err);
}

static void roundtrip(struct fixture *f, const char *name, const unsigned char *data, size_t len)
{
    char src[160], dest[200], digest[CAS_DIGEST_LEN + 1], hashed[CAS_DIGEST_LEN + 1];
    struct buf err = BUF_INIT, blob = BUF_INIT;
    int64_t size = -1, hsize = -1;
    struct stat sb;

    path_in(f, name, src, sizeof(src));
    write_file(src, data, len);
    put_ok(f, src, digest, &size);
    assert_int_equal(size, (int64_t)len);
    assert_int_equal(cas_hash_file(src, hashed, &hsize, &err), 0);
    assert_string_equal(digest, hashed);
    assert_int_equal(hsize, (int64_t)len);

    /* The blob is where cas_blob_path says, read-only. */
    cas_blob_path(f->cas, digest, &blob);
    assert_int_equal(lstat(blob.data, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0444);
    assert_int_equal(sb.st_size, (off_t)len);

    /* Parents of dest are created; the mode is the one asked for. */
    snprintf(dest, sizeof(dest), "%s/out/%s/deep/copy", f->dir, name);
    get_ok(f, digest, dest, 0100750);
    size_t got_len = 0;
    unsigned char *got = read_file(dest, &got_len);
    assert_int_equal(got_len, len);
    assert_true(len == 0 || !memcmp(got, data, len));
    free(got);
    assert_int_equal(stat(dest, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    /* Only dest is left in its directory: no temporary file. */
    snprintf(dest, sizeof(dest), "%s/out/%s/deep", f->dir, name);
    assert_int_equal(count_entries(dest), 1);
    /* Nothing is left in the store's temporary directory either. */
    snprintf(dest, sizeof(dest), "%s/tmp", f->root);
    assert_int_equal(count_entries(dest), 0);
    buf_release(&blob);
    buf_release(&err);
}

static void test_roundtrip_large(void **state)
{
    const size_t len = 5 * 1024 * 1024 + 123; /* not a whole number of chunks */
    unsigned char *data = malloc(len);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    assert_non_null(data);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    roundtrip(*state, "large", data, len);
    free(data);
}

static void test_roundtrip_empty(void **state)
{
    struct fixture *f = *state;
    roundtrip(f, "empty", (const unsigned char *)"", 0);
    char path[160], digest[CAS_DIGEST_LEN + 1];
    path_in(f, "empty", path, sizeof(path));
    put_ok(f, path, digest, NULL);
    assert_string_equal(digest, DIGEST_EMPTY);
}

static void test_roundtrip_small_replaces_dest(void **state)
{
    struct fixture *f = *state;
    char src[160], dest[160], digest[CAS_DIGEST_LEN + 1];
    path_in(f, "abc", src, sizeof(src));
    write_file(src, "abc", 3);
    put_ok(f, src, digest, NULL);
    assert_string_equal(digest, DIGEST_ABC);

    /* An existing dest is replaced as a whole. */
    path_in(f, "dest", dest, sizeof(dest));
    write_file(dest, "something much longer than abc", 30);
    get_ok(f, digest, dest, 0644);
    size_t len = 0;
    unsigned char *got = read_file(dest, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(got, "abc", 3);
    free(got);

    /* A name as long as the file system allows still gets a temporary name. */
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    char longdest[400];
    snprintf(longdest, sizeof(longdest), "%s/%s", f->dir, name);
    get_ok(f, digest, longdest, 0600);
    got = read_file(longdest, &len);
    assert_int_equal(len, 3);
    free(got);
}

static void test_stored_once(void **state)
{
    struct fixture *f = *state;
    char a[160], b[160], da[CAS_DIGEST_LEN + 1], db[CAS_DIGEST_LEN + 1], dir[200];
    int64_t sa = 0, sb = 0;

    path_in(f, "a", a, sizeof(a));
    path_in(f, "b", b, sizeof(b));
    write_file(a, "same content\n", 13);
    write_file(b, "same content\n", 13);
    put_ok(f, a, da, &sa);
    put_ok(f, b, db, &sb);
    put_ok(f, a, da, &sa);
    assert_string_equal(da, db);
    assert_int_equal(sa, 13);
    assert_int_equal(sb, 13);

    snprintf(dir, sizeof(dir), "%s/sha256", f->root);
    assert_int_equal(count_entries(dir), 1);
    snprintf(dir, sizeof(dir), "%s/sha256/%.2s", f->root, da + 7);
    assert_int_equal(count_entries(dir), 1);
    snprintf(dir, sizeof(dir), "%s/tmp", f->root);
    assert_int_equal(count_entries(dir), 0);

    /* The source files are left alone. */
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_refuses_non_regular(void **state)
{
    struct fixture *f = *state;
    char target[160], link[160], fifo[160], digest[CAS_DIGEST_LEN + 1] = "untouched";
    struct buf err = BUF_INIT;
    int64_t size = 42;

    path_in(f, "target", target, sizeof(target));
    path_in(f, "link", link, sizeof(link));
    write_file(target, "abc", 3);
    assert_int_equal(symlink("target", link), 0);
    assert_int_equal(cas_put_file(f->cas, link, digest, &size, &err), -ELOOP);
    assert_non_null(strstr(err.data, "symbolic link"));
    assert_string_equal(digest, "untouched");
    assert_int_equal(size, 42);
    buf_reset(&err);
    assert_true(cas_hash_file(link, digest, &size, &err) < 0);
    buf_reset(&err);

    /* A directory, and a FIFO (without blocking on it). */
    assert_true(cas_put_file(f->cas, f->dir, digest, &size, &err) < 0);
    assert_non_null(strstr(err.data, "not a regular file"));
    buf_reset(&err);
    path_in(f, "fifo", fifo, sizeof(fifo));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_true(cas_put_file(f->cas, fifo, digest, &size, &err) < 0);
    assert_non_null(strstr(err.data, "not a regular file"));
    buf_release(&err);

    char dir[200];
    snprintf(dir, sizeof(dir), "%s/sha256", f->root);
    assert_int_equal(count_entries(dir), 0);
}

static void test_corrupt_blob(void **state)
{
    struct fixture *f = *state;
    char src[160], dest[200], digest[CAS_DIGEST_LEN + 1];
    struct buf err = BUF_INIT, blob = BUF_INIT, want = BUF_INIT;

    path_in(f, "src", src, sizeof(src));
    write_file(src, "abc", 3);
    put_ok(f, src, digest, NULL);
    cas_blob_path(f->cas, digest, &blob);

    /* Corrupt the blob behind the store's back. */
    assert_int_equal(chmod(blob.data, 0644), 0);
    write_file(blob.data, "abd", 3);
    assert_int_equal(chmod(blob.data, 0444), 0);

    snprintf(dest, sizeof(dest), "%s/out/dest", f->dir);
    assert_int_equal(cas_get_file(f->cas, digest, dest, 0644, &err), -EBADMSG);
    buf_addf(&want, "blob %s is corrupt: its content hashes to %s (moved to %s/corrupt/%s)",
             DIGEST_ABC, DIGEST_ABD, f->root, DIGEST_ABC + 7);
    assert_string_equal(err.data, want.data);
    assert_int_equal(access(dest, F_OK), -1);
    snprintf(dest, sizeof(dest), "%s/out", f->dir);
    assert_int_equal(count_entries(dest), 0); /* no temporary file left either */

    /* Moved aside: no longer served, and the next put stores the bytes again. */
    assert_int_equal(access(blob.data, F_OK), -1);
    char aside[256];
    snprintf(aside, sizeof(aside), "%s/corrupt/%s", f->root, DIGEST_ABC + 7);
    size_t len = 0;
    unsigned char *kept = read_file(aside, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(kept, "abd", 3);
    free(kept);
    snprintf(dest, sizeof(dest), "%s/out/dest", f->dir);
    buf_reset(&err);
    assert_int_equal(cas_get_file(f->cas, digest, dest, 0644, &err), -ENOENT);
    put_ok(f, src, digest, NULL);
    get_ok(f, digest, dest, 0644);

    /* A stale dest from before is removed too. */
    assert_int_equal(chmod(blob.data, 0644), 0);
    write_file(blob.data, "abd", 3);
    buf_reset(&err);
    assert_int_equal(cas_get_file(f->cas, digest, dest, 0644, &err), -EBADMSG);
    assert_int_equal(access(dest, F_OK), -1);

    buf_release(&want);
    buf_release(&blob);
    buf_release(&err);
}

/* Inode, size, modification and change times of a file. */
static void stat_ok(const char *path, struct stat *st)
{
    assert_int_equal(lstat(path, st), 0);
}

static void test_rerun_does_not_rewrite(void **state)
{
    struct fixture *f = *state;
    char src[160], other[160], digest[CAS_DIGEST_LEN + 1], tmpdir[200];
    struct buf blob = BUF_INIT;
    struct stat a, b;
    int64_t size = 0;

    path_in(f, "src", src, sizeof(src));
    write_file(src, "built once\n", 11);
    put_ok(f, src, digest, &size);
    cas_blob_path(f->cas, digest, &blob);
    stat_ok(blob.data, &a);

    /* The same bytes again, and from another file (another job, a rerun). */
    path_in(f, "other", other, sizeof(other));
    write_file(other, "built once\n", 11);
    put_ok(f, src, digest, &size);
    put_ok(f, other, digest, &size);
    assert_int_equal(size, 11);
    stat_ok(blob.data, &b);
    assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    assert_true(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
    assert_true(a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->root);
    assert_int_equal(count_entries(tmpdir), 0);

    /* A blob of the wrong size (truncated behind the store's back) is replaced. */
    assert_int_equal(chmod(blob.data, 0644), 0);
    write_file(blob.data, "built", 5);
    put_ok(f, src, digest, &size);
    stat_ok(blob.data, &b);
    assert_int_equal(b.st_size, 11);
    assert_int_equal(b.st_mode & 07777, 0444);
    struct buf err = BUF_INIT;
    assert_int_equal(cas_verify(f->cas, digest, &size, &err), 0);
    assert_int_equal(size, 11);
    assert_int_equal(count_entries(tmpdir), 0);
    buf_release(&err);
    buf_release(&blob);
}

static void test_verify(void **state)
{
    struct fixture *f = *state;
    char src[160], digest[CAS_DIGEST_LEN + 1], tmpdir[200];
    struct buf err = BUF_INIT, blob = BUF_INIT, want = BUF_INIT;
    int64_t size = -1;
    int fd = 42;

    path_in(f, "src", src, sizeof(src));
    write_file(src, "abc", 3);
    put_ok(f, src, digest, NULL);
    assert_int_equal(cas_verify(f->cas, digest, &size, &err), 0);
    assert_int_equal(size, 3);
    assert_int_equal(cas_verify(f->cas, digest, NULL, &err), 0);

    /* Opened for serving: checked, then handed over at offset 0. */
    size = -1;
    assert_int_equal(cas_open_verified(f->cas, digest, &fd, &size, &err), 0);
    assert_true(fd >= 0);
    assert_int_equal(size, 3);
    char got[8];
    assert_int_equal(read(fd, got, sizeof(got)), 3);
    assert_memory_equal(got, "abc", 3);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    assert_int_equal(err.len, 0);

    /* Tampered with, same size: reported, not served, moved aside. */
    cas_blob_path(f->cas, digest, &blob);
    assert_int_equal(chmod(blob.data, 0644), 0);
    write_file(blob.data, "abd", 3);
    assert_int_equal(cas_open_verified(f->cas, digest, &fd, &size, &err), -EBADMSG);
    assert_int_equal(fd, -1);
    buf_addf(&want, "blob %s is corrupt: its content hashes to %s (moved to %s/corrupt/%s)",
             DIGEST_ABC, DIGEST_ABD, f->root, DIGEST_ABC + 7);
    assert_string_equal(err.data, want.data);
    buf_reset(&err);
    assert_int_equal(cas_verify(f->cas, digest, &size, &err), -ENOENT);
    buf_reset(&want);
    buf_addf(&want, "blob %s is not in the store", DIGEST_ABC);
    assert_string_equal(err.data, want.data);

    /* Stored again, then tampered with again: cas_verify says so too. */
    put_ok(f, src, digest, NULL);
    assert_int_equal(chmod(blob.data, 0644), 0);
    write_file(blob.data, "abd", 3);
    buf_reset(&err);
    assert_int_equal(cas_verify(f->cas, digest, &size, &err), -EBADMSG);
    assert_non_null(strstr(err.data, "is corrupt: its content hashes to " DIGEST_ABD));

    /* Malformed digests name nothing. */
    buf_reset(&err);
    assert_int_equal(cas_verify(f->cas, "sha256:../x", NULL, &err), -EINVAL);
    buf_reset(&err);
    assert_int_equal(cas_open_verified(f->cas, "", &fd, NULL, &err), -EINVAL);
    assert_int_equal(fd, -1);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->root);
    assert_int_equal(count_entries(tmpdir), 0);
    buf_release(&err);
    buf_release(&blob);
    buf_release(&want);
}

/*
 * A file that changes between the hash and the copy is not stored under
 * either digest. /proc/sys/kernel/random/uuid is a regular file that reads
 * differently every time.
 */
static void test_changed_while_stored(void **state)
{
    struct fixture *f = *state;
    const char *uuid = "/proc/sys/kernel/random/uuid";
    char digest[CAS_DIGEST_LEN + 1] = "untouched", dir[200];
    struct buf err = BUF_INIT, want = BUF_INIT;
    struct stat st;
    int64_t size = 42;

    if (stat(uuid, &st) || !S_ISREG(st.st_mode))
        skip();
    assert_int_equal(cas_put_file(f->cas, uuid, digest, &size, &err), -EAGAIN);
    buf_addf(&want, "%s changed while it was being stored (is something still writing it?)", uuid);
    assert_string_equal(err.data, want.data);
    assert_string_equal(digest, "untouched");
    assert_int_equal(size, 42);
    snprintf(dir, sizeof(dir), "%s/tmp", f->root);
    assert_int_equal(count_entries(dir), 0);
    snprintf(dir, sizeof(dir), "%s/sha256", f->root);
    assert_int_equal(count_entries(dir), 0);
    buf_release(&err);
    buf_release(&want);
}

/* From another file system (tmpfs), where the kernel cannot copy between the two. */
static void test_put_from_other_fs(void **state)
{
    struct fixture *f = *state;
    char src[64] = "/dev/shm/flywheel-cas-XXXXXX", digest[CAS_DIGEST_LEN + 1];
    char hashed[CAS_DIGEST_LEN + 1], tmpdir[200];
    struct buf err = BUF_INIT;
    int64_t size = 0, hsize = 0;
    const size_t len = 9 * 1024 * 1024 + 7; /* more than one piece of the copy */

    int fd = mkstemp(src);
    if (fd < 0)
        skip();
    close(fd);
    unsigned char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    write_file(src, data, len);
    free(data);
    put_ok(f, src, digest, &size);
    assert_int_equal(cas_hash_file(src, hashed, &hsize, &err), 0);
    assert_string_equal(digest, hashed);
    /* And back to the other file system: the copy is checked there too. */
    assert_int_equal(unlink(src), 0);
    get_ok(f, digest, src, 0600);
    assert_int_equal(cas_hash_file(src, hashed, &hsize, &err), 0);
    unlink(src);
    assert_string_equal(digest, hashed);
    assert_int_equal(hsize, (int64_t)len);
    assert_int_equal(size, (int64_t)len);
    assert_int_equal(cas_verify(f->cas, digest, &size, &err), 0);
    assert_int_equal(size, (int64_t)len);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->root);
    assert_int_equal(count_entries(tmpdir), 0);
    buf_release(&err);
}

/* What a crash leaves in ROOT/tmp is removed by a later open, once old. */
static void test_stale_tmp_removed(void **state)
{
    struct fixture *f = *state;
    char stale[200], fresh[200], other[200];
    struct buf err = BUF_INIT;
    struct cas *again = NULL;
    struct timespec old[2] = {{.tv_sec = time(NULL) - 2 * 86400},
                              {.tv_sec = time(NULL) - 2 * 86400}};

    snprintf(stale, sizeof(stale), "%s/tmp/put-AAAAAA", f->root);
    snprintf(fresh, sizeof(fresh), "%s/tmp/put-BBBBBB", f->root);
    snprintf(other, sizeof(other), "%s/tmp/notes", f->root);
    write_file(stale, "half", 4);
    write_file(fresh, "half", 4);
    write_file(other, "kept", 4);
    assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, other, old, 0), 0);
    assert_int_equal(cas_open(&again, f->root, &err), 0);
    cas_close(again);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    buf_release(&err);
}

static void test_get_errors(void **state)
{
    struct fixture *f = *state;
    char dest[160];
    struct buf err = BUF_INIT;

    path_in(f, "dest", dest, sizeof(dest));
    assert_int_equal(cas_get_file(f->cas, DIGEST_ABC, dest, 0644, &err), -ENOENT);
    assert_non_null(strstr(err.data, "not in the store"));
    buf_reset(&err);
    assert_int_equal(cas_get_file(f->cas, "sha256:../../etc/passwd", dest, 0644, &err), -EINVAL);
    assert_non_null(strstr(err.data, "not a digest"));
    buf_release(&err);
    assert_int_equal(access(dest, F_OK), -1);
}

static void test_blob_path(void **state)
{
    struct fixture *f = *state;
    struct buf out = BUF_INIT, want = BUF_INIT;

    cas_blob_path(f->cas, DIGEST_ABC, &out);
    buf_addf(&want, "%s/sha256/ba/%s", f->root, DIGEST_ABC + 7);
    assert_string_equal(out.data, want.data);

    /* Appended, as the contract says. */
    buf_reset(&out);
    buf_adds(&out, "blob: ");
    cas_blob_path(f->cas, DIGEST_EMPTY, &out);
    buf_reset(&want);
    buf_addf(&want, "blob: %s/sha256/e3/%s", f->root, DIGEST_EMPTY + 7);
    assert_string_equal(out.data, want.data);

    /* A malformed digest names no path at all. */
    static const char *const bad[] = {
        "",
        "sha256:",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
        "sha256:../../../../../../../../../../../../../../../../../../../../etc",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&out);
        cas_blob_path(f->cas, bad[i], &out);
        assert_int_equal(out.len, 0);
    }
    buf_release(&out);
    buf_release(&want);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_known_digests),
        T(test_roundtrip_large),
        T(test_roundtrip_empty),
        T(test_roundtrip_small_replaces_dest),
        T(test_stored_once),
        T(test_refuses_non_regular),
        T(test_corrupt_blob),
        T(test_get_errors),
        T(test_blob_path),
        T(test_rerun_does_not_rewrite),
        T(test_verify),
        T(test_changed_while_stored),
        T(test_put_from_other_fs),
        T(test_stale_tmp_removed),
    };
#undef T
    return cmocka_run_group_tests_name("cas", tests, NULL, NULL);
}
