/*
 * test_regress_outdir_removed.c - regression for issue 13 defect 1: the output directory removed while v2xd runs.
 *
 * The run, on a real pseudo-terminal: v2xd with --out D/out, a feed of 4,500 lines/s, `rm -rf D/out` after
 * 9,000 lines, 13,500 more lines, `mkdir D/out`, 13,500 more, SIGTERM.  Before the fix every row was lost and the
 * final line said 0 lost.  Now, for can_data.csv and the candump log each: the rows in the files present at the end
 * plus the rows the final line counts lost equal the frames sent, exactly; no row is in a file twice; the removal
 * is reported once per episode, the status line says so while it lasts, and the files are opened again (with their
 * header) once the directory exists.  A second run adds --rotate-mb 1: rotation works in the recreated directory.
 *
 * The feed is legacy link-1 SIM lines (../shared/facts/legacy-system.md), each frame's data carrying its number, so
 * each row names the frame it came from; the expected counts come from what was sent, never from v2xd's output.
 * Rows in files v2xd had already finished (rotated away) before the removal are outside its accounting: the feed is
 * sized so the first phase (9,000 rows of about 100 bytes) stays under 1 MiB.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

/* Paths here are short temporary names; a truncated one would fail the test visibly. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define RATE_LINES_PER_S 4500
#define PHASE1 9000
#define PHASE2 13500
#define PHASE3 13500
#define N_FRAMES (PHASE1 + PHASE2 + PHASE3)

static const unsigned twizy_ids[] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557,
				     0x55E, 0x55F, 0x597, 0x599, 0x59B, 0x59E, 0x5D7};

struct run {
	char dir[256], out[300], tty[300], log[300];
	struct test_pty pty;
	pid_t pid;
	unsigned long sent;
};

/* Frame k (from 0): a Twizy id, DLC 8, bytes 4..6 = k big-endian, so a row says which frame it is. */
static size_t frame_line(char *buf, size_t size, unsigned long k)
{
	return (size_t)snprintf(buf, size, "SIM %03X 8 %02lX 97 CE 54 %02lX %02lX %02lX 73\r\n",
				twizy_ids[k % (sizeof(twizy_ids) / sizeof(twizy_ids[0]))], k & 0xFF, (k >> 16) & 0xFF,
				(k >> 8) & 0xFF, k & 0xFF);
}

/* Sends n frames paced at RATE_LINES_PER_S (in 10 ms bursts). */
static void feed(struct run *r, unsigned long n)
{
	char chunk[64 * 64];
	int64_t t0 = test_now_ms();

	for (unsigned long i = 0; i < n;) {
		size_t len = 0;
		unsigned long burst = RATE_LINES_PER_S / 100;
		for (unsigned long j = 0; j < burst && i < n; j++, i++)
			len += frame_line(chunk + len, sizeof(chunk) - len, r->sent++);
		assert_int_equal(test_pty_write_all(&r->pty, chunk, len), 0);
		int64_t due = t0 + (int64_t)(i * 1000 / RATE_LINES_PER_S);
		int64_t now = test_now_ms();
		if (due > now)
			test_sleep_ms((int)(due - now));
	}
}

