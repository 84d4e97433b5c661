/*
 * test_spool.c - the uplink's write-ahead log on a real file system: order and payloads, the durable position,
 * out-of-order acknowledgements, segment deletion only after the position is saved, torn and corrupt records,
 * oldest-first eviction counted exactly, the fsync window, crashes at each kill point (a forked child dies there
 * with _exit, the parent reopens), and a disk that really fills up (a tmpfs; skipped when mounting is refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stages/uplink/spool.h"

#define MS 1000000ull
#define SEC 1000000000ull

struct fixture {
	char dir[64];
	char sp_dir[128];
	int mounted;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/v2x-spool-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->sp_dir, sizeof(f->sp_dir), "%s/spool", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
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
	if (setup(state) < 0)
		return -1;
	struct fixture *f = *state;
	if (mount("tmpfs", f->dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") == 0)
		f->mounted = 1;
	else
		fprintf(stderr, "mount tmpfs: %s (test skipped)\n", strerror(errno));
	return 0;
}

static struct spool_conf conf_for(struct fixture *f)
{
	struct spool_conf c = {.dir = f->sp_dir, .fsync_interval_ns = UINT64_MAX};
	return c;
}

static uint64_t st(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* payload of record i: "sample-<i>" padded with i-dependent bytes to len */
static uint32_t make_payload(char *buf, unsigned i, uint32_t len)
{
	int n = snprintf(buf, len + 1, "sample-%u", i);
	for (uint32_t k = (uint32_t)n; k < len; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len > (uint32_t)n ? len : (uint32_t)n;
}

static void append_n(struct spool *sp, unsigned from, unsigned n, uint32_t len, uint64_t now)
{
	char buf[4096];
	for (unsigned i = from; i < from + n; i++) {
		uint32_t l = make_payload(buf, i, len);
		assert_int_equal(spool_append(sp, 1700000000000LL + i, buf, l, now), 0);
	}
}

/* Reads one record, checks it is sample i with seq want_seq, takes it. */
static void expect_next(struct spool *sp, unsigned i, uint64_t want_seq, uint32_t len)
{
	char got[4096], want[4096];
	struct spool_rec r;
	assert_int_equal(spool_peek(sp, &r, got, sizeof(got)), 1);
	uint32_t l = make_payload(want, i, len);
	assert_int_equal(r.seq, want_seq);
	assert_int_equal(r.len, l);
	assert_int_equal(r.data_time_ms, 1700000000000LL + i);
	assert_memory_equal(got, want, l);
	assert_int_equal(spool_take(sp), 0);
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "seg-", 4) == 0)
			n++;
	closedir(d);
	return n;
}

static void seg_path(char *buf, size_t size, const char *dir, uint64_t first)
{
	snprintf(buf, size, "%s/seg-%016llx.wal", dir, (unsigned long long)first);
}

/* ---- tests ---- */

static void test_crc32c_check_value(void **state)
{
	(void)state;
	/* CRC-32C (Castagnoli) check value from the CRC catalogue: "123456789" -> 0xE3069283 */
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xE3069283u);
	/* incremental == one shot */
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA */
	unsigned char z[32] = {0};
	assert_int_equal(spool_crc32c(0, z, sizeof(z)), 0x8A9136AAu);
}

static void test_roundtrip_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 10, 40, 0);
	assert_int_equal(st(&sp.stats.records_written), 10);
	for (unsigned i = 1; i <= 4; i++)
		expect_next(&sp, i, i, 40);
	for (uint64_t s = 1; s <= 4; s++)
		assert_int_equal(spool_ack(&sp, s), 0);
	assert_int_equal(spool_acked_seq(&sp), 4);
	assert_int_equal(spool_close(&sp), 0);

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	expect_next(&sp, 5, 5, 40); /* the reader resumes after the saved position */
	append_n(&sp, 11, 1, 40, 0);
	for (unsigned i = 6; i <= 11; i++)
		expect_next(&sp, i, i, 40); /* the new record got seq 11 */
	struct spool_rec r;
	char b[64];
	assert_int_equal(spool_peek(&sp, &r, b, sizeof(b)), 0);
	assert_int_equal(st(&sp.stats.pos_errors), 0);
	spool_close(&sp);
}

