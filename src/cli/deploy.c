/*
 * The command line's side of deployments (docs/api.md, "Deployments"):
 *
 *     flywheel deployments REPO [--env ENV] [--limit N]
 *     flywheel deployment ID                 one deployment, its steps and checks
 *     flywheel deploy REPO VERSION ENV       promote a release by hand
 *     flywheel rollback REPO ENV [--to VERSION]
 *     flywheel approve ID [--reason TEXT] / flywheel reject ID --reason TEXT
 *     flywheel line stop|resume|status REPO [--reason TEXT]
 *     flywheel envs REPO                     which release runs on which target
 *
 * Each takes --server URL and --json, and exits 0, 1 (the server said no)
 * or 2 (usage, no server), like the other client commands. The actor sent
 * with changes is $USER (or "cli").
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "util/buf.h"

static const char *actor(void)
{
    const char *u = getenv("USER");
    return u && *u ? u : "cli";
}

static const char *js(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "-";
}

static int64_t ji(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void repo_path(struct buf *p, const char *repo, const char *rest)
{
    buf_adds(p, "/api/v1/repos");
    client_path_add(p, repo);
    buf_adds(p, rest);
}

static const char deployments_usage[] =
    "usage: flywheel deployments REPO [--env ENV] [--limit N] [--json] [--server URL]\n"
    "       flywheel deployment ID [--json] [--server URL]\n"
    "\n"
    "Lists a repository's deployments, newest first, or shows one with the\n"
    "commands run on its targets and the latest measurements of its checks.\n";

int cmd_deployments(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, deployments_usage, 1, &o, &rc))
        return rc;
    struct buf path = BUF_INIT, num = BUF_INIT;
    json_t *reply = NULL;
    repo_path(&path, argv[optind], "/deployments");
    buf_addf(&num, "%ld", o.limit);
    client_query_add(&path, "limit", num.data);
    if (o.env)
        client_query_add(&path, "env", o.env);
    rc = client_request(o.server, "deployments", "GET", path.data, NULL, &reply);
    if (!rc && o.json) {
        client_print_json(stdout, reply);
    } else if (!rc) {
        json_t *v = json_object_get(reply, "deployments");
        size_t i;
        json_t *d;
        printf("%-5s %-12s %-10s %-9s %-11s %s\n", "ID", "ENV", "RELEASE", "KIND", "STATE",
               "REASON");
        json_array_foreach(v, i, d)
        {
            printf("%-5" PRId64 " %-12s %-10s %-9s %-11s %s\n", ji(d, "id"), js(d, "env"),
                   js(d, "release"), js(d, "kind"), js(d, "state"), js(d, "reason"));
        }
    }
    json_decref(reply);
    buf_release(&path);
    buf_release(&num);
    return rc;
}

int cmd_deployment(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, deployments_usage, 1, &o, &rc))
        return rc;
    struct buf path = BUF_INIT;
    json_t *d = NULL;
    buf_adds(&path, "/api/v1/deployments");
    client_path_add(&path, argv[optind]);
    rc = client_request(o.server, "deployment", "GET", path.data, NULL, &d);
    buf_release(&path);
    if (rc)
        return rc;
    if (o.json) {
        client_print_json(stdout, d);
        json_decref(d);
        return 0;
    }
    printf("deployment %" PRId64 ": %s %s to %s, %s%s%s\n", ji(d, "id"), js(d, "kind"),
           js(d, "release"), js(d, "env"), js(d, "state"), *js(d, "reason") ? ": " : "",
           js(d, "reason"));
    size_t i;
    json_t *s;
    printf("\n  %-16s %-5s %-10s %-10s %-12s %s\n", "TARGET", "WAVE", "RELEASE", "FROM", "STATE",
           "REASON");
    json_array_foreach(json_object_get(d, "steps"), i, s)
    {
        printf("  %-16s %-5" PRId64 " %-10s %-10s %-12s %s\n", js(s, "target"), ji(s, "wave") + 1,
               js(s, "release"), js(s, "previous_release"), js(s, "state"), js(s, "reason"));
    }
    json_t *m = json_object_get(d, "measurements");
    if (json_array_size(m)) {
        printf("\n  %-8s %-24s %-16s %-8s %s\n", "PHASE", "CHECK", "TARGET", "OUTCOME", "MESSAGE");
        json_array_foreach(m, i, s)
        {
            printf("  %-8s %-24s %-16s %-8s %s\n", js(s, "phase"), js(s, "check"), js(s, "target"),
                   js(s, "outcome"), js(s, "message"));
        }
    }
    json_decref(d);
    return 0;
}

/* POSTs body (taken) to REPO's route and prints the deployment it made as "WHAT: deployment N". */
static int post_created(const struct cli_opts *o, const char *cmd, const char *repo,
                        const char *route, json_t *body, const char *what)
{
    struct buf path = BUF_INIT;
    json_t *reply = NULL;
    repo_path(&path, repo, route);
    int rc = client_request(o->server, cmd, "POST", path.data, body, &reply);
    if (!rc && o->json)
        client_print_json(stdout, reply);
    else if (!rc)
        printf("%s: deployment %" PRId64 "\n", what, ji(reply, "id"));
    json_decref(body);
    json_decref(reply);
    buf_release(&path);
    return rc;
}

