/*
 * test_thread.c - stage threads: SCHED_FIFO and pinning as root, the SCHED_OTHER fallback without privilege (in a
 * forked child that gives up its rights), CPU sets naming absent CPUs, the parsers, rt_thread_is_rt(), and the
 * signalfd shutdown path.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/shutdown.h"
#include "rt/thread.h"

struct seen {
	int policy, prio, cpu;
	bool is_rt;
	char name[16];
	int ran;
};

static void *observe(void *arg)
{
	struct seen *s = arg;
	struct sched_param sp;
	pthread_getschedparam(pthread_self(), &s->policy, &sp);
	s->prio = sp.sched_priority;
	s->cpu = sched_getcpu();
	s->is_rt = rt_thread_is_rt();
	pthread_getname_np(pthread_self(), s->name, sizeof(s->name));
	s->ran = 1;
	return s;
}

/* True when this process may use SCHED_FIFO (root with CAP_SYS_NICE, or an RLIMIT_RTPRIO). */
static bool can_fifo(void)
{
	struct sched_param sp = {.sched_priority = 1};
	pthread_attr_t a;
	pthread_t t;
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &sp);
	struct seen s;
	int rc = pthread_create(&t, &a, observe, &s);
	pthread_attr_destroy(&a);
	if (rc == 0)
		pthread_join(t, NULL);
	return rc == 0;
}

static void test_fifo_pinned(void **st)
{
	(void)st;
	if (!can_fifo())
		skip(); /* not privileged here: test_fallback covers this case */
	struct rt_thread_conf conf;
	rt_thread_conf_init(&conf, "fifo-test-thread-long-name");
	conf.policy = SCHED_FIFO;
	conf.priority = 10;
	CPU_SET(0, &conf.cpus);
	struct rt_thread t;
	struct seen s = {0};
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), 0);
	assert_int_equal(rt_thread_join(&t), 0);
	assert_int_equal(s.ran, 1);
	assert_int_equal(s.policy, SCHED_FIFO);
	assert_int_equal(s.prio, 10);
	assert_int_equal(s.cpu, 0);
	assert_true(s.is_rt);
	assert_string_equal(s.name, "fifo-test-threa"); /* the kernel keeps 15 characters */
	assert_int_equal(t.policy, SCHED_FIFO);
	assert_int_equal(t.priority, 10);
	assert_true(t.pinned);
	assert_false(t.fell_back);
	assert_false(rt_thread_is_rt()); /* the test's own thread is not a stage thread */
	assert_int_equal(rt_thread_join(&t), -EINVAL); /* joined already */
}

/* In a child without real-time rights: two FIFO requests fall back to SCHED_OTHER, with one warning in all. */
static int fallback_child(int errfd)
{
	struct rlimit rl = {0, 0};
	if (setrlimit(RLIMIT_RTPRIO, &rl) != 0)
		return 10;
	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) /* nobody: drops CAP_SYS_NICE */
		return 11;
	dup2(errfd, STDERR_FILENO);
	for (int i = 0; i < 2; i++) {
		struct rt_thread_conf conf;
		rt_thread_conf_init(&conf, "fallback");
		conf.policy = SCHED_FIFO;
		conf.priority = 10;
		CPU_SET(0, &conf.cpus);
		struct rt_thread t;
		struct seen s = {0};
		if (rt_thread_start(&t, &conf, observe, &s) != 0)
			return 12;
		if (rt_thread_join(&t) != 0)
			return 13;
		if (!s.ran || s.policy != SCHED_OTHER || !s.is_rt || s.cpu != 0)
			return 14;
		if (!t.fell_back || t.policy != SCHED_OTHER || t.priority != 0 || !t.pinned)
			return 15;
	}
	return 0;
}

static void test_fallback(void **st)
{
	(void)st;
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(fallback_child(p[1]));
	}
	close(p[1]);
	char out[2048];
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Exactly one warning line for the two fallbacks. */
	int lines = 0;
	for (char *q = out; (q = strstr(q, "warning: no permission for real-time")) != NULL; q++)
		lines++;
	assert_int_equal(lines, 1);
}

static void test_absent_cpus(void **st)
{
	(void)st;
	struct rt_thread_conf conf;
	rt_thread_conf_init(&conf, "absent");
	CPU_SET(0, &conf.cpus);
	CPU_SET(1000, &conf.cpus); /* no machine running this test has 1001 CPUs */
	struct rt_thread t;
	struct seen s = {0};
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), 0);
	assert_int_equal(rt_thread_join(&t), 0);
	assert_true(t.pinned);
	assert_int_equal(s.cpu, 0);
	assert_int_equal(s.policy, SCHED_OTHER);
	/* Only absent CPUs: runs unpinned. */
	CPU_ZERO(&conf.cpus);
	CPU_SET(1000, &conf.cpus);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), 0);
	assert_int_equal(rt_thread_join(&t), 0);
	assert_false(t.pinned);
	assert_int_equal(s.ran, 1);
	/* Invalid requests. */
	conf.policy = SCHED_FIFO;
	conf.priority = 0;
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), -EINVAL);
	conf.priority = 100;
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), -EINVAL);
	conf.policy = 12345;
	assert_int_equal(rt_thread_start(&t, &conf, observe, &s), -EINVAL);
}

