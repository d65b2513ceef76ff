#include "core/cron.h"

#include <stdbool.h>
#include <string.h>

enum cron_field_id { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const wday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct cron_field {
    const char *name;
    int lo, hi;               /* accepted values; day-of-week accepts 7 for Sunday */
    const char *const *names; /* names[i] is the value name_base + i */
    int nnames, name_base;
    const char *names_hint;
} fields[F_COUNT] = {
    {"minute", 0, 59, NULL, 0, 0, NULL},
    {"hour", 0, 23, NULL, 0, 0, NULL},
    {"day-of-month", 1, 31, NULL, 0, 0, NULL},
    {"month", 1, 12, month_names, 12, 1, "a month (1-12 or JAN-DEC)"},
    {"day-of-week", 0, 7, wday_names, 7, 0, "a day of the week (0-7 or SUN-SAT)"},
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

#define NMACROS (sizeof(macros) / sizeof(macros[0]))

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char to_upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* Case-insensitive comparison of s[0..n) with the NUL-terminated word. */
static bool word_eq(const char *s, size_t n, const char *word)
{
    size_t i;
    for (i = 0; i < n && word[i]; i++)
        if (to_upper(s[i]) != to_upper(word[i]))
            return false;
    return i == n && !word[i];
}

/* The values lo, lo+step, ... up to hi, as a mask. */
static uint64_t step_mask(int lo, int hi, int step)
{
    uint64_t m = 0;
    for (int v = lo; v <= hi; v += step)
        m |= 1ULL << v;
    return m;
}

/* Day-of-week 7 is Sunday: store it as 0. */
static uint64_t fold_wday(uint64_t m)
{
    if (m & (1ULL << 7))
        m = (m & ~(1ULL << 7)) | 1ULL;
    return m;
}

/*
 * Reads one value (a number or, where the field has them, a name) at *pp,
 * which ends at end. On success advances *pp past it. item/ilen is the whole
 * list item, quoted in errors.
 */
static int parse_value(const struct cron_field *f, const char **pp, const char *end, int *out,
                       const char *item, size_t ilen, struct buf *err)
{
    const char *p = *pp, *q = p;

    while (q < end && (is_digit(*q) || is_alpha(*q)))
        q++;
    size_t n = (size_t)(q - p);
    if (!n) {
        if (p < end && *p == '?')
            buf_addf(err, "%s: '?' is not supported (use '*')", f->name);
        else if (p < end)
            buf_addf(err, "%s: unexpected '%c' in '%.*s'", f->name, *p, (int)ilen, item);
        else
            buf_addf(err, "%s: a value is missing at the end of '%.*s'", f->name, (int)ilen, item);
        return -1;
    }

    bool digits = true, alpha = true;
    for (const char *s = p; s < q; s++) {
        digits = digits && is_digit(*s);
        alpha = alpha && is_alpha(*s);
    }
    if (digits) {
        long v = 0;
        for (const char *s = p; s < q && v <= f->hi; s++)
            v = v * 10 + (*s - '0');
        if (v < f->lo || v > f->hi) {
            buf_addf(err, "%s: '%.*s' is out of range %d-%d", f->name, (int)n, p, f->lo, f->hi);
            return -1;
        }
        *out = (int)v;
    } else if (alpha && f->names) {
        int i;
        for (i = 0; i < f->nnames; i++)
            if (word_eq(p, n, f->names[i]))
                break;
        if (i == f->nnames) {
            buf_addf(err, "%s: '%.*s' is not %s", f->name, (int)n, p, f->names_hint);
            return -1;
        }
        *out = f->name_base + i;
    } else {
        buf_addf(err, "%s: '%.*s' is not a number", f->name, (int)n, p);
        return -1;
    }
    *pp = q;
    return 0;
}

/* Reads a step after '/': a number in 1..hi (no names). */
static int parse_step(const struct cron_field *f, const char **pp, const char *end, int *out,
                      const char *item, size_t ilen, struct buf *err)
{
    const char *p = *pp, *q = p;
    bool digits = true;
    long v = 0;

    while (q < end && (is_digit(*q) || is_alpha(*q))) {
        digits = digits && is_digit(*q);
        if (digits && v <= f->hi)
            v = v * 10 + (*q - '0');
        q++;
    }
    if (q == p) {
        buf_addf(err, "%s: a step is missing after '/' in '%.*s'", f->name, (int)ilen, item);
        return -1;
    }
    if (!digits) {
        buf_addf(err, "%s: step '%.*s' is not a number", f->name, (int)(q - p), p);
        return -1;
    }
    if (v < 1 || v > f->hi) {
        buf_addf(err, "%s: step '%.*s' is out of range 1-%d", f->name, (int)(q - p), p, f->hi);
        return -1;
    }
    *out = (int)v;
    *pp = q;
    return 0;
}

/* Parses one list item [item, item+ilen) and ORs its values into *mask. */
static int parse_item(const struct cron_field *f, const char *item, size_t ilen, uint64_t *mask,
                      bool *star, struct buf *err)
{
    const char *p = item, *end = item + ilen;
    int a, b, step = 1;
    bool range = false;

    *star = false;
    if (*p == '*') {
        a = f->lo;
        b = f->hi;
        *star = true;
        p++;
    } else {
        if (parse_value(f, &p, end, &a, item, ilen, err) < 0)
            return -1;
        b = a;
        if (p < end && *p == '-') {
            p++;
            if (parse_value(f, &p, end, &b, item, ilen, err) < 0)
                return -1;
            range = true;
        }
    }
    if (p < end && *p == '/') {
        p++;
        if (parse_step(f, &p, end, &step, item, ilen, err) < 0)
            return -1;
        if (!*star && !range)
            b = f->hi; /* N/S: from N to the end of the field */
    }
    if (p < end) {
        if (*p == '?' || *p == '#')
            buf_addf(err, "%s: '%c' in '%.*s' is not supported", f->name, *p, (int)ilen, item);
        else
            buf_addf(err, "%s: unexpected '%.*s' in '%.*s'", f->name, (int)(end - p), p, (int)ilen,
                     item);
        return -1;
    }
    if (a > b) {
        buf_addf(err,
                 "%s: range '%.*s' goes backwards; a range cannot wrap around, write it as "
                 "'%d-%d,%d-%d'",
                 f->name, (int)ilen, item, a, f->hi, f->lo, b);
        return -1;
    }
    *mask |= step_mask(a, b, step);
    return 0;
}

/*
 * Parses one field [s, s+n). *star is set when the field is a single `*` or
 * `*\/S` item, which is what the day rule calls unrestricted.
 */
static int parse_field(const struct cron_field *f, const char *s, size_t n, uint64_t *mask,
                       bool *star, struct buf *err)
{
    const char *p = s, *end = s + n;
    uint64_t m = 0;
    bool item_star = false, single = true;

    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (e == p) {
            buf_addf(err, "%s: an empty item in '%.*s'", f->name, (int)n, s);
            return -1;
        }
        if (parse_item(f, p, (size_t)(e - p), &m, &item_star, err) < 0)
            return -1;
        if (!comma)
            break;
        single = false;
        p = comma + 1;
    }
    *mask = m;
    *star = single && item_star;
    return 0;
}

int cron_parse(const char *expr, struct cron *out, struct buf *err)
{
    const char *p = expr;
    const char *start[F_COUNT];
    size_t len[F_COUNT];
    int n = 0;

    while (is_blank(*p))
        p++;
    if (*p == '@') {
        const char *e = p;
        while (*e && !is_blank(*e))
            e++;
        const char *rest = e;
        while (is_blank(*rest))
            rest++;
        for (size_t i = 0; i < NMACROS; i++) {
            if (!word_eq(p, (size_t)(e - p), macros[i].name))
                continue;
            if (*rest) {
                buf_addf(err, "'%.*s' stands alone: it takes no fields (got '%s')", (int)(e - p), p,
                         rest);
                return -1;
            }
            return cron_parse(macros[i].expr, out, err);
        }
        if (word_eq(p, (size_t)(e - p), "@reboot"))
            buf_adds(err, "'@reboot' is not supported: a schedule needs a time");
        else
            buf_addf(err,
                     "unknown macro '%.*s' (use @hourly, @daily, @midnight, @weekly, @monthly, "
                     "@yearly or @annually)",
                     (int)(e - p), p);
        return -1;
    }
    if (!*p) {
        buf_adds(err, "an empty cron expression");
        return -1;
    }

    while (*p) {
        const char *e = p;
        while (*e && !is_blank(*e))
            e++;
        if (n < F_COUNT) {
            start[n] = p;
            len[n] = (size_t)(e - p);
        }
        n++;
        p = e;
        while (is_blank(*p))
            p++;
    }
    if (n != F_COUNT) {
        buf_addf(err,
                 "'%s' has %d field%s; a cron expression has 5: minute hour day-of-month month "
                 "day-of-week",
                 expr, n, n == 1 ? "" : "s");
        if (n > F_COUNT)
            buf_adds(err, " (seconds, years and time zones are not supported)");
        return -1;
    }

    uint64_t mask[F_COUNT];
    bool star[F_COUNT];
    for (int i = 0; i < F_COUNT; i++)
        if (parse_field(&fields[i], start[i], len[i], &mask[i], &star[i], err) < 0)
            return -1;

    out->minutes = mask[F_MINUTE];
    out->hours = (uint32_t)mask[F_HOUR];
    out->mdays = (uint32_t)mask[F_MDAY];
    out->months = (uint16_t)mask[F_MONTH];
    out->wdays = (uint8_t)fold_wday(mask[F_WDAY]);
    out->flags = (star[F_MDAY] ? CRON_DOM_STAR : 0) | (star[F_WDAY] ? CRON_DOW_STAR : 0);
    return 0;
}

/* Civil-date arithmetic on the proleptic Gregorian calendar (H. Hinnant). */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* The lowest set bit of mask at or above from, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from >= 64)
        return -1;
    mask &= ~0ULL << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

