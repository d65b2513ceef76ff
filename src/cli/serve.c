/*
 * flywheel serve [--data DIR] [--listen ADDR:PORT] [--slots N] [--poll DURATION]
 *                [--kill-grace DURATION] [--port-file FILE]
 *
 * The server: the engine (engine/engine.h) on this thread's libuv loop, the
 * HTTP API (server/api.h) on libmicrohttpd's threads. SIGTERM or SIGINT stop
 * it gracefully: no new work, running jobs get the grace period, the rest is
 * resumed on the next start. Outgoing webhooks (server/webhook.h) get at most
 * two more seconds to deliver what is queued. Commit statuses to the forges
 * (server/forge_status.h) are kept in the store: what is not sent yet is
 * sent after the next start.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "core/cron.h"
#include "core/duration.h"
#include "engine/engine.h"
#include "server/api.h"
#include "server/config.h"
#include "server/forge.h"
#include "server/forge_status.h"
#include "server/http.h"
#include "server/webhook.h"
#include "store/store.h"
#include "util/fileio.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: flywheel serve [options]\n"
    "\n"
    "Runs the server: watches repositories, runs every push, serves the API.\n"
    "\n"
    "  --data DIR            the data directory (default: ./flywheel-data)\n"
    "  --listen ADDR:PORT    where the API listens (default: 127.0.0.1:8080)\n"
    "  --slots N             jobs at a time, server-wide (default: the number of CPUs)\n"
    "  --poll DURATION       default polling interval of repositories (default: 60s; 0s: none)\n"
    "  --kill-grace DURATION SIGTERM to SIGKILL for jobs, and the shutdown grace (default 10s)\n"
    "  --keep-superseded     do not cancel a change run when its branch gets a newer push\n"
    "  --port-file FILE      write the port listened on to FILE (useful with port 0)\n"
    "  --config FILE         a configuration file (see docs/server.md); options override it\n"
    "  --clock-offset SECS   shift the server's clock by SECS seconds: every time it\n"
    "                        records and every decision by the clock (windows, deadlines,\n"
    "                        schedules), e.g. to try a deployment window; 0 by default\n"
    "  --public-read         reading needs no token (a read-only dashboard)\n"
    "  --rate N              requests per second per token or address (default 50, bursts\n"
    "                        of 4x); over it: 429 with Retry-After\n"
    "\n"
    "Every request but health, the signing key and forge webhooks needs a token\n"
    "(Authorization: Bearer TOKEN). On its first start the server writes an admin\n"
    "token to DATA/admin.token; see `flywheel token --help`.\n";

struct serve {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct engine *engine;
    struct http_server *http;
    struct webhooks *hooks;
    struct forge_status *statuses;
    bool stopping;
};

static void engine_stopped(void *ctx)
{
    struct serve *s = ctx;
    uv_stop(&s->loop);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct serve *s = h->data;
    if (s->stopping)
        return;
    s->stopping = true;
    fprintf(stderr, "flywheel serve: %s: stopping (running jobs get their grace period)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    engine_shutdown(s->engine, engine_stopped, s);
}

/* Every event of the engine: to the outgoing webhooks and the streams that
 * wait for one (those that wait on a run only for that run's); a run's new
 * state also wakes the sender of commit statuses. */
static void on_event(void *ctx, const char *line, size_t len)
{
    struct serve *s = ctx;
    unsigned bit = 0;
    struct http_server *http = __atomic_load_n(&s->http, __ATOMIC_ACQUIRE);
    if (http)
        api_wake_for_event(http, line, len);
    webhooks_event(s->hooks, line, len);
    if (s->statuses) {
        webhook_event_kind(line, len, &bit);
        if (bit == WEBHOOK_RUN)
            forge_status_wake(s->statuses);
    }
}

/* A job of run run_id printed: its live log viewers read on. */
static void on_output(void *ctx, int64_t run_id)
{
    struct serve *s = ctx;
    struct http_server *http = __atomic_load_n(&s->http, __ATOMIC_ACQUIRE);
    if (http)
        api_wake_for_output(http, run_id);
}

