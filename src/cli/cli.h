/*
 * Subcommands. Each takes the arguments after its name (argv[0] is the
 * command's name) and returns the process exit code. Only these and main()
 * may exit.
 */
#ifndef FLYWHEEL_CLI_CLI_H
#define FLYWHEEL_CLI_CLI_H

#include <stdbool.h>

#include "util/buf.h"

int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* The server's clients (client.c); `logs` has a remote mode too. */
int cmd_status(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_repo(int argc, char **argv);
int cmd_notify(int argc, char **argv);
int cmd_releases(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_deployments(int argc, char **argv);
int cmd_deployment(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_reject(int argc, char **argv);
int cmd_line(int argc, char **argv);
int cmd_envs(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_secret(int argc, char **argv);

/* Appends the path of this program (for starting job leaders). */
int cli_self_exe(struct buf *out);

/* Should output to fd be coloured? A terminal, NO_COLOR unset, TERM not dumb. */
bool cli_color(int fd);

/* The options of the release, deployment and metrics commands (release.c, deploy.c,
 * metrics.c). */
struct cli_opts {
    const char *server, *env, *to, *reason, *key, *tar, *out, *since;
    bool json;
    long limit; /* default 20 */
};
/*
 * Parses them with getopt_long from argv (resetting optind): --server,
 * --json, --limit N, --env, --to, --reason, --key, --tar, --since, -o,
 * --help.
 * Returns 0, or -1 with the exit code in *rc (0 after --help, 2 after a
 * usage error, with usage printed).
 */
int cli_opts_parse(int argc, char **argv, const char *usage, struct cli_opts *o, int *rc);
/* cli_opts_parse(), then exactly nargs arguments after the options (else usage and 2). */
int cli_opts_args(int argc, char **argv, const char *usage, int nargs, struct cli_opts *o, int *rc);

#endif
