/*
 * test-tool: exposes flywheel's internals to the shell tests, as git's
 * t/helper does. Each subcommand prints something a test can compare.
 *
 *   test-tool duration STRING...     milliseconds, or the error
 *   test-tool glob PATTERN STRING    "match" / "no match" (exit 0/1)
 *   test-tool window RANGE           the canonical form, or the error
 *   test-tool pipeline-dump FILE     the normalised pipeline as JSON
 *   test-tool gen-pipeline N         a generated pipeline of N jobs (wide and deep)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"
#include "core/glob.h"
#include "core/pipeline.h"
#include "core/window.h"
#include "exec/workspace.h"
#include "util/fileio.h"

static int cmd_duration(int argc, char **argv)
{
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        int64_t ms;
        struct buf err = BUF_INIT, out = BUF_INIT;
        if (duration_parse(argv[i], &ms, &err)) {
            printf("error: %s\n", err.data);
            rc = 1;
        } else {
            duration_format(ms, &out);
            printf("%lld %s\n", (long long)ms, out.data);
        }
        buf_release(&err);
        buf_release(&out);
    }
    return rc;
}

static int cmd_glob(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct buf err = BUF_INIT;
    if (glob_check(argv[2], &err)) {
        printf("error: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    bool m = glob_match(argv[2], argv[3]);
    printf("%s\n", m ? "match" : "no match");
    return m ? 0 : 1;
}

static int cmd_window(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct window_range r;
    struct buf err = BUF_INIT, out = BUF_INIT;
    int rc = 0;
    if (window_range_parse(argv[2], &r, &err)) {
        printf("error: %s\n", err.data);
        rc = 1;
    } else {
        window_range_format(&r, &out);
        printf("%s\n", out.data);
    }
    buf_release(&err);
    buf_release(&out);
    return rc;
}

static int cmd_pipeline_dump(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct buf src = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
    struct diag_list d = DIAG_LIST_INIT;
    int rc = 1;
    if (file_read(argv[2], 16 << 20, &src, &err)) {
        fprintf(stderr, "%s\n", err.data);
        goto out;
    }
    struct pipeline *p = pipeline_parse(argv[2], src.data, src.len, NULL, 0, &d);
    diag_render(&d, argv[2], src.data, src.len, false, &out);
    fputs(out.data, stderr);
    if (p) {
        buf_reset(&out);
        pipeline_to_json(p, &out);
        fputs(out.data, stdout);
        pipeline_free(p);
        rc = 0;
    }
out:
    diag_list_release(&d);
    buf_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc;
}

/*
 * A pipeline of n jobs shaped like a real large one: layers of 50 jobs, each
 * job needing up to three jobs of the previous layer (deep and wide), a few
 * keys per job.
 */
static int cmd_gen_pipeline(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = strtol(argv[2], NULL, 10);
    const long width = 50;
    printf("name: generated\nenv: { LANG: C }\njobs:\n");
    for (long i = 0; i < n; i++) {
        long layer = i / width;
        printf("  job-%ld:\n    run: echo %ld && test -d .\n", i, i);
        if (layer > 0) {
            long prev = (layer - 1) * width;
            printf("    needs: [job-%ld, job-%ld, job-%ld]\n", prev + (i % width),
                   prev + ((i * 7 + 3) % width), prev + ((i * 13 + 5) % width));
        }
        printf("    timeout: 10m\n    env: { N: \"%ld\" }\n", i);
    }
    return 0;
}

/*
 * test-tool workspace snapshot REPO STATE          the snapshot's fields
 * test-tool workspace rev REPO STATE REV           the source of REV
 * test-tool workspace create REPO STATE [REV] DIR  a workspace (snapshot without REV)
 * test-tool workspace create-empty REPO STATE DIR  a workspace without checkout
 * test-tool workspace init REPO STATE              ws_state_init
 * test-tool workspace find-repo DIR                the top level
 * test-tool workspace remove DIR                   ws_remove
 * test-tool workspace artifacts DIR PATTERN        one matching path a line
 */
static int cmd_workspace(int argc, char **argv)
{
    struct buf err = BUF_INIT, out = BUF_INIT;
    struct ws_source src = {0};
    const char *sub = argc > 2 ? argv[2] : "";
    int rc = -1;

    if (!strcmp(sub, "snapshot") && argc == 5) {
        rc = ws_source_worktree(&src, argv[3], argv[4], &err);
    } else if (!strcmp(sub, "rev") && argc == 6) {
        rc = ws_source_rev(&src, argv[3], argv[4], argv[5], &err);
    } else if ((!strcmp(sub, "create") && (argc == 6 || argc == 7)) ||
               (!strcmp(sub, "create-empty") && argc == 6)) {
        rc = argc == 7 ? ws_source_rev(&src, argv[3], argv[4], argv[5], &err)
                       : ws_source_worktree(&src, argv[3], argv[4], &err);
        if (!rc)
            rc = ws_create(&src, argv[argc - 1], !strcmp(sub, "create"), &err);
    } else if (!strcmp(sub, "init") && argc == 5) {
        rc = ws_state_init(argv[3], argv[4], &err);
    } else if (!strcmp(sub, "find-repo") && argc == 4) {
        if (!(rc = ws_find_repo(argv[3], &out, &err)))
            printf("%s\n", out.data);
    } else if (!strcmp(sub, "remove") && argc == 4) {
        rc = ws_remove(argv[3], &err);
    } else if (!strcmp(sub, "artifacts") && argc == 5) {
        size_t n = 0;
        if (!(rc = ws_artifact_resolve(argv[3], argv[4], &out, &n, &err)))
            for (const char *p = out.data; p < out.data + out.len; p += strlen(p) + 1)
                printf("%s\n", p);
    } else {
        fprintf(stderr, "usage: test-tool workspace snapshot|rev|create|create-empty|init|"
                        "find-repo|remove|artifacts ...\n");
        return 2;
    }
    if (!rc && src.commit)
        printf("commit %s\nbranch %s\nhead %s\nrepo %s\nstate %s\n", src.commit, src.branch,
               src.head, src.repo, src.state_dir);
    if (rc)
        fprintf(stderr, "error: %s\n", err.data);
    ws_source_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-tool duration|glob|window|pipeline-dump|gen-pipeline ...\n");
        return 2;
    }
    if (!strcmp(argv[1], "duration"))
        return cmd_duration(argc, argv);
    if (!strcmp(argv[1], "glob"))
        return cmd_glob(argc, argv);
    if (!strcmp(argv[1], "window"))
        return cmd_window(argc, argv);
    if (!strcmp(argv[1], "pipeline-dump"))
        return cmd_pipeline_dump(argc, argv);
    if (!strcmp(argv[1], "gen-pipeline"))
        return cmd_gen_pipeline(argc, argv);
    if (!strcmp(argv[1], "workspace"))
        return cmd_workspace(argc, argv);
    fprintf(stderr, "test-tool: unknown command '%s'\n", argv[1]);
    return 2;
}
