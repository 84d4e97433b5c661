/*
 * bench_ring.c - the project's SPSC ring against liburcu's cds_wfcq and a mutex + condition variable queue.
 *
 * Same conditions for all three: 64-byte records, a bound of 1024 records in flight, a producer thread pinned to
 * CPU 0 and a consumer pinned to CPU 1 (SCHED_OTHER), single-record operations.
 *   ring   ring_push (retry while full) / ring_pop, the consumer spinning (RT_WAIT_SPIN) when empty;
 *   wfcq   cds_wfcq_enqueue / __cds_wfcq_dequeue_nonblocking, spinning when empty; nodes come from a fixed pool of
 *          1024 and go back through a second wfcq (no malloc per message, and the same bound as the others);
 *   mutex  a bounded array under one mutex with not-empty / not-full condition variables (the consumer sleeps).
 * Two measurements per queue:
 *   throughput  --count messages (default 1 M) as fast as possible, messages per second from the start signal to
 *               the last message received.  --rounds rounds (default 15), each running the ceiling, ring, wfcq and mutex
 *               once, in forward order in even rounds and reverse order in odd ones (A B C C B A ...), so a slow
 *               phase of the shared machine hits every queue alike; a ratio is computed per round and the
 *               SUMMARY gives its median and its spread over the rounds (interquartile range / median);
 *   latency     paced: the producer stamps rt_mono_ns() into a record, sends it, then waits 5 us before the next,
 *               so the queue is normally empty and the number is the hand-off time (including a wake-up for the
 *               mutex queue), not queueing delay; the consumer records now - stamp in an rt_hist.
 * In the same run, the limits the figures are bounded by (bench_limits.h): the streaming ceiling (a slot-flag queue
 * with no shared index: each record costs only its cache line's trips between the CPUs), a cache line's one-way trip between the two CPUs (the
 * floor of a spinning hand-off) and a futex ping-pong's one-way wake-up (the floor of a sleeping one).
 * Every run checks that the consumer saw every sequence number once and in order; any error fails the benchmark.
 * The last line is `SUMMARY key=value ...`.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <urcu/wfcqueue.h>

#include "rt/clock.h"
#include "rt/histogram.h"
#include "rt/ring.h"
#include "rt/thread.h"
#include "rt/wait.h"

#include "perf/bench_limits.h"

#define REC_SIZE 64
#define BOUND 1024
#define MAX_ROUNDS 64
#define PACE_NS 5000

struct rec {
	uint64_t seq;
	uint64_t stamp;
	unsigned char pad[REC_SIZE - 16];
};
_Static_assert(sizeof(struct rec) == REC_SIZE, "64-byte records");

enum kind { K_RING, K_WFCQ, K_MUTEX, K_COUNT };
static const char *const kind_names[K_COUNT] = {"ring", "wfcq", "mutex"};

/* ---- the mutex + condvar bounded queue ---- */
struct mq {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct rec slots[BOUND];
	uint64_t head, tail;
};

/* ---- cds_wfcq with a recycled node pool ---- */
struct wnode {
	_Alignas(RT_CACHE_LINE) struct cds_wfcq_node node; /* aligned: adjacent nodes never share a cache line */
	struct rec rec;
};
_Static_assert(offsetof(struct wnode, node) == 0, "a queue node pointer is its wnode pointer");

struct bench {
	enum kind kind;
	uint64_t count;
	bool paced;
	_Atomic int go;
	uint64_t t_start, t_end;
	uint64_t received, errors;
	struct rt_hist *lat;
	/* queues */
	struct rt_waiter waiter;
	struct ring ring;
	struct cds_wfcq_head wq_head, free_head;
	struct cds_wfcq_tail wq_tail, free_tail;
	struct wnode *nodes;
	struct mq *mq;
};

static void send_one(struct bench *b, const struct rec *r)
{
	switch (b->kind) {
	case K_RING:
		while (!ring_push(&b->ring, r))
			rt_cpu_relax();
		break;
	case K_WFCQ: {
		struct cds_wfcq_node *n;
		while ((n = __cds_wfcq_dequeue_nonblocking(&b->free_head, &b->free_tail)) == NULL ||
		       n == CDS_WFCQ_WOULDBLOCK)
			rt_cpu_relax();
		struct wnode *w = (struct wnode *)(void *)n; /* node is the first member */
		w->rec = *r;
		cds_wfcq_node_init(&w->node);
		cds_wfcq_enqueue(&b->wq_head, &b->wq_tail, &w->node);
		break;
	}
	case K_MUTEX: {
		struct mq *q = b->mq;
		pthread_mutex_lock(&q->lock);
		while (q->head - q->tail == BOUND)
			pthread_cond_wait(&q->not_full, &q->lock);
		q->slots[q->head % BOUND] = *r;
		q->head++;
		pthread_cond_signal(&q->not_empty);
		pthread_mutex_unlock(&q->lock);
		break;
	}
	default:
		break;
	}
}

