/*
 * bench_spool.c - the uplink spool's append and acknowledge throughput, at the default fsync window (1 s) and with
 * an fdatasync after every record, in the same run; then (with --drain, default on) the backlog drain of a full
 * spool to a local mosquitto broker at QoS 1 (samples per second), unpaced and at the default pacing (5 publishes/s;
 * a batch holds at most 50 samples and 32 KiB, about 21 samples of every signal, so the paced drain is ~100 samples/s).
 *
 *   bench_spool [--dir DIR] [--records N] [--size BYTES] [--rounds R] [--no-drain]
 *
 * DIR (default /var/tmp: a disk, not a tmpfs, so fdatasync costs what it costs) gets a fresh directory per run.
 * Records are BYTES (default 1200: one telemetry sample) each; a round appends N records (default 20000; 2000 for the
 * per-record fsync, which is slower by orders of magnitude) with the clock passed to spool_tick every record, then
 * reads, takes and acknowledges them all in windows of 200 (the uplink's default in-flight bound), deleting
 * segments as they empty.  Rounds alternate the two modes (A B B A ...), so a slow phase of the shared machine hits
 * both; the SUMMARY gives median, min and max per mode and the ratio of medians.  Each round checks that every
 * record came back once, in order, with its payload intact; any error fails the benchmark (exit 1).
 * The last line is `SUMMARY key=value ...`.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "stages/uplink/spool.h"
#include "stages/uplink/uplink.h"
#include "tests/support/testutil.h"

#define MAX_ROUNDS 32

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_spool: %s\n", what);
	exit(1);
}

struct result {
	double append_rps, ack_rps;
};

static void fill(char *buf, uint32_t size, uint64_t i)
{
	for (uint32_t k = 0; k < size; k++)
		buf[k] = (char)('A' + (i * 7 + k) % 26);
	memcpy(buf, &i, sizeof(i));
}

static struct result run_round(const char *base, int per_record, unsigned n, uint32_t size, int round)
{
	char dir[512];
	struct spool sp;
	struct spool_conf c = {.dir = dir, .fsync_interval_ns = per_record ? 0 : UINT64_MAX};
	char *buf = malloc(size), *got = malloc(SPOOL_PAYLOAD_MAX);
	struct result r;

	snprintf(dir, sizeof(dir), "%s/bench-spool-%d-%d", base, (int)getpid(), round);
	if (spool_open(&sp, &c, mono_ns()) < 0)
		die("spool_open");
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		fill(buf, size, i + 1);
		uint64_t now = mono_ns();
		if (spool_append(&sp, (int64_t)i, buf, size, now) < 0)
			die("append");
		spool_tick(&sp, now);
	}
	uint64_t t1 = mono_ns();
	if (atomic_load(&sp.stats.records_written) != n || atomic_load(&sp.stats.write_errors))
		die("not every record written");
	/* acknowledge everything, windows of 200 */
	unsigned seen = 0;
	uint64_t t2 = mono_ns();
	while (seen < n) {
		struct spool_rec rec;
		uint64_t first = 0;
		unsigned taken = 0;
		while (taken < 200) {
			int rc = spool_peek(&sp, &rec, got, SPOOL_PAYLOAD_MAX);
			if (rc < 0)
				die("peek");
			if (rc == 0)
				break;
			fill(buf, size, seen + taken + 1);
			if (rec.seq != seen + taken + 1 || rec.len != size || memcmp(got, buf, size) != 0)
				die("record out of order or damaged");
			spool_take(&sp);
			if (!taken)
				first = rec.seq;
			taken++;
		}
		if (!taken)
			die("records missing");
		for (unsigned k = 0; k < taken; k++)
			if (spool_ack(&sp, first + k) < 0)
				die("ack");
		seen += taken;
		spool_tick(&sp, mono_ns());
	}
	uint64_t t3 = mono_ns();
	if (spool_close(&sp) < 0)
		die("close");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm");
	r.append_rps = n / ((double)(t1 - t0) / 1e9);
	r.ack_rps = n / ((double)(t3 - t2) / 1e9);
	free(buf);
	free(got);
	return r;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- drain to a broker ---- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("free port");
	close(fd);
	return ntohs(a.sin_port);
}

