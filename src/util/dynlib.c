/*
 * dynlib: dlopen and dlsym with an error worth printing (see dynlib.h).
 */
#include "util/dynlib.h"

#include <dlfcn.h>

#include "util/buf.h"

void *dynlib_open(const char *soname, const char *package, const struct dynlib_sym *syms, size_t n,
                  char **why)
{
    struct buf err = BUF_INIT;
    const char *e;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    *why = NULL;
    if (!h) {
        e = dlerror();
        buf_addf(&err, "cannot load %s (install the Debian package %s): %s", soname, package,
                 e ? e : "unknown error");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            buf_addf(&err, "%s has no %s (too old? install the Debian package %s)", soname,
                     syms[i].name, package);
            goto fail;
        }
        *syms[i].slot = p;
    }
    return h;
fail:
    for (size_t i = 0; i < n; i++)
        *syms[i].slot = NULL;
    if (h)
        dlclose(h);
    *why = buf_detach(&err, NULL);
    return NULL;
}
