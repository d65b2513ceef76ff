#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/tar.h"
#include "tmpdir.h"

#define GIB (UINT64_C(1) << 30)

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-tar-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
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

static void fill_random(char *p, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (char)x;
    }
}

/* A name of len bytes: components of up to 50 'a'..'z' letters. */
static char *long_name(size_t len, char letter)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (i % 51 == 50 && i + 1 < len) ? '/' : letter;
    s[len] = '\0';
    return s;
}

static struct tar_writer *new_ok(const struct tar_entry *e, size_t n)
{
    struct buf err = BUF_INIT;
    struct tar_writer *w = NULL;
    int rc = tar_writer_new(&w, e, n, &err);
    if (rc)
        fail_msg("tar_writer_new: %d: %s", rc, err.data);
    buf_release(&err);
    return w;
}

/* The whole archive, read from the start in chunks of the given size. */
static char *read_all(struct tar_writer *w, size_t chunk)
{
    uint64_t total = tar_writer_size(w);
    char *out = malloc((size_t)total);
    struct buf err = BUF_INIT;
    uint64_t pos = 0;
    assert_non_null(out);
    while (pos < total) {
        size_t max = chunk < total - pos ? chunk : (size_t)(total - pos);
        long got = tar_writer_read(w, pos, out + pos, max, &err);
        if (got <= 0)
            fail_msg("tar_writer_read at %llu: %ld: %s", (unsigned long long)pos, got, err.data);
        assert_int_equal(got, max); /* short only at the end */
        pos += (uint64_t)got;
    }
    char c;
    assert_int_equal(tar_writer_read(w, total, &c, 1, &err), 0);
    assert_int_equal(tar_writer_read(w, total + 12345, &c, 1, &err), 0);
    buf_release(&err);
    return out;
}

static void test_size_small(void **state)
{
    (void)state;
    struct tar_entry e[] = {
        {.name = "hello", .data = "hello", .size = 5, .mode = 0644},
        {.name = "dir/", .mode = 0755},
        {.name = "dir/empty", .data = "", .size = 0, .mode = 0600},
        {.name = "dir/block", .data = NULL, .size = 0, .mode = 0600},
    };
    struct tar_writer *w = new_ok(e, 0);
    assert_int_equal(tar_writer_size(w), 1024);
    char *all = read_all(w, 100);
    for (size_t i = 0; i < 1024; i++)
        assert_int_equal(all[i], 0);
    free(all);
    tar_writer_free(w);

    w = new_ok(e, 1);
    assert_int_equal(tar_writer_size(w), 512 + 512 + 1024);
    tar_writer_free(w);
    w = new_ok(e, 4);
    assert_int_equal(tar_writer_size(w), 4 * 512 + 512 + 1024);
    tar_writer_free(w);

    /* 511, 512 and 513 bytes of content: one, one and two blocks. */
    static char data[513];
    const uint64_t want[] = {512 + 512 + 1024, 512 + 512 + 1024, 512 + 1024 + 1024};
    for (int i = 0; i < 3; i++) {
        struct tar_entry one = {.name = "x", .data = data, .size = 511 + (uint64_t)i};
        w = new_ok(&one, 1);
        assert_int_equal(tar_writer_size(w), want[i]);
        tar_writer_free(w);
    }
}

