/* v2x_tp.c - instantiates the `v2x` tracepoint provider (probes and registration) once for the whole program. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "trace/tp.h"
