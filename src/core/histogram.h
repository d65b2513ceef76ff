/*
 * histogram: a Prometheus histogram of durations, as /metrics serves it.
 * Pure: observations go into a plain struct (no locking; the owner keeps it
 * under its own lock), and hist_format() writes the text exposition lines.
 *
 * The buckets are fixed (HIST_BOUNDS_MS, then +Inf), chosen for CI jobs:
 * from 10 ms (`true` with checkout: false) to an hour. Counts are kept per
 * bucket and written cumulative, as the format wants; the sum is kept in
 * whole milliseconds so that it never drifts.
 */
#ifndef FLYWHEEL_CORE_HISTOGRAM_H
#define FLYWHEEL_CORE_HISTOGRAM_H

#include <stdint.h>

#include "util/buf.h"

#define HIST_NBOUNDS 13
/* Upper bounds in ms of every bucket but the last (+Inf), increasing. */
extern const int64_t hist_bounds_ms[HIST_NBOUNDS];

struct hist {
    uint64_t bucket[HIST_NBOUNDS + 1]; /* observations in (bound[i-1], bound[i]]; the last: +Inf */
    uint64_t count;
    int64_t sum_ms;
};

/* Adds one observation of ms (a negative one counts as 0). */
void hist_observe(struct hist *h, int64_t ms);

/*
 * Appends the samples of h in seconds: NAME_bucket{LABELS,le="0.01"} N for
 * each bound and le="+Inf", then NAME_sum{LABELS} and NAME_count{LABELS}.
 * labels is the text between braces without them ("state=\"passed\""), or
 * "" for none. The # HELP and # TYPE lines are the caller's (once per name).
 */
void hist_format(const struct hist *h, const char *name, const char *labels, struct buf *out);

#endif
