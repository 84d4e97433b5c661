/*
 * test_logfile.c - the durable line writer on a real file system: header once, crash repair, rotation by size and
 * by hour, the fsync hand-off, and a disk that really fills up (a 256 KiB tmpfs mounted for the test, unmounted in
 * the teardown even when a test fails; skipped when mounting is not permitted); the file or its directory removed or
 * moved by someone else (counted exactly, reopened with its header, rotation in a recreated directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt/logfile.h"

#define NS 1000000000LL
#define MS 1000000ull

/* 2024-01-01 10:59:59.500 UTC */
#define T_1059 (1704106799LL * NS + 500 * (int64_t)MS)

struct fixture {
	char dir[64];    /* temp dir (the tmpfs mount point for the disk-full tests) */
	char out[128];   /* the writer's directory inside it */
	int mounted;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_tmp(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/v2x-logfile-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->out, sizeof(f->out), "%s/out/sub", f->dir); /* nested: open creates both */
	*state = f;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct fixture *f = *state;

	if (f->mounted && umount2(f->dir, MNT_DETACH) < 0)
		fprintf(stderr, "umount %s: %s\n", f->dir, strerror(errno));
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int setup_tmpfs(void **state)
{
	if (setup_tmp(state) < 0)
		return -1;
	struct fixture *f = *state;
	if (mount("tmpfs", f->dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k") == 0)
		f->mounted = 1;
	else
		fprintf(stderr, "mount tmpfs: %s (test skipped)\n", strerror(errno));
	return 0;
}

/* Returns the file's contents (malloc'ed, NUL-terminated) or NULL. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	char *b = malloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, b, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(b);
		return NULL;
	}
	b[n] = '\0';
	if (len)
		*len = (size_t)n;
	return b;
}

static void expect_file(const char *dir, const char *name, const char *want)
{
	char *got = slurp(dir, name, NULL);

	if (!got)
		fail_msg("%s/%s: cannot read", dir, name);
	assert_string_equal(got, want);
	free(got);
}

static void put_file(const char *dir, const char *name, const char *content)
{
	char path[512];

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static int file_exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static struct logfile_conf fixed_conf(const char *dir, const char *header)
{
	struct logfile_conf c;

	memset(&c, 0, sizeof(c));
	c.dir = dir;
	c.base = "can_data";
	c.ext = ".csv";
	c.header = header;
	c.naming = LOGFILE_FIXED;
	c.utc_names = 1;
	c.buf_bytes = 4096;
	return c;
}

static void append(struct logfile *lf, const char *line)
{
	assert_int_equal(logfile_append(lf, line, strlen(line)), 0);
}

/* ---- header and crash repair ---- */

static void test_header_once_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h1,h2\n");
	struct logfile lf;

	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	assert_string_equal(logfile_name(&lf), "can_data.csv");
	append(&lf, "1,a\n");
	append(&lf, "2,b\n3,c\n");
	assert_int_equal(logfile_close(&lf), 0);
	assert_int_equal(get(&lf.stats.rows_written), 3);
	assert_int_equal(get(&lf.stats.bytes_written), 12);
	assert_int_equal(logfile_open(&lf, &c, T_1059 + NS), 0);
	append(&lf, "4,d\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n2,b\n3,c\n4,d\n");
	assert_int_equal(logfile_append(&lf, "x", 1), -EINVAL); /* not a whole line */
	assert_int_equal(logfile_close(&lf), 0);                 /* closing twice is harmless */
}

static void test_crash_repair_cuts_partial_line(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h1,h2\n");
	struct logfile lf;

	assert_int_equal(logfile_open(&lf, &c, T_1059), 0); /* creates the directories */
	assert_int_equal(logfile_close(&lf), 0);
	put_file(f->out, "can_data.csv", "h1,h2\n1,a\n2,b\n3,the crash hit he");
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n2,b\n"); /* cut at open, before anything is written */
	append(&lf, "3,c\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n2,b\n3,c\n");
}

static void test_crash_repair_partial_header(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h1,h2\n");
	struct logfile lf;

	put_file(f->dir, "x", ""); /* f->dir exists; create f->out's parent chain by opening once */
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	assert_int_equal(logfile_close(&lf), 0);
	put_file(f->out, "can_data.csv", "h1,");
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "1,a\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n");

	/* a file from an older format (another header) is kept aside, not appended to */
	put_file(f->out, "can_data.csv", "old,header\n9,z\n");
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "1,a\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n");
	int found = 0;
	char name[64];
	/* named after its modification time: look for any can_data_*.csv holding the old rows */
	FILE *ls = NULL;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s", f->out);
	ls = popen(cmd, "r");
	assert_non_null(ls);
	while (fgets(name, sizeof(name), ls)) {
		name[strcspn(name, "\n")] = '\0';
		if (strncmp(name, "can_data_", 9) == 0) {
			expect_file(f->out, name, "old,header\n9,z\n");
			found++;
		}
	}
	pclose(ls);
	assert_int_equal(found, 1);
}

