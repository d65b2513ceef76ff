/*
 * flywheel run [JOB...] [--jobs N] [--rev REV] [--when main|change|tag]
 *              [--isolation none|sandbox] [--keep] [--fail-fast] [--json] [-C DIR]
 *
 * Runs the repository's pipeline on this machine with the engine the server
 * uses (engine/runexec.h). Exit: 0 all passed, 1 a job failed, 2 usage or
 * pipeline error, 130 interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/local.h"
#include "core/duration.h"
#include "core/pipeline.h"
#include "core/sched.h"
#include "core/secret.h"
#include "engine/runexec.h"
#include "exec/gitcmd.h"
#include "exec/workspace.h"
#include "util/fileio.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: flywheel run [JOB...] [options]\n"
    "\n"
    "Runs the pipeline (.flywheel.yml) of the repository here, each job in a fresh\n"
    "workspace. With JOBs, runs those and what they need; without, every job that\n"
    "applies to --when.\n"
    "\n"
    "  -j, --jobs N            jobs at a time (default: the number of CPUs)\n"
    "      --rev REV           run a commit instead of the working tree as it is\n"
    "      --when KIND         main, change (default) or tag: which jobs apply\n"
    "      --isolation MODE    none or sandbox, for every job (default: each job's own)\n"
    "      --keep              keep every workspace (failed ones are always kept)\n"
    "      --fail-fast         cancel everything at the first failure\n"
    "      --json              print the result as JSON on standard output\n"
    "      --kill-grace DUR    time between SIGTERM and SIGKILL (default 5s)\n"
    "  -f, --file FILE         the pipeline file (default: .flywheel.yml at the top)\n"
    "  -C DIR                  run in DIR's repository\n"
    "\n"
    "Exit status: 0 all passed, 1 a job failed, 2 usage or pipeline error,\n"
    "130 interrupted.\n";

struct ui {
    const struct pipeline *p;
    struct runexec *rx;
    uv_loop_t *loop;
    bool tty, color, json;
    FILE *status;       /* where state lines go */
    struct buf *lines;  /* per job: an unfinished output line (plain mode) */
    struct buf *prefix; /* per job: "[name] ", what starts its lines (plain mode) */
    struct buf out;     /* plain mode: prefixed output waiting to be written */
    size_t name_width;
    /* live view */
    uv_timer_t ticker;
    int drawn; /* lines of the live region on screen */
    int frame;
    bool done, interrupted;
    enum sched_result result;
    uv_signal_t sigint, sigterm;
    int64_t t0;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *col(const struct ui *u, const char *code)
{
    return u->color ? code : "";
}

static void flush_out(struct ui *u)
{
    if (u->out.len) {
        fwrite(u->out.data, 1, u->out.len, stdout);
        buf_reset(&u->out);
    }
}

static void erase_live(struct ui *u)
{
    if (!u->tty || !u->drawn)
        return;
    fprintf(u->status, "\033[%dA\033[J", u->drawn);
    u->drawn = 0;
}

