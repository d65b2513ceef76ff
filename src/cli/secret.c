/*
 * flywheel secret set REPO NAME      the value from standard input
 * flywheel secret list REPO          names, when and by whom; never values
 * flywheel secret rm REPO NAME
 *
 * Each takes --server URL and --json, and exits 0, 1 (the server said no)
 * or 2 (usage, no server, a value refused before it was sent), like the
 * other client commands. docs/secrets.md says how jobs get them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/secret.h"
#include "util/buf.h"

static const char usage[] =
    "usage: flywheel secret set REPO NAME [--server URL] [--json]   (the value on stdin)\n"
    "       flywheel secret list REPO [--server URL] [--json]\n"
    "       flywheel secret rm REPO NAME [--server URL] [--json]\n"
    "\n"
    "Sets, lists or removes a secret of a repository on a server. The value is\n"
    "read from standard input (`flywheel secret set app TOKEN <token.txt`); the\n"
    "newline that ends a value of one line is not part of it. On a terminal, the\n"
    "value is read without echo. No command ever prints a value. Each needs a\n"
    "token with the admin role ($FLYWHEEL_TOKEN, see docs/security.md).\n"
    "\n"
    "A job gets the secrets its `secrets:` names as environment variables, in\n"
    "runs of the repository's own changes (never of a fork's); every log masks\n"
    "them. Names: upper-case letters, digits and '_'; values: 8 bytes to 64 KiB\n"
    "of text. See docs/secrets.md.\n";

static const char *actor(void)
{
    const char *u = getenv("USER");
    return u && *u ? u : "cli";
}

static void repo_path(struct buf *p, const char *repo, const char *name)
{
    buf_adds(p, "/api/v1/repos");
    client_path_add(p, repo);
    buf_adds(p, "/secrets");
    if (name)
        client_path_add(p, name);
}

static int request(const struct cli_opts *o, const char *what, const char *method, const char *path,
                   json_t *body, json_t **reply)
{
    struct client *c;
    struct buf err = BUF_INIT;
    if (client_open(&c, client_server_url(o->server), &err)) {
        fprintf(stderr, "flywheel secret %s: %s\n", what, err.data);
        buf_release(&err);
        return 2;
    }
    int rc = client_call(c, method, path, body, reply, &err);
    if (rc)
        fprintf(stderr, "flywheel secret %s: %s\n", what, err.data);
    client_free(c);
    buf_release(&err);
    return rc ? client_exit_code(rc) : 0;
}

/* Reads the value: all of stdin (a line without echo on a terminal). */
static int read_value(const char *name, struct buf *v)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "value of %s (not shown; Enter ends it): ", name);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int rc = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "flywheel secret set: cannot read the value: %s\n", strerror(errno));
            rc = -1;
            break;
        }
        if (!n)
            break;
        buf_add(v, chunk, (size_t)n);
        explicit_bzero(chunk, (size_t)n);
        if (v->len > SECRET_VALUE_MAX + 2)
            break; /* too long: said below */
        if (tty && memchr(v->data, '\n', v->len))
            break;
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    /* The newline that ends a value of one line is not part of it. */
    if (!rc && v->len && v->data[v->len - 1] == '\n') {
        size_t end = v->len - 1;
        if (end && v->data[end - 1] == '\r')
            end--;
        if (!memchr(v->data, '\n', end)) {
            explicit_bzero(v->data + end, v->len - end);
            buf_setlen(v, end);
        }
    }
    return rc;
}

static int secret_set(const struct cli_opts *o, const char *repo, const char *name)
{
    struct buf v = BUF_INIT, err = BUF_INIT, path = BUF_INIT;
    json_t *body = NULL, *reply = NULL;
    int rc = 2;
    if (secret_name_check(name, &err)) {
        fprintf(stderr, "flywheel secret set: %s\n", err.data);
        goto out;
    }
    if (read_value(name, &v))
        goto out;
    if (secret_value_check(v.data, v.len, &err)) {
        fprintf(stderr, "flywheel secret set: %s: %s\n", name, err.data);
        goto out;
    }
    json_t *value = json_stringn(v.data, v.len);
    if (!value) {
        fprintf(stderr,
                "flywheel secret set: %s: the value is not UTF-8 text (encode binary "
                "values, in Base64 for one)\n",
                name);
        goto out;
    }
    body = json_pack("{s:o, s:s}", "value", value, "actor", actor());
    repo_path(&path, repo, name);
    rc = request(o, "set", "PUT", path.data, body, &reply);
    if (!rc && o->json) {
        client_print_json(stdout, reply);
    } else if (!rc) {
        printf("secret %s of %s %s\n", name, repo,
               json_is_true(json_object_get(reply, "created")) ? "set" : "replaced");
    }
    json_t *short_lines = json_object_get(reply, "unmasked_lines");
    if (!rc && json_integer_value(short_lines) > 0)
        fprintf(stderr,
                "flywheel secret set: warning: %lld line(s) of the value are shorter than %d "
                "bytes (or blank): logs do not mask them on their own\n",
                (long long)json_integer_value(short_lines), SECRET_LINE_MIN);
    if (value && json_string_value(value))
        explicit_bzero((char *)json_string_value(value), json_string_length(value));
out:
    if (v.alloc)
        explicit_bzero(v.data, v.alloc);
    json_decref(body);
    json_decref(reply);
    buf_release(&v);
    buf_release(&err);
    buf_release(&path);
    return rc;
}

static void when(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", gmtime(&t));
}

int cmd_secret(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_parse(argc, argv, usage, &o, &rc))
        return rc;
    int nargs = argc - optind;
    const char *sub = nargs ? argv[optind] : "";
    bool set = !strcmp(sub, "set"), list = !strcmp(sub, "list"),
         rm = !strcmp(sub, "rm") || !strcmp(sub, "delete");
    if ((!set && !list && !rm) || nargs != (list ? 2 : 3)) {
        fputs(usage, stderr);
        return 2;
    }
    const char *repo = argv[optind + 1];
    if (set)
        return secret_set(&o, repo, argv[optind + 2]);
    struct buf path = BUF_INIT;
    json_t *reply = NULL;
    repo_path(&path, repo, rm ? argv[optind + 2] : NULL);
    rc = request(&o, list ? "list" : "rm", list ? "GET" : "DELETE", path.data, NULL, &reply);
    if (!rc && o.json) {
        client_print_json(stdout, reply);
    } else if (!rc && rm) {
        printf("secret %s of %s removed\n", argv[optind + 2], repo);
    } else if (!rc) {
        size_t i;
        json_t *s;
        json_t *arr = json_object_get(reply, "secrets");
        if (!json_array_size(arr)) {
            printf("%s has no secrets\n", repo);
        } else {
            printf("%-32s %-19s  %s\n", "NAME", "UPDATED (UTC)", "SET BY");
            json_array_foreach(arr, i, s)
            {
                char t[32];
                when(json_integer_value(json_object_get(s, "updated_ms")), t, sizeof(t));
                const char *by = json_string_value(json_object_get(s, "set_by"));
                printf("%-32s %-19s  %s\n", json_string_value(json_object_get(s, "name")), t,
                       by && *by ? by : "-");
            }
        }
    }
    json_decref(reply);
    buf_release(&path);
    return rc;
}
