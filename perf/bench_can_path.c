/*
 * bench_can_path - the whole vehicle CAN path, as a user runs it: v2xd on a pseudo-terminal (receive -> framing ->
 * decode -> can_data.csv and the candump log), fed legacy SIM lines by this process.
 *
 *   bench_can_path [--frames N] [--paced-s S] [--rounds R] [--short]
 *
 * Runs, in one invocation:
 *   max     N frames (default 2,000,000) written as fast as the pty takes them; frames/s from the first write until
 *           v2xd has read everything; loss = frames sent - rows in can_data.csv (and in the candump log);
 *   paced   4,500 frames/s (a saturated 500 kbit/s bus) for S seconds (default 10), once with sleeping consumers
 *           (--wait sleep), once with the default hybrid wait, and once with spinning ones (--wait spin):
 *           receive-to-logged (row in the writer's buffer) and receive-to-file (write() returned) percentiles from
 *           v2xd's own histograms, v2xd's CPU use while the stream ran (user + system time from /proc over wall
 *           time, start-up and shutdown excluded) and its peak RSS.  v2xd runs with its default settings.
 * In the same invocation, the limits those figures are bounded by, so they can be read as ratios on a shared machine
 * whose speed swings (perf/bench_limits.h):
 *   pty     the same N lines written the same way into a fresh pty whose reader (a thread here) only reads and
 *           counts newlines: the kernel tty path's throughput now.  The max run is repeated --rounds times
 *           (default 3), interleaved pty, v2xd, pty, v2xd, ..., pty; each v2xd run is divided by the mean of the pty
 *           runs around it, and max_vs_pty is the median of those ratios (with their min and max);
 *   futex   a futex ping-pong between CPU 0 and CPU 1: the one-way wake-up time now; a frame at bus rate crosses a
 *           tty wake-up and two ring hand-offs, so sleep_logged_p50_vs_futex is receive-to-logged in wake-ups.
 * It checks its own results (row counts) and ends with one SUMMARY line.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/testutil.h"

#include "perf/bench_limits.h"

struct run_result {
	double frames_per_s;
	unsigned long sent, rows_csv, rows_candump;
	unsigned long long logged_p50, logged_p99, logged_p999, logged_max, file_p99, file_max;
	double cpu_pct;
	long rss_kb;
	int ok;
};

static char v2xd_path[PATH_MAX];

static size_t gen(char *buf, unsigned long i)
{
	static const unsigned ids[] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557,
				       0x55E, 0x55F, 0x597, 0x599, 0x59B, 0x59E, 0x5D7};
	return (size_t)sprintf(buf, "SIM %03X 8 %02lX 97 CE 54 9B 38 %02lX 73\r\n", ids[i % 15], i & 0xFF,
			       (i >> 8) & 0xFF);
}

static unsigned long count_lines(const char *path)
{
	size_t len;
	char *t = test_read_file(path, &len);
	unsigned long n = 0;
	if (!t)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += t[i] == '\n';
	free(t);
	return n;
}

/* utime + stime of pid, in clock ticks (steady-state CPU between two samples). */
static unsigned long long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		return ut + st;
	return 0;
}

