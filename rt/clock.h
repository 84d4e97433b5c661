/*
 * clock.h - the two clocks every record carries.
 * CLOCK_MONOTONIC for latency (never jumps), CLOCK_REALTIME for files and users.  vDSO calls: no syscall, any thread.
 */
#ifndef V2X_RT_CLOCK_H
#define V2X_RT_CLOCK_H

#include <stdint.h>
#include <time.h>

#define RT_NS_PER_SEC 1000000000LL
#define RT_NS_PER_MS 1000000LL
#define RT_NS_PER_US 1000LL

/* Returns CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t rt_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * (uint64_t)RT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Returns CLOCK_REALTIME in nanoseconds since the Unix epoch. */
static inline int64_t rt_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * RT_NS_PER_SEC + ts.tv_nsec;
}

/* Sleeps ns nanoseconds on CLOCK_MONOTONIC (restarting after signals).  Blocks: not for real-time hot paths. */
void rt_sleep_ns(uint64_t ns);

#endif
