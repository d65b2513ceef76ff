/*
 * flywheel demo [--dir DIR] [--port N] [--target-ports PREFIX] [--exit]
 *
 * The whole delivery loop on this machine, in one command: a git repository
 * of examples/service, a server, and a walk through the loop that a person
 * can follow in the terminal (and in the web UI while it runs):
 *
 *   1. a change on a branch is checked (a change run);
 *   2. it is merged: the main run builds and tests it, a release is made;
 *   3. staging is deployed and verified; production goes wave by wave;
 *   4. a second change passes every test but fails one request in two in
 *      production: the canary's error-rate check catches it, flywheel rolls
 *      the canary back, marks the release bad, stops the line and opens an
 *      incident;
 *   5. a fix is pushed, the line resumed, the fix goes all the way to
 *      production, the incident closes, and the delivery measures are shown.
 *
 * Every claim is checked through the API; a step that does not happen as
 * told fails the demo (exit 1) with what was expected and what was seen.
 * Then the server is left running for the UI until Ctrl-C (or, with --exit,
 * everything stops at once). Every process the demo started is stopped when
 * it ends: the server, the services, Prometheus and the traffic generator.
 *
 * The demo's processes run with HOME set to the demo directory, so the
 * targets of examples/service live in DIR/.flywheel-demo (see its
 * deploy/deploy.sh), not in the user's home.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/duration.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/xalloc.h"

extern char **environ;

static const char demo_usage[] =
    "usage: flywheel demo [--dir DIR] [--port N] [--target-ports PREFIX] [--exit]\n"
    "\n"
    "Runs the whole delivery loop of examples/service on this machine: a change\n"
    "is checked, merged, built, released, deployed to staging and to production\n"
    "wave by wave; a bad change is caught on the canary and rolled back, the line\n"
    "stops; a fix goes out and the delivery measures are printed. Then the server\n"
    "stays up for exploring until Ctrl-C (--exit: stop at once).\n"
    "\n"
    "  --dir DIR              where the repository, the server's data and the targets\n"
    "                         go (default: a new directory under $TMPDIR or /tmp)\n"
    "  --port N               the server's port on 127.0.0.1 (default 8080; 0: any)\n"
    "  --target-ports PREFIX  the targets listen on PREFIX01..PREFIX32 and Prometheus\n"
    "                         on PREFIX90 (default 181 and 19090, as in the example)\n"
    "  --exit                 stop everything once the walk is done\n";

/* How long a step may take before the demo gives up on it. */
#define STEP_TIMEOUT_MS 120000
#define POLL_MS         100

struct demo {
    char *dir;     /* the demo directory */
    char *src;     /* DIR/service: the repository */
    char *data;    /* DIR/data: the server's */
    char *example; /* examples/service */
    char *exe;     /* this program */
    char *url;     /* the server */
    char *prefix;  /* of the targets' ports, or NULL */
    struct client *c;
    pid_t server;
    bool prometheus;
    bool ui;
    uint64_t t0;
    FILE *log; /* DIR/demo.log: the output of what the demo runs */
    int64_t last_run;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* "[ 12.3s] " and the text. */
static void say(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct demo *d, const char *fmt, ...)
{
    va_list ap;
    printf("[%5.1fs] ", (double)(mono_ms() - d->t0) / 1000);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int fail(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct demo *d, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "flywheel demo: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nflywheel demo: what the demo ran is in %s/demo.log, the server's output "
            "in %s/server.log\n",
            d->dir, d->dir);
    return -1;
}

/* ---- processes ---- */

/*
 * Starts argv in dir (NULL: here) with HOME=DIR and the caller's other
 * variables, its output appended to the demo's log. Returns the pid or -1.
 */
static pid_t spawn(struct demo *d, const char *dir, char *const argv[], bool own_group)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    struct buf home = BUF_INIT;
    size_t n = 0;
    pid_t pid = -1;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "HOME=", 5) && strncmp(environ[i], "FLYWHEEL_TOKEN", 14))
            env[k++] = environ[i];
    buf_addf(&home, "HOME=%s", d->dir);
    env[k++] = home.data;
    env[k] = NULL;

    fflush(d->log);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(d->log), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(d->log), 2);
    if (own_group) {
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    }
    if (posix_spawnp(&pid, argv[0], &fa, &attr, argv, env))
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    buf_release(&home);
    free(env);
    return pid;
}

