/*
 * flywheel logs [RUN] JOB [--attempt N] [-C DIR]: prints a job's log from the
 * local history (the newest run by default, the last attempt by default).
 * The log is copied in chunks, never held whole in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/local.h"

static const char usage[] = "usage: flywheel logs [RUN] JOB [--attempt N] [-C DIR]\n"
                            "\n"
                            "Prints the log of a job of a local run (default: the newest run, the\n"
                            "last attempt).\n";

static long parse_pos(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1)
        return -1;
    return v;
}

int cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"attempt", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    long attempt = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "C:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            attempt = parse_pos(optarg);
            if (attempt < 0) {
                fprintf(stderr, "flywheel logs: --attempt wants a positive number\n");
                return 2;
            }
            break;
        case 'C':
            dir = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2) {
        fputs(usage, stderr);
        return 2;
    }
    struct cli_local lc;
    struct buf err = BUF_INIT;
    struct store_job job = {0};
    struct store_attempt *atts = NULL;
    size_t natts = 0;
    int rc = 2, fd = -1;
    bool have_job = false;
    if (cli_local_open(&lc, dir, 0, &err)) {
        fprintf(stderr, "flywheel logs: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    int64_t run = 0;
    if (nargs == 2) {
        run = parse_pos(argv[optind]);
        if (run < 0) {
            fprintf(stderr, "flywheel logs: '%s' is not a run number\n", argv[optind]);
            goto out;
        }
    } else {
        run = store_run_latest(lc.store);
        if (!run) {
            fprintf(stderr, "flywheel logs: no runs yet\n");
            goto out;
        }
    }
    const char *name = argv[argc - 1];
    int r = store_job_find(lc.store, run, name, &job, &err);
    if (r) {
        if (r == -ENOENT)
            fprintf(stderr, "flywheel logs: run %lld has no job '%s'\n", (long long)run, name);
        else
            fprintf(stderr, "flywheel logs: %s\n", err.data);
        goto out;
    }
    have_job = true;
    if (store_attempt_list(lc.store, job.id, &atts, &natts, &err)) {
        fprintf(stderr, "flywheel logs: %s\n", err.data);
        goto out;
    }
    if (!natts) {
        fprintf(stderr, "flywheel logs: job '%s' of run %lld never started (%s%s%s)\n", name,
                (long long)run, job.state, job.reason[0] ? ": " : "", job.reason);
        goto out;
    }
    struct store_attempt *a = &atts[natts - 1];
    if (attempt) {
        a = NULL;
        for (size_t i = 0; i < natts; i++)
            if (atts[i].number == attempt)
                a = &atts[i];
        if (!a) {
            fprintf(stderr, "flywheel logs: job '%s' of run %lld has no attempt %ld\n", name,
                    (long long)run, attempt);
            goto out;
        }
    }
    fd = open(a->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "flywheel logs: %s: %s\n", a->log_path, strerror(errno));
        goto out;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (fwrite(chunk, 1, (size_t)n, stdout) != (size_t)n)
            break;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    store_attempts_release(atts, natts);
    if (have_job)
        store_job_release(&job);
    cli_local_close(&lc);
    buf_release(&err);
    return rc;
}
