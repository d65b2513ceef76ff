/*
 * tmpdir: what the unit tests that work in a temporary directory share.
 * A test makes its directory with mkdtemp and removes it, with all it
 * holds, with tmpdir_remove.
 */
#ifndef FLYWHEEL_TESTS_TMPDIR_H
#define FLYWHEEL_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int tmpdir_entry_remove(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it (symbolic links as links); 0 or -1. */
static inline int tmpdir_remove(const char *dir)
{
    return nftw(dir, tmpdir_entry_remove, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
