/*
 * dl_curl: libcurl loaded on first use (see dl_curl.h).
 *
 * The library is loaded and curl_global_init() called at most once, under
 * one pthread_once: curl_global_init is not thread-safe in older libcurls,
 * and the server's webhook, status and check threads may get here together.
 * Later calls of curl_global_init() return that first result.
 */
#define DL_CURL_IMPL
#include "util/dl_curl.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/dynlib.h"

struct dl_curl dl_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *load_error; /* set once, under `once` */
static CURLcode init_rc = CURLE_FAILED_INIT;

static void load(void)
{
#define SYM(name) {#name, (void **)&dl_curl.name},
    static const struct dynlib_sym syms[] = {DL_CURL_DIRECT(SYM) DL_CURL_WRAPPED(SYM)};
#undef SYM
    if (!dynlib_open("libcurl.so.4", "libcurl4", syms, sizeof(syms) / sizeof(syms[0]), &load_error))
        return;
    init_rc = dl_curl.curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Is the library loaded and initialised? */
static int ready(void)
{
    pthread_once(&once, load);
    return init_rc == CURLE_OK;
}

const char *dl_curl_why(void)
{
    pthread_once(&once, load);
    return load_error ? load_error : "cannot initialise libcurl";
}

CURLcode dl_curl_global_init(long flags)
{
    (void)flags; /* always CURL_GLOBAL_DEFAULT in flywheel */
    pthread_once(&once, load);
    return init_rc;
}

CURL *dl_curl_easy_init(void)
{
    return ready() ? dl_curl.curl_easy_init() : NULL;
}

void dl_curl_easy_cleanup(CURL *h)
{
    if (h)
        dl_curl.curl_easy_cleanup(h);
}

const char *dl_curl_easy_strerror(CURLcode cc)
{
    return ready() ? dl_curl.curl_easy_strerror(cc) : dl_curl_why();
}

struct curl_slist *dl_curl_slist_append(struct curl_slist *l, const char *s)
{
    return ready() ? dl_curl.curl_slist_append(l, s) : NULL;
}

void dl_curl_slist_free_all(struct curl_slist *l)
{
    if (l)
        dl_curl.curl_slist_free_all(l);
}

CURLM *dl_curl_multi_init(void)
{
    return ready() ? dl_curl.curl_multi_init() : NULL;
}

CURLMcode dl_curl_multi_cleanup(CURLM *m)
{
    return m ? dl_curl.curl_multi_cleanup(m) : CURLM_BAD_HANDLE;
}

CURLU *dl_curl_url(void)
{
    return ready() ? dl_curl.curl_url() : NULL;
}

void dl_curl_url_cleanup(CURLU *u)
{
    if (u)
        dl_curl.curl_url_cleanup(u);
}

void dl_curl_free(void *p)
{
    if (p)
        dl_curl.curl_free(p);
}