/* Runs argv to its end: its exit status, or -1. */
static int run(struct demo *d, const char *dir, char *const argv[])
{
    int status;
    fprintf(d->log, "$");
    for (size_t i = 0; argv[i]; i++)
        fprintf(d->log, " %s", argv[i]);
    fprintf(d->log, "\n");
    pid_t pid = spawn(d, dir, argv, false);
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* git -C src ARGS... with a fixed author; 0 or -1. */
static int git(struct demo *d, ...)
{
    char *argv[24] = {"git",
                      "-c",
                      "user.name=Flywheel Demo",
                      "-c",
                      "user.email=demo@flywheel.invalid",
                      "-c",
                      "init.defaultBranch=main"};
    size_t n = 7;
    va_list ap;
    va_start(ap, d);
    for (char *a; n < 23 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run(d, d->src, argv) == 0 ? 0 : -1;
}

/* ---- the API ---- */

static json_t *get(struct demo *d, const char *path)
{
    json_t *reply = NULL;
    struct buf err = BUF_INIT;
    if (client_call(d->c, "GET", path, NULL, &reply, &err)) {
        fprintf(d->log, "GET %s: %s\n", path, err.data);
        reply = NULL;
    }
    buf_release(&err);
    return reply;
}

static int post(struct demo *d, const char *path, json_t *body, json_t **reply)
{
    struct buf err = BUF_INIT;
    json_t *r = NULL, *empty = body ? NULL : json_object();
    int rc = client_call(d->c, "POST", path, body ? body : empty, &r, &err);
    json_decref(empty);
    if (rc)
        fail(d, "POST %s: %s", path, err.data);
    if (reply)
        *reply = r;
    else
        json_decref(r);
    buf_release(&err);
    return rc ? -1 : 0;
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

static bool ended(const char *state)
{
    return strcmp(state, "queued") && strcmp(state, "running") && *state;
}

/*
 * Waits for the next run of `kind` after d->last_run to end: its JSON (the
 * caller json_decref()s it), or NULL after a failure message.
 */
static json_t *wait_run(struct demo *d, const char *kind)
{
    uint64_t end = mono_ms() + STEP_TIMEOUT_MS;
    struct buf path = BUF_INIT;
    buf_addf(&path, "/api/v1/runs?repo=service&kind=%s&limit=5", kind);
    while (!interrupted && mono_ms() < end) {
        json_t *reply = get(d, path.data), *runs = json_object_get(reply, "runs"), *r;
        size_t i;
        json_t *found = NULL;
        json_array_foreach(runs, i, r)
        {
            if (ji(r, "id") > d->last_run && ended(js(r, "state")))
                found = r;
        }
        if (found) {
            json_incref(found);
            d->last_run = ji(found, "id");
            json_decref(reply);
            buf_release(&path);
            return found;
        }
        json_decref(reply);
        sleep_ms(POLL_MS);
    }
    buf_release(&path);
    fail(d, "no %s run ended within %d s", kind, STEP_TIMEOUT_MS / 1000);
    return NULL;
}

/* The newest deployment of release to env (of kind when not NULL), or NULL. */
static json_t *find_deployment(struct demo *d, const char *env, const char *release,
                               const char *kind)
{
    json_t *reply = get(d, "/api/v1/repos/service/deployments?limit=50"), *v, *x, *found = NULL;
    size_t i;
    v = json_object_get(reply, "deployments");
    json_array_foreach(v, i, x)
    {
        if (!strcmp(js(x, "env"), env) && (!release || !strcmp(js(x, "release"), release)) &&
            (!kind || !strcmp(js(x, "kind"), kind))) {
            found = x;
            break;
        }
    }
    if (found)
        json_incref(found);
    json_decref(reply);
    return found;
}

static bool deploy_ended(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "rejected") ||
           !strcmp(state, "cancelled") || !strcmp(state, "superseded");
}

/*
 * Follows the deployment of release to env until it ends, telling each wave
 * as it starts (for production). Returns its JSON (caller decrefs) or NULL.
 */
static json_t *follow_deployment(struct demo *d, const char *env, const char *release,
                                 const char *kind, int nwaves, const char *const *waves)
{
    uint64_t end = mono_ms() + STEP_TIMEOUT_MS;
    int told = -1;
    char state[32] = "";
    while (!interrupted && mono_ms() < end) {
        json_t *x = find_deployment(d, env, release, kind);
        if (x) {
            int wave = (int)ji(x, "wave");
            snprintf(state, sizeof(state), "%s", js(x, "state"));
            if (deploy_ended(state))
                return x;
            if (nwaves && wave != told && wave < nwaves &&
                (!strcmp(state, "deploying") || !strcmp(state, "baking"))) {
                say(d, "     %s wave %d/%d: %s: deployed, baking under its checks", env, wave + 1,
                    nwaves, waves[wave]);
                told = wave;
            }
            json_decref(x);
        }
        sleep_ms(POLL_MS);
    }
    fail(d, "the deployment of %s to %s did not end within %d s (last state: %s)",
         release ? release : "a release", env, STEP_TIMEOUT_MS / 1000, *state ? state : "none");
    return NULL;
}

/* ---- the steps ---- */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = file_write_all(fd, text, strlen(text));
    return close(fd) || rc ? -1 : 0;
}

static int notify(struct demo *d)
{
    return post(d, "/api/v1/repos/service/notify", NULL, NULL);
}

static int expect_run(struct demo *d, const char *kind, const char *what, const char *want_state)
{
    uint64_t t = mono_ms();
    json_t *r = wait_run(d, kind);
    if (!r)
        return -1;
    int rc = 0;
    if (strcmp(js(r, "state"), want_state))
        rc = fail(d, "%s: run #%" PRId64 " %s, expected %s (flywheel logs --server %s ...)", what,
                  ji(r, "number"), js(r, "state"), want_state, d->url);
    else
        say(d, "   %s run #%" PRId64 " of %.7s %s in %.1fs", kind, ji(r, "number"), js(r, "commit"),
            js(r, "state"), (double)(mono_ms() - t) / 1000);
    json_decref(r);
    return rc;
}

/* The newest release's version into out (when it is newer than `not`). */
static int wait_release(struct demo *d, const char * not, char *out, size_t max)
{
    uint64_t end = mono_ms() + STEP_TIMEOUT_MS;
    while (!interrupted && mono_ms() < end) {
        json_t *reply = get(d, "/api/v1/repos/service/releases?limit=1");
        json_t *r = json_array_get(json_object_get(reply, "releases"), 0);
        if (r && strcmp(js(r, "version"), not ? not : "")) {
            snprintf(out, max, "%s", js(r, "version"));
            json_decref(reply);
            struct buf p = BUF_INIT;
            buf_addf(&p, "/api/v1/repos/service/releases/%s", out);
            json_t *full = get(d, p.data), *files = json_object_get(full, "files"), *f;
            size_t i;
            json_array_foreach(files, i, f)
            {
                say(d, "     %s  %s  %" PRId64 " bytes  %.23s...", out, js(f, "path"),
                    ji(f, "size"), js(f, "digest"));
            }
            json_decref(full);
            buf_release(&p);
            return 0;
        }
        json_decref(reply);
        sleep_ms(POLL_MS);
    }
    return fail(d, "no release was made within %d s", STEP_TIMEOUT_MS / 1000);
}

static const char *const prod_waves[] = {"canary", "eu-1, eu-2", "us-1, us-2"};

static int expect_deployed(struct demo *d, const char *release)
{
    uint64_t t = mono_ms();
    json_t *x = follow_deployment(d, "staging", release, "deploy", 0, NULL);
    if (!x)
        return -1;
    if (strcmp(js(x, "state"), "succeeded")) {
        fail(d, "staging: the deployment of %s %s: %s", release, js(x, "state"), js(x, "reason"));
        json_decref(x);
        return -1;
    }
    json_decref(x);
    say(d, "   staging: %s deployed and verified (health) in %.1fs", release,
        (double)(mono_ms() - t) / 1000);
    t = mono_ms();
    x = follow_deployment(d, "production", release, "deploy", 3, prod_waves);
    if (!x)
        return -1;
    if (strcmp(js(x, "state"), "succeeded")) {
        fail(d, "production: the deployment of %s %s: %s", release, js(x, "state"),
             js(x, "reason"));
        json_decref(x);
        return -1;
    }
    json_decref(x);
    say(d, "   production: %s on every target in %.1fs", release, (double)(mono_ms() - t) / 1000);
    return 0;
}

/* What each production target runs, checked against want. */
static int expect_targets(struct demo *d, const char *want)
{
    json_t *reply = get(d, "/api/v1/repos/service/envs");
    json_t *prod = json_object_get(json_object_get(reply, "envs"), "production"), *t;
    size_t k;
    int rc = 0, n = 0;
    json_array_foreach(json_object_get(prod, "targets"), k, t)
    {
        n++;
        if (!rc && strcmp(js(t, "release"), want))
            rc = fail(d, "production target %s runs %s, expected %s", js(t, "target"),
                      js(t, "release"), want);
    }
    json_decref(reply);
    if (!rc && n != 5)
        rc = fail(d, "production has %d targets, expected 5", n);
    return rc;
}

static int step_change(struct demo *d)
{
    say(d, "1. A change on branch 'greeting' is pushed: flywheel checks it.");
    struct buf f = BUF_INIT;
    buf_addf(&f, "%s/GREETING", d->src);
    int rc = git(d, "checkout", "-q", "-b", "greeting", NULL) ||
             write_file(f.data, "hello from the demo\n") || git(d, "add", "GREETING", NULL) ||
             git(d, "commit", "-q", "-m", "Add a greeting", NULL);
    buf_release(&f);
    if (rc)
        return fail(d, "cannot commit the change (see the log)");
    if (notify(d) || expect_run(d, "change", "the change run", "passed"))
        return -1;
    return 0;
}

static int step_merge(struct demo *d, char *release, size_t max)
{
    say(d, "2. It is merged to main: the main run builds and tests it (e2e included).");
    if (git(d, "checkout", "-q", "main", NULL) ||
        git(d, "merge", "-q", "--no-ff", "-m", "Merge branch 'greeting'", "greeting", NULL))
        return fail(d, "cannot merge the change (see the log)");
    if (notify(d) || expect_run(d, "main", "the main run", "passed"))
        return -1;
    say(d, "3. The build's artifacts become a release, stored by SHA-256 with signed provenance.");
    if (wait_release(d, NULL, release, max))
        return -1;
    say(d, "4. The release goes to staging, then to production in three waves.");
    if (expect_deployed(d, release) || expect_targets(d, release))
        return -1;
    return 0;
}

static int step_bad(struct demo *d, const char *good, char *bad, size_t max)
{
    say(d, "5. A change that passes every test but fails one request in two is merged.");
    struct buf f = BUF_INIT;
    buf_addf(&f, "%s/BROKEN", d->src);
    int rc = write_file(f.data, "50\n") || git(d, "add", "BROKEN", NULL) ||
             git(d, "commit", "-q", "-m", "Cache the greeting (subtly broken)", NULL);
    buf_release(&f);
    if (rc)
        return fail(d, "cannot commit the bad change (see the log)");
    if (notify(d) || expect_run(d, "main", "the main run of the bad change", "passed") ||
        wait_release(d, good, bad, max))
        return -1;
    uint64_t t = mono_ms();
    json_t *x = follow_deployment(d, "staging", bad, "deploy", 0, NULL);
    if (!x)
        return -1;
    say(d, "   staging: %s %s (its health check cannot see the errors)", bad, js(x, "state"));
    json_decref(x);
    x = follow_deployment(d, "production", bad, "deploy", 3, prod_waves);
    if (!x)
        return -1;
    if (strcmp(js(x, "state"), "failed") || ji(x, "wave") != 0) {
        fail(d, "production: %s %s at wave %" PRId64 ", expected it to fail on the canary", bad,
             js(x, "state"), ji(x, "wave") + 1);
        json_decref(x);
        return -1;
    }
    say(d, "   production: caught on the canary after %.1fs: %s", (double)(mono_ms() - t) / 1000,
        js(x, "reason"));
    json_decref(x);
    x = follow_deployment(d, "production", good, "rollback", 0, NULL);
    if (!x)
        return -1;
    rc = strcmp(js(x, "state"), "succeeded")
             ? fail(d, "the rollback to %s %s: %s", good, js(x, "state"), js(x, "reason"))
             : 0;
    json_decref(x);
    if (rc || expect_targets(d, good))
        return -1;
    say(d, "   the canary is back on %s; the other waves never ran %s", good, bad);

    struct buf p = BUF_INIT;
    buf_addf(&p, "/api/v1/repos/service/releases/%s", bad);
    json_t *rel = get(d, p.data);
    buf_release(&p);
    json_t *mark = json_object_get(rel, "bad");
    if (!json_is_object(mark))
        rc = fail(d, "release %s is not marked bad", bad);
    else
        say(d, "   release %s is marked bad: %s", bad, js(mark, "reason"));
    json_decref(rel);
    json_t *line = get(d, "/api/v1/repos/service/line");
    if (!rc && !json_is_true(json_object_get(line, "stopped")))
        rc = fail(d, "the line is not stopped");
    else if (!rc)
        say(d, "   the line is stopped: nothing is promoted until someone resumes it");
    json_decref(line);
    json_t *inc = get(d, "/api/v1/repos/service/incidents");
    json_t *i0 = json_array_get(json_object_get(inc, "incidents"), 0);
    if (!rc && (!i0 || strcmp(js(i0, "release"), bad))) {
        rc = fail(d, "no incident was opened for %s", bad);
    } else if (!rc && ji(i0, "closed_ms")) {
        struct buf ttr = BUF_INIT;
        duration_format(ji(i0, "closed_ms") - ji(i0, "opened_ms"), &ttr);
        say(d,
            "   incident #%" PRId64 " was opened, and closed when %s served again: restored in %s",
            ji(i0, "id"), good, ttr.data);
        buf_release(&ttr);
    } else if (!rc) {
        say(d, "   incident #%" PRId64 " is open", ji(i0, "id"));
    }
    json_decref(inc);
    return rc;
}

static void print_measures(struct demo *d)
{
    json_t *m = get(d, "/api/v1/metrics/dora?repo=service&env=production&interval=all");
    json_t *ms = json_object_get(m, "metrics");
    json_t *df = json_array_get(json_object_get(ms, "deployment_frequency"), 0);
    json_t *lt = json_array_get(json_object_get(ms, "lead_time_for_changes"), 0);
    json_t *cfr = json_array_get(json_object_get(ms, "change_failure_rate"), 0);
    json_t *ttr = json_array_get(json_object_get(ms, "time_to_restore_service"), 0);
    struct buf a = BUF_INIT, b = BUF_INIT;
    say(d, "7. The delivery measures of production (flywheel metrics service):");
    if (json_is_number(json_object_get(df, "value")))
        say(d, "     deployments:          %.0f", json_number_value(json_object_get(df, "value")));
    if (json_is_number(json_object_get(lt, "value"))) {
        duration_format((int64_t)(json_number_value(json_object_get(lt, "value")) * 1000), &a);
        say(d, "     lead time (median):   %s from push to production", a.data);
    }
    if (json_is_number(json_object_get(cfr, "value")))
        say(d, "     change failure rate:  %.0f%%",
            100 * json_number_value(json_object_get(cfr, "value")));
    if (json_is_number(json_object_get(ttr, "value"))) {
        duration_format((int64_t)(json_number_value(json_object_get(ttr, "value")) * 1000), &b);
        say(d, "     time to restore:      %s", b.data);
    }
    buf_release(&a);
    buf_release(&b);
    json_decref(m);
}

static int step_fix(struct demo *d, const char *bad, char *fixed, size_t max)
{
    say(d, "6. The fix is merged; the line is resumed; the fix goes all the way out.");
    if (git(d, "rm", "-q", "BROKEN", NULL) ||
        git(d, "commit", "-q", "-m", "Fix the greeting cache", NULL))
        return fail(d, "cannot commit the fix (see the log)");
    if (notify(d) || expect_run(d, "main", "the main run of the fix", "passed") ||
        wait_release(d, bad, fixed, max))
        return -1;
    /* The release waits behind the stopped line until someone resumes it. */
    json_t *w = NULL;
    for (int i = 0; i < 50 && !interrupted; i++) {
        w = find_deployment(d, "staging", fixed, "deploy");
        if (w && !strcmp(js(w, "state"), "queued") && *js(w, "reason"))
            break;
        json_decref(w);
        w = NULL;
        sleep_ms(POLL_MS);
    }
    if (w)
        say(d, "   staging: %s is %s", fixed, js(w, "reason"));
    json_decref(w);
    json_t *body = json_pack("{ss}", "reason", "the fix is out");
    int rc = post(d, "/api/v1/repos/service/line/resume", body, NULL);
    json_decref(body);
    if (rc)
        return -1;
    say(d, "   the line is resumed");
    if (expect_deployed(d, fixed) || expect_targets(d, fixed))
        return -1;
    json_t *inc = get(d, "/api/v1/repos/service/incidents");
    json_t *i0 = json_array_get(json_object_get(inc, "incidents"), 0);
    if (!i0 || !ji(i0, "closed_ms")) {
        json_decref(inc);
        return fail(d, "the incident of %s is still open", bad);
    }
    json_decref(inc);
    json_t *line = get(d, "/api/v1/repos/service/line");
    rc = json_is_false(json_object_get(line, "stopped")) ? 0 : fail(d, "the line is stopped");
    json_decref(line);
    if (rc)
        return -1;
    print_measures(d);
    return 0;
}

/* ---- set-up and tear-down ---- */

static char *find_example(const char *exe)
{
    const char *env = getenv("FLYWHEEL_EXAMPLES");
    struct buf p = BUF_INIT, dir = BUF_INIT;
    static const char *const rel[] = {"examples", "../examples", "../../examples",
                                      "../share/flywheel/examples"};
    struct stat st;
    if (env && *env) {
        buf_addf(&p, "%s/service/.flywheel.yml", env);
        if (!stat(p.data, &st)) {
            buf_reset(&p);
            buf_addf(&p, "%s/service", env);
            return buf_detach(&p, NULL);
        }
        buf_release(&p);
        return NULL;
    }
    const char *slash = strrchr(exe, '/');
    buf_add(&dir, exe, slash ? (size_t)(slash - exe) : 0);
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        buf_reset(&p);
        buf_addf(&p, "%s/%s/service/.flywheel.yml", dir.data, rel[i]);
        if (!stat(p.data, &st)) {
            buf_reset(&p);
            buf_addf(&p, "%s/%s/service", dir.data, rel[i]);
            char *real = realpath(p.data, NULL);
            buf_release(&p);
            buf_release(&dir);
            return real;
        }
    }
    buf_release(&p);
    buf_release(&dir);
    return NULL;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    struct buf p = BUF_INIT;
    bool found = false;
    for (const char *s = path ? path : ""; *s && !found;) {
        size_t n = strcspn(s, ":");
        buf_reset(&p);
        buf_addf(&p, "%.*s/%s", (int)n, s, prog);
        found = access(p.data, X_OK) == 0;
        s += n + (s[n] == ':');
    }
    buf_release(&p);
    return found;
}