static void draw_live(struct ui *u)
{
    if (!u->tty || u->done)
        return;
    static const char *const spin[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
    const struct sched *s = runexec_sched(u->rx);
    struct buf b = BUF_INIT;
    int n = 0;
    for (size_t i = 0; i < u->p->njobs; i++) {
        if (!sched_selected(s, i) || sched_state(s, i) != JOB_RUNNING)
            continue;
        struct buf d = BUF_INIT;
        cli_format_duration(runexec_duration_ms(u->rx, i), &d);
        buf_addf(&b, "%s%s%s %-*s %s", col(u, "\033[36m"), spin[u->frame % 10], col(u, "\033[0m"),
                 (int)u->name_width, u->p->jobs[i].name, d.data);
        if (sched_attempts(s, i) > 1)
            buf_addf(&b, " (attempt %d)", sched_attempts(s, i));
        buf_addch(&b, '\n');
        buf_release(&d);
        n++;
    }
    fputs(b.data, u->status);
    fflush(u->status);
    u->drawn = n;
    buf_release(&b);
}

static void on_tick(uv_timer_t *t)
{
    struct ui *u = t->data;
    u->frame++;
    erase_live(u);
    draw_live(u);
}

/* The last lines of a log file, for a failing job on a terminal. */
static void print_tail(struct ui *u, const char *path, int lines)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > 8192 ? size - 8192 : 0;
    char buf[8193];
    ssize_t n = pread(fd, buf, 8192, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    int seen = 0;
    ssize_t k = n - 1;
    if (k >= 0 && buf[k] == '\n')
        k--;
    for (; k >= 0; k--) {
        if (buf[k] == '\n' && ++seen == lines)
            break;
    }
    const char *start = buf + k + 1;
    for (const char *p = start; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        fprintf(u->status, "    %s│%s %.*s\n", col(u, "\033[2m"), col(u, "\033[0m"), (int)l, p);
        p += l + (e ? 1 : 0);
    }
}

static void on_state(void *ctx, size_t i, enum job_state st, int attempt, const char *reason,
                     int64_t ms)
{
    struct ui *u = ctx;
    const char *name = u->p->jobs[i].name;
    struct buf d = BUF_INIT;
    cli_format_duration(ms, &d);
    erase_live(u);
    if (!u->tty) {
        /* Plain lines: flush this job's unfinished output line first. */
        if (u->lines[i].len && st != JOB_RUNNING) {
            buf_addf(&u->out, "[%s] %s\n", name, u->lines[i].data);
            buf_reset(&u->lines[i]);
        }
        flush_out(u);
        fflush(stdout);
        switch (st) {
        case JOB_RUNNING:
            fprintf(u->status, "==> %s: running (attempt %d)\n", name, attempt);
            break;
        case JOB_QUEUED:
            fprintf(u->status, "==> %s: %s\n", name, reason);
            break;
        case JOB_PASSED:
            fprintf(u->status, "==> %s: passed in %s\n", name, d.data);
            break;
        case JOB_SKIPPED:
        case JOB_CANCELLED:
            fprintf(u->status, "==> %s: %s%s%s\n", name, job_state_name(st), *reason ? ": " : "",
                    reason);
            break;
        default:
            fprintf(u->status, "==> %s: %s after %s%s%s (log: %s)\n", name, job_state_name(st),
                    d.data, *reason ? ": " : "", reason, runexec_log_path(u->rx, i));
        }
        fflush(u->status);
        buf_release(&d);
        return;
    }
    switch (st) {
    case JOB_RUNNING:
        break;
    case JOB_QUEUED:
        fprintf(u->status, "%s↻%s %-*s %s\n", col(u, "\033[33m"), col(u, "\033[0m"),
                (int)u->name_width, name, reason);
        break;
    case JOB_PASSED:
        fprintf(u->status, "%s✓%s %-*s %s\n", col(u, "\033[32m"), col(u, "\033[0m"),
                (int)u->name_width, name, d.data);
        break;
    case JOB_SKIPPED:
    case JOB_CANCELLED:
        fprintf(u->status, "%s○%s %-*s %s%s%s%s\n", col(u, "\033[2m"), col(u, "\033[0m"),
                (int)u->name_width, name, job_state_name(st), *reason ? " (" : "", reason,
                *reason ? ")" : "");
        break;
    default: {
        const struct sched *s = runexec_sched(u->rx);
        fprintf(u->status, "%s✗%s %-*s %s %s%s%s\n", col(u, "\033[31m"), col(u, "\033[0m"),
                (int)u->name_width, name, job_state_name(st), d.data, *reason ? ": " : "", reason);
        if (!sched_retrying(s, i) || true)
            print_tail(u, runexec_log_path(u->rx, i), 15);
    }
    }
    draw_live(u);
    buf_release(&d);
}

/*
 * Plain mode: every line of a job's output, prefixed with "[name] ". A job
 * can print gigabytes: room for a whole chunk is made at once and its lines
 * are copied, with no formatting per line.
 */
static void on_output(void *ctx, size_t i, const char *data, size_t len)
{
    struct ui *u = ctx;
    if (u->tty || u->json)
        return;
    const struct buf *pre = &u->prefix[i];
    struct buf *line = &u->lines[i];
    const char *end = data + len;
    size_t nl = 0;
    for (const char *q = data; (q = memchr(q, '\n', (size_t)(end - q))); q++)
        nl++;
    if (nl) {
        buf_grow(&u->out, line->len + len + nl * pre->len);
        char *o = u->out.data + u->out.len;
        for (const char *q; (q = memchr(data, '\n', (size_t)(end - data)));) {
            size_t l = (size_t)(q - data) + 1; /* with the newline */
            memcpy(o, pre->data, pre->len);
            o += pre->len;
            if (line->len) {
                memcpy(o, line->data, line->len);
                o += line->len;
                buf_reset(line);
            }
            memcpy(o, data, l);
            o += l;
            data += l;
        }
        buf_setlen(&u->out, (size_t)(o - u->out.data));
    }
    if (data < end) {
        buf_add(line, data, (size_t)(end - data));
        if (line->len > 65536) { /* an endless line: show it in pieces */
            buf_add(&u->out, pre->data, pre->len);
            buf_add(&u->out, line->data, line->len);
            buf_addch(&u->out, '\n');
            buf_reset(line);
        }
    }
    if (u->out.len > 65536)
        flush_out(u);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void on_done(void *ctx, enum sched_result r)
{
    struct ui *u = ctx;
    u->done = true;
    u->result = r;
    erase_live(u);
    for (size_t i = 0; i < u->p->njobs; i++) {
        if (u->lines[i].len) {
            buf_addf(&u->out, "[%s] %s\n", u->p->jobs[i].name, u->lines[i].data);
            buf_reset(&u->lines[i]);
        }
    }
    flush_out(u);
    if (u->tty)
        uv_timer_stop(&u->ticker);
    uv_signal_stop(&u->sigint);
    uv_signal_stop(&u->sigterm);
    uv_close((uv_handle_t *)&u->sigint, close_cb);
    uv_close((uv_handle_t *)&u->sigterm, close_cb);
    if (u->tty)
        uv_close((uv_handle_t *)&u->ticker, close_cb);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct ui *u = h->data;
    if (!u->interrupted)
        fprintf(u->status, "\nflywheel: interrupted (%s); stopping the jobs%s\n",
                sig == SIGINT ? "Ctrl-C" : "SIGTERM", u->tty ? " (Ctrl-C again kills them)" : "");
    u->interrupted = true;
    runexec_cancel(u->rx, "the run was interrupted");
}

static void summary(struct ui *u, int64_t run_id, int64_t total_ms)
{
    const struct sched *s = runexec_sched(u->rx);
    if (u->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_integer(run_id));
        json_object_set_new(
            o, "result",
            json_string(u->interrupted ? "interrupted" : sched_result_name(u->result)));
        json_object_set_new(o, "duration_ms", json_integer(total_ms));
        json_object_set_new(o, "logs", json_string(runexec_log_dir(u->rx)));
        json_t *jobs = json_array();
        for (size_t i = 0; i < u->p->njobs; i++) {
            if (!sched_selected(s, i))
                continue;
            json_t *j = json_object();
            json_object_set_new(j, "name", json_string(u->p->jobs[i].name));
            json_object_set_new(j, "state", json_string(job_state_name(sched_state(s, i))));
            json_object_set_new(j, "reason", json_string(sched_reason(s, i)));
            json_object_set_new(j, "attempts", json_integer(sched_attempts(s, i)));
            json_object_set_new(j, "duration_ms", json_integer(runexec_duration_ms(u->rx, i)));
            const char *lp = sched_attempts(s, i) ? runexec_log_path(u->rx, i) : NULL;
            json_object_set_new(j, "log", lp ? json_string(lp) : json_null());
            const char *ws = runexec_workspace(u->rx, i);
            json_object_set_new(j, "workspace", ws ? json_string(ws) : json_null());
            json_object_set_new(j, "allow_failure", json_boolean(u->p->jobs[i].allow_failure));
            json_array_append_new(jobs, j);
        }
        json_object_set_new(o, "jobs", jobs);
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(o);
        return;
    }
    FILE *f = u->status;
    fprintf(f, "\n%-*s  %-9s  %-8s  %s\n", (int)u->name_width, "JOB", "STATE", "ATTEMPTS",
            "DURATION");
    for (size_t i = 0; i < u->p->njobs; i++) {
        if (!sched_selected(s, i))
            continue;
        enum job_state st = sched_state(s, i);
        struct buf d = BUF_INIT;
        if (sched_attempts(s, i))
            cli_format_duration(runexec_duration_ms(u->rx, i), &d);
        else
            buf_adds(&d, "-");
        const char *c = st == JOB_PASSED                           ? "\033[32m"
                        : st == JOB_SKIPPED || st == JOB_CANCELLED ? "\033[2m"
                                                                   : "\033[31m";
        fprintf(f, "%-*s  %s%-9s%s  %-8d  %s", (int)u->name_width, u->p->jobs[i].name, col(u, c),
                job_state_name(st), col(u, "\033[0m"), sched_attempts(s, i), d.data);
        if (u->p->jobs[i].allow_failure && st != JOB_PASSED)
            fprintf(f, "  (allowed to fail)");
        const char *ws = runexec_workspace(u->rx, i);
        if (ws)
            fprintf(f, "  workspace: %s", ws);
        fputc('\n', f);
        buf_release(&d);
    }
    struct buf d = BUF_INIT;
    cli_format_duration(total_ms, &d);
    const char *res = u->interrupted ? "interrupted" : sched_result_name(u->result);
    fprintf(f, "\nlogs: %s/\nrun %lld %s in %s\n", runexec_log_dir(u->rx), (long long)run_id, res,
            d.data);
    buf_release(&d);
}

/* Reads path at commit (git show COMMIT:PATH). */
static int read_at_commit(const char *repo, const char *commit, const char *path, size_t max,
                          struct buf *out, struct buf *err)
{
    struct buf spec = BUF_INIT;
    buf_addf(&spec, "%s:%s", commit, path);
    const char *const args[] = {"show", spec.data, NULL};
    out->cap = max;
    int rc = gitcmd_run(repo, args, NULL, out, err);
    out->cap = 0;
    buf_release(&spec);
    return rc == 0 ? 0 : -1;
}

/*
 * Finds the project directory: the nearest directory from dir (NULL: the
 * current one) up to the repository's top that holds file. Appends its path
 * relative to repo ("" for the top) to subdir.
 */
static int find_project(const char *repo, const char *dir, const char *file, struct buf *subdir,
                        struct buf *err)
{
    if (strchr(file, '/') || !strcmp(file, "..")) {
        buf_addf(err, "-f wants a file name, not a path: '%s' (use -C to choose the directory)",
                 file);
        return -1;
    }
    char *start = realpath(dir ? dir : ".", NULL);
    char *top = realpath(repo, NULL);
    int rc = -1;
    if (!start || !top) {
        buf_addf(err, "%s: %s", dir ? dir : ".", strerror(errno));
        goto out;
    }
    size_t tl = strlen(top);
    if (strncmp(start, top, tl) || (start[tl] && start[tl] != '/')) {
        buf_addf(err, "%s is not inside the repository %s", start, top);
        goto out;
    }
    struct buf cand = BUF_INIT;
    for (size_t l = strlen(start);;) {
        buf_reset(&cand);
        buf_add(&cand, start, l);
        buf_addf(&cand, "/%s", file);
        if (access(cand.data, F_OK) == 0) {
            if (l > tl)
                buf_add(subdir, start + tl + 1, l - tl - 1);
            rc = 0;
            break;
        }
        if (l <= tl) {
            buf_addf(err, "no %s in %s or above it up to the repository's top", file, start);
            break;
        }
        while (l > tl && start[l - 1] != '/')
            l--;
        l--; /* the '/' */
    }
    buf_release(&cand);
out:
    free(start);
    free(top);
    return rc;
}

/*
 * Local runs take the secrets their jobs name from this process's
 * environment (`TOKEN=... flywheel run`): the developer who runs them is the
 * one who trusts them. A name the environment lacks, or a value the server
 * would refuse, fails the job that names it, with why.
 */
static void local_secrets(const struct pipeline *p, const bool *selected,
                          struct runexec_secret **out, size_t *n)
{
    size_t alloc = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < p->njobs; i++) {
        for (size_t k = 0; selected[i] && k < p->jobs[i].secrets.n; k++) {
            const char *name = p->jobs[i].secrets.v[k].s;
            bool dup = false;
            for (size_t q = 0; q < *n && !dup; q++)
                dup = !strcmp((*out)[q].name, name);
            if (dup)
                continue;
            ALLOC_GROW(*out, *n + 1, alloc);
            struct runexec_secret *sec = &(*out)[(*n)++];
            memset(sec, 0, sizeof(*sec));
            sec->name = name;
            const char *v = getenv(name);
            struct buf why = BUF_INIT;
            if (!v) {
                buf_addf(&why,
                         "secret '%s' is not set: flywheel run gives a job the secrets it names "
                         "from its own environment (%s=... flywheel run)",
                         name, name);
            } else if (secret_value_check(v, strlen(v), &why)) {
                struct buf w = BUF_INIT;
                buf_addf(&w, "secret '%s' (from the environment): %s", name, why.data);
                buf_release(&why);
                why = w;
            } else {
                sec->value = v;
                sec->len = strlen(v);
            }
            if (why.len)
                sec->error = buf_detach(&why, NULL);
            buf_release(&why);
        }
    }
}

