/*
 * The verdict of a check over a period; the rules are in verify.h.
 */
#include "core/verify.h"

#include <string.h>

void verify_policy_default(struct verify_policy *pol)
{
    pol->failure_limit = VERIFY_DEFAULT_FAILURE_LIMIT;
    pol->error_limit = VERIFY_DEFAULT_ERROR_LIMIT;
    pol->min_count = VERIFY_DEFAULT_MIN_COUNT;
    pol->on_no_data = VERIFY_NODATA_INCONCLUSIVE;
}

void verify_init(struct verify *v, const struct verify_policy *pol)
{
    memset(v, 0, sizeof(*v));
    v->pol = *pol;
    if (v->pol.failure_limit < 0)
        v->pol.failure_limit = 0;
    if (v->pol.error_limit < 0)
        v->pol.error_limit = 0;
    if (v->pol.min_count < 1)
        v->pol.min_count = 1;
    v->last = CHECK_PASS;
    v->state = VERIFY_RUNNING;
}

static void count_failure(struct verify *v)
{
    v->failures++;
    if (v->failures > v->pol.failure_limit && v->state == VERIFY_RUNNING)
        v->state = VERIFY_FAILED;
}

enum verify_state verify_feed(struct verify *v, enum check_outcome o)
{
    v->last = o;
    if (o != CHECK_ERROR)
        v->consecutive_errors = 0;
    switch (o) {
    case CHECK_PASS:
        v->measurements++;
        v->passes++;
        v->no_data_pending = false;
        break;
    case CHECK_FAIL:
        v->measurements++;
        v->no_data_pending = false;
        count_failure(v);
        break;
    case CHECK_NO_DATA:
        v->no_data++;
        switch (v->pol.on_no_data) {
        case VERIFY_NODATA_PASS:
            v->measurements++;
            v->passes++;
            v->no_data_pending = false;
            break;
        case VERIFY_NODATA_FAIL:
            v->measurements++;
            v->no_data_pending = false;
            count_failure(v);
            break;
        case VERIFY_NODATA_INCONCLUSIVE:
            v->no_data_pending = true;
            break;
        }
        break;
    case CHECK_ERROR:
        v->errors++;
        v->consecutive_errors++;
        if (v->consecutive_errors > v->pol.error_limit)
            count_failure(v);
        break;
    }
    return v->state;
}

enum verify_state verify_finish(struct verify *v)
{
    if (v->state != VERIFY_RUNNING)
        return v->state;
    if (v->no_data_pending || v->measurements < v->pol.min_count)
        v->state = VERIFY_INCONCLUSIVE;
    else
        v->state = VERIFY_PASSED;
    return v->state;
}

const char *verify_state_name(enum verify_state s)
{
    switch (s) {
    case VERIFY_RUNNING:
        return "running";
    case VERIFY_PASSED:
        return "passed";
    case VERIFY_FAILED:
        return "failed";
    case VERIFY_INCONCLUSIVE:
        return "inconclusive";
    }
    return "unknown";
}

const char *check_outcome_name(enum check_outcome o)
{
    switch (o) {
    case CHECK_PASS:
        return "pass";
    case CHECK_FAIL:
        return "fail";
    case CHECK_NO_DATA:
        return "no data";
    case CHECK_ERROR:
        return "error";
    }
    return "unknown";
}

static const char *no_data_mode(enum verify_on_no_data m)
{
    switch (m) {
    case VERIFY_NODATA_PASS:
        return "counted as passed";
    case VERIFY_NODATA_FAIL:
        return "counted as failed";
    case VERIFY_NODATA_INCONCLUSIVE:
        break;
    }
    return "inconclusive";
}

void verify_summary(const struct verify *v, struct buf *out)
{
    const char *sep = ": ";
    buf_addf(out, "%d measurement%s", v->measurements, v->measurements == 1 ? "" : "s");
    if (v->measurements < v->pol.min_count)
        buf_addf(out, " (%d required)", v->pol.min_count);
    if (v->passes) {
        buf_addf(out, "%s%d passed", sep, v->passes);
        sep = ", ";
    }
    if (v->failures || v->measurements) {
        buf_addf(out, "%s%d failed (limit %d)", sep, v->failures, v->pol.failure_limit);
        sep = ", ";
    }
    if (v->errors) {
        int past = v->failures - (v->measurements - v->passes);
        buf_addf(out, "%s%d error%s (", sep, v->errors, v->errors == 1 ? "" : "s");
        if (v->consecutive_errors)
            buf_addf(out, "the latest %d in a row, ", v->consecutive_errors);
        buf_addf(out, "limit %d in a row", v->pol.error_limit);
        if (past > 0)
            buf_addf(out, "; %d counted as failed", past);
        buf_addch(out, ')');
        sep = ", ";
    }
    if (v->no_data) {
        buf_addf(out, "%s%d no data (%s)", *sep == ':' ? sep : "; ", v->no_data,
                 no_data_mode(v->pol.on_no_data));
        if (v->no_data_pending)
            buf_adds(out, ", the latest unresolved");
    }
}
