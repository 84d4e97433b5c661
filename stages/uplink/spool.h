/*
 * spool.h - the uplink's store-and-forward write-ahead log: every telemetry sample goes to disk first and leaves
 * only after the broker acknowledged it.
 *
 * On disk, in conf.dir:
 *   seg-<first seq, 16 hex digits>.wal   append-only segment files, oldest = lowest name
 *   pos                                   the reader's durable position: two 64-byte slots, each with a generation
 *                                         and a CRC-32C, written alternately with pwrite + fdatasync, so a torn
 *                                         save leaves the other slot valid and a full disk can still save (no new
 *                                         block, no new name is needed)
 * A record is a 32-byte little-endian header then the payload:
 *   0 magic u32 (SPOOL_MAGIC)   4 len u32 (payload bytes, <= SPOOL_PAYLOAD_MAX)   8 seq u64
 *   16 data_time_ms i64         24 crc u32                                        28 reserved u32 (0)
 * crc is CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF; check value of
 * "123456789" = 0xE3069283) over header bytes 0..23, then bytes 28..31, then the payload: one CRC per record, so
 * one bad byte costs one record.  Sequence numbers start at 1 and increase by one per accepted record.
 *
 * Durability rules:
 *  - a record is written with one write() as soon as it is appended; fdatasync() follows on a window
 *    (conf.fsync_interval_ns, default 1 s; 0 = after every append).  A process crash loses nothing written; a
 *    power loss loses at most the records of the last window.
 *  - acknowledgements may arrive out of order inside the in-flight window; the acknowledged position only advances
 *    over the contiguous prefix, and is saved (the older pos slot, then fdatasync) on the same window, at
 *    close, and always BEFORE a segment is unlinked.  A segment is unlinked whole, only when every record in it is
 *    acknowledged (or evicted).  A crash at any point therefore loses nothing; at worst records acknowledged since
 *    the last save are sent again (QoS 1 redelivery, which ThingsBoard overwrites by ts).
 *  - at open: segments entirely at or before the saved position are unlinked (finishing a deletion a crash
 *    interrupted); the last segment is scanned: a torn final record is cut (torn_bytes_cut); a damaged record
 *    followed by valid ones is skipped when read (corrupt_records counts the records lost, from the sequence gap;
 *    corrupt_bytes the bytes skipped).  A missing or damaged pos file means "resend everything on disk" (counted in
 *    pos_errors), never a refusal to start.
 *  - size bound (conf.max_bytes over all segment files): before an append would exceed it, the OLDEST segments are
 *    evicted whole; every unacknowledged record in them is counted in evicted_records and traced
 *    (spool_evict).  A full disk (ENOSPC) is handled the same way when the spool holds an older segment: the
 *    oldest is evicted so the newest data fits.
 *  - a failed write (ENOSPC, EIO) leaves the records in the write buffer (conf.buf_bytes) and is retried at the
 *    next spool_tick() after conf.retry_interval_ns; appends keep queueing without touching the disk meanwhile.  When
 *    the buffer is full, the oldest records in it that are wholly unwritten are dropped to make room (counted in
 *    dropped_records): the newest data is kept.  No call writes more than once.
 *
 * Reading: spool_peek() streams the next unread record from disk into the caller's buffer (never more than one
 * record in memory); spool_take() moves it into the in-flight window (at most conf.max_inflight records);
 * spool_ack(seq) acknowledges one in-flight record.  Records still in a failed write buffer are not readable until
 * they reach the disk.
 *
 * Threads: every function runs on one thread (the uplink stage thread), except reads of `stats` (relaxed atomic
 * loads, any thread).  spool_open allocates; nothing else does.  Calls block only on file system calls.
 */
#ifndef V2X_STAGES_UPLINK_SPOOL_H
#define V2X_STAGES_UPLINK_SPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_MAGIC 0x52533256u /* "V2SR" little-endian */
#define SPOOL_HDR_BYTES 32u
#define SPOOL_PAYLOAD_MAX 65536u
#define SPOOL_FSYNC_INTERVAL_NS_DEFAULT 1000000000ull
#define SPOOL_RETRY_INTERVAL_NS_DEFAULT 1000000000ull
#define SPOOL_SEG_BYTES_DEFAULT (1u << 20)
#define SPOOL_MAX_BYTES_DEFAULT (64ull << 20)
#define SPOOL_BUF_BYTES_DEFAULT (256u << 10)
#define SPOOL_MAX_INFLIGHT_DEFAULT 200u
#define SPOOL_MAX_INFLIGHT_LIMIT 65536u

/* Where the test kill hook is called. */
enum spool_kill_point {
	SPOOL_KILL_AFTER_APPEND = 1, /* a record was written, before its fsync */
	SPOOL_KILL_AFTER_ACK = 2,    /* the acknowledged prefix advanced in memory, before the position is saved */
	SPOOL_KILL_AFTER_POS = 3,    /* the position was saved, before a segment is unlinked */
};

