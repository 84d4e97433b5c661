/*
 * wait.c - spin-then-futex waiting for a consumer thread, with the Dekker handshake described in wait.h.
 *
 * The futex word only ever changes when someone wants the consumer awake (a notify that saw `sleeping`, or a kick),
 * so the consumer passes the value it read *before* announcing `sleeping` to FUTEX_WAIT: if a producer bumped the
 * word in between, the kernel refuses to sleep (EAGAIN) and the consumer re-checks its predicate.
 */
#include "rt/wait.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt/clock.h"

/* How many spin iterations between two reads of the clock (a clock read costs about 20 ns, a PAUSE up to 140). */
#define WAIT_SPINS_PER_CLOCK 32

int rt_waiter_init(struct rt_waiter *w, enum rt_wait_mode mode, uint64_t spin_ns)
{
	memset(w, 0, sizeof(*w));
	atomic_init(&w->word, 0);
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->kicked, 0);
	atomic_init(&w->sleeps, 0);
	atomic_init(&w->wakes, 0);
	w->mode = mode;
	w->spin_ns = spin_ns;
	w->efd = -1;
	if (mode == RT_WAIT_EVENTFD) {
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->efd < 0)
			return -errno;
	}
	return 0;
}

void rt_waiter_fini(struct rt_waiter *w)
{
	if (w->mode == RT_WAIT_EVENTFD && w->efd >= 0)
		close(w->efd);
	w->efd = -1;
}

/* Makes the eventfd readable.  The counter cannot overflow in practice (2^64 - 2 writes before it would block). */
static void wait__efd_signal(struct rt_waiter *w)
{
	uint64_t one = 1;
	ssize_t r = write(w->efd, &one, sizeof(one));
	(void)r;
}

static void wait__efd_drain(struct rt_waiter *w)
{
	uint64_t v;
	ssize_t r = read(w->efd, &v, sizeof(v)); /* non-blocking: EAGAIN when nothing was written */
	(void)r;
}

/* EVENTFD mode's sleep: poll the eventfd alone until the deadline (0: none).  Returns 0 or -ETIMEDOUT. */
static int wait__efd_sleep(struct rt_waiter *w, uint64_t deadline_ns)
{
	struct pollfd p = {.fd = w->efd, .events = POLLIN};
	int ms = -1;
	if (deadline_ns) {
		uint64_t now = rt_mono_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		/* Round up, so a wait never ends before its deadline. */
		ms = (int)((deadline_ns - now + RT_NS_PER_MS - 1) / RT_NS_PER_MS);
	}
	int rc = poll(&p, 1, ms);
	wait__efd_drain(w);
	return rc == 0 ? -ETIMEDOUT : 0;
}

/* Sleeps while *word == expected, until the absolute CLOCK_MONOTONIC deadline (0: none).  Returns 0 or -errno. */
static int wait__futex(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	if (deadline_ns) {
		ts.tv_sec = (time_t)(deadline_ns / (uint64_t)RT_NS_PER_SEC);
		ts.tv_nsec = (long)(deadline_ns % (uint64_t)RT_NS_PER_SEC);
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so spurious returns need no recomputation. */
	long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET_PRIVATE, expected, tsp, NULL,
			  FUTEX_BITSET_MATCH_ANY);
	return rc == 0 ? 0 : -errno;
}

static void wait__futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Consumes a pending kick.  Relaxed is enough: a kick carries no data, only "return now". */
static bool wait__take_kick(struct rt_waiter *w)
{
	if (!atomic_load_explicit(&w->kicked, memory_order_relaxed))
		return false;
	/* An exchange, not a store, so a second kick arriving now is not erased. */
	return atomic_exchange_explicit(&w->kicked, 0, memory_order_relaxed) != 0;
}

