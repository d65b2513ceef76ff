/*
 * dynlib: loading a shared library on first use (dlopen), for the libraries
 * only some commands need: libcurl (util/dl_curl.h) and most of libcrypto
 * (util/dl_crypto.h). Linking them would make every start of flywheel pay
 * for loading them and libcurl's twenty-odd dependencies (about 5 ms), or
 * for libcrypto's 19,000 relocations, including `flywheel --version`.
 *
 * Threads: any thread. The shims call dynlib_open() once, under their own
 * pthread_once; this file keeps no state.
 */
#ifndef FLYWHEEL_UTIL_DYNLIB_H
#define FLYWHEEL_UTIL_DYNLIB_H

#include <stddef.h>

struct dynlib_sym {
    const char *name;
    void **slot; /* where the address goes (a function pointer's storage) */
};

/*
 * Loads soname (e.g. "libcurl.so.4") and resolves every symbol of syms[n]
 * into its slot. Returns the handle, or NULL with *why set to a message
 * naming the library and the Debian package that installs it (malloc'd; the
 * caller frees it): "cannot load libcurl.so.4 (install the Debian package
 * libcurl4): ...". The library stays loaded for the life of the process.
 */
void *dynlib_open(const char *soname, const char *package, const struct dynlib_sym *syms, size_t n,
                  char **why);

#endif
