#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ytree.h"

static const struct ytree_limits lim_default = {32, 65536, 1000000};

static struct ytree *parse_ok(const char *src, const struct ytree_limits *lim)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct ytree *t = NULL;
    if (ytree_parse(src, strlen(src), lim ? lim : &lim_default, &t, &d))
        fail_msg("parse failed: %s", d.n ? d.v[0].msg : "(no message)");
    assert_non_null(t);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.n, 0);
    diag_list_release(&d);
    return t;
}

/* Parses src expecting one error at line:col whose message is msg. */
static void parse_fail(const char *src, size_t len, const struct ytree_limits *lim, unsigned line,
                       unsigned col, const char *msg)
{
    struct diag_list d = DIAG_LIST_INIT;
    struct ytree *t = (struct ytree *)&d; /* must be overwritten with NULL */
    assert_int_equal(ytree_parse(src, len, lim ? lim : &lim_default, &t, &d), -1);
    assert_null(t);
    assert_int_equal(d.nerrors, 1);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].sev, DIAG_ERROR);
    if (strcmp(d.v[0].msg, msg))
        fail_msg("got \"%s\", expected \"%s\"", d.v[0].msg, msg);
    assert_int_equal(d.v[0].pos.line, line);
    assert_int_equal(d.v[0].pos.col, col);
    diag_list_release(&d);
}

static void assert_pos(const struct ynode *n, unsigned line, unsigned col, unsigned len)
{
    assert_non_null(n);
    if (n->pos.line != line || n->pos.col != col || n->pos.len != len)
        fail_msg("node at %u:%u+%u, expected %u:%u+%u", n->pos.line, n->pos.col, n->pos.len, line,
                 col, len);
}

static void assert_scalar(const struct ynode *n, const char *s)
{
    assert_non_null(n);
    assert_int_equal(n->kind, YNODE_SCALAR);
    assert_string_equal(n->str, s);
    assert_int_equal(n->slen, strlen(s));
}

/* The value for key in map m (a direct child), or NULL. */
static struct ynode *get(const struct ynode *m, const char *key)
{
    assert_int_equal(m->kind, YNODE_MAP);
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[2 * i]->str, key))
            return m->items[2 * i + 1];
    return NULL;
}

static void test_empty(void **state)
{
    (void)state;
    struct ytree *t = parse_ok("", NULL);
    assert_null(ytree_root(t));
    ytree_free(t);
    t = parse_ok("# only a comment\n", NULL);
    assert_null(ytree_root(t));
    ytree_free(t);
    /* An explicit document with nothing in it holds one empty (null) scalar. */
    t = parse_ok("---\n", NULL);
    assert_non_null(ytree_root(t));
    assert_scalar(ytree_root(t), "");
    assert_true(ynode_is_null(ytree_root(t)));
    ytree_free(t);
    ytree_free(NULL);
}

static void test_positions(void **state)
{
    (void)state;
    const char *src = "name: hello\n"                     /* 1 */
                      "jobs:\n"                           /* 2 */
                      "  build:\n"                        /* 3 */
                      "    run: [make, \"make check\"]\n" /* 4 */
                      "  test: {run: x}\n"                /* 5 */
                      "list:\n"                           /* 6 */
                      "  - one\n"                         /* 7 */
                      "  - 'two'\n";                      /* 8 */
    struct ytree *t = parse_ok(src, NULL);
    struct ynode *root = ytree_root(t);
    assert_int_equal(root->kind, YNODE_MAP);
    assert_int_equal(root->n, 3);
    assert_pos(root, 1, 1, 1);
    /* keys and values, in file order */
    assert_scalar(root->items[0], "name");
    assert_pos(root->items[0], 1, 1, 4);
    assert_scalar(root->items[1], "hello");
    assert_pos(root->items[1], 1, 7, 5);
    assert_scalar(root->items[2], "jobs");
    assert_scalar(root->items[4], "list");

    struct ynode *jobs = get(root, "jobs");
    assert_int_equal(jobs->kind, YNODE_MAP);
    assert_pos(jobs, 3, 3, 1); /* a block mapping starts at its first key */
    assert_pos(jobs->items[0], 3, 3, 5);
    struct ynode *run = get(get(jobs, "build"), "run");
    assert_int_equal(run->kind, YNODE_SEQ);
    assert_int_equal(run->n, 2);
    assert_pos(run, 4, 10, 1);
    assert_scalar(run->items[0], "make");
    assert_pos(run->items[0], 4, 11, 4);
    assert_scalar(run->items[1], "make check");
    assert_pos(run->items[1], 4, 17, 12); /* quotes included */
    struct ynode *test = get(jobs, "test");
    assert_int_equal(test->kind, YNODE_MAP);
    assert_pos(test, 5, 9, 1);
    assert_pos(get(test, "run"), 5, 15, 1);

    struct ynode *list = get(root, "list");
    assert_int_equal(list->kind, YNODE_SEQ);
    assert_pos(list, 7, 3, 1);
    assert_pos(list->items[0], 7, 5, 3);
    assert_pos(list->items[1], 8, 5, 5);
    ytree_free(t);
}