static void test_size_long_names(void **state)
{
    (void)state;
    /*
     * Up to 100 bytes the name fits the ustar header; past it a pax header
     * (a block, and "LEN path=NAME\n" in whole blocks) comes first.
     */
    const struct {
        size_t len;
        int record; /* "LEN path=NAME\n" */
        uint64_t pax;
    } cases[] = {
        {1, 0, 0},        {100, 0, 0},      {101, 111, 1024}, {255, 265, 1024},  {256, 266, 1024},
        {502, 512, 1024}, {503, 513, 1536}, {989, 999, 1536}, {990, 1001, 1536}, {4000, 4011, 4608},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *name = long_name(cases[i].len, 'n');
        struct tar_entry e = {.name = name, .data = "abc", .size = 3, .mode = 0644};
        struct tar_writer *w = new_ok(&e, 1);
        assert_int_equal(tar_writer_size(w), cases[i].pax + 512 + 512 + 1024);
        char *all = read_all(w, 4096);
        if (cases[i].pax) {
            /* The record's length counts its own digits. */
            char want[5000];
            int n = snprintf(want, sizeof(want), "%d path=%s\n", cases[i].record, name);
            assert_int_equal(n, cases[i].record);
            assert_int_equal(all[156], 'x');
            assert_memory_equal(all + 512, want, (size_t)n);
        } else {
            assert_memory_equal(all, name, cases[i].len);
        }
        assert_int_equal(all[cases[i].pax + 156], '0');
        free(all);
        tar_writer_free(w);
        free(name);
    }
}

static void test_size_large(void **state)
{
    (void)state;
    /* The file is not opened until its content is read. */
    const uint64_t ustar_max = 8 * GIB - 1;
    struct tar_entry e = {.name = "big", .src = "/nonexistent", .size = ustar_max, .mode = 0644};
    struct tar_writer *w = new_ok(&e, 1);
    char hdr[1536];
    struct buf err = BUF_INIT;
    assert_int_equal(tar_writer_size(w), 512 + 8 * GIB + 1024);
    assert_int_equal(tar_writer_read(w, 0, hdr, 512, &err), 512);
    assert_memory_equal(hdr + 124, "77777777777", 12);
    assert_int_equal(hdr[156], '0');
    tar_writer_free(w);

    /* One byte more needs a pax "size" record. */
    e.size = ustar_max + 1;
    w = new_ok(&e, 1);
    assert_int_equal(tar_writer_size(w), 512 + 512 + 512 + 8 * GIB + 1024);
    assert_int_equal(tar_writer_read(w, 0, hdr, sizeof(hdr), &err), sizeof(hdr));
    assert_int_equal(hdr[156], 'x');
    assert_string_equal(hdr + 512, "19 size=8589934592\n");
    assert_int_equal(hdr[1024 + 156], '0');
    tar_writer_free(w);

    /* 100 GiB and a long name: both records. */
    char *name = long_name(300, 'z');
    e.name = name;
    e.size = 100 * GIB;
    w = new_ok(&e, 1);
    assert_int_equal(tar_writer_size(w), 512 + 512 + 512 + 100 * GIB + 1024);
    tar_writer_free(w);
    free(name);
    assert_int_equal(err.len, 0);
    buf_release(&err);
}

/* Entries of many sizes, from memory and from files, with long names. */
struct corpus {
    struct tar_entry e[12];
    size_t n;
    char *bufs[12];
    char paths[12][160];
};

static void make_corpus(const struct fixture *f, struct corpus *c)
{
    static const uint64_t sizes[] = {0, 1, 511, 512, 513, 4096, 100000, 7, 0, 123457, 3, 65536};
    memset(c, 0, sizeof(*c));
    c->n = 12;
    for (size_t i = 0; i < c->n; i++) {
        struct tar_entry *e = &c->e[i];
        char name[32];
        c->bufs[i] = malloc(sizes[i] + 1);
        assert_non_null(c->bufs[i]);
        fill_random(c->bufs[i], sizes[i], i + 1);
        snprintf(name, sizeof(name), "dir%zu/file%zu", i % 3, i);
        e->name = strdup(name);
        e->size = sizes[i];
        e->mode = i % 2 ? 0755 : 0640;
        e->mtime = 1700000000 + (int64_t)i;
        if (i % 2) {
            path_in(f, name + 5, c->paths[i], sizeof(c->paths[i]));
            write_file(c->paths[i], c->bufs[i], sizes[i]);
            e->src = c->paths[i];
        } else {
            e->data = c->bufs[i];
        }
    }
    free((char *)c->e[3].name);
    c->e[3].name = long_name(120, 'l');
    free((char *)c->e[6].name);
    c->e[6].name = long_name(300, 'm');
    free((char *)c->e[8].name);
    c->e[8].name = strdup("dir8/");
    c->e[8].data = NULL;
}

