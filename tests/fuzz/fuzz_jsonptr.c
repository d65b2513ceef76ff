/*
 * libFuzzer target for JSON pointers (core/jsonptr.h) against a response
 * body, as an http check with `json` meets them: the input is a pointer, a
 * newline, then the body. The body comes from the service checked and the
 * pointer from the pipeline file; neither may crash the check, read out of
 * bounds or leak, and every answer keeps the contract: a value, or NULL
 * with a reason.
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonptr.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || memchr(data, '\0', (size_t)(nl - data)))
        return 0;
    struct buf ptr = BUF_INIT, err = BUF_INIT, text = BUF_INIT;
    buf_add(&ptr, data, (size_t)(nl - data));
    json_error_t jerr;
    size_t off = (size_t)(nl - data) + 1;
    json_t *doc = json_loadb((const char *)data + off, size - off,
                             JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    int bad = jsonptr_check(ptr.data, &err);
    if (bad != 0 && (bad != -1 || !err.len))
        abort();
    if (doc) {
        buf_reset(&err);
        json_t *v = jsonptr_get(doc, ptr.data, &err);
        if (v ? err.len != 0 : !err.len)
            abort(); /* a value and no reason, or no value and a reason */
        if (v && bad)
            abort(); /* a pointer refused by jsonptr_check leads nowhere */
        if (v && jsonptr_text(v, &text) != 0 && !json_is_object(v) && !json_is_array(v))
            abort();
        if (v && json_is_number(v)) {
            buf_reset(&text);
            jsonptr_number(json_number_value(v), &text);
            if (!text.len)
                abort();
        }
    }
    json_decref(doc);
    buf_release(&ptr);
    buf_release(&err);
    buf_release(&text);
    return 0;
}
