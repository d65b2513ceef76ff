/*
 * flywheel token create|list|revoke and flywheel audit: the tokens that
 * may use a server's API, and the log of what was changed with them.
 *
 * `token create` talks to the server (an admin token) or, with --data DIR,
 * writes to the data directory's store itself: whoever may read and write
 * the data directory is the server's administrator, and that is how a
 * lost admin token is replaced.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/duration.h"
#include "server/api.h"
#include "server/auth.h"
#include "store/auth.h"
#include "store/store.h"
#include "util/buf.h"

static const char token_usage[] =
    "usage: flywheel token create --name NAME --role ROLE [--expires 90d] [--json]\n"
    "                             [--server URL | --data DIR]\n"
    "       flywheel token list [--all] [--json] [--server URL]\n"
    "       flywheel token revoke ID|NAME [--server URL]\n"
    "\n"
    "API tokens. ROLE is viewer (read), developer (trigger, cancel, retry),\n"
    "deployer (deploy, approve, reject, roll back, stop and resume the line) or\n"
    "admin (repositories, tokens, secrets, settings); each may do what the ones\n"
    "before it may. `create` prints the token once: only its hash is kept. With\n"
    "--data, the token is written to a server's data directory directly (no admin\n"
    "token needed: that is how a lost one is replaced). Clients send the token of\n"
    "$FLYWHEEL_TOKEN, else of the file $FLYWHEEL_TOKEN_FILE, else of\n"
    "~/.config/flywheel/token.\n";

static const char audit_usage[] =
    "usage: flywheel audit [--actor NAME] [--since 7d] [--limit N] [--json] [--server URL]\n"
    "\n"
    "The audit log, newest first: every request that changed something (or was\n"
    "refused for its role), with who, when, from where and what.\n";

static void time_text(int64_t ms, struct buf *b)
{
    char t[32];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms) {
        buf_adds(b, "-");
        return;
    }
    gmtime_r(&s, &tm);
    strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%SZ", &tm);
    buf_adds(b, t);
}

static const char *js(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static int64_t ji(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Writes the token to the store of DATA directly. */
static int create_local(const char *data, const char *name, const char *role, int64_t expires_ms,
                        bool json)
{
    struct store *st = NULL;
    struct buf db = BUF_INIT, err = BUF_INIT;
    char tok[AUTH_TOKEN_LEN + 1];
    int64_t id;
    int rc = 2;
    const char *who = getenv("USER");
    buf_addf(&db, "%s/flywheel.db", data);
    if (access(db.data, F_OK)) {
        fprintf(stderr, "flywheel token: %s: no server data there\n", data);
        goto out;
    }
    if (store_open(&st, db.data, &err))
        goto fail;
    int r = api_token_make(st, name, role, expires_ms, who && *who ? who : "flywheel token", tok,
                           &id, &err);
    if (r) {
        rc = r == -EIO ? 2 : 1;
        goto fail;
    }
    /* Made beside the API, but audited like the rest. */
    struct buf detail = BUF_INIT;
    json_t *d = json_pack("{ssss}", "name", name, "role", role);
    char *ds = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    buf_adds(&detail, ds ? ds : "");
    free(ds);
    json_decref(d);
    struct store_audit e = {0};
    e.actor = (char *)(who && *who ? who : "local");
    e.role = "admin";
    e.peer = "local";
    e.method = "POST";
    e.path = db.data;
    e.action = "flywheel token create --data";
    e.status = 201;
    e.detail = detail.data;
    r = store_audit_add(st, &e, &err);
    buf_release(&detail);
    if (r) {
        rc = 2;
        goto fail;
    }
    if (json) {
        json_t *o =
            json_pack("{sIssssso}", "id", (json_int_t)id, "name", name, "role", role, "token", tok,
                      "expires_ms", expires_ms ? json_integer(expires_ms) : json_null());
        client_print_json(stdout, o);
        json_decref(o);
    } else {
        printf("%s\n", tok);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "flywheel token: %s\n", err.data);
out:
    store_close(st);
    buf_release(&db);
    buf_release(&err);
    return rc;
}

static int token_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},    {"role", required_argument, NULL, 'r'},
        {"expires", required_argument, NULL, 'e'}, {"server", required_argument, NULL, 's'},
        {"data", required_argument, NULL, 'd'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *role = NULL, *expires = NULL, *server = NULL, *data = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'e':
            expires = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(token_usage, stdout);
            return 0;
        default:
            fputs(token_usage, stderr);
            return 2;
        }
    }
    if (optind != argc || !name || !role || (server && data)) {
        fputs(token_usage, stderr);
        return 2;
    }
    if (auth_role_parse(role) < 0) {
        fprintf(stderr,
                "flywheel token: '%s' is not a role: viewer, developer, deployer or admin\n", role);
        return 2;
    }
    int64_t exp_ms = 0;
    if (expires) {
        struct buf e = BUF_INIT;
        if (duration_parse(expires, &exp_ms, &e) || exp_ms <= 0) {
            fprintf(stderr, "flywheel token: --expires %s: a duration such as 90d\n", expires);
            buf_release(&e);
            return 2;
        }
        buf_release(&e);
    }
    if (data)
        return create_local(data, name, role, exp_ms ? store_now_ms() + exp_ms : 0, json);
    json_t *body = json_pack("{ssss}", "name", name, "role", role), *reply = NULL;
    if (expires)
        json_object_set_new(body, "expires_in", json_string(expires));
    int rc = client_request(server, "token", "POST", "/api/v1/tokens", body, &reply);
    json_decref(body);
    if (rc)
        return rc;
    if (json)
        client_print_json(stdout, reply);
    else
        printf("%s\n", js(reply, "token"));
    json_decref(reply);
    return 0;
}

