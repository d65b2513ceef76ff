#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exec/workspace.h"

/* A temporary directory for each test: "ws" (the workspace) and "outside". */
struct fixture {
    char top[64];
    struct buf ws, outside;
};

static void path_of(struct fixture *f, const char *rel, struct buf *out)
{
    buf_reset(out);
    buf_addf(out, "%s/%s", f->ws.data, rel);
}

static void mkfile(struct fixture *f, const char *rel, const char *content)
{
    struct buf p = BUF_INIT;
    path_of(f, rel, &p);
    /* parents */
    for (size_t i = f->ws.len + 1; i < p.len; i++) {
        if (p.data[i] != '/')
            continue;
        p.data[i] = '\0';
        mkdir(p.data, 0777);
        p.data[i] = '/';
    }
    FILE *fp = fopen(p.data, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    buf_release(&p);
}

static void mkdirs(struct fixture *f, const char *rel)
{
    struct buf p = BUF_INIT;
    path_of(f, rel, &p);
    for (size_t i = f->ws.len + 1; i <= p.len; i++) {
        if (i < p.len && p.data[i] != '/')
            continue;
        char save = p.data[i];
        p.data[i] = '\0';
        mkdir(p.data, 0777);
        p.data[i] = save;
    }
    buf_release(&p);
}

static void mklink(struct fixture *f, const char *target, const char *rel)
{
    struct buf p = BUF_INIT;
    path_of(f, rel, &p);
    assert_int_equal(symlink(target, p.data), 0);
    buf_release(&p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->top, sizeof(f->top), "%s", "/tmp/flywheel-test-ws.XXXXXX");
    assert_non_null(mkdtemp(f->top));
    buf_init(&f->ws, 0);
    buf_init(&f->outside, 0);
    buf_addf(&f->ws, "%s/ws", f->top);
    buf_addf(&f->outside, "%s/outside", f->top);
    assert_int_equal(mkdir(f->ws.data, 0777), 0);
    assert_int_equal(mkdir(f->outside.data, 0777), 0);

    mkfile(f, "bin/app", "app");
    mkfile(f, "bin/app.o", "o");
    mkfile(f, "bin/lib.o", "o");
    mkfile(f, "bin/sub/deep.o", "o");
    mkfile(f, "top.o", "o");
    mkfile(f, "src/a.c", "c");
    mkfile(f, "src/x/b.c", "c");
    mkfile(f, "src/x/y/c.c", "c");
    mkfile(f, "src/x/y/c.h", "h");
    mkfile(f, "dist/z.txt", "z");
    mkfile(f, "dist/a/b.txt", "b");
    mkfile(f, "dist/a/c/d.txt", "d");
    mkdirs(f, "dist/empty");
    mkfile(f, "my dir/read me.txt", "r");
    mkfile(f, "star*name", "s");
    mkfile(f, ".git/config", "not an artifact");
    mkfile(f, "outfile-target", "t");

    struct buf p = BUF_INIT;
    buf_addf(&p, "%s/secret", f->outside.data);
    FILE *fp = fopen(p.data, "w");
    assert_non_null(fp);
    fputs("secret", fp);
    fclose(fp);
    buf_release(&p);

    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT;
    assert_int_equal(ws_remove(f->top, &err), 0);
    buf_release(&err);
    buf_release(&f->ws);
    buf_release(&f->outside);
    free(f);
    return 0;
}

/* Resolves pattern and compares the result with the '\n'-separated want. */
static void expect_files(struct fixture *f, const char *pattern, const char *want)
{
    struct buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    size_t n = 0, lines = 0;
    int rc = ws_artifact_resolve(f->ws.data, pattern, &out, &n, &err);
    if (rc)
        fail_msg("'%s': %s", pattern, err.data);
    assert_int_equal(err.len, 0);
    for (const char *p = out.data; p < out.data + out.len; p += strlen(p) + 1) {
        buf_addf(&got, "%s\n", p);
        lines++;
    }
    assert_string_equal(got.data, want);
    assert_int_equal(n, lines);
    buf_release(&out);
    buf_release(&err);
    buf_release(&got);
}

static void expect_refused(struct fixture *f, const char *pattern, const char *fragment)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    size_t n = 42;
    buf_adds(&out, "kept");
    int rc = ws_artifact_resolve(f->ws.data, pattern, &out, &n, &err);
    assert_true(rc < 0);
    if (!strstr(err.data, fragment))
        fail_msg("'%s': message '%s' lacks '%s'", pattern, err.data, fragment);
    assert_string_equal(out.data, "kept");
    assert_int_equal(n, 42);
    buf_release(&out);
    buf_release(&err);
}