static void test_small_buffer_and_bad_args(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	struct spool_rec r;
	char small[8];

	c.seg_bytes = 1000;
	c.max_bytes = 1999; /* < 2 segments */
	assert_int_equal(spool_open(&sp, &c, 0), -EINVAL);
	c = conf_for(f);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	assert_int_equal(spool_append(&sp, 1, "x", SPOOL_PAYLOAD_MAX + 1, 0), -EINVAL);
	append_n(&sp, 1, 1, 100, 0);
	assert_int_equal(spool_peek(&sp, &r, small, sizeof(small)), -EMSGSIZE);
	assert_int_equal(spool_take(&sp), -ENOENT);
	expect_next(&sp, 1, 1, 100); /* still next */
	spool_close(&sp);
}

static void test_out_of_order_acks_advance_prefix_only(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	struct spool_rec r;
	char b[256];

	c.max_inflight = 4;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 8, 20, 0);
	for (unsigned i = 1; i <= 4; i++)
		expect_next(&sp, i, i, 20);
	/* window full */
	assert_int_equal(spool_peek(&sp, &r, b, sizeof(b)), 0);
	assert_int_equal(spool_inflight(&sp), 4);
	assert_int_equal(spool_ack(&sp, 3), 0);
	assert_int_equal(spool_ack(&sp, 2), 0);
	assert_int_equal(spool_acked_seq(&sp), 0); /* 1 still missing */
	assert_int_equal(spool_ack(&sp, 2), -ENOENT); /* twice */
	assert_int_equal(spool_ack(&sp, 99), -ENOENT);
	assert_int_equal(st(&sp.stats.stale_acks), 2);
	/* the position saved now must not cover 2 and 3 */
	spool_tick(&sp, 2 * SEC);
	assert_int_equal(spool_close(&sp), 0);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	expect_next(&sp, 1, 1, 20);
	assert_int_equal(spool_ack(&sp, 1), 0);
	assert_int_equal(spool_acked_seq(&sp), 1);
	expect_next(&sp, 2, 2, 20);
	expect_next(&sp, 3, 3, 20);
	assert_int_equal(spool_ack(&sp, 3), 0);
	assert_int_equal(spool_acked_seq(&sp), 1);
	assert_int_equal(spool_ack(&sp, 2), 0);
	assert_int_equal(spool_acked_seq(&sp), 3);
	spool_close(&sp);
}

static void test_rewind_sends_unacked_again(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 5, 20, 0);
	for (unsigned i = 1; i <= 4; i++)
		expect_next(&sp, i, i, 20);
	assert_int_equal(spool_ack(&sp, 1), 0);
	assert_int_equal(spool_ack(&sp, 3), 0);
	assert_int_equal(spool_rewind(&sp), 0);
	assert_int_equal(spool_inflight(&sp), 0);
	for (unsigned i = 2; i <= 5; i++)
		expect_next(&sp, i, i, 20);
	spool_close(&sp);
}

struct order_probe {
	const char *dir;
	uint64_t seg_first;
	int seen_pos;
	int seg_existed_at_pos;
};

static void probe_hook(void *ctx, enum spool_kill_point where)
{
	struct order_probe *p = ctx;
	char path[256];
	struct stat s;
	if (where != SPOOL_KILL_AFTER_POS)
		return;
	seg_path(path, sizeof(path), p->dir, p->seg_first);
	p->seen_pos++;
	p->seg_existed_at_pos = stat(path, &s) == 0;
}