/* ---- rotation ---- */

static void test_rotation_by_size(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;
	char row[64];

	c.rotate_bytes = 40;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(row, sizeof(row), "row %04d 0123456789\n", i); /* 20 bytes */
		append(&lf, row);
	}
	/* the tick writes the rows (interval passed) and then rotates: the file reached 102 >= 40 bytes */
	logfile_tick(&lf, 200 * MS, T_1059 + NS);
	assert_int_equal(get(&lf.stats.rotations), 1);
	expect_file(f->out, "can_data_20240101_105959.csv",
		    "h\nrow 0000 0123456789\nrow 0001 0123456789\nrow 0002 0123456789\nrow 0003 0123456789\n"
		    "row 0004 0123456789\n");
	append(&lf, "after\n");
	logfile_tick(&lf, 400 * MS, T_1059 + NS);
	expect_file(f->out, "can_data.csv", "h\nafter\n"); /* a new file with its header */
	assert_int_equal(get(&lf.stats.rotations), 1);     /* 8 bytes < 40: not yet */
	for (int i = 0; i < 3; i++)
		append(&lf, "0123456789abcdefghi\n");
	/* the second file started at the first rotation (11:00:00.5); same-second names get a suffix */
	logfile_tick(&lf, 600 * MS, T_1059 + NS);
	assert_int_equal(get(&lf.stats.rotations), 2);
	expect_file(f->out, "can_data_20240101_110000.csv",
		    "h\nafter\n0123456789abcdefghi\n0123456789abcdefghi\n0123456789abcdefghi\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h\n");
	assert_int_equal(get(&lf.stats.rotate_errors), 0);
	/* a third rotation within the same second must not overwrite the second one */
	assert_int_equal(logfile_open(&lf, &c, T_1059 + NS), 0);
	for (int i = 0; i < 3; i++)
		append(&lf, "0123456789abcdefghi\n");
	lf.file_start_real_ns = T_1059 + NS; /* as if started at 11:00:00.5 too */
	logfile_tick(&lf, 200 * MS, T_1059 + NS);
	assert_int_equal(logfile_close(&lf), 0);
	assert_true(file_exists(f->out, "can_data_20240101_110000_1.csv"));
	expect_file(f->out, "can_data_20240101_110000.csv",
		    "h\nafter\n0123456789abcdefghi\n0123456789abcdefghi\n0123456789abcdefghi\n");
}

