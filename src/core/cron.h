/*
 * cron: schedules written as users know them from crontab(5), GitHub
 * Actions' `on.schedule.cron` and GitLab pipeline schedules.
 *
 * Calling sequence:
 *
 *     struct cron c;
 *     struct buf err = BUF_INIT;
 *     if (cron_parse("30 9 * * MON-FRI", &c, &err) < 0)
 *         report err.data;
 *     int64_t t = cron_next(&c, now_s, tz_offset_s);   // -1: never fires
 *     cron_format(&c, &out);                           // "30 9 * * 1-5"
 *
 * Syntax: five fields separated by blanks,
 *
 *     minute        0-59
 *     hour          0-23
 *     day-of-month  1-31
 *     month         1-12 or JAN-DEC
 *     day-of-week   0-7 or SUN-SAT (0 and 7 are both Sunday)
 *
 * each a comma-separated list of `*`, `N`, `A-B`, `*\/S`, `A-B/S` or `N/S`
 * (N/S means N-max/S; the backslash in `*\/S` only keeps this comment
 * open). Names are case-insensitive and may be range ends ("MON-FRI") but
 * not steps. A range may not go backwards ("22-2"). A whole
 * expression may instead be one of the macros @hourly, @daily, @midnight,
 * @weekly, @monthly, @yearly, @annually (case-insensitive). There is no
 * seconds field, no year field, no trailing time zone (the caller passes an
 * offset to cron_next), and no Quartz extensions (?, L, W, #).
 *
 * Day rule (Vixie cron, cronie): when both day fields are restricted, a day
 * matches if EITHER matches ("0 0 1 * MON" fires on the 1st and on every
 * Monday); when one is unrestricted, both must match. A day field counts as
 * unrestricted when it is written as exactly `*` or `*\/S`; as in Vixie
 * cron this holds even for a step, so "0 0 *\/2 * MON" fires on Mondays that
 * fall on an odd day of the month. "1-31" is restricted, even though it
 * covers every day.
 *
 * Everything here is pure: no I/O, no clock, no locale, no TZ environment.
 * Any thread may call any function; a parsed struct cron is read-only.
 */
#ifndef FLYWHEEL_CORE_CRON_H
#define FLYWHEEL_CORE_CRON_H

#include <stdint.h>

#include "util/buf.h"

enum cron_flags {
    CRON_DOM_STAR = 1 << 0, /* day-of-month written as `*` or `*\/S` */
    CRON_DOW_STAR = 1 << 1, /* day-of-week written as `*` or `*\/S` */
};

/*
 * A parsed schedule: one bit per value that matches. Filled by cron_parse();
 * the fields are exposed so that callers may compare schedules (field
 * by field: the struct has padding), but only a struct that cron_parse()
 * filled is valid input to the other functions.
 */
struct cron {
    uint64_t minutes; /* bits 0..59 */
    uint32_t hours;   /* bits 0..23 */
    uint32_t mdays;   /* bits 1..31 */
    uint16_t months;  /* bits 1..12 */
    uint8_t wdays;    /* bits 0..6, 0 = Sunday (a 7 is stored as 0) */
    unsigned flags;   /* enum cron_flags */
};

/* How far cron_next() looks ahead: a little over five years. */
#define CRON_HORIZON_DAYS (5 * 366)
/* The largest |tz_offset_s| cron_next() accepts: 18 hours, as in ISO 8601. */
#define CRON_MAX_TZ_OFFSET_S (18 * 3600)
/* The instants cron_next() accepts as after_s: 0001-01-01 to 9999-12-31 UTC. */
#define CRON_TIME_MIN (-62135596800LL)
#define CRON_TIME_MAX (253402300799LL)

/*
 * Parses expr into *out. Leading and trailing blanks are ignored. Returns 0,
 * or -1 with *out untouched and a reason appended to err that names the
 * field and quotes the bad text ("hour: '24' is out of range 0-23").
 */
int cron_parse(const char *expr, struct cron *out, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * The first whole minute strictly after after_s (Unix seconds) at which c
 * fires, reading c in the local time UTC + tz_offset_s (a fixed offset: no
 * daylight saving). Returns Unix seconds (a multiple of 60 when the offset
 * is whole minutes), or -1 if c does not fire within CRON_HORIZON_DAYS
 * ("0 0 31 2 *" never does) or if after_s or tz_offset_s is outside the
 * limits above. (-1 is never a firing time when the offset is whole
 * minutes, since firing times are then multiples of 60.)
 *
 * Cost: proportional to the number of days examined, not minutes; months
 * that cannot match are skipped whole.
 */
int64_t cron_next(const struct cron *c, int64_t after_s, int tz_offset_s);

/*
 * Appends the canonical form of c: five numeric fields, with `*`, `*\/S`,
 * ranges of three or more values as A-B, and Sunday as 0. Macros come out
 * expanded ("@daily" -> "0 0 * * *"). cron_parse() of the result gives back
 * an equal struct cron.
 */
void cron_format(const struct cron *c, struct buf *out);

#endif
