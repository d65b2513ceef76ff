/*
 * walvfs: the VFS the store opens its database with (walvfs.c): SQLite's
 * default one, with each commit's frames written to the write-ahead log in
 * one write instead of two per page.
 */
#ifndef FLYWHEEL_STORE_WALVFS_H
#define FLYWHEEL_STORE_WALVFS_H

#define WALVFS_NAME "flywheel-wal"

/* Registers the VFS at the first call; its name, or NULL when the default
 * VFS is not there to build on (the default is then used as it is). */
const char *walvfs_name(void);

#endif