struct spool_conf {
	const char *dir;             /* created (one level) when missing; must outlive the spool */
	uint64_t max_bytes;          /* bound on all segment files; 0 = default; must be >= 2 x seg_bytes */
	uint32_t seg_bytes;          /* a segment is closed once it reaches this size; 0 = default */
	uint32_t buf_bytes;          /* write buffer (records waiting for a failed write); 0 = default; >= one record */
	uint32_t max_inflight;       /* records taken and not yet acknowledged; 0 = default */
	uint64_t fsync_interval_ns;  /* UINT64_MAX = default (1 s); 0 = fdatasync after every append */
	uint64_t retry_interval_ns;  /* after a failed write; 0 = default (1 s) */
	/*
	 * Test seam: when set, called at each enum spool_kill_point (a test's hook calls _exit()).  When NULL, the
	 * environment variable V2X_SPOOL_KILL_AT=<after_append|after_ack|after_pos>[:N], read at open, makes the N-th
	 * (default first) passage at that point call _exit(SPOOL_KILL_EXIT_CODE).
	 */
	void (*kill_hook)(void *ctx, enum spool_kill_point where);
	void *kill_ctx;
};

#define SPOOL_KILL_EXIT_CODE 86

/* Counters: written by the spool's thread, read by any thread with relaxed loads. */
struct spool_stats {
	_Atomic uint64_t records_appended;   /* accepted by spool_append (seq assigned) */
	_Atomic uint64_t bytes_appended;     /* their payload bytes */
	_Atomic uint64_t records_written;    /* whose last byte reached the file */
	_Atomic uint64_t records_acked;      /* acknowledged through spool_ack */
	_Atomic uint64_t stale_acks;         /* spool_ack of a seq not in flight (evicted meanwhile, or unknown) */
	_Atomic uint64_t evicted_records;    /* unacknowledged records removed by the size bound or a full disk */
	_Atomic uint64_t evicted_bytes;      /* segment bytes removed by eviction */
	_Atomic uint64_t evicted_segments;
	_Atomic uint64_t dropped_records;    /* removed from a full write buffer while writes failed */
	_Atomic uint64_t corrupt_records;    /* records lost to damage (sequence gap around skipped bytes) */
	_Atomic uint64_t corrupt_bytes;      /* bytes skipped while resynchronising */
	_Atomic uint64_t torn_bytes_cut;     /* bytes of a torn final record cut at open */
	_Atomic uint64_t write_errors;       /* failed write() calls (each retry counts) */
	_Atomic uint64_t enospc_episodes;    /* times writing went from working to failing with ENOSPC/EDQUOT */
	_Atomic uint64_t in_error;           /* 1 while writes fail */
	_Atomic uint64_t last_errno;         /* positive errno of the last failure, 0 = none */
	_Atomic uint64_t fsyncs;
	_Atomic uint64_t sync_errors;
	_Atomic uint64_t pos_saves;
	_Atomic uint64_t pos_errors;         /* failed saves, and a missing/damaged pos file at open with data present */
	_Atomic uint64_t segments_deleted;   /* fully acknowledged segments unlinked */
	_Atomic uint64_t read_errors;
	/* gauges */
	_Atomic uint64_t depth_records;      /* appended and not yet acknowledged, evicted, dropped or corrupt */
	_Atomic uint64_t depth_bytes;        /* segment bytes on disk + bytes in the write buffer */
	_Atomic uint64_t inflight;           /* records taken, not yet acknowledged */
	_Atomic int64_t oldest_data_ms;      /* data time of the oldest unacknowledged record (0 = none); updated
						by spool_take/spool_ack and at each spool_tick */
};

/* One record as spool_peek() returns it. */
struct spool_rec {
	uint64_t seq;
	int64_t data_time_ms;
	uint32_t len;                        /* payload bytes copied to the caller's buffer */
};

struct spool_seg {
	uint64_t first_seq;                  /* from the name */
	uint64_t bytes;                      /* file size */
};

struct spool_slot {
	uint64_t seq;                        /* in-flight record */
	uint64_t seg_first;                  /* segment holding it (first_seq) and the offset just after it: */
	uint64_t end_off;                    /* the durable position once it is acknowledged */
	int64_t data_time_ms;
	int acked;
};