static bool day_matches(const struct cron *c, int mday, int64_t days)
{
    int wday = (int)(days - floor_div(days, 7) * 7 + 4) % 7; /* 1970-01-01 was a Thursday */
    bool dom = c->mdays & (1U << mday);
    bool dow = c->wdays & (1U << wday);
    if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
        return dom && dow;
    return dom || dow;
}

int64_t cron_next(const struct cron *c, int64_t after_s, int tz_offset_s)
{
    /* Only bits a parse can set, so that a bit past the field cannot index past a table. */
    uint64_t minutes = c->minutes & ((1ULL << 60) - 1);
    uint32_t hours = c->hours & ((1U << 24) - 1);
    uint16_t months = c->months & 0x1ffe;

    if (after_s < CRON_TIME_MIN || after_s > CRON_TIME_MAX || tz_offset_s > CRON_MAX_TZ_OFFSET_S ||
        tz_offset_s < -CRON_MAX_TZ_OFFSET_S || !minutes || !hours || !months)
        return -1;

    int64_t minute = floor_div(after_s + tz_offset_s, 60) + 1; /* local minutes since 1970 */
    int64_t days = floor_div(minute, 1440);
    int64_t last_day = days + CRON_HORIZON_DAYS;
    int hour = (int)(minute - days * 1440) / 60;
    int min = (int)(minute - days * 1440) % 60;
    int64_t y;
    int mon, mday;

    civil_from_days(days, &y, &mon, &mday);
    while (days <= last_day) {
        if (!(months & (1U << mon))) {
            int next = next_bit(months, mon + 1);
            if (next < 0) {
                y++;
                next = next_bit(months, 1);
            }
            mon = next;
            mday = 1;
            days = days_from_civil(y, mon, mday);
            hour = min = 0;
            continue;
        }
        if (day_matches(c, mday, days)) {
            int h = next_bit(hours, hour);
            int m = h < 0 ? -1 : next_bit(minutes, h == hour ? min : 0);
            if (h >= 0 && m < 0) {
                /* No minute left in hour h: the first minute of the next hour that matches. */
                h = next_bit(hours, h + 1);
                m = next_bit(minutes, 0);
            }
            if (h >= 0)
                return (days * 1440 + h * 60 + m) * 60 - tz_offset_s;
        }
        /* Nothing left today: the next day, at 00:00. */
        days++;
        hour = min = 0;
        if (++mday > days_in_month(y, mon)) {
            mday = 1;
            if (++mon > 12) {
                mon = 1;
                y++;
            }
        }
    }
    return -1;
}