static void test_segments_deleted_after_position_saved(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	struct order_probe probe = {.dir = f->sp_dir, .seg_first = 1};

	c.seg_bytes = 256; /* 52-byte records: 5 per segment */
	c.max_bytes = 1 << 20;
	c.kill_hook = probe_hook;
	c.kill_ctx = &probe;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 12, 20, 0);
	assert_int_equal(count_segments(f->sp_dir), 3); /* 1..5, 6..10, 11..12 */
	for (unsigned i = 1; i <= 5; i++) {
		expect_next(&sp, i, i, 20);
		assert_int_equal(spool_ack(&sp, i), 0);
		if (i < 5) {
			spool_tick(&sp, 0);
			assert_int_equal(count_segments(f->sp_dir), 3); /* not all of segment 1 acknowledged */
		}
	}
	spool_tick(&sp, 0);
	assert_int_equal(probe.seen_pos, 1);
	assert_int_equal(probe.seg_existed_at_pos, 1); /* position saved while the segment still existed */
	assert_int_equal(count_segments(f->sp_dir), 2);
	assert_int_equal(st(&sp.stats.segments_deleted), 1);
	spool_close(&sp);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	expect_next(&sp, 6, 6, 20);
	spool_close(&sp);
}

static void test_torn_final_record_cut(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char path[256];
	struct stat s;

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 5, 40, 0);
	spool_close(&sp);
	seg_path(path, sizeof(path), f->sp_dir, 1);
	assert_int_equal(stat(path, &s), 0);
	assert_int_equal(s.st_size, 5 * (32 + 40));
	assert_int_equal(truncate(path, s.st_size - 10), 0); /* record 5 lost its last 10 bytes */

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	assert_int_equal(st(&sp.stats.torn_bytes_cut), 32 + 40 - 10);
	assert_int_equal(stat(path, &s), 0);
	assert_int_equal(s.st_size, 4 * (32 + 40));
	for (unsigned i = 1; i <= 4; i++)
		expect_next(&sp, i, i, 40);
	append_n(&sp, 6, 1, 40, 0); /* gets seq 5: the torn record never became visible */
	expect_next(&sp, 6, 5, 40);
	assert_int_equal(st(&sp.stats.corrupt_records), 0);
	spool_close(&sp);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char b;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5A;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_corrupt_middle_records_skipped_and_counted(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char path[256];
	const off_t rs = 32 + 40;

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 8, 40, 0);
	spool_close(&sp);
	seg_path(path, sizeof(path), f->sp_dir, 1);
	flip_byte(path, 2 * rs + 32 + 7);   /* record 3: a payload byte */
	flip_byte(path, 5 * rs + 4);        /* record 6: its length field */
	flip_byte(path, 6 * rs + 0);        /* record 7: its magic */

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	assert_int_equal(st(&sp.stats.torn_bytes_cut), 0); /* valid records follow: not a torn tail */
	expect_next(&sp, 1, 1, 40);
	expect_next(&sp, 2, 2, 40);
	expect_next(&sp, 4, 4, 40);
	assert_int_equal(st(&sp.stats.corrupt_records), 1);
	expect_next(&sp, 5, 5, 40);
	expect_next(&sp, 8, 8, 40);
	assert_int_equal(st(&sp.stats.corrupt_records), 3);
	assert_int_equal(st(&sp.stats.corrupt_bytes), 3 * rs);
	for (uint64_t s = 1; s <= 8; s++)
		if (s != 3 && s != 6 && s != 7)
			assert_int_equal(spool_ack(&sp, s), 0);
	assert_int_equal(spool_acked_seq(&sp), 8);
	spool_close(&sp);
}

static void test_damaged_position_resends_everything(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char path[256];

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 3, 20, 0);
	expect_next(&sp, 1, 1, 20);
	spool_ack(&sp, 1);
	spool_close(&sp);
	snprintf(path, sizeof(path), "%s/pos", f->sp_dir);
	flip_byte(path, 16);
	flip_byte(path, 64 + 16);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	assert_int_equal(st(&sp.stats.pos_errors), 1);
	expect_next(&sp, 1, 1, 20); /* sent again: a duplicate, never a loss */
	spool_close(&sp);
}

