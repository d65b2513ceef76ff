#include "core/secret.h"

#include <errno.h>
#include <string.h>

#include "util/base64.h"

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool secret_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > SECRET_NAME_MAX || is_digit(name[0]) || !strncmp(name, "FLYWHEEL_", 9))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_upper(name[i]) && !is_digit(name[i]) && name[i] != '_')
            return false;
    return true;
}

int secret_name_check(const char *name, struct buf *err)
{
    if (secret_name_valid(name))
        return 0;
    size_t n = strlen(name);
    if (n > SECRET_NAME_MAX)
        buf_addf(err, "secret name '%.20s...' has %zu characters; the limit is %d", name, n,
                 SECRET_NAME_MAX);
    else if (!strncmp(name, "FLYWHEEL_", 9))
        buf_addf(err, "secret '%s' is reserved: names starting with FLYWHEEL_ are set by flywheel",
                 name);
    else
        buf_addf(err,
                 "'%s' is not a valid secret name: use upper-case letters, digits and '_', not "
                 "starting with a digit (it becomes an environment variable)",
                 name);
    return -EINVAL;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int secret_value_check(const void *value, size_t len, struct buf *err)
{
    const unsigned char *v = value;
    if (len < SECRET_VALUE_MIN) {
        buf_addf(err,
                 "the value has %zu bytes; a secret needs at least %d: it is masked in every log "
                 "(replaced by ***), and masking a value that short would destroy the logs",
                 len, SECRET_VALUE_MIN);
        return -EINVAL;
    }
    if (len > SECRET_VALUE_MAX) {
        buf_addf(err, "the value has %zu bytes; the limit is %d", len, SECRET_VALUE_MAX);
        return -EINVAL;
    }
    if (memchr(v, '\0', len)) {
        buf_adds(err, "the value holds a NUL byte; a secret is given to jobs as an environment "
                      "variable, which cannot hold one");
        return -EINVAL;
    }
    size_t i = 0;
    while (i < len && is_space(v[i]))
        i++;
    if (i == len) {
        buf_adds(err, "the value is only white space; masking it would destroy the logs");
        return -EINVAL;
    }
    return 0;
}

/* ---- forms ------------------------------------------------------------------- */

struct emitter {
    void (*fn)(void *ctx, const char *form, size_t len);
    void *ctx;
};

static void put(const struct emitter *e, const char *s, size_t n)
{
    if (n >= SECRET_LINE_MIN)
        e->fn(e->ctx, s, n);
}

static void url_safe(struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '+')
            b->data[i] = '-';
        else if (b->data[i] == '/')
            b->data[i] = '_';
    }
}

