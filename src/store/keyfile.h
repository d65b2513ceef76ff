/*
 * keyfile: the files of the data directory that hold keys (the signing key,
 * the secrets' key): read only when nobody else may read or change them,
 * created atomically, never replaced.
 *
 * Errors: 0 or a negative errno-style code, with a reason appended to err
 * that never quotes the file's bytes. Buffers that held them are wiped.
 */
#ifndef FLYWHEEL_STORE_KEYFILE_H
#define FLYWHEEL_STORE_KEYFILE_H

#include <stddef.h>

#include "util/buf.h"

/*
 * Appends the bytes of the key file at path to out. Refused, with a reason:
 * a symbolic link (-ELOOP), anything but a regular file (-EINVAL), a file
 * that group or others may read or write (-EPERM: "key file %s has mode
 * 0644; it must be 0600"), more than max bytes (-EFBIG). -ENOENT, without a
 * message, when there is no file.
 */
int keyfile_read(const char *path, size_t max, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Makes the key file path hold len bytes of data, mode 0600, without ever
 * replacing a file: written to a temporary file in the same directory
 * (O_EXCL), synced, linked into place, the directory synced. Returns 0,
 * -EEXIST (no message) when path appeared meanwhile (another process made
 * its key: load that one), or another error.
 */
int keyfile_create(const char *path, const void *data, size_t len, struct buf *err)
    __attribute__((warn_unused_result));

#endif