static void run_start(struct run *r, const char *tag, const char *rotate_mb)
{
	char bin[300];

	memset(r, 0, sizeof(*r));
	assert_int_equal(test_mkdtemp(r->dir, sizeof(r->dir), tag), 0);
	snprintf(r->out, sizeof(r->out), "%s/out", r->dir);
	snprintf(r->tty, sizeof(r->tty), "%s/ttyESP32", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/v2xd.log", r->dir);
	assert_int_equal(test_pty_open(&r->pty, r->tty), 0);
	snprintf(bin, sizeof(bin), "%s/bin/v2xd", test_build_dir());
	char *argv[] = {bin, (char *)"--can-dev", r->tty, (char *)"--out", r->out, (char *)"--status-s", (char *)"1",
			(char *)"--rotate-mb", (char *)(rotate_mb ? rotate_mb : "0"), NULL};
	r->pid = test_spawn(argv, r->log);
	assert_true(r->pid > 0);
	assert_int_equal(test_wait_for_text(r->log, "ttyESP32: open", 30000), 0);
}

static void run_end(struct run *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		test_wait_exit(r->pid, 5000);
	}
	test_pty_close(&r->pty);
	if (getenv("V2X_KEEP"))
		fprintf(stderr, "kept %s\n", r->dir);
	else
		test_rmtree(r->dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* `rm -rf dir`, repeated while the daemon's snapshot thread puts a new file in between (rmdir: ENOTEMPTY). */
static void rm_rf(const char *dir)
{
	struct stat st;

	for (int i = 0; i < 100 && stat(dir, &st) == 0; i++)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_not_equal(stat(dir, &st), 0);
}

static size_t count_text(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Frame number of a can_data.csv row (data_hex bytes 4..6), or -1. */
static long can_row_frame(const char *row)
{
	const char *f = row;
	unsigned b[8];

	for (int k = 0; k < 3 && f; k++)
		f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
	if (!f || sscanf(f, "%x %x %x %x %x %x %x %x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7]) != 8)
		return -1;
	return (long)((b[4] << 16) | (b[5] << 8) | b[6]);
}

/* Frame number of a candump line "(t) can0 155#0197CE54XXXXXX73", or -1. */
static long candump_frame(const char *line)
{
	const char *h = strchr(line, '#');
	unsigned long v;

	if (!h || strlen(h + 1) < 16 || sscanf(h + 9, "%6lx", &v) != 1)
		return -1;
	return (long)v;
}

struct tally {
	unsigned long rows;       /* rows in the files */
	unsigned long dup, bad;   /* rows seen twice, rows naming no frame sent */
	unsigned files, headers;
	unsigned char *seen;
};

/* Counts the rows of one file into t; the header (first line) must be `header` when given. */
static void tally_file(struct tally *t, const char *path, const char *header, long (*frame)(const char *))
{
	size_t len;
	char *text = test_read_file(path, &len);

	assert_non_null(text);
	assert_true(len == 0 || text[len - 1] == '\n');
	t->files++;
	char *p = text, *end = text + len;
	if (header) {
		assert_true(strncmp(text, header, strlen(header)) == 0);
		t->headers++;
		p = strchr(text, '\n') + 1;
	}
	while (p < end) {
		char *nl = strchr(p, '\n');
		*nl = '\0';
		long k = frame(p);
		if (k < 0 || k >= N_FRAMES)
			t->bad++;
		else if (t->seen[k]++)
			t->dup++;
		t->rows++;
		p = nl + 1;
	}
	free(text);
}

static const char CAN_HEADER[] =
	"timestamp,can_id,dlc,data_hex,data_bytes,gps_lat,gps_lon,gps_alt,gps_speed,gps_valid,seq,dev_time_us\n";

static unsigned long final_lost(const char *fin, const char *key)
{
	const char *p = strstr(fin, key);
	assert_non_null(p);
	return strtoul(p + strlen(key), NULL, 10);
}

/* Tallies every can_data*.csv (but the snapshot) and candump can_*.log in dir; returns the rotated can_data files. */
static unsigned tally_dir(const char *out, struct tally *can, struct tally *dump)
{
	unsigned rotated = 0;
	DIR *dir = opendir(out);

	assert_non_null(dir);
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		char path[600];
		size_t n = strlen(e->d_name);
		snprintf(path, sizeof(path), "%s/%s", out, e->d_name);
		if (strncmp(e->d_name, "can_data", 8) == 0 && n > 4 && strcmp(e->d_name + n - 4, ".csv") == 0 &&
		    !strstr(e->d_name, "snapshot")) {
			tally_file(can, path, CAN_HEADER, can_row_frame);
			rotated += strcmp(e->d_name, "can_data.csv") != 0;
		} else if (strncmp(e->d_name, "can_", 4) == 0 && n > 4 && strcmp(e->d_name + n - 4, ".log") == 0) {
			tally_file(dump, path, NULL, candump_frame);
		}
	}
	closedir(dir);
	return rotated;
}

static void outdir_removed(const char *tag, const char *rotate_mb)
{
	struct run r;
	struct tally can = {0}, dump = {0};

	run_start(&r, tag, rotate_mb);
	feed(&r, PHASE1);
	assert_int_equal(test_pty_wait_drained(&r.pty, 30000), 0);
	test_sleep_ms(300); /* the rows reach the files (flush every 100 ms) */
	rm_rf(r.out);
	feed(&r, PHASE2);
	assert_int_equal(test_pty_wait_drained(&r.pty, 30000), 0);
	/* the status line says so while the directory is gone */
	assert_int_equal(test_wait_for_text(r.log, "output files removed", 5000), 0);
	assert_int_equal(mkdir(r.out, 0755), 0);
	feed(&r, PHASE3);
	assert_int_equal(test_pty_wait_drained(&r.pty, 30000), 0);
	kill(r.pid, SIGTERM);
	int rc = test_wait_exit(r.pid, 30000);
	r.pid = 0;

	size_t loglen;
	char *log = test_read_file(r.log, &loglen);
	assert_non_null(log);
	if (rc != 0)
		fprintf(stderr, "%s", log);
	assert_int_equal(rc, 0);
	assert_int_equal(r.sent, N_FRAMES);

	/* the rows in the files present at the end */
	can.seen = calloc(N_FRAMES, 1);
	dump.seen = calloc(N_FRAMES, 1);
	assert_non_null(can.seen);
	assert_non_null(dump.seen);
	unsigned rotated = tally_dir(r.out, &can, &dump);

	char *fin = strstr(log, "final:");
	assert_non_null(fin);
	unsigned long lost_can = final_lost(fin, "can_data="), lost_dump = final_lost(fin, "candump=");
	unsigned long rot_failed = final_lost(fin, "rotations failed ");
	print_message("%s: frames sent %lu; can_data.csv: rows written %lu (in %u files), rows counted lost %lu; "
		      "candump log: rows written %lu (in %u files), rows counted lost %lu; rotations failed %lu\n",
		      tag, r.sent, can.rows, can.files, lost_can, dump.rows, dump.files, lost_dump, rot_failed);
	assert_int_equal(can.bad + can.dup, 0);
	assert_int_equal(dump.bad + dump.dup, 0);
	/* exactly: every frame sent is a row of a file present at the end, or counted lost */
	assert_int_equal(can.rows + lost_can, r.sent);
	assert_int_equal(dump.rows + lost_dump, r.sent);
	/* the rows written before the removal went with it; the rows of the second and third phase were kept */
	assert_true(lost_can >= PHASE1 / 2 && lost_can <= PHASE1 + PHASE2);
	assert_true(can.rows >= PHASE3);
	/* reported once per episode: the removal and the reopening, for each file */
	assert_int_equal(count_text(log, "can_data.csv: removed or moved away"), 1);
	assert_int_equal(count_text(log, "can_data.csv: opened again"), 1);
	assert_int_equal(count_text(log, "candump log: removed or moved away"), 1);
	assert_int_equal(count_text(log, "candump log: opened again"), 1);
	assert_non_null(strstr(fin, "disk ok"));
	assert_int_equal(rot_failed, 0);
	if (rotate_mb) {
		/* the third phase alone is over 1 MiB of can_data rows: rotated in the recreated directory */
		assert_true(rotated >= 1);
		assert_true(can.headers == can.files);
	}
	free(can.seen);
	free(dump.seen);
	free(log);
	run_end(&r);
}

static void test_outdir_removed_rows_counted_exactly(void **state)
{
	(void)state;
	outdir_removed("outdir-rm", NULL);
}

static void test_outdir_removed_with_rotation(void **state)
{
	(void)state;
	outdir_removed("outdir-rm-rot", "1");
}

/*
 * The directory stays; can_data.csv is removed (`rm`) and the candump log is moved aside (`mv`, as a hand-made
 * rotation would) after 9,000 frames, then 9,000 more arrive.  The removed file's rows are lost and counted; the
 * moved file keeps its rows and none is counted; both files are opened again at once.
 */
static void test_file_removed_or_moved_in_place(void **state)
{
	struct run r;
	struct tally can = {0}, dump = {0};
	char path[600], moved[600];
	(void)state;

	run_start(&r, "file-rm", NULL);
	feed(&r, PHASE1);
	assert_int_equal(test_pty_wait_drained(&r.pty, 30000), 0);
	test_sleep_ms(300);
	snprintf(path, sizeof(path), "%s/can_data.csv", r.out);
	assert_int_equal(unlink(path), 0);
	DIR *dir = opendir(r.out);
	assert_non_null(dir);
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		size_t n = strlen(e->d_name);
		if (strncmp(e->d_name, "can_", 4) == 0 && n > 4 && strcmp(e->d_name + n - 4, ".log") == 0) {
			snprintf(path, sizeof(path), "%s/%s", r.out, e->d_name);
			snprintf(moved, sizeof(moved), "%s/can_moved_by_hand.log", r.out);
			assert_int_equal(rename(path, moved), 0);
			break;
		}
	}
	closedir(dir);
	feed(&r, PHASE1);
	assert_int_equal(test_pty_wait_drained(&r.pty, 30000), 0);
	kill(r.pid, SIGTERM);
	assert_int_equal(test_wait_exit(r.pid, 30000), 0);
	r.pid = 0;

	size_t loglen;
	char *log = test_read_file(r.log, &loglen);
	assert_non_null(log);
	can.seen = calloc(N_FRAMES, 1);
	dump.seen = calloc(N_FRAMES, 1);
	tally_dir(r.out, &can, &dump);
	char *fin = strstr(log, "final:");
	assert_non_null(fin);
	unsigned long lost_can = final_lost(fin, "can_data="), lost_dump = final_lost(fin, "candump=");
	print_message("file-rm: frames sent %lu; can_data.csv (removed): rows written %lu, rows counted lost %lu; "
		      "candump log (moved): rows written %lu in %u files, rows counted lost %lu\n",
		      r.sent, can.rows, lost_can, dump.rows, dump.files, lost_dump);
	assert_int_equal(can.bad + can.dup + dump.bad + dump.dup, 0);
	assert_int_equal(can.rows + lost_can, r.sent);
	assert_int_equal(lost_can, PHASE1); /* exactly the removed file's rows: all written before the removal */
	assert_int_equal(dump.rows, r.sent); /* moved, not lost */
	assert_int_equal(lost_dump, 0);
	assert_int_equal(dump.files, 2);
	assert_int_equal(count_text(log, "can_data.csv: removed or moved away"), 1);
	assert_int_equal(count_text(log, "candump log: removed or moved away"), 1);
	assert_int_equal(count_text(log, "can_data.csv: opened again"), 1);
	assert_int_equal(count_text(log, "candump log: opened again"), 1);
	free(can.seen);
	free(dump.seen);
	free(log);
	run_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_outdir_removed_rows_counted_exactly, test_kill_spawned),
		cmocka_unit_test_teardown(test_outdir_removed_with_rotation, test_kill_spawned),
		cmocka_unit_test_teardown(test_file_removed_or_moved_in_place, test_kill_spawned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