/* An unpinned thread may run on every online CPU even when its creator is pinned to one. */
static void *report_affinity(void *arg)
{
	pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), (cpu_set_t *)arg);
	return NULL;
}

static void *start_unpinned_from_pinned(void *arg)
{
	struct rt_thread_conf conf;
	struct rt_thread t;
	rt_thread_conf_init(&conf, "t-unpinned");
	if (rt_thread_start(&t, &conf, report_affinity, arg) == 0)
		rt_thread_join(&t);
	return NULL;
}

static void test_unpinned_does_not_inherit(void **st)
{
	(void)st;
	cpu_set_t online, seen, one;
	CPU_ZERO(&online);
	for (int c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++)
		CPU_SET(c, &online);
	if (CPU_COUNT(&online) < 2)
		skip();
	CPU_ZERO(&seen);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	struct rt_thread_conf conf;
	struct rt_thread creator;
	rt_thread_conf_init(&conf, "t-pinned");
	conf.cpus = one;
	assert_int_equal(rt_thread_start(&creator, &conf, start_unpinned_from_pinned, &seen), 0);
	rt_thread_join(&creator);
	assert_true(CPU_EQUAL(&seen, &online));
}

static void test_cpuset_parse(void **st)
{
	(void)st;
	static const struct {
		const char *s;
		int rc;
		int cpus[6]; /* expected members, -1 terminated */
	} cases[] = {
		{"2", 0, {2, -1}},
		{"0-1", 0, {0, 1, -1}},
		{"0,2-3", 0, {0, 2, 3, -1}},
		{"3,1", 0, {1, 3, -1}},
		{"5-5", 0, {5, -1}},
		{"1023", 0, {1023, -1}},
		{"", -EINVAL, {-1}},
		{"1024", -EINVAL, {-1}},
		{"3-1", -EINVAL, {-1}},
		{"1,", -EINVAL, {-1}},
		{",1", -EINVAL, {-1}},
		{"1-", -EINVAL, {-1}},
		{"a", -EINVAL, {-1}},
		{"1 2", -EINVAL, {-1}},
		{"-1", -EINVAL, {-1}},
		{"0,,1", -EINVAL, {-1}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cpu_set_t set, expect;
		CPU_ZERO(&set);
		CPU_SET(7, &set); /* sentinel: must survive a failed parse */
		CPU_ZERO(&expect);
		int n = 0;
		for (; cases[i].cpus[n] >= 0; n++)
			CPU_SET(cases[i].cpus[n], &expect);
		int rc = rt_cpuset_parse(cases[i].s, &set);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_true(CPU_EQUAL(&set, &expect));
			assert_int_equal(CPU_COUNT(&set), n);
		} else {
			assert_int_equal(CPU_COUNT(&set), 1);
			assert_true(CPU_ISSET(7, &set));
		}
	}
}

static void test_policy_parse(void **st)
{
	(void)st;
	static const struct {
		const char *s;
		int rc, policy;
	} cases[] = {
		{"fifo", 0, SCHED_FIFO}, {"rr", 0, SCHED_RR},    {"other", 0, SCHED_OTHER},
		{"FIFO2", -EINVAL, -1},  {"", -EINVAL, -1},       {"batch", -EINVAL, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int policy = -1;
		assert_int_equal(rt_policy_parse(cases[i].s, &policy), cases[i].rc);
		assert_int_equal(policy, cases[i].policy);
	}
}

static void test_signals(void **st)
{
	(void)st;
	int sfd = rt_signals_block();
	assert_true(sfd >= 0);
	assert_int_equal(rt_signals_read(sfd), 0); /* nothing pending */
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(rt_signals_read(sfd), SIGTERM);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(rt_signals_read(sfd), SIGUSR1);
	assert_int_equal(rt_signals_read(sfd), 0);
	/* SIGPIPE is ignored: raising it does not kill us. */
	assert_int_equal(raise(SIGPIPE), 0);
	close(sfd);
	struct rt_stop stop;
	rt_stop_init(&stop);
	assert_false(rt_stop_requested(&stop));
	rt_stop_request(&stop);
	assert_true(rt_stop_requested(&stop));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_pinned),  cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_absent_cpus),  cmocka_unit_test(test_cpuset_parse),
		cmocka_unit_test(test_policy_parse), cmocka_unit_test(test_signals),
		cmocka_unit_test(test_unpinned_does_not_inherit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
