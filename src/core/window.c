#include "core/window.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_long[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};

static int parse_day(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++) {
        if ((n == 3 && !strncasecmp(s, day_names[i], 3)) ||
            (n == strlen(day_long[i]) && !strncasecmp(s, day_long[i], n)))
            return i;
    }
    return -1;
}

static int parse_days(const char *s, size_t n, unsigned *days, struct buf *err)
{
    if ((n == 1 && s[0] == '*') || (n == 5 && !strncasecmp(s, "daily", 5))) {
        *days = 0x7f;
        return 0;
    }
    if (n == 8 && !strncasecmp(s, "weekdays", 8)) {
        *days = 0x1f;
        return 0;
    }
    if (n == 8 && !strncasecmp(s, "weekends", 8)) {
        *days = 0x60;
        return 0;
    }
    *days = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        /* one item: Day or Day-Day */
        const char *dash = memchr(s + i, '-', j - i);
        int a, b;
        if (dash) {
            a = parse_day(s + i, (size_t)(dash - (s + i)));
            b = parse_day(dash + 1, (size_t)(s + j - dash - 1));
        } else {
            a = b = parse_day(s + i, j - i);
        }
        if (a < 0 || b < 0) {
            /* Name the bad end of a range whose other end is a day ("Fry" in
             * "Mon-Fry"); else the whole item ("Mon-", "Mon-Tue-Wed", "09:00-17:00"). */
            const char *bad = s + i;
            size_t nbad = j - i;
            if (dash && (a < 0) != (b < 0) && dash > s + i && dash + 1 < s + j &&
                !memchr(dash + 1, '-', (size_t)(s + j - dash - 1))) {
                bad = a < 0 ? s + i : dash + 1;
                nbad = a < 0 ? (size_t)(dash - (s + i)) : (size_t)(s + j - dash - 1);
            }
            buf_addf(err,
                     "'%.*s' is not a day: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges "
                     "like Mon-Fri, or daily, weekdays, weekends",
                     (int)nbad, bad);
            return -1;
        }
        for (int d = a;; d = (d + 1) % 7) {
            *days |= 1u << d;
            if (d == b)
                break;
        }
        i = j + 1;
        if (j < n && i >= n) {
            buf_adds(err, "a day list ends with ','");
            return -1;
        }
    }
    return 0;
}

static int parse_hhmm(const char *s, size_t n, int *min)
{
    if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m))
        return -1;
    *min = h * 60 + m;
    return 0;
}

int window_tz_check(const char *tz, struct buf *err)
{
    size_t n = strlen(tz);
    if (!strcmp(tz, "UTC") || !strcmp(tz, "Z"))
        return 0;
    if ((tz[0] == '+' || tz[0] == '-') && n == 6) {
        int m;
        if (parse_hhmm(tz + 1, 5, &m) == 0 && m <= 14 * 60)
            return 0;
    }
    bool ok = n > 0 && n < 64 && isalpha((unsigned char)tz[0]);
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)tz[i];
        if (!isalnum(c) && c != '/' && c != '_' && c != '-' && c != '+')
            ok = false;
        if (c == '/' && (i + 1 == n || tz[i + 1] == '/'))
            ok = false;
    }
    if (!ok) {
        buf_addf(err,
                 "'%s' is not a time zone: use UTC, an offset like +02:00, or a name like "
                 "Europe/Paris",
                 tz);
        return -1;
    }
    return 0;
}

/* Words of a window, split at blanks; at most this many are looked at. */
#define MAX_WORDS 8

/*
 * A day or time range written with blanks around its '-' or ',' ("Mon - Fri",
 * "Sat, Sun", "09:00 - 17:00") is split into several words, and the words
 * after the first would be read as a time zone ("'-' is not a time zone"):
 * says what to write instead. Returns -1 when it did.
 */