static void free_corpus(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->e[i].name);
        free(c->bufs[i]);
    }
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_read_by_position(void **state)
{
    struct fixture *f = *state;
    struct corpus c;
    struct buf err = BUF_INIT;
    make_corpus(f, &c);
    struct tar_writer *w = new_ok(c.e, c.n);
    uint64_t total = tar_writer_size(w);
    char *seq = read_all(w, 1 << 16);
    char *one = read_all(w, 1); /* byte by byte */
    assert_memory_equal(seq, one, (size_t)total);
    free(one);
    char *whole = malloc((size_t)total + 100);
    assert_int_equal(tar_writer_read(w, 0, whole, (size_t)total + 100, &err), (long)total);
    assert_memory_equal(seq, whole, (size_t)total);

    /* Any position, any length, in any order (a resumed download). */
    size_t fds = count_fds();
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t pos = x % (total + 10);
        size_t max = (size_t)((x >> 32) % (i % 10 ? 2000 : 200000)) + 1;
        long got = tar_writer_read(w, pos, whole, max, &err);
        uint64_t want = pos >= total ? 0 : (total - pos < max ? total - pos : max);
        assert_int_equal(got, (long)want);
        if (got > 0)
            assert_memory_equal(whole, seq + pos, (size_t)got);
        assert_true(count_fds() <= fds + 1); /* at most one source open */
    }
    assert_int_equal(err.len, 0);

    /* The first entry is empty: the second's header, then its byte. */
    assert_string_equal(seq + 512, c.e[1].name);
    assert_int_equal(seq[1024], c.bufs[1][0]);
    free(whole);
    free(seq);
    tar_writer_free(w);
    assert_true(count_fds() <= fds);
    free_corpus(&c);
    buf_release(&err);
}

/* Writes the archive of w to a file and opens it for reading. */
static int archive_fd(const struct fixture *f, struct tar_writer *w, const char *name)
{
    char path[160];
    char *all = read_all(w, 10000);
    path_in(f, name, path, sizeof(path));
    write_file(path, all, (size_t)tar_writer_size(w));
    free(all);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct corpus c;
    struct buf err = BUF_INIT;
    struct tar_header h;
    make_corpus(f, &c);
    struct tar_writer *w = new_ok(c.e, c.n);
    int fd = archive_fd(f, w, "out.tar");
    tar_writer_free(w);

    struct tar_reader *r;
    tar_reader_open(&r, fd);
    char *got = malloc(200000);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(tar_reader_next(r, &h, &err), 1);
        size_t len = strlen(c.e[i].name);
        bool dir = c.e[i].name[len - 1] == '/';
        assert_int_equal(strlen(h.name), dir ? len - 1 : len);
        assert_memory_equal(h.name, c.e[i].name, strlen(h.name));
        assert_int_equal(h.type, dir ? TAR_DIR : TAR_FILE);
        assert_int_equal(h.size, c.e[i].size);
        assert_int_equal(h.mode, c.e[i].mode);
        assert_int_equal(h.mtime, c.e[i].mtime);
        if (i % 4 == 2)
            continue; /* left unread: skipped by the next call */
        /* Odd chunk sizes, so that reads straddle blocks. */
        size_t n = 0;
        long k;
        while ((k = tar_reader_read(r, got + n, i % 3 ? 777 : 1 << 16, &err)) > 0)
            n += (size_t)k;
        assert_int_equal(k, 0);
        assert_int_equal(n, c.e[i].size);
        assert_memory_equal(got, c.bufs[i], n);
        assert_int_equal(tar_reader_read(r, got, 10, &err), 0);
    }
    assert_int_equal(tar_reader_next(r, &h, &err), 0);
    assert_int_equal(tar_reader_next(r, &h, &err), 0);
    assert_int_equal(err.len, 0);
    tar_reader_free(r);
    close(fd);
    free(got);
    free_corpus(&c);
    buf_release(&err);
}