static void test_rotation_by_hour_fixed(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;

	c.rotate_hourly = 1;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "a\n");
	logfile_tick(&lf, 200 * MS, T_1059 + 400 * (int64_t)MS); /* 10:59:59.9: written, same hour */
	assert_int_equal(get(&lf.stats.rotations), 0);
	expect_file(f->out, "can_data.csv", "h\na\n");
	append(&lf, "b\n");
	logfile_tick(&lf, 250 * MS, T_1059 + 600 * (int64_t)MS); /* 11:00:00.1: rotates, writing b first */
	assert_int_equal(get(&lf.stats.rotations), 1);
	expect_file(f->out, "can_data_20240101_105959.csv", "h\na\nb\n");
	append(&lf, "c\n");
	logfile_tick(&lf, 500 * MS, T_1059 + 2 * NS);
	assert_int_equal(get(&lf.stats.rotations), 1);
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h\nc\n");
}

static void test_rotation_by_hour_stamped(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, NULL);
	struct logfile lf;

	c.naming = LOGFILE_STAMPED;
	c.base = "can_%Y%m%d_%H%M%S";
	c.ext = ".log";
	c.rotate_hourly = 1;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	assert_string_equal(logfile_name(&lf), "can_20240101_105959.log");
	append(&lf, "(1704106799.500000) can0 155#00\n");
	logfile_tick(&lf, 250 * MS, T_1059 + 600 * (int64_t)MS);
	assert_string_equal(logfile_name(&lf), "can_20240101_110000.log");
	append(&lf, "(1704106800.100000) can0 155#01\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_20240101_105959.log", "(1704106799.500000) can0 155#00\n");
	expect_file(f->out, "can_20240101_110000.log", "(1704106800.100000) can0 155#01\n");
	assert_int_equal(get(&lf.stats.rotations), 1);
}

/* ---- fsync hand-off ---- */

struct sync_probe {
	int calls;
	int refuse;
	int bad;
	ino_t want_ino;
	int dir_calls;
};

/* Open descriptors of this process that refer to the file ino (library threads may open unrelated ones at any
 * time, so only the file's own descriptors are counted). */
static int count_fds_of(ino_t ino)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_ino == ino && S_ISREG(st.st_mode))
			n++;
	}
	return n;
}

static int probe_sync(void *ctx, int fd)
{
	struct sync_probe *p = ctx;
	struct stat st;

	p->calls++;
	if (fcntl(fd, F_GETFD) < 0 || fstat(fd, &st) < 0) {
		p->bad++;
		return -EBADF;
	}
	if (S_ISDIR(st.st_mode))
		p->dir_calls++;
	else if (st.st_ino != p->want_ino || fdatasync(fd) < 0)
		p->bad++;
	if (p->refuse)
		return -EAGAIN; /* the writer must close fd then */
	close(fd);
	return 0;
}

static void test_sync_hook_gets_dup_fd(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;
	struct sync_probe p = {0};
	struct stat st;
	char path[256];

	c.sync_fn = probe_sync;
	c.sync_ctx = &p;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	snprintf(path, sizeof(path), "%s/can_data.csv", f->out);
	assert_int_equal(stat(path, &st), 0);
	p.want_ino = st.st_ino;
	append(&lf, "a\n");
	logfile_tick(&lf, 200 * MS, T_1059);      /* written, fsync not due yet */
	assert_int_equal(p.calls, 0);
	logfile_tick(&lf, 1200 * MS, T_1059);     /* 1 s since the last sync */
	assert_true(p.calls >= 1);
	assert_int_equal(p.bad, 0);
	assert_int_equal(p.dir_calls, 1);         /* the new file's directory entry too */
	uint64_t fsyncs = get(&lf.stats.fsyncs);
	assert_int_equal(fsyncs, (uint64_t)p.calls);
	/* a refusing hook: the writer closes the dup itself and counts it */
	p.refuse = 1;
	append(&lf, "b\n");
	int before = p.calls;
	int fds_before = count_fds_of(p.want_ino);
	logfile_tick(&lf, 2400 * MS, T_1059);
	assert_int_equal(p.calls, before + 1);
	assert_int_equal(get(&lf.stats.sync_errors), 1);
	assert_int_equal(count_fds_of(p.want_ino), fds_before); /* the refused dup was closed, not leaked */
	assert_int_equal(logfile_close(&lf), 0);
	assert_int_equal(p.bad, 0);
}

