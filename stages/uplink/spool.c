/*
 * spool.c - the uplink's write-ahead log (see spool.h for the format and the durability rules).
 *
 * Layout in memory: segs[] lists the segment files oldest first; the last one is open for appending (wfd).  The
 * reader has its own descriptor (rfd) on the segment it reads and streams one record at a time with pread().
 * In-flight records sit in a ring of slots in read order; an acknowledgement marks its slot, and the acknowledged
 * position (acked_seq, with the segment and offset just after it) advances while the oldest slot is marked.
 */
#include "stages/uplink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace/tp.h"

#define POS_SLOT_BYTES 64u
#define POS_MAGIC 0x50533256u /* "V2SP" */

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void spool__crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, spool__crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian fields ---- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t spool__rec_crc(const unsigned char *hdr, const void *payload, uint32_t len)
{
	uint32_t c = spool_crc32c(0, hdr, 24);
	c = spool_crc32c(c, hdr + 28, 4);
	return spool_crc32c(c, payload, len);
}

/* Encodes a whole record at p (SPOOL_HDR_BYTES + len bytes). */
static void spool__encode(unsigned char *p, uint64_t seq, int64_t t_ms, const void *payload, uint32_t len)
{
	put32(p, SPOOL_MAGIC);
	put32(p + 4, len);
	put64(p + 8, seq);
	put64(p + 16, (uint64_t)t_ms);
	put32(p + 28, 0);
	memcpy(p + SPOOL_HDR_BYTES, payload, len);
	put32(p + 24, spool__rec_crc(p, p + SPOOL_HDR_BYTES, len));
}

#define ST_ADD(sp, field, n) atomic_fetch_add_explicit(&(sp)->stats.field, (n), memory_order_relaxed)
#define ST_SET(sp, field, v) atomic_store_explicit(&(sp)->stats.field, (v), memory_order_relaxed)

static void spool__seg_name(char *buf, size_t size, uint64_t first_seq)
{
	snprintf(buf, size, "seg-%016" PRIx64 ".wal", first_seq);
}

static void spool__kill(struct spool *sp, enum spool_kill_point where)
{
	if (sp->conf.kill_hook) {
		sp->conf.kill_hook(sp->conf.kill_ctx, where);
		return;
	}
	if (sp->kill_env_point == (int)where && --sp->kill_env_count == 0)
		_exit(SPOOL_KILL_EXIT_CODE);
}

static void spool__read_kill_env(struct spool *sp)
{
	static const char *const names[] = {NULL, "after_append", "after_ack", "after_pos"};
	const char *e = getenv("V2X_SPOOL_KILL_AT");

	sp->kill_env_point = 0;
	if (!e || !*e)
		return;
	for (int i = 1; i <= 3; i++) {
		size_t n = strlen(names[i]);
		if (strncmp(e, names[i], n) == 0 && (e[n] == '\0' || e[n] == ':')) {
			sp->kill_env_point = i;
			sp->kill_env_count = e[n] == ':' ? (unsigned)strtoul(e + n + 1, NULL, 10) : 1;
			if (sp->kill_env_count == 0)
				sp->kill_env_count = 1;
		}
	}
}

static uint64_t spool__disk_bytes(const struct spool *sp)
{
	uint64_t b = 0;
	for (unsigned i = 0; i < sp->nsegs; i++)
		b += sp->segs[i].bytes;
	return b;
}

static void spool__gauges(struct spool *sp)
{
	uint64_t last = sp->next_seq - 1;
	ST_SET(sp, depth_records, last > sp->acked_seq ? last - sp->acked_seq : 0);
	ST_SET(sp, depth_bytes, spool__disk_bytes(sp) + sp->wlen);
	ST_SET(sp, inflight, (uint64_t)spool_inflight(sp));
}

static int spool__seg_index(const struct spool *sp, uint64_t first_seq)
{
	for (unsigned i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first_seq == first_seq)
			return (int)i;
	return -1;
}