static void test_plain_files(void **state)
{
    struct fixture *f = *state;
    expect_files(f, "bin/app", "bin/app\n");
    expect_files(f, "./bin//app", "bin/app\n");
    expect_files(f, "my dir/read me.txt", "my dir/read me.txt\n");
    expect_files(f, "star*name", "star*name\n"); /* a glob matching itself */
    expect_files(f, "star\\*name", "star*name\n");
    expect_files(f, ".git/config", ".git/config\n"); /* named explicitly */
}

static void test_globs(void **state)
{
    struct fixture *f = *state;
    expect_files(f, "bin/*.o", "bin/app.o\nbin/lib.o\n"); /* '*' does not cross '/' */
    expect_files(f, "bin/?pp*", "bin/app\nbin/app.o\n");
    expect_files(f, "*/*.o", "bin/app.o\nbin/lib.o\n");
    expect_files(f, "*.o", "top.o\n");
    expect_files(f, "b[i]n/[a-l]*.o", "bin/app.o\nbin/lib.o\n");
    expect_files(f, "my dir/*.txt", "my dir/read me.txt\n");
}

static void test_globstar(void **state)
{
    struct fixture *f = *state;
    expect_files(f, "src/**.c", "src/a.c\nsrc/x/b.c\nsrc/x/y/c.c\n");
    expect_files(f, "src/**/*.c", "src/x/b.c\nsrc/x/y/c.c\n"); /* as core/glob.h */
    expect_files(f, "**.o", "bin/app.o\nbin/lib.o\nbin/sub/deep.o\ntop.o\n");
    expect_files(f, "s*/x/**", "src/x/b.c\nsrc/x/y/c.c\nsrc/x/y/c.h\n");
    /* The workspace's own .git is never matched by a wildcard. */
    expect_refused(f, "**config", "artifact '**config' was not produced");
}

static void test_directories(void **state)
{
    struct fixture *f = *state;
    expect_files(f, "dist", "dist/a/b.txt\ndist/a/c/d.txt\ndist/z.txt\n");
    expect_files(f, "dist/", "dist/a/b.txt\ndist/a/c/d.txt\ndist/z.txt\n");
    expect_files(f, "di*/a", "dist/a/b.txt\ndist/a/c/d.txt\n");
    /* A directory and files below it both matching: each file once. */
    expect_files(f, "dist/**", "dist/a/b.txt\ndist/a/c/d.txt\ndist/z.txt\n");
    expect_refused(f, "dist/empty", "artifact 'dist/empty' was not produced");
}

static void test_whole_workspace_skips_git(void **state)
{
    struct fixture *f = *state;
    struct buf out = BUF_INIT, err = BUF_INIT;
    size_t n = 0;
    assert_int_equal(ws_artifact_resolve(f->ws.data, ".", &out, &n, &err), 0);
    assert_int_equal(n, 15); /* every file made by setup but .git/config */
    for (const char *p = out.data; p < out.data + out.len; p += strlen(p) + 1)
        assert_null(strstr(p, ".git"));
    buf_release(&out);
    buf_release(&err);
}

