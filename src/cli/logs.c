/*
 * flywheel logs [RUN] JOB [--attempt N] [-C DIR]: prints a job's log from the
 * local history (the newest run by default, the last attempt by default).
 * The log is copied in chunks, never held whole in memory.
 *
 * flywheel logs [--server URL] RUN_ID JOB [-f] [--attempt N]: the same from a
 * server (cli/client.h), when --server is given or $FLYWHEEL_SERVER is set
 * (and -C, which means local, is not); -f follows the log as it grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/local.h"

static const char usage[] =
    "usage: flywheel logs [RUN] JOB [--attempt N] [-C DIR]\n"
    "   or: flywheel logs [--server URL] RUN_ID JOB [-f] [--attempt N]\n"
    "\n"
    "Prints the log of a job of a local run (default: the newest run, the\n"
    "last attempt).\n"
    "\n"
    "With --server URL, or $FLYWHEEL_SERVER set and no -C, prints the log of a\n"
    "job of a run on that server. With -f (--follow) it follows the log as the\n"
    "job writes it, until the attempt ends, and exits 0 if it passed, 1 if not.\n";

static long parse_pos(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1)
        return -1;
    return v;
}

/* The server's mode: exit 0, 1 (the server said no, or the attempt did not pass) or 2. */
static int remote_logs(const char *server, const char *run_arg, const char *job, long attempt,
                       bool follow)
{
    struct client *c = NULL;
    struct buf err = BUF_INIT;
    char *state = NULL;
    int rc;
    long run = parse_pos(run_arg);
    if (run < 0) {
        fprintf(stderr, "flywheel logs: '%s' is not a run id\n", run_arg);
        return 2;
    }
    if (client_open(&c, client_server_url(server), &err)) {
        fprintf(stderr, "flywheel logs: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    if (follow)
        rc = client_log_follow(c, run, job, attempt, stdout, &state, &err);
    else
        rc = client_log_copy(c, run, job, attempt, stdout, &err);
    if (rc) {
        fprintf(stderr, "flywheel logs: %s\n", err.data);
        rc = client_exit_code(rc);
    } else if (follow && strcmp(state, "passed")) {
        fprintf(stderr, "flywheel logs: job '%s' of run %ld %s\n", job, run, state);
        rc = 1;
    }
    free(state);
    buf_release(&err);
    client_free(c);
    return rc;
}

int cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"attempt", required_argument, NULL, 'a'},
        {"server", required_argument, NULL, 'S'},
        {"follow", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *server = NULL;
    long attempt = 0;
    bool follow = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "C:fh", opts, NULL)) != -1) {
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
        case 'S':
            server = optarg;
            break;
        case 'f':
            follow = true;
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
    if (server && dir) {
        fprintf(stderr, "flywheel logs: --server and -C exclude each other\n");
        return 2;
    }
    if (server || (!dir && client_server_from_env())) {
        if (nargs != 2) {
            fprintf(stderr, "flywheel logs: a server's log needs RUN_ID and JOB\n");
            return 2;
        }
        return remote_logs(server, argv[optind], argv[optind + 1], attempt, follow);
    }
    if (follow) {
        fprintf(stderr, "flywheel logs: -f follows a server's log (--server URL or "
                        "$FLYWHEEL_SERVER)\n");
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
    if (fd < 0 && errno == ENOENT) {
        rc = 0; /* the job printed nothing: its log was never created */
        goto out;
    }
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
