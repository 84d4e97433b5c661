/*
 * thread.c - stage threads: explicit scheduling attributes, CPU pinning, names, and the privilege fallback.
 *
 * The attributes are applied by pthread_create itself (PTHREAD_EXPLICIT_SCHED, pthread_attr_setaffinity_np), so the
 * thread never runs a single instruction with the wrong policy or on the wrong CPU.  When the kernel refuses the
 * real-time policy (EPERM: no CAP_SYS_NICE and RLIMIT_RTPRIO too low), the thread is created again with SCHED_OTHER.
 */
#include "rt/thread.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt/log.h"
#include "trace/tp.h"

static _Thread_local bool thread_is_rt;
static atomic_flag thread_warned_fallback = ATOMIC_FLAG_INIT;
static atomic_flag thread_warned_mlock = ATOMIC_FLAG_INIT;

void rt_thread_conf_init(struct rt_thread_conf *conf, const char *name)
{
	memset(conf, 0, sizeof(*conf));
	conf->name = name;
	CPU_ZERO(&conf->cpus);
	conf->policy = SCHED_OTHER;
	conf->priority = 0;
}

/* Parses one decimal CPU number at *p (no sign, no spaces).  Returns 0 or -EINVAL. */
static int thread__parse_cpu(const char **p, int *cpu)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	long v = 0;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s - '0');
		if (v >= CPU_SETSIZE)
			return -EINVAL;
		s++;
	}
	*cpu = (int)v;
	*p = s;
	return 0;
}

int rt_cpuset_parse(const char *list, cpu_set_t *set)
{
	if (list == NULL || *list == '\0')
		return -EINVAL;
	cpu_set_t tmp;
	CPU_ZERO(&tmp);
	const char *p = list;
	for (;;) {
		int lo, hi;
		if (thread__parse_cpu(&p, &lo) != 0)
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p++;
			if (thread__parse_cpu(&p, &hi) != 0 || hi < lo)
				return -EINVAL;
		}
		for (int c = lo; c <= hi; c++)
			CPU_SET(c, &tmp);
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	*set = tmp;
	return 0;
}

int rt_policy_parse(const char *s, int *policy)
{
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "fifo") == 0)
		*policy = SCHED_FIFO;
	else if (strcmp(s, "rr") == 0)
		*policy = SCHED_RR;
	else if (strcmp(s, "other") == 0)
		*policy = SCHED_OTHER;
	else
		return -EINVAL;
	return 0;
}

/* The CPUs that exist and are online, from sysfs; falls back to 0..N-1 of the configured count. */
static void thread__online_cpus(cpu_set_t *online)
{
	char buf[256];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	if (f) {
		bool ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		if (ok) {
			buf[strcspn(buf, "\n")] = '\0';
			if (rt_cpuset_parse(buf, online) == 0)
				return;
		}
	}
	CPU_ZERO(online);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	for (long i = 0; i < n && i < CPU_SETSIZE; i++)
		CPU_SET((int)i, online);
}

static void *thread__trampoline(void *arg)
{
	struct rt_thread *t = arg;
	thread_is_rt = true;
	pthread_setname_np(pthread_self(), t->name);
	int policy = SCHED_OTHER;
	struct sched_param sp = {0};
	pthread_getschedparam(pthread_self(), &policy, &sp);
	V2X_TP(stage_start, t->name, sched_getcpu(), policy, sp.sched_priority);
	return t->fn(t->arg);
}

/* Builds attributes for policy/priority, pinned to cpus when pin is true. */
static int thread__attr(pthread_attr_t *attr, int policy, int priority, const cpu_set_t *cpus, bool pin)
{
	int rc = pthread_attr_init(attr);
	if (rc)
		return rc;
	struct sched_param sp = {.sched_priority = policy == SCHED_OTHER ? 0 : priority};
	if ((rc = pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED)) ||
	    (rc = pthread_attr_setschedpolicy(attr, policy)) || (rc = pthread_attr_setschedparam(attr, &sp)) ||
	    (pin && (rc = pthread_attr_setaffinity_np(attr, sizeof(*cpus), cpus)))) {
		pthread_attr_destroy(attr);
		return rc;
	}
	return 0;
}