static int port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Fills a spool with n samples, then drains it at rate_hz; returns samples/s acknowledged (0 on failure). */
static double drain_once(const char *base, int port, unsigned n, double rate_hz, unsigned batch, int round)
{
	struct uplink_conf c;
	struct uplink u;
	char err[256];
	struct vstate s;

	uplink_conf_defaults(&c);
	snprintf(c.host, sizeof(c.host), "127.0.0.1");
	c.port = (unsigned)port;
	snprintf(c.token, sizeof(c.token), "bench");
	snprintf(c.spool_dir, sizeof(c.spool_dir), "%s/bench-drain-%d-%d", base, (int)getpid(), round);
	c.publish_rate_hz = rate_hz;
	c.batch_max_samples = batch;
	if (uplink_init(&u, &c, mono_ns(), err, sizeof(err)) < 0)
		die(err);
	memset(&s, 0, sizeof(s));
	for (unsigned i = 1; i <= n; i++) {
		s.updated_real_ns = (1704106800000LL + i) * 1000000LL;
		for (int k = 0; k < SIG__COUNT; k++) {
			s.value[k] = i * 0.25 + k;
			s.t_real_ns[k] = s.updated_real_ns;
		}
		if (uplink_add_sample(&u, &s, mono_ns()) < 0)
			die("add sample");
	}
	uint64_t t0 = mono_ns(), deadline = t0 + 60 * 1000000000ull;
	while (atomic_load(&u.stats.acked_samples) < n && mono_ns() < deadline) {
		struct pollfd p;
		int k = uplink_pollfd(&u, &p);
		uint64_t t = uplink_timeout_ns(&u, mono_ns());
		poll(&p, (nfds_t)k, (int)(t / 1000000));
		uplink_process(&u, mono_ns());
	}
	uint64_t t1 = mono_ns();
	uint64_t acked = atomic_load(&u.stats.acked_samples);
	uplink_fini(&u);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c.spool_dir);
	if (system(cmd) != 0)
		die("rm");
	if (acked != n)
		return 0;
	return n / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
	const char *base = "/var/tmp";
	unsigned n = 20000, n_sync = 2000;
	uint32_t size = 1200;
	int rounds = 4, do_drain = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			n = (unsigned)strtoul(argv[++i], NULL, 10), n_sync = n / 10 ? n / 10 : 1;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-drain"))
			do_drain = 0;
		else {
			fprintf(stderr, "usage: bench_spool [--dir DIR] [--records N] [--size BYTES] [--rounds R] "
					"[--no-drain]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || size < 16 || size > SPOOL_PAYLOAD_MAX || n < 1)
		die("bad arguments");

	double wa[MAX_ROUNDS], wk[MAX_ROUNDS], pa[MAX_ROUNDS], pk[MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		for (int half = 0; half < 2; half++) {
			int per_record = (r % 2) ? !half : half; /* A B B A ... */
			struct result x = run_round(base, per_record, per_record ? n_sync : n, size, r * 2 + half);
			if (per_record) {
				pa[r] = x.append_rps;
				pk[r] = x.ack_rps;
			} else {
				wa[r] = x.append_rps;
				wk[r] = x.ack_rps;
			}
			printf("round %d %-10s append %10.0f rec/s %8.2f MB/s   ack %10.0f rec/s\n", r,
			       per_record ? "per-record" : "window-1s", x.append_rps,
			       x.append_rps * (size + SPOOL_HDR_BYTES) / 1e6, x.ack_rps);
		}
	}
	double wa_min, wa_max, pa_min, pa_max;
	double tmp[MAX_ROUNDS];
	memcpy(tmp, wa, sizeof(double) * (size_t)rounds);
	double wa_med = median(tmp, rounds);
	wa_min = tmp[0], wa_max = tmp[rounds - 1];
	memcpy(tmp, pa, sizeof(double) * (size_t)rounds);
	double pa_med = median(tmp, rounds);
	pa_min = tmp[0], pa_max = tmp[rounds - 1];
	double wk_med = median(wk, rounds), pk_med = median(pk, rounds);

	double drain_unpaced = -1, drain_paced = -1;
	if (do_drain) {
		char dir[256], conf[400], log[400];
		snprintf(dir, sizeof(dir), "%s/bench-broker-%d", base, (int)getpid());
		mkdir(dir, 0700);
		int port = free_port();
		snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
		snprintf(log, sizeof(log), "%s/mosquitto.log", dir);
		FILE *f = fopen(conf, "w");
		if (!f)
			die("broker conf");
		fprintf(f, "user root\nlistener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n", port);
		fclose(f);
		char prog[] = "/usr/sbin/mosquitto", opt[] = "-c";
		char *av[] = {prog, opt, conf, NULL};
		pid_t pid = test_spawn(av, log);
		for (int i = 0; i < 500 && !port_open(port); i++)
			test_sleep_ms(10);
		if (port_open(port)) {
			/* unpaced: the broker and the loopback are the limit; paced: the uplink's defaults (5 msg/s x 50) */
			drain_unpaced = drain_once(base, port, 20000, 100000, 50, 0);
			drain_paced = drain_once(base, port, 1000, 5, 50, 1);
			printf("drain to 127.0.0.1 at QoS 1: %.0f samples/s unpaced (50/batch), %.0f samples/s at 5 msg/s\n",
			       drain_unpaced, drain_paced);
		} else {
			fprintf(stderr, "bench_spool: no broker (mosquitto): drain not measured\n");
		}
		if (pid > 0) {
			kill(pid, SIGTERM);
			test_wait_exit(pid, 5000);
		}
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			die("rm");
		if (drain_unpaced == 0 || drain_paced == 0)
			die("drain: not every sample acknowledged");
	}

	struct utsname un;
	uname(&un);
	double rec_bytes = size + SPOOL_HDR_BYTES;
	printf("SUMMARY bench=spool machine=%s kernel=%s build=%s dir=%s record_bytes=%u rounds=%d "
	       "window_append_rps=%.0f window_append_rps_min=%.0f window_append_rps_max=%.0f window_append_MBps=%.1f "
	       "window_ack_rps=%.0f "
	       "perrec_append_rps=%.0f perrec_append_rps_min=%.0f perrec_append_rps_max=%.0f perrec_append_MBps=%.2f "
	       "perrec_ack_rps=%.0f append_ratio_window_over_perrec=%.1f "
	       "drain_qos1_sps=%.0f drain_paced_sps=%.0f\n",
	       un.machine, un.release,
#ifdef __OPTIMIZE__
	       "opt",
#else
	       "noopt",
#endif
	       base, (unsigned)rec_bytes, rounds, wa_med, wa_min, wa_max, wa_med * rec_bytes / 1e6, wk_med, pa_med,
	       pa_min, pa_max, pa_med * rec_bytes / 1e6, pk_med, wa_med / pa_med, drain_unpaced, drain_paced);
	return 0;
}