static void test_positions_count_characters(void **state)
{
    (void)state;
    /* Columns count characters, not bytes: 'é' is two bytes, one column. */
    struct ytree *t = parse_ok("- \xc3\xa9t\xc3\xa9: \"\xc3\xbc\"\n", NULL);
    struct ynode *m = ytree_root(t)->items[0];
    assert_pos(m->items[0], 1, 3, 3);
    assert_pos(m->items[1], 1, 8, 3);
    assert_string_equal(m->items[1]->str, "\xc3\xbc");
    assert_int_equal(m->items[1]->slen, 2);
    ytree_free(t);
    /* A scalar over several lines underlines one character. */
    t = parse_ok("k: 'a\n  b'\n", NULL);
    assert_scalar(get(ytree_root(t), "k"), "a b");
    assert_pos(get(ytree_root(t), "k"), 1, 4, 1);
    ytree_free(t);
}

static void test_quoted_and_tagged(void **state)
{
    (void)state;
    const char *src = "plain: yes\n"
                      "single: 'yes'\n"
                      "double: \"yes\"\n"
                      "literal: |\n  yes\n"
                      "folded: >\n  yes\n"
                      "tagged: !!str yes\n"
                      "empty:\n";
    struct ytree *t = parse_ok(src, NULL);
    struct ynode *r = ytree_root(t);
    struct ynode *n = get(r, "plain");
    assert_false(n->quoted);
    assert_false(n->tagged);
    assert_true(get(r, "single")->quoted);
    assert_true(get(r, "double")->quoted);
    assert_true(get(r, "literal")->quoted);
    assert_scalar(get(r, "literal"), "yes\n");
    assert_true(get(r, "folded")->quoted);
    n = get(r, "tagged");
    assert_false(n->quoted);
    assert_true(n->tagged);
    assert_scalar(n, "yes");
    assert_false(n->null_tagged);
    n = get(r, "empty");
    assert_scalar(n, "");
    assert_false(n->quoted);
    /* keys are scalars too */
    assert_false(r->items[0]->quoted);
    ytree_free(t);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    struct ytree *t = parse_ok("k: \"a\\0b\"\n", NULL);
    struct ynode *n = get(ytree_root(t), "k");
    assert_int_equal(n->slen, 3);
    assert_memory_equal(n->str, "a\0b", 4);
    ytree_free(t);
}

static void test_is_null_and_kind_name(void **state)
{
    (void)state;
    const char *src = "a: ~\nb: null\nc: Null\nd: NULL\ne:\n"
                      "f: nUll\ng: \"null\"\nh: '~'\ni: !!str null\nj: ''\nk: 0\n"
                      "m: {}\nl: []\n"
                      "n: !!null ~\no: !!null ''\np: !!null\nq: !<tag:yaml.org,2002:null> x\n";
    struct ytree *t = parse_ok(src, NULL);
    struct ynode *r = ytree_root(t);
    /* plain null words, and any scalar explicitly tagged !!null */
    static const char *const nulls[] = {"a", "b", "c", "d", "e", "n", "o", "p", "q"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (!ynode_is_null(get(r, nulls[i])))
            fail_msg("'%s' should be null", nulls[i]);
        assert_true(ynode_is_null(get(r, nulls[i])));
        assert_string_equal(ynode_kind_name(get(r, nulls[i])), "null");
    }
    static const char *const strings[] = {"f", "g", "h", "i", "j", "k"};
    for (size_t i = 0; i < 6; i++) {
        if (ynode_is_null(get(r, strings[i])))
            fail_msg("'%s' should not be null", strings[i]);
        assert_string_equal(ynode_kind_name(get(r, strings[i])), "a scalar");
    }
    assert_false(ynode_is_null(get(r, "m")));
    assert_false(ynode_is_null(get(r, "l")));
    assert_false(ynode_is_null(NULL));
    assert_string_equal(ynode_kind_name(get(r, "m")), "a mapping");
    assert_string_equal(ynode_kind_name(get(r, "l")), "a list");
    assert_string_equal(ynode_kind_name(NULL), "nothing");
    ytree_free(t);
}