/* Rewrites the ports of the example's pipeline: "181" -> prefix, "19090" -> prefix "90". */
static int rewrite_ports(struct demo *d)
{
    struct buf path = BUF_INIT, in = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    int rc = -1;
    buf_addf(&path, "%s/.flywheel.yml", d->src);
    if (file_read(path.data, 1 << 20, &in, &err))
        goto out;
    for (size_t i = 0; i < in.len;) {
        if (i + 5 <= in.len && !memcmp(in.data + i, "19090", 5)) {
            buf_addf(&out, "%s90", d->prefix);
            i += 5;
        } else if (i + 5 <= in.len && !memcmp(in.data + i, "181", 3) && in.data[i + 3] >= '0' &&
                   in.data[i + 3] <= '9' && in.data[i + 4] >= '0' && in.data[i + 4] <= '9') {
            buf_addf(&out, "%s%c%c", d->prefix, in.data[i + 3], in.data[i + 4]);
            i += 5;
        } else {
            buf_addch(&out, in.data[i++]);
        }
    }
    rc = write_file(path.data, out.data);
out:
    if (rc)
        fail(d, "cannot rewrite the ports of %s: %s", path.data, err.len ? err.data : "");
    buf_release(&path);
    buf_release(&in);
    buf_release(&out);
    buf_release(&err);
    return rc;
}

