/*
 * jsonptr: JSON pointers (RFC 6901) and the text of a JSON value, for the
 * `json`/`equals` keys of http checks (docs/pipeline.md, "Checks").
 *
 *     if (jsonptr_check(ptr, &err))            // when the pipeline is parsed
 *         ... err.data ...
 *     json_t *v = jsonptr_get(doc, ptr, &err);  // when a response is judged
 *     if (!v) ... no value: err.data says why ...
 *     jsonptr_text(v, &text);                   // what `equals` compares
 *
 * A pointer is "" (the whole document) or a sequence of "/token"; in a
 * token "~1" stands for '/' and "~0" for '~', and any other '~' is an
 * error. Against an array a token is an index: "0", or digits without a
 * leading zero; "-" (RFC 6901's "past the end") names no element here.
 *
 * Pure functions: no I/O, no global state; safe from any thread.
 */
#ifndef FLYWHEEL_CORE_JSONPTR_H
#define FLYWHEEL_CORE_JSONPTR_H

#include <jansson.h>

#include "util/buf.h"

/*
 * Checks the syntax of ptr. Returns 0, or -1 with the reason appended to
 * err ("it must start with '/'", "'~2' at offset 3: ..."), err untouched on
 * success.
 */
int jsonptr_check(const char *ptr, struct buf *err) __attribute__((warn_unused_result));

/*
 * Resolves ptr in doc. Returns the value, borrowed (doc owns it; valid while
 * doc is), or NULL with the reason appended to err, e.g. `the document has
 * no member "status"`, `/items has no element 3 (it has 2)`, `/a is a
 * string, not an object or an array`. A ptr that fails jsonptr_check()
 * also gives NULL, with that reason.
 */
json_t *jsonptr_get(json_t *doc, const char *ptr, struct buf *err);

/*
 * Appends the text of v as `equals` compares it: a string's content (as is:
 * it may hold any UTF-8, or a NUL), a number in canonical JSON (RFC 8785:
 * 1.0 is "1", 1e2 is "100", 1e-7 is "1e-7"; an integer that jansson holds
 * exactly is written exactly), "true", "false" or "null". Returns 0, or -1
 * for an object or an array (nothing appended).
 */
int jsonptr_text(const json_t *v, struct buf *out);

/* Appends the canonical JSON (RFC 8785) text of the finite number d. */
void jsonptr_number(double d, struct buf *out);

/* "a string", "a number", "an object", "an array", "true", "false", "null". */
const char *jsonptr_type_name(const json_t *v);

#endif