static int token_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"server", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL;
    bool json = false, all = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'a')
            all = true;
        else if (c == 's')
            server = optarg;
        else if (c == 'j')
            json = true;
        else {
            fputs(token_usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        fputs(token_usage, stderr);
        return 2;
    }
    json_t *reply = NULL;
    int rc = client_request(server, "token", "GET", all ? "/api/v1/tokens?all=1" : "/api/v1/tokens",
                            NULL, &reply);
    if (rc)
        return rc;
    if (json) {
        client_print_json(stdout, reply);
    } else {
        json_t *v = json_object_get(reply, "tokens"), *t;
        size_t i;
        printf("%-6s %-20s %-10s %-21s %-21s %s\n", "ID", "NAME", "ROLE", "CREATED", "EXPIRES",
               "LAST USED");
        json_array_foreach(v, i, t)
        {
            struct buf a = BUF_INIT, b = BUF_INIT, u = BUF_INIT;
            time_text(ji(t, "created_ms"), &a);
            time_text(ji(t, "expires_ms"), &b);
            time_text(ji(t, "used_ms"), &u);
            printf("%-6" PRId64 " %-20s %-10s %-21s %-21s %s%s\n", ji(t, "id"), js(t, "name"),
                   js(t, "role"), a.data, b.data, u.data, ji(t, "revoked_ms") ? " (revoked)" : "");
            buf_release(&a);
            buf_release(&b);
            buf_release(&u);
        }
    }
    json_decref(reply);
    return 0;
}

static int token_revoke(int argc, char **argv)
{
    struct cli_opts o;
    int rc;
    if (cli_opts_args(argc, argv, token_usage, 1, &o, &rc))
        return rc;
    struct buf path = BUF_INIT;
    buf_adds(&path, "/api/v1/tokens");
    client_path_add(&path, argv[optind]);
    json_t *reply = NULL;
    rc = client_request(o.server, "token", "DELETE", path.data, NULL, &reply);
    buf_release(&path);
    if (!rc)
        printf("revoked token %" PRId64 " (%s, %s)\n", ji(reply, "id"), js(reply, "name"),
               js(reply, "role"));
    json_decref(reply);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    if (argc < 2) {
        fputs(token_usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "create"))
        return token_create(argc - 1, argv + 1);
    if (!strcmp(argv[1], "list"))
        return token_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "revoke"))
        return token_revoke(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(token_usage, stdout);
        return 0;
    }
    fputs(token_usage, stderr);
    return 2;
}

int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"actor", required_argument, NULL, 'a'},
        {"since", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {"server", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *actor = NULL, *since = NULL, *limit = "50";
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            actor = optarg;
            break;
        case 'S':
            since = optarg;
            break;
        case 'l':
            limit = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(audit_usage, stdout);
            return 0;
        default:
            fputs(audit_usage, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fputs(audit_usage, stderr);
        return 2;
    }
    struct buf path = BUF_INIT;
    buf_adds(&path, "/api/v1/audit");
    client_query_add(&path, "limit", limit);
    if (actor)
        client_query_add(&path, "actor", actor);
    if (since)
        client_query_add(&path, "since", since);
    json_t *reply = NULL;
    int rc = client_request(server, "audit", "GET", path.data, NULL, &reply);
    buf_release(&path);
    if (rc)
        return rc;
    if (json) {
        client_print_json(stdout, reply);
    } else {
        json_t *v = json_object_get(reply, "entries"), *e;
        size_t i;
        json_array_foreach(v, i, e)
        {
            struct buf t = BUF_INIT;
            time_text(ji(e, "time_ms"), &t);
            printf("%s  %-16s %-9s %-15s %3" PRId64 "  %s %s", t.data, js(e, "actor"),
                   js(e, "role"), js(e, "peer"), ji(e, "status"), js(e, "method"), js(e, "path"));
            json_t *d = json_object_get(e, "detail");
            if (json_is_object(d)) {
                char *s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
                printf("  %s", s ? s : "");
                free(s);
            }
            putchar('\n');
            buf_release(&t);
        }
    }
    json_decref(reply);
    return 0;
}
