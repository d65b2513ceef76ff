/*
 * secret: the rules for a repository's secrets, and what masks them in logs.
 * Pure: no I/O. docs/secrets.md explains the rules to users.
 *
 * A name is written like an environment variable in upper case,
 * [A-Z_][A-Z0-9_]*, at most SECRET_NAME_MAX characters, and does not start
 * with FLYWHEEL_ (flywheel's own variables).
 *
 * A value is SECRET_VALUE_MIN to SECRET_VALUE_MAX bytes, without NUL (it
 * becomes an environment variable), with at least one byte that is not
 * white space. Short values are refused because masking them would destroy
 * logs: every "1234" in a log would become "***". Values may span lines.
 *
 * Masking (secret_forms): a value is masked in every log as it is, and in
 * the forms a job is likely to print it in:
 *   - Base64, standard and URL-safe alphabets: padded, unpadded, the part
 *     that does not depend on what follows the value, the parts that do not
 *     depend on one or two bytes before it (the value in the middle of
 *     something encoded), and the padded standard form cut in lines of 76
 *     (base64) and 64 (openssl base64, PEM) characters;
 *   - percent-encoding (URLs): every byte but A-Z a-z 0-9 - . _ ~ as %XX
 *     (RFC 3986), with upper- and lower-case hex; the form-encoding with '+'
 *     for a space; ! ' ( ) * kept too (JavaScript's encodeURIComponent,
 *     jq's @uri); every byte as %XX.
 * A value that spans lines is masked line by line (a log is read by lines,
 * and a line is how a job prints it): each line of at least SECRET_LINE_MIN
 * bytes that is not all white space is masked on its own, wherever it
 * appears; shorter lines are not masked on their own (secret_short_lines
 * counts them). Its encoded forms are masked whole. Every form shorter than
 * SECRET_LINE_MIN bytes is left out.
 */
#ifndef FLYWHEEL_CORE_SECRET_H
#define FLYWHEEL_CORE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/mask.h"
#include "util/buf.h"

#define SECRET_NAME_MAX  256
#define SECRET_VALUE_MIN 8
#define SECRET_VALUE_MAX 65536
#define SECRET_LINE_MIN  8

bool secret_name_valid(const char *name);
/* 0, or -EINVAL with a sentence in err ("'x' is not a valid secret name: ..."). */
int secret_name_check(const char *name, struct buf *err) __attribute__((warn_unused_result));
/* 0, or -EINVAL with a sentence in err that says why (never quoting the value). */
int secret_value_check(const void *value, size_t len, struct buf *err)
    __attribute__((warn_unused_result));

/* Calls fn once for each form of value that masks it (see above), the value's own lines first. */
void secret_forms(const void *value, size_t len,
                  void (*fn)(void *ctx, const char *form, size_t len), void *ctx);
/* Adds secret_forms(value) to set: 0, or mask_set_add()'s error. */
int secret_mask_add(struct mask_set *set, const void *value, size_t len)
    __attribute__((warn_unused_result));
/* The lines of a value spanning lines that are not masked on their own: not empty, but
 * shorter than SECRET_LINE_MIN or all white space. 0 for a single line. */
size_t secret_short_lines(const void *value, size_t len);

#endif