/* A status token goes into a header: printable, no spaces. */
static bool token_ok(const struct buf *t)
{
    for (size_t i = 0; i < t->len; i++)
        if (t->data[i] <= ' ' || t->data[i] >= 0x7f)
            return false;
    return t->len > 0;
}

/* The repositories' forges, their secrets and tokens read. Returns 0, or -1
 * after printing why (never a secret). */
static int load_forges(const char *config_file, const struct config *cfg, struct forge_set *set)
{
    struct buf secret = BUF_INIT, err = BUF_INIT;
    int rc = -1;
    set->v = xcalloc(cfg->nrepos + 1, sizeof(*set->v));
    set->public_url = cfg->public_url ? xstrdup(cfg->public_url) : NULL;
    for (size_t i = 0; i < cfg->nrepos; i++) {
        const struct config_forge *cf = cfg->repos[i].forge;
        if (!cf)
            continue;
        struct forge_repo *f = &set->v[set->n++];
        f->repo = xstrdup(cfg->repos[i].name);
        f->kind = (enum forge_kind)cf->kind;
        f->project = cf->project ? xstrdup(cf->project) : NULL;
        f->api_url = xstrdup(cf->api_url ? cf->api_url : forge_default_api_url(f->kind));
        buf_reset(&secret);
        if (cf->secret_file) {
            if (webhook_secret_read(cf->secret_file, &secret, &err)) {
                fprintf(stderr, "%s:%u:%u: error: forge webhook_secret_file: %s\n", config_file,
                        cf->secret_pos.line, cf->secret_pos.col, err.data);
                goto out;
            }
        } else if (cf->secret) {
            buf_adds(&secret, cf->secret);
        }
        if (secret.len) {
            f->secret = xmalloc(secret.len);
            memcpy(f->secret, secret.data, secret.len);
            f->secret_len = secret.len;
        }
        explicit_bzero(secret.data, secret.len);
        buf_reset(&secret);
        if (cf->token_file) {
            if (webhook_secret_read(cf->token_file, &secret, &err)) {
                fprintf(stderr, "%s:%u:%u: error: forge status_token_file: %s\n", config_file,
                        cf->token_pos.line, cf->token_pos.col, err.data);
                goto out;
            }
            if (!token_ok(&secret)) {
                fprintf(stderr,
                        "%s:%u:%u: error: forge status_token_file: %s holds spaces or "
                        "control characters: a token is one word\n",
                        config_file, cf->token_pos.line, cf->token_pos.col, cf->token_file);
                goto out;
            }
        } else if (cf->token) {
            buf_adds(&secret, cf->token);
        }
        if (secret.len)
            f->token = xstrdup(secret.data);
        explicit_bzero(secret.data, secret.len);
        if (f->token && !set->public_url)
            fprintf(stderr,
                    "flywheel serve: %s: repository '%s': the commit statuses will not link to "
                    "the runs: the configuration has no public_url\n",
                    config_file, f->repo);
    }
    rc = 0;
out:
    explicit_bzero(secret.data, secret.len);
    buf_release(&secret);
    buf_release(&err);
    return rc;
}

/* Starts the configuration's webhooks (none: *out stays NULL); their secrets
 * are read here. Returns 0, or -1 after printing why. */
