/*
 * Reading whole small files with a size cap.
 */
#ifndef FLYWHEEL_UTIL_FILEIO_H
#define FLYWHEEL_UTIL_FILEIO_H

#include <stddef.h>

#include "util/buf.h"

/*
 * Reads path ("-" for standard input) into out, refusing files larger than
 * max bytes. Returns 0; or -1 with a reason in err ("path: why") and out
 * left empty.
 */
int file_read(const char *path, size_t max, struct buf *out, struct buf *err)
    __attribute__((warn_unused_result));

/* Writes all n bytes of p to fd, through short writes and EINTR: 0, or -1 with errno set. */
int file_write_all(int fd, const void *p, size_t n) __attribute__((warn_unused_result));

#endif