static void test_long_names_roundtrip(void **state)
{
    struct fixture *f = *state;
    const size_t lens[] = {99, 100, 101, 155, 156, 255, 256, 257, 1000, 4095};
    struct tar_entry e[10];
    struct buf err = BUF_INIT;
    struct tar_header h;
    for (size_t i = 0; i < 10; i++)
        e[i] =
            (struct tar_entry){.name = long_name(lens[i], (char)('a' + i)), .data = "x", .size = 1};
    struct tar_writer *w = new_ok(e, 10);
    int fd = archive_fd(f, w, "long.tar");
    struct tar_reader *r;
    tar_reader_open(&r, fd);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(tar_reader_next(r, &h, &err), 1);
        assert_string_equal(h.name, e[i].name);
    }
    assert_int_equal(tar_reader_next(r, &h, &err), 0);
    tar_reader_free(r);
    close(fd);
    tar_writer_free(w);
    for (size_t i = 0; i < 10; i++)
        free((char *)e[i].name);
    buf_release(&err);
}

static void expect_read_error(struct tar_writer *w, uint64_t pos, size_t max, const char *msg)
{
    struct buf err = BUF_INIT;
    char *b = malloc(max);
    assert_int_equal(tar_writer_read(w, pos, b, max, &err), -1);
    if (!strstr(err.data, msg))
        fail_msg("expected '%s' in '%s'", msg, err.data);
    free(b);
    buf_release(&err);
}

static void test_source_changed(void **state)
{
    struct fixture *f = *state;
    char path[160];
    char data[3000];
    fill_random(data, sizeof(data), 7);
    path_in(f, "src", path, sizeof(path));
    write_file(path, data, 1000);

    /* Longer and shorter than declared when opened. */
    struct tar_entry e = {.name = "f", .src = path, .size = 999, .mode = 0644};
    struct tar_writer *w = new_ok(&e, 1);
    char hdr[512];
    struct buf err = BUF_INIT;
    assert_int_equal(tar_writer_read(w, 0, hdr, 512, &err), 512); /* header only: fine */
    expect_read_error(w, 0, 4096, "has 1000 bytes, 999 expected: it changed");
    tar_writer_free(w);
    e.size = 1001;
    w = new_ok(&e, 1);
    expect_read_error(w, 600, 10, "has 1000 bytes, 1001 expected");
    tar_writer_free(w);

    /* Truncated after it was opened. */
    write_file(path, data, 3000);
    e.size = 3000;
    w = new_ok(&e, 1);
    char buf[1024];
    assert_int_equal(tar_writer_read(w, 512, buf, 1000, &err), 1000);
    assert_memory_equal(buf, data, 1000);
    assert_int_equal(truncate(path, 2000), 0);
    expect_read_error(w, 512 + 2000, 1000, "shorter than the 3000 bytes expected");
    tar_writer_free(w);

    /* Grown after it was opened: caught when its end is read. */
    write_file(path, data, 2000);
    e.size = 2000;
    w = new_ok(&e, 1);
    assert_int_equal(tar_writer_read(w, 512, buf, 1000, &err), 1000);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "more", 4), 4);
    close(fd);
    expect_read_error(w, 512 + 1000, 1024, "no longer 2000 bytes long");
    tar_writer_free(w);

    /* Missing, or not a regular file; when empty too. */
    e.src = "/nonexistent/file";
    w = new_ok(&e, 1);
    expect_read_error(w, 0, 4096, "/nonexistent/file: No such file or directory");
    tar_writer_free(w);
    e.size = 0;
    w = new_ok(&e, 1);
    assert_int_equal(tar_writer_read(w, 0, buf, 511, &err), 511);
    expect_read_error(w, 511, 1, "/nonexistent/file: No such file or directory");
    tar_writer_free(w);
    write_file(path, "", 0);
    e.src = path;
    w = new_ok(&e, 1);
    assert_int_equal(tar_writer_read(w, 0, buf, 1024, &err), 1024);
    tar_writer_free(w);
    e.size = 2000;
    e.src = f->dir;
    w = new_ok(&e, 1);
    expect_read_error(w, 0, 4096, "not a regular file");
    tar_writer_free(w);
    assert_int_equal(err.len, 0);
    buf_release(&err);
}

