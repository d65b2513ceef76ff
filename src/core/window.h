/*
 * Deployment windows: "Mon-Fri 09:00-17:00 UTC", "Sat,Sun", "daily 22:00-06:00
 * Europe/Paris". Days (Mon..Sun, ranges and lists, or daily / weekdays /
 * weekends / *), an optional time range (an end of 24:00 or 00:00 is
 * midnight at the end of the day; an end before the start crosses midnight),
 * an optional time zone (UTC, +HH:MM, or an IANA name such as Europe/Paris).
 * Words are separated by blanks, so ranges and lists are written without
 * them ("Mon-Fri", not "Mon - Fri", which is refused with that advice).
 * Parsing only; core/window_eval.h says whether a window is open.
 */
#ifndef FLYWHEEL_CORE_WINDOW_H
#define FLYWHEEL_CORE_WINDOW_H

#include "util/buf.h"

struct window_range {
    unsigned days; /* bit 0 = Monday ... bit 6 = Sunday */
    int start_min; /* minutes after midnight, 0..1439 */
    int end_min;   /* 1..1440; end <= start crosses midnight */
    char tz[64];   /* "" = the window's default time zone */
};

/* Parses s into *r. Returns 0; or -1 with a reason appended to err (the reason
 * names the word at fault: "'Fry' is not a day: ..."). */
int window_range_parse(const char *s, struct window_range *r, struct buf *err)
    __attribute__((warn_unused_result));
/* Checks a time zone name's shape (not that the zone exists). */
int window_tz_check(const char *tz, struct buf *err) __attribute__((warn_unused_result));
/* Appends the canonical form: "Mon-Fri 09:00-17:00 UTC". */
void window_range_format(const struct window_range *r, struct buf *out);

#endif
