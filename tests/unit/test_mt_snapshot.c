/*
 * test_mt_snapshot.c - rt/snapshot: the writer never waits for the io thread (proved by structure: with the io
 * thread held, every hand-off beyond the free buffers is skipped and counted, and the wait counter stays 0), the
 * hand-off's cost is measured, snapshot files are whole and hold the latest rows, a failing directory is reported
 * once per episode and recovers, and a restarted writer seeds its window from the previous snapshot.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/counters.h"
#include "rt/snapshot.h"
#include "tests/support/testutil.h"

#define HEADER "n,text\n"

static struct rt_snapshots *new_snaps(const char *dir)
{
	struct rt_snapshots *s = test_zalloc_aligned(sizeof(*s));
	assert_non_null(s);
	assert_int_equal(rt_snap_init(s, dir), 0);
	return s;
}

static void add_rows(struct rt_snapshots *s, int kind, int from, int to)
{
	char row[64];
	for (int i = from; i <= to; i++) {
		int n = snprintf(row, sizeof(row), "%d,row %d\n", i, i);
		rt_snap_row(s, kind, row, (size_t)n);
	}
}

/* Waits (bounded) until the io thread wrote `want` snapshots in all. */
static void wait_written(struct rt_snapshots *s, uint64_t want)
{
	for (int i = 0; i < 30000 && rt_counter_get(&s->written) + rt_counter_get(&s->errors) < want; i++)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_true(rt_counter_get(&s->written) + rt_counter_get(&s->errors) >= want);
}

static void test_busy_io_thread_skips_never_waits(void **st)
{
	(void)st;
	char dir[256], path[512];
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "snap"), 0);
	struct rt_snapshots *s = new_snaps(dir);
	int k = rt_snap_add(s, "a_snapshot.csv", HEADER, 100, 64);
	assert_int_equal(k, 0);
	assert_int_equal(rt_snap_start_io(s, NULL), 0);
	/* The io thread is stuck (a slow disk): the writer keeps going; hand-offs beyond the free buffers skip. */
	rt_snap_pause_io(s, 1);
	const int takes = 50;
	for (int i = 1; i <= takes; i++) {
		add_rows(s, k, i * 10, i * 10 + 9);
		rt_snap_take(s, k);
	}
	uint64_t bufs = s->n_bufs;
	assert_int_equal(rt_counter_get(&s->handoffs), bufs);
	assert_int_equal(rt_counter_get(&s->skipped), (uint64_t)takes - bufs);
	assert_int_equal(rt_counter_get(&s->handoff_waits), 0);
	assert_true(rt_counter_get(&s->handoff_max_ns) > 0); /* the hand-off's own cost is measured */
	assert_int_equal(rt_counter_get(&s->written), 0);
	/* Released, the io thread writes what it holds; then hand-offs work again. */
	rt_snap_pause_io(s, 0);
	wait_written(s, bufs);
	add_rows(s, k, 1000, 1099);
	rt_snap_take(s, k);
	wait_written(s, bufs + 1);
	rt_snap_finish(s);
	rt_snap_fini(s);
	/* The file holds the header and the latest 100 rows, whole. */
	snprintf(path, sizeof(path), "%s/a_snapshot.csv", dir);
	size_t len;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	assert_memory_equal(t, HEADER, strlen(HEADER));
	assert_non_null(strstr(t, "\n1000,row 1000\n"));
	assert_int_equal(t[len - 1], '\n');
	assert_null(strstr(t, "\n999,"));
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += t[i] == '\n';
	assert_int_equal(lines, 101);
	free(t);
	free(s);
}