/* ---- disk full (tmpfs) ---- */

/* Fills the file system holding dir with a filler file until ENOSPC. */
static void fill_disk(const char *dir)
{
	char path[256], chunk[4096];

	memset(chunk, 'F', sizeof(chunk));
	snprintf(path, sizeof(path), "%s/filler", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (;;) {
		ssize_t n = write(fd, chunk, sizeof(chunk));
		if (n < 0) {
			assert_int_equal(errno, ENOSPC);
			break;
		}
	}
	close(fd);
}

static void free_disk(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/filler", dir);
	assert_int_equal(unlink(path), 0);
}

static void make_row(char *row, size_t len, int i)
{
	memset(row, 'a' + i % 26, len - 1);
	snprintf(row, len, "%06d", i);
	row[6] = ',';
	row[len - 1] = '\n';
}

static void test_disk_full_drops_exactly_and_recovers(void **state)
{
	struct fixture *f = *state;
	if (!f->mounted)
		skip();
	long page = sysconf(_SC_PAGESIZE);
	assert_int_equal(4096 % page, 0);
	/* a 64-byte header and 64-byte rows: 1 + 63 lines fill exactly one page, so a full disk has no slack */
	char header[65], row[65];
	memset(header, 'H', 63);
	header[63] = '\n';
	header[64] = '\0';
	struct logfile_conf c = fixed_conf(f->out, header);
	struct logfile lf;
	c.buf_bytes = 4096; /* 64 rows */
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	for (int i = 0; i < 63; i++) {
		make_row(row, 64, i);
		assert_int_equal(logfile_append(&lf, row, 64), 0);
	}
	assert_int_equal(logfile_flush(&lf), 0);
	assert_int_equal(get(&lf.stats.rows_written), 63);
	fill_disk(f->dir);

	/* 200 rows: 64 fit in the buffer, the 65th finds it full, the flush fails with ENOSPC, the rest drop */
	int dropped = 0;
	for (int i = 63; i < 263; i++) {
		make_row(row, 64, i);
		char *p = logfile_reserve(&lf, 64);
		if (!p) {
			logfile_count_dropped(&lf, 1, 64);
			dropped++;
			continue;
		}
		memcpy(p, row, 64);
		logfile_commit(&lf, 64);
	}
	assert_int_equal(dropped, 200 - 4096 / 64);
	assert_int_equal(get(&lf.stats.rows_dropped), 136);
	assert_int_equal(get(&lf.stats.bytes_dropped), 136 * 64);
	assert_int_equal(get(&lf.stats.write_errors), 1); /* one attempt: no syscall per dropped row */
	assert_int_equal(get(&lf.stats.in_error), 1);
	assert_int_equal(get(&lf.stats.last_errno), ENOSPC);
	assert_int_equal(get(&lf.stats.enospc_episodes), 1);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_ERROR);
	assert_int_equal(logfile_events_take(&lf), 0);

	/* the tick retries, still full: one more error, same episode, reported once */
	logfile_tick(&lf, 1000 * MS, T_1059 + NS);
	assert_int_equal(get(&lf.stats.write_errors), 2);
	assert_int_equal(get(&lf.stats.enospc_episodes), 1);
	assert_int_equal(get(&lf.stats.error_episodes), 1);
	assert_int_equal(logfile_events_take(&lf), 0);
	size_t len;
	char *text = slurp(f->out, "can_data.csv", &len);
	assert_non_null(text);
	assert_int_equal(len, 4096);
	free(text);

	/* space returns: the next tick writes the 64 buffered rows, the episode ends */
	free_disk(f->dir);
	logfile_tick(&lf, 1100 * MS, T_1059 + NS);
	assert_int_equal(get(&lf.stats.in_error), 0);
	assert_int_equal(get(&lf.stats.rows_written), 63 + 64);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_RECOVERED);
	for (int i = 263; i < 273; i++) {
		make_row(row, 64, i);
		assert_int_equal(logfile_append(&lf, row, 64), 0);
	}
	assert_int_equal(logfile_close(&lf), 0);
	assert_int_equal(get(&lf.stats.rows_written), 63 + 64 + 10);
	assert_int_equal(get(&lf.stats.rows_lost), 0);
	assert_int_equal(get(&lf.stats.enospc_episodes), 1);

	/* the file: header, rows 0..126 then 263..272, all whole */
	text = slurp(f->out, "can_data.csv", &len);
	assert_non_null(text);
	assert_int_equal(len, 64 * (1 + 63 + 64 + 10));
	for (int i = 0; i < 63 + 64 + 10; i++) {
		int want = i < 127 ? i : 263 + (i - 127);
		make_row(row, 64, want);
		assert_memory_equal(text + 64 * (i + 1), row, 64);
	}
	free(text);
}