static const char deploy_usage[] =
    "usage: flywheel deploy REPO VERSION ENV [--json] [--server URL]\n"
    "\n"
    "Promotes release VERSION into environment ENV by hand. Refused for a release\n"
    "marked bad and while the line is stopped. It waits its turn behind the\n"
    "deployment running there, and for the window and approval if the\n"
    "environment has them.\n";

int cmd_deploy(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, deploy_usage, 3, &o, &rc))
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:s}", "release", argv[optind + 1], "env",
                             argv[optind + 2], "actor", actor());
    return post_created(&o, "deploy", argv[optind], "/deploy", body, "queued");
}

static const char rollback_usage[] =
    "usage: flywheel rollback REPO ENV [--to VERSION] [--json] [--server URL]\n"
    "\n"
    "Puts every target of ENV back on its last good release (or on VERSION),\n"
    "now: a deployment running in ENV is cancelled first.\n";

int cmd_rollback(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, rollback_usage, 2, &o, &rc))
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "env", argv[optind + 1], "actor", actor());
    if (o.to)
        json_object_set_new(body, "release", json_string(o.to));
    return post_created(&o, "rollback", argv[optind], "/rollback", body, "rolling back");
}

static const char approve_usage[] =
    "usage: flywheel approve ID [--reason TEXT] [--json] [--server URL]\n"
    "       flywheel reject ID --reason TEXT [--json] [--server URL]\n"
    "\n"
    "Decides on a deployment waiting for approval, or paused by inconclusive\n"
    "checks: approve lets it go on; reject ends it (a paused one fails and is\n"
    "rolled back).\n";

static int decide(int argc, char **argv, bool approve)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_parse(argc, argv, approve_usage, &o, &rc))
        return rc;
    if (argc - optind != 1 || (!approve && !o.reason)) {
        if (!approve && argc - optind == 1)
            fprintf(stderr, "flywheel reject: say why with --reason TEXT\n");
        else
            fputs(approve_usage, stderr);
        return 2;
    }
    struct buf path = BUF_INIT;
    json_t *reply = NULL;
    buf_adds(&path, "/api/v1/deployments");
    client_path_add(&path, argv[optind]);
    buf_adds(&path, approve ? "/approve" : "/reject");
    json_t *body = json_pack("{s:s}", "actor", actor());
    if (o.reason)
        json_object_set_new(body, "reason", json_string(o.reason));
    rc = client_request(o.server, approve ? "approve" : "reject", "POST", path.data, body, &reply);
    if (!rc) {
        if (o.json)
            client_print_json(stdout, reply);
        else
            printf("deployment %s %s\n", argv[optind], approve ? "approved" : "rejected");
    }
    json_decref(body);
    json_decref(reply);
    buf_release(&path);
    return rc;
}

