#include "core/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"

/* The footer's rule: when daylight saving time starts and ends each year. */
enum rule_kind { RULE_JULIAN1 /* Jn: 1..365, no Feb 29 */, RULE_DAY0 /* n: 0..365 */, RULE_MWD };

struct rule_date {
    enum rule_kind kind;
    int day, month, week; /* month and week for RULE_MWD; day is the weekday there (0 = Sun) */
    int32_t time;         /* seconds after local midnight; -167h..167h */
};

struct tz {
    char *name;
    size_t ntrans;
    int64_t *trans;  /* ascending */
    int32_t *after;  /* the offset from trans[i] on */
    int32_t before;  /* the offset before the first transition */
    bool has_footer; /* a POSIX TZ string governs instants after the last transition */
    bool has_dst;
    int32_t std_off, dst_off;
    struct rule_date start, end;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return yoe + era * 400 + (m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The local midnight (in days since the epoch) of a rule's date in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (r->kind) {
    case RULE_JULIAN1:
        return jan1 + r->day - 1 + (leap_year(y) && r->day >= 60);
    case RULE_DAY0:
        return jan1 + r->day;
    case RULE_MWD:
        break;
    }
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = days_from_civil(y, r->month, 1);
    int wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t d = first + (r->day - wd + 7) % 7 + 7 * (r->week - 1);
    int len = mdays[r->month - 1] + (r->month == 2 && leap_year(y));
    while (d >= first + len)
        d -= 7;
    return d;
}

/* The UTC instants at which DST starts and ends in the year y. */
static void rule_year(const struct tz *z, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&z->start, y) * 86400 + z->start.time - z->std_off;
    *end = rule_day(&z->end, y) * 86400 + z->end.time - z->dst_off;
}

/* The footer's rule is applied within about +-34,000 years; the arithmetic
 * stays far from overflow, and instants beyond take the year at the edge. */
#define RULE_LIMIT ((int64_t)1 << 40)

static int64_t rule_year_of(const struct tz *z, int64_t t)
{
    t = t < -RULE_LIMIT ? -RULE_LIMIT : t > RULE_LIMIT ? RULE_LIMIT : t;
    return year_of_days(floor_div(t + z->std_off, 86400));
}

static int32_t footer_offset(const struct tz *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    int64_t y = rule_year_of(z, t);
    int64_t s, e;
    rule_year(z, y, &s, &e);
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return dst ? z->dst_off : z->std_off;
}

/* The index of the last transition at or before t, or -1. */
static ptrdiff_t last_at_or_before(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

int tz_offset(const struct tz *z, int64_t t)
{
    if (z->has_footer && (!z->ntrans || t >= z->trans[z->ntrans - 1]))
        return footer_offset(z, t);
    ptrdiff_t i = last_at_or_before(z, t);
    return i < 0 ? z->before : z->after[i];
}

int64_t tz_next_change(const struct tz *z, int64_t t)
{
    int32_t cur = tz_offset(z, t);
    /* A transition may change only the abbreviation or the DST flag: skipped. */
    for (size_t i = (size_t)(last_at_or_before(z, t) + 1); i < z->ntrans; i++)
        if (tz_offset(z, z->trans[i]) != cur)
            return z->trans[i];
    if (!z->has_footer || !z->has_dst || z->std_off == z->dst_off)
        return INT64_MAX;
    if (z->ntrans && t < z->trans[z->ntrans - 1])
        t = z->trans[z->ntrans - 1];
    if (t >= RULE_LIMIT)
        return INT64_MAX;
    /* The rule's changes in the years around t; one of them comes next. */
    int64_t y = rule_year_of(z, t);
    int64_t best = INT64_MAX;
    for (int64_t k = y - 1; k <= y + 1; k++) {
        int64_t c[2];
        rule_year(z, k, &c[0], &c[1]);
        for (int j = 0; j < 2; j++)
            if (c[j] > t && c[j] < best && footer_offset(z, c[j]) != footer_offset(z, c[j] - 1))
                best = c[j];
    }
    return best;
}

/* ---- the POSIX TZ string of the footer ---- */

static bool parse_num(const char **p, int max, int *out)
{
    const char *s = *p;
    int v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return false;
    }
    *p = s;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]], hours up to max_h; in seconds. */
