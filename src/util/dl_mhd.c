/*
 * dl_mhd: libmicrohttpd loaded when the server starts (see dl_mhd.h).
 */
#define DL_MHD_IMPL
#include "util/dl_mhd.h"

#include <pthread.h>

#include "util/dynlib.h"

struct dl_mhd dl_mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *load_error; /* set once, under `once` */

static void load(void)
{
#define SYM(name) {#name, (void **)&dl_mhd.name},
    static const struct dynlib_sym syms[] = {DL_MHD_FUNCS(SYM)};
#undef SYM
    dynlib_open("libmicrohttpd.so.12", "libmicrohttpd12", syms, sizeof(syms) / sizeof(syms[0]),
                &load_error);
}

int dl_mhd_load(struct buf *err)
{
    pthread_once(&once, load);
    if (load_error) {
        buf_adds(err, load_error);
        return -1;
    }
    return 0;
}
