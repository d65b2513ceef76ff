/*
 * flywheel metrics [REPO] [--since 30d] [--env ENV] [--json] [--server URL]
 *
 * The measures of the loop of a repository (every repository without
 * REPO) over the last period: the four DORA measures of its production
 * environment (GET /api/v1/metrics/dora?interval=all), each with its trend
 * against the period of the same length before it; the stage where its
 * releases spent the most time (/metrics/stages); where failures were
 * caught (/metrics/caught); the flakiest jobs (/metrics/flaky). The
 * period ends at the server's clock. --json prints the server's answers
 * together. Exits 0, 1 (the server said no) or 2 (usage, no server), like
 * the other client commands.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/dora.h"
#include "core/duration.h"
#include "util/buf.h"

static const char metrics_usage[] =
    "usage: flywheel metrics [REPO] [--since 30d] [--env ENV] [--json] [--server URL]\n"
    "\n"
    "Prints the measures of the loop of REPO (of every repository without REPO)\n"
    "over the last period (--since, default 30d, up to the server's clock): the\n"
    "four DORA measures (deployment frequency, lead time for changes from the\n"
    "first commit and from the merge, change failure rate, time to restore\n"
    "service), each with its trend against the period of the same length before;\n"
    "the slowest stage of the loop; where failures were caught; the flakiest\n"
    "jobs. ENV (the environment of the DORA measures) defaults to the last\n"
    "environment of the pipeline. --json prints the server's answers.\n";

/* One period's DORA measures: the single bucket of interval=all. */
struct period {
    int64_t deployments, failed, finished;
    bool has_lead, has_lead_c, has_cfr, has_ttr;
    double lead, lead_p90, lead_c, lead_c_p90, cfr, ttr, ttr_p90;
};

static json_t *first(json_t *m, const char *key)
{
    return json_array_get(json_object_get(m, key), 0);
}

static bool num(json_t *o, const char *key, double *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_number(j))
        return false;
    *v = json_number_value(j);
    return true;
}

static const char *str(json_t *o, const char *key)
{
    json_t *j = json_object_get(o, key);
    return json_is_string(j) ? json_string_value(j) : NULL;
}

static bool stat_of(json_t *m, const char *key, double *median, double *p90)
{
    return num(first(m, key), "value", median) && num(first(m, key), "p90", p90);
}

static void period_read(json_t *reply, struct period *p)
{
    json_t *m = json_object_get(reply, "metrics");
    double v = 0;
    memset(p, 0, sizeof(*p));
    if (num(first(m, "deployment_frequency"), "value", &v))
        p->deployments = (int64_t)v;
    p->has_lead = stat_of(m, "lead_time_for_changes", &p->lead, &p->lead_p90);
    p->has_lead_c = stat_of(m, "lead_time_from_first_commit", &p->lead_c, &p->lead_c_p90);
    json_t *c = first(m, "change_failure_rate");
    p->has_cfr = num(c, "value", &p->cfr);
    if (num(c, "failed", &v))
        p->failed = (int64_t)v;
    if (num(c, "deployments", &v))
        p->finished = (int64_t)v;
    p->has_ttr = stat_of(m, "time_to_restore_service", &p->ttr, &p->ttr_p90);
}

static void secs(struct buf *b, double s)
{
    duration_format((int64_t)(s * 1000 + 0.5), b);
}

/* "↑ 2 (was 1)", "↓ 1m3s (was 2m)", "= (was 3)" or "(nothing before)". */
static void trend_num(struct buf *b, bool has_now, double now, bool has_was, double was,
                      bool duration, bool percent)
{
    if (!has_was) {
        buf_adds(b, "(nothing before)");
        return;
    }
    struct buf d = BUF_INIT, w = BUF_INIT;
    double diff = now - was;
    if (duration) {
        secs(&d, diff < 0 ? -diff : diff);
        secs(&w, was);
    } else if (percent) {
        buf_addf(&d, "%.0f points", 100 * (diff < 0 ? -diff : diff));
        buf_addf(&w, "%.0f%%", 100 * was);
    } else {
        buf_addf(&d, "%.0f", diff < 0 ? -diff : diff);
        buf_addf(&w, "%.0f", was);
    }
    if (!has_now)
        buf_addf(b, "(was %s)", w.data);
    else if (diff > 0)
        buf_addf(b, "\u2191 %s (was %s)", d.data, w.data);
    else if (diff < 0)
        buf_addf(b, "\u2193 %s (was %s)", d.data, w.data);
    else
        buf_addf(b, "= (was %s)", w.data);
    buf_release(&d);
    buf_release(&w);
}