static void local_secrets_release(struct runexec_secret *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)v[i].error);
    free(v);
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"rev", required_argument, NULL, 'r'},
        {"when", required_argument, NULL, 'w'},
        {"isolation", required_argument, NULL, 'i'},
        {"keep", no_argument, NULL, 'k'},
        {"fail-fast", no_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'J'},
        {"kill-grace", required_argument, NULL, 'g'},
        {"file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long slots = sysconf(_SC_NPROCESSORS_ONLN);
    const char *rev = NULL, *dir = NULL, *file = ".flywheel.yml";
    unsigned event = PL_EV_CHANGE;
    const char *kind = "change";
    int isolation = RUNEXEC_ISO_JOB;
    bool keep = false, fail_fast = false, json = false;
    int64_t grace_ms = 5000;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+j:C:f:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'j':
            errno = 0;
            slots = strtol(optarg, &end, 10);
            if (errno || *end || slots < 1 || slots > 1024) {
                fprintf(stderr, "flywheel run: --jobs wants a number from 1 to 1024, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'r':
            rev = optarg;
            break;
        case 'w':
            if (!strcmp(optarg, "main"))
                event = PL_EV_MAIN;
            else if (!strcmp(optarg, "change"))
                event = PL_EV_CHANGE;
            else if (!strcmp(optarg, "tag"))
                event = PL_EV_TAG;
            else {
                fprintf(stderr, "flywheel run: --when wants main, change or tag, not '%s'\n",
                        optarg);
                return 2;
            }
            kind = optarg;
            break;
        case 'i':
            if (!strcmp(optarg, "none"))
                isolation = PL_ISO_NONE;
            else if (!strcmp(optarg, "sandbox"))
                isolation = PL_ISO_SANDBOX;
            else {
                fprintf(stderr, "flywheel run: --isolation wants none or sandbox, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'k':
            keep = true;
            break;
        case 'F':
            fail_fast = true;
            break;
        case 'J':
            json = true;
            break;
        case 'g': {
            struct buf e = BUF_INIT;
            if (duration_parse(optarg, &grace_ms, &e)) {
                fprintf(stderr, "flywheel run: --kill-grace: %s\n", e.data);
                buf_release(&e);
                return 2;
            }
            buf_release(&e);
            break;
        }
        case 'f':
            file = optarg;
            break;
        case 'C':
            dir = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }

    struct cli_local lc;
    struct buf err = BUF_INIT, src = BUF_INIT, exe = BUF_INIT, diagtxt = BUF_INIT;
    struct buf subdir = BUF_INIT;
    struct diag_list d = DIAG_LIST_INIT;
    struct pipeline *p = NULL;
    struct ws_source source;
    bool have_source = false, have_lc = false;
    bool *selected = NULL;
    struct runexec_secret *secrets = NULL;
    size_t nsecrets = 0;
    struct runexec *rx = NULL;
    struct ui u;
    uv_loop_t loop;
    bool have_loop = false;
    int rc = 2;

    memset(&u, 0, sizeof(u));
    memset(&source, 0, sizeof(source));
    if (cli_self_exe(&exe)) {
        fprintf(stderr, "flywheel run: cannot find this program's path\n");
        goto out;
    }
    if (cli_local_open(&lc, dir, CLI_LOCAL_CREATE | CLI_LOCAL_CAS, &err)) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        goto out;
    }
    have_lc = true;
    if (store_reconcile(lc.store, &err) < 0) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        goto out;
    }
    if (rev ? ws_source_rev(&source, lc.repo, lc.state_dir, rev, &err)
            : ws_source_worktree(&source, lc.repo, lc.state_dir, &err)) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        goto out;
    }
    have_source = true;

    /* The project is the nearest directory from DIR up to the repository's top that holds
     * the pipeline file: a repository can hold several projects, each with its own. */
    if (find_project(lc.repo, dir, file, &subdir, &err)) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        goto out;
    }
    /* The pipeline file comes from what is run: the working tree or the commit. */
    struct pl_limits lim;
    pipeline_limits_default(&lim);
    struct buf rel = BUF_INIT, path = BUF_INIT;
    if (subdir.len)
        buf_addf(&rel, "%s/", subdir.data);
    buf_adds(&rel, file);
    buf_addf(&path, "%s/%s", lc.repo, rel.data);
    int rr = rev ? read_at_commit(lc.repo, source.commit, rel.data, lim.max_bytes, &src, &err)
                 : file_read(path.data, lim.max_bytes + 1, &src, &err);
    if (rr) {
        fprintf(stderr, "flywheel run: cannot read the pipeline file %s: %s\n", rel.data, err.data);
        buf_release(&path);
        buf_release(&rel);
        goto out;
    }
    p = pipeline_parse(rel.data, src.data, src.len, &lim, 0, &d);
    diag_render(&d, rel.data, src.data, src.len, cli_color(2), &diagtxt);
    fputs(diagtxt.data, stderr);
    buf_release(&path);
    buf_release(&rel);
    if (!p)
        goto out;

    selected = xcalloc(p->njobs + 1, sizeof(bool));
    const char *ref = source.branch[0] ? source.branch : NULL;
    if (sched_select(p, (const char *const *)argv + optind, (size_t)(argc - optind), event, ref,
                     selected, &err)) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        goto out;
    }
    size_t nsel = 0;
    bool need_bwrap = false;
    for (size_t i = 0; i < p->njobs; i++) {
        if (!selected[i])
            continue;
        nsel++;
        if (isolation == PL_ISO_SANDBOX ||
            (isolation == RUNEXEC_ISO_JOB && p->jobs[i].isolation == PL_ISO_SANDBOX))
            need_bwrap = true;
    }
    if (!nsel) {
        fprintf(stderr, "flywheel run: no job applies to %s runs\n", kind);
        rc = 0;
        goto out;
    }
    if (need_bwrap && !runexec_have_bwrap()) {
        fprintf(stderr, "flywheel run: isolation 'sandbox' needs bubblewrap (bwrap), which is not "
                        "installed; on Debian: sudo apt-get install bubblewrap\n");
        goto out;
    }

    u.p = p;
    u.json = json;
    u.status = json ? stderr : stdout;
    u.tty = !json && isatty(fileno(u.status));
    u.color = cli_color(fileno(u.status));
    u.lines = xcalloc(p->njobs + 1, sizeof(struct buf));
    u.prefix = xcalloc(p->njobs + 1, sizeof(struct buf));
    for (size_t i = 0; i < p->njobs; i++) {
        buf_init(&u.lines[i], 0);
        buf_init(&u.prefix[i], 0);
        buf_addf(&u.prefix[i], "[%s] ", p->jobs[i].name);
        if (selected[i] && strlen(p->jobs[i].name) > u.name_width)
            u.name_width = strlen(p->jobs[i].name);
    }
    if (u.name_width < 3)
        u.name_width = 3;
    if (u.name_width > 40)
        u.name_width = 40;
    buf_init(&u.out, 0);

    uv_loop_init(&loop);
    have_loop = true;
    u.loop = &loop;
    struct runexec_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    local_secrets(p, selected, &secrets, &nsecrets);
    cfg.secrets = secrets;
    cfg.nsecrets = nsecrets;
    cfg.pipeline = p;
    cfg.selected = selected;
    cfg.source = &source;
    cfg.store = lc.store;
    cfg.cas = lc.cas;
    cfg.state_dir = lc.state_dir;
    cfg.subdir = subdir.data;
    cfg.kind = kind;
    cfg.self_exe = exe.data;
    cfg.slots = (int)slots;
    cfg.sched_flags = fail_fast ? SCHED_FAIL_FAST : 0;
    cfg.isolation = isolation;
    cfg.keep = keep;
    cfg.grace_ms = (long)grace_ms;
    cfg.obs.ctx = &u;
    cfg.obs.on_state = on_state;
    cfg.obs.on_output = on_output;
    cfg.obs.on_done = on_done;

    uv_signal_init(&loop, &u.sigint);
    uv_signal_init(&loop, &u.sigterm);
    u.sigint.data = u.sigterm.data = &u;
    if (u.tty) {
        uv_timer_init(&loop, &u.ticker);
        u.ticker.data = &u;
    }
    u.t0 = now_ms();
    if (!json || true) {
        fprintf(u.status,
                "flywheel: running %zu job%s of %s (%s run of %s%s%.12s), %ld at a time\n", nsel,
                nsel == 1 ? "" : "s", p->name ? p->name : lc.repo, kind,
                rev ? rev : "the working tree", rev ? " = " : " at ", source.commit, slots);
        fflush(u.status);
    }
    int start_rc = runexec_start(&u.rx, &loop, &cfg, &err);
    local_secrets_release(secrets, nsecrets); /* runexec has its copy */
    secrets = NULL;
    nsecrets = 0;
    if (start_rc) {
        fprintf(stderr, "flywheel run: %s\n", err.data);
        uv_close((uv_handle_t *)&u.sigint, close_cb);
        uv_close((uv_handle_t *)&u.sigterm, close_cb);
        if (u.tty)
            uv_close((uv_handle_t *)&u.ticker, close_cb);
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out;
    }
    rx = u.rx;
    if (!u.done) {
        uv_signal_start(&u.sigint, on_signal, SIGINT);
        uv_signal_start(&u.sigterm, on_signal, SIGTERM);
        if (u.tty)
            uv_timer_start(&u.ticker, on_tick, 100, 100);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    summary(&u, runexec_run_id(rx), now_ms() - u.t0);
    if (u.interrupted)
        rc = 130;
    else
        rc = u.result == SCHED_PASSED ? 0 : 1;
out:
    fflush(stdout);
    runexec_free(rx);
    if (have_loop)
        uv_loop_close(&loop);
    if (u.lines) {
        for (size_t i = 0; i < p->njobs; i++) {
            buf_release(&u.lines[i]);
            buf_release(&u.prefix[i]);
        }
        free(u.lines);
        free(u.prefix);
    }
    buf_release(&u.out);
    free(selected);
    local_secrets_release(secrets, nsecrets);
    pipeline_free(p);
    if (have_source)
        ws_source_release(&source);
    if (have_lc)
        cli_local_close(&lc);
    diag_list_release(&d);
    buf_release(&err);
    buf_release(&src);
    buf_release(&exe);
    buf_release(&diagtxt);
    buf_release(&subdir);
    return rc;
}
