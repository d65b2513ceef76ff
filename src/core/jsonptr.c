/*
 * JSON pointers (RFC 6901) and the text of a JSON value. The contract is in
 * jsonptr.h.
 */
#include "core/jsonptr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jsonptr_check(const char *ptr, struct buf *err)
{
    if (ptr[0] && ptr[0] != '/') {
        buf_adds(err, "a JSON pointer is \"\" (the whole document) or starts with '/'");
        return -1;
    }
    for (const char *p = ptr; (p = strchr(p, '~')); p++) {
        if (p[1] != '0' && p[1] != '1') {
            buf_addf(err,
                     "'~' at offset %zu is not followed by 0 or 1: write '~0' for '~' and '~1' "
                     "for '/'",
                     (size_t)(p - ptr));
            return -1;
        }
    }
    return 0;
}

const char *jsonptr_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        break;
    }
    return "null";
}

/* Where the first len bytes of ptr lead, for messages: the document, or that pointer. */
static void add_where(struct buf *b, const char *ptr, size_t len)
{
    if (len)
        buf_add(b, ptr, len);
    else
        buf_adds(b, "the document");
}

/*
 * tok (unescaped) as an index of an array of n elements. Returns 0; -1 when
 * tok is no index, with the reason in why; -2 when it is past the end.
 */
static int array_index(const char *tok, size_t n, size_t *out, struct buf *why)
{
    size_t len = strlen(tok), i = 0;
    if (!strcmp(tok, "-")) {
        buf_adds(why, "'-' is the position after the last element, not an element");
        return -1;
    }
    if (!len || strspn(tok, "0123456789") != len) {
        buf_addf(why, "'%s' is not an array index", tok);
        return -1;
    }
    if (len > 1 && tok[0] == '0') {
        buf_addf(why, "'%s' is not an array index (no leading zeros)", tok);
        return -1;
    }
    for (const char *p = tok; *p; p++) {
        if (i > n) /* already past the end; stop before it could overflow */
            break;
        i = i * 10 + (size_t)(*p - '0');
    }
    if (i >= n)
        return -2;
    *out = i;
    return 0;
}

json_t *jsonptr_get(json_t *doc, const char *ptr, struct buf *err)
{
    struct buf tok = BUF_INIT, why = BUF_INIT;
    json_t *v = doc;
    const char *p = ptr;

    if (jsonptr_check(ptr, err))
        return NULL;
    while (v && *p) {
        /* p is at the '/' that starts the next token */
        const char *start = p + 1, *end = start + strcspn(start, "/");
        buf_reset(&tok);
        for (const char *q = start; q < end; q++) {
            if (*q == '~') {
                buf_addch(&tok, q[1] == '1' ? '/' : '~');
                q++;
            } else {
                buf_addch(&tok, *q);
            }
        }
        size_t at = (size_t)(p - ptr);
        json_t *next = NULL;
        if (json_is_object(v)) {
            next = json_object_get(v, tok.data);
            if (!next) {
                add_where(err, ptr, at);
                buf_adds(err, " has no member ");
                buf_add_json_str(err, tok.data);
            }
        } else if (json_is_array(v)) {
            size_t i, n = json_array_size(v);
            int rc = array_index(tok.data, n, &i, &why);
            if (rc == 0) {
                next = json_array_get(v, i);
            } else {
                add_where(err, ptr, at);
                if (rc == -2)
                    buf_addf(err, " has no element %s (it has %zu)", tok.data, n);
                else
                    buf_addf(err, ": %s", why.data);
            }
        } else {
            add_where(err, ptr, at);
            buf_addf(err, " is %s, not an object or an array", jsonptr_type_name(v));
        }
        v = next;
        p = end;
    }
    buf_release(&tok);
    buf_release(&why);
    return v;
}

void jsonptr_number(double d, struct buf *out)
{
    char tmp[40], digits[20];
    int exp = 0, k = 0;

    if (d == 0 || !isfinite(d)) { /* -0 is "0"; JSON has no infinities or NaN */
        buf_adds(out, d == 0 ? "0" : "null");
        return;
    }
    if (d < 0) {
        buf_addch(out, '-');
        d = -d;
    }
    /* The shortest digits that read back as d (ECMAScript's Number::toString). */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp is "D.DDDDe[+-]XX" or "De[+-]XX" */
    for (const char *q = tmp; *q && *q != 'e'; q++)
        if (*q != '.')
            digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    exp = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10);
    int n = exp + 1; /* d = 0.DIGITS x 10^n */
    if (k <= n && n <= 21) {
        buf_add(out, digits, (size_t)k);
        for (int i = k; i < n; i++)
            buf_addch(out, '0');
    } else if (0 < n && n <= 21) {
        buf_add(out, digits, (size_t)n);
        buf_addch(out, '.');
        buf_adds(out, digits + n);
    } else if (-6 < n && n <= 0) {
        buf_adds(out, "0.");
        for (int i = n; i < 0; i++)
            buf_addch(out, '0');
        buf_adds(out, digits);
    } else {
        buf_addch(out, digits[0]);
        if (k > 1) {
            buf_addch(out, '.');
            buf_adds(out, digits + 1);
        }
        buf_addf(out, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
}

int jsonptr_text(const json_t *v, struct buf *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        buf_add(out, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    case JSON_REAL:
        jsonptr_number(json_real_value(v), out);
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_NULL:
        buf_adds(out, jsonptr_type_name(v));
        return 0;
    case JSON_OBJECT:
    case JSON_ARRAY:
        break;
    }
    return -1;
}
