/*
 * client: the command line's side of the HTTP API (docs/api.md): HTTP/1.1
 * of its own for an http:// server (util/http1.h), libcurl (loaded on first
 * use, util/dl_curl.h) for an https:// one.
 * The commands status, trigger, cancel, retry, repo and notify live in
 * client.c; `flywheel logs` uses the log functions for its remote mode.
 *
 * Calling sequence:
 *
 *     struct client *c;
 *     struct buf err = BUF_INIT;
 *     if (client_open(&c, client_server_url(opt_server), &err))
 *         ... print err, exit 2 ...
 *     json_t *reply = NULL;
 *     int rc = client_call(c, "GET", "/api/v1/runs/7", NULL, &reply, &err);
 *     ... rc == 0: reply is the server's JSON; the caller json_decref()s it
 *     ... rc == CLIENT_ESERVER: the server answered an error; err holds its
 *         message and code, reply is NULL
 *     ... rc == CLIENT_ETRANSPORT: no usable answer (refused, timed out,
 *         too large, not JSON); err says why, reply is NULL
 *     return client_exit_code(rc);   // 0, 1 or 2 for the command's exit
 *     client_free(c);
 *
 * One client holds one connection (or one curl handle), so consecutive
 * calls reuse it (keep-alive): `trigger --wait` polls without reconnecting.
 * Every body read into memory is capped (CLIENT_MAX_JSON); a log is never
 * held whole, it is copied to the output as it arrives.
 *
 * Threads: a client belongs to one thread. The CLI is single-threaded.
 */
#ifndef FLYWHEEL_CLI_CLIENT_H
#define FLYWHEEL_CLI_CLIENT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/buf.h"

struct client;

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:8080"
/* The largest JSON reply read into memory. */
#define CLIENT_MAX_JSON (16u << 20)

enum client_error {
    CLIENT_ESERVER = -1,    /* the server answered with an error status */
    CLIENT_ETRANSPORT = -2, /* no usable answer */
};

/* The server to talk to: opt (--server) if set, else $FLYWHEEL_SERVER, else the default. */
const char *client_server_url(const char *opt);

/* Is a server configured in the environment ($FLYWHEEL_SERVER, non-empty)? */
int client_server_from_env(void);

/*
 * Makes a client of the server at url ("http://host:port", with or without
 * a path prefix). Returns 0, or -1 with a reason in err (a URL that is not
 * http://HOST[:PORT][/PREFIX] or https://..., or libcurl missing for an
 * https:// one). Nothing is connected yet.
 */
int client_open(struct client **out, const char *url, struct buf *err)
    __attribute__((warn_unused_result));
void client_free(struct client *c);
/*
 * The API token to send: $FLYWHEEL_TOKEN, else the contents of the file
 * $FLYWHEEL_TOKEN_FILE names, else of $XDG_CONFIG_HOME/flywheel/token
 * (~/.config/flywheel/token) when it exists; *out NULL when none (the
 * caller frees it). -1 with err when a named file cannot be read.
 */
int client_token(char **out, struct buf *err) __attribute__((warn_unused_result));

/*
 * METHOD path (starting with '/', already escaped; see client_path_add),
 * with request as the JSON body when not NULL (not consumed). See the
 * calling sequence for what comes back; *reply is set only on success.
 */
int client_call(struct client *c, const char *method, const char *path, json_t *request,
                json_t **reply, struct buf *err) __attribute__((warn_unused_result));

/*
 * One call of a command: opens a client of server (--server's value or
 * NULL), calls, prints "flywheel WHAT: why" on failure. Returns the
 * command's exit code (0, 1 or 2); *reply is set only on 0.
 */
int client_request(const char *server, const char *what, const char *method, const char *path,
                   json_t *body, json_t **reply) __attribute__((warn_unused_result));

/* Appends "/" and s, percent-encoded as one path segment. */
void client_path_add(struct buf *path, const char *s);
/* Appends "&name=value" (or "?name=value" first), the value percent-encoded. */
void client_query_add(struct buf *path, const char *name, const char *value);

/* The command's exit code for a client_* result: 0, 1 (the server said no) or 2. */
int client_exit_code(int rc);

/* Prints v to out, indented, keys in the server's order. */
void client_print_json(FILE *out, json_t *v);

/* GET path, the body copied to out as it arrives. Same results as client_call(). */
int client_get_copy(struct client *c, const char *path, FILE *out, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * The log of a job's attempt (attempt 0: the last one) copied to out as it
 * arrives. Same results as client_call().
 */
int client_log_copy(struct client *c, int64_t run, const char *job, long attempt, FILE *out,
                    struct buf *err) __attribute__((warn_unused_result));

/*
 * Follows the log of a job's attempt (attempt 0: the last one, once the job
 * has started) through Server-Sent Events, printing each line to out as it
 * arrives, until the attempt ends. A dropped connection is resumed where it
 * left off (Last-Event-ID), a few times before giving up. Waits for a queued
 * job to start. On success *state is the attempt's final state ("passed",
 * "failed", ...; the caller frees it).
 */
int client_log_follow(struct client *c, int64_t run, const char *job, long attempt, FILE *out,
                      char **state, struct buf *err) __attribute__((warn_unused_result));

#endif
