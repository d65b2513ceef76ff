/*
 * dl_mhd: libmicrohttpd, loaded with dlopen("libmicrohttpd.so.12") when the
 * server starts instead of linked (see util/dynlib.h for why). Include this
 * instead of <microhttpd.h>: the MHD_* calls of server/http.c go through
 * pointers resolved by dl_mhd_load(), and read as usual. The header (types,
 * MHD_OPTION_*) is the -dev package's.
 *
 * Calling sequence: dl_mhd_load() before MHD_start_daemon(); every other
 * function takes a daemon, a connection or a response that exists only
 * once the library is loaded.
 *
 * Threads: dl_mhd_load() from any thread (once per process, pthread_once).
 */
#ifndef FLYWHEEL_UTIL_DL_MHD_H
#define FLYWHEEL_UTIL_DL_MHD_H

#include <microhttpd.h>

#include "util/buf.h"

#define DL_MHD_FUNCS(X)                                                                            \
    X(MHD_start_daemon)                                                                            \
    X(MHD_quiesce_daemon)                                                                          \
    X(MHD_stop_daemon)                                                                             \
    X(MHD_add_response_header)                                                                     \
    X(MHD_create_response_from_buffer)                                                             \
    X(MHD_create_response_from_buffer_with_free_callback)                                          \
    X(MHD_create_response_from_callback)                                                           \
    X(MHD_destroy_response)                                                                        \
    X(MHD_queue_response)                                                                          \
    X(MHD_get_connection_info)                                                                     \
    X(MHD_lookup_connection_value)                                                                 \
    X(MHD_lookup_connection_value_n)                                                               \
    X(MHD_suspend_connection)                                                                      \
    X(MHD_resume_connection)

#define DL_MHD_FIELD(name) __typeof__(name) *name;
struct dl_mhd {
    DL_MHD_FUNCS(DL_MHD_FIELD)
};
#undef DL_MHD_FIELD
/* Filled by dl_mhd_load(); read only after it succeeded. */
extern struct dl_mhd dl_mhd;

/*
 * Loads libmicrohttpd (the first call; later ones return its result).
 * Returns 0, or -1 with err: "cannot load libmicrohttpd.so.12 (install the
 * Debian package libmicrohttpd12): ...".
 */
int dl_mhd_load(struct buf *err) __attribute__((warn_unused_result));

#ifndef DL_MHD_IMPL
#define MHD_start_daemon                (*dl_mhd.MHD_start_daemon)
#define MHD_quiesce_daemon              (*dl_mhd.MHD_quiesce_daemon)
#define MHD_stop_daemon                 (*dl_mhd.MHD_stop_daemon)
#define MHD_add_response_header         (*dl_mhd.MHD_add_response_header)
#define MHD_create_response_from_buffer (*dl_mhd.MHD_create_response_from_buffer)
#define MHD_create_response_from_buffer_with_free_callback                                         \
    (*dl_mhd.MHD_create_response_from_buffer_with_free_callback)
#define MHD_create_response_from_callback (*dl_mhd.MHD_create_response_from_callback)
#define MHD_destroy_response              (*dl_mhd.MHD_destroy_response)
#define MHD_queue_response                (*dl_mhd.MHD_queue_response)
#define MHD_get_connection_info           (*dl_mhd.MHD_get_connection_info)
#define MHD_lookup_connection_value       (*dl_mhd.MHD_lookup_connection_value)
#define MHD_lookup_connection_value_n     (*dl_mhd.MHD_lookup_connection_value_n)
#define MHD_suspend_connection            (*dl_mhd.MHD_suspend_connection)
#define MHD_resume_connection             (*dl_mhd.MHD_resume_connection)
#endif

#endif