static int start_webhooks(const char *config_file, const struct config *cfg, struct webhooks **out)
{
    struct webhook_target *t = xcalloc(cfg->nwebhooks + 1, sizeof(*t));
    struct buf *secrets = xcalloc(cfg->nwebhooks + 1, sizeof(*secrets));
    struct buf err = BUF_INIT;
    int rc = -1;
    *out = NULL;
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        const struct config_webhook *w = &cfg->webhooks[i];
        buf_init(&secrets[i], 0);
        if (w->secret_file) {
            if (webhook_secret_read(w->secret_file, &secrets[i], &err)) {
                fprintf(stderr, "%s:%u:%u: error: webhook secret_file: %s\n", config_file,
                        w->secret_pos.line, w->secret_pos.col, err.data);
                goto out;
            }
        } else {
            buf_adds(&secrets[i], w->secret);
        }
        t[i].url = w->url;
        t[i].secret = secrets[i].data;
        t[i].secret_len = secrets[i].len;
        t[i].events = w->events;
    }
    if (cfg->nwebhooks && webhooks_start(out, t, cfg->nwebhooks, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        explicit_bzero(secrets[i].data, secrets[i].len);
        buf_release(&secrets[i]);
    }
    free(secrets);
    free(t);
    buf_release(&err);
    return rc;
}