static void test_torn_position_slot_uses_the_other(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char path[256];

	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 5, 20, 0);
	for (unsigned i = 1; i <= 3; i++)
		expect_next(&sp, i, i, 20);
	spool_ack(&sp, 1);
	spool_tick(&sp, 2 * SEC); /* saves acked=1 in slot 1 (generation 1) */
	spool_ack(&sp, 2);
	spool_ack(&sp, 3);
	spool_close(&sp);          /* saves acked=3 in slot 0 (generation 2) */
	assert_int_equal(st(&sp.stats.pos_saves), 2);
	snprintf(path, sizeof(path), "%s/pos", f->sp_dir);
	flip_byte(path, 20); /* the newer slot is torn */
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	expect_next(&sp, 2, 2, 20); /* falls back to the older position */
	spool_close(&sp);
}

static void test_size_bound_evicts_oldest_exactly(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	struct spool_rec r;
	char b[256];

	c.seg_bytes = 520;  /* 52-byte records: 10 per segment */
	c.max_bytes = 2080; /* 4 segments */
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	/* two in flight from segment 1, one of them acknowledged */
	append_n(&sp, 1, 3, 20, 0);
	expect_next(&sp, 1, 1, 20);
	expect_next(&sp, 2, 2, 20);
	assert_int_equal(spool_ack(&sp, 2), 0);
	append_n(&sp, 4, 97, 20, 0); /* 100 records, 5200 bytes: must keep <= 2080 */
	uint64_t disk = st(&sp.stats.depth_bytes);
	assert_true(disk <= 2080);
	assert_int_equal(st(&sp.stats.evicted_segments), 6);
	/* segments 1..6 (seqs 1..60) went; of those, only seq 2 was acknowledged */
	assert_int_equal(st(&sp.stats.evicted_records), 59);
	assert_int_equal(st(&sp.stats.evicted_bytes), 6 * 520);
	assert_int_equal(spool_ack(&sp, 1), -ENOENT); /* evicted while in flight: stale */
	/* the reader continues with the oldest surviving record, in order, to the newest */
	for (unsigned i = 61; i <= 100; i++)
		expect_next(&sp, i, i, 20);
	assert_int_equal(spool_peek(&sp, &r, b, sizeof(b)), 0);
	spool_close(&sp);
	/* nothing evicted comes back after a restart */
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	expect_next(&sp, 61, 61, 20);
	spool_close(&sp);
}

static void test_fsync_window(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	assert_int_equal(spool_open(&sp, &c, 0), 0); /* default window: 1 s */
	append_n(&sp, 1, 5, 20, 100 * MS);
	spool_tick(&sp, 500 * MS);
	assert_int_equal(st(&sp.stats.fsyncs), 0);
	spool_tick(&sp, 999 * MS);
	assert_int_equal(st(&sp.stats.fsyncs), 0);
	spool_tick(&sp, 1000 * MS);
	assert_int_equal(st(&sp.stats.fsyncs), 1);
	spool_tick(&sp, 1500 * MS); /* nothing new written */
	spool_tick(&sp, 2500 * MS);
	assert_int_equal(st(&sp.stats.fsyncs), 1);
	spool_close(&sp);

	c.fsync_interval_ns = 0; /* per record */
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	uint64_t before = st(&sp.stats.fsyncs);
	append_n(&sp, 6, 7, 20, 0);
	assert_int_equal(st(&sp.stats.fsyncs) - before, 7);
	spool_close(&sp);
}

static void test_backlog_streams_across_many_segments(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	c.seg_bytes = 4096;
	c.max_inflight = 16;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 3000, 100, 0);
	spool_close(&sp);
	assert_true(count_segments(f->sp_dir) > 50);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	for (unsigned i = 1; i <= 3000; i++) {
		expect_next(&sp, i, i, 100);
		assert_int_equal(spool_ack(&sp, i), 0);
		if (i % 100 == 0)
			spool_tick(&sp, 0);
	}
	spool_tick(&sp, 0);
	assert_int_equal(count_segments(f->sp_dir), 1);
	spool_close(&sp);
}

/* ---- kill points: a child dies at the point, the parent restarts the spool ---- */

static void run_child_and_expect_kill(struct fixture *f, const char *env, void (*body)(struct fixture *))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("V2X_SPOOL_KILL_AT", env, 1);
		body(f);
		_exit(0); /* the kill point was not reached: the parent fails */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), SPOOL_KILL_EXIT_CODE);
}