static void test_symlinks(void **state)
{
    struct fixture *f = *state;
    struct buf target = BUF_INIT;

    mklink(f, "../outfile-target", "bin/inside");
    expect_files(f, "bin/inside", "bin/inside\n");
    mklink(f, "dist/a", "alias");
    expect_files(f, "alias", "alias/b.txt\nalias/c/d.txt\n");
    expect_files(f, "alias/c/*.txt", "alias/c/d.txt\n");

    buf_addf(&target, "%s/secret", f->outside.data);
    mklink(f, target.data, "leak");
    expect_refused(f, "leak",
                   "artifact 'leak': 'leak' is a symlink pointing outside the workspace");
    mklink(f, "../../../outside", "dist/a/out");
    expect_refused(f, "dist", "'dist/a/out' is a symlink pointing outside the workspace");
    expect_refused(f, "dist/a/out/secret", "'dist/a/out' is a symlink pointing outside");
    /* A wildcard step never looks through a symlink leading outside. */
    expect_files(f, "dist/a/*/d.txt", "dist/a/c/d.txt\n");
    /* '**' does not descend through symlinks. */
    expect_files(f, "dist/**.txt", "dist/a/b.txt\ndist/a/c/d.txt\ndist/z.txt\n");

    mklink(f, "nowhere", "bin/dangling");
    expect_refused(f, "bin/dangling", "'bin/dangling' is a symlink to a missing file");
    mklink(f, "..", "src/x/up");
    expect_refused(f, "src/x", "a loop");
    buf_release(&target);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    expect_refused(f, "/etc/passwd", "artifact '/etc/passwd': an absolute path");
    expect_refused(f, "../outside/secret", "artifact '../outside/secret': a '..' component");
    expect_refused(f, "bin/../../outside", "a '..' component");
    expect_refused(f, "bin/*/../app", "a '..' component");
    expect_refused(f, "", "empty");
    expect_refused(f, "bin/[a", "not a valid glob");
    expect_refused(f, "bin/nope", "artifact 'bin/nope' was not produced");
    expect_refused(f, "bin/*.exe", "artifact 'bin/*.exe' was not produced");
    expect_refused(f, "bin/app/x", "was not produced"); /* through a file */

    struct buf p = BUF_INIT;
    path_of(f, "bin/pipe", &p);
    assert_int_equal(mkfifo(p.data, 0600), 0);
    expect_refused(f, "bin/pipe", "artifact 'bin/pipe': 'bin/pipe' is a fifo");
    expect_refused(f, "bin", "'bin/pipe' is a fifo");
    expect_files(f, "bin/*.o", "bin/app.o\nbin/lib.o\n"); /* not matched: no harm */

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    path_of(f, "sock", &p);
    assert_true(p.len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, p.data, p.len + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    expect_refused(f, "sock", "'sock' is a socket");
    buf_release(&p);
}

static void test_appends(void **state)
{
    struct fixture *f = *state;
    struct buf out = BUF_INIT, err = BUF_INIT;
    size_t n = 0;
    buf_add(&out, "x", 2);
    assert_int_equal(ws_artifact_resolve(f->ws.data, "bin/*.o", &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out.len, 2 + sizeof("bin/app.o") + sizeof("bin/lib.o"));
    assert_memory_equal(out.data, "x\0bin/app.o\0bin/lib.o", out.len);
    buf_release(&out);
    buf_release(&err);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT, p = BUF_INIT, target = BUF_INIT;

    /* Symlinks are removed, never followed. */
    buf_addf(&target, "%s/secret", f->outside.data);
    mklink(f, target.data, "leak");
    mklink(f, f->outside.data, "dist/a/outdir");
    mkfile(f, "ro/dir/file", "f");
    mkfile(f, "locked/file", "f");
    path_of(f, "ro/dir/file", &p);
    chmod(p.data, 0400);
    path_of(f, "ro/dir", &p);
    chmod(p.data, 0500);
    path_of(f, "ro", &p);
    chmod(p.data, 0500);
    path_of(f, "locked", &p);
    chmod(p.data, 0); /* neither readable nor searchable */
    path_of(f, "bin/pipe", &p);
    assert_int_equal(mkfifo(p.data, 0600), 0);

    assert_int_equal(ws_remove(f->ws.data, &err), 0);
    assert_int_equal(err.len, 0);
    struct stat st;
    assert_int_equal(lstat(f->ws.data, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(stat(target.data, &st), 0); /* the outside survived */

    /* Missing is not an error. */
    assert_int_equal(ws_remove(f->ws.data, &err), 0);
    assert_int_equal(err.len, 0);

    /* A file or a symlink at the path itself. */
    buf_reset(&p);
    buf_addf(&p, "%s/link", f->top);
    assert_int_equal(symlink(f->outside.data, p.data), 0);
    assert_int_equal(ws_remove(p.data, &err), 0);
    assert_int_equal(lstat(p.data, &st), -1);
    assert_int_equal(stat(target.data, &st), 0);

    buf_release(&err);
    buf_release(&p);
    buf_release(&target);
}

static void test_remove_deep(void **state)
{
    struct fixture *f = *state;
    struct buf err = BUF_INIT, p = BUF_INIT;
    /* Deeper than PATH_MAX allows naming in one path, and than the fds a
     * process may hold: the removal walks with one directory open. */
    assert_int_equal(chdir(f->ws.data), 0);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(mkdir("deep-directory-level", 0700), 0);
        assert_int_equal(chdir("deep-directory-level"), 0);
    }
    FILE *fp = fopen("leaf", "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(ws_remove(f->ws.data, &err), 0);
    assert_int_equal(err.len, 0);
    struct stat st;
    assert_int_equal(lstat(f->ws.data, &st), -1);
    buf_release(&err);
    buf_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_globs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_globstar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_workspace_skips_git, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_deep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
