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

/* The offset of zone z at ms, in ms (z NULL: UTC). */
static int64_t off_ms(const struct tz *z, int64_t ms)
{
    return z ? (int64_t)tz_offset(z, floor_div(ms, 1000)) * 1000 : 0;
}

/* The local day (days since 1970-01-01 in z's calendar) holding ms. */
static int64_t local_day(const struct tz *z, int64_t ms)
{
    return floor_div(ms + off_ms(z, ms), DAY_MS);
}

/*
 * The instant a local time t (ms since the epoch as if the zone were UTC)
 * names: the earliest when it happens twice (the clock went back). When it
 * never happens (a gap), first_of_day says what to give: the first instant
 * whose local time is after t (the end of the gap: where a day starts whose
 * midnight is skipped), else t read with the offset before the gap.
 */
static int64_t local_to_utc(const struct tz *z, int64_t t, bool first_of_day)
{
    if (!z)
        return t;
    int64_t best = INT64_MAX;
    const int64_t probes[] = {t - DAY_MS, t, t + DAY_MS};
    for (size_t i = 0; i < 3; i++) {
        int64_t o = off_ms(z, probes[i]), u = t - o;
        if (off_ms(z, u) == o && u < best)
            best = u;
    }
    if (best != INT64_MAX)
        return best;
    int64_t before = off_ms(z, t - DAY_MS);
    if (!first_of_day)
        return t - before;
    /* the change that jumps over t: the first after a day before */
    int64_t sec = floor_div(t - before - DAY_MS, 1000);
    for (int k = 0; k < 16; k++) {
        int64_t c = tz_next_change(z, sec);
        if (c == INT64_MAX)
            break;
        if (c * 1000 + off_ms(z, c * 1000) >= t)
            return c * 1000;
        sec = c;
    }
    return t - before;
}

/* The first instant of local day `day` in z. */
static int64_t day_start(const struct tz *z, int64_t day)
{
    return local_to_utc(z, day * DAY_MS, true);
}

/* The local day the bucket holding local day d starts on. */
static int64_t bucket_first_day(enum dora_interval iv, int64_t d)
{
    switch (iv) {
    case DORA_DAY:
        return d;
    case DORA_WEEK:
        /* 1970-01-01 was a Thursday: Monday is 3 days before it */
        return floor_div(d + 3, 7) * 7 - 3;
    case DORA_MONTH: {
        int64_t y;
        int m, dd;
        civil_from_days(d, &y, &m, &dd);
        return days_from_civil(y, m, 1);
    }
    case DORA_ALL:
        break;
    }
    return d;
}