static void test_error_episode_and_recovery(void **st)
{
	(void)st;
	char dir[256], sub[300];
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "snaperr"), 0);
	snprintf(sub, sizeof(sub), "%s/out", dir); /* does not exist yet: every write fails with ENOENT */
	struct rt_snapshots *s = new_snaps(sub);
	int k = rt_snap_add(s, "b_snapshot.csv", HEADER, 10, 64);
	assert_int_equal(rt_snap_start_io(s, NULL), 0);
	for (int i = 0; i < 3; i++) {
		add_rows(s, k, i, i);
		rt_snap_take(s, k);
		wait_written(s, (uint64_t)i + 1);
	}
	assert_int_equal(rt_counter_get(&s->errors), 3);
	assert_int_equal(rt_counter_get(&s->last_errno), ENOENT);
	assert_true(rt_snap_in_error(s));
	/* One episode: one error event for three failures. */
	assert_int_equal(rt_snap_events_take(s), RT_SNAP_EV_ERROR);
	assert_int_equal(rt_snap_events_take(s), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	rt_snap_take(s, k);
	wait_written(s, 4);
	assert_int_equal(rt_counter_get(&s->written), 1);
	assert_false(rt_snap_in_error(s));
	assert_int_equal(rt_snap_events_take(s), RT_SNAP_EV_RECOVERED);
	rt_snap_fini(s);
	free(s);
}

static void test_seed_from_previous_snapshot(void **st)
{
	(void)st;
	char dir[256], path[512];
	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "snapseed"), 0);
	snprintf(path, sizeof(path), "%s/c_snapshot.csv", dir);
	/* The previous run's snapshot: header, 30 rows, and a partial last line from a crash. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(HEADER, f);
	for (int i = 1; i <= 30; i++)
		fprintf(f, "%d,row %d\n", i, i);
	fputs("31,cut sho", f);
	fclose(f);
	struct rt_snapshots *s = new_snaps(dir);
	int k = rt_snap_add(s, "c_snapshot.csv", HEADER, 20, 64);
	assert_int_equal(rt_snap_seed(s, k), 20); /* the window holds 20: the latest 20 whole rows */
	assert_int_equal(rt_snap_start_io(s, NULL), 0);
	rt_snap_take(s, k); /* before any new row: the recent past, not a header-only file */
	wait_written(s, 1);
	rt_snap_fini(s);
	size_t len;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, HEADER "11,row 11\n"));
	assert_non_null(strstr(t, "\n30,row 30\n"));
	assert_null(strstr(t, "cut"));
	free(t);
	free(s);
	/* A missing file seeds nothing. */
	s = new_snaps(dir);
	k = rt_snap_add(s, "none.csv", HEADER, 5, 64);
	assert_int_equal(rt_snap_seed(s, k), 0);
	rt_snap_fini(s);
	free(s);
}

/*
 * The window is a byte ring of rows * row_max bytes: whatever the row lengths (2 bytes to exactly row_max) and
 * however they are appended (rt_snap_row one by one, rt_snap_rows in runs, a run longer than the whole ring), a
 * snapshot holds exactly the latest `rows` rows, whole and in order, or all of them while fewer were appended.
 */
#define WIN_ROWS 10
#define WIN_MAX 32

/* Row i: "<i>,<filler>\n", up to WIN_MAX bytes long (lengths from "<i>,\n" to row_max itself). */
static size_t window_row(char *buf, int i)
{
	size_t len = 2 + (size_t)(i * 7) % (WIN_MAX - 1); /* 2 .. 32 */
	int n = snprintf(buf, WIN_MAX + 1, "%d,", i);
	assert_true(n > 0);
	if (len < (size_t)n + 1)
		len = (size_t)n + 1;
	memset(buf + n, 'a' + i % 26, len - 1 - (size_t)n);
	buf[len - 1] = '\n';
	return len;
}

static void expect_snapshot_rows(struct rt_snapshots *s, int k, const char *path, int first, int last,
				 uint64_t *writes)
{
	char want[WIN_ROWS * WIN_MAX + 64], row[WIN_MAX + 1];
	size_t wl = strlen(HEADER), len;

	memcpy(want, HEADER, wl);
	for (int i = first; i <= last; i++)
		wl += window_row(want + wl, i);
	rt_snap_take(s, k);
	wait_written(s, ++*writes);
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	if (len != wl || memcmp(t, want, wl) != 0)
		fail_msg("snapshot after row %d:\n%.*s\nwant\n%.*s", last, (int)len, t, (int)wl, want);
	free(t);
	(void)row;
}

