/*
 * Durations as written in the pipeline file: "90s", "10m", "1h30m", "250ms",
 * "2d". Units in decreasing order, each at most once; no bare numbers (a
 * number without its unit is the most common mistake, so it is an error).
 */
#ifndef FLYWHEEL_CORE_DURATION_H
#define FLYWHEEL_CORE_DURATION_H

#include <stdint.h>

#include "util/buf.h"

/* Maximum accepted: 365 days. */
#define DURATION_MAX_MS (365LL * 24 * 3600 * 1000)

/* Parses s into milliseconds. On error returns -1 and appends a reason to err. */
int duration_parse(const char *s, int64_t *ms, struct buf *err) __attribute__((warn_unused_result));
/* Appends the canonical form of ms ("1h30m", "250ms", "0s"). */
void duration_format(int64_t ms, struct buf *out);

#endif