/* The local day the next bucket starts on, after the one starting on local day d. */
static int64_t bucket_next_day(enum dora_interval iv, int64_t d)
{
    switch (iv) {
    case DORA_DAY:
        return d + 1;
    case DORA_WEEK:
        return d + 7;
    case DORA_MONTH: {
        int64_t y;
        int m, dd;
        civil_from_days(d, &y, &m, &dd);
        return days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
    }
    case DORA_ALL:
        break;
    }
    return d + 1;
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

void dora_stat_of(double *v, size_t n, struct dora_stat *out)
{
    memset(out, 0, sizeof(*out));
    if (!n)
        return;
    qsort(v, n, sizeof(*v), cmp_double);
    out->has = true;
    out->n = n;
    out->median_s = dora_percentile(v, n, 0.5);
    out->p90_s = dora_percentile(v, n, 0.9);
}

static void samples_stat(struct samples *s, struct dora_stat *out)
{
    dora_stat_of(s->v, s->n, out);
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

long dora_span_index(const struct dora_params *p, const struct dora_span *b, size_t n, int64_t ms)
{
    if (ms < p->from_ms || ms >= p->to_ms || !n)
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

int dora_spans(const struct dora_params *p, struct dora_span **out, size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    if (p->from_ms >= p->to_ms) {
        buf_adds(err, "the period is empty: 'from' must come before 'to'");
        return -1;
    }
    if (p->interval == DORA_ALL) {
        struct dora_span *b = xcalloc(1, sizeof(*b));
        b->start_ms = p->from_ms;
        b->end_ms = p->to_ms;
        *out = b;
        *n = 1;
        return 0;
    }
    size_t nb = 0, alloc = 0;
    struct dora_span *b = NULL;
    int64_t d = bucket_first_day(p->interval, local_day(p->tz, p->from_ms));
    int64_t start = day_start(p->tz, d);
    while (start < p->to_ms) {
        if (nb >= DORA_MAX_BUCKETS) {
            /* count them all for the message, without keeping them */
            size_t more = nb;
            for (int64_t e = d; day_start(p->tz, e) < p->to_ms; e = bucket_next_day(p->interval, e))
                more++;
            buf_addf(err, "the period has %zu %ss: at most %d buckets, use a longer interval", more,
                     dora_interval_name(p->interval), DORA_MAX_BUCKETS);
            free(b);
            return -1;
        }
        int64_t nd = bucket_next_day(p->interval, d), next = day_start(p->tz, nd);
        if (next <= start) /* cannot happen with a sane zone: never loop */
            next = start + DAY_MS;
        ALLOC_GROW(b, nb + 1, alloc);
        b[nb].start_ms = start;
        b[nb].end_ms = next;
        nb++;
        d = nd;
        start = next;
    }
    *out = b;
    *n = nb;
    return 0;
}

int dora_compute(const struct dora_params *p, const struct dora_deployment *deps, size_t ndeps,
                 const struct dora_incident *incs, size_t nincs, struct dora_bucket **out,
                 size_t *n, struct buf *err)
{
    *out = NULL;
    *n = 0;
    struct dora_span *sp = NULL;
    size_t nb = 0;
    if (dora_spans(p, &sp, &nb, err))
        return -1;
    struct dora_bucket *b = xcalloc(nb, sizeof(*b));
    for (size_t k = 0; k < nb; k++) {
        b[k].start_ms = sp[k].start_ms;
        b[k].end_ms = sp[k].end_ms;
    }
    struct samples *lead = xcalloc(nb, sizeof(*lead)), *lead_c = xcalloc(nb, sizeof(*lead_c)),
                   *restore = xcalloc(nb, sizeof(*restore));
    /* the deployments that opened an incident or were rolled back, sorted for bsearch */
    int64_t *failed = xcalloc(nincs + ndeps + 1, sizeof(*failed));
    size_t nfailed = 0;
    for (size_t j = 0; j < nincs; j++)
        failed[nfailed++] = incs[j].deployment_id;
    for (size_t i = 0; i < ndeps; i++)
        if (deps[i].rollback && deps[i].rolls_back && in_env(deps[i].env, p->env))
            failed[nfailed++] = deps[i].rolls_back;
    qsort(failed, nfailed, sizeof(*failed), cmp_id);
    for (size_t i = 0; i < ndeps; i++) {
        const struct dora_deployment *d = &deps[i];
        if (d->rollback || !in_env(d->env, p->env) || d->state == DORA_OTHER)
            continue;
        long k = dora_span_index(p, sp, nb, d->finished_ms);
        if (k < 0)
            continue;
        bool bad = d->state != DORA_SUCCEEDED ||
                   bsearch(&d->id, failed, nfailed, sizeof(*failed), cmp_id) != NULL;
        b[k].finished++;
        b[k].failed += bad;
        if (d->state != DORA_SUCCEEDED)
            continue;
        b[k].deployments++;
        int64_t since = d->merge_ms ? d->merge_ms : d->release_ms;
        if (since)
            samples_add(&lead[k], (double)(d->finished_ms - since) / 1000.0);
        if (d->commit_ms)
            samples_add(&lead_c[k], d->finished_ms > d->commit_ms
                                        ? (double)(d->finished_ms - d->commit_ms) / 1000.0
                                        : 0.0);
    }
    for (size_t i = 0; i < nincs; i++) {
        const struct dora_incident *in = &incs[i];
        if (!in_env(in->env, p->env) || !in->closed_ms)
            continue;
        long k = dora_span_index(p, sp, nb, in->opened_ms);
        if (k >= 0)
            samples_add(&restore[k], (double)(in->closed_ms - in->opened_ms) / 1000.0);
    }
    for (size_t k = 0; k < nb; k++) {
        samples_stat(&lead[k], &b[k].lead_time);
        samples_stat(&lead_c[k], &b[k].lead_time_commit);
        samples_stat(&restore[k], &b[k].restore);
        b[k].has_failure_rate = b[k].finished > 0;
        if (b[k].finished)
            b[k].failure_rate = (double)b[k].failed / (double)b[k].finished;
        free(lead[k].v);
        free(lead_c[k].v);
        free(restore[k].v);
    }
    free(lead);
    free(lead_c);
    free(restore);
    free(failed);
    free(sp);
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
    return dora_parse_time_tz(s, NULL, ms, err);
}

int dora_parse_time_tz(const char *s, const struct tz *tz, int64_t *ms, struct buf *err)
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
    bool has_off = false;
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
            has_off = true;
        } else if (*p == '+' || *p == '-') {
            has_off = true;
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return bad_time(s, err);
            off = sign * (oh * 60 + om);
        }
    }
    if (*p)
        return bad_time(s, err);
    int64_t local = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + frac;
    if (has_off)
        *ms = local - (int64_t)off * 60000;
    else
        *ms = local_to_utc(tz, local, h == 0 && mi == 0 && sec == 0 && frac == 0);
    return 0;
}

void dora_format_date(int64_t ms, struct buf *out)
{
    dora_format_date_tz(ms, NULL, out);
}

void dora_format_date_tz(int64_t ms, const struct tz *tz, struct buf *out)
{
    int64_t y;
    int m, d;
    civil_from_days(local_day(tz, ms), &y, &m, &d);
    buf_addf(out, "%04lld-%02d-%02d", (long long)y, m, d);
}