int cmd_approve(int argc, char **argv)
{
    return decide(argc, argv, true);
}

int cmd_reject(int argc, char **argv)
{
    return decide(argc, argv, false);
}

static const char line_usage[] =
    "usage: flywheel line stop REPO --reason TEXT [--json] [--server URL]\n"
    "       flywheel line resume REPO [--reason TEXT] [--json] [--server URL]\n"
    "       flywheel line status REPO [--json] [--server URL]\n"
    "\n"
    "Stops the line (no release is promoted anywhere until it is resumed),\n"
    "resumes it, or shows whether it is stopped, by whom, why and since when.\n";

int cmd_line(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_parse(argc, argv, line_usage, &o, &rc))
        return rc;
    int nargs = argc - optind;
    const char *sub = nargs ? argv[optind] : "";
    bool stop = !strcmp(sub, "stop"), resume = !strcmp(sub, "resume"),
         status = !strcmp(sub, "status");
    if ((!stop && !resume && !status) || nargs != 2 || (stop && !o.reason)) {
        if (stop && nargs == 2)
            fprintf(stderr, "flywheel line stop: say why with --reason TEXT\n");
        else
            fputs(line_usage, stderr);
        return 2;
    }
    struct buf path = BUF_INIT;
    json_t *reply = NULL, *body = NULL;
    repo_path(&path, argv[optind + 1], status ? "/line" : stop ? "/line/stop" : "/line/resume");
    if (!status) {
        body = json_pack("{s:s}", "actor", actor());
        if (o.reason)
            json_object_set_new(body, "reason", json_string(o.reason));
    }
    rc = client_request(o.server,
                        status ? "line status"
                        : stop ? "line stop"
                               : "line resume",
                        status ? "GET" : "POST", path.data, body, &reply);
    if (!rc && o.json) {
        client_print_json(stdout, reply);
    } else if (!rc && status) {
        if (json_is_true(json_object_get(reply, "stopped"))) {
            time_t since = (time_t)(ji(reply, "since_ms") / 1000);
            char when[64];
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&since));
            printf("the line of %s is STOPPED since %s by %s: %s\n", argv[optind + 1], when,
                   js(reply, "actor"), js(reply, "reason"));
        } else {
            printf("the line of %s runs\n", argv[optind + 1]);
        }
    } else if (!rc) {
        printf("the line of %s is %s\n", argv[optind + 1], stop ? "stopped" : "running again");
    }
    json_decref(body);
    json_decref(reply);
    buf_release(&path);
    return rc;
}

static const char envs_usage[] = "usage: flywheel envs REPO [--json] [--server URL]\n"
                                 "\n"
                                 "Which release runs on each target of each environment, and "
                                 "the last\ngood one there.\n";

int cmd_envs(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, envs_usage, 1, &o, &rc))
        return rc;
    struct buf path = BUF_INIT;
    json_t *reply = NULL;
    repo_path(&path, argv[optind], "/envs");
    rc = client_request(o.server, "envs", "GET", path.data, NULL, &reply);
    if (!rc && o.json) {
        client_print_json(stdout, reply);
    } else if (!rc) {
        const char *env;
        json_t *e;
        printf("%-12s %-16s %-10s %s\n", "ENV", "TARGET", "RELEASE", "LAST GOOD");
        json_object_foreach(json_object_get(reply, "envs"), env, e)
        {
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(e, "targets"), i, t)
            {
                printf("%-12s %-16s %-10s %s\n", env, js(t, "target"), js(t, "release"),
                       js(t, "good_release"));
            }
        }
    }
    json_decref(reply);
    buf_release(&path);
    return rc;
}