static void test_aliases_shared(void **state)
{
    (void)state;
    const char *src = "base: &b {x: 1, y: [2, 3]}\n"
                      "one: *b\n"
                      "list: [*b, *b]\n"
                      "s: &s word\n"
                      "t: *s\n";
    struct ytree *t = parse_ok(src, NULL);
    struct ynode *r = ytree_root(t);
    struct ynode *base = get(r, "base");
    /* the very same node, not a copy */
    assert_ptr_equal(get(r, "one"), base);
    struct ynode *list = get(r, "list");
    assert_int_equal(list->n, 2);
    assert_ptr_equal(list->items[0], base);
    assert_ptr_equal(list->items[1], base);
    assert_ptr_equal(get(r, "t"), get(r, "s"));
    assert_scalar(get(r, "t"), "word");
    /* the alias keeps the anchor's position */
    assert_int_equal(get(r, "one")->pos.line, 1);
    ytree_free(t); /* each node freed once (ASan would say otherwise) */
}

static void test_anchor_redefined(void **state)
{
    (void)state;
    struct ytree *t = parse_ok("a: &x 1\nb: *x\nc: &x [2]\nd: *x\n", NULL);
    struct ynode *r = ytree_root(t);
    assert_ptr_equal(get(r, "b"), get(r, "a"));
    assert_ptr_equal(get(r, "d"), get(r, "c"));
    assert_int_equal(get(r, "d")->kind, YNODE_SEQ);
    ytree_free(t);
}

static void test_weights(void **state)
{
    (void)state;
    struct ytree *t = parse_ok("x\n", NULL);
    assert_int_equal(ytree_root(t)->weight, 1);
    ytree_free(t);
    t = parse_ok("[]\n", NULL);
    assert_int_equal(ytree_root(t)->weight, 1);
    ytree_free(t);
    /* map: itself + keys + values */
    t = parse_ok("a: 1\nb: [1, 2]\n", NULL);
    assert_int_equal(get(ytree_root(t), "b")->weight, 3);
    assert_int_equal(ytree_root(t)->weight, 1 + 2 + 1 + 3);
    ytree_free(t);
    /* aliases count what they stand for, every time */
    t = parse_ok("a: &a [1, 2, 3]\nb: [*a, *a]\nc: *a\n", NULL);
    struct ynode *r = ytree_root(t);
    assert_int_equal(get(r, "a")->weight, 4);
    assert_int_equal(get(r, "b")->weight, 1 + 4 + 4);
    assert_int_equal(r->weight, 1 + (1 + 4) + (1 + 9) + (1 + 4));
    ytree_free(t);
}

static void test_bytes(void **state)
{
    (void)state;
    /* scalars count their length (keys too); collections what they hold */
    struct ytree *t = parse_ok("abc: &a [xy, '', z]\nb: [*a, *a]\nc: *a\n", NULL);
    struct ynode *r = ytree_root(t);
    assert_int_equal(get(r, "abc")->bytes, 3);
    assert_int_equal(get(r, "b")->bytes, 6);
    assert_int_equal(r->bytes, 3 + 3 + 1 + 6 + 1 + 3);
    assert_int_equal(r->items[0]->bytes, 3);
    ytree_free(t);
    t = parse_ok("[]", NULL);
    assert_int_equal(ytree_root(t)->bytes, 0);
    ytree_free(t);
}

/* "s: &s <64 KiB>" then a list of n aliases to it: 2 + (n + 1) * 65536 bytes. */
static char *alias_text(size_t n)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "s: &s ");
    for (size_t i = 0; i < 65536; i++)
        buf_addch(&b, 'x');
    buf_adds(&b, "\nl: [");
    for (size_t i = 0; i < n; i++)
        buf_adds(&b, i ? ", *s" : "*s");
    buf_adds(&b, "]\n");
    return buf_detach(&b, NULL);
}