/* GET route?repo=REPO&interval=all plus "name=value" pairs (NULL value: skipped). */
static int get(struct client *c, const char *route, const char *repo, json_t **reply,
               const char *const *args)
{
    struct buf err = BUF_INIT, path = BUF_INIT;
    buf_addf(&path, "/api/v1/metrics/%s", route);
    client_query_add(&path, "repo", repo);
    client_query_add(&path, "interval", "all");
    for (size_t i = 0; args && args[i]; i += 2)
        if (args[i + 1])
            client_query_add(&path, args[i], args[i + 1]);
    int rc = client_call(c, "GET", path.data, NULL, reply, &err);
    if (rc)
        fprintf(stderr, "flywheel metrics: %s\n", err.data);
    buf_release(&err);
    buf_release(&path);
    return rc ? client_exit_code(rc) : 0;
}

static int64_t jint(json_t *o, const char *key)
{
    double v = 0;
    return num(o, key, &v) ? (int64_t)v : 0;
}

/* The answers about one repository. */
struct answers {
    json_t *cur, *prev, *stages, *caught, *flaky;
};

static void answers_release(struct answers *a)
{
    json_decref(a->cur);
    json_decref(a->prev);
    json_decref(a->stages);
    json_decref(a->caught);
    json_decref(a->flaky);
    memset(a, 0, sizeof(*a));
}

static int fetch_all(struct client *c, const struct cli_opts *o, const char *repo,
                     const char *since, struct answers *a)
{
    memset(a, 0, sizeof(*a));
    const char *const cur_args[] = {"since", since, "env", o->env, NULL};
    int rc = get(c, "dora", repo, &a->cur, cur_args);
    if (rc)
        return rc;
    /* the rest over the same period, by the server's clock */
    int64_t from = jint(a->cur, "from_ms"), to = jint(a->cur, "to_ms");
    char f[24], t[24], pf[24];
    snprintf(f, sizeof(f), "%" PRId64, from);
    snprintf(t, sizeof(t), "%" PRId64, to);
    snprintf(pf, sizeof(pf), "%" PRId64, from - (to - from));
    const char *const prev_args[] = {"from", pf, "to", f, "env", o->env, NULL};
    const char *const args[] = {"from", f, "to", t, "limit", "1", NULL};
    const char *const flaky_args[] = {"from", f, "to", t, "limit", "3", NULL};
    if (!rc)
        rc = get(c, "dora", repo, &a->prev, prev_args);
    if (!rc)
        rc = get(c, "stages", repo, &a->stages, args);
    if (!rc)
        rc = get(c, "caught", repo, &a->caught, args);
    if (!rc)
        rc = get(c, "flaky", repo, &a->flaky, flaky_args);
    return rc;
}

static void row(const char *what, const char *value, const char *trend)
{
    if (trend)
        printf("  %-28s %-34s %s\n", what, value, trend);
    else
        printf("  %-28s %s\n", what, value);
}

static void print_stat(const char *what, bool has, double median, double p90, bool has_was,
                       double was)
{
    struct buf line = BUF_INIT, tr = BUF_INIT;
    if (has) {
        buf_adds(&line, "median ");
        secs(&line, median);
        buf_adds(&line, ", p90 ");
        secs(&line, p90);
    } else {
        buf_adds(&line, "-");
    }
    trend_num(&tr, has, median, has_was, was, true, false);
    row(what, line.data, tr.data);
    buf_release(&line);
    buf_release(&tr);
}

