/*
 * libFuzzer target for the TZif reader (tz_parse()). Zone files come from
 * the system, not from users, but a damaged or foreign file must still be
 * refused cleanly: no read past the end, no overflow in the counts, and no
 * endless search in the footer's rule.
 *
 * A zone that loads is asked for its offset and its next change at a few
 * instants, from the far past to after the last transition, so that the
 * footer's rule is evaluated too.
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/tz.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t at[] = {INT64_MIN / 2, -4000000000LL, 0,
                                 1774746000LL,  4109878800LL,  (int64_t)1 << 40};
    struct buf err = BUF_INIT;
    struct tz *z = NULL;

    if (tz_parse(&z, "fuzz", data, size, &err) == 0) {
        if (err.len)
            abort(); /* err is left alone on success */
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
            int off = tz_offset(z, at[i]);
            int64_t next = tz_next_change(z, at[i]);
            if (off < -26 * 3600 || off > 26 * 3600 || next <= at[i])
                abort();
        }
    } else if (z || !err.len) {
        abort(); /* a failure comes with a reason and no zone */
    }
    tz_free(z);
    buf_release(&err);
    return 0;
}