static void test_writer_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "/abs", "..", "../x", "a/..", "a/../b", "a//b", "./a", "a/./b", "a/.", "//", "/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tar_entry e[] = {
            {.name = "fine", .data = "x", .size = 1},
            {.name = bad[i], .data = "x", .size = 1},
        };
        struct tar_writer *w = (struct tar_writer *)&w;
        struct buf err = BUF_INIT;
        assert_int_equal(tar_writer_new(&w, e, 2, &err), -EINVAL);
        assert_ptr_equal(w, (struct tar_writer *)&w); /* untouched */
        assert_true(err.len > 0);
        buf_release(&err);
    }
    const struct {
        struct tar_entry e;
        const char *msg;
    } cases[] = {
        {{.name = "d/", .data = "x", .size = 1}, "directory entry 'd/' has content"},
        {{.name = "m", .mode = 010000}, "not permission bits"},
        {{.name = "m", .mode = -1}, "not permission bits"},
        {{.name = "t", .mtime = -1}, "mtime -1, out of range"},
        {{.name = "t", .mtime = INT64_C(8589934592)}, "out of range"},
        {{.name = "n", .size = 3}, "neither a source file nor data"},
        {{.name = "s", .src = "x", .size = UINT64_MAX}, "out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tar_writer *w = NULL;
        struct buf err = BUF_INIT;
        assert_int_equal(tar_writer_new(&w, &cases[i].e, 1, &err), -EINVAL);
        if (!strstr(err.data, cases[i].msg))
            fail_msg("expected '%s' in '%s'", cases[i].msg, err.data);
        assert_null(w);
        buf_release(&err);
    }
    /* The largest mtime the header holds is fine; so are names with dots inside. */
    struct tar_entry ok[] = {
        {.name = "t", .mtime = INT64_C(8589934591)},
        {.name = "a..b/.c/..d/e.", .mode = 07777},
    };
    tar_writer_free(new_ok(ok, 2));
}

/* Re-computes the checksum of a header block that a test changed. */
static void fix_checksum(char *h)
{
    unsigned sum = 0;
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
}

/* Reads the archive in a..a+len: the result of the first entry, and err. */
static int read_archive(const struct fixture *f, const char *a, size_t len, struct buf *err)
{
    char path[160];
    struct tar_header h;
    struct tar_reader *r;
    int rc;
    path_in(f, "crafted.tar", path, sizeof(path));
    write_file(path, a, len);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    tar_reader_open(&r, fd);
    while ((rc = tar_reader_next(r, &h, err)) == 1) {
        char b[4096];
        long k;
        while ((k = tar_reader_read(r, b, sizeof(b), err)) > 0)
            ;
        if (k < 0) {
            rc = -1;
            break;
        }
    }
    /* An error or the end is final. */
    assert_int_equal(tar_reader_next(r, &h, err), rc);
    tar_reader_free(r);
    close(fd);
    return rc;
}

static void expect_refused(const struct fixture *f, const char *a, size_t len, const char *msg)
{
    struct buf err = BUF_INIT;
    assert_int_equal(read_archive(f, a, len, &err), -1);
    if (!strstr(err.data, msg))
        fail_msg("expected '%s' in '%s'", msg, err.data);
    buf_release(&err);
}