/* The Base64 forms of v (see secret.h), in one alphabet. */
static void base64_forms(const struct emitter *e, const unsigned char *v, size_t n, bool url)
{
    struct buf b = BUF_INIT;
    base64_encode(v, n, &b);
    if (url)
        url_safe(&b);
    size_t unpadded = b.len;
    while (unpadded && b.data[unpadded - 1] == '=')
        unpadded--;
    put(e, b.data, b.len);
    put(e, b.data, unpadded);
    put(e, b.data, n * 8 / 6); /* the characters made of the value's bits only */
    if (!url) {
        static const size_t widths[] = {76, 64};
        for (size_t w = 0; w < 2; w++)
            for (size_t at = 0; b.len > widths[w] && at < b.len; at += widths[w])
                put(e, b.data + at, b.len - at < widths[w] ? b.len - at : widths[w]);
    }
    /* The value after one or two other bytes: the characters of its bits only. */
    for (size_t k = 1; k <= 2; k++) {
        struct buf s = BUF_INIT, in = BUF_INIT;
        buf_add(&in, "\0\0", k);
        buf_add(&in, v, n);
        base64_encode(in.data, in.len, &s);
        if (url)
            url_safe(&s);
        size_t first = k == 1 ? 2 : 3, end = (k + n) * 8 / 6;
        if (end > first)
            put(e, s.data + first, end - first);
        explicit_bzero(in.data, in.len);
        explicit_bzero(s.data, s.len);
        buf_release(&in);
        buf_release(&s);
    }
    explicit_bzero(b.data, b.len);
    buf_release(&b);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

enum url_kind {
    URL_RFC3986, /* every byte but the unreserved A-Z a-z 0-9 - . _ ~ as %XX */
    URL_FORM,    /* the same, a space as '+' (HTML forms) */
    URL_JS,      /* the unreserved and ! ' ( ) * kept (encodeURIComponent, jq's @uri) */
    URL_ALL,     /* every byte as %XX */
};

/* Percent-encoding of one kind, with hex digits in upper or lower case. */
static void url_form(const struct emitter *e, const unsigned char *v, size_t n, const char *hex,
                     enum url_kind kind)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        bool keep = kind != URL_ALL && unreserved(v[i]);
        if (kind == URL_JS && strchr("!'()*", v[i]) && v[i])
            keep = true;
        bool form = kind == URL_FORM;
        if (keep) {
            buf_addch(&b, v[i]);
        } else if (form && v[i] == ' ') {
            buf_addch(&b, '+');
        } else {
            buf_addch(&b, '%');
            buf_addch(&b, hex[v[i] >> 4]);
            buf_addch(&b, hex[v[i] & 15]);
        }
    }
    if (b.len != n || memcmp(b.data, v, n))
        put(e, b.data, b.len);
    explicit_bzero(b.data, b.len);
    buf_release(&b);
}

static bool blank(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return false;
    return true;
}

void secret_forms(const void *value, size_t len,
                  void (*fn)(void *ctx, const char *form, size_t len), void *ctx)
{
    const unsigned char *v = value;
    struct emitter e = {fn, ctx};
    if (!len)
        return;
    if (!memchr(v, '\n', len)) {
        put(&e, (const char *)v, len);
    } else {
        for (size_t at = 0; at < len;) {
            const unsigned char *nl = memchr(v + at, '\n', len - at);
            size_t l = nl ? (size_t)(nl - (v + at)) : len - at;
            size_t t = l;
            if (t && v[at + t - 1] == '\r')
                t--;
            if (!blank(v + at, t))
                put(&e, (const char *)v + at, t);
            at += l + 1;
        }
    }
    base64_forms(&e, v, len, false);
    base64_forms(&e, v, len, true);
    static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
    url_form(&e, v, len, upper, URL_RFC3986);
    url_form(&e, v, len, lower, URL_RFC3986);
    if (memchr(v, ' ', len))
        url_form(&e, v, len, upper, URL_FORM);
    for (const char *c = "!'()*"; *c; c++)
        if (memchr(v, *c, len)) {
            url_form(&e, v, len, upper, URL_JS);
            url_form(&e, v, len, lower, URL_JS);
            break;
        }
    url_form(&e, v, len, upper, URL_ALL);
    url_form(&e, v, len, lower, URL_ALL);
}

struct adder {
    struct mask_set *set;
    int rc;
};

static void add_form(void *ctx, const char *form, size_t len)
{
    struct adder *a = ctx;
    if (!a->rc)
        a->rc = mask_set_add(a->set, form, len);
}

int secret_mask_add(struct mask_set *set, const void *value, size_t len)
{
    struct adder a = {set, 0};
    secret_forms(value, len, add_form, &a);
    return a.rc;
}

size_t secret_short_lines(const void *value, size_t len)
{
    const unsigned char *v = value;
    size_t n = 0;
    if (!memchr(v, '\n', len))
        return 0;
    for (size_t at = 0; at < len;) {
        const unsigned char *nl = memchr(v + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (v + at)) : len - at;
        size_t t = l && v[at + l - 1] == '\r' ? l - 1 : l;
        if (t && (t < SECRET_LINE_MIN || blank(v + at, t)))
            n++;
        at += l + 1;
    }
    return n;
}
