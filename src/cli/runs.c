/*
 * flywheel runs [--json] [-n N] [-C DIR]: the local run history, newest first.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/local.h"

static const char usage[] = "usage: flywheel runs [--json] [-n N] [-C DIR]\n"
                            "\n"
                            "Lists the runs of `flywheel run` in this repository, newest first.\n";

int cmd_runs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    bool json = false;
    long limit = 20;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:C:h", opts, NULL)) != -1) {
        switch (c) {
        case 'J':
            json = true;
            break;
        case 'n': {
            char *end;
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 1 || limit > 100000) {
                fprintf(stderr, "flywheel runs: -n wants a positive number\n");
                return 2;
            }
            break;
        }
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
    if (optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    struct cli_local lc;
    struct buf err = BUF_INIT;
    struct store_run *runs = NULL;
    size_t n = 0;
    int rc = 2;
    if (cli_local_open(&lc, dir, 0, &err)) {
        fprintf(stderr, "flywheel runs: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    if (store_run_list(lc.store, (size_t)limit, &runs, &n, &err)) {
        fprintf(stderr, "flywheel runs: %s\n", err.data);
        goto out;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_integer(runs[i].id));
            json_object_set_new(o, "kind", json_string(runs[i].kind));
            json_object_set_new(o, "state", json_string(runs[i].state));
            json_object_set_new(o, "commit", json_string(runs[i].commit));
            json_object_set_new(o, "branch", json_string(runs[i].branch));
            json_object_set_new(o, "started_ms", json_integer(runs[i].started_ms));
            json_object_set_new(o, "finished_ms", json_integer(runs[i].finished_ms));
            json_array_append_new(a, o);
        }
        char *s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(a);
    } else {
        printf("%-6s %-8s %-10s %-19s %-9s %s\n", "RUN", "KIND", "STATE", "STARTED", "DURATION",
               "COMMIT");
        for (size_t i = 0; i < n; i++) {
            char when[32] = "-";
            time_t t = (time_t)(runs[i].started_ms / 1000);
            struct tm tm;
            if (runs[i].started_ms && localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
            struct buf d = BUF_INIT;
            if (runs[i].finished_ms)
                cli_format_duration(runs[i].finished_ms - runs[i].started_ms, &d);
            else
                buf_adds(&d, "-");
            printf("%-6lld %-8s %-10s %-19s %-9s %.12s%s%s\n", (long long)runs[i].id, runs[i].kind,
                   runs[i].state, when, d.data, runs[i].commit, runs[i].branch[0] ? " " : "",
                   runs[i].branch);
            buf_release(&d);
        }
    }
    rc = 0;
out:
    store_runs_release(runs, n);
    cli_local_close(&lc);
    buf_release(&err);
    return rc;
}