static void child_appends(struct fixture *f)
{
	struct spool_conf c = conf_for(f);
	struct spool sp;
	if (spool_open(&sp, &c, 0) < 0)
		_exit(1);
	append_n(&sp, 1, 10, 30, 0); /* dies after the 3rd write (V2X_SPOOL_KILL_AT=after_append:3) */
}

static void child_acks(struct fixture *f)
{
	struct spool_conf c = conf_for(f);
	struct spool sp;
	if (spool_open(&sp, &c, 0) < 0)
		_exit(1);
	append_n(&sp, 1, 10, 30, 0);
	spool_tick(&sp, 2 * SEC);
	for (unsigned i = 1; i <= 4; i++) {
		struct spool_rec r;
		char b[64];
		if (spool_peek(&sp, &r, b, sizeof(b)) != 1 || spool_take(&sp) < 0)
			_exit(2);
	}
	spool_ack(&sp, 1);
	spool_ack(&sp, 2); /* dies here: after_ack:2 */
}

static void child_deletes(struct fixture *f)
{
	struct spool_conf c = conf_for(f);
	struct spool sp;
	c.seg_bytes = 300; /* 62-byte records: 5 per segment */
	if (spool_open(&sp, &c, 0) < 0)
		_exit(1);
	append_n(&sp, 1, 12, 30, 0);
	for (unsigned i = 1; i <= 6; i++) {
		struct spool_rec r;
		char b[64];
		if (spool_peek(&sp, &r, b, sizeof(b)) != 1 || spool_take(&sp) < 0)
			_exit(2);
		spool_ack(&sp, i);
	}
	spool_tick(&sp, 0); /* saves the position (acked 6), then dies before unlinking segment 1 */
}

static void test_kill_after_append_before_fsync(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	run_child_and_expect_kill(f, "after_append:3", child_appends);
	/* twice: a restart after recovery must work again (no crash loop) */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(spool_open(&sp, &c, 0), 0);
		for (unsigned i = 1; i <= 3; i++)
			expect_next(&sp, i, i, 30);
		struct spool_rec r;
		char b[64];
		assert_int_equal(spool_peek(&sp, &r, b, sizeof(b)), 0);
		spool_close(&sp);
	}
}

static void test_kill_after_ack_before_position_saved(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	run_child_and_expect_kill(f, "after_ack:2", child_acks);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	/* the acknowledgements were not saved: everything is sent again, nothing is lost */
	for (unsigned i = 1; i <= 10; i++) {
		expect_next(&sp, i, i, 30);
		assert_int_equal(spool_ack(&sp, i), 0);
	}
	spool_close(&sp);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	struct spool_rec r;
	char b[64];
	assert_int_equal(spool_peek(&sp, &r, b, sizeof(b)), 0);
	spool_close(&sp);
}

static void test_kill_after_position_saved_before_unlink(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	run_child_and_expect_kill(f, "after_pos", child_deletes);
	assert_int_equal(count_segments(f->sp_dir), 3); /* the fully acknowledged segment is still there */
	c.seg_bytes = 300;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(spool_open(&sp, &c, 0), 0);
		assert_int_equal(count_segments(f->sp_dir), 2); /* open finished the deletion */
		for (unsigned i = 7; i <= 12; i++)
			expect_next(&sp, i, i, 30);
		spool_close(&sp);
	}
}

/* ---- a full disk ---- */