static int spaced_separator(const char *const *w, const size_t *l, size_t nw, struct buf *err)
{
    for (size_t i = 0; i + 1 < nw; i++) {
        bool digit = isdigit((unsigned char)w[i][0]);
        if (i > 0 && !digit)
            continue; /* only the days (first) and a time range join with the next word */
        if (!digit && !isalpha((unsigned char)w[i][0]))
            continue;
        size_t last; /* the last word of the joined text */
        char sep;
        if (l[i + 1] == 1 && (w[i + 1][0] == '-' || w[i + 1][0] == ',') && i + 2 < nw) {
            sep = w[i + 1][0];
            last = i + 2;
        } else if (l[i] > 1 && (w[i][l[i] - 1] == '-' || w[i][l[i] - 1] == ',')) {
            sep = w[i][l[i] - 1];
            last = i + 1;
        } else if (l[i + 1] > 1 && (w[i + 1][0] == '-' || w[i + 1][0] == ',') &&
                   !(digit && memchr(w[i], '-', l[i]))) {
            /* after a whole time range, "-05:00" is a time zone */
            sep = w[i + 1][0];
            last = i + 1;
        } else {
            continue;
        }
        /* The word after the separator must start like the one before it. */
        const char *after = w[last][0] == sep ? w[last] + 1 : w[last];
        if (!*after || (digit ? !isdigit((unsigned char)*after) : !isalpha((unsigned char)*after)))
            continue;
        if (digit && sep != '-')
            continue;
        struct buf joined = BUF_INIT;
        for (size_t k = i; k <= last; k++)
            buf_add(&joined, w[k], l[k]);
        buf_addf(err, "'%.*s': write %s without spaces, as %s", (int)(w[last] + l[last] - w[i]),
                 w[i],
                 digit        ? "a time range"
                 : sep == '-' ? "a day range"
                              : "a list of days",
                 joined.data);
        buf_release(&joined);
        return -1;
    }
    return 0;
}

int window_range_parse(const char *s, struct window_range *r, struct buf *err)
{
    const char *words[MAX_WORDS];
    size_t lens[MAX_WORDS];
    size_t nw = 0, total = 0;
    const char *p = s;

    memset(r, 0, sizeof(*r));
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (nw < MAX_WORDS) {
            words[nw] = w;
            lens[nw] = (size_t)(p - w);
            nw++;
        }
        total++;
    }
    if (!nw) {
        buf_adds(err, "an empty window: expected DAYS [HH:MM-HH:MM] [TIMEZONE]");
        return -1;
    }
    if (spaced_separator(words, lens, nw, err))
        return -1;
    if (total > 3) {
        buf_addf(err, "'%s' is not a window: expected DAYS [HH:MM-HH:MM] [TIMEZONE]", s);
        return -1;
    }
    if (parse_days(words[0], lens[0], &r->days, err))
        return -1;
    r->start_min = 0;
    r->end_min = 1440;
    size_t k = 1;
    if (k < nw && lens[k] >= 1 && isdigit((unsigned char)words[k][0])) {
        const char *dash = memchr(words[k], '-', lens[k]);
        if (!dash || parse_hhmm(words[k], (size_t)(dash - words[k]), &r->start_min) ||
            parse_hhmm(dash + 1, (size_t)(words[k] + lens[k] - dash - 1), &r->end_min) ||
            r->start_min == 1440) {
            buf_addf(err, "'%.*s' is not a time range: expected HH:MM-HH:MM such as 09:00-17:00",
                     (int)lens[k], words[k]);
            return -1;
        }
        if (r->start_min == r->end_min) {
            buf_addf(err, "'%.*s' is an empty time range", (int)lens[k], words[k]);
            return -1;
        }
        if (r->end_min == 0)
            r->end_min = 1440; /* 22:00-00:00 ends at midnight, like 22:00-24:00 */
        k++;
    }
    if (k < nw) {
        if (lens[k] >= sizeof(r->tz)) {
            buf_addf(err, "time zone '%.*s' is too long", (int)lens[k], words[k]);
            return -1;
        }
        memcpy(r->tz, words[k], lens[k]);
        r->tz[lens[k]] = '\0';
        if (window_tz_check(r->tz, err))
            return -1;
        k++;
    }
    if (k < nw) {
        buf_addf(err,
                 "'%s' is not a window: unexpected '%.*s'; expected DAYS [HH:MM-HH:MM] "
                 "[TIMEZONE]",
                 s, (int)lens[k], words[k]);
        return -1;
    }
    return 0;
}

void window_range_format(const struct window_range *r, struct buf *out)
{
    if (r->days == 0x7f) {
        buf_adds(out, "daily");
    } else {
        bool first = true;
        for (int d = 0; d < 7;) {
            if (!(r->days & (1u << d))) {
                d++;
                continue;
            }
            int e = d;
            while (e + 1 < 7 && (r->days & (1u << (e + 1))))
                e++;
            buf_addf(out, "%s%s", first ? "" : ",", day_names[d]);
            if (e > d)
                buf_addf(out, "%s%s", e == d + 1 ? "," : "-", day_names[e]);
            first = false;
            d = e + 1;
        }
    }
    if (r->start_min != 0 || r->end_min != 1440)
        buf_addf(out, " %02d:%02d-%02d:%02d", r->start_min / 60, r->start_min % 60, r->end_min / 60,
                 r->end_min % 60);
    if (r->tz[0])
        buf_addf(out, " %s", r->tz);
}