static void test_disk_full_partial_line_cut_at_close(void **state)
{
	struct fixture *f = *state;
	if (!f->mounted)
		skip();
	long page = sysconf(_SC_PAGESIZE);
	char row[101];
	struct logfile_conf c = fixed_conf(f->out, "timestamp,value\n"); /* 16 bytes */
	struct logfile lf;

	c.buf_bytes = 8192;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	for (int i = 0; i < 10; i++) {
		make_row(row, 100, i);
		assert_int_equal(logfile_append(&lf, row, 100), 0);
	}
	assert_int_equal(logfile_flush(&lf), 0);
	uint64_t size0 = 16 + 10 * 100;
	fill_disk(f->dir);
	/* the file's last page still has room: the write stops part-way through a row */
	uint64_t slack = (uint64_t)page - size0 % (uint64_t)page;
	for (int i = 10; i < 60; i++) {
		make_row(row, 100, i);
		assert_int_equal(logfile_append(&lf, row, 100), 0);
	}
	assert_int_equal(logfile_flush(&lf), -ENOSPC);
	assert_int_equal(get(&lf.stats.rows_written), 10 + slack / 100);
	assert_int_equal(get(&lf.stats.in_error), 1);
	size_t len;
	char *text = slurp(f->out, "can_data.csv", &len);
	assert_int_equal(len, size0 + slack); /* a partial row is in the file right now */
	free(text);

	/* closing while still full: the rest is lost (counted) and the partial row is cut away */
	assert_int_equal(logfile_close(&lf), -ENOSPC);
	assert_int_equal(get(&lf.stats.rows_lost), 50 - slack / 100);
	assert_int_equal(get(&lf.stats.bytes_lost), 50 * 100 - slack);
	text = slurp(f->out, "can_data.csv", &len);
	assert_non_null(text);
	assert_int_equal(len, size0 + slack / 100 * 100);
	assert_int_equal(text[len - 1], '\n');
	free(text);
	free_disk(f->dir);

	/* reopening appends after the last whole row */
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	make_row(row, 100, 99);
	assert_int_equal(logfile_append(&lf, row, 100), 0);
	assert_int_equal(logfile_close(&lf), 0);
	text = slurp(f->out, "can_data.csv", &len);
	assert_int_equal(len, size0 + slack / 100 * 100 + 100);
	assert_memory_equal(text + len - 100, row, 100);
	free(text);
}

static void test_disk_full_when_file_starts(void **state)
{
	struct fixture *f = *state;
	if (!f->mounted)
		skip();
	struct logfile_conf c = fixed_conf(f->out, "h1,h2\n");
	struct logfile lf;

	/* create the directories first, then fill the disk: the new file's header cannot be written */
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	assert_int_equal(logfile_close(&lf), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/can_data.csv", f->out);
	assert_int_equal(unlink(path), 0);
	fill_disk(f->dir);
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "1,a\n");
	logfile_tick(&lf, 200 * MS, T_1059);
	assert_int_equal(get(&lf.stats.in_error), 1);
	expect_file(f->out, "can_data.csv", "");
	free_disk(f->dir);
	logfile_tick(&lf, 400 * MS, T_1059);
	assert_int_equal(get(&lf.stats.in_error), 0);
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h1,h2\n1,a\n");
}

