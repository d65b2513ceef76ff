#include "core/window_eval.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"
#include "util/xalloc.h"

#define DAY     86400
#define HORIZON (8 * (int64_t)DAY)
/* Instants beyond about +-34,000 years are clamped: the arithmetic below
 * stays far from overflow, and no deployment waits that long. */
#define T_LIMIT ((int64_t)1 << 40)

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

/* The ranges of a window, allow then deny, with their zones. */
struct eval {
    const struct pl_window *w;
    size_t n;
    const struct tz **zone;
    const char **zone_name;
};

static const struct window_range *range_at(const struct eval *e, size_t i)
{
    return i < e->w->nallow ? &e->w->allow[i] : &e->w->deny[i - e->w->nallow];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Monday = 0; 1970-01-01 (day 0) was a Thursday. */
static int weekday(int64_t day)
{
    return (int)((day % 7 + 7 + 3) % 7);
}

static bool on_day(const struct window_range *r, int64_t day)
{
    return r->days & (1u << weekday(day));
}

static bool in_range(const struct window_range *r, const struct tz *z, int64_t t)
{
    int64_t local = t + tz_offset(z, t);
    int64_t day = floor_div(local, DAY);
    int64_t s = local - day * DAY, start = r->start_min * 60, end = r->end_min * 60;
    if (end > start)
        return on_day(r, day) && s >= start && s < end;
    return (on_day(r, day) && s >= start) || (on_day(r, day - 1) && s < end);
}

static bool state(const struct eval *e, int64_t t)
{
    bool open = e->w->nallow == 0;
    for (size_t i = 0; i < e->n; i++) {
        if (!in_range(range_at(e, i), e->zone[i], t))
            continue;
        if (i >= e->w->nallow)
            return false; /* deny wins */
        open = true;
    }
    return open;
}

static int eval_init(struct eval *e, const struct pl_window *w, struct buf *err)
{
    e->w = w;
    e->n = w->nallow + w->ndeny;
    e->zone = xcalloc(e->n ? e->n : 1, sizeof(*e->zone));
    e->zone_name = xcalloc(e->n ? e->n : 1, sizeof(*e->zone_name));
    for (size_t i = 0; i < e->n; i++) {
        const struct window_range *r = range_at(e, i);
        e->zone_name[i] = r->tz[0] ? r->tz : w->timezone && *w->timezone ? w->timezone : "UTC";
        /* Ranges of one window mostly share a zone: one look-up. */
        if (i && !strcmp(e->zone_name[i], e->zone_name[i - 1]))
            e->zone[i] = e->zone[i - 1];
        else if (!(e->zone[i] = tz_get(e->zone_name[i], err)))
            return -1;
    }
    return 0;
}

static void eval_release(struct eval *e)
{
    free(e->zone);
    free(e->zone_name);
}

struct instants {
    int64_t *v;
    size_t n, alloc;
};

static void add_instant(struct instants *c, int64_t t, int64_t now)
{
    if (t <= now || t > now + HORIZON)
        return;
    ALLOC_GROW(c->v, c->n + 1, c->alloc);
    c->v[c->n++] = t;
}

static int cmp_instant(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Every instant in (now, now + HORIZON] at which a range may start or stop
 * covering: the zone's offset changes, and each local start and end of the
 * range read with each offset the zone has around then. Between two such
 * instants the local clock of every zone runs straight, without crossing a
 * boundary, so the answer is constant.
 */
static void candidates(const struct eval *e, int64_t now, struct instants *c)
{
    for (size_t i = 0; i < e->n; i++) {
        const struct window_range *r = range_at(e, i);
        const struct tz *z = e->zone[i];
        int32_t offs[16];
        size_t noffs = 0;
        int64_t t = now - 2 * DAY;
        offs[noffs++] = tz_offset(z, t);
        while ((t = tz_next_change(z, t)) <= now + HORIZON + 2 * DAY) {
            add_instant(c, t, now);
            if (noffs < sizeof(offs) / sizeof(offs[0]))
                offs[noffs++] = tz_offset(z, t);
        }
        bool crosses = r->end_min <= r->start_min;
        for (int64_t d = floor_div(now, DAY) - 2; d <= floor_div(now + HORIZON, DAY) + 2; d++) {
            if (!on_day(r, d))
                continue;
            int64_t start = d * DAY + r->start_min * 60;
            int64_t end = d * DAY + r->end_min * 60 + (crosses ? DAY : 0);
            for (size_t k = 0; k < noffs; k++) {
                add_instant(c, start - offs[k], now);
                add_instant(c, end - offs[k], now);
            }
        }
    }
    qsort(c->v, c->n, sizeof(*c->v), cmp_instant);
}

/* The first candidate instant after now at which the state differs, or INT64_MAX. */
static int64_t next_change(const struct eval *e, int64_t now, bool open)
{
    struct instants c = {0};
    int64_t next = INT64_MAX;
    candidates(e, now, &c);
    for (size_t i = 0; i < c.n; i++) {
        if ((i && c.v[i] == c.v[i - 1]) || state(e, c.v[i]) == open)
            continue;
        next = c.v[i];
        break;
    }
    free(c.v);
    return next;
}

static int64_t clamp_s(int64_t now_ms)
{
    int64_t t = floor_div(now_ms, 1000);
    return t < -T_LIMIT ? -T_LIMIT : t > T_LIMIT ? T_LIMIT : t;
}

int window_open(const struct pl_window *w, int64_t now_ms, int64_t *next_change_ms, struct buf *err)
{
    struct eval e;
    int rc = -1;
    if (eval_init(&e, w, err))
        goto out;
    int64_t now = clamp_s(now_ms);
    bool open = state(&e, now);
    if (next_change_ms) {
        int64_t next = e.n ? next_change(&e, now, open) : INT64_MAX;
        *next_change_ms = next == INT64_MAX ? INT64_MAX : next * 1000;
    }
    rc = open;
out:
    eval_release(&e);
    return rc;
}

void window_describe(const struct pl_window *w, int64_t now_ms, struct buf *out)
{
    struct eval e;
    struct buf err = BUF_INIT;
    if (eval_init(&e, w, &err)) {
        buf_addf(out, "cannot be evaluated: %s", err.data);
        goto out;
    }
    int64_t now = clamp_s(now_ms);
    bool open = state(&e, now);
    int64_t next = e.n ? next_change(&e, now, open) : INT64_MAX;
    if (next == INT64_MAX) {
        buf_adds(out, open ? "open at any time" : "closed at all times");
        goto out;
    }
    /* The zone of the first range that starts or stops covering then. */
    size_t k = 0;
    for (size_t i = 0; i < e.n; i++) {
        const struct window_range *r = range_at(&e, i);
        if (in_range(r, e.zone[i], now) != in_range(r, e.zone[i], next)) {
            k = i;
            break;
        }
    }
    const struct tz *z = e.zone[k];
    int64_t local = next + tz_offset(z, next), day = floor_div(local, DAY);
    int64_t s = local - day * DAY;
    buf_addf(out, "%s until ", open ? "open" : "closed");
    if (day != floor_div(now + tz_offset(z, now), DAY))
        buf_addf(out, "%s ", day_names[weekday(day)]);
    buf_addf(out, "%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60));
    if (s % 60)
        buf_addf(out, ":%02d", (int)(s % 60));
    buf_addf(out, " %s", strcmp(e.zone_name[k], "Z") ? e.zone_name[k] : "UTC");
out:
    eval_release(&e);
    buf_release(&err);
}
