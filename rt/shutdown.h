/*
 * shutdown.h - orderly shutdown on SIGINT/SIGTERM.
 *
 * The control thread calls rt_signals_block() before it starts any other thread (so every thread inherits the mask
 * and no stage is interrupted by a signal), then waits on the returned signalfd among its other descriptors.
 * On a stop signal the program stops its producers first (rt_stop_request), each producer closes its output ring
 * after pushing its last record, and each consumer drains its input rings until ring_is_drained() before closing
 * its own outputs: the pipeline empties front to back and no accepted record is lost.
 */
#ifndef V2X_RT_SHUTDOWN_H
#define V2X_RT_SHUTDOWN_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

struct rt_stop {
	_Atomic int requested; /* set once by the control thread; read by producers (relaxed is enough: a flag) */
};

/*
 * Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling thread and returns a non-blocking, close-on-exec
 * signalfd for them, or a negative errno.  SIGPIPE is ignored (writes report EPIPE instead).
 */
int rt_signals_block(void);

/*
 * Reads one pending signal from the signalfd.  Returns the signal number, 0 when none is pending, or a negative errno.
 */
int rt_signals_read(int sfd);

static inline void rt_stop_init(struct rt_stop *s)
{
	atomic_init(&s->requested, 0);
}

static inline void rt_stop_request(struct rt_stop *s)
{
	atomic_store_explicit(&s->requested, 1, memory_order_release);
}

static inline bool rt_stop_requested(const struct rt_stop *s)
{
	return atomic_load_explicit((_Atomic int *)&s->requested, memory_order_acquire) != 0;
}

#endif