static void test_reader_refuses(void **state)
{
    struct fixture *f = *state;
    struct tar_entry e[] = {
        {.name = "first", .data = "hello", .size = 5, .mode = 0644},
        {.name = "second", .data = "world", .size = 5, .mode = 0644},
    };
    struct tar_writer *w = new_ok(e, 2);
    char *good = read_all(w, 4096);
    size_t len = (size_t)tar_writer_size(w); /* 4 blocks and 2 zero blocks */
    char *a = calloc(1, 8192);
    struct buf err = BUF_INIT;
    tar_writer_free(w);
    assert_int_equal(read_archive(f, good, len, &err), 0);

    /* Names that leave the directory, in the ustar header or a pax record. */
    static const char *const names[] = {"../x", "a/../../x", "..", "/etc/passwd", "a/..", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        memcpy(a, good, len);
        memset(a + 1024, 0, 100);
        memcpy(a + 1024, names[i], strlen(names[i]));
        fix_checksum(a + 1024);
        expect_refused(f, a, len, i < 3 || i == 4 ? "has a '..' component" : "empty or absolute");
    }
    char *dotdot = long_name(150, 'p');
    memcpy(dotdot + 100, "/../../../../x", 14);
    struct tar_entry evil = {.name = "placeholder", .data = "x", .size = 1};
    char *name = long_name(150, 'p');
    evil.name = name;
    w = new_ok(&evil, 1);
    char *pax = read_all(w, 4096);
    size_t pax_len = (size_t)tar_writer_size(w);
    tar_writer_free(w);
    char *rec = strstr(pax + 512, "path=");
    assert_non_null(rec);
    memcpy(rec + 5, dotdot, 150);
    expect_refused(f, pax, pax_len, "has a '..' component");

    /* Links, devices, FIFOs, GNU long names: any type but file and directory. */
    static const char types[] = "1234679LKgDSV";
    for (const char *t = types; *t; t++) {
        memcpy(a, good, len);
        a[1024 + 156] = *t;
        fix_checksum(a + 1024);
        char msg[64];
        snprintf(msg, sizeof(msg), "entry 'second' is of type '%c'", *t);
        expect_refused(f, a, len, msg);
    }

    /* A directory with content would misplace the next header. */
    memcpy(a, good, len);
    a[1024 + 156] = '5';
    fix_checksum(a + 1024);
    expect_refused(f, a, len, "directory entry 'second' has content");

    /* A changed byte without a new checksum, a header that is not ustar. */
    memcpy(a, good, len);
    a[1024 + 20] = 'x';
    expect_refused(f, a, len, "bad header checksum");
    memcpy(a, good, len);
    memcpy(a + 1024 + 257, "xxxxx", 5);
    fix_checksum(a + 1024);
    expect_refused(f, a, len, "not a ustar header");
    memcpy(a, good, len);
    memcpy(a + 1024 + 124, "0000000000x", 11);
    fix_checksum(a + 1024);
    expect_refused(f, a, len, "no valid size");

    /* Truncated: inside content, inside a header, before or between the end blocks. */
    expect_refused(f, good, 512 + 3, "truncated (it ends inside an entry)");
    expect_refused(f, good, 1024 + 100, "truncated (it ends inside a header)");
    expect_refused(f, good, 2048, "truncated (no end-of-archive blocks)");
    expect_refused(f, good, 2048 + 512 + 100, "truncated (it ends inside an end block)");
    expect_refused(f, pax, 700, "truncated (it ends inside a pax extended header)");
    expect_refused(f, pax, 1024, "truncated (no end-of-archive blocks)");
    memcpy(a, pax, 1024);
    memset(a + 1024, 0, 1024);
    expect_refused(f, a, 2048, "ends after a pax extended header");
    /* One zero block at the very end is accepted, as GNU tar does. */
    assert_int_equal(read_archive(f, good, 2048 + 512, &err), 0);
    /* Data after one zero block is not. */
    memcpy(a, good, len);
    memset(a + 1024, 0, 512);
    memcpy(a + 1536, good + 1024, 512);
    expect_refused(f, a, len, "a zero block in the middle");

    /* Malformed pax records. */
    static const char *const recs[] = {
        "5 path=x\n",        "99 path=x\n", "x path=x\n", "9 pathx\n",
        "16 size=1234x67\n", "-9 path=\n",  "9 path=x ",  "29 size=99999999999999999999\n"};
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        memcpy(a, pax, 1024);
        memset(a + 512, 0, 512);
        memcpy(a + 512, recs[i], strlen(recs[i]));
        snprintf(a + 124, 12, "%011o", (unsigned)strlen(recs[i]));
        fix_checksum(a);
        memcpy(a + 1024, pax + 1024, 512 * 4);
        expect_refused(f, a, pax_len, "malformed pax");
    }
    assert_int_equal(err.len, 0);
    free(name);
    free(dotdot);
    free(pax);
    free(a);
    free(good);
    buf_release(&err);
}