static int spool__seg_push(struct spool *sp, uint64_t first_seq, uint64_t bytes)
{
	if (sp->nsegs == sp->segs_cap) {
		unsigned cap = sp->segs_cap ? sp->segs_cap * 2 : 16;
		struct spool_seg *n = realloc(sp->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		sp->segs = n;
		sp->segs_cap = cap;
	}
	sp->segs[sp->nsegs].first_seq = first_seq;
	sp->segs[sp->nsegs].bytes = bytes;
	sp->nsegs++;
	return 0;
}

/* ---- the position file ---- */

static int spool__pos_write(struct spool *sp)
{
	unsigned char b[POS_SLOT_BYTES];
	uint64_t gen = sp->pos_gen + 1;

	memset(b, 0, sizeof(b));
	put32(b, POS_MAGIC);
	put64(b + 8, gen);
	put64(b + 16, sp->acked_seq);
	put64(b + 24, sp->acked_seg);
	put64(b + 32, sp->acked_off);
	put32(b + 60, spool_crc32c(0, b, 60));
	off_t at = (off_t)((gen & 1) * POS_SLOT_BYTES);
	if (pwrite(sp->posfd, b, sizeof(b), at) != (ssize_t)sizeof(b) || fdatasync(sp->posfd) < 0) {
		int e = errno ? errno : EIO;
		ST_ADD(sp, pos_errors, 1);
		ST_SET(sp, last_errno, (uint64_t)e);
		V2X_TP(spool_error, "pos", e);
		return -e;
	}
	sp->pos_gen = gen;
	sp->saved_seq = sp->acked_seq;
	ST_ADD(sp, pos_saves, 1);
	return 0;
}

/* Reads the newer valid slot; returns 1 found, 0 none valid. */
static int spool__pos_read(struct spool *sp, uint64_t *acked, uint64_t *seg, uint64_t *off, uint64_t *gen)
{
	unsigned char b[2 * POS_SLOT_BYTES];
	ssize_t n = pread(sp->posfd, b, sizeof(b), 0);
	int found = 0;

	for (int i = 0; i < 2; i++) {
		const unsigned char *s = b + i * POS_SLOT_BYTES;
		if (n < (ssize_t)((i + 1) * POS_SLOT_BYTES))
			break;
		if (get32(s) != POS_MAGIC || get32(s + 60) != spool_crc32c(0, s, 60))
			continue;
		if (!found || get64(s + 8) > *gen) {
			*gen = get64(s + 8);
			*acked = get64(s + 16);
			*seg = get64(s + 24);
			*off = get64(s + 32);
			found = 1;
		}
	}
	return found;
}

/* ---- reading one record ---- */

/*
 * Validates the record at off in fd (limit = bytes readable); on success fills rec and copies the payload to buf
 * when it fits (else to scratch, SPOOL_PAYLOAD_MAX bytes).  Returns 1 valid, -EMSGSIZE valid but buf too small,
 * 0 invalid, or -errno of a read error.
 */
static int spool__try_rec(int fd, uint64_t off, uint64_t limit, struct spool_rec *rec, void *buf, size_t size,
			  unsigned char *scratch)
{
	unsigned char h[SPOOL_HDR_BYTES];

	if (off + SPOOL_HDR_BYTES > limit)
		return 0;
	ssize_t n = pread(fd, h, sizeof(h), (off_t)off);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(h))
		return 0;
	uint32_t len = get32(h + 4);
	if (get32(h) != SPOOL_MAGIC || len > SPOOL_PAYLOAD_MAX || get32(h + 28) != 0 ||
	    off + SPOOL_HDR_BYTES + len > limit || get64(h + 8) == 0)
		return 0;
	unsigned char *dst = (buf && size >= len) ? buf : scratch;
	n = pread(fd, dst, len, (off_t)(off + SPOOL_HDR_BYTES));
	if (n < 0)
		return -errno;
	if (n != (ssize_t)len || spool__rec_crc(h, dst, len) != get32(h + 24))
		return 0;
	rec->seq = get64(h + 8);
	rec->data_time_ms = (int64_t)get64(h + 16);
	rec->len = len;
	return dst == scratch && buf ? -EMSGSIZE : 1;
}

/* Finds the next valid record at or after from (< limit); returns its offset, or limit when none. */
static uint64_t spool__resync(int fd, uint64_t from, uint64_t limit, unsigned char *scratch)
{
	unsigned char chunk[4096];
	uint64_t at = from;
	struct spool_rec r;

	while (at + SPOOL_HDR_BYTES <= limit) {
		size_t want = (size_t)(limit - at < sizeof(chunk) ? limit - at : sizeof(chunk));
		ssize_t n = pread(fd, chunk, want, (off_t)at);
		if (n < 4)
			return limit;
		for (ssize_t i = 0; i + 4 <= n; i++) {
			if (get32(chunk + i) != SPOOL_MAGIC)
				continue;
			if (spool__try_rec(fd, at + (uint64_t)i, limit, &r, NULL, 0, scratch) == 1)
				return at + (uint64_t)i;
		}
		at += (uint64_t)(n - 3);
	}
	return limit;
}

/* ---- open and recovery ---- */

