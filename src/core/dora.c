#include "core/dora.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define DAY_MS (86400LL * 1000)

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

/* The start of the bucket holding ms. */
static int64_t bucket_floor(enum dora_interval iv, int64_t ms)
{
    int64_t days = floor_div(ms, DAY_MS);
    switch (iv) {
    case DORA_DAY:
        return days * DAY_MS;
    case DORA_WEEK:
        /* 1970-01-01 was a Thursday: Monday is 3 days before it */
        return (floor_div(days + 3, 7) * 7 - 3) * DAY_MS;
    case DORA_MONTH: {
        int64_t y;
        int m, d;
        civil_from_days(days, &y, &m, &d);
        return days_from_civil(y, m, 1) * DAY_MS;
    }
    case DORA_ALL:
        break;
    }
    return ms;
}

/* The start of the bucket after the one starting at start. */
static int64_t bucket_next(enum dora_interval iv, int64_t start)
{
    switch (iv) {
    case DORA_DAY:
        return start + DAY_MS;
    case DORA_WEEK:
        return start + 7 * DAY_MS;
    case DORA_MONTH: {
        int64_t y;
        int m, d;
        civil_from_days(floor_div(start, DAY_MS), &y, &m, &d);
        return days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY_MS;
    }
    case DORA_ALL:
        break;
    }
    return start;
}

double dora_percentile(const double *v, size_t n, double p)
{
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)h;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Durations in seconds, gathered per bucket. */
struct samples {
    double *v;
    size_t n, alloc;
};

static void samples_add(struct samples *s, double v)
{
    ALLOC_GROW(s->v, s->n + 1, s->alloc);
    s->v[s->n++] = v;
}

static void samples_stat(struct samples *s, struct dora_stat *out)
{
    memset(out, 0, sizeof(*out));
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_double);
    out->has = true;
    out->n = s->n;
    out->median_s = dora_percentile(s->v, s->n, 0.5);
    out->p90_s = dora_percentile(s->v, s->n, 0.9);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool in_env(const char *env, const char *want)
{
    return env && want && !strcmp(env, want);
}

/* The index of the bucket holding ms in [from, to), or -1. */
static long bucket_of(const struct dora_params *p, const struct dora_bucket *b, size_t n,
                      int64_t ms)
{
    if (ms < p->from_ms || ms >= p->to_ms)
        return -1;
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].start_ms <= ms)
            lo = mid;
        else
            hi = mid;
    }
    return (long)lo;
}