/* The stage with the longest median over the period. */
static void print_slowest(json_t *stages)
{
    json_t *best = NULL;
    double best_v = -1, v;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(stages, "stages"), i, s)
    {
        json_t *val = json_array_get(json_object_get(s, "values"), 0);
        if (num(val, "value", &v) && v > best_v) {
            best_v = v;
            best = s;
        }
    }
    struct buf line = BUF_INIT;
    if (best) {
        json_t *val = json_array_get(json_object_get(best, "values"), 0);
        double p90 = 0;
        num(val, "p90", &p90);
        buf_addf(&line, "%s: median ", str(best, "name") ? str(best, "name") : "?");
        secs(&line, best_v);
        buf_adds(&line, ", p90 ");
        secs(&line, p90);
        buf_addf(&line, " (%" PRId64 " release%s)", jint(val, "count"),
                 jint(val, "count") == 1 ? "" : "s");
    } else {
        buf_adds(&line, "-");
    }
    row("slowest stage", line.data, NULL);
    buf_release(&line);
}

static const char *caught_words(const char *stage)
{
    static const char *const names[][2] = {
        {"change_runs", "change runs"},
        {"main_runs", "main runs"},
        {"production_waves", "production waves"},
        {"production_monitoring", "production monitoring"},
        {"production_after", "production after"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(stage, names[i][0]))
            return names[i][1];
    return NULL;
}

static void print_caught(json_t *caught)
{
    int64_t total = jint(caught, "total");
    struct buf line = BUF_INIT;
    size_t i;
    json_t *s;
    buf_addf(&line, "%" PRId64 "", total);
    json_array_foreach(json_object_get(caught, "stages"), i, s)
    {
        const char *stage = str(s, "stage") ? str(s, "stage") : "";
        const char *words = caught_words(stage);
        int64_t n = jint(s, "total");
        buf_adds(&line, i ? ", " : ": ");
        if (words)
            buf_adds(&line, words);
        else
            buf_addf(&line, "%s", str(s, "env") ? str(s, "env") : stage);
        buf_addf(&line, " %" PRId64, n);
        if (total && n)
            buf_addf(&line, " (%.0f%%)", 100.0 * (double)n / (double)total);
    }
    row("failures caught", line.data, NULL);
    buf_release(&line);
}

static void print_flaky(json_t *flaky)
{
    struct buf line = BUF_INIT;
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(flaky, "jobs"), i, j)
    {
        int64_t commits = jint(j, "commits"), failures = jint(j, "failures");
        buf_addf(&line, "%s%s: %" PRId64 " commit%s (%" PRId64 " failure%s)", i ? "; " : "",
                 str(j, "job") ? str(j, "job") : "?", commits, commits == 1 ? "" : "s", failures,
                 failures == 1 ? "" : "s");
    }
    row("flaky jobs", line.len ? line.data : "none", NULL);
    buf_release(&line);
}

static void print_repo(const char *repo, int64_t since, struct answers *a)
{
    struct period p, q;
    period_read(a->cur, &p);
    period_read(a->prev, &q);
    int64_t from = jint(a->cur, "from_ms"), to = jint(a->cur, "to_ms");
    struct buf line = BUF_INIT, tr = BUF_INIT, f = BUF_INIT, t = BUF_INIT, per = BUF_INIT;
    dora_format_date(from, &f);
    dora_format_date(to, &t);
    duration_format(since, &per);
    const char *env = str(a->cur, "env");
    printf("%s, %s, the last %s (%s to %s), against the %s before:\n", repo, env ? env : "-",
           per.data, f.data, t.data, per.data);

    double days = (double)since / 86400000.0;
    buf_addf(&line, "%" PRId64 " (%.2f a day)", p.deployments, (double)p.deployments / days);
    trend_num(&tr, true, (double)p.deployments, true, (double)q.deployments, false, false);
    row("deployment frequency", line.data, tr.data);
    print_stat("lead time from first commit", p.has_lead_c, p.lead_c, p.lead_c_p90, q.has_lead_c,
               q.lead_c);
    print_stat("lead time from merge", p.has_lead, p.lead, p.lead_p90, q.has_lead, q.lead);
    buf_reset(&line);
    buf_reset(&tr);
    if (p.has_cfr)
        buf_addf(&line, "%.0f%% (%" PRId64 " of %" PRId64 ")", 100 * p.cfr, p.failed, p.finished);
    else
        buf_adds(&line, "-");
    trend_num(&tr, p.has_cfr, p.cfr, q.has_cfr, q.cfr, false, true);
    row("change failure rate", line.data, tr.data);
    print_stat("time to restore service", p.has_ttr, p.ttr, p.ttr_p90, q.has_ttr, q.ttr);
    print_slowest(a->stages);
    print_caught(a->caught);
    print_flaky(a->flaky);
    buf_release(&line);
    buf_release(&tr);
    buf_release(&f);
    buf_release(&t);
    buf_release(&per);
}