/* Creates the thread with affinity cpus when apply is true; pinned says whether that is a configured pinning (true)
 * or merely every online CPU (false). */
static int thread__create(struct rt_thread *t, int policy, int priority, const cpu_set_t *cpus, bool apply, bool pinned)
{
	pthread_attr_t attr;
	int rc = thread__attr(&attr, policy, priority, cpus, apply);
	if (rc)
		return rc;
	t->policy = policy;
	t->priority = policy == SCHED_OTHER ? 0 : priority;
	t->pinned = pinned;
	rc = pthread_create(&t->tid, &attr, thread__trampoline, t);
	pthread_attr_destroy(&attr);
	return rc;
}

int rt_thread_start(struct rt_thread *t, const struct rt_thread_conf *conf, void *(*fn)(void *), void *arg)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", conf->name ? conf->name : "stage");
	t->fn = fn;
	t->arg = arg;

	int policy = conf->policy;
	if (policy != SCHED_OTHER && policy != SCHED_FIFO && policy != SCHED_RR)
		return -EINVAL;
	if (policy != SCHED_OTHER &&
	    (conf->priority < sched_get_priority_min(policy) || conf->priority > sched_get_priority_max(policy)))
		return -EINVAL;

	cpu_set_t cpus, online;
	thread__online_cpus(&online);
	CPU_AND(&cpus, &conf->cpus, &online);
	bool pin = CPU_COUNT(&cpus) > 0;
	if (CPU_COUNT(&conf->cpus) > 0 && !CPU_EQUAL(&cpus, &conf->cpus))
		rt_warn("thread %s: %d of its %d CPUs do not exist; %s", t->name, CPU_COUNT(&conf->cpus) - CPU_COUNT(&cpus),
			CPU_COUNT(&conf->cpus), pin ? "pinned to the others" : "not pinned");

	/* Unpinned means every online CPU, not the creator's affinity (which may be a pinned stage's one CPU). */
	const cpu_set_t *affinity = pin ? &cpus : &online;
	int rc = thread__create(t, policy, conf->priority, affinity, true, pin);
	if (rc == EPERM && policy != SCHED_OTHER) {
		if (!atomic_flag_test_and_set(&thread_warned_fallback))
			rt_warn("no permission for real-time scheduling (%s priority %d for thread %s): using SCHED_OTHER; "
				"run as root, or grant CAP_SYS_NICE or an RLIMIT_RTPRIO (ulimit -r)",
				policy == SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR", conf->priority, t->name);
		t->fell_back = true;
		rc = thread__create(t, SCHED_OTHER, 0, affinity, true, pin);
	}
	if (rc == EINVAL) {
		/* The CPUs exist but this process may not use them (a cpuset cgroup): leave the affinity to the kernel
		 * rather than not run at all. */
		if (pin)
			rt_warn("thread %s: the kernel refused its CPU set; not pinned", t->name);
		rc = thread__create(t, t->fell_back ? SCHED_OTHER : policy, conf->priority, &cpus, false, false);
	}
	if (rc)
		return -rc;
	t->started = true;
	return 0;
}

int rt_thread_join(struct rt_thread *t)
{
	if (!t->started)
		return -EINVAL;
	int rc = pthread_join(t->tid, NULL);
	if (rc)
		return -rc;
	t->started = false;
	return 0;
}

bool rt_thread_is_rt(void)
{
	return thread_is_rt;
}

int rt_mlockall(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0)
		return 0;
	int err = errno;
	if (!atomic_flag_test_and_set(&thread_warned_mlock))
		rt_warn("mlockall: %s: memory may be paged out (needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK)",
			strerror(err));
	return -err;
}

int rt_pin_self(const cpu_set_t *cpus)
{
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(*cpus), cpus);
	return -rc;
}

void rt_prefault(void *p, size_t n)
{
	volatile unsigned char *b = p;
	long page = sysconf(_SC_PAGESIZE);
	size_t step = page > 0 ? (size_t)page : 4096;

	for (size_t i = 0; i < n; i += step)
		b[i] = 0;
	if (n)
		b[n - 1] = 0;
}
