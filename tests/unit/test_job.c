#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "core/job.h"

/* The whole transition table: every (state, event) pair, legal or not. */
static void test_every_transition(void **state)
{
    (void)state;
    struct {
        enum job_state from;
        enum job_event ev;
        int to; /* -1: refused */
    } legal[] = {
        {JOB_QUEUED, JOB_EV_START, JOB_RUNNING},     {JOB_QUEUED, JOB_EV_SKIP, JOB_SKIPPED},
        {JOB_QUEUED, JOB_EV_CANCEL, JOB_CANCELLED},  {JOB_RUNNING, JOB_EV_PASS, JOB_PASSED},
        {JOB_RUNNING, JOB_EV_FAIL, JOB_FAILED},      {JOB_RUNNING, JOB_EV_TIME_OUT, JOB_TIMED_OUT},
        {JOB_RUNNING, JOB_EV_CANCEL, JOB_CANCELLED}, {JOB_FAILED, JOB_EV_RETRY, JOB_QUEUED},
        {JOB_TIMED_OUT, JOB_EV_RETRY, JOB_QUEUED},   {JOB_PASSED, JOB_EV_RERUN, JOB_QUEUED},
        {JOB_FAILED, JOB_EV_RERUN, JOB_QUEUED},      {JOB_TIMED_OUT, JOB_EV_RERUN, JOB_QUEUED},
        {JOB_CANCELLED, JOB_EV_RERUN, JOB_QUEUED},   {JOB_SKIPPED, JOB_EV_RERUN, JOB_QUEUED},
    };
    size_t nlegal = sizeof(legal) / sizeof(legal[0]);
    int allowed = 0;
    for (int s = 0; s < JOB_NSTATES; s++) {
        for (int e = 0; e < JOB_NEVENTS; e++) {
            int want = -1;
            for (size_t k = 0; k < nlegal; k++)
                if ((int)legal[k].from == s && (int)legal[k].ev == e)
                    want = legal[k].to;
            enum job_state to = (enum job_state)99;
            int rc = job_transition((enum job_state)s, (enum job_event)e, &to);
            if (want < 0) {
                assert_int_equal(rc, -EINVAL);
                assert_int_equal(to, 99); /* untouched when refused */
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(to, want);
                allowed++;
            }
        }
    }
    assert_int_equal(allowed, (int)nlegal);
}

static void test_names(void **state)
{
    (void)state;
    for (int s = 0; s < JOB_NSTATES; s++)
        assert_int_equal(job_state_parse(job_state_name((enum job_state)s)), s);
    assert_string_equal(job_state_name(JOB_TIMED_OUT), "timed-out");
    assert_int_equal(job_state_parse("bogus"), -1);
    assert_string_equal(job_event_name(JOB_EV_RETRY), "retry");
    assert_string_equal(job_event_name(JOB_EV_RERUN), "rerun");
    assert_string_equal(job_state_name((enum job_state)42), "unknown");
}

static void test_done(void **state)
{
    (void)state;
    assert_false(job_state_done(JOB_QUEUED));
    assert_false(job_state_done(JOB_RUNNING));
    assert_true(job_state_done(JOB_PASSED));
    assert_true(job_state_done(JOB_FAILED));
    assert_true(job_state_done(JOB_SKIPPED));
    assert_true(job_state_done(JOB_CANCELLED));
    assert_true(job_state_done(JOB_TIMED_OUT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_transition),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_done),
    };
    return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
