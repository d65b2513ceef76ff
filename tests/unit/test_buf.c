#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"

/* The invariants every buffer keeps, whatever was done to it. */
static void assert_sane(const struct buf *b)
{
    assert_non_null(b->data);
    assert_int_equal(b->data[b->len], '\0');
    if (b->alloc)
        assert_true(b->len < b->alloc);
    else
        assert_int_equal(b->len, 0);
}

static void test_init_is_empty(void **state)
{
    (void)state;
    struct buf a = BUF_INIT;
    assert_sane(&a);
    assert_string_equal(a.data, "");
    assert_int_equal(a.cap, 0);

    struct buf b;
    memset(&b, 0x5a, sizeof(b));
    buf_init(&b, 128);
    assert_sane(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.cap, 128);
    /* Releasing a buffer that never allocated is harmless, and repeatable. */
    buf_release(&b);
    buf_release(&b);
    assert_sane(&b);
    assert_int_equal(b.cap, 128);
}

static void test_release_reinitialises(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    buf_adds(&b, "hello");
    assert_int_not_equal(b.alloc, 0);
    buf_release(&b);
    assert_sane(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.cap, 16); /* the cap survives: the buffer can be reused */
    buf_adds(&b, "again");
    assert_string_equal(b.data, "again");
    buf_release(&b);
}

static void test_detach(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    buf_adds(&b, "abc");
    size_t len = 0;
    char *s = buf_detach(&b, &len);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    /* b is empty again, keeps its cap, and does not share s. */
    assert_sane(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.cap, 100);
    assert_ptr_not_equal(b.data, s);
    buf_adds(&b, "xyz");
    assert_string_equal(s, "abc");
    free(s);
    buf_release(&b);
}

static void test_detach_empty_is_freeable(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);
    assert_non_null(s);
    assert_ptr_not_equal(s, buf_empty); /* the caller owns it: it must be malloc'd */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    /* A NULL len is allowed. */
    buf_adds(&b, "x");
    s = buf_detach(&b, NULL);
    assert_string_equal(s, "x");
    free(s);
    /* The shared empty string was never written to. */
    assert_int_equal(buf_empty[0], '\0');
}

static void test_add_and_grow(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_add(&b, "", 0);
    assert_int_equal(b.alloc, 0); /* an empty append allocates nothing */
    char expect[5000];
    for (size_t i = 0; i < sizeof(expect) - 1; i++) {
        expect[i] = (char)('a' + i % 26);
        buf_addch(&b, expect[i]);
        assert_sane(&b);
    }
    expect[sizeof(expect) - 1] = '\0';
    assert_int_equal(b.len, sizeof(expect) - 1);
    assert_string_equal(b.data, expect);

    buf_reset(&b);
    assert_sane(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_adds(&b, "one");
    buf_add(&b, "two-and-more", 3);
    assert_string_equal(b.data, "onetwo");
    buf_release(&b);
}

static void test_grow_keeps_contents(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_grow(&b, 0);
    assert_sane(&b);
    assert_string_equal(b.data, "");
    buf_adds(&b, "keep");
    buf_grow(&b, 10000);
    assert_true(b.alloc >= b.len + 10000 + 1);
    assert_string_equal(b.data, "keep");
    size_t alloc = b.alloc;
    char *data = b.data;
    /* Appending within what was reserved does not reallocate. */
    for (int i = 0; i < 10000; i++)
        buf_addch(&b, 'x');
    assert_int_equal(b.alloc, alloc);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.len, 10004);
    buf_release(&b);
}

static void test_addf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_addf(&b, "%d jobs", 3);
    buf_addf(&b, ", %s", "ok");
    assert_string_equal(b.data, "3 jobs, ok");
    assert_int_equal(b.len, strlen("3 jobs, ok"));
    /* An empty expansion changes nothing. */
    buf_addf(&b, "%s", "");
    assert_int_equal(b.len, strlen("3 jobs, ok"));
    /* A long expansion, past the first allocation. */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_reset(&b);
    buf_addf(&b, "<%s>", big);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    assert_sane(&b);
    buf_release(&b);

    struct buf e = BUF_INIT;
    buf_addf(&e, "%s", "");
    assert_int_equal(e.alloc, 0);
    assert_sane(&e);
}

static void test_addf_ignores_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4);
    buf_addf(&b, "%s", "longer than four");
    buf_adds(&b, "!");
    assert_string_equal(b.data, "longer than four!");
    assert_int_equal(b.cap, 4);
    buf_release(&b);
}