static void test_bytes_limit(void **state)
{
    (void)state;
    /* The default node limit is far away: only the bytes count. 254 aliases make
     * 2 + 255 * 64 KiB, under 16 MiB; the 255th takes it over, and is named. */
    char *src = alias_text(254);
    struct ytree *t = parse_ok(src, NULL);
    assert_int_equal(ytree_root(t)->bytes, 2 + 255 * 65536);
    ytree_free(t);
    free(src);
    src = alias_text(255);
    parse_fail(src, strlen(src), NULL, 2, 5 + 4 * 254,
               "the document expands to more than 16777216 bytes through aliases: '*s' here "
               "stands for 65536 bytes");
    free(src);
    /* Through nesting: each level doubles, and the level that goes over is refused at
     * its alias. */
    struct buf b = BUF_INIT;
    buf_adds(&b, "a0: &a0 ");
    for (size_t i = 0; i < 60000; i++)
        buf_addch(&b, 'x');
    buf_adds(&b, "\n");
    for (int i = 1; i <= 10; i++)
        buf_addf(&b, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1, i - 1);
    /* a0..a7 hold 255 * 60000 bytes (15.3 MB) in all; a8's first alias, to a7's
     * 128 * 60000, takes the document past 16 MiB */
    parse_fail(b.data, b.len, NULL, 9, 10,
               "the document expands to more than 16777216 bytes through aliases: '*a7' here "
               "stands for 7680000 bytes");
    buf_release(&b);
}

/* "Billion laughs": nine levels, each ten aliases of the one before. */
static char *alias_bomb(int levels)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i <= levels; i++) {
        buf_addf(&b, "l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            buf_addf(&b, "%s*l%d", k ? ", " : "", i - 1);
        buf_adds(&b, "]\n");
    }
    return buf_detach(&b, NULL);
}

static void test_alias_bomb_refused(void **state)
{
    (void)state;
    char *src = alias_bomb(9);
    /* l3 weighs 1 + 10 * (1 + 10 * (1 + 10 * 11)) = 11111 > 10000: refused at l3, line 4. */
    struct ytree_limits lim = {32, 65536, 10000};
    parse_fail(src, strlen(src), &lim, 4, 5,
               "the document expands to more than 10000 nodes (through aliases?)");
    /* With the default limit too, and without expanding anything. */
    parse_fail(src, strlen(src), NULL, 6, 5,
               "the document expands to more than 1000000 nodes (through aliases?)");
    free(src);
    /* Weights saturate instead of wrapping around, even with no limit. */
    src = alias_bomb(30);
    struct ytree_limits nolim = {64, 65536, SIZE_MAX - 1};
    struct diag_list d = DIAG_LIST_INIT;
    struct ytree *t;
    assert_int_equal(ytree_parse(src, strlen(src), &nolim, &t, &d), -1);
    assert_null(t);
    assert_int_equal(d.nerrors, 1);
    diag_list_release(&d);
    free(src);
}

static void test_max_nodes_exact(void **state)
{
    (void)state;
    /* [a, b, c] weighs 4: a limit of 4 takes it, 3 does not. */
    struct ytree_limits lim = {32, 65536, 4};
    struct ytree *t = parse_ok("[a, b, c]", &lim);
    assert_int_equal(ytree_root(t)->weight, 4);
    ytree_free(t);
    lim.max_nodes = 3;
    parse_fail("[a, b, c]", 9, &lim, 1, 1,
               "the document expands to more than 3 nodes (through aliases?)");
    /* also without any alias: a plain long list */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 200; i++)
        buf_addf(&b, "- %d\n", i);
    lim.max_nodes = 200;
    parse_fail(b.data, b.len, &lim, 1, 1,
               "the document expands to more than 200 nodes (through aliases?)");
    buf_release(&b);
}

static void test_depth_limit(void **state)
{
    (void)state;
    struct ytree_limits lim = {3, 65536, 1000};
    struct ytree *t = parse_ok("a: {b: [c]}", &lim);
    ytree_free(t);
    parse_fail("a: {b: [[c]]}", 13, &lim, 1, 9, "nesting deeper than 3 levels");
    parse_fail("- - - - x\n", 10, &lim, 1, 7, "nesting deeper than 3 levels");
    /* a deep flow sequence with the default limit */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    parse_fail(deep, sizeof(deep), NULL, 1, 33, "nesting deeper than 32 levels");
    struct ytree_limits zero = {0, 65536, 1000};
    parse_fail("{}", 2, &zero, 1, 1, "nesting deeper than 0 levels");
    t = parse_ok("scalar", &zero);
    ytree_free(t);
}

static void test_scalar_limit(void **state)
{
    (void)state;
    struct ytree_limits lim = {32, 10, 1000};
    struct ytree *t = parse_ok("k: 0123456789", &lim);
    ytree_free(t);
    parse_fail("k: 0123456789a", 14, &lim, 1, 4, "a string of 11 bytes; the limit is 10");
    /* the parsed length counts, after escapes */
    t = parse_ok("k: \"\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\"", &lim);
    assert_scalar(get(ytree_root(t), "k"), "AAAAAAAAAA");
    ytree_free(t);
    /* keys are strings too */
    parse_fail("0123456789ab: 1", 15, &lim, 1, 1, "a string of 12 bytes; the limit is 10");
}

