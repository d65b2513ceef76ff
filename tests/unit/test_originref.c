/*
 * originref: refs read from the files of repositories that git itself made
 * in the test: loose, packed, packed with peeled tags, symbolic, in a bare
 * repository, through a .git file, in a linked worktree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "exec/gitcmd.h"
#include "exec/originref.h"
#include "exec/workspace.h"

static char top[64];

/* Runs git in dir (relative to top); its output (one line) into out when not NULL. */
static void git(const char *dir, struct buf *out, ...)
{
    const char *args[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, out);
    args[n++] = "-c";
    args[n++] = "user.name=t";
    args[n++] = "-c";
    args[n++] = "user.email=t@localhost";
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    struct buf path = BUF_INIT, o = BUF_INIT, err = BUF_INIT;
    buf_addf(&path, "%s/%s", top, dir);
    if (gitcmd_run(path.data, args, NULL, &o, &err))
        fail_msg("%s", err.data);
    while (o.len && o.data[o.len - 1] == '\n')
        buf_setlen(&o, o.len - 1);
    if (out) {
        buf_reset(out);
        buf_add(out, o.data, o.len);
    }
    buf_release(&path);
    buf_release(&o);
    buf_release(&err);
}

static void gitdir_of(const char *url_fmt, struct buf *gitdir, int want_rc)
{
    struct buf url = BUF_INIT, err = BUF_INIT;
    buf_addf(&url, url_fmt, top);
    buf_reset(gitdir);
    int rc = originref_gitdir(url.data, gitdir, &err);
    if (rc != want_rc)
        fail_msg("%s: %d, not %d: %s", url.data, rc, want_rc, err.data);
    buf_release(&url);
    buf_release(&err);
}

static void expect_ref(const char *gitdir, const char *ref, int want_rc, const char *want_sha,
                       const char *want_peeled)
{
    char sha[41], peeled[41];
    struct buf err = BUF_INIT;
    int rc = originref_read(gitdir, ref, sha, peeled, &err);
    if (rc != want_rc)
        fail_msg("%s: %d, not %d: %s", ref, rc, want_rc, err.data);
    if (!rc) {
        assert_string_equal(sha, want_sha);
        assert_string_equal(peeled, want_peeled);
    }
    buf_release(&err);
}

static int setup(void **state)
{
    (void)state;
    snprintf(top, sizeof(top), "/tmp/flywheel-oref-XXXXXX"); /* mkdtemp fills it in */
    assert_non_null(mkdtemp(top));
    git("", NULL, "init", "-q", "-b", "main", "app", NULL);
    git("app", NULL, "commit", "-q", "--allow-empty", "-m", "one", NULL);
    git("app", NULL, "commit", "-q", "--allow-empty", "-m", "two", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct buf err = BUF_INIT;
    assert_int_equal(ws_remove(top, &err), 0);
    buf_release(&err);
    return 0;
}

static void test_loose_packed_peeled(void **state)
{
    (void)state;
    struct buf gd = BUF_INIT, head = BUF_INIT, first = BUF_INIT, tag = BUF_INIT;
    git("app", &head, "rev-parse", "HEAD", NULL);
    git("app", &first, "rev-parse", "HEAD~1", NULL);
    gitdir_of("%s/app", &gd, 0);
    expect_ref(gd.data, "refs/heads/main", 0, head.data, "");
    expect_ref(gd.data, "refs/heads/nosuch", -ENOENT, NULL, NULL);
    expect_ref(gd.data, "refs/heads", -ENOENT, NULL, NULL); /* a directory */

    /* packed, with an annotated tag and its peeled line; a loose ref wins over its packed one */
    git("app", NULL, "branch", "old", "HEAD~1", NULL);
    git("app", NULL, "tag", "-a", "-m", "v1", "v1", "HEAD~1", NULL);
    git("app", NULL, "tag", "light", NULL);
    git("app", &tag, "rev-parse", "v1", NULL);
    git("app", NULL, "pack-refs", "--all", NULL);
    struct stat st;
    struct buf p = BUF_INIT;
    buf_addf(&p, "%s/refs/heads/old", gd.data);
    assert_int_not_equal(stat(p.data, &st), 0); /* packed now */
    expect_ref(gd.data, "refs/heads/old", 0, first.data, "");
    expect_ref(gd.data, "refs/tags/v1", 0, tag.data, first.data);
    expect_ref(gd.data, "refs/tags/light", 0, head.data, "");
    git("app", NULL, "update-ref", "refs/heads/old", head.data, NULL);
    expect_ref(gd.data, "refs/heads/old", 0, head.data, "");

    /* a symbolic ref, followed */
    git("app", NULL, "symbolic-ref", "refs/heads/alias", "refs/heads/old", NULL);
    expect_ref(gd.data, "refs/heads/alias", 0, head.data, "");
    git("app", NULL, "symbolic-ref", "refs/heads/dangling", "refs/heads/gone", NULL);
    expect_ref(gd.data, "refs/heads/dangling", -ENOENT, NULL, NULL);

    /* names git would not take */
    expect_ref(gd.data, "refs/heads/../../config", -ENOTSUP, NULL, NULL);
    expect_ref(gd.data, "HEAD", -ENOTSUP, NULL, NULL);

    /* the same repository as a file:// URL and with a trailing slash */
    gitdir_of("file://%s/app/", &gd, 0);
    expect_ref(gd.data, "refs/tags/v1", 0, tag.data, first.data);
    buf_release(&p);
    buf_release(&gd);
    buf_release(&head);
    buf_release(&first);
    buf_release(&tag);
}

static void test_bare_gitfile_worktree(void **state)
{
    (void)state;
    struct buf gd = BUF_INIT, head = BUF_INIT, url = BUF_INIT;
    git("app", &head, "rev-parse", "HEAD", NULL);
    buf_addf(&url, "%s/app", top);
    git("", NULL, "clone", "-q", "--bare", url.data, "bare.git", NULL);
    gitdir_of("%s/bare.git", &gd, 0);
    expect_ref(gd.data, "refs/heads/main", 0, head.data, "");

    /* a work tree whose .git is a file naming the git directory elsewhere */
    git("", NULL, "init", "-q", "-b", "main", "--separate-git-dir", "sep.git", "split", NULL);
    git("split", NULL, "commit", "-q", "--allow-empty", "-m", "s", NULL);
    struct buf sh = BUF_INIT;
    git("split", &sh, "rev-parse", "HEAD", NULL);
    gitdir_of("%s/split", &gd, 0);
    expect_ref(gd.data, "refs/heads/main", 0, sh.data, "");

    /* a linked worktree: the branches are the main repository's */
    git("app", NULL, "worktree", "add", "-q", "-b", "wt", "../linked", NULL);
    gitdir_of("%s/linked", &gd, 0);
    expect_ref(gd.data, "refs/heads/main", 0, head.data, "");
    expect_ref(gd.data, "refs/heads/wt", 0, head.data, "");

    /* not local, not there, not a repository */
    gitdir_of("https://example.com/app.git", &gd, -ENOTSUP);
    gitdir_of("git@example.com:app.git", &gd, -ENOTSUP);
    gitdir_of("file://host%s/app", &gd, -ENOTSUP);
    gitdir_of("%s/nosuch", &gd, -ENOENT);
    gitdir_of("%s", &gd, -ENOTSUP);
    buf_release(&gd);
    buf_release(&head);
    buf_release(&url);
    buf_release(&sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loose_packed_peeled),
        cmocka_unit_test(test_bare_gitfile_worktree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