static int read_config(const char *path, struct config *cfg)
{
    struct buf src = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
    struct diag_list d = DIAG_LIST_INIT;
    int rc = -1;
    if (file_read(path, 1 << 20, &src, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    if (config_parse(path, src.data, src.len, cfg, &d)) {
        /* The lines shown never show an inline secret. */
        struct buf shown = BUF_INIT;
        config_redact(src.data, src.len, &shown);
        diag_render(&d, path, shown.data, shown.len, cli_color(2), &out);
        explicit_bzero(shown.data, shown.len);
        buf_release(&shown);
        fputs(out.data, stderr);
        goto out;
    }
    rc = 0;
out:
    diag_list_release(&d);
    buf_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"slots", required_argument, NULL, 's'},
        {"poll", required_argument, NULL, 'p'},
        {"kill-grace", required_argument, NULL, 'g'},
        {"port-file", required_argument, NULL, 'P'},
        {"keep-superseded", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"config", required_argument, NULL, 'c'},
        {"clock-offset", required_argument, NULL, 'O'},
        {"public-read", no_argument, NULL, 'R'},
        {"rate", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *listen = NULL, *port_file = NULL, *config_file = NULL;
    long slots = 0;
    int64_t poll_ms = -1, grace_ms = -1;
    int keep_superseded = -1;
    long long clock_offset_s = 0;
    int public_read = -1;
    long rate = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        struct buf e = BUF_INIT;
        char *end;
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 's':
            errno = 0;
            slots = strtol(optarg, &end, 10);
            if (errno || *end || slots < 1 || slots > 1024) {
                fprintf(stderr, "flywheel serve: --slots wants 1 to 1024\n");
                return 2;
            }
            break;
        case 'p':
        case 'g':
            if (duration_parse(optarg, c == 'p' ? &poll_ms : &grace_ms, &e)) {
                fprintf(stderr, "flywheel serve: %s: %s\n", c == 'p' ? "--poll" : "--kill-grace",
                        e.data);
                buf_release(&e);
                return 2;
            }
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'k':
            keep_superseded = 1;
            break;
        case 'c':
            config_file = optarg;
            break;
        case 'O':
            errno = 0;
            clock_offset_s = strtoll(optarg, &end, 10);
            if (errno || *end || !*optarg || llabs(clock_offset_s) > 100LL * 366 * 86400) {
                fprintf(stderr, "flywheel serve: --clock-offset wants seconds (+/- 100 years)\n");
                return 2;
            }
            break;
        case 'R':
            public_read = 1;
            break;
        case 'r':
            errno = 0;
            rate = strtol(optarg, &end, 10);
            if (errno || *end || rate < 1 || rate > 1000000) {
                fprintf(stderr, "flywheel serve: --rate wants 1 to 1000000\n");
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return 2;
    }

    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.poll_ms = cfg.kill_grace_ms = -1;
    cfg.cancel_superseded = -1; /* as config_parse leaves what a file does not set */
    cfg.fork_sandbox = cfg.fork_network = -1;
    if (config_file && read_config(config_file, &cfg)) {
        config_release(&cfg);
        return 2;
    }
    /* The command line wins over the file, the file over the defaults. */
    if (!data)
        data = cfg.data ? cfg.data : "flywheel-data";
    if (!listen)
        listen = cfg.listen ? cfg.listen : "127.0.0.1:8080";
    if (!slots)
        slots = cfg.slots ? cfg.slots : sysconf(_SC_NPROCESSORS_ONLN);
    if (poll_ms < 0)
        poll_ms = cfg.poll_ms >= 0 ? cfg.poll_ms : 60000;
    if (grace_ms < 0)
        grace_ms = cfg.kill_grace_ms >= 0 ? cfg.kill_grace_ms : 10000;
    if (keep_superseded < 0)
        keep_superseded = cfg.cancel_superseded == 0;
    if (public_read < 0)
        public_read = cfg.public_read == 1;
    if (!rate)
        rate = cfg.rate;

    /* Schedules are checked before anything starts. */
    for (size_t i = 0; i < cfg.nrepos; i++) {
        for (size_t k = 0; k < cfg.repos[i].nschedules; k++) {
            const struct config_schedule *cs = &cfg.repos[i].schedules[k];
            struct cron cr;
            struct buf e = BUF_INIT;
            if (!cs->cron || cron_parse(cs->cron, &cr, &e) ||
                cron_next(&cr, (int64_t)time(NULL), cs->tz_offset_s) < 0) {
                fprintf(stderr, "flywheel serve: %s: repository '%s': schedule '%s': %s\n",
                        config_file, cfg.repos[i].name, cs->cron ? cs->cron : "",
                        e.len ? e.data : "it never fires");
                buf_release(&e);
                config_release(&cfg);
                return 1;
            }
        }
    }

    struct serve s;
    struct buf err = BUF_INIT, exe = BUF_INIT, db = BUF_INIT;
    struct api *api = NULL;
    char *data_abs = NULL;
    int rc = 1;
    memset(&s, 0, sizeof(s));
    if (cli_self_exe(&exe)) {
        fprintf(stderr, "flywheel serve: cannot find this program's path\n");
        return 1;
    }
    if (mkdir(data, 0755) && errno != EEXIST) {
        fprintf(stderr, "flywheel serve: mkdir %s: %s\n", data, strerror(errno));
        buf_release(&exe);
        return 1;
    }
    data_abs = realpath(data, NULL);
    if (!data_abs) {
        fprintf(stderr, "flywheel serve: %s: %s\n", data, strerror(errno));
        buf_release(&exe);
        return 1;
    }
    struct forge_set forges = {0};
    if (load_forges(config_file, &cfg, &forges) || start_webhooks(config_file, &cfg, &s.hooks)) {
        forge_set_release(&forges);
        free(data_abs);
        buf_release(&exe);
        config_release(&cfg);
        return 1;
    }
    uv_loop_init(&s.loop);
    struct engine_config ec = {0};
    ec.data_dir = data_abs;
    ec.self_exe = exe.data;
    ec.slots = (int)slots;
    ec.keep_superseded = keep_superseded;
    ec.grace_ms = (long)grace_ms;
    ec.default_poll_s = (int)(poll_ms / 1000);
    store_set_clock_offset((int64_t)clock_offset_s * 1000);
    ec.fork_no_sandbox = cfg.fork_sandbox == 0;
    ec.fork_network = cfg.fork_network == 1;
    ec.event_sink = on_event;
    ec.output_sink = on_output;
    ec.event_sink_ctx = &s;
    if (engine_open(&s.engine, &s.loop, &ec, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    for (size_t i = 0; i < cfg.nrepos; i++) {
        const struct config_repo *cr = &cfg.repos[i];
        int ps = cr->poll_ms >= 0 ? (int)(cr->poll_ms / 1000) : -1;
        if (engine_repo_ensure(s.engine, cr->name, cr->url, cr->main_branch, ps, &err)) {
            fprintf(stderr, "flywheel serve: %s: repository '%s': %s\n", config_file, cr->name,
                    err.data);
            goto out;
        }
    }
    for (size_t i = 0; i < cfg.nrepos; i++) {
        const struct config_repo *cr = &cfg.repos[i];
        for (size_t k = 0; k < cr->nschedules; k++) {
            const struct config_schedule *cs = &cr->schedules[k];
            if (engine_schedule_add(s.engine, cr->name, cs->cron, cs->ref, cs->tz_offset_s, &err)) {
                fprintf(stderr, "flywheel serve: %s: repository '%s': schedule: %s\n", config_file,
                        cr->name, err.data);
                goto out;
            }
        }
    }
    if (cfg.retention_runs || cfg.retention_age_ms)
        engine_set_retention(s.engine, cfg.retention_runs, cfg.retention_age_ms,
                             cfg.retention_interval_ms ? cfg.retention_interval_ms : 600000);
    buf_addf(&db, "%s/flywheel.db", data_abs);
    /* Before the loop runs: every run from now on gets its statuses. */
    if (forge_status_start(&s.statuses, db.data, &forges, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    api = api_new(s.engine, db.data, data_abs);
    api_auth_configure(api, public_read, (unsigned)rate,
                       cfg.burst ? (unsigned)cfg.burst : (unsigned)rate * 4);
    char *token_file = NULL;
    if (api_auth_bootstrap(db.data, data_abs, &token_file, &err)) {
        fprintf(stderr, "flywheel serve: cannot make the first token: %s\n", err.data);
        goto out;
    }
    if (token_file)
        printf("flywheel serve: an admin token is in %s (readable by you only)\n", token_file);
    free(token_file);
    api_set_forges(api, &forges);
    struct http_config hc = {0};
    hc.listen = listen;
    hc.routes = api_routes();
    hc.ctx = api;
    hc.authorize = api_authorize;
    hc.after = api_audit;
    hc.idle = api_idle;
    hc.threads = 16; /* handlers may wait for the engine (a trigger fetches first) */
    struct http_server *http = NULL;
    if (http_start(&http, &hc, &err)) {
        fprintf(stderr, "flywheel serve: %s\n", err.data);
        goto out;
    }
    __atomic_store_n(&s.http, http, __ATOMIC_RELEASE);
    if (port_file) {
        FILE *f = fopen(port_file, "we");
        if (!f || fprintf(f, "%u\n", http_port(s.http)) < 0 || fclose(f)) {
            fprintf(stderr, "flywheel serve: %s: %s\n", port_file, strerror(errno));
            goto out;
        }
    }
    printf("flywheel serve: listening on http://%s (port %u), data in %s, %ld slot%s\n", listen,
           http_port(s.http), data_abs, slots, slots == 1 ? "" : "s");
    fflush(stdout);
    uv_signal_init(&s.loop, &s.sigterm);
    uv_signal_init(&s.loop, &s.sigint);
    s.sigterm.data = s.sigint.data = &s;
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    rc = 0;
    __atomic_store_n(&s.http, NULL, __ATOMIC_RELEASE);
    http_stop(http);
    webhooks_stop(s.hooks, 2000);  /* the engine emits no more: its loop has ended */
    forge_status_stop(s.statuses); /* what is not sent yet stays in the store */
    fprintf(stderr, "flywheel serve: stopped\n");
    fflush(stderr);
    /* Jobs still running past the grace period are stopped by their leaders
     * when this process exits, and resumed on the next start. */
    _exit(0);
out:
    if (s.http)
        http_stop(s.http);
    if (s.engine) {
        /* The engine's thread pool may be at work for it already (runs
         * adopted again, a repository's first fetch): a server that could
         * not start ends here, as a stopped one does, without freeing what
         * those threads use. What they record is committed or not at all. */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    api_free(api);
    webhooks_stop(s.hooks, 0);
    forge_status_stop(s.statuses);
    forge_set_release(&forges);
    uv_run(&s.loop, UV_RUN_NOWAIT);
    uv_loop_close(&s.loop);
    free(data_abs);
    config_release(&cfg);
    buf_release(&err);
    buf_release(&exe);
    buf_release(&db);
    return rc;
}
