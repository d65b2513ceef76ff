/*
 * dl_curl: libcurl, loaded with dlopen("libcurl.so.4") on first use instead
 * of linked (see util/dynlib.h for why). Include this instead of
 * <curl/curl.h>: the curl_* calls flywheel makes then go through pointers
 * resolved when the library is loaded, and the call sites read as usual.
 * The headers (types, CURLOPT_*, LIBCURL_VERSION_NUM) are the -dev
 * package's; only the run-time library is looked up late.
 *
 * Loading: curl_global_init() loads the library (once per process, under a
 * pthread_once) and returns CURLE_FAILED_INIT when it cannot be loaded;
 * curl_easy_init(), curl_multi_init() and curl_url() load it too and return
 * NULL then. dl_curl_why() is the reason to print. Every other function
 * takes a handle that one of those made, so it is only ever called with
 * the library loaded; the cleanup functions, curl_slist_* and curl_free
 * accept being called (with NULL) when it is not.
 *
 * curl's type-checking macros for curl_easy_setopt and curl_easy_getinfo
 * are off (CURL_DISABLE_TYPECHECK): they would call the linked function.
 *
 * Threads: any thread, as libcurl's own functions.
 */
#ifndef FLYWHEEL_UTIL_DL_CURL_H
#define FLYWHEEL_UTIL_DL_CURL_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK
#endif
#include <curl/curl.h>

/* The functions called through a pointer: each takes a handle. */
#define DL_CURL_DIRECT(X)                                                                          \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_reset)                                                                             \
    X(curl_multi_add_handle)                                                                       \
    X(curl_multi_remove_handle)                                                                    \
    X(curl_multi_perform)                                                                          \
    X(curl_multi_info_read)                                                                        \
    X(curl_multi_poll)                                                                             \
    X(curl_multi_wakeup)                                                                           \
    X(curl_url_set)                                                                                \
    X(curl_url_get)

/* The functions wrapped by dl_curl.c: they load the library or accept NULL. */
#define DL_CURL_WRAPPED(X)                                                                         \
    X(curl_global_init)                                                                            \
    X(curl_easy_init)                                                                              \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_strerror)                                                                          \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)                                                                         \
    X(curl_multi_init)                                                                             \
    X(curl_multi_cleanup)                                                                          \
    X(curl_url)                                                                                    \
    X(curl_url_cleanup)                                                                            \
    X(curl_free)

#define DL_CURL_FIELD(name) __typeof__(name) *name;
struct dl_curl {
    DL_CURL_DIRECT(DL_CURL_FIELD)
    DL_CURL_WRAPPED(DL_CURL_FIELD)
};
#undef DL_CURL_FIELD
/* Filled by the loader; read only after a successful load. */
extern struct dl_curl dl_curl;

/* Why libcurl is unusable: the load error, or "cannot initialise libcurl". */
const char *dl_curl_why(void);

CURLcode dl_curl_global_init(long flags);
CURL *dl_curl_easy_init(void);
void dl_curl_easy_cleanup(CURL *h);
const char *dl_curl_easy_strerror(CURLcode cc);
struct curl_slist *dl_curl_slist_append(struct curl_slist *l, const char *s);
void dl_curl_slist_free_all(struct curl_slist *l);
CURLM *dl_curl_multi_init(void);
CURLMcode dl_curl_multi_cleanup(CURLM *m);
CURLU *dl_curl_url(void);
void dl_curl_url_cleanup(CURLU *u);
void dl_curl_free(void *p);

#ifndef DL_CURL_IMPL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt         (*dl_curl.curl_easy_setopt)
#define curl_easy_perform        (*dl_curl.curl_easy_perform)
#define curl_easy_getinfo        (*dl_curl.curl_easy_getinfo)
#define curl_easy_reset          (*dl_curl.curl_easy_reset)
#define curl_multi_add_handle    (*dl_curl.curl_multi_add_handle)
#define curl_multi_remove_handle (*dl_curl.curl_multi_remove_handle)
#define curl_multi_perform       (*dl_curl.curl_multi_perform)
#define curl_multi_info_read     (*dl_curl.curl_multi_info_read)
#define curl_multi_poll          (*dl_curl.curl_multi_poll)
#define curl_multi_wakeup        (*dl_curl.curl_multi_wakeup)
#define curl_url_set             (*dl_curl.curl_url_set)
#define curl_url_get             (*dl_curl.curl_url_get)

#define curl_global_init    dl_curl_global_init
#define curl_easy_init      dl_curl_easy_init
#define curl_easy_cleanup   dl_curl_easy_cleanup
#define curl_easy_strerror  dl_curl_easy_strerror
#define curl_slist_append   dl_curl_slist_append
#define curl_slist_free_all dl_curl_slist_free_all
#define curl_multi_init     dl_curl_multi_init
#define curl_multi_cleanup  dl_curl_multi_cleanup
#define curl_url            dl_curl_url
#define curl_url_cleanup    dl_curl_url_cleanup
#define curl_free           dl_curl_free
#endif

#endif
