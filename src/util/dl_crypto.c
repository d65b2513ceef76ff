/*
 * dl_crypto: libcrypto loaded on first use (see dl_crypto.h).
 */
#define DL_CRYPTO_IMPL
#include "util/dl_crypto.h"

#include <pthread.h>

#include "util/dynlib.h"

struct dl_crypto dl_crypto;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *load_error; /* set once, under `once` */

static void load(void)
{
#define SYM(name) {#name, (void **)&dl_crypto.name},
    static const struct dynlib_sym syms[] = {DL_CRYPTO_FUNCS(SYM)};
#undef SYM
    dynlib_open("libcrypto.so.3", "libssl3", syms, sizeof(syms) / sizeof(syms[0]), &load_error);
}

int dl_crypto_load(struct buf *err)
{
    pthread_once(&once, load);
    if (load_error) {
        buf_adds(err, load_error);
        return -1;
    }
    return 0;
}
