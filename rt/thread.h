/*
 * thread.h - stage threads: named, pinned to a CPU set, with a scheduling policy and priority.
 *
 * rt_thread_start() asks for the configured policy (SCHED_FIFO or SCHED_OTHER) through explicit pthread attributes.
 * When the process lacks the privilege (EPERM), it starts the thread with SCHED_OTHER instead and warns once per
 * process: a stage never fails to start for want of real-time rights.  Likewise a CPU set naming CPUs that do not
 * exist is reduced to those that do (with a warning), and an empty result means "no pinning": the thread may run on
 * every online CPU (it does not inherit the creating thread's affinity).
 * Call from the control thread (it logs); the started thread is marked as a real-time stage thread
 * (rt_thread_is_rt()), so debug builds can assert that it never calls rt_log().
 */
#ifndef V2X_RT_THREAD_H
#define V2X_RT_THREAD_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

struct rt_thread_conf {
	const char *name;  /* up to 15 characters are shown by the kernel */
	cpu_set_t cpus;    /* CPUs to pin to; empty = not pinned */
	int policy;        /* SCHED_FIFO or SCHED_OTHER (SCHED_RR accepted too) */
	int priority;      /* 1..99 for SCHED_FIFO/RR, ignored for SCHED_OTHER */
};

struct rt_thread {
	pthread_t tid;
	char name[16];
	int policy;        /* the policy the thread actually got */
	int priority;      /* the priority it actually got */
	bool pinned;       /* the affinity was applied */
	bool fell_back;    /* the configured policy was refused and SCHED_OTHER used */
	bool started;
	void *(*fn)(void *);
	void *arg;
};

/* Fills conf with name, no pinning, SCHED_OTHER. */
void rt_thread_conf_init(struct rt_thread_conf *conf, const char *name);

/*
 * Parses a CPU list ("2", "0-1", "0,2-3") into set.  Returns 0 or -EINVAL (with set untouched).
 */
int rt_cpuset_parse(const char *list, cpu_set_t *set);

/* Parses "fifo", "rr" or "other" into a policy.  Returns 0 or -EINVAL. */
int rt_policy_parse(const char *s, int *policy);

/*
 * Starts fn(arg) on a new thread as conf says (t is caller-owned and must outlive the thread; conf is only read now).
 * Fills t with what the thread actually got.  Returns 0, -EINVAL (unknown policy, or a priority outside the
 * policy's range), or a negative errno from pthread_create for failures other than the privilege fallback.
 * Control thread only (it may log); allocates the thread's stack.
 */
int rt_thread_start(struct rt_thread *t, const struct rt_thread_conf *conf, void *(*fn)(void *), void *arg);

/* Joins the thread (blocks).  Returns 0, -EINVAL if it was not started or already joined, or a negative errno. */
int rt_thread_join(struct rt_thread *t);

/* Returns true on a thread started by rt_thread_start(). */
bool rt_thread_is_rt(void);

/*
 * mlockall(MCL_CURRENT | MCL_FUTURE).  Returns 0, or a negative errno after one clear warning (the program goes on).
 */
int rt_mlockall(void);

/*
 * Prefaults n bytes at p (writes a zero to one byte per page), so the real-time path never takes a page fault on
 * them.  Cheaper than a memset of the whole buffer (one store per 4 KiB); the contents are not cleared.  Any thread.
 */
void rt_prefault(void *p, size_t n);

/* Pins the calling thread (for example the control thread onto the housekeeping CPU).  Returns 0 or -errno. */
int rt_pin_self(const cpu_set_t *cpus);

#endif
