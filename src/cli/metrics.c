/*
 * flywheel metrics REPO [--since 30d] [--env ENV] [--json] [--server URL]
 *
 * The four DORA measures of a repository's production environment over the
 * last period (GET /api/v1/metrics/dora?interval=all), each with its trend
 * against the period of the same length before it. --json prints the
 * server's answer for the period. Exits 0, 1 (the server said no) or 2
 * (usage, no server), like the other client commands.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/dora.h"
#include "core/duration.h"
#include "util/buf.h"

static const char metrics_usage[] =
    "usage: flywheel metrics REPO [--since 30d] [--env ENV] [--json] [--server URL]\n"
    "\n"
    "Prints the four DORA measures of REPO over the last period (--since, default\n"
    "30d): deployment frequency, lead time for changes (push to production),\n"
    "change failure rate and time to restore service, each with its trend against\n"
    "the period of the same length before. ENV defaults to the last environment of\n"
    "the pipeline. --json prints the server's answer for the period.\n";

/* One period's measures: the single bucket of interval=all. */
struct period {
    int64_t deployments, failed, finished;
    bool has_lead, has_cfr, has_ttr;
    double lead, lead_p90, cfr, ttr, ttr_p90;
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

static void period_read(json_t *reply, struct period *p)
{
    json_t *m = json_object_get(reply, "metrics");
    double v = 0, p90 = 0;
    memset(p, 0, sizeof(*p));
    if (num(first(m, "deployment_frequency"), "value", &v))
        p->deployments = (int64_t)v;
    p->has_lead = num(first(m, "lead_time_for_changes"), "value", &p->lead) &&
                  num(first(m, "lead_time_for_changes"), "p90", &p->lead_p90);
    json_t *c = first(m, "change_failure_rate");
    p->has_cfr = num(c, "value", &p->cfr);
    if (num(c, "failed", &v))
        p->failed = (int64_t)v;
    if (num(c, "deployments", &v))
        p->finished = (int64_t)v;
    p->has_ttr = num(first(m, "time_to_restore_service"), "value", &p->ttr) &&
                 num(first(m, "time_to_restore_service"), "p90", &p90);
    p->ttr_p90 = p90;
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

static int fetch(const struct cli_opts *o, const char *repo, int64_t from, int64_t to,
                 json_t **reply)
{
    struct client *c;
    struct buf err = BUF_INIT, path = BUF_INIT, num_ = BUF_INIT;
    if (client_open(&c, client_server_url(o->server), &err)) {
        fprintf(stderr, "flywheel metrics: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    buf_adds(&path, "/api/v1/metrics/dora");
    client_query_add(&path, "repo", repo);
    client_query_add(&path, "interval", "all");
    buf_addf(&num_, "%" PRId64, from);
    client_query_add(&path, "from", num_.data);
    buf_reset(&num_);
    buf_addf(&num_, "%" PRId64, to);
    client_query_add(&path, "to", num_.data);
    if (o->env)
        client_query_add(&path, "env", o->env);
    int rc = client_call(c, "GET", path.data, NULL, reply, &err);
    if (rc)
        fprintf(stderr, "flywheel metrics: %s\n", err.data);
    client_free(c);
    buf_release(&err);
    buf_release(&path);
    buf_release(&num_);
    return rc ? client_exit_code(rc) : 0;
}

int cmd_metrics(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, metrics_usage, 1, &o, &rc))
        return rc;
    const char *repo = argv[optind];
    int64_t since = 30LL * 86400 * 1000;
    struct buf err = BUF_INIT;
    if (o.since && (duration_parse(o.since, &since, &err) || since <= 0)) {
        fprintf(stderr, "flywheel metrics: --since %s: %s\n", o.since,
                err.len ? err.data : "must be longer than 0s");
        buf_release(&err);
        return 2;
    }
    buf_release(&err);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    json_t *cur = NULL, *prev = NULL;
    rc = fetch(&o, repo, now - since, now, &cur);
    if (!rc && o.json) {
        client_print_json(stdout, cur);
        json_decref(cur);
        return 0;
    }
    if (!rc)
        rc = fetch(&o, repo, now - 2 * since, now - since, &prev);
    if (rc) {
        json_decref(cur);
        return rc;
    }
    struct period p, q;
    period_read(cur, &p);
    period_read(prev, &q);
    struct buf line = BUF_INIT, tr = BUF_INIT, from = BUF_INIT, to = BUF_INIT, per = BUF_INIT;
    dora_format_date(now - since, &from);
    dora_format_date(now, &to);
    duration_format(since, &per);
    json_t *env = json_object_get(cur, "env");
    printf("%s, %s, the last %s (%s to %s), against the %s before:\n", repo,
           json_is_string(env) ? json_string_value(env) : "-", per.data, from.data, to.data,
           per.data);

    double days = (double)since / 86400000.0;
    buf_addf(&line, "%" PRId64 " (%.2f a day)", p.deployments, (double)p.deployments / days);
    trend_num(&tr, true, (double)p.deployments, true, (double)q.deployments, false, false);
    printf("  %-24s %-32s %s\n", "deployment frequency", line.data, tr.data);

    buf_reset(&line);
    buf_reset(&tr);
    if (p.has_lead) {
        buf_adds(&line, "median ");
        secs(&line, p.lead);
        buf_adds(&line, ", p90 ");
        secs(&line, p.lead_p90);
    } else {
        buf_adds(&line, "-");
    }
    trend_num(&tr, p.has_lead, p.lead, q.has_lead, q.lead, true, false);
    printf("  %-24s %-32s %s\n", "lead time for changes", line.data, tr.data);

    buf_reset(&line);
    buf_reset(&tr);
    if (p.has_cfr)
        buf_addf(&line, "%.0f%% (%" PRId64 " of %" PRId64 ")", 100 * p.cfr, p.failed, p.finished);
    else
        buf_adds(&line, "-");
    trend_num(&tr, p.has_cfr, p.cfr, q.has_cfr, q.cfr, false, true);
    printf("  %-24s %-32s %s\n", "change failure rate", line.data, tr.data);

    buf_reset(&line);
    buf_reset(&tr);
    if (p.has_ttr) {
        buf_adds(&line, "median ");
        secs(&line, p.ttr);
        buf_adds(&line, ", p90 ");
        secs(&line, p.ttr_p90);
    } else {
        buf_adds(&line, "-");
    }
    trend_num(&tr, p.has_ttr, p.ttr, q.has_ttr, q.ttr, true, false);
    printf("  %-24s %-32s %s\n", "time to restore service", line.data, tr.data);

    buf_release(&line);
    buf_release(&tr);
    buf_release(&from);
    buf_release(&to);
    buf_release(&per);
    json_decref(cur);
    json_decref(prev);
    return 0;
}