static void test_try_add_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_try_add(&b, "abcde", 5), 0);
    assert_string_equal(b.data, "abcde");

    /* One byte over: refused, nothing changes, not even a partial append. */
    char *data = b.data;
    size_t alloc = b.alloc;
    assert_int_equal(buf_try_add(&b, "fghi", 4), -E2BIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "abcde");
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.alloc, alloc);

    /* Exactly up to the cap is allowed; then nothing more, but empty appends are fine. */
    assert_int_equal(buf_try_add(&b, "fgh", 3), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    assert_int_equal(buf_try_add(&b, "i", 1), -E2BIG);
    assert_int_equal(buf_try_add(&b, "", 0), 0);
    assert_string_equal(b.data, "abcdefgh");
    buf_release(&b);
}

static void test_try_add_cap_edges(void **state)
{
    (void)state;
    struct buf b;
    /* A single append larger than the cap, on an empty buffer: no allocation. */
    buf_init(&b, 3);
    assert_int_equal(buf_try_add(&b, "abcd", 4), -E2BIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_ptr_equal(b.data, buf_empty);

    /* A length so large that len + b->len would wrap around. */
    buf_adds(&b, "ab");
    assert_int_equal(buf_try_add(&b, "x", SIZE_MAX), -E2BIG);
    assert_int_equal(buf_try_add(&b, "x", SIZE_MAX - 1), -E2BIG);
    assert_string_equal(b.data, "ab");

    /* Past the cap through an unchecked append: checked appends are refused. */
    buf_adds(&b, "cdef");
    assert_int_equal(buf_try_add(&b, "g", 1), -E2BIG);
    assert_string_equal(b.data, "abcdef");
    buf_release(&b);

    /* No cap: anything goes. */
    struct buf u = BUF_INIT;
    char big[70000];
    memset(big, 'z', sizeof(big));
    assert_int_equal(buf_try_add(&u, big, sizeof(big)), 0);
    assert_int_equal(u.len, sizeof(big));
    assert_sane(&u);
    buf_release(&u);
}

static void test_embedded_nuls(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_add(&b, "a\0b\0c", 5);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "a\0b\0c", 6);
    buf_addch(&b, '\0');
    assert_int_equal(b.len, 6);
    assert_int_equal(b.data[5], '\0');
    assert_int_equal(b.data[6], '\0');
    size_t len;
    char *s = buf_detach(&b, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "a\0b\0c\0", 7);
    free(s);
}

static void test_setlen(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_setlen(&b, 0); /* allowed on the shared empty string */
    assert_ptr_equal(b.data, buf_empty);
    buf_adds(&b, "hello, world");
    buf_setlen(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    buf_adds(&b, "!");
    assert_string_equal(b.data, "hello!");
    buf_setlen(&b, 0);
    assert_string_equal(b.data, "");
    assert_int_not_equal(b.alloc, 0); /* memory is kept for reuse */
    buf_release(&b);
}

/* Runs fn in a child process and checks that it dies of abort(). */
static void expect_abort(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void setlen_past_alloc(void)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "abc");
    buf_setlen(&b, b.alloc); /* no room for the NUL: a programming error */
}

static void setlen_on_empty(void)
{
    struct buf b = BUF_INIT;
    buf_setlen(&b, 1); /* would write into the shared empty string */
}

static void test_setlen_misuse_aborts(void **state)
{
    (void)state;
    expect_abort(setlen_past_alloc);
    expect_abort(setlen_on_empty);
}

static void expect_json(const char *in, const char *want)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "x=");
    buf_add_json_str(&b, in);
    assert_string_equal(b.data + 2, want);
    assert_int_equal(b.len, 2 + strlen(want));
    buf_release(&b);
}

static void test_json_str(void **state)
{
    (void)state;
    expect_json("", "\"\"");
    expect_json("plain", "\"plain\"");
    expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_json("C:\\dir", "\"C:\\\\dir\"");
    expect_json("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    expect_json("\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\"");
    expect_json("\x1b[1m", "\"\\u001b[1m\"");
    /* Slash, DEL and UTF-8 need no escape in JSON and pass through unchanged. */
    expect_json("a/b\x7f", "\"a/b\x7f\"");
    expect_json("caf\xc3\xa9 \xe2\x9c\x93", "\"caf\xc3\xa9 \xe2\x9c\x93\"");
    expect_json("\\\"\n", "\"\\\\\\\"\\n\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty),
        cmocka_unit_test(test_release_reinitialises),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_detach_empty_is_freeable),
        cmocka_unit_test(test_add_and_grow),
        cmocka_unit_test(test_grow_keeps_contents),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_addf_ignores_cap),
        cmocka_unit_test(test_try_add_cap),
        cmocka_unit_test(test_try_add_cap_edges),
        cmocka_unit_test(test_embedded_nuls),
        cmocka_unit_test(test_setlen),
        cmocka_unit_test(test_setlen_misuse_aborts),
        cmocka_unit_test(test_json_str),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