int rt_waiter_wait(struct rt_waiter *w, rt_ready_fn ready, void *arg, int64_t timeout_ns)
{
	if (wait__take_kick(w))
		return -EINTR;
	if (ready(arg))
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;

	uint64_t start = rt_mono_ns();
	uint64_t deadline = timeout_ns > 0 ? start + (uint64_t)timeout_ns : 0;

	/* Spin phase: RT_WAIT_SPIN forever (until the deadline), RT_WAIT_HYBRID for spin_ns. */
	if (w->mode == RT_WAIT_SPIN || w->mode == RT_WAIT_HYBRID) {
		uint64_t spin_end = w->mode == RT_WAIT_SPIN ? UINT64_MAX : start + w->spin_ns;
		for (unsigned i = 1;; i++) {
			if (wait__take_kick(w))
				return -EINTR;
			if (ready(arg))
				return 0;
			rt_cpu_relax();
			if (i % WAIT_SPINS_PER_CLOCK == 0) {
				uint64_t now = rt_mono_ns();
				if (deadline && now >= deadline)
					return -ETIMEDOUT;
				if (now >= spin_end)
					break;
			}
		}
	}

	/* Sleep phase: the Dekker handshake, repeated after every (possibly spurious) wake-up. */
	for (;;) {
		/* Acquire pairs with the release increment in notify/kick: everything before the bump is visible. */
		uint32_t e = atomic_load_explicit(&w->word, memory_order_acquire);
		atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
		/* Orders the store of `sleeping` before the loads in ready(); pairs with the fence in rt_waiter_notify(). */
		atomic_thread_fence(memory_order_seq_cst);
		int rc = 0;
		if (wait__take_kick(w))
			rc = -EINTR;
		else if (ready(arg))
			rc = 0;
		else if (deadline && rt_mono_ns() >= deadline)
			rc = -ETIMEDOUT;
		else {
			atomic_store_explicit(&w->sleeps, atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
					      memory_order_relaxed);
			int frc = w->mode == RT_WAIT_EVENTFD ? wait__efd_sleep(w, deadline) : wait__futex(&w->word, e, deadline);
			atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
			if (frc == -ETIMEDOUT) {
				/* A last look: work that raced with the timeout is not reported as a timeout. */
				if (wait__take_kick(w))
					return -EINTR;
				return ready(arg) ? 0 : -ETIMEDOUT;
			}
			continue; /* woken, EAGAIN (the word moved) or EINTR (a signal): re-check */
		}
		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		return rc;
	}
}

void rt_waiter_notify(struct rt_waiter *w)
{
	if (w->mode == RT_WAIT_SPIN)
		return;
	/* Orders the caller's release store of the work before the load of `sleeping`; pairs with the consumer's fence. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&w->sleeping, memory_order_relaxed))
		return;
	/* The first notifier to see the sleeper claims the wake-up; later ones (until the consumer sleeps again) skip
	 * the syscall.  The consumer read the word before it set `sleeping`, so the bump below always makes its
	 * FUTEX_WAIT either fail with EAGAIN or be woken. */
	if (!atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed))
		return;
	/* Release: the consumer's acquire load of the word sees the work.  Several producers may bump concurrently. */
	atomic_fetch_add_explicit(&w->word, 1, memory_order_release);
	atomic_fetch_add_explicit(&w->wakes, 1, memory_order_relaxed);
	if (w->mode == RT_WAIT_EVENTFD)
		wait__efd_signal(w); /* write(2) is a full barrier for the consumer's read of the eventfd */
	else
		wait__futex_wake(&w->word);
}

void rt_waiter_kick(struct rt_waiter *w)
{
	atomic_store_explicit(&w->kicked, 1, memory_order_relaxed);
	/* Release pairs with the consumer's acquire load of the word: the kick flag is visible after the wake-up. */
	atomic_fetch_add_explicit(&w->word, 1, memory_order_release);
	if (w->mode == RT_WAIT_EVENTFD)
		wait__efd_signal(w);
	else
		wait__futex_wake(&w->word);
}

int rt_waiter_arm(struct rt_waiter *w, rt_ready_fn ready, void *arg)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* Orders the store of `sleeping` before the loads below; pairs with the fence in rt_waiter_notify(). */
	atomic_thread_fence(memory_order_seq_cst);
	if (wait__take_kick(w)) {
		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		return -EINTR;
	}
	if (ready && ready(arg)) {
		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		return 1;
	}
	atomic_store_explicit(&w->sleeps, atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return 0;
}

bool rt_waiter_disarm(struct rt_waiter *w)
{
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
	if (w->efd >= 0)
		wait__efd_drain(w);
	return wait__take_kick(w);
}

const char *rt_wait_mode_name(enum rt_wait_mode mode)
{
	switch (mode) {
	case RT_WAIT_HYBRID:
		return "hybrid";
	case RT_WAIT_SPIN:
		return "spin";
	case RT_WAIT_SLEEP:
		return "sleep";
	case RT_WAIT_EVENTFD:
		return "eventfd";
	}
	return "unknown";
}

int rt_wait_mode_parse(const char *s, enum rt_wait_mode *out)
{
	static const enum rt_wait_mode modes[] = {RT_WAIT_HYBRID, RT_WAIT_SPIN, RT_WAIT_SLEEP, RT_WAIT_EVENTFD};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, rt_wait_mode_name(modes[i])) == 0) {
			*out = modes[i];
			return 0;
		}
	}
	return -EINVAL;
}