static void test_disk_full_retried_and_recovers(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char filler[256];

	if (!f->mounted)
		skip();
	c.seg_bytes = 65536; /* one segment: no older one to evict, the write must wait for space */
	c.max_bytes = 1 << 20; /* the bound is not what stops us: the disk is */
	c.buf_bytes = 8192;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	/* fill the 64 KiB tmpfs with another file, as the log stage's CSV files would */
	snprintf(filler, sizeof(filler), "%s/filler", f->dir);
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char blk[4096];
	memset(blk, 'x', sizeof(blk));
	while (write(fd, blk, sizeof(blk)) > 0)
		;
	while (write(fd, blk, 1) > 0)
		;
	close(fd);

	unsigned n = 0;
	uint64_t t = 0;
	while (st(&sp.stats.write_errors) == 0 && n < 5000) {
		append_n(&sp, n + 1, 1, 200, t);
		n++;
	}
	assert_true(st(&sp.stats.write_errors) > 0);
	assert_int_equal(st(&sp.stats.in_error), 1);
	assert_int_equal(st(&sp.stats.enospc_episodes), 1);
	/* a few more while the disk is full: they queue, no write is attempted before the retry interval */
	uint64_t errs = st(&sp.stats.write_errors);
	append_n(&sp, n + 1, 5, 200, t);
	n += 5;
	assert_int_equal(st(&sp.stats.write_errors), errs);
	spool_tick(&sp, t + SEC); /* retry: still full */
	assert_int_equal(st(&sp.stats.write_errors), errs + 1);
	assert_int_equal(st(&sp.stats.dropped_records), 0);
	/* space returns */
	assert_int_equal(unlink(filler), 0);
	spool_tick(&sp, t + 3 * SEC);
	assert_int_equal(st(&sp.stats.in_error), 0);
	assert_int_equal(st(&sp.stats.records_written), n);
	for (unsigned i = 1; i <= n; i++)
		expect_next(&sp, i, i, 200);
	assert_int_equal(spool_close(&sp), 0);
}

static void test_disk_full_buffer_full_drops_oldest_buffered(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char filler[256];

	if (!f->mounted)
		skip();
	c.buf_bytes = 4 * 232; /* four 200-byte records */
	c.seg_bytes = 65536;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	snprintf(filler, sizeof(filler), "%s/filler", f->dir);
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char blk[4096];
	memset(blk, 'x', sizeof(blk));
	while (write(fd, blk, sizeof(blk)) > 0)
		;
	while (write(fd, blk, 1) > 0)
		;
	close(fd);
	unsigned n = 0;
	while (st(&sp.stats.write_errors) == 0 && n < 5000)
		append_n(&sp, ++n, 1, 200, 0);
	uint64_t written = st(&sp.stats.records_written);
	/* the failed record(s) are buffered; 10 more arrive: the oldest wholly unwritten ones are dropped */
	append_n(&sp, n + 1, 10, 200, 0);
	n += 10;
	uint64_t dropped = st(&sp.stats.dropped_records);
	assert_true(dropped > 0);
	assert_int_equal(unlink(filler), 0);
	spool_tick(&sp, 2 * SEC);
	assert_int_equal(st(&sp.stats.in_error), 0);
	/* every record appended is either on disk or counted dropped: exact */
	assert_int_equal(st(&sp.stats.records_written) + dropped, n);
	/* on disk: contiguous seqs, and the newest sample (n) is there */
	struct spool_rec r;
	char b[512];
	uint64_t seq = 0;
	int64_t last_t = 0;
	while (spool_peek(&sp, &r, b, sizeof(b)) == 1) {
		assert_int_equal(r.seq, seq + 1);
		seq = r.seq;
		last_t = r.data_time_ms;
		spool_take(&sp);
		spool_ack(&sp, r.seq);
	}
	assert_int_equal(seq, written + (n - written - dropped));
	assert_int_equal(last_t, 1700000000000LL + n);
	spool_close(&sp);
}

static void test_disk_full_evicts_oldest_segment(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;

	if (!f->mounted)
		skip();
	c.seg_bytes = 8192;
	c.max_bytes = 1 << 20; /* bigger than the disk */
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	unsigned n = 0;
	while (st(&sp.stats.write_errors) == 0 && n < 5000)
		append_n(&sp, ++n, 1, 200, 0);
	assert_true(st(&sp.stats.write_errors) > 0);
	spool_tick(&sp, 2 * SEC); /* retry: evicts the oldest segment, then writes */
	assert_int_equal(st(&sp.stats.evicted_segments), 1);
	assert_int_equal(st(&sp.stats.in_error), 0);
	uint64_t ev = st(&sp.stats.evicted_records);
	assert_true(ev > 0);
	/* the survivors: from ev+1 to n, in order, nothing else lost */
	for (unsigned i = (unsigned)ev + 1; i <= n; i++)
		expect_next(&sp, i, i, 200);
	spool_close(&sp);
}