/* Appends the values of mask in [lo, hi] as a list, with runs of 3+ as A-B. */
static void format_list(uint64_t mask, int lo, int hi, struct buf *out)
{
    bool first = true;
    for (int v = lo; v <= hi; v++) {
        if (!(mask & (1ULL << v)))
            continue;
        int e = v;
        while (e + 1 <= hi && (mask & (1ULL << (e + 1))))
            e++;
        if (!first)
            buf_addch(out, ',');
        first = false;
        if (e - v >= 2) {
            buf_addf(out, "%d-%d", v, e);
            v = e;
        } else {
            buf_addf(out, "%d", v);
        }
    }
}

/*
 * Appends one field. `*` and `*\/S` are used where they give back the same
 * set; for the day fields they also decide the day rule, so they are used
 * exactly when the field was written that way (star).
 */
static void format_field(enum cron_field_id id, uint64_t mask, bool star, struct buf *out)
{
    const struct cron_field *f = &fields[id];
    bool day = id == F_MDAY || id == F_WDAY;

    if (!day || star) {
        for (int step = 1; step <= f->hi; step++) {
            uint64_t m = step_mask(f->lo, f->hi, step);
            if (id == F_WDAY)
                m = fold_wday(m);
            if (m != mask)
                continue;
            /* A lone value reads better as itself, unless the day rule needs the star. */
            if (!day && step > 1 && !(m & (m - 1)))
                break;
            if (step == 1)
                buf_addch(out, '*');
            else
                buf_addf(out, "*/%d", step);
            return;
        }
    }
    format_list(mask, f->lo, id == F_WDAY ? 6 : f->hi, out);
}

void cron_format(const struct cron *c, struct buf *out)
{
    format_field(F_MINUTE, c->minutes, false, out);
    buf_addch(out, ' ');
    format_field(F_HOUR, c->hours, false, out);
    buf_addch(out, ' ');
    format_field(F_MDAY, c->mdays, c->flags & CRON_DOM_STAR, out);
    buf_addch(out, ' ');
    format_field(F_MONTH, c->months, false, out);
    buf_addch(out, ' ');
    format_field(F_WDAY, c->wdays, c->flags & CRON_DOW_STAR, out);
}