static void test_window_latest_rows_whole(void **st)
{
	(void)st;
	char dir[256], path[512], run[64 * WIN_MAX];
	uint64_t writes = 0;
	int next = 0;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "snapwin"), 0);
	snprintf(path, sizeof(path), "%s/w_snapshot.csv", dir);
	struct rt_snapshots *s = new_snaps(dir);
	int k = rt_snap_add(s, "w_snapshot.csv", HEADER, WIN_ROWS, WIN_MAX);
	assert_int_equal(k, 0);
	assert_int_equal(rt_snap_start_io(s, NULL), 0);
	/* empty, then fewer rows than the window */
	expect_snapshot_rows(s, k, path, 0, -1, &writes);
	for (; next < 4; next++) {
		size_t n = window_row(run, next);
		rt_snap_row(s, k, run, n);
	}
	expect_snapshot_rows(s, k, path, 0, 3, &writes);
	/* runs of 1 to 25 rows (a run of 25 rows of up to 32 bytes can exceed the 320-byte ring), many wraps */
	static const int runs[] = {1, 6, 3, 10, 25, 2, 9, 11, 1, 1, 17, 4, 25, 7, 5, 13};
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		size_t len = 0;
		for (int i = 0; i < runs[r]; i++)
			len += window_row(run + len, next++);
		if (r % 3 == 1) { /* the same rows one by one */
			for (size_t off = 0; off < len;) {
				size_t l = (size_t)((char *)memchr(run + off, '\n', len - off) - (run + off)) + 1;
				rt_snap_row(s, k, run + off, l);
				off += l;
			}
		} else {
			rt_snap_rows(s, k, run, len);
		}
		int first = next - WIN_ROWS > 0 ? next - WIN_ROWS : 0;
		expect_snapshot_rows(s, k, path, first, next - 1, &writes);
	}
	/* the latest rows fill the ring exactly (each row_max long, not at the ring's start): all of them, whole */
	char want[WIN_ROWS * WIN_MAX + sizeof(HEADER)];
	size_t wl = strlen(HEADER);
	memcpy(want, HEADER, wl);
	for (int i = 0; i < WIN_ROWS; i++) {
		memset(run + i * WIN_MAX, 'A' + i, WIN_MAX - 1);
		run[i * WIN_MAX + WIN_MAX - 1] = '\n';
	}
	rt_snap_rows(s, k, run, 3 * WIN_MAX);
	rt_snap_rows(s, k, run + 3 * WIN_MAX, (WIN_ROWS - 3) * WIN_MAX);
	memcpy(want + wl, run, WIN_ROWS * WIN_MAX);
	wl += WIN_ROWS * WIN_MAX;
	rt_snap_take(s, k);
	wait_written(s, ++writes);
	size_t len;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	assert_int_equal(len, wl);
	assert_memory_equal(t, want, wl);
	free(t);
	/* a row longer than row_max is cut to row_max - 1 bytes and its '\n', the rows before it stay whole */
	memset(run, 'x', 2 * WIN_MAX);
	rt_snap_row(s, k, run, 2 * WIN_MAX);
	rt_snap_take(s, k);
	wait_written(s, ++writes);
	t = test_read_file(path, &len);
	assert_non_null(t);
	char cut[WIN_MAX + 1];
	memset(cut, 'x', WIN_MAX - 1);
	cut[WIN_MAX - 1] = '\n';
	cut[WIN_MAX] = '\0';
	assert_true(len > WIN_MAX);
	assert_memory_equal(t + len - WIN_MAX, cut, WIN_MAX);
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += t[i] == '\n';
	assert_int_equal(lines, 1 + WIN_ROWS);
	free(t);
	rt_snap_finish(s);
	rt_snap_fini(s);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_io_thread_skips_never_waits),
		cmocka_unit_test(test_error_episode_and_recovery),
		cmocka_unit_test(test_seed_from_previous_snapshot),
		cmocka_unit_test(test_window_latest_rows_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