int dora_compute(const struct dora_params *p, const struct dora_deployment *deps, size_t ndeps,
                 const struct dora_incident *incs, size_t nincs, struct dora_bucket **out,
                 size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    if (p->from_ms >= p->to_ms) {
        buf_adds(err, "the period is empty: 'from' must come before 'to'");
        return -1;
    }
    size_t nb = 0;
    struct dora_bucket *b = NULL;
    if (p->interval == DORA_ALL) {
        b = xcalloc(1, sizeof(*b));
        b->start_ms = p->from_ms;
        b->end_ms = p->to_ms;
        nb = 1;
    } else {
        for (int64_t s = bucket_floor(p->interval, p->from_ms); s < p->to_ms;
             s = bucket_next(p->interval, s))
            nb++;
        if (nb > DORA_MAX_BUCKETS) {
            buf_addf(err, "the period has %zu %ss: at most %d buckets, use a longer interval", nb,
                     dora_interval_name(p->interval), DORA_MAX_BUCKETS);
            return -1;
        }
        b = xcalloc(nb, sizeof(*b));
        int64_t s = bucket_floor(p->interval, p->from_ms);
        for (size_t i = 0; i < nb; i++) {
            b[i].start_ms = s;
            s = bucket_next(p->interval, s);
            b[i].end_ms = s;
        }
    }
    struct samples *lead = xcalloc(nb, sizeof(*lead)), *restore = xcalloc(nb, sizeof(*restore));
    /* the deployments that opened an incident, sorted for bsearch */
    int64_t *opened = xcalloc(nincs ? nincs : 1, sizeof(*opened));
    for (size_t j = 0; j < nincs; j++)
        opened[j] = incs[j].deployment_id;
    qsort(opened, nincs, sizeof(*opened), cmp_id);
    for (size_t i = 0; i < ndeps; i++) {
        const struct dora_deployment *d = &deps[i];
        if (d->rollback || !in_env(d->env, p->env) || d->state == DORA_OTHER)
            continue;
        long k = bucket_of(p, b, nb, d->finished_ms);
        if (k < 0)
            continue;
        bool failed = d->state != DORA_SUCCEEDED ||
                      bsearch(&d->id, opened, nincs, sizeof(*opened), cmp_id) != NULL;
        b[k].finished++;
        b[k].failed += failed;
        if (d->state != DORA_SUCCEEDED)
            continue;
        b[k].deployments++;
        int64_t since = d->merge_ms ? d->merge_ms : d->release_ms;
        if (since)
            samples_add(&lead[k], (double)(d->finished_ms - since) / 1000.0);
    }
    for (size_t i = 0; i < nincs; i++) {
        const struct dora_incident *in = &incs[i];
        if (!in_env(in->env, p->env) || !in->closed_ms)
            continue;
        long k = bucket_of(p, b, nb, in->opened_ms);
        if (k >= 0)
            samples_add(&restore[k], (double)(in->closed_ms - in->opened_ms) / 1000.0);
    }
    for (size_t k = 0; k < nb; k++) {
        samples_stat(&lead[k], &b[k].lead_time);
        samples_stat(&restore[k], &b[k].restore);
        b[k].has_failure_rate = b[k].finished > 0;
        if (b[k].finished)
            b[k].failure_rate = (double)b[k].failed / (double)b[k].finished;
        free(lead[k].v);
        free(restore[k].v);
    }
    free(lead);
    free(restore);
    free(opened);
    *out = b;
    *n = nb;
    return 0;
}

int dora_interval_parse(const char *s)
{
    static const char *const names[] = {"day", "week", "month", "all"};
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

const char *dora_interval_name(enum dora_interval i)
{
    switch (i) {
    case DORA_DAY:
        return "day";
    case DORA_WEEK:
        return "week";
    case DORA_MONTH:
        return "month";
    case DORA_ALL:
        break;
    }
    return "all";
}

/* Reads exactly w digits at *p into *v. */
static bool digits(const char **p, int w, int *v)
{
    int x = 0;
    for (int i = 0; i < w; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += w;
    *v = x;
    return true;
}

static int bad_time(const char *s, struct buf *err)
{
    buf_addf(err,
             "'%s' is not a time: milliseconds since the epoch, or ISO 8601"
             " (2026-11-26, 2026-11-26T09:30:00Z)",
             s);
    return -1;
}

int dora_parse_time(const char *s, int64_t *ms, struct buf *err)
{
    if (!*s)
        return bad_time(s, err);
    if (strspn(s, "0123456789") == strlen(s)) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || strlen(s) > 15)
            return bad_time(s, err);
        *ms = v;
        return 0;
    }
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1)
        return bad_time(s, err);
    int64_t first = days_from_civil(y, mo, 1);
    int64_t next = mo == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, mo + 1, 1);
    if (d > next - first)
        return bad_time(s, err);
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || h > 23 || mi > 59)
            return bad_time(s, err);
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec) || sec > 59)
                return bad_time(s, err);
            if (*p == '.') {
                p++;
                int nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 3)
                        frac = frac * 10 + (*p - '0');
                    nd++;
                    p++;
                }
                if (!nd)
                    return bad_time(s, err);
                for (; nd < 3; nd++)
                    frac *= 10;
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return bad_time(s, err);
            off = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return bad_time(s, err);
    int64_t secs = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

void dora_format_date(int64_t ms, struct buf *out)
{
    int64_t y;
    int m, d;
    civil_from_days(floor_div(ms, DAY_MS), &y, &m, &d);
    buf_addf(out, "%04lld-%02d-%02d", (long long)y, m, d);
}