/* Without Prometheus, the error-rate check becomes an HTTP check of GET /. */
static int without_prometheus(struct demo *d)
{
    struct buf path = BUF_INIT, in = BUF_INIT, err = BUF_INIT;
    int rc = -1;
    buf_addf(&path, "%s/.flywheel.yml", d->src);
    if (file_read(path.data, 1 << 20, &in, &err))
        goto out;
    char *at = strstr(in.data, "        - name: error rate\n");
    if (!at)
        goto out;
    buf_setlen(&in, (size_t)(at - in.data));
    buf_adds(&in, "        - name: error rate\n"
                  "          http: $URL/\n"
                  "          status: 200\n"
                  "          timeout: 2s\n");
    rc = write_file(path.data, in.data);
out:
    if (rc)
        fail(d, "cannot replace the Prometheus check in %s", path.data);
    buf_release(&path);
    buf_release(&in);
    buf_release(&err);
    return rc;
}

static int start_server(struct demo *d, long port)
{
    struct buf pf = BUF_INIT, listen = BUF_INIT, tok = BUF_INIT, err = BUF_INIT, log = BUF_INIT;
    int rc = -1;
    buf_addf(&pf, "%s/server.port", d->dir);
    buf_addf(&listen, "127.0.0.1:%ld", port);
    buf_addf(&log, "%s/server.log", d->dir);
    unlink(pf.data);
    char *argv[] = {d->exe,      "serve",       "--data",       d->data,  "--listen",
                    listen.data, "--port-file", pf.data,        "--poll", "0s",
                    "--slots",   "2",           "--kill-grace", "2s",     NULL};
    FILE *saved = d->log, *slog = fopen(log.data, "ae");
    if (!slog)
        goto out;
    d->log = slog;
    d->server = spawn(d, d->dir, argv, true);
    d->log = saved;
    fclose(slog);
    if (d->server < 0)
        goto out;
    for (int i = 0; i < 200 && !interrupted; i++) {
        struct buf p = BUF_INIT;
        if (file_read(pf.data, 64, &p, &err) == 0 && p.len && p.data[p.len - 1] == '\n') {
            buf_reset(&tok);
            buf_addf(&tok, "%s/admin.token", d->data);
            buf_reset(&log);
            buf_addf(&log, "http://127.0.0.1:%ld", strtol(p.data, NULL, 10));
            free(d->url);
            d->url = buf_detach(&log, NULL);
            buf_release(&p);
            rc = 0;
            break;
        }
        buf_release(&p);
        buf_reset(&err);
        if (waitpid(d->server, NULL, WNOHANG) == d->server) {
            d->server = -1;
            break;
        }
        sleep_ms(50);
    }
    if (rc) {
        fail(d, "the server did not start (port %ld taken? see %s/server.log)", port, d->dir);
        goto out;
    }
    struct buf t = BUF_INIT;
    rc = -1;
    if (file_read(tok.data, 4096, &t, &err) == 0) {
        while (t.len && (t.data[t.len - 1] == '\n'))
            buf_setlen(&t, t.len - 1);
        setenv("FLYWHEEL_TOKEN", t.data, 1);
        rc = client_open(&d->c, d->url, &err);
    }
    if (rc)
        fail(d, "cannot use the server's admin token: %s", err.data);
    buf_release(&t);
out:
    buf_release(&pf);
    buf_release(&listen);
    buf_release(&tok);
    buf_release(&err);
    buf_release(&log);
    return rc;
}