/* ---- the file or its directory removed or moved by someone else (issue 13 defect 1) ---- */

static void rm_tree(const char *dir)
{
	assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void test_file_removed_counted_and_reopened(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;
	char path[512];

	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "r0\n");
	append(&lf, "r1\n");
	append(&lf, "r2\n");
	logfile_tick(&lf, 200 * MS, T_1059);
	expect_file(f->out, "can_data.csv", "h\nr0\nr1\nr2\n");
	snprintf(path, sizeof(path), "%s/can_data.csv", f->out);
	assert_int_equal(unlink(path), 0);
	append(&lf, "r3\n");
	append(&lf, "r4\n");
	/* the next check finds the file gone: its 3 rows are lost; the directory is there: a new file at once */
	logfile_tick(&lf, 400 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_MISSING | LOGFILE_EV_REOPENED);
	assert_int_equal(get(&lf.stats.rows_unlinked), 3);
	assert_int_equal(get(&lf.stats.bytes_unlinked), 9);
	assert_int_equal(get(&lf.stats.missing_episodes), 1);
	assert_int_equal(get(&lf.stats.reopens), 1);
	assert_int_equal(get(&lf.stats.missing), 0);
	expect_file(f->out, "can_data.csv", "h\nr3\nr4\n");
	/* nothing more happens while the file stays */
	append(&lf, "r5\n");
	logfile_tick(&lf, 600 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), 0);
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h\nr3\nr4\nr5\n");
	assert_int_equal(get(&lf.stats.rows_written), 6);
	assert_int_equal(get(&lf.stats.rows_unlinked), 3);
	assert_int_equal(get(&lf.stats.rows_lost) + get(&lf.stats.rows_dropped), 0);
	assert_int_equal(get(&lf.stats.missing_episodes), 1);
}

static void test_file_renamed_keeps_its_rows(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;
	char from[512], to[512];

	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "r0\n");
	append(&lf, "r1\n");
	logfile_tick(&lf, 200 * MS, T_1059);
	snprintf(from, sizeof(from), "%s/can_data.csv", f->out);
	snprintf(to, sizeof(to), "%s/moved.csv", f->out);
	assert_int_equal(rename(from, to), 0);
	append(&lf, "r2\n");
	logfile_tick(&lf, 400 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_MISSING | LOGFILE_EV_REOPENED);
	/* moved, not removed: its rows are still in a file, none lost */
	assert_int_equal(get(&lf.stats.rows_unlinked), 0);
	expect_file(f->out, "moved.csv", "h\nr0\nr1\n");
	expect_file(f->out, "can_data.csv", "h\nr2\n");
	/* a new file put in place of ours by someone else is not ours either */
	assert_int_equal(rename(from, to), 0);
	put_file(f->out, "can_data.csv", "h\nforeign\n");
	append(&lf, "r3\n");
	logfile_tick(&lf, 600 * MS, T_1059);
	assert_int_equal(get(&lf.stats.missing_episodes), 2);
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "moved.csv", "h\nr2\n");
	expect_file(f->out, "can_data.csv", "h\nforeign\nr3\n"); /* same header: appended to */
	assert_int_equal(get(&lf.stats.rows_unlinked), 0);
}

