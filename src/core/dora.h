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
 * The measures, per bucket (the exact definitions, with examples, are in
 * docs/metrics.md):
 *
 *  - deployment frequency: deployments of kind deploy into env that
 *    succeeded, by the time they finished;
 *  - lead time for changes, two of them, for each of those: finished -
 *    commit_ms (the first commit of the change, when recorded) and
 *    finished - merge_ms (the change reached the main branch: the server
 *    saw the push; release_ms when that is not recorded), median and 90th
 *    percentile in seconds; a commit dated after its deployment counts 0;
 *  - change failure rate: of the deployments of kind deploy into env that
 *    finished (succeeded, failed, or cancelled after they had started: only
 *    a rollback cancels a running deployment), those that failed, were
 *    cancelled that way, opened an incident (any incident given, whenever
 *    it opened), or were rolled back (a rollback given, whenever it ran,
 *    names them in rolls_back). A rollback of a rollback adds nothing: a
 *    rollback is not counted itself, and the deployment the first one
 *    reverted stays a failure;
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
 * Buckets follow calendar boundaries in the time zone of the parameters
 * (UTC without one): a day from its first instant (midnight, or the end of
 * a gap when the clock jumps over midnight), a week from Monday, a month
 * from its first day; so a day of a zone with daylight saving time may last
 * 23 or 25 hours. The first bucket starts at the boundary at or before from
 * and the last ends at the first boundary at or after to, but only records
 * in [from, to) count. DORA_ALL is one bucket, [from, to). The other
 * measures of the loop (core/stages.h, core/caught.h) use the same buckets
 * (dora_spans).
 */
#ifndef FLYWHEEL_CORE_DORA_H
#define FLYWHEEL_CORE_DORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tz.h"
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
    bool rollback;      /* kind rollback: never counted itself */
    int64_t rolls_back; /* a rollback: the deployment it reverts (0: none known) */
    enum dora_state state;
    int64_t created_ms, finished_ms;
    /* The change: its first commit (0: not recorded), when it reached the
     * main branch (the push the server saw; 0: not recorded), the release's
     * creation. */
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
    const struct tz *tz; /* the zone of the calendar boundaries; NULL: UTC */
};

/* One bucket's bounds: [start_ms, end_ms). */
struct dora_span {
    int64_t start_ms, end_ms;
};

struct dora_stat {
    bool has; /* false: no data in the bucket */
    size_t n;
    double median_s, p90_s;
};

struct dora_bucket {
    int64_t start_ms, end_ms;          /* the bucket's calendar bounds */
    int64_t deployments;               /* frequency */
    struct dora_stat lead_time;        /* from the merge (the push to the main branch) */
    struct dora_stat lead_time_commit; /* from the first commit of the change */
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

/*
 * The buckets of p alone: *out (malloc'd) gets *n >= 1 spans, oldest first.
 * Returns -1 with a reason in err (and *out NULL) as dora_compute() does.
 */
int dora_spans(const struct dora_params *p, struct dora_span **out, size_t *n, struct buf *err)
    __attribute__((warn_unused_result));
/* The index of the span of s[0..n) (from dora_spans(p)) holding ms, or -1 when ms is
 * outside [from, to). */
long dora_span_index(const struct dora_params *p, const struct dora_span *s, size_t n, int64_t ms);

/* The median and 90th percentile of v[0..n) (seconds; sorted in place); s->has false when
 * n is 0. */
void dora_stat_of(double *v, size_t n, struct dora_stat *s);

/* The value at p (0..1) of the sorted v[0..n), n >= 1, interpolated linearly. */
double dora_percentile(const double *sorted, size_t n, double p);

/* "day", "week", "month", "all"; -1 for anything else. */
int dora_interval_parse(const char *s);
const char *dora_interval_name(enum dora_interval i);

/*
 * A time: milliseconds since the epoch (digits only), or ISO 8601 in UTC or
 * with an offset: "2026-11-26", "2026-11-26T09:30", "2026-11-26T09:30:15Z",
 * "2026-11-26T09:30:15.250+01:00". A time without an offset (a date alone
 * is its first instant) is in zone tz, UTC when tz is NULL; a local time
 * the clock skips (a gap) is read with the offset before the gap, as
 * mktime() does. Returns 0, or -1 with a reason in err.
 */
int dora_parse_time(const char *s, int64_t *ms, struct buf *err)
    __attribute__((warn_unused_result));
int dora_parse_time_tz(const char *s, const struct tz *tz, int64_t *ms, struct buf *err)
    __attribute__((warn_unused_result));
/* Appends "YYYY-MM-DD" of the UTC day of ms; _tz: of its day in zone tz (NULL: UTC). */
void dora_format_date(int64_t ms, struct buf *out);
void dora_format_date_tz(int64_t ms, const struct tz *tz, struct buf *out);

#endif