static bool parse_hms(const char **p, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (!parse_num(p, max_h, &h))
        return false;
    if (**p == ':') {
        (*p)++;
        if (!parse_num(p, 59, &m))
            return false;
        if (**p == ':') {
            (*p)++;
            if (!parse_num(p, 59, &s))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool parse_abbr(const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (*s && *s != '>')
            s++, n++;
        if (*s != '>' || n < 3)
            return false;
        *p = s + 1;
        return true;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++, n++;
    if (n < 3)
        return false;
    *p = s;
    return true;
}

static bool parse_rule_date(const char **p, struct rule_date *r)
{
    if (**p == 'J') {
        (*p)++;
        r->kind = RULE_JULIAN1;
        if (!parse_num(p, 365, &r->day) || r->day < 1)
            return false;
    } else if (**p == 'M') {
        (*p)++;
        r->kind = RULE_MWD;
        if (!parse_num(p, 12, &r->month) || r->month < 1 || *(*p)++ != '.' ||
            !parse_num(p, 5, &r->week) || r->week < 1 || *(*p)++ != '.' ||
            !parse_num(p, 6, &r->day))
            return false;
    } else {
        r->kind = RULE_DAY0;
        if (!parse_num(p, 365, &r->day))
            return false;
    }
    r->time = 7200;
    if (**p == '/') {
        (*p)++;
        if (!parse_hms(p, 167, &r->time))
            return false;
    }
    return true;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX offsets are west of UTC, ours east. */
static bool parse_footer(struct tz *z, const char *s)
{
    int32_t off;
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
        return false;
    z->std_off = -off;
    z->dst_off = z->std_off;
    z->has_dst = false;
    if (!*s)
        return true;
    if (!parse_abbr(&s))
        return false;
    z->dst_off = z->std_off + 3600;
    if (*s && *s != ',') {
        if (!parse_hms(&s, 24, &off))
            return false;
        z->dst_off = -off;
    }
    /* A DST name without rules leaves the dates to the implementation: refused. */
    if (*s++ != ',' || !parse_rule_date(&s, &z->start) || *s++ != ',' ||
        !parse_rule_date(&s, &z->end) || *s)
        return false;
    z->has_dst = true;
    return true;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    int version; /* 0 for version 1 */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static bool read_header(const unsigned char *p, size_t len, struct tzif_header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4))
        return false;
    h->version = p[4] ? p[4] - '0' : 0;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return h->version >= 0 && h->version <= 9;
}

/* The size of a data block whose times take tsize bytes (4 or 8). */
static uint64_t block_size(const struct tzif_header *h, int tsize)
{
    return (uint64_t)h->timecnt * (uint64_t)(tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (uint64_t)(tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int bad_file(const char *name, const char *why, struct buf *err)
{
    buf_addf(err, "time zone '%s': not a valid time zone file (%s)", name, why);
    return -1;
}

int tz_parse(struct tz **out, const char *name, const void *data, size_t len, struct buf *err)
{
    const unsigned char *p = data, *end = p + len;
    struct tzif_header h;
    struct tz *z = NULL;

    *out = NULL;
    if (!read_header(p, len, &h))
        return bad_file(name, "no TZif header", err);
    int tsize = 4;
    uint64_t size = block_size(&h, 4);
    if (size > len - 44)
        return bad_file(name, "truncated", err);
    if (h.version >= 2) {
        p += 44 + size;
        if (!read_header(p, (size_t)(end - p), &h))
            return bad_file(name, "no second header", err);
        tsize = 8;
        size = block_size(&h, 8);
        if (size > (size_t)(end - p) - 44)
            return bad_file(name, "truncated", err);
    }
    if (h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 || h.timecnt > 100000 ||
        (h.isutcnt && h.isutcnt != h.typecnt) || (h.isstdcnt && h.isstdcnt != h.typecnt))
        return bad_file(name, "bad counts", err);

    const unsigned char *times = p + 44;
    const unsigned char *idx = times + (size_t)h.timecnt * (size_t)tsize;
    const unsigned char *types = idx + h.timecnt;
    for (uint32_t i = 0; i < h.typecnt; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        if (off < -26 * 3600 || off > 26 * 3600 || types[6 * i + 5] >= h.charcnt)
            return bad_file(name, "bad local time type", err);
    }

    z = xcalloc(1, sizeof(*z));
    z->name = xstrdup(name);
    z->trans = xcalloc(h.timecnt ? h.timecnt : 1, sizeof(*z->trans));
    z->after = xcalloc(h.timecnt ? h.timecnt : 1, sizeof(*z->after));
    z->before = (int32_t)be32(types);
    for (uint32_t i = 0; i < h.timecnt; i++) {
        int64_t t = tsize == 8 ? be64(times + 8 * (size_t)i) : (int32_t)be32(times + 4 * (size_t)i);
        if (idx[i] >= h.typecnt || (i && t <= z->trans[i - 1])) {
            tz_free(z);
            return bad_file(name, "bad transitions", err);
        }
        z->trans[i] = t;
        z->after[i] = (int32_t)be32(types + 6 * (size_t)idx[i]);
    }
    z->ntrans = h.timecnt;

    if (h.version >= 2) {
        const unsigned char *f = p + 44 + size;
        const unsigned char *nl =
            f < end && *f == '\n' ? memchr(f + 1, '\n', (size_t)(end - f - 1)) : NULL;
        if (!nl) {
            tz_free(z);
            return bad_file(name, "no footer", err);
        }
        if (nl > f + 1) {
            char *s = xmemdupz(f + 1, (size_t)(nl - f - 1));
            bool ok = parse_footer(z, s);
            free(s);
            if (!ok) {
                tz_free(z);
                return bad_file(name, "a footer rule that is not understood", err);
            }
            z->has_footer = true;
        }
    }
    *out = z;
    return 0;
}

/* "+HH:MM" / "-HH:MM" up to 14:00, as window_tz_check() accepts. */
static bool fixed_offset(const char *s, int32_t *off)
{
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return false;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return false;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (m > 59 || h * 60 + m > 14 * 60)
        return false;
    *off = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return true;
}

static bool name_ok(const char *name)
{
    if (!name[0] || name[0] == '/' || strstr(name, "..") || strlen(name) > 255)
        return false;
    for (const char *s = name; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-'))
            return false;
    }
    return true;
}

/* Reads at most max bytes of path into out; -1 with errno set (EFBIG: larger). */
static int read_small(const char *path, size_t max, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st))
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto out;
    }
    for (;;) {
        if (out->len > max) {
            errno = EFBIG;
            goto out;
        }
        buf_grow(out, 4096);
        ssize_t n = read(fd, out->data + out->len, out->alloc - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        buf_setlen(out, out->len + (size_t)n);
    }
    rc = 0;
out:
    if (fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return rc;
}

int tz_load(struct tz **out, const char *name, struct buf *err)
{
    int32_t off = 0;
    *out = NULL;
    if (!strcmp(name, "UTC") || !strcmp(name, "Z") || fixed_offset(name, &off)) {
        struct tz *z = xcalloc(1, sizeof(*z));
        z->name = xstrdup(name);
        z->before = off;
        *out = z;
        return 0;
    }
    if (!name_ok(name)) {
        buf_addf(err,
                 "'%s' is not a time zone name: use UTC, an offset like +02:00, or a name "
                 "like Europe/Paris",
                 name);
        return -1;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    struct buf path = BUF_INIT, data = BUF_INIT;
    int rc = -1;
    buf_addf(&path, "%s/%s", dir, name);
    if (read_small(path.data, TZ_MAX_FILE, &data)) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            buf_addf(err, "unknown time zone '%s' (not found in %s)", name, dir);
        else if (errno == EFBIG)
            buf_addf(err, "time zone '%s': %s is larger than %d bytes", name, path.data,
                     TZ_MAX_FILE);
        else
            buf_addf(err, "time zone '%s': %s: %s", name, path.data, strerror(errno));
        goto out;
    }
    rc = tz_parse(out, name, data.data, data.len, err);
out:
    buf_release(&path);
    buf_release(&data);
    return rc;
}

void tz_free(struct tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->after);
    free(z);
}

/* ---- the process-wide cache ---- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz **cache;
static size_t ncache, cache_alloc;

const struct tz *tz_get(const char *name, struct buf *err)
{
    struct tz *z = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < ncache; i++) {
        if (!strcmp(cache[i]->name, name)) {
            z = cache[i];
            goto out;
        }
    }
    /* Loaded under the lock: two threads asking for a new zone read it once. */
    if (tz_load(&z, name, err) == 0) {
        ALLOC_GROW(cache, ncache + 1, cache_alloc);
        cache[ncache++] = z;
    }
out:
    pthread_mutex_unlock(&cache_lock);
    return z;
}

void tz_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < ncache; i++)
        tz_free(cache[i]);
    free(cache);
    cache = NULL;
    ncache = cache_alloc = 0;
    pthread_mutex_unlock(&cache_lock);
}
