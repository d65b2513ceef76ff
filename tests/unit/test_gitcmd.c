/*
 * gitcmd_redact: the user and password of URLs in git's messages, and
 * gitcmd_run's errors with them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec/gitcmd.h"

static void redacts(const char *in, size_t from, const char *want)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, in);
    gitcmd_redact(&b, from);
    assert_string_equal(b.data, want);
    buf_release(&b);
}

static void test_redact(void **state)
{
    (void)state;
    redacts("fatal: unable to access 'https://bob:s3cret@example.com/app.git/': 403", 0,
            "fatal: unable to access 'https://***@example.com/app.git/': 403");
    redacts("https://x-access-token:ghp_abc@github.com/o/r", 0, "https://***@github.com/o/r");
    redacts("http://a@h http://b:c@h2/x and ssh://git@host:22/r", 0,
            "http://***@h http://***@h2/x and ssh://***@host:22/r");
    /* No user: untouched; an @ after the authority is not one. */
    redacts("https://example.com/a@b", 0, "https://example.com/a@b");
    redacts("git@github.com:o/r.git", 0, "git@github.com:o/r.git");
    redacts("mail me@example.com", 0, "mail me@example.com");
    redacts("://@", 0, "://@");
    /* A password with '@' in it: the last '@' ends the userinfo. */
    redacts("https://u:p@ss@h/r", 0, "https://***@h/r");
    /* Only from `from` on. */
    redacts("https://a:b@h | https://c:d@h", 16, "https://a:b@h | https://***@h");
    redacts("", 0, "");
}

static void test_run_error_has_no_password(void **state)
{
    (void)state;
    const char *args[] = {"ls-remote", "http://user:tok3n@127.0.0.1:9/none.git", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = gitcmd_run("/", args, NULL, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_null(strstr(err.data, "tok3n"));
    assert_non_null(strstr(err.data, "http://***@127.0.0.1:9/none.git"));
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_run_error_has_no_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
