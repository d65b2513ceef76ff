/*
 * flywheel: the whole delivery loop in one binary. main() only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "exec/leader.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"check", cmd_check, "check a pipeline file and print its errors or its normalised form"},
    {"run", cmd_run, "run the pipeline on this machine, each job in a fresh workspace"},
    {"runs", cmd_runs, "list the local runs"},
    {"logs", cmd_logs, "print the log of a job (of a local run, or of the server with --server)"},
    {"serve", cmd_serve, "run the server: watch repositories, run every push, serve the API"},
    {"status", cmd_status, "show a server's recent runs, or one run and its jobs"},
    {"trigger", cmd_trigger, "start a run of a repository's branch or tag on a server"},
    {"cancel", cmd_cancel, "cancel a run on a server"},
    {"retry", cmd_retry, "run an ended run's commit, or some of its jobs, again on a server"},
    {"repo", cmd_repo, "add a repository to a server, or list them"},
    {"notify", cmd_notify, "tell a server that a repository has new commits (git hooks)"},
    {"releases", cmd_releases, "list a repository's releases on a server"},
    {"release", cmd_release, "show, download, verify (offline) or mark a release bad"},
    {"deploy", cmd_deploy, "promote a release into an environment by hand"},
    {"deployments", cmd_deployments, "list a repository's deployments"},
    {"deployment", cmd_deployment, "show one deployment: its steps and checks"},
    {"rollback", cmd_rollback, "put an environment back on its last good release"},
    {"approve", cmd_approve, "let a deployment waiting for approval (or paused) go on"},
    {"reject", cmd_reject, "end a deployment waiting for approval (or paused)"},
    {"line", cmd_line, "stop the line, resume it, or show it"},
    {"envs", cmd_envs, "which release runs on each target of each environment"},
    {"metrics", cmd_metrics, "the measures of the loop: DORA, stages, where failures are caught"},
    {"demo", cmd_demo, "the whole delivery loop of an example service, on this machine"},
    {"token", cmd_token, "make, list or revoke the API tokens of a server"},
    {"audit", cmd_audit, "read a server's audit log: who changed what, when, from where"},
    {"secret", cmd_secret, "set, list or remove a repository's secrets (never shown)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: flywheel COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'flywheel COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("flywheel %s\n", FLYWHEEL_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "__leader"))
        return leader_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "flywheel: '%s' is not a command\n\n", argv[1]);
    usage(stderr);
    return 2;
}
