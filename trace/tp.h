/*
 * tp.h - how code emits a tracepoint: V2X_TP(event, args...).
 *
 * With TRACE=1 (the default) this is lttng_ust_tracepoint(v2x, event, ...): about 0.3 ns while no session enables
 * the event.  With TRACE=0 it compiles to nothing, yet still type-checks its arguments' expressions so a TRACE=0
 * build has no unused-variable warnings.  The events are declared in trace/v2x_tp_provider.h.
 * Safe from any thread, never blocks, never allocates.
 */
#ifndef V2X_TRACE_TP_H
#define V2X_TRACE_TP_H

#ifndef V2X_TRACE
#define V2X_TRACE 1
#endif

#if V2X_TRACE
#include "trace/v2x_tp_provider.h"
#define V2X_TP(event, ...) lttng_ust_tracepoint(v2x, event, __VA_ARGS__)
#define V2X_TP_ENABLED(event) lttng_ust_tracepoint_enabled(v2x, event)
#else
static inline void v2x_tp_discard(int unused, ...)
{
	(void)unused;
}
#define V2X_TP(event, ...)                                                                                          \
	do {                                                                                                       \
		if (0)                                                                                             \
			v2x_tp_discard(0, __VA_ARGS__);                                                            \
	} while (0)
#define V2X_TP_ENABLED(event) 0
#endif

#endif
