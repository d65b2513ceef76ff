/*
 * libFuzzer target for the streaming masker (core/mask.h): the input is a
 * byte that says how many patterns there are (1 to 8), one length byte and
 * that many bytes for each pattern, then the text; each byte of the text
 * whose low bits say so ends a chunk. The text, masked chunk by chunk, must
 * be what masking it whole with a plain scan gives, and the mask must never
 * hold more than the longest pattern less one byte.
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void to_buf(void *ctx, const char *d, size_t n)
{
    buf_add(ctx, d, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    const uint8_t *pat[8];
    size_t len[8], npat, longest = 0;
    if (p == end)
        return 0;
    npat = 1 + *p++ % 8;
    for (size_t k = 0; k < npat; k++) {
        if (p == end)
            return 0;
        len[k] = 1 + *p++ % 40;
        if ((size_t)(end - p) < len[k])
            return 0;
        pat[k] = p;
        p += len[k];
        if (len[k] > longest)
            longest = len[k];
    }
    const uint8_t *text = p;
    size_t n = (size_t)(end - p);

    /* What it must give: every byte inside an occurrence hidden, one "***" per run. */
    char *cov = calloc(n + 1, 1);
    struct buf want = BUF_INIT, got = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < npat; k++)
            if (i + len[k] <= n && !memcmp(text + i, pat[k], len[k]))
                memset(cov + i, 1, len[k]);
    for (size_t i = 0; i < n;) {
        if (cov[i]) {
            buf_adds(&want, MASK_REPLACEMENT);
            while (i < n && cov[i])
                i++;
        } else {
            buf_addch(&want, (char)text[i++]);
        }
    }

    struct mask_set *set = mask_set_new();
    for (size_t k = 0; k < npat; k++)
        if (mask_set_add(set, pat[k], len[k]))
            abort();
    struct mask *m = mask_new(set);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if ((text[i] & 7) == 0 || i + 1 == n) {
            mask_feed(m, text + from, i + 1 - from, to_buf, &got);
            from = i + 1;
            if (mask_held(m) > longest - 1)
                abort();
        }
    }
    mask_flush(m, to_buf, &got);
    if (got.len != want.len || memcmp(got.data, want.data, want.len))
        abort();
    mask_free(m);
    mask_set_free(set);
    buf_release(&want);
    buf_release(&got);
    free(cov);
    return 0;
}