/* Caller-owned; fields other than `stats` are private to spool.c. */
struct spool {
	struct spool_conf conf;
	struct spool_stats stats;
	int dirfd;
	int wfd;                             /* current (last) segment, O_APPEND */
	int rfd;                             /* segment being read (-1 none) */
	struct spool_seg *segs;              /* oldest first; the last is the write segment */
	unsigned nsegs, segs_cap;
	uint64_t w_whole;                    /* bytes of whole records on disk in the write segment */
	uint64_t next_seq;
	uint64_t last_written_seq;
	char *wbuf;                          /* encoded records waiting for write() */
	uint32_t wlen;                       /* bytes in wbuf */
	uint32_t whead_partial;              /* bytes of wbuf's first record already on disk */
	uint64_t r_first_seq;                /* segment being read (first_seq), 0 = none */
	uint64_t r_off;
	uint64_t r_last_seq;                 /* every record <= this was taken, acknowledged or counted lost */
	unsigned char *scratch;              /* SPOOL_PAYLOAD_MAX bytes for validation reads */
	int peeked;                          /* spool_peek returned a record not yet taken */
	struct spool_rec peek_rec;
	uint64_t peek_next_off;
	struct spool_slot *slots;            /* in-flight ring, oldest first */
	unsigned slot_head, slot_count;
	uint64_t acked_seq;                  /* every record <= this is acknowledged (or evicted/skipped) */
	uint64_t acked_seg, acked_off;       /* segment and offset just after record acked_seq (reader restart hint) */
	uint64_t saved_seq;                  /* acked_seq in the pos file */
	uint64_t pos_gen;                    /* generation of the last pos slot written */
	int posfd;
	uint64_t rfd_seg;                    /* segment rfd is open on */
	uint64_t r_skipped;                  /* bytes skipped since the last valid record (damage) */
	uint64_t last_sync_ns, last_pos_ns, err_since_ns;
	int dirty;                           /* written since the last fdatasync */
	int dir_dirty;                       /* a name was created/unlinked since the last directory fsync */
	int in_error;
	int kill_env_point;                  /* from V2X_SPOOL_KILL_AT */
	unsigned kill_env_count;
	int open;
};

/* Returns the CRC-32C of buf (see the header comment), continuing from crc (start with 0).  Pure. */
uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Opens or creates the spool in conf->dir, recovers it (see above) and positions the reader after the saved
 * position.  now_mono_ns starts the fsync window.  Returns 0 or a negative errno (-EINVAL for a bad conf).
 * Allocates; blocks on the file system.
 */
int spool_open(struct spool *sp, const struct spool_conf *conf, uint64_t now_mono_ns);

/*
 * Appends one record (payload of len <= SPOOL_PAYLOAD_MAX bytes, data time in ms) and writes it (one write()
 * unless a failed write waits for its retry).  Sequence numbers on disk stay contiguous: a record dropped from a
 * full write buffer gives its number to the next one.  Returns 0 (the
 * record is accepted: on disk, or queued for the retry), -EINVAL (bad length), or -EIO when the spool is not
 * open.  Evicts oldest segments first when the size bound requires it.
 */
int spool_append(struct spool *sp, int64_t data_time_ms, const void *payload, uint32_t len, uint64_t now_mono_ns);

/*
 * Periodic work (call at least every 100 ms): retries a failed write when due, fdatasyncs and saves the position
 * when the window passed, unlinks fully acknowledged segments (position saved first).  Never returns an error:
 * see stats.
 */
void spool_tick(struct spool *sp, uint64_t now_mono_ns);

/*
 * Copies the next unread record's payload into buf (size bytes; SPOOL_PAYLOAD_MAX always suffices) and fills rec.
 * Returns 1 (a record), 0 (nothing to read, or the in-flight window is full), -EMSGSIZE (size too small; the
 * record stays next), or a negative errno of a read error (counted).  Calling it again without spool_take()
 * returns the same record.
 */
int spool_peek(struct spool *sp, struct spool_rec *rec, void *buf, size_t size);

/* Moves the record spool_peek() returned into the in-flight window.  Returns 0 or -ENOENT (nothing peeked). */
int spool_take(struct spool *sp);

/*
 * Acknowledges the in-flight record seq.  The acknowledged position advances over the contiguous prefix only.
 * Returns 0, or -ENOENT (not in flight: counted in stale_acks).
 */
int spool_ack(struct spool *sp, uint64_t seq);

/* Returns the highest seq such that every record up to it is acknowledged (or was evicted/skipped). */
uint64_t spool_acked_seq(const struct spool *sp);

/* Returns the sequence number the next appended record will get. */
uint64_t spool_next_seq(const struct spool *sp);

/* Returns the number of records in flight. */
unsigned spool_inflight(const struct spool *sp);

/*
 * Forgets every unacknowledged in-flight record: the reader goes back to the first of them (for a client that lost
 * its own copies).  Returns 0 or a negative errno.
 */
int spool_rewind(struct spool *sp);

/*
 * Writes out what it can, fdatasyncs, saves the position, closes and frees.  Records that could not be written are
 * counted in dropped_records.  Returns 0 or the first negative errno.  Safe on a closed or zeroed spool.
 */
int spool_close(struct spool *sp);

#endif