/*
 * A 9 GiB entry: the archive is assembled sparse from reads at its header
 * and its end only, and read back with the size from the pax record.
 */
static void test_large_entry(void **state)
{
    struct fixture *f = *state;
    char big[160], tarpath[160];
    path_in(f, "big", big, sizeof(big));
    path_in(f, "big.tar", tarpath, sizeof(tarpath));
    int fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    const uint64_t size = 9 * GIB + 3;
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    assert_int_equal(pwrite(fd, "end", 3, (off_t)(size - 3)), 3);
    close(fd);

    struct tar_entry e[] = {
        {.name = "big", .src = big, .size = size, .mode = 0644, .mtime = 1},
        {.name = "after", .data = "after", .size = 5, .mode = 0600, .mtime = 2},
    };
    struct tar_writer *w = new_ok(e, 2);
    const uint64_t content = 1536, total = content + size + 509 + 512 + 512 + 1024;
    assert_int_equal(tar_writer_size(w), total);
    struct buf err = BUF_INIT;
    static char chunk[1 << 20];
    int out = open(tarpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    assert_int_equal(ftruncate(out, (off_t)total), 0);
    assert_int_equal(tar_writer_read(w, 0, chunk, content + 4096, &err), content + 4096);
    assert_int_equal(pwrite(out, chunk, content + 4096, 0), content + 4096);
    const uint64_t tail = total - (content + size - 100000);
    assert_int_equal(tar_writer_read(w, total - tail, chunk, sizeof(chunk), &err), tail);
    assert_int_equal(pwrite(out, chunk, tail, (off_t)(total - tail)), tail);
    assert_memory_equal(chunk + 100000 - 3, "end", 3);
    assert_memory_equal(chunk + 100000 + 509 + 512, "after", 5);
    tar_writer_free(w);

    struct tar_reader *r;
    struct tar_header h;
    assert_int_equal(lseek(out, 0, SEEK_SET), 0);
    tar_reader_open(&r, out);
    assert_int_equal(tar_reader_next(r, &h, &err), 1);
    assert_string_equal(h.name, "big");
    assert_int_equal(h.size, size);
    assert_int_equal(tar_reader_read(r, chunk, 10, &err), 10);
    assert_int_equal(tar_reader_next(r, &h, &err), 1); /* 9 GiB skipped */
    assert_string_equal(h.name, "after");
    assert_int_equal(h.mode, 0600);
    assert_int_equal(h.mtime, 2);
    assert_int_equal(tar_reader_read(r, chunk, sizeof(chunk), &err), 5);
    assert_memory_equal(chunk, "after", 5);
    assert_int_equal(tar_reader_next(r, &h, &err), 0);
    tar_reader_free(r);

    /* Cut inside the big entry: the skip notices. */
    assert_int_equal(ftruncate(out, (off_t)(content + GIB)), 0);
    assert_int_equal(lseek(out, 0, SEEK_SET), 0);
    tar_reader_open(&r, out);
    assert_int_equal(tar_reader_next(r, &h, &err), 1);
    assert_int_equal(tar_reader_next(r, &h, &err), -1);
    assert_non_null(strstr(err.data, "truncated (it ends inside an entry)"));
    tar_reader_free(r);
    close(out);
    buf_release(&err);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_size_small),       T(test_size_long_names), T(test_size_large),
        T(test_read_by_position), T(test_roundtrip),       T(test_long_names_roundtrip),
        T(test_source_changed),   T(test_writer_refuses),  T(test_reader_refuses),
        T(test_large_entry),
    };
#undef T
    return cmocka_run_group_tests_name("tar", tests, NULL, NULL);
}
