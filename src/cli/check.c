/*
 * flywheel check [--json] [--strict] [--quiet] [FILE]
 *
 * Reads the pipeline file (default .flywheel.yml; "-" for standard input),
 * reports every problem like a compiler, and with --json prints the
 * normalised pipeline. Exit: 0 valid, 1 invalid (or warnings under
 * --strict), 2 usage or I/O error. A failed check ends with a summary on
 * standard error ("FILE: 2 errors, 0 warnings", or "FILE: 1 warning (fatal
 * under --strict)") and prints nothing on standard output.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pipeline.h"
#include "util/fileio.h"

static const char usage[] =
    "usage: flywheel check [--json] [--strict] [--quiet] [FILE]\n"
    "\n"
    "Checks a pipeline file (default: .flywheel.yml; '-' reads standard input).\n"
    "\n"
    "  --json     print the normalised pipeline (defaults filled in, matrices\n"
    "             expanded, jobs in dependency order) on standard output\n"
    "  --strict   warnings fail the check\n"
    "  --quiet    print only diagnostics\n"
    "\n"
    "Exit status: 0 valid, 1 invalid, 2 usage or I/O error.\n";

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"strict", no_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, strict = false, quiet = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "jsqh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 's':
            strict = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fputs(usage, stderr);
        return 2;
    }
    const char *path = optind < argc ? argv[optind] : ".flywheel.yml";
    const char *shown = strcmp(path, "-") ? path : "<stdin>";

    struct pl_limits lim;
    pipeline_limits_default(&lim);
    struct buf src = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = NULL;
    int rc = 2;

    if (file_read(path, lim.max_bytes, &src, &err)) {
        if (!strstr(err.data, "larger than the limit")) {
            fprintf(stderr, "flywheel check: %s\n", err.data);
            goto out;
        }
        /* Reading stopped at the limit, so the size is unknown: the same words as
         * pipeline_parse() uses for a file over the limit, and the same report. */
        diag_add(&d, DIAG_ERROR, (struct pos){0, 0, 0},
                 "the file is larger than the limit of %zu bytes", lim.max_bytes);
    } else {
        p = pipeline_parse(shown, src.data, src.len, &lim, PL_ZONES | (strict ? PL_STRICT : 0), &d);
    }
    diag_render(&d, shown, src.data, src.len, cli_color(2), &out);
    fputs(out.data, stderr);
    rc = 1;
    if (!p) {
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", shown, d.nerrors,
                d.nerrors == 1 ? "" : "s", d.nwarnings, d.nwarnings == 1 ? "" : "s");
        goto out;
    }
    if (strict && d.nwarnings) {
        /* A failed check, like an invalid file: its summary on standard error and
         * nothing on standard output, not even with --json. */
        fprintf(stderr, "%s: %zu warning%s (fatal under --strict)\n", shown, d.nwarnings,
                d.nwarnings == 1 ? "" : "s");
        goto out;
    }
    if (json) {
        buf_reset(&out);
        pipeline_to_json(p, &out);
        fputs(out.data, stdout);
    } else if (!quiet) {
        printf("%s: ok: %zu job%s, %zu environment%s", shown, p->njobs, p->njobs == 1 ? "" : "s",
               p->nenvs, p->nenvs == 1 ? "" : "s");
        if (d.nwarnings)
            printf(", %zu warning%s", d.nwarnings, d.nwarnings == 1 ? "" : "s");
        printf("\n");
    }
    rc = 0;
out:
    fflush(stdout);
    pipeline_free(p);
    diag_list_release(&d);
    buf_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc;
}
