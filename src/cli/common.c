#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

bool cli_color(int fd)
{
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (nc && *nc)
        return false;
    if (term && !strcmp(term, "dumb"))
        return false;
    return isatty(fd);
}

int cli_self_exe(struct buf *out)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return -1;
    buf_add(out, path, (size_t)n);
    return 0;
}

enum {
    OPT_SERVER = 256,
    OPT_JSON,
    OPT_LIMIT,
    OPT_ENV,
    OPT_TO,
    OPT_REASON,
    OPT_KEY,
    OPT_TAR,
    OPT_SINCE
};

int cli_opts_parse(int argc, char **argv, const char *usage, struct cli_opts *o, int *rc)
{
    static const struct option lopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"json", no_argument, NULL, OPT_JSON},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"env", required_argument, NULL, OPT_ENV},
        {"to", required_argument, NULL, OPT_TO},
        {"reason", required_argument, NULL, OPT_REASON},
        {"key", required_argument, NULL, OPT_KEY},
        {"tar", required_argument, NULL, OPT_TAR},
        {"since", required_argument, NULL, OPT_SINCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    memset(o, 0, sizeof(*o));
    o->limit = 20;
    while ((c = getopt_long(argc, argv, "ho:", lopts, NULL)) != -1) {
        char *end;
        const char **field = c == OPT_SERVER   ? &o->server
                             : c == OPT_ENV    ? &o->env
                             : c == OPT_TO     ? &o->to
                             : c == OPT_REASON ? &o->reason
                             : c == OPT_KEY    ? &o->key
                             : c == OPT_TAR    ? &o->tar
                             : c == OPT_SINCE  ? &o->since
                             : c == 'o'        ? &o->out
                                               : NULL;
        if (field) {
            *field = optarg;
        } else if (c == OPT_JSON) {
            o->json = true;
        } else if (c == OPT_LIMIT) {
            errno = 0;
            o->limit = strtol(optarg, &end, 10);
            if (errno || *end || o->limit < 1 || o->limit > 1000) {
                fprintf(stderr, "flywheel: --limit wants a number from 1 to 1000\n");
                *rc = 2;
                return -1;
            }
        } else if (c == 'h') {
            fputs(usage, stdout);
            *rc = 0;
            return -1;
        } else {
            fputs(usage, stderr);
            *rc = 2;
            return -1;
        }
    }
    return 0;
}

int cli_opts_args(int argc, char **argv, const char *usage, int nargs, struct cli_opts *o, int *rc)
{
    if (cli_opts_parse(argc, argv, usage, o, rc))
        return -1;
    if (argc - optind != nargs) {
        fputs(usage, stderr);
        *rc = 2;
        return -1;
    }
    return 0;
}