static void recv_one(struct bench *b, struct rec *r)
{
	switch (b->kind) {
	case K_RING:
		while (!ring_pop(&b->ring, r))
			rt_cpu_relax();
		break;
	case K_WFCQ: {
		struct cds_wfcq_node *n;
		while ((n = __cds_wfcq_dequeue_nonblocking(&b->wq_head, &b->wq_tail)) == NULL ||
		       n == CDS_WFCQ_WOULDBLOCK)
			rt_cpu_relax();
		struct wnode *w = (struct wnode *)(void *)n; /* node is the first member */
		*r = w->rec;
		cds_wfcq_node_init(&w->node);
		cds_wfcq_enqueue(&b->free_head, &b->free_tail, &w->node);
		break;
	}
	case K_MUTEX: {
		struct mq *q = b->mq;
		pthread_mutex_lock(&q->lock);
		while (q->head == q->tail)
			pthread_cond_wait(&q->not_empty, &q->lock);
		*r = q->slots[q->tail % BOUND];
		q->tail++;
		pthread_cond_signal(&q->not_full);
		pthread_mutex_unlock(&q->lock);
		break;
	}
	default:
		break;
	}
}

static void *producer(void *arg)
{
	struct bench *b = arg;
	struct rec r;
	memset(&r, 0xab, sizeof(r));
	while (!atomic_load_explicit(&b->go, memory_order_acquire))
		rt_cpu_relax();
	for (uint64_t i = 0; i < b->count; i++) {
		r.seq = i;
		if (b->paced) {
			uint64_t now = rt_mono_ns();
			r.stamp = now;
			send_one(b, &r);
			while (rt_mono_ns() - now < PACE_NS)
				rt_cpu_relax();
		} else {
			send_one(b, &r);
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct bench *b = arg;
	struct rec r;
	/* Results stay in locals until the end: a per-message store into *b would share a line with what the
	 * producer reads. */
	uint64_t received = 0, errors = 0;
	while (!atomic_load_explicit(&b->go, memory_order_acquire))
		rt_cpu_relax();
	for (uint64_t i = 0; i < b->count; i++) {
		recv_one(b, &r);
		if (b->paced)
			rt_hist_record(b->lat, rt_mono_ns() - r.stamp);
		if (r.seq != i || r.pad[0] != 0xab)
			errors++;
		received++;
	}
	b->t_end = rt_mono_ns();
	b->received = received;
	b->errors = errors;
	return NULL;
}

static int bench_setup(struct bench *b)
{
	switch (b->kind) {
	case K_RING:
		rt_waiter_init(&b->waiter, RT_WAIT_SPIN, 0);
		return ring_init(&b->ring, "bench", sizeof(struct rec), BOUND, &b->waiter);
	case K_WFCQ:
		cds_wfcq_init(&b->wq_head, &b->wq_tail);
		cds_wfcq_init(&b->free_head, &b->free_tail);
		b->nodes = aligned_alloc(RT_CACHE_LINE, BOUND * sizeof(*b->nodes));
		if (!b->nodes)
			return -ENOMEM;
		memset(b->nodes, 0, BOUND * sizeof(*b->nodes));
		for (size_t i = 0; i < BOUND; i++) {
			cds_wfcq_node_init(&b->nodes[i].node);
			cds_wfcq_enqueue(&b->free_head, &b->free_tail, &b->nodes[i].node);
		}
		return 0;
	case K_MUTEX:
		b->mq = calloc(1, sizeof(*b->mq));
		if (!b->mq)
			return -ENOMEM;
		pthread_mutex_init(&b->mq->lock, NULL);
		pthread_cond_init(&b->mq->not_empty, NULL);
		pthread_cond_init(&b->mq->not_full, NULL);
		return 0;
	default:
		return -EINVAL;
	}
}

static void bench_teardown(struct bench *b)
{
	switch (b->kind) {
	case K_RING:
		ring_fini(&b->ring);
		break;
	case K_WFCQ:
		cds_wfcq_destroy(&b->wq_head, &b->wq_tail);
		cds_wfcq_destroy(&b->free_head, &b->free_tail);
		free(b->nodes);
		break;
	case K_MUTEX:
		pthread_mutex_destroy(&b->mq->lock);
		pthread_cond_destroy(&b->mq->not_empty);
		pthread_cond_destroy(&b->mq->not_full);
		free(b->mq);
		break;
	default:
		break;
	}
}

/* One run: returns messages per second, or a negative value on a failed check. */
static int bench_prio; /* --fifo: SCHED_FIFO priority for both threads, 0 = SCHED_OTHER */

static double run_one(enum kind kind, uint64_t count, bool paced, struct rt_hist *lat)
{
	/* Cache-line aligned, as struct ring and struct rt_waiter require (calloc only guarantees 16 bytes). */
	size_t size = (sizeof(struct bench) + RT_CACHE_LINE - 1) & ~(size_t)(RT_CACHE_LINE - 1);
	struct bench *b = aligned_alloc(RT_CACHE_LINE, size);
	if (!b)
		return -1;
	memset(b, 0, size);
	b->kind = kind;
	b->count = count;
	b->paced = paced;
	b->lat = lat;
	if (bench_setup(b) != 0) {
		free(b);
		return -1;
	}
	struct rt_thread_conf pc, cc;
	rt_thread_conf_init(&pc, "bench-prod");
	rt_thread_conf_init(&cc, "bench-cons");
	CPU_SET(0, &pc.cpus);
	CPU_SET(1, &cc.cpus);
	if (bench_prio) {
		pc.policy = cc.policy = SCHED_FIFO;
		pc.priority = cc.priority = bench_prio;
	}
	struct rt_thread pt, ct;
	if (rt_thread_start(&ct, &cc, consumer, b) != 0 || rt_thread_start(&pt, &pc, producer, b) != 0) {
		fprintf(stderr, "bench_ring: cannot start threads\n");
		exit(1);
	}
	rt_sleep_ns(10 * RT_NS_PER_MS); /* both threads on their CPUs */
	b->t_start = rt_mono_ns();
	atomic_store_explicit(&b->go, 1, memory_order_release);
	rt_thread_join(&pt);
	rt_thread_join(&ct);
	if (bench_prio && (pt.fell_back || ct.fell_back))
		bench_prio = 0; /* rt_thread_start warned once; report what really ran */
	double mps = (double)count / ((double)(b->t_end - b->t_start) / 1e9);
	if (b->received != count || b->errors != 0) {
		fprintf(stderr, "bench_ring: %s: FAILED: received %" PRIu64 " of %" PRIu64 ", %" PRIu64 " out of order\n",
			kind_names[kind], b->received, count, b->errors);
		mps = -1;
	}
	bench_teardown(b);
	free(b);
	return mps;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median, quartiles, min and max of n values (n <= MAX_ROUNDS); v is left untouched. */
struct spread {
	double med, q1, q3, min, max;
};

static struct spread spread_of(const double *v, int n)
{
	double s[MAX_ROUNDS];
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	struct spread r = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[(n - 1) / 4], s[3 * (n - 1) / 4], s[0],
			   s[n - 1]};
	return r;
}

/* How far a ratio moves between rounds: the interquartile range relative to the median, in %.  A few rounds hit by
 * another process's burst move min and max but not the quartiles. */
static double spread_pct(struct spread s)
{
	return s.med > 0 ? 100.0 * (s.q3 - s.q1) / s.med : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_ring [--count N] [--rounds R] [--paced N] [--short] [--fifo PRIO]\n"
			"  --count N   messages per throughput run (default 1000000)\n"
			"  --rounds R  interleaved rounds of ceiling/ring/wfcq/mutex (default 15, at most %d)\n"
			"  --paced N   messages in each paced latency run (default 100000, one every 5 us)\n"
			"  --short     quick tier: --count 500000 --rounds 7 --paced 20000\n"
			"  --fifo P    run both threads SCHED_FIFO priority P and mlockall (needs privilege; on a machine\n"
			"              with only two CPUs this stalls everything else while it runs)\n",
		MAX_ROUNDS);
}

static void print_lat(const char *name, const struct rt_hist_summary *l)
{
	printf("latency %-11s min %6" PRIu64 "  mean %8.0f  p50 %6" PRIu64 "  p90 %6" PRIu64 "  p99 %7" PRIu64
	       "  p99.9 %7" PRIu64 "  max %8" PRIu64 "  overflow %" PRIu64 "\n",
	       name, l->min, l->mean, l->p50, l->p90, l->p99, l->p999, l->max, l->overflow);
}

int main(int argc, char **argv)
{
	uint64_t count = 1000000, paced = 100000;
	int rounds = 15;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--paced") == 0 && i + 1 < argc)
			paced = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--short") == 0) {
			count = 500000;
			rounds = 7;
			paced = 20000;
		} else if (strcmp(argv[i], "--fifo") == 0 && i + 1 < argc) {
			bench_prio = atoi(argv[++i]);
			if (bench_prio < 1 || bench_prio > 99) {
				usage();
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	if (count == 0 || paced == 0 || rounds < 1 || rounds > MAX_ROUNDS) {
		usage();
		return 2;
	}
	if (bench_prio)
		rt_mlockall();

	/* Per round: messages per second of the streaming ceiling and of each queue, and the ratios of that round. */
	double ceil_[MAX_ROUNDS], mps[K_COUNT][MAX_ROUNDS], vs_mutex[MAX_ROUNDS], vs_wfcq[MAX_ROUNDS], vs_ceil[MAX_ROUNDS];
	printf("bench_ring: %" PRIu64 " x %d-byte messages, bound %d, producer CPU 0, consumer CPU 1, %d interleaved "
	       "rounds, %s\n",
	       count, REC_SIZE, BOUND, rounds, bench_prio ? "SCHED_FIFO" : "SCHED_OTHER");
	for (int r = 0; r < rounds; r++) {
		ceil_[r] = limits_stream_mps(count);
		if (ceil_[r] < 0)
			return 1;
		for (int j = 0; j < K_COUNT; j++) {
			int k = r % 2 ? K_COUNT - 1 - j : j; /* A B C, then C B A: no queue always runs first */
			mps[k][r] = run_one((enum kind)k, count, false, NULL);
			if (mps[k][r] < 0)
				return 1;
		}
		vs_mutex[r] = mps[K_RING][r] / mps[K_MUTEX][r];
		vs_wfcq[r] = mps[K_RING][r] / mps[K_WFCQ][r];
		vs_ceil[r] = mps[K_RING][r] / ceil_[r];
		printf("round %2d  ceil %7.2f  ring %7.2f  wfcq %6.2f  mutex %6.2f M msg/s   ring/mutex %5.2f  "
		       "ring/wfcq %5.2f  ring/ceil %.3f\n",
		       r + 1, ceil_[r] / 1e6, mps[K_RING][r] / 1e6, mps[K_WFCQ][r] / 1e6, mps[K_MUTEX][r] / 1e6, vs_mutex[r],
		       vs_wfcq[r], vs_ceil[r]);
		fflush(stdout);
	}
	struct spread cp = spread_of(ceil_, rounds), med[K_COUNT];
	for (int k = 0; k < K_COUNT; k++) {
		med[k] = spread_of(mps[k], rounds);
		printf("throughput %-5s  min %7.2f  median %7.2f  max %7.2f  M msg/s\n", kind_names[k], med[k].min / 1e6,
		       med[k].med / 1e6, med[k].max / 1e6);
	}
	printf("throughput ceil   min %7.2f  median %7.2f  max %7.2f  M msg/s (ceiling: slot-flag queue, no index)\n",
	       cp.min / 1e6, cp.med / 1e6, cp.max / 1e6);
	struct spread rm = spread_of(vs_mutex, rounds), rw = spread_of(vs_wfcq, rounds), rc = spread_of(vs_ceil, rounds);
	printf("ratio ring/mutex  median %6.3f  quartiles %6.3f..%6.3f (spread %3.0f%%)  min..max %6.3f..%6.3f\n", rm.med,
	       rm.q1, rm.q3, spread_pct(rm), rm.min, rm.max);
	printf("ratio ring/wfcq   median %6.3f  quartiles %6.3f..%6.3f (spread %3.0f%%)  min..max %6.3f..%6.3f\n", rw.med,
	       rw.q1, rw.q3, spread_pct(rw), rw.min, rw.max);
	/* The best run of each is the least disturbed one: on a machine with intermittent load its ratio moves less
	 * than the per-round median, on a quiet machine the two agree. */
	printf("ratio of best runs: ring/mutex %.3f  ring/wfcq %.3f  ring/ceil %.3f\n", med[K_RING].max / med[K_MUTEX].max,
	       med[K_RING].max / med[K_WFCQ].max, med[K_RING].max / cp.max);
	printf("ratio ring/ceil   median %6.3f  quartiles %6.3f..%6.3f (spread %3.0f%%)  min..max %6.3f..%6.3f\n", rc.med,
	       rc.q1, rc.q3, spread_pct(rc), rc.min, rc.max);

	struct rt_hist_summary lat[K_COUNT], line, futex;
	printf("latency (paced, one message every %d ns, %" PRIu64 " messages; ns from stamp to receipt)\n", PACE_NS,
	       paced);
	struct rt_hist *h = malloc(sizeof(*h));
	if (!h)
		return 1;
	for (int k = 0; k < K_COUNT; k++) {
		rt_hist_init(h);
		if (run_one((enum kind)k, paced, true, h) < 0)
			return 1;
		rt_hist_summarize(h, &lat[k]);
		print_lat(kind_names[k], &lat[k]);
	}
	rt_hist_init(h);
	if (limits_pingpong(LIMITS_PP_SPIN, paced, h) < 0)
		return 1;
	rt_hist_summarize(h, &line);
	print_lat("line 1-way", &line);
	rt_hist_init(h);
	if (limits_pingpong(LIMITS_PP_FUTEX, paced / 5 + 1, h) < 0)
		return 1;
	rt_hist_summarize(h, &futex);
	print_lat("futex 1-way", &futex);
	free(h);
	printf("floors: ring p50 = %.1f x a cache line's one-way trip; mutex p50 = %.2f x a futex wake-up\n",
	       line.p50 ? (double)lat[K_RING].p50 / (double)line.p50 : 0,
	       futex.p50 ? (double)lat[K_MUTEX].p50 / (double)futex.p50 : 0);

	if (bench_prio == 0)
		printf("scheduling: SCHED_OTHER (shared CPUs: latency tails include preemption by other processes)\n");
	struct utsname u;
	if (uname(&u) != 0) {
		strcpy(u.machine, "unknown");
		strcpy(u.release, "unknown");
	}
	char build[64];
	snprintf(build, sizeof(build), "gcc%d.%d-%s%s", __GNUC__, __GNUC_MINOR__,
#ifdef __OPTIMIZE__
		 "opt",
#else
		 "noopt",
#endif
		 V2X_TRACE ? "-trace" : "");
	printf("SUMMARY ring_mps=%.2fM wfcq_mps=%.2fM mutex_mps=%.2fM ceil_mps=%.2fM ring_vs_mutex=%.2f "
	       "ring_vs_mutex_spread_pct=%.0f ring_vs_wfcq=%.2f ring_vs_wfcq_spread_pct=%.0f ring_vs_ceil=%.3f "
	       "ring_vs_ceil_spread_pct=%.0f ring_p50_ns=%" PRIu64 " ring_p99_ns=%" PRIu64 " line_oneway_p50_ns=%" PRIu64
	       " ring_p50_vs_line=%.1f wfcq_p99_ns=%" PRIu64 " mutex_p50_ns=%" PRIu64 " mutex_p99_ns=%" PRIu64
	       " futex_oneway_p50_ns=%" PRIu64 " mutex_p50_vs_futex=%.2f best_ring_vs_mutex=%.2f best_ring_vs_wfcq=%.2f"
	       " best_ring_vs_ceil=%.3f rounds=%d machine=%s kernel=%s build=%s\n",
	       med[K_RING].med / 1e6, med[K_WFCQ].med / 1e6, med[K_MUTEX].med / 1e6, cp.med / 1e6, rm.med,
	       spread_pct(rm), rw.med, spread_pct(rw), rc.med, spread_pct(rc), lat[K_RING].p50, lat[K_RING].p99,
	       line.p50, line.p50 ? (double)lat[K_RING].p50 / (double)line.p50 : 0, lat[K_WFCQ].p99, lat[K_MUTEX].p50,
	       lat[K_MUTEX].p99, futex.p50, futex.p50 ? (double)lat[K_MUTEX].p50 / (double)futex.p50 : 0,
	       med[K_RING].max / med[K_MUTEX].max, med[K_RING].max / med[K_WFCQ].max, med[K_RING].max / cp.max, rounds,
	       u.machine, u.release, build);
	return 0;
}
