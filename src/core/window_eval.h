/*
 * Deployment windows at a given instant: open or closed, and until when.
 *
 *     int64_t next;
 *     int open = window_open(&env->window, now_ms, &next, &err);
 *     if (open < 0) { report err.data; }
 *     else if (!open) { wait; arm one timer for next (INT64_MAX: none) }
 *
 * The semantics are Argo CD's sync windows: no ranges at all means always
 * open; with allow ranges, open only inside one of them; a deny range
 * closes the window even inside an allow range (deny wins). A range is read
 * in its own time zone, else the window's `timezone`, else UTC, on the
 * local wall clock of that zone at the instant: a range starting at 09:00
 * Europe/Paris opens at 08:00 UTC in winter and 07:00 UTC in summer; one
 * starting inside the hour skipped in spring opens when the clocks go
 * forward. A range that crosses midnight (Fri 22:00-06:00) belongs to the
 * day it starts on: it covers Saturday until 06:00, not Friday until 06:00.
 *
 * Pure: the clock is the caller's (now_ms), and time zones come from
 * tz_get() (never the process-wide TZ), so any thread may call these
 * functions at once. The only state is tz_get()'s cache.
 */
#ifndef FLYWHEEL_CORE_WINDOW_EVAL_H
#define FLYWHEEL_CORE_WINDOW_EVAL_H

#include <stdint.h>

#include "core/pipeline.h"
#include "util/buf.h"

/*
 * Is the window w open at now_ms (Unix milliseconds)? Returns 1 (open) or 0
 * (closed); or -1 with a reason appended to err when one of its time zones
 * cannot be loaded (an unknown zone), and *next_change_ms untouched.
 *
 * next_change_ms, unless NULL, is set to the next instant after now_ms at
 * which the answer changes (whole seconds, in milliseconds), so that the
 * caller can arm one timer instead of polling. Only the next 8 days are
 * searched: INT64_MAX when the answer does not change within them, which
 * for a weekly schedule means never (an empty window; a window that is
 * always closed).
 */
int window_open(const struct pl_window *w, int64_t now_ms, int64_t *next_change_ms, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Appends what the window says at now_ms, for messages: "open until 17:00
 * UTC", "closed until Mon 09:00 Europe/Paris" (the day is named when it is
 * not the current day in that zone; the zone is that of the range that
 * opens or closes then), "open at any time", "closed at all times", or
 * "cannot be evaluated: <reason>".
 */
void window_describe(const struct pl_window *w, int64_t now_ms, struct buf *out);

#endif