static void fill_disk(const char *dir)
{
	char filler[256], blk[4096];
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	memset(blk, 'x', sizeof(blk));
	while (write(fd, blk, sizeof(blk)) > 0)
		;
	while (write(fd, blk, 1) > 0)
		;
	close(fd);
}

/* A restart on a full disk must work (else the service restarts forever): recovery, reading and queueing. */
static void test_open_on_full_disk(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	char filler[256];

	if (!f->mounted)
		skip();
	c.seg_bytes = 65536;
	c.max_bytes = 1 << 20;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	append_n(&sp, 1, 10, 100, 0);
	expect_next(&sp, 1, 1, 100);
	assert_int_equal(spool_ack(&sp, 1), 0);
	spool_close(&sp);
	fill_disk(f->dir);
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	for (unsigned i = 2; i <= 10; i++)
		expect_next(&sp, i, i, 100);
	/* new samples queue while the disk is full, and reach it once space returns */
	for (unsigned i = 11; i <= 60 && st(&sp.stats.write_errors) == 0; i++)
		append_n(&sp, i, 1, 100, 0);
	assert_true(st(&sp.stats.write_errors) > 0);
	uint64_t appended = st(&sp.stats.records_appended);
	snprintf(filler, sizeof(filler), "%s/filler", f->dir);
	assert_int_equal(unlink(filler), 0);
	spool_tick(&sp, 2 * SEC);
	assert_int_equal(st(&sp.stats.in_error), 0);
	assert_int_equal(st(&sp.stats.records_written), appended);
	for (unsigned i = 11; i < 11 + appended; i++)
		expect_next(&sp, i, i, 100);
	spool_close(&sp);
	/* the very first open on a full disk too */
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/fresh", f->dir);
	fill_disk(f->dir);
	struct spool_conf c2 = c;
	c2.dir = sub;
	assert_int_equal(spool_open(&sp, &c2, 0), 0);
	spool_close(&sp);
}

/* The status's "oldest age": the data time of the oldest record not yet acknowledged, in flight or unread. */
static void test_oldest_unacknowledged_data_time(void **state)
{
	struct fixture *f = *state;
	struct spool_conf c = conf_for(f);
	struct spool sp;
	const int64_t T = 1700000000000LL;

	c.seg_bytes = 256; /* 52-byte records: 5 per segment */
	c.max_bytes = 1 << 20;
	assert_int_equal(spool_open(&sp, &c, 0), 0);
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), 0); /* empty */
	append_n(&sp, 1, 8, 20, 0);
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), T + 1); /* unread */
	expect_next(&sp, 1, 1, 20);
	expect_next(&sp, 2, 2, 20);
	assert_int_equal(spool_ack(&sp, 1), 0);
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), T + 2); /* in flight */
	assert_int_equal(spool_ack(&sp, 2), 0);
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), T + 3); /* the reader's next */
	for (unsigned i = 3; i <= 5; i++) {
		expect_next(&sp, i, i, 20);
		assert_int_equal(spool_ack(&sp, i), 0);
	}
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), T + 6); /* the next segment's first */
	for (unsigned i = 6; i <= 8; i++) {
		expect_next(&sp, i, i, 20);
		assert_int_equal(spool_ack(&sp, i), 0);
	}
	spool_tick(&sp, 0);
	assert_int_equal(atomic_load(&sp.stats.oldest_data_ms), 0); /* all acknowledged */
	spool_close(&sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value),
		cmocka_unit_test_setup_teardown(test_roundtrip_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_buffer_and_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_acks_advance_prefix_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind_sends_unacked_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments_deleted_after_position_saved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_final_record_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_records_skipped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_position_resends_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_position_slot_uses_the_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_bound_evicts_oldest_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_streams_across_many_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oldest_unacknowledged_data_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_after_append_before_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_after_ack_before_position_saved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_after_position_saved_before_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_retried_and_recovers, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_buffer_full_drops_oldest_buffered, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_evicts_oldest_segment, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_open_on_full_disk, setup_tmpfs, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
