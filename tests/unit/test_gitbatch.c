/*
 * gitbatch: questions to one long-lived git cat-file, a missing object, a
 * process that died and is started again, a size cap.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec/gitbatch.h"
#include "exec/gitcmd.h"
#include "exec/mirror.h"
#include "exec/workspace.h"

static void git(const char *dir, struct buf *out, const char *const *args)
{
    struct buf o = BUF_INIT, err = BUF_INIT;
    if (gitcmd_run(dir, args, NULL, &o, &err))
        fail_msg("%s", err.data);
    while (o.len && o.data[o.len - 1] == '\n')
        buf_setlen(&o, o.len - 1);
    if (out)
        buf_add(out, o.data, o.len);
    buf_release(&o);
    buf_release(&err);
}

static void test_batch(void **state)
{
    (void)state;
    char top[64], oid[41], type[16], sha[41];
    uint64_t size;
    snprintf(top, sizeof(top), "/tmp/flywheel-batch-XXXXXX"); /* mkdtemp fills it in */
    assert_non_null(mkdtemp(top));
    struct buf repo = BUF_INIT, file = BUF_INIT, head = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    buf_addf(&repo, "%s/r.git", top);
    const char *init[] = {"init", "-q", "--bare", repo.data, NULL};
    git(top, NULL, init);
    /* a commit with .flywheel.yml, a symlink and a directory, made with plumbing */
    buf_addf(&file, "%s/f", top);
    FILE *fp = fopen(file.data, "w");
    assert_non_null(fp);
    fputs("jobs: {}\n", fp);
    fclose(fp);
    const char *hash[] = {"--git-dir=.", "hash-object", "-w", file.data, NULL};
    struct buf boid = BUF_INIT;
    git(repo.data, &boid, hash);
    struct buf tree_in = BUF_INIT;
    buf_addf(&tree_in, "%s/tree", top);
    fp = fopen(tree_in.data, "w");
    assert_non_null(fp);
    fprintf(fp, "100644 blob %s\t.flywheel.yml\n120000 blob %s\tlink\n", boid.data, boid.data);
    fclose(fp);
    struct buf toid = BUF_INIT;
    const char *mktree[] = {"-c", "alias.mkt=!git mktree <", "--git-dir=.", "mkt", tree_in.data,
                            NULL};
    git(repo.data, &toid, mktree);
    const char *commit[] = {"-c",          "user.name=t", "-c", "user.email=t@localhost",
                            "--git-dir=.", "commit-tree", "-m", "c",
                            toid.data,     NULL};
    git(repo.data, &head, commit);

    struct gitbatch *b = gitbatch_new(repo.data);
    assert_int_equal(gitbatch_info(b, head.data, oid, type, &size, &err), 0);
    assert_string_equal(oid, head.data);
    assert_string_equal(type, "commit");
    assert_int_equal(gitbatch_contents(b, boid.data, 100, type, &out, &err), 0);
    assert_string_equal(out.data, "jobs: {}\n");
    assert_string_equal(type, "blob");
    buf_reset(&out);
    assert_int_equal(gitbatch_starts(b), 1);
    assert_int_equal(gitbatch_contents_sized(b, boid.data, 3, type, &size, &out, &err), -E2BIG);
    assert_int_equal(out.len, 0);
    assert_int_equal(size, 9); /* told, not read: the process is stopped */
    buf_reset(&err);
    assert_int_equal(
        gitbatch_info(b, "0123456789012345678901234567890123456789", oid, type, &size, &err),
        -ENOENT);
    assert_int_equal(gitbatch_starts(b), 2);

    /* the mirror's functions through it */
    buf_reset(&err);
    assert_int_equal(
        mirror_read_file_with(b, repo.data, head.data, ".flywheel.yml", 100, &out, &err), 0);
    assert_string_equal(out.data, "jobs: {}\n");
    buf_reset(&out);
    assert_int_equal(mirror_read_file_with(b, repo.data, head.data, ".flywheel.yml", 3, &out, &err),
                     -E2BIG);
    buf_reset(&err);
    assert_int_equal(mirror_read_file_with(b, repo.data, head.data, "link", 100, &out, &err),
                     -EINVAL);
    assert_non_null(strstr(err.data, "symbolic link"));
    buf_reset(&err);
    assert_int_equal(mirror_read_file_with(b, repo.data, head.data, "nosuch", 100, &out, &err),
                     -ENOENT);
    buf_reset(&err);
    assert_int_equal(mirror_resolve_with(b, repo.data, head.data, sha, &err), 0);
    assert_string_equal(sha, head.data);
    assert_int_equal(
        mirror_resolve_with(b, repo.data, "0123456789012345678901234567890123456789", sha, &err),
        -ENOENT);
    /* a file under max but over what out may hold: the one-shot path's, no restart */
    struct buf small;
    buf_init(&small, 4);
    buf_reset(&err);
    assert_true(
        mirror_read_file_with(b, repo.data, head.data, ".flywheel.yml", 100, &small, &err) != 0);
    assert_true(small.len <= 4);
    buf_release(&small);
    assert_int_equal(gitbatch_starts(b), 3); /* one more after the file too large */

    /* stopped (as after a repack), or dead: the next question starts another */
    gitbatch_stop(b);
    buf_reset(&err);
    assert_int_equal(gitbatch_info(b, head.data, oid, type, &size, &err), 0);
    assert_int_equal(gitbatch_starts(b), 4);
    gitbatch_free(b);

    /* no repository there: an error, and the one-shot path explains it */
    struct buf none = BUF_INIT;
    buf_addf(&none, "%s/none", top);
    b = gitbatch_new(none.data);
    buf_reset(&err);
    assert_true(gitbatch_info(b, head.data, oid, type, &size, &err) < 0);
    gitbatch_free(b);

    assert_int_equal(ws_remove(top, &err), 0);
    buf_release(&repo);
    buf_release(&file);
    buf_release(&head);
    buf_release(&out);
    buf_release(&err);
    buf_release(&boid);
    buf_release(&tree_in);
    buf_release(&toid);
    buf_release(&none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