static unsigned long long field_after(const char *log, const char *key)
{
	const char *p = strstr(log, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void run(const char *wait_mode, unsigned long frames, double rate, struct run_result *res)
{
	char dir[256], tty[300], logp[300], pat[400];
	struct test_pty p;
	struct rusage ru;
	int status;

	memset(res, 0, sizeof(*res));
	test_mkdtemp(dir, sizeof(dir), "bench");
	snprintf(tty, sizeof(tty), "%s/tty", dir);
	snprintf(logp, sizeof(logp), "%s/v2xd.log", dir);
	if (test_pty_open(&p, tty) < 0)
		return;
	char a_can[] = "--can-dev", a_out[] = "--out", a_st[] = "--status-s", a_0[] = "0", a_wait[] = "--wait",
	     mode[16];
	snprintf(mode, sizeof(mode), "%s", wait_mode);
	/* v2xd's defaults otherwise: what a user runs */
	char *argv[] = {v2xd_path, a_can, tty, a_out, dir, a_st, a_0, a_wait, mode, NULL};
	pid_t pid = test_spawn(argv, logp);
	test_wait_for_text(logp, "tty: open", 5000);
	char *buf = malloc(1 << 20);
	size_t fill = 0;
	unsigned long long cpu0 = proc_cpu_ticks(pid);
	int64_t t0 = test_now_ms();
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned long i = 0; i < frames; i++) {
		fill += gen(buf + fill, i);
		if (rate > 0) {
			/* paced: one line at a time at its due time */
			test_pty_write_all(&p, buf, fill);
			fill = 0;
			uint64_t due_ns = (uint64_t)((double)(i + 1) * 1e9 / rate);
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			uint64_t el = (uint64_t)(now.tv_sec - start.tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
				      (uint64_t)start.tv_nsec;
			if (due_ns > el + 50000) {
				struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(due_ns - el)};
				nanosleep(&ts, NULL);
			}
		} else if (fill > (1 << 20) - 128) {
			test_pty_write_all(&p, buf, fill);
			fill = 0;
		}
	}
	if (fill)
		test_pty_write_all(&p, buf, fill);
	test_pty_wait_drained(&p, 120000);
	int64_t t1 = test_now_ms();
	unsigned long long cpu1 = proc_cpu_ticks(pid);
	free(buf);
	kill(pid, SIGTERM);
	wait4(pid, &status, 0, &ru);
	test_pty_close(&p);
	double wall_s = (double)(t1 - t0) / 1000.0;
	res->sent = frames;
	res->frames_per_s = (double)frames / wall_s;
	/* steady state: v2xd's CPU time while the stream ran (start-up and the final fsyncs excluded) */
	res->cpu_pct = 100.0 * (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) / wall_s;
	res->rss_kb = ru.ru_maxrss;
	snprintf(pat, sizeof(pat), "%s/can_data.csv", dir);
	res->rows_csv = count_lines(pat) - 1;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cat %s/can_*.log | wc -l", dir);
	FILE *f = popen(cmd, "r");
	if (f) {
		if (fscanf(f, "%lu", &res->rows_candump) != 1)
			res->rows_candump = 0;
		pclose(f);
	}
	char *log = test_read_file(logp, NULL);
	if (log) {
		const char *lat = strstr(log, "latency ns:");
		if (lat) {
			const char *lg = strstr(lat, "rx->logged");
			const char *fl = strstr(lat, "rx->file");
			res->logged_p50 = field_after(lg, "p50=");
			res->logged_p99 = field_after(lg, "p99=");
			res->logged_p999 = field_after(lg, "p99.9=");
			res->logged_max = field_after(lg, "max=");
			res->file_p99 = field_after(fl, "p99=");
			res->file_max = field_after(fl, "max=");
		}
		free(log);
	}
	res->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && res->rows_csv == frames && res->rows_candump == frames;
	printf("%-7s wait=%-5s frames=%lu rate=%.0f/s csv_rows=%lu candump_rows=%lu loss=%ld cpu=%.1f%% rss=%ldKiB "
	       "rx->logged p50/p99/p99.9/max=%llu/%llu/%llu/%llu ns rx->file p99/max=%llu/%llu ns %s\n",
	       rate > 0 ? "paced" : "max", wait_mode, frames, res->frames_per_s, res->rows_csv, res->rows_candump,
	       (long)frames - (long)res->rows_csv, res->cpu_pct, res->rss_kb, res->logged_p50, res->logged_p99,
	       res->logged_p999, res->logged_max, res->file_p99, res->file_max, res->ok ? "ok" : "CHECK FAILED");
	fflush(stdout);
	if (res->ok) {
		test_rmtree(dir);
	} else {
		char *l = test_read_file(logp, NULL);
		fprintf(stderr, "kept %s; v2xd said:\n%s", dir, l ? l : "(nothing)\n");
		free(l);
	}
}

#define MAX_ROUNDS 16

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
	double s[MAX_ROUNDS + 1];
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- the pty's own throughput: a reader that only reads and counts ---- */

struct pty_reader {
	int fd;
	unsigned long want_lines, lines;
	int64_t t_end_ms;
};

static void *pty_reader_main(void *arg)
{
	struct pty_reader *r = arg;
	static char buf[1 << 16];
	while (r->lines < r->want_lines) {
		ssize_t n = read(r->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			r->lines += buf[i] == '\n';
	}
	r->t_end_ms = test_now_ms();
	return NULL;
}

/* Lines per second through a fresh pty, written in 1 MiB chunks as the max run writes them; 0 on a failure. */
static double pty_raw_lines_per_s(unsigned long frames)
{
	char dir[256], tty[300];
	struct test_pty p;
	test_mkdtemp(dir, sizeof(dir), "bench-pty");
	snprintf(tty, sizeof(tty), "%s/tty", dir);
	if (test_pty_open(&p, tty) < 0)
		return 0;
	struct pty_reader r = {.fd = p.slave, .want_lines = frames};
	struct rt_thread_conf rc;
	struct rt_thread rt;
	rt_thread_conf_init(&rc, "pty-reader");
	if (rt_thread_start(&rt, &rc, pty_reader_main, &r) < 0) {
		test_pty_close(&p);
		test_rmtree(dir);
		return 0;
	}
	char *buf = malloc(1 << 20);
	size_t fill = 0;
	int64_t t0 = test_now_ms();
	for (unsigned long i = 0; buf && i < frames; i++) {
		fill += gen(buf + fill, i);
		if (fill > (1 << 20) - 128) {
			if (test_pty_write_all(&p, buf, fill) < 0)
				break;
			fill = 0;
		}
	}
	if (buf && fill)
		test_pty_write_all(&p, buf, fill);
	free(buf);
	rt_thread_join(&rt);
	test_pty_close(&p);
	test_rmtree(dir);
	if (r.lines != frames || r.t_end_ms <= t0) {
		fprintf(stderr, "bench_can_path: pty reader counted %lu of %lu lines\n", r.lines, frames);
		return 0;
	}
	return (double)frames / ((double)(r.t_end_ms - t0) / 1000.0);
}

int main(int argc, char **argv)
{
	unsigned long frames = 2000000;
	double paced_s = 10;
	int opt, rounds = 3;
	static const struct option opts[] = {{"frames", required_argument, NULL, 'n'},
					     {"paced-s", required_argument, NULL, 'p'},
					     {"short", no_argument, NULL, 's'},
					     {"rounds", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n')
			frames = strtoul(optarg, NULL, 10);
		else if (opt == 'p')
			paced_s = atof(optarg);
		else if (opt == 'r') {
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > MAX_ROUNDS)
				return 2;
		} else if (opt == 's') {
			frames = 200000;
			paced_s = 3;
		} else
			return 2;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	snprintf(v2xd_path, sizeof(v2xd_path), "%s/v2xd", dirname(self));
	signal(SIGPIPE, SIG_IGN);

	/* Max rate, interleaved with the pty's own throughput: pty, v2xd, pty, v2xd, ..., pty; each v2xd run is
	 * compared with the mean of the pty runs just before and just after it. */
	struct run_result mx, ps, ph, pp;
	double pty[MAX_ROUNDS + 1], mxf[MAX_ROUNDS], ratio[MAX_ROUNDS];
	int max_ok = 1;
	long max_loss = 0, max_rss = 0;
	pty[0] = pty_raw_lines_per_s(frames);
	for (int r = 0; r < rounds; r++) {
		printf("limit   pty raw: %lu lines read and counted at %.0f lines/s\n", frames, pty[r]);
		fflush(stdout);
		run(getenv("BENCH_MAX_WAIT") ? getenv("BENCH_MAX_WAIT") : "sleep", frames, 0, &mx);
		pty[r + 1] = pty_raw_lines_per_s(frames);
		mxf[r] = mx.frames_per_s;
		ratio[r] = pty[r] > 0 && pty[r + 1] > 0 ? mx.frames_per_s / ((pty[r] + pty[r + 1]) / 2) : 0;
		max_ok &= mx.ok && pty[r] > 0 && pty[r + 1] > 0;
		max_loss += (long)mx.sent - (long)mx.rows_csv;
		if (mx.rss_kb > max_rss)
			max_rss = mx.rss_kb;
	}
	printf("limit   pty raw: %lu lines read and counted at %.0f lines/s\n", frames, pty[rounds]);
	double pty_lps = median_of(pty, rounds + 1), max_fps = median_of(mxf, rounds);
	double max_vs_pty = median_of(ratio, rounds), ratio_min = ratio[0], ratio_max = ratio[0];
	for (int r = 1; r < rounds; r++) {
		ratio_min = ratio[r] < ratio_min ? ratio[r] : ratio_min;
		ratio_max = ratio[r] > ratio_max ? ratio[r] : ratio_max;
	}
	run("sleep", (unsigned long)(4500 * paced_s), 4500, &ps);
	run("hybrid", (unsigned long)(4500 * paced_s), 4500, &ph);
	run("spin", (unsigned long)(4500 * paced_s), 4500, &pp);

	struct rt_hist *h = malloc(sizeof(*h));
	struct rt_hist_summary fx = {0};
	if (h) {
		rt_hist_init(h);
		if (limits_pingpong(LIMITS_PP_FUTEX, 20000, h) == 0)
			rt_hist_summarize(h, &fx);
		free(h);
	}
	printf("limit   futex ping-pong one-way: p50 %llu p99 %llu max %llu ns\n", (unsigned long long)fx.p50,
	       (unsigned long long)fx.p99, (unsigned long long)fx.max);
	double p50_vs_futex = fx.p50 ? (double)ps.logged_p50 / (double)fx.p50 : 0;
	printf("ratios  max rate / pty raw = %.3f (median of %d interleaved rounds, %.3f..%.3f); sleep rx->logged p50 = "
	       "%.2f futex wake-ups\n", max_vs_pty, rounds, ratio_min, ratio_max, p50_vs_futex);

	struct utsname u;
	uname(&u);
	printf("SUMMARY max_fps=%.0f max_loss=%ld paced_fps=4500 sleep_logged_p99_ns=%llu sleep_logged_max_ns=%llu "
	       "hybrid_logged_p99_ns=%llu spin_logged_p99_ns=%llu sleep_file_max_ns=%llu paced_cpu_pct=%.2f "
	       "hybrid_cpu_pct=%.2f spin_cpu_pct=%.1f peak_rss_kib=%ld "
	       "spin_vs_sleep_p99=%.2f pty_raw_lps=%.0f max_vs_pty=%.3f max_vs_pty_min=%.3f max_vs_pty_max=%.3f rounds=%d "
	       "futex_oneway_p50_ns=%llu "
	       "sleep_logged_p50_ns=%llu sleep_logged_p50_vs_futex=%.2f ok=%d machine=%s kernel=%s build=%s\n",
	       max_fps, max_loss, ps.logged_p99, ps.logged_max, ph.logged_p99,
	       pp.logged_p99, ps.file_max, ps.cpu_pct, ph.cpu_pct, pp.cpu_pct,
	       ps.rss_kb > max_rss ? ps.rss_kb : max_rss,
	       ps.logged_p99 ? (double)pp.logged_p99 / (double)ps.logged_p99 : 0, pty_lps, max_vs_pty, ratio_min,
	       ratio_max, rounds,
	       (unsigned long long)fx.p50, ps.logged_p50, p50_vs_futex, max_ok && ps.ok && ph.ok && pp.ok, u.machine,
	       u.release, __DATE__);
	return max_ok && ps.ok && ph.ok && pp.ok ? 0 : 1;
}