static json_t *answers_json(const char *repo, struct answers *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "repo", json_string(repo));
    json_object_set(o, "dora", a->cur);
    json_object_set(o, "previous", a->prev);
    json_object_set(o, "stages", a->stages);
    json_object_set(o, "caught", a->caught);
    json_object_set(o, "flaky", a->flaky);
    return o;
}

/* The names of every repository of the server. */
static int repo_names(struct client *c, json_t **names)
{
    struct buf err = BUF_INIT;
    json_t *reply = NULL;
    int rc = client_call(c, "GET", "/api/v1/repos", NULL, &reply, &err);
    if (rc) {
        fprintf(stderr, "flywheel metrics: %s\n", err.data);
        buf_release(&err);
        return client_exit_code(rc);
    }
    *names = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "repos"), i, r)
    {
        if (str(r, "name"))
            json_array_append_new(*names, json_string(str(r, "name")));
    }
    json_decref(reply);
    buf_release(&err);
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_parse(argc, argv, metrics_usage, &o, &rc))
        return rc;
    if (argc - optind > 1) {
        fputs(metrics_usage, stderr);
        return 2;
    }
    const char *only = argc - optind == 1 ? argv[optind] : NULL;
    int64_t since = 30LL * 86400 * 1000;
    struct buf err = BUF_INIT;
    if (o.since && (duration_parse(o.since, &since, &err) || since <= 0)) {
        fprintf(stderr, "flywheel metrics: --since %s: %s\n", o.since,
                err.len ? err.data : "must be longer than 0s");
        buf_release(&err);
        return 2;
    }
    buf_release(&err);
    struct buf since_s = BUF_INIT;
    duration_format(since, &since_s);
    struct client *c;
    if (client_open(&c, client_server_url(o.server), &err)) {
        fprintf(stderr, "flywheel metrics: %s\n", err.data);
        buf_release(&err);
        buf_release(&since_s);
        return 2;
    }
    json_t *names = NULL;
    if (only) {
        names = json_array();
        json_array_append_new(names, json_string(only));
    } else {
        rc = repo_names(c, &names);
    }
    json_t *all = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        if (rc)
            break;
        struct answers a;
        const char *repo = json_string_value(name);
        rc = fetch_all(c, &o, repo, since_s.data, &a);
        if (!rc && o.json)
            json_array_append_new(all, answers_json(repo, &a));
        else if (!rc) {
            if (i)
                putchar('\n');
            print_repo(repo, since, &a);
        }
        answers_release(&a);
    }
    if (!rc && o.json) {
        if (only) {
            client_print_json(stdout, json_array_get(all, 0));
        } else {
            json_t *x = json_object();
            json_object_set(x, "repos", all);
            client_print_json(stdout, x);
            json_decref(x);
        }
    } else if (!rc && !only && !json_array_size(names)) {
        printf("no repository\n");
    }
    json_decref(all);
    json_decref(names);
    client_free(c);
    buf_release(&err);
    buf_release(&since_s);
    return rc;
}
