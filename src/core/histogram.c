#include "core/histogram.h"

#include <inttypes.h>

const int64_t hist_bounds_ms[HIST_NBOUNDS] = {
    10, 50, 100, 500, 1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

void hist_observe(struct hist *h, int64_t ms)
{
    size_t i = 0;
    if (ms < 0)
        ms = 0;
    while (i < HIST_NBOUNDS && ms > hist_bounds_ms[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum_ms += ms;
}

/* ms as seconds, without trailing zeros: 10 -> "0.01", 60000 -> "60", 1500 -> "1.5". */
static void add_seconds(struct buf *out, int64_t ms)
{
    buf_addf(out, "%" PRId64, ms / 1000);
    int64_t frac = ms % 1000;
    if (!frac)
        return;
    char digits[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                      (char)('0' + frac % 10), '\0'};
    int n = 3;
    while (digits[n - 1] == '0')
        digits[--n] = '\0';
    buf_addf(out, ".%s", digits);
}

void hist_format(const struct hist *h, const char *name, const char *labels, struct buf *out)
{
    const char *sep = labels && *labels ? "," : "";
    uint64_t cum = 0;
    if (!labels)
        labels = "";
    for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
        cum += h->bucket[i];
        buf_addf(out, "%s_bucket{%s%sle=\"", name, labels, sep);
        if (i < HIST_NBOUNDS)
            add_seconds(out, hist_bounds_ms[i]);
        else
            buf_adds(out, "+Inf");
        buf_addf(out, "\"} %" PRIu64 "\n", cum);
    }
    buf_addf(out, "%s_sum%s%s%s ", name, *labels ? "{" : "", labels, *labels ? "}" : "");
    add_seconds(out, h->sum_ms);
    buf_addf(out, "\n%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels,
             *labels ? "}" : "", h->count);
}
