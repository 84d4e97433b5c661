/* clock.c - the one blocking clock helper; the readers are inline in clock.h. */
#include "rt/clock.h"

#include <errno.h>

void rt_sleep_ns(uint64_t ns)
{
	uint64_t deadline = rt_mono_ns() + ns;
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / (uint64_t)RT_NS_PER_SEC),
		.tv_nsec = (long)(deadline % (uint64_t)RT_NS_PER_SEC),
	};
	/* An absolute deadline: a signal restarts the sleep without stretching it. */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}
