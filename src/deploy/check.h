/*
 * check: evaluates one verification check (docs/pipeline.md, "Checks") once.
 *
 *     const char *vars[] = { "URL=http://127.0.0.1:8081", NULL };
 *     struct check_result r;
 *     check_eval(&env->checks[i], vars, &r);     // blocks: see "Time" below
 *     ... r.outcome, r.message.data, r.value when r.has_value ...
 *     check_result_release(&r);
 *
 * The outcome feeds core/verify.h, which turns measurements into a verdict.
 *
 * Kinds:
 *
 *   http        GET the URL (libcurl; http and https only, up to 5 redirects
 *               followed). PASS when the final status is one of expect
 *               (default 200) and, when contains is set, the body (its first
 *               CHECK_HTTP_MAX_BODY bytes: the rest is not read) contains
 *               it, and, when json is set, the body is JSON (the whole of
 *               it within CHECK_HTTP_MAX_BODY) with a value at that pointer
 *               (core/jsonptr.h) that is equals (as text: a string's
 *               content, another scalar's canonical JSON; a number also
 *               equals a decimal number with the same value, 1.0 and 1) or
 *               a number within min and max. FAIL for any other answer,
 *               and for more than 5 redirects: a body that is not JSON, no
 *               value at the pointer, another value. ERROR when there is no
 *               HTTP answer: bad URL or scheme, DNS, connection refused,
 *               TLS, timeout. value: the JSON number compared with min and
 *               max when it was; else the status code. The pointer is not
 *               expanded ($ is a character like any other in it).
 *
 *   run         `sh -c COMMAND` in a new session (so its own process group),
 *               stdin /dev/null, stdout and stderr captured together (the
 *               last CHECK_RUN_MAX_OUTPUT bytes are kept in output). The
 *               environment is vars and nothing else, plus PATH=/usr/bin:/bin
 *               and HOME (the caller's) unless vars set them. Exit 0 is PASS;
 *               another exit status, or death by a signal, is FAIL, with the
 *               last line of output in the message. When the command ends,
 *               whatever it left running in its process group is killed
 *               (SIGTERM, then SIGKILL CHECK_RUN_GRACE_MS later). At the
 *               timeout the whole group is killed the same way, and the
 *               outcome is ERROR "timed out after 5s". A process that leaves
 *               the group (setsid, a daemon) is out of reach. ERROR also when
 *               sh cannot be started (dir missing). value: the exit status.
 *
 *   prometheus  GET SERVER/api/v1/query?query=QUERY&timeout=T (an instant
 *               query, libcurl; the reply is read up to
 *               CHECK_PROM_MAX_REPLY). ERROR when there is no answer or
 *               Prometheus says "status": "error" (its errorType and error
 *               text are in the message) or the reply is not what the API
 *               documents. A vector with no series, or whose every value is
 *               NaN, is NO_DATA; NaN series are left out otherwise. A scalar
 *               is one value. The check FAILs when a value is below min or
 *               above max. value: the worst value, the one furthest beyond
 *               (or nearest to) the limits. A range vector (matrix) or a
 *               string is an ERROR: the query must give an instant vector
 *               or a scalar.
 *
 * Variables: vars are "NAME=VALUE" strings (the target's variables); of a
 * name given twice, the first counts. In the URL, the Prometheus server and
 * the query, $NAME and ${NAME} are replaced by the value; $$ is a literal
 * '$'; a '$' not followed by a name or '{' stays as it is (PromQL regexes
 * end in '$'). A variable that vars does not
 * define is an ERROR ("undefined variable $URL in the URL"), never an empty
 * string. A run check's command is not expanded here: the shell does it,
 * with vars as its environment.
 *
 * Time: an evaluation takes at most the check's timeout (timeout_ms; when it
 * is not positive, CHECK_DEFAULT_TIMEOUT_MS), plus, for a run check, up to
 * CHECK_RUN_GRACE_MS to end its process group.
 *
 * Nothing but a run check's own command is ever given to a shell.
 *
 * Threads: blocking; meant for a worker thread (uv_queue_work), never the
 * engine loop. Safe to call from several threads at once: each call has its
 * own curl handle, pipes (close-on-exec) and child; libcurl's global
 * initialisation is done once (pthread_once), and the child is reaped with
 * waitpid() on its own pid, never -1. Neither the check nor vars are
 * modified or kept after the call returns.
 */
#ifndef FLYWHEEL_DEPLOY_CHECK_H
#define FLYWHEEL_DEPLOY_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pipeline.h"
#include "core/verify.h"
#include "util/buf.h"

#define CHECK_HTTP_MAX_BODY  (1u << 20)
#define CHECK_PROM_MAX_REPLY (8u << 20)
#define CHECK_RUN_MAX_OUTPUT (64u << 10)
#define CHECK_RUN_GRACE_MS   2000
#define CHECK_MAX_REDIRECTS  5
/* Used when a check says nothing (timeout_ms <= 0); the parser always fills it in. */
#define CHECK_DEFAULT_TIMEOUT_MS 10000

struct check_result {
    enum check_outcome outcome;
    bool has_value;
    double value;        /* prometheus: the value compared (the worst series); http: the
                            JSON number compared with min/max, else the status code; run:
                            the exit status */
    struct buf message;  /* one line for people, e.g. "HTTP 503 from http://127.0.0.1:8081/health",
                            "no data: the query returned an empty vector",
                            "0.2 > max 0.01", "exit 1: <last line of output>",
                            "HTTP 200 from ...: /status is \"degraded\", expected \"ok\"" */
    struct buf output;   /* run: the command's output (its last CHECK_RUN_MAX_OUTPUT bytes);
                            empty for the other kinds */
    int64_t duration_ms; /* how long the evaluation took (monotonic clock) */
};

/*
 * Evaluates c once. out is initialised here (its previous contents are
 * ignored, not freed); release it with check_result_release() whatever the
 * outcome. vars may be NULL (no variables). A run check runs in the caller's
 * working directory; check_eval_in() chooses another.
 */
void check_eval(const struct pl_check *c, const char *const *vars, struct check_result *out);

/* As check_eval(), with a run check started in dir (NULL: the current directory). A dir
 * that does not exist makes it an ERROR. Other kinds ignore dir. */
void check_eval_in(const struct pl_check *c, const char *const *vars, const char *dir,
                   struct check_result *out);

void check_result_release(struct check_result *r);

/*
 * Expands $NAME, ${NAME} and $$ in s with vars, as described above, appending
 * to out. Returns 0, or -1 with the reason in err (an undefined variable, an
 * unterminated "${"); out may then hold part of the expansion.
 */
int check_expand(const char *s, const char *const *vars, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));

#endif
