/*
 * dora: the four DORA measures of one environment (production: the last
 * environment of the pipeline; the caller says which) over a period, per
 * interval. Pure: the caller loads the records (store_dora_load), this
 * module only computes.
 *
 *     struct dora_params p = {.env = "production", .from_ms = ..., .to_ms = ...,
 *                             .interval = DORA_WEEK};
 *     struct dora_bucket *b; size_t n;
 *     if (dora_compute(&p, deps, ndeps, incidents, nincidents, &b, &n, &err)) ...
 *     ... b[i] for each bucket, oldest first ...
 *     free(b);
 *
 * The measures, per bucket:
 *
 *  - deployment frequency: deployments of kind deploy into env that
 *    succeeded, by the time they finished;
 *  - lead time for changes: for each of those, finished - merge_ms (the
 *    push that started the run which made the release), median and 90th
 *    percentile in seconds;
 *  - change failure rate: of the deployments of kind deploy into env that
 *    finished (succeeded, failed, or cancelled after they had started: only
 *    a rollback cancels a running deployment), those that failed, were
 *    cancelled that way, or opened an incident (any incident given,
 *    whenever it opened);
 *  - time to restore service: closed - opened of the incidents of env
 *    opened in the bucket and closed (an incident is counted in the bucket
 *    where it opened, however long it lasts); median and 90th percentile in
 *    seconds. An open incident is not in it (its deployment still counts as
 *    a failure).
 *
 * A bucket without data has no value (has_* false: null in JSON, not 0),
 * except the frequency, which is 0. Percentiles interpolate linearly
 * between the closest ranks (p = 0.5 of an even count is the mean of the
 * two middle values).
 *
 * Buckets follow UTC calendar boundaries: a day from midnight, a week from
 * Monday, a month from its first day; the first bucket starts at the
 * boundary at or before from and the last ends at the first boundary at or
 * after to, but only records in [from, to) count. DORA_ALL is one bucket,
 * [from, to).
 */
#ifndef FLYWHEEL_CORE_DORA_H
#define FLYWHEEL_CORE_DORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum dora_interval { DORA_DAY, DORA_WEEK, DORA_MONTH, DORA_ALL };

/* At most this many buckets in one computation (a day's buckets over ~5 years). */
#define DORA_MAX_BUCKETS 2000

enum dora_state {
    DORA_OTHER,     /* queued, active, rejected at approval, superseded, cancelled unstarted */
    DORA_SUCCEEDED, /* a succeeded deployment */
    DORA_FAILED,    /* a failed one (rolled back by the server) */
    DORA_CANCELLED, /* cancelled after it had started: by a rollback */
};

struct dora_deployment {
    int64_t id;
    const char *env;
    bool rollback; /* kind rollback: never counted itself */
    enum dora_state state;
    int64_t created_ms, finished_ms;
    /* The change: the first commit (0: not recorded yet), the push that
     * started the run which made the release, the release's creation. */
    int64_t commit_ms, merge_ms, release_ms;
};

struct dora_incident {
    int64_t id, deployment_id;
    const char *env;
    int64_t opened_ms, closed_ms; /* closed_ms 0: still open */
};

struct dora_params {
    const char *env;
    int64_t from_ms, to_ms; /* [from, to), from < to */
    enum dora_interval interval;
};

struct dora_stat {
    bool has; /* false: no data in the bucket */
    size_t n;
    double median_s, p90_s;
};

struct dora_bucket {
    int64_t start_ms, end_ms; /* the bucket's calendar bounds */
    int64_t deployments;      /* frequency */
    struct dora_stat lead_time;
    bool has_failure_rate;
    int64_t failed, finished;
    double failure_rate; /* failed / finished */
    struct dora_stat restore;
};

/*
 * Computes the buckets of p over the records (any order; records of other
 * environments or outside the period are ignored). On success returns 0
 * and *out (malloc'd, the caller frees it) with *n >= 1 buckets, oldest
 * first. Returns -1 with a reason in err when from >= to or the period
 * needs more than DORA_MAX_BUCKETS buckets; *out is then NULL.
 */
int dora_compute(const struct dora_params *p, const struct dora_deployment *deps, size_t ndeps,
                 const struct dora_incident *incs, size_t nincs, struct dora_bucket **out,
                 size_t *n, struct buf *err) __attribute__((warn_unused_result));

/* The value at p (0..1) of the sorted v[0..n), n >= 1, interpolated linearly. */
double dora_percentile(const double *sorted, size_t n, double p);

/* "day", "week", "month", "all"; -1 for anything else. */
int dora_interval_parse(const char *s);
const char *dora_interval_name(enum dora_interval i);

/*
 * A time: milliseconds since the epoch (digits only), or ISO 8601 in UTC or
 * with an offset: "2026-11-26", "2026-11-26T09:30", "2026-11-26T09:30:15Z",
 * "2026-11-26T09:30:15.250+01:00" (a date alone is its midnight, UTC).
 * Returns 0, or -1 with a reason in err.
 */
int dora_parse_time(const char *s, int64_t *ms, struct buf *err)
    __attribute__((warn_unused_result));
/* Appends "YYYY-MM-DD" of the UTC day of ms. */
void dora_format_date(int64_t ms, struct buf *out);

#endif