static void test_dir_removed_then_recreated_rotation_works(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;

	c.rotate_bytes = 100;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "a 0123456789abcdef\n"); /* 19 bytes */
	append(&lf, "b 0123456789abcdef\n");
	logfile_tick(&lf, 200 * MS, T_1059);
	rm_tree(f->out);
	append(&lf, "c 0123456789abcdef\n");
	append(&lf, "d 0123456789abcdef\n");
	/* gone with its directory: the 2 rows written are lost, the new ones wait, nothing is created */
	logfile_tick(&lf, 400 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_MISSING);
	assert_int_equal(get(&lf.stats.rows_unlinked), 2);
	assert_int_equal(get(&lf.stats.missing), 1);
	logfile_tick(&lf, 600 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), 0);
	assert_false(file_exists(f->out, "can_data.csv"));
	assert_int_equal(get(&lf.stats.write_errors), 0); /* waiting is not a write error */
	/* the directory is back (a new inode): reopened with the header, the waiting rows written */
	assert_int_equal(mkdir(f->out, 0755), 0);
	logfile_tick(&lf, 800 * MS, T_1059);
	assert_int_equal(logfile_events_take(&lf), LOGFILE_EV_REOPENED);
	assert_int_equal(get(&lf.stats.missing), 0);
	expect_file(f->out, "can_data.csv", "h\nc 0123456789abcdef\nd 0123456789abcdef\n");
	/* rotation works in the new directory: 2 + 2 * 19 + 4 * 19 = 116 >= 100 bytes */
	for (int i = 0; i < 4; i++)
		append(&lf, "e 0123456789abcdef\n");
	logfile_tick(&lf, 1000 * MS, T_1059 + NS);
	assert_int_equal(get(&lf.stats.rotations), 1);
	assert_int_equal(get(&lf.stats.rotate_errors), 0);
	expect_file(f->out, "can_data_20240101_105959.csv",
		    "h\nc 0123456789abcdef\nd 0123456789abcdef\ne 0123456789abcdef\ne 0123456789abcdef\n"
		    "e 0123456789abcdef\ne 0123456789abcdef\n");
	assert_int_equal(logfile_close(&lf), 0);
	expect_file(f->out, "can_data.csv", "h\n");
	assert_int_equal(get(&lf.stats.rows_written), 8);
	assert_int_equal(get(&lf.stats.rows_unlinked), 2);
}

/* Every row given to the writer is, at the end, in a file or counted: unlinked, dropped or lost. */
static void test_dir_gone_at_close_every_row_counted(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, "h\n");
	struct logfile lf;
	uint64_t given = 0, refused = 0;

	c.buf_bytes = 256;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	for (int i = 0; i < 10; i++, given++)
		append(&lf, "row 0123456789\n"); /* 15 bytes */
	logfile_tick(&lf, 200 * MS, T_1059);
	rm_tree(f->out);
	logfile_tick(&lf, 400 * MS, T_1059);
	/* 30 rows while the directory is gone: 17 fit in 256 bytes, the rest are refused and counted */
	for (int i = 0; i < 30; i++, given++)
		if (logfile_append(&lf, "row 0123456789\n", 15) == -ENOBUFS)
			refused++;
	assert_int_equal(refused, 30 - 256 / 15);
	logfile_tick(&lf, 600 * MS, T_1059);
	assert_int_equal(logfile_close(&lf), -ENOENT);
	assert_int_equal(get(&lf.stats.rows_unlinked), 10);
	assert_int_equal(get(&lf.stats.rows_dropped), refused);
	assert_int_equal(get(&lf.stats.rows_lost), 256 / 15);
	assert_int_equal(get(&lf.stats.rows_unlinked) + get(&lf.stats.rows_dropped) + get(&lf.stats.rows_lost), given);
}

static void test_stamped_file_removed_gets_a_new_name(void **state)
{
	struct fixture *f = *state;
	struct logfile_conf c = fixed_conf(f->out, NULL);
	struct logfile lf;
	char path[512];

	c.base = "can_%Y%m%d_%H%M%S";
	c.ext = ".log";
	c.naming = LOGFILE_STAMPED;
	assert_int_equal(logfile_open(&lf, &c, T_1059), 0);
	append(&lf, "x\n");
	logfile_tick(&lf, 200 * MS, T_1059);
	expect_file(f->out, "can_20240101_105959.log", "x\n");
	snprintf(path, sizeof(path), "%s/can_20240101_105959.log", f->out);
	assert_int_equal(unlink(path), 0);
	append(&lf, "y\n");
	logfile_tick(&lf, 400 * MS, T_1059 + 2 * NS); /* 11:00:01.5 */
	assert_int_equal(logfile_close(&lf), 0);
	assert_false(file_exists(f->out, "can_20240101_105959.log"));
	expect_file(f->out, "can_20240101_110001.log", "y\n");
	assert_int_equal(get(&lf.stats.rows_unlinked), 1);
}

