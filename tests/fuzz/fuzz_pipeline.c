/*
 * libFuzzer target for the pipeline file parser: the one parser of outside
 * input that every repository feeds to the server.
 *
 * Each input is parsed as a pipeline file with the default limits and
 * PL_STRICT (as `flywheel check --strict` does), its diagnostics are
 * rendered with their source lines and carets, and a pipeline that comes
 * back is printed as JSON. Everything is freed, so that LeakSanitizer sees a
 * leak on any path. Nothing is checked beyond "no crash, no sanitizer report,
 * no leak" and two contract invariants that cost nothing: a NULL pipeline
 * comes with at least one error, and a pipeline comes with none.
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/diag.h"
#include "core/pipeline.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pl_limits lim;
    struct diag_list d = DIAG_LIST_INIT;
    struct buf out = BUF_INIT;
    const char *src = (const char *)data;

    pipeline_limits_default(&lim);
    struct pipeline *p = pipeline_parse("fuzz.yml", src, size, &lim, PL_STRICT, &d);
    if (!p == !d.nerrors)
        abort(); /* the contract of pipeline_parse() is broken */
    diag_render(&d, "fuzz.yml", src, size, size & 1, &out);
    if (p) {
        buf_reset(&out);
        pipeline_to_json(p, &out);
    }
    pipeline_free(p);
    diag_list_release(&d);
    buf_release(&out);
    return 0;
}