static int setup(struct demo *d, long port)
{
    struct buf b = BUF_INIT;
    int rc = -1;
    buf_addf(&b, "%s/demo.log", d->dir);
    d->log = fopen(b.data, "ae");
    if (!d->log) {
        fprintf(stderr, "flywheel demo: %s: %s\n", b.data, strerror(errno));
        buf_release(&b);
        return -1;
    }
    setvbuf(d->log, NULL, _IOLBF, 0);
    buf_reset(&b);
    buf_addf(&b, "%s/service", d->dir);
    d->src = buf_detach(&b, NULL);
    buf_addf(&b, "%s/data", d->dir);
    d->data = buf_detach(&b, NULL);

    char *cp[] = {"cp", "-R", d->example, d->src, NULL};
    if (run(d, NULL, cp)) {
        fail(d, "cannot copy %s to %s", d->example, d->src);
        goto out;
    }
    buf_addf(&b, "%s/bin", d->src);
    char *rm[] = {"rm", "-rf", b.data, NULL};
    (void)run(d, NULL, rm);
    if (d->prefix && rewrite_ports(d))
        goto out;
    d->prometheus = on_path("prometheus");
    if (!d->prometheus && without_prometheus(d))
        goto out;
    if (git(d, "init", "-q", NULL) || git(d, "add", "-A", NULL) ||
        git(d, "commit", "-q", "-m", "The service and its pipeline", NULL)) {
        fail(d, "cannot make the repository %s (see the log)", d->src);
        goto out;
    }
    if (start_server(d, port))
        goto out;
    FILE *devnull = fopen("/dev/null", "we");
    struct buf e = BUF_INIT;
    d->ui = devnull && client_get_copy(d->c, "/", devnull, &e) == 0;
    if (devnull)
        fclose(devnull);
    buf_release(&e);
    say(d, "The server is on %s (data in %s)", d->url, d->data);
    if (d->ui)
        say(d, "Follow along in the web UI: %s/ (log in with the token in %s/admin.token)", d->url,
            d->data);
    if (d->prometheus) {
        struct buf pport = BUF_INIT;
        buf_addf(&pport, "%s90", d->prefix ? d->prefix : "190");
        char *prom[] = {"sh", "deploy/prometheus.sh", "start", pport.data, NULL};
        int r = run(d, d->src, prom);
        buf_release(&pport);
        if (r) {
            fail(d, "Prometheus did not start (see the log)");
            goto out;
        }
        say(d, "Prometheus watches the error rate of every target");
    } else {
        say(d, "prometheus is not installed: the error-rate check falls back to an HTTP check "
               "of GET / (scripts/install-deps installs it)");
    }
    char *traffic[] = {"sh", "deploy/traffic.sh", NULL};
    if (spawn(d, d->src, traffic, true) < 0) {
        fail(d, "cannot start the traffic generator");
        goto out;
    }
    json_t *body = json_pack("{ssss}", "name", "service", "url", d->src);
    rc = post(d, "/api/v1/repos", body, NULL);
    json_decref(body);
    /*
     * Refs the mirror holds when it is first cloned start nothing: the
     * change of step 1 is committed once the clone has main.
     */
    buf_reset(&b);
    buf_addf(&b, "--git-dir=%s/git/service.git", d->data);
    char *has_main[] = {"git", b.data, "rev-parse", "-q", "--verify", "refs/heads/main", NULL};
    for (int i = 0; !rc; i++) {
        if (run(d, NULL, has_main) == 0)
            break;
        if (i == 300 || interrupted)
            rc = fail(d, "the server did not clone the repository within 30 s");
        sleep_ms(POLL_MS);
    }
    if (!rc)
        say(d, "Users send traffic to every target; the repository %s is registered", d->src);
out:
    buf_release(&b);
    return rc;
}

