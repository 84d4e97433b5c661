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
 *   throughput  --count messages (default 10 M) as fast as possible, 5 runs, min / median / max messages per second
 *               from the start signal to the last message received;
 *   latency     paced: the producer stamps rt_mono_ns() into a record, sends it, then waits 5 us before the next,
 *               so the queue is normally empty and the number is the hand-off time (including a wake-up for the
 *               mutex queue), not queueing delay; the consumer records now - stamp in an rt_hist.
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

#define REC_SIZE 64
#define BOUND 1024
#define RUNS 5
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

static void usage(void)
{
	fprintf(stderr, "usage: bench_ring [--count N] [--paced N] [--short] [--fifo PRIO]\n"
			"  --count N  messages per throughput run (default 10000000; 5 runs per queue)\n"
			"  --paced N  messages in the paced latency run (default 200000, one every 5 us)\n"
			"  --short    quick tier: --count 1000000 --paced 20000\n"
			"  --fifo P   run both threads SCHED_FIFO priority P and mlockall (needs privilege; on a machine\n"
			"             with only two CPUs this stalls everything else while it runs)\n");
}

int main(int argc, char **argv)
{
	uint64_t count = 10000000, paced = 200000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--paced") == 0 && i + 1 < argc)
			paced = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--short") == 0) {
			count = 1000000;
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
	if (bench_prio)
		rt_mlockall();
	if (count == 0 || paced == 0) {
		usage();
		return 2;
	}

	double med[K_COUNT];
	struct rt_hist_summary lat[K_COUNT];
	printf("bench_ring: %" PRIu64 " x %d-byte messages, bound %d, producer CPU 0, consumer CPU 1, %d runs, %s\n",
	       count, REC_SIZE, BOUND, RUNS, bench_prio ? "SCHED_FIFO" : "SCHED_OTHER");
	for (int k = 0; k < K_COUNT; k++) {
		double mps[RUNS];
		for (int r = 0; r < RUNS; r++) {
			mps[r] = run_one((enum kind)k, count, false, NULL);
			if (mps[r] < 0)
				return 1;
		}
		qsort(mps, RUNS, sizeof(mps[0]), cmp_double);
		med[k] = mps[RUNS / 2];
		printf("throughput %-5s  min %7.2f  median %7.2f  max %7.2f  M msg/s\n", kind_names[k], mps[0] / 1e6,
		       med[k] / 1e6, mps[RUNS - 1] / 1e6);
	}
	printf("latency (paced, one message every %d ns, %" PRIu64 " messages; ns from stamp to receipt)\n", PACE_NS,
	       paced);
	for (int k = 0; k < K_COUNT; k++) {
		struct rt_hist *h = malloc(sizeof(*h));
		if (!h)
			return 1;
		rt_hist_init(h);
		if (run_one((enum kind)k, paced, true, h) < 0)
			return 1;
		rt_hist_summarize(h, &lat[k]);
		free(h);
		printf("latency %-5s  min %6" PRIu64 "  mean %8.0f  p50 %6" PRIu64 "  p90 %6" PRIu64 "  p99 %7" PRIu64
		       "  p99.9 %7" PRIu64 "  max %8" PRIu64 "  overflow %" PRIu64 "\n",
		       kind_names[k], lat[k].min, lat[k].mean, lat[k].p50, lat[k].p90, lat[k].p99, lat[k].p999,
		       lat[k].max, lat[k].overflow);
	}

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
	printf("SUMMARY ring_mps=%.2fM wfcq_mps=%.2fM mutex_mps=%.2fM ring_vs_mutex=%.2f ring_vs_wfcq=%.2f "
	       "ring_p50_ns=%" PRIu64 " ring_p99_ns=%" PRIu64 " wfcq_p99_ns=%" PRIu64 " mutex_p99_ns=%" PRIu64
	       " machine=%s kernel=%s build=%s\n",
	       med[K_RING] / 1e6, med[K_WFCQ] / 1e6, med[K_MUTEX] / 1e6, med[K_RING] / med[K_MUTEX],
	       med[K_RING] / med[K_WFCQ], lat[K_RING].p50, lat[K_RING].p99, lat[K_WFCQ].p99, lat[K_MUTEX].p99, u.machine,
	       u.release, build);
	return 0;
}