/*
 * A rotation that fails (the directory read-only; as nobody, since root ignores directory permissions) is flagged
 * once per episode, retried once per flush interval (not every tick), and flagged again when it works.  Runs in a
 * child process that drops to nobody; it reports the first failed check by its exit status.
 */
static int rotation_episode_child(const char *dir)
{
	struct logfile_conf c = fixed_conf(dir, "h\n");
	struct logfile lf;

	c.rotate_bytes = 40;
	if (logfile_open(&lf, &c, T_1059) != 0)
		return 10;
	for (int i = 0; i < 3; i++)
		if (logfile_append(&lf, "row 0123456789abcde\n", 20) != 0) /* 20 bytes */
			return 11;
	if (chmod(dir, 0555) != 0)
		return 12;
	logfile_tick(&lf, 200 * MS, T_1059); /* rows written (the file is open), the rename refused */
	if (get(&lf.stats.rows_written) != 3 || get(&lf.stats.rotate_errors) != 1 ||
	    get(&lf.stats.rotate_errno) != EACCES)
		return 13;
	if (logfile_events_take(&lf) != LOGFILE_EV_ROTATE_ERROR)
		return 14;
	logfile_tick(&lf, 250 * MS, T_1059); /* within the flush interval: no retry */
	if (get(&lf.stats.rotate_errors) != 1)
		return 15;
	logfile_tick(&lf, 300 * MS, T_1059); /* retried, failed again: counted, not flagged again */
	if (get(&lf.stats.rotate_errors) != 2 || logfile_events_take(&lf) != 0)
		return 16;
	if (chmod(dir, 0755) != 0)
		return 17;
	logfile_tick(&lf, 400 * MS, T_1059);
	if (get(&lf.stats.rotations) != 1 || logfile_events_take(&lf) != LOGFILE_EV_ROTATE_RECOVERED)
		return 18;
	if (logfile_close(&lf) != 0)
		return 19;
	return 0;
}

static void test_rotation_failure_flagged_once_and_paced(void **state)
{
	struct fixture *f = *state;
	struct passwd *pw = getpwnam("nobody");
	char parent[128];

	if (geteuid() != 0 || !pw)
		skip();
	snprintf(parent, sizeof(parent), "%s/out", f->dir);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(mkdir(parent, 0755), 0);
	assert_int_equal(mkdir(f->out, 0755), 0);
	assert_int_equal(chown(f->out, pw->pw_uid, pw->pw_gid), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(2);
		_exit(rotation_episode_child(f->out));
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_file(f->out, "can_data_20240101_105959.csv",
		    "h\nrow 0123456789abcde\nrow 0123456789abcde\nrow 0123456789abcde\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_once_across_reopen, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_crash_repair_cuts_partial_line, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_crash_repair_partial_header, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_rotation_by_size, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_rotation_by_hour_fixed, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_rotation_by_hour_stamped, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_sync_hook_gets_dup_fd, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_rotation_failure_flagged_once_and_paced, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_file_removed_counted_and_reopened, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_file_renamed_keeps_its_rows, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_dir_removed_then_recreated_rotation_works, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_dir_gone_at_close_every_row_counted, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_stamped_file_removed_gets_a_new_name, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_disk_full_drops_exactly_and_recovers, setup_tmpfs, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_disk_full_partial_line_cut_at_close, setup_tmpfs, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_disk_full_when_file_starts, setup_tmpfs, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