static int spool__cmp_seg(const void *a, const void *b)
{
	const struct spool_seg *x = a, *y = b;
	return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static int spool__list(struct spool *sp)
{
	int fd = dup(sp->dirfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		uint64_t first;
		char tail[8];
		struct stat st;
		if (sscanf(de->d_name, "seg-%16" SCNx64 "%7s", &first, tail) != 2 || strcmp(tail, ".wal") != 0 ||
		    strlen(de->d_name) != 24 || first == 0)
			continue;
		if (fstatat(sp->dirfd, de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = spool__seg_push(sp, first, (uint64_t)st.st_size);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (sp->nsegs > 1)
		qsort(sp->segs, sp->nsegs, sizeof(sp->segs[0]), spool__cmp_seg);
	return rc;
}

static int spool__open_seg(struct spool *sp, uint64_t first_seq, int flags)
{
	char name[40];
	spool__seg_name(name, sizeof(name), first_seq);
	int fd = openat(sp->dirfd, name, flags | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static void spool__unlink_seg(struct spool *sp, unsigned idx)
{
	char name[40];

	spool__seg_name(name, sizeof(name), sp->segs[idx].first_seq);
	if (sp->rfd >= 0 && sp->rfd_seg == sp->segs[idx].first_seq) {
		close(sp->rfd);
		sp->rfd = -1;
		sp->rfd_seg = 0;
	}
	if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
		ST_SET(sp, last_errno, (uint64_t)errno);
		V2X_TP(spool_error, "unlink", errno);
	}
	sp->dir_dirty = 1;
	memmove(&sp->segs[idx], &sp->segs[idx + 1], (sp->nsegs - idx - 1) * sizeof(sp->segs[0]));
	sp->nsegs--;
}

/* Scans the write segment: finds its last record, cuts a torn tail.  Returns 0 or -errno. */
static int spool__scan_last(struct spool *sp, unsigned char *scratch, uint64_t *last_seq)
{
	struct spool_seg *s = &sp->segs[sp->nsegs - 1];
	int fd = spool__open_seg(sp, s->first_seq, O_RDWR);
	uint64_t off = 0;
	struct spool_rec r;

	if (fd < 0)
		return fd;
	*last_seq = 0;
	while (off < s->bytes) {
		int v = spool__try_rec(fd, off, s->bytes, &r, NULL, 0, scratch);
		if (v < 0) {
			close(fd);
			return v;
		}
		if (v == 1 && r.seq > *last_seq) {
			*last_seq = r.seq;
			off += SPOOL_HDR_BYTES + r.len;
			continue;
		}
		uint64_t next = spool__resync(fd, off + 1, s->bytes, scratch);
		if (next < s->bytes) {
			off = next; /* a damaged record in the middle: the reader skips and counts it */
			continue;
		}
		ST_ADD(sp, torn_bytes_cut, s->bytes - off);
		V2X_TP(spool_torn_cut, s->first_seq, off, s->bytes - off);
		if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		s->bytes = off;
		break;
	}
	close(fd);
	return 0;
}

int spool_open(struct spool *sp, const struct spool_conf *conf, uint64_t now_mono_ns)
{
	unsigned char *scratch;
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->wfd = sp->rfd = sp->posfd = -1;
	if (!conf || !conf->dir)
		return -EINVAL;
	sp->conf = *conf;
	if (!sp->conf.seg_bytes)
		sp->conf.seg_bytes = SPOOL_SEG_BYTES_DEFAULT;
	if (!sp->conf.max_bytes)
		sp->conf.max_bytes = SPOOL_MAX_BYTES_DEFAULT;
	if (!sp->conf.buf_bytes)
		sp->conf.buf_bytes = SPOOL_BUF_BYTES_DEFAULT;
	if (!sp->conf.max_inflight)
		sp->conf.max_inflight = SPOOL_MAX_INFLIGHT_DEFAULT;
	if (sp->conf.fsync_interval_ns == UINT64_MAX)
		sp->conf.fsync_interval_ns = SPOOL_FSYNC_INTERVAL_NS_DEFAULT;
	if (!sp->conf.retry_interval_ns)
		sp->conf.retry_interval_ns = SPOOL_RETRY_INTERVAL_NS_DEFAULT;
	if (sp->conf.max_bytes < 2ull * sp->conf.seg_bytes || sp->conf.seg_bytes < SPOOL_HDR_BYTES ||
	    sp->conf.buf_bytes < SPOOL_HDR_BYTES || sp->conf.max_inflight > SPOOL_MAX_INFLIGHT_LIMIT)
		return -EINVAL;
	spool__read_kill_env(sp);

	if (mkdir(conf->dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	sp->dirfd = open(conf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
		return -errno;
	rc = -ENOMEM;
	scratch = sp->scratch = malloc(SPOOL_PAYLOAD_MAX);
	sp->wbuf = malloc(sp->conf.buf_bytes);
	sp->slots = calloc(sp->conf.max_inflight, sizeof(*sp->slots));
	if (!scratch || !sp->wbuf || !sp->slots)
		goto fail;
	memset(sp->wbuf, 0, sp->conf.buf_bytes); /* touch it now */

	int pos_existed = faccessat(sp->dirfd, "pos", F_OK, 0) == 0;
	sp->posfd = openat(sp->dirfd, "pos", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->posfd < 0) {
		rc = -errno;
		goto fail;
	}
	uint64_t p_acked = 0, p_seg = 0, p_off = 0, p_gen = 0;
	int have_pos = spool__pos_read(sp, &p_acked, &p_seg, &p_off, &p_gen);
	struct stat pst;
	if (fstat(sp->posfd, &pst) == 0 && pst.st_size < 2 * (off_t)POS_SLOT_BYTES) {
		/* allocate both slots now, so a save on a full disk needs no new block */
		unsigned char z[2 * POS_SLOT_BYTES];
		memset(z, 0, sizeof(z));
		/* a full disk must not stop the daemon from starting (a crash loop): counted, saves retried later */
		if ((!have_pos && pwrite(sp->posfd, z, sizeof(z), 0) != (ssize_t)sizeof(z)) ||
		    fdatasync(sp->posfd) < 0 || fsync(sp->dirfd) < 0) {
			ST_ADD(sp, pos_errors, 1);
			ST_SET(sp, last_errno, (uint64_t)(errno ? errno : EIO));
		}
	}
	rc = spool__list(sp);
	if (rc < 0)
		goto fail;
	if (!have_pos && (pos_existed && sp->nsegs > 0))
		ST_ADD(sp, pos_errors, 1); /* damaged position: everything on disk is sent again */
	if (have_pos) {
		sp->acked_seq = sp->saved_seq = p_acked;
		sp->acked_seg = p_seg;
		sp->acked_off = p_off;
		sp->pos_gen = p_gen;
	}

	/* finish deletions a crash interrupted: segments wholly at or before the saved position */
	while (sp->nsegs > 1 && sp->segs[1].first_seq <= sp->acked_seq + 1)
		spool__unlink_seg(sp, 0);

	uint64_t last_seq = 0;
	if (sp->nsegs == 0) {
		uint64_t first = sp->acked_seq + 1;
		int fd = spool__open_seg(sp, first, O_RDWR | O_CREAT | O_EXCL);
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		close(fd);
		sp->dir_dirty = 1;
		rc = spool__seg_push(sp, first, 0);
		if (rc < 0)
			goto fail;
	} else {
		rc = spool__scan_last(sp, scratch, &last_seq);
		if (rc < 0)
			goto fail;
	}
	struct spool_seg *w = &sp->segs[sp->nsegs - 1];
	sp->next_seq = last_seq + 1;
	if (sp->next_seq < w->first_seq)
		sp->next_seq = w->first_seq;
	if (sp->next_seq < sp->acked_seq + 1)
		sp->next_seq = sp->acked_seq + 1;
	sp->last_written_seq = sp->next_seq - 1;
	sp->w_whole = w->bytes;
	sp->wfd = spool__open_seg(sp, w->first_seq, O_WRONLY | O_APPEND);
	if (sp->wfd < 0) {
		rc = sp->wfd;
		goto fail;
	}
	if (sp->dir_dirty && fsync(sp->dirfd) == 0)
		sp->dir_dirty = 0;

	/* the reader starts just after the saved position */
	sp->r_last_seq = sp->acked_seq;
	int ri = have_pos ? spool__seg_index(sp, sp->acked_seg) : -1;
	if (ri >= 0 && sp->acked_off <= sp->segs[ri].bytes) {
		sp->r_first_seq = sp->acked_seg;
		sp->r_off = sp->acked_off;
	} else {
		sp->r_first_seq = sp->segs[0].first_seq;
		sp->r_off = 0;
	}
	if (!have_pos) {
		sp->acked_seg = sp->r_first_seq;
		sp->acked_off = sp->r_off;
	}
	sp->last_sync_ns = sp->last_pos_ns = now_mono_ns;
	sp->open = 1;
	spool__gauges(sp);
	return 0;
fail:
	sp->open = 1;
	spool_close(sp);
	return rc;
}

/* ---- eviction and deletion ---- */

static unsigned spool__cap(const struct spool *sp)
{
	return sp->conf.max_inflight;
}

static struct spool_slot *spool__slot(struct spool *sp, unsigned i)
{
	return &sp->slots[(sp->slot_head + i) % spool__cap(sp)];
}

/*
 * Evicts segs[0] (never the write segment), the position saved first.  Counts exactly the records in it that are
 * neither acknowledged nor already counted lost: in-flight ones not yet acknowledged, and those the reader has not
 * reached.  Returns 0 or -errno.
 */
static int spool__evict_oldest(struct spool *sp, int reason)
{
	if (sp->nsegs < 2)
		return -ENOSPC;
	uint64_t first = sp->segs[0].first_seq;
	uint64_t last = sp->segs[1].first_seq - 1;
	uint64_t from = sp->acked_seq > first - 1 ? sp->acked_seq : first - 1;
	uint64_t lost = 0;

	if (last > from) {
		uint64_t unread_from = sp->r_last_seq > from ? sp->r_last_seq : from;
		if (last > unread_from)
			lost += last - unread_from;
		for (unsigned i = 0; i < sp->slot_count; i++) {
			struct spool_slot *sl = spool__slot(sp, i);
			if (sl->seq > from && sl->seq <= last && !sl->acked)
				lost++;
		}
	}
	/* in-flight slots of the evicted segment go: their acknowledgements become stale */
	while (sp->slot_count && spool__slot(sp, 0)->seq <= last) {
		sp->slot_head = (sp->slot_head + 1) % spool__cap(sp);
		sp->slot_count--;
	}
	if (sp->acked_seq < last) {
		sp->acked_seq = last;
		sp->acked_seg = sp->segs[1].first_seq;
		sp->acked_off = 0;
	}
	if (sp->r_first_seq == first) {
		sp->r_first_seq = sp->segs[1].first_seq;
		sp->r_off = 0;
		sp->r_skipped = 0;
		sp->peeked = 0;
	}
	if (sp->r_last_seq < last)
		sp->r_last_seq = last;
	if (sp->saved_seq < sp->acked_seq) {
		int rc = spool__pos_write(sp);
		if (rc < 0)
			return rc;
		spool__kill(sp, SPOOL_KILL_AFTER_POS);
	}
	uint64_t bytes = sp->segs[0].bytes;
	spool__unlink_seg(sp, 0);
	ST_ADD(sp, evicted_records, lost);
	ST_ADD(sp, evicted_bytes, bytes);
	ST_ADD(sp, evicted_segments, 1);
	V2X_TP(spool_evict, first, lost, bytes, reason);
	return 0;
}

/* Unlinks fully acknowledged segments, the position saved first. */
static void spool__delete_acked(struct spool *sp)
{
	while (sp->nsegs > 1 && sp->segs[1].first_seq <= sp->acked_seq + 1) {
		if (sp->saved_seq < sp->acked_seq) {
			if (spool__pos_write(sp) < 0)
				return;
			spool__kill(sp, SPOOL_KILL_AFTER_POS);
		}
		spool__unlink_seg(sp, 0);
		ST_ADD(sp, segments_deleted, 1);
	}
}

/* ---- writing ---- */

static void spool__sync(struct spool *sp, uint64_t now)
{
	if (sp->dirty) {
		if (fdatasync(sp->wfd) < 0) {
			ST_ADD(sp, sync_errors, 1);
			ST_SET(sp, last_errno, (uint64_t)errno);
			V2X_TP(spool_error, "fdatasync", errno);
		} else {
			sp->dirty = 0;
			ST_ADD(sp, fsyncs, 1);
		}
	}
	if (sp->dir_dirty) {
		if (fsync(sp->dirfd) == 0)
			sp->dir_dirty = 0;
		else
			ST_ADD(sp, sync_errors, 1);
	}
	sp->last_sync_ns = now;
}

/* Closes the write segment (synced) and starts a new one named after seq.  Returns 0 or -errno. */
static int spool__rotate(struct spool *sp, uint64_t first_seq, uint64_t now)
{
	int fd = spool__open_seg(sp, first_seq, O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	if (fd < 0)
		return fd;
	int rc = spool__seg_push(sp, first_seq, 0);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	spool__sync(sp, now);
	close(sp->wfd);
	sp->wfd = fd;
	sp->w_whole = 0;
	sp->dir_dirty = 1;
	return 0;
}

static void spool__write_failed(struct spool *sp, int err, uint64_t now)
{
	ST_ADD(sp, write_errors, 1);
	ST_SET(sp, last_errno, (uint64_t)err);
	if (!sp->in_error) {
		sp->in_error = 1;
		ST_SET(sp, in_error, 1);
		if (err == ENOSPC || err == EDQUOT)
			ST_ADD(sp, enospc_episodes, 1);
	}
	sp->err_since_ns = now;
	V2X_TP(spool_error, "write", err);
}

/*
 * The write buffer holds whole encoded records; its first whead bytes (part of the first record) are already on
 * disk after a short write.  One write() of the rest.  Returns 0 when the buffer is empty afterwards, else -errno.
 */
static int spool__write_out(struct spool *sp, uint64_t now)
{
	unsigned char *p = (unsigned char *)sp->wbuf;

	if (sp->wlen == 0)
		return 0;
	if (sp->whead_partial == 0 && sp->w_whole >= sp->conf.seg_bytes) {
		int rc = spool__rotate(sp, get64(p + 8), now);
		if (rc < 0) {
			spool__write_failed(sp, -rc, now);
			return rc;
		}
	}
	uint32_t want = sp->wlen - sp->whead_partial;
	errno = 0;
	ssize_t n = write(sp->wfd, p + sp->whead_partial, want);
	int err = n < 0 ? (errno ? errno : EIO) : (uint32_t)n < want ? (errno ? errno : ENOSPC) : 0;
	if (n > 0) {
		uint32_t on_disk = sp->whead_partial + (uint32_t)n, done = 0;
		uint64_t wrote = 0;
		while (done < sp->wlen) {
			uint32_t sz = SPOOL_HDR_BYTES + get32(p + done + 4);
			if (done + sz > on_disk)
				break;
			sp->last_written_seq = get64(p + done + 8);
			done += sz;
			wrote++;
		}
		sp->segs[sp->nsegs - 1].bytes += (uint64_t)n;
		sp->w_whole += done;
		memmove(p, p + done, sp->wlen - done);
		sp->wlen -= done;
		sp->whead_partial = on_disk - done;
		ST_ADD(sp, records_written, wrote);
		sp->dirty = 1;
		if (wrote) {
			V2X_TP(spool_append, sp->last_written_seq, wrote, (uint64_t)n);
			spool__kill(sp, SPOOL_KILL_AFTER_APPEND);
		}
	}
	if (err) {
		spool__write_failed(sp, err, now);
		return -err;
	}
	if (sp->in_error) {
		sp->in_error = 0;
		ST_SET(sp, in_error, 0);
		V2X_TP(spool_error, "recovered", 0);
	}
	if (sp->conf.fsync_interval_ns == 0)
		spool__sync(sp, now);
	return 0;
}

/*
 * Drops the oldest wholly unwritten record from the write buffer and renumbers the records after it, so sequence
 * numbers on disk stay contiguous.  Returns 0, or -ENOBUFS when there is none to drop.
 */
static int spool__drop_oldest_buffered(struct spool *sp)
{
	unsigned char *p = (unsigned char *)sp->wbuf;
	uint32_t at = 0;

	if (sp->whead_partial) /* the first record is partly on disk: it must be completed */
		at = SPOOL_HDR_BYTES + get32(p + 4);
	if (at >= sp->wlen)
		return -ENOBUFS;
	uint32_t sz = SPOOL_HDR_BYTES + get32(p + at + 4);
	memmove(p + at, p + at + sz, sp->wlen - at - sz);
	sp->wlen -= sz;
	for (uint32_t q = at; q < sp->wlen; q += SPOOL_HDR_BYTES + get32(p + q + 4)) {
		uint32_t len = get32(p + q + 4);
		put64(p + q + 8, get64(p + q + 8) - 1);
		put32(p + q + 24, spool__rec_crc(p + q, p + q + SPOOL_HDR_BYTES, len));
	}
	sp->next_seq--;
	ST_ADD(sp, dropped_records, 1);
	return 0;
}

int spool_append(struct spool *sp, int64_t data_time_ms, const void *payload, uint32_t len, uint64_t now_mono_ns)
{
	uint32_t sz = SPOOL_HDR_BYTES + len;

	if (!sp->open)
		return -EIO;
	if (len > SPOOL_PAYLOAD_MAX || (len && !payload) || sz > sp->conf.buf_bytes)
		return -EINVAL;
	/* size bound: oldest segments go first */
	while (sp->nsegs > 1 && spool__disk_bytes(sp) + sp->wlen + sz > sp->conf.max_bytes)
		if (spool__evict_oldest(sp, 0) < 0)
			break;
	/* a full buffer (writes failing): the oldest unwritten records make room */
	while (sp->wlen + sz > sp->conf.buf_bytes)
		if (spool__drop_oldest_buffered(sp) < 0)
			break;
	if (sp->wlen + sz > sp->conf.buf_bytes) {
		ST_ADD(sp, dropped_records, 1);
		return 0;
	}
	spool__encode((unsigned char *)sp->wbuf + sp->wlen, sp->next_seq++, data_time_ms, payload, len);
	sp->wlen += sz;
	ST_ADD(sp, records_appended, 1);
	ST_ADD(sp, bytes_appended, len);
	if (!sp->in_error)
		(void)spool__write_out(sp, now_mono_ns);
	spool__gauges(sp);
	return 0;
}

/*
 * The data time of the oldest unacknowledged record: the oldest in-flight one, else the one at the reader's
 * position (its header read with one pread), else none.
 */
static void spool__refresh_oldest(struct spool *sp)
{
	int64_t t = 0;
	unsigned char h[SPOOL_HDR_BYTES];

	if (sp->slot_count) {
		for (unsigned i = 0; i < sp->slot_count && !t; i++)
			if (!spool__slot(sp, i)->acked)
				t = spool__slot(sp, i)->data_time_ms;
	}
	int idx = t ? -1 : spool__seg_index(sp, sp->r_first_seq);
	uint64_t off = sp->r_off;
	if (!t && idx < 0 && sp->nsegs) { /* the reader's segment was deleted: it continues at the oldest one */
		idx = 0;
		off = 0;
	}
	while (idx >= 0 && (unsigned)idx < sp->nsegs) {
		uint64_t limit = (unsigned)idx == sp->nsegs - 1 ? sp->w_whole : sp->segs[idx].bytes;
		if (off + SPOOL_HDR_BYTES > limit) { /* at this segment's end: the next one's first record */
			idx++;
			off = 0;
			continue;
		}
		uint64_t seg = sp->segs[idx].first_seq;
		int own = -1, fd = sp->rfd >= 0 && sp->rfd_seg == seg ? sp->rfd : (own = spool__open_seg(sp, seg, O_RDONLY));
		if (fd >= 0 && pread(fd, h, sizeof(h), (off_t)off) == (ssize_t)sizeof(h) && get32(h) == SPOOL_MAGIC)
			t = (int64_t)get64(h + 16);
		if (own >= 0)
			close(own);
		break;
	}
	ST_SET(sp, oldest_data_ms, t);
}

void spool_tick(struct spool *sp, uint64_t now_mono_ns)
{
	if (!sp->open)
		return;
	if (sp->in_error && now_mono_ns - sp->err_since_ns >= sp->conf.retry_interval_ns) {
		int last = (int)atomic_load_explicit(&sp->stats.last_errno, memory_order_relaxed);
		/* a full disk: the oldest segment makes room for the newest data */
		if ((last == ENOSPC || last == EDQUOT) && sp->nsegs > 1)
			(void)spool__evict_oldest(sp, 1);
		(void)spool__write_out(sp, now_mono_ns);
	}
	if (now_mono_ns - sp->last_sync_ns >= sp->conf.fsync_interval_ns && (sp->dirty || sp->dir_dirty))
		spool__sync(sp, now_mono_ns);
	if (sp->saved_seq != sp->acked_seq && now_mono_ns - sp->last_pos_ns >= sp->conf.fsync_interval_ns) {
		if (spool__pos_write(sp) == 0)
			sp->last_pos_ns = now_mono_ns;
	}
	spool__delete_acked(sp);
	spool__refresh_oldest(sp);
	spool__gauges(sp);
}

/* ---- reading ---- */

unsigned spool_inflight(const struct spool *sp)
{
	return sp->slot_count;
}

int spool_peek(struct spool *sp, struct spool_rec *rec, void *buf, size_t size)
{
	if (!sp->open)
		return -EIO;
	sp->peeked = 0;
	if (sp->slot_count >= spool__cap(sp))
		return 0;
	for (;;) {
		int idx = spool__seg_index(sp, sp->r_first_seq);
		if (idx < 0) { /* evicted under the reader */
			sp->r_first_seq = sp->segs[0].first_seq;
			sp->r_off = 0;
			idx = 0;
		}
		int is_last = (unsigned)idx == sp->nsegs - 1;
		uint64_t limit = is_last ? sp->w_whole : sp->segs[idx].bytes;
		if (sp->r_off >= limit) {
			if (is_last)
				return 0;
			sp->r_first_seq = sp->segs[idx + 1].first_seq;
			sp->r_off = 0;
			continue;
		}
		if (sp->rfd < 0 || sp->rfd_seg != sp->r_first_seq) {
			if (sp->rfd >= 0)
				close(sp->rfd);
			sp->rfd = spool__open_seg(sp, sp->r_first_seq, O_RDONLY);
			if (sp->rfd < 0) {
				int e = sp->rfd;
				sp->rfd = -1;
				sp->rfd_seg = 0;
				ST_ADD(sp, read_errors, 1);
				return e;
			}
			sp->rfd_seg = sp->r_first_seq;
		}
		int v = spool__try_rec(sp->rfd, sp->r_off, limit, rec, buf, size, sp->scratch);
		if (v < 0 && v != -EMSGSIZE) {
			ST_ADD(sp, read_errors, 1);
			return v;
		}
		if (v == 0) {
			uint64_t next = spool__resync(sp->rfd, sp->r_off + 1, limit, sp->scratch);
			ST_ADD(sp, corrupt_bytes, next - sp->r_off);
			V2X_TP(spool_corrupt, sp->r_first_seq, sp->r_off, next - sp->r_off);
			sp->r_skipped += next - sp->r_off;
			sp->r_off = next;
			continue;
		}
		if (rec->seq <= sp->r_last_seq) { /* acknowledged before a restart, or counted lost */
			sp->r_off += SPOOL_HDR_BYTES + rec->len;
			continue;
		}
		if (sp->r_skipped) {
			/* the records between the last good one and this one were damaged: counted once, here */
			ST_ADD(sp, corrupt_records, rec->seq - sp->r_last_seq - 1);
			sp->r_skipped = 0;
			sp->r_last_seq = rec->seq - 1;
		}
		if (v == -EMSGSIZE)
			return v;
		sp->peek_rec = *rec;
		sp->peek_next_off = sp->r_off + SPOOL_HDR_BYTES + rec->len;
		sp->peeked = 1;
		return 1;
	}
}

int spool_take(struct spool *sp)
{
	if (!sp->peeked || sp->slot_count >= spool__cap(sp))
		return -ENOENT;
	struct spool_slot *sl = spool__slot(sp, sp->slot_count);
	sl->seq = sp->peek_rec.seq;
	sl->seg_first = sp->r_first_seq;
	sl->end_off = sp->peek_next_off;
	sl->data_time_ms = sp->peek_rec.data_time_ms;
	sl->acked = 0;
	sp->slot_count++;
	sp->r_off = sp->peek_next_off;
	sp->r_last_seq = sp->peek_rec.seq;
	sp->peeked = 0;
	ST_SET(sp, inflight, sp->slot_count);
	return 0;
}

int spool_ack(struct spool *sp, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < sp->slot_count; i++)
		if (spool__slot(sp, i)->seq == seq && !spool__slot(sp, i)->acked)
			break;
	if (i == sp->slot_count) {
		ST_ADD(sp, stale_acks, 1);
		return -ENOENT;
	}
	spool__slot(sp, i)->acked = 1;
	ST_ADD(sp, records_acked, 1);
	int advanced = 0;
	while (sp->slot_count && spool__slot(sp, 0)->acked) {
		struct spool_slot *h = spool__slot(sp, 0);
		sp->acked_seq = h->seq;
		sp->acked_seg = h->seg_first;
		sp->acked_off = h->end_off;
		sp->slot_head = (sp->slot_head + 1) % spool__cap(sp);
		sp->slot_count--;
		advanced = 1;
	}
	V2X_TP(spool_ack, seq, sp->acked_seq);
	if (advanced)
		spool__kill(sp, SPOOL_KILL_AFTER_ACK);
	spool__gauges(sp);
	return 0;
}

uint64_t spool_next_seq(const struct spool *sp)
{
	return sp->next_seq;
}

uint64_t spool_acked_seq(const struct spool *sp)
{
	return sp->acked_seq;
}

int spool_rewind(struct spool *sp)
{
	if (!sp->open)
		return -EIO;
	if (sp->slot_count) {
		/* back to just after the acknowledged prefix; acknowledged slots beyond it are sent again */
		sp->r_first_seq = sp->acked_seg;
		sp->r_off = sp->acked_off;
		if (spool__seg_index(sp, sp->r_first_seq) < 0) {
			sp->r_first_seq = sp->segs[0].first_seq;
			sp->r_off = 0;
		}
		sp->r_last_seq = sp->acked_seq;
		sp->slot_count = 0;
		sp->slot_head = 0;
	}
	sp->peeked = 0;
	sp->r_skipped = 0;
	spool__gauges(sp);
	return 0;
}

int spool_close(struct spool *sp)
{
	int rc = 0;

	if (!sp->open)
		return 0;
	if (sp->wfd >= 0) {
		if (sp->wlen && spool__write_out(sp, sp->last_sync_ns) < 0) {
			/* count what never reached the disk; cut a partial record */
			unsigned char *p = (unsigned char *)sp->wbuf;
			uint64_t n = 0;
			for (uint32_t q = 0; q < sp->wlen; q += SPOOL_HDR_BYTES + get32(p + q + 4))
				n++;
			ST_ADD(sp, dropped_records, n);
			if (sp->whead_partial && ftruncate(sp->wfd, (off_t)sp->w_whole) == 0)
				sp->segs[sp->nsegs - 1].bytes = sp->w_whole;
			sp->wlen = 0;
			sp->whead_partial = 0;
			rc = -EIO;
		}
		sp->dirty = 1;
		spool__sync(sp, sp->last_sync_ns);
	}
	if (sp->posfd >= 0 && sp->saved_seq != sp->acked_seq) {
		int r = spool__pos_write(sp);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->posfd >= 0)
		close(sp->posfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->wbuf);
	free(sp->slots);
	free(sp->segs);
	free(sp->scratch);
	sp->wbuf = NULL;
	sp->slots = NULL;
	sp->segs = NULL;
	sp->scratch = NULL;
	sp->wfd = sp->rfd = sp->posfd = sp->dirfd = -1;
	sp->open = 0;
	return rc;
}