static void teardown(struct demo *d)
{
    if (d->server > 0) {
        kill(d->server, SIGTERM);
        for (int i = 0; i < 150; i++) {
            if (waitpid(d->server, NULL, WNOHANG) == d->server) {
                d->server = -1;
                break;
            }
            sleep_ms(100);
        }
        if (d->server > 0) {
            kill(-d->server, SIGKILL);
            waitpid(d->server, NULL, 0);
        }
    }
    if (d->src && d->log) {
        char *stop[] = {"sh", "deploy/stop-all.sh", NULL};
        if (run(d, d->src, stop))
            fprintf(stderr, "flywheel demo: some processes under %s/.flywheel-demo did not stop\n",
                    d->dir);
    }
    client_free(d->c);
    if (d->log)
        fclose(d->log);
    free(d->src);
    free(d->data);
    free(d->url);
    free(d->example);
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},
        {"target-ports", required_argument, NULL, 't'},
        {"exit", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct demo d;
    const char *dir = NULL;
    long port = 8080;
    bool exit_after = false;
    int c, rc = 1;
    char *end;
    memset(&d, 0, sizeof(d));
    d.server = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'p':
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (errno || *end || port < 0 || port > 65535) {
                fprintf(stderr, "flywheel demo: --port wants 0 to 65535\n");
                return 2;
            }
            break;
        case 't':
            if (strlen(optarg) != 3 || strspn(optarg, "0123456789") != 3 || optarg[0] == '0') {
                fprintf(stderr, "flywheel demo: --target-ports wants three digits, e.g. 201\n");
                return 2;
            }
            d.prefix = optarg;
            break;
        case 'x':
            exit_after = true;
            break;
        case 'h':
            fputs(demo_usage, stdout);
            return 0;
        default:
            fputs(demo_usage, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fputs(demo_usage, stderr);
        return 2;
    }
    struct buf exe = BUF_INIT, b = BUF_INIT;
    if (cli_self_exe(&exe)) {
        fprintf(stderr, "flywheel demo: cannot find this program's path\n");
        return 1;
    }
    d.exe = exe.data;
    d.example = find_example(exe.data);
    if (!d.example) {
        fprintf(stderr, "flywheel demo: cannot find examples/service (beside the flywheel "
                        "binary, or in $FLYWHEEL_EXAMPLES)\n");
        buf_release(&exe);
        return 1;
    }
    if (dir) {
        if (mkdir(dir, 0755) && errno != EEXIST) {
            fprintf(stderr, "flywheel demo: mkdir %s: %s\n", dir, strerror(errno));
            goto out;
        }
        d.dir = realpath(dir, NULL);
    } else {
        const char *tmp = getenv("TMPDIR");
        buf_addf(&b, "%s/flywheel-demo.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        d.dir = mkdtemp(b.data) ? realpath(b.data, NULL) : NULL;
    }
    if (!d.dir) {
        fprintf(stderr, "flywheel demo: cannot make the demo directory: %s\n", strerror(errno));
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    d.t0 = mono_ms();
    printf("flywheel demo: the whole delivery loop of examples/service, on this machine\n"
           "  (in %s; what it runs is logged to demo.log there)\n\n",
           d.dir);
    fflush(stdout);
    char r1[64], r2[64], r3[64];
    if (setup(&d, port) || step_change(&d) || step_merge(&d, r1, sizeof(r1)) ||
        step_bad(&d, r1, r2, sizeof(r2)) || step_fix(&d, r2, r3, sizeof(r3)))
        goto out;
    printf("\nThe loop took %.1fs. ", (double)(mono_ms() - d.t0) / 1000);
    if (exit_after) {
        printf("Stopping everything.\n");
        rc = 0;
        goto out;
    }
    if (d.ui)
        printf("Explore it at %s/ (token: %s/admin.token);\n", d.url, d.data);
    else
        printf("Explore it with `FLYWHEEL_SERVER=%s FLYWHEEL_TOKEN_FILE=%s/admin.token flywheel "
               "status`;\n",
               d.url, d.data);
    printf("Ctrl-C stops the server and every process the demo started.\n");
    fflush(stdout);
    while (!interrupted)
        pause();
    rc = 0;
out:
    if (interrupted && rc) {
        fprintf(stderr, "flywheel demo: interrupted\n");
        rc = 130;
    }
    teardown(&d);
    free(d.dir);
    buf_release(&exe);
    buf_release(&b);
    return rc;
}
