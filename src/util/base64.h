/*
 * Base64 (RFC 4648) encoding and strict decoding.
 *
 * The encoder writes the standard alphabet with '=' padding. The decoder is
 * for input from outside (a downloaded envelope): it accepts the standard and
 * the URL-safe alphabets (DSSE allows either), with or without padding, and
 * rejects everything else: characters outside the alphabets (whitespace
 * included), misplaced or excess padding, a length that cannot be Base64, and
 * non-zero bits left over in the last character (so that every byte string
 * has one accepted encoding per alphabet).
 *
 * Threads: any; no state.
 */
#ifndef FLYWHEEL_UTIL_BASE64_H
#define FLYWHEEL_UTIL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the Base64 encoding of len bytes of data to out. */
void base64_encode(const void *data, size_t len, struct buf *out);

/*
 * Decodes len characters of s and appends the bytes to out. Returns 0, or
 * -EINVAL with out unchanged when s is not valid Base64.
 */
int base64_decode(const char *s, size_t len, struct buf *out) __attribute__((warn_unused_result));

#endif