static void test_unknown_anchor(void **state)
{
    (void)state;
    parse_fail("a: *nope\n", 9, NULL, 1, 4,
               "unknown anchor 'nope' (an alias must follow its anchor's node)");
    /* an alias to its own collection: not yet complete, so unknown (the tree stays acyclic) */
    parse_fail("a: &x [1, *x]\n", 14, NULL, 1, 11,
               "unknown anchor 'x' (an alias must follow its anchor's node)");
    parse_fail("a: &m {k: *m}\n", 14, NULL, 1, 11,
               "unknown anchor 'm' (an alias must follow its anchor's node)");
    /* an alias before its anchor */
    parse_fail("a: *x\nb: &x 1\n", 14, NULL, 1, 4,
               "unknown anchor 'x' (an alias must follow its anchor's node)");
}

static void test_second_document(void **state)
{
    (void)state;
    const char *src = "a: 1\n---\nb: 2\n";
    parse_fail(src, strlen(src), NULL, 2, 1,
               "a second YAML document: the pipeline file holds exactly one");
    src = "---\na: 1\n...\n---\nb: 2\n";
    parse_fail(src, strlen(src), NULL, 4, 1,
               "a second YAML document: the pipeline file holds exactly one");
    /* one explicit document, with an end marker, is fine */
    struct ytree *t = parse_ok("---\na: 1\n...\n", NULL);
    assert_scalar(get(ytree_root(t), "a"), "1");
    ytree_free(t);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    parse_fail("a: b: c", 7, NULL, 1, 5,
               "invalid YAML: mapping values are not allowed in this context");
    parse_fail("a: 1\n b: 2\n", 10, NULL, 2, 3,
               "invalid YAML: mapping values are not allowed in this context");
    parse_fail("a:\n\t- x\n", 8, NULL, 2, 1,
               "invalid YAML: found character that cannot start any token while scanning for "
               "the next token");
    /* Something left open at the end of the input: libyaml finds out past the
     * last line; the report is where it was opened. */
    parse_fail("\"open", 5, NULL, 1, 1,
               "invalid YAML: found unexpected end of stream while scanning a quoted scalar "
               "(opened here, still open at the end of the file)");
    parse_fail("a: b\nc: 'x\n\n", 12, NULL, 2, 4,
               "invalid YAML: found unexpected end of stream while scanning a quoted scalar "
               "(opened here, still open at the end of the file)");
    parse_fail("a: [1, 2", 8, NULL, 1, 4,
               "invalid YAML: did not find expected ',' or ']' while parsing a flow sequence "
               "(opened here, still open at the end of the file)");
    parse_fail("a: {b: 1\n", 9, NULL, 1, 4,
               "invalid YAML: did not find expected ',' or '}' while parsing a flow mapping "
               "(opened here, still open at the end of the file)");
    /* a syntax error after an anchored collection has been opened: no leak; the
     * innermost open collection is named */
    parse_fail("a: &x [1, {b: &y [2\n", 20, NULL, 1, 18,
               "invalid YAML: did not find expected ',' or ']' while parsing a flow sequence "
               "(opened here, still open at the end of the file)");
    /* an error before the end is reported where it is found */
    parse_fail("a: [1, 2\nb: }\n", 14, NULL, 2, 2,
               "invalid YAML: did not find expected ',' or ']' while parsing a flow sequence");
}

/* Errors are appended to a list that may already hold some. */
static void test_errors_appended(void **state)
{
    (void)state;
    struct diag_list d = DIAG_LIST_INIT;
    diag_add(&d, DIAG_WARNING, (struct pos){1, 1, 1}, "earlier");
    struct ytree *t;
    assert_int_equal(ytree_parse("*x", 2, &lim_default, &t, &d), -1);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.nerrors, 1);
    assert_int_equal(d.nwarnings, 1);
    assert_string_equal(d.v[0].msg, "earlier");
    diag_list_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_positions_count_characters),
        cmocka_unit_test(test_quoted_and_tagged),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_is_null_and_kind_name),
        cmocka_unit_test(test_aliases_shared),
        cmocka_unit_test(test_anchor_redefined),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_bytes_limit),
        cmocka_unit_test(test_alias_bomb_refused),
        cmocka_unit_test(test_max_nodes_exact),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_scalar_limit),
        cmocka_unit_test(test_unknown_anchor),
        cmocka_unit_test(test_second_document),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_errors_appended),
    };
    return cmocka_run_group_tests_name("ytree", tests, NULL, NULL);
}
