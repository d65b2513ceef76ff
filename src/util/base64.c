#include "util/base64.h"

#include <errno.h>
#include <stdint.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *data, size_t len, struct buf *out)
{
    const unsigned char *p = data;
    char q[4];

    buf_grow(out, (len + 2) / 3 * 4);
    for (; len >= 3; p += 3, len -= 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        q[0] = b64_alphabet[v >> 18];
        q[1] = b64_alphabet[(v >> 12) & 63];
        q[2] = b64_alphabet[(v >> 6) & 63];
        q[3] = b64_alphabet[v & 63];
        buf_add(out, q, 4);
    }
    if (len) {
        uint32_t v = (uint32_t)p[0] << 16 | (len > 1 ? (uint32_t)p[1] << 8 : 0);
        q[0] = b64_alphabet[v >> 18];
        q[1] = b64_alphabet[(v >> 12) & 63];
        q[2] = len > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
        q[3] = '=';
        buf_add(out, q, 4);
    }
}

/* The 6-bit value of c in either alphabet, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int base64_decode(const char *s, size_t len, struct buf *out)
{
    size_t n = len, pad = 0;

    /* Padding: none, or exactly what makes the length a multiple of 4. */
    while (n && s[n - 1] == '=' && pad < 3) {
        n--;
        pad++;
    }
    if (pad && (len % 4 || pad > 2))
        return -EINVAL;
    if (n % 4 == 1)
        return -EINVAL;
    if (pad && pad != (4 - n % 4) % 4)
        return -EINVAL;

    size_t start = out->len;
    uint32_t acc = 0;
    int bits = 0;
    buf_grow(out, n / 4 * 3 + 2);
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            buf_setlen(out, start);
            return -EINVAL;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_addch(out, (int)((acc >> bits) & 0xff));
        }
    }
    /* Left-over bits must be zero: one encoding for one byte string. */
    if (bits && (acc & ((1u << bits) - 1))) {
        buf_setlen(out, start);
        return -EINVAL;
    }
    return 0;
}
