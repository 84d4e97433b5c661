/*
 * can_rx.h - the receive stage: bytes from ESP32(1)'s serial port become timestamped records in a ring.
 *
 * The thread blocks in poll() on the device and on its waiter's eventfd (rt/wait.h, RT_WAIT_EVENTFD), which the
 * pipeline kicks to stop it.  Each read is stamped with CLOCK_MONOTONIC
 * and CLOCK_REALTIME, framed (stages/can_rx/framer.h: legacy text lines, NMEA, candump lines or v2 frames, detected
 * automatically), and every accepted record gets the link's next sequence number and is pushed into the output
 * ring in batches.  A record is built in its batch slot (the framer's hot path writes legacy SIM lines and v2 CAN
 * batch entries there directly) and copied once, into each output ring.  A batch never holds records of two reads; each push is traced
 * (can_batch_parsed: link, first seq, count, the read's rx_mono_ns), each record too (can_frame_parsed, for
 * per-frame sessions).  Rejected units are counted per reason and traced (can_frame_rejected).
 *
 * The device may go away (USB unplug, the far end of a pseudo-terminal closing): the stage closes it, retries
 * opening every reopen_ns without spinning, and resumes; silence on the line is normal.  A regular file given as
 * the device (a log to replay) is read once to its end, its last line included, and not reopened.  A full output ring is
 * waited on for at most full_wait_ns (back-pressure onto the device), then the batch is dropped and counted.
 * On stop it pushes what it holds, closes the output ring and returns.
 */
#ifndef V2X_STAGES_CAN_RX_CAN_RX_H
#define V2X_STAGES_CAN_RX_CAN_RX_H

#include <stdatomic.h>
#include <stdint.h>

#include "rt/config.h"
#include "rt/counters.h"
#include "rt/histogram.h"
#include "rt/ring.h"
#include "rt/wait.h"
#include "rt/shutdown.h"
#include "stages/can_rx/framer.h"
#include "vehicle/record.h"

#define CAN_RX_BATCH 64
#define CAN_RX_READ_SIZE 65536

/* Drop reasons: the framer's reject reasons, then ring_full. */
#define CAN_RX_DROP_RING_FULL RX_REJ__COUNT

struct can_rx_conf {
	char dev_path[1024];
	unsigned baud;
	uint32_t link;
	enum framer_mode mode;
	uint64_t reopen_ns;     /* retry period while the device is absent (default 500 ms) */
	uint64_t full_wait_ns;  /* how long a full ring may hold the stage back before dropping (default 2 s) */
	uint64_t read_interval_ns; /* read moderation: least time between two reads (default 2 ms; 0: none) */
	struct rt_sched_conf sched; /* [can_rx] cpus, policy, priority */
};

struct can_rx {
	struct can_rx_conf conf;
	struct ring *out;
	const struct rt_stop *stop;
	struct rt_waiter *waiter;    /* RT_WAIT_EVENTFD: kicked to stop (can_rx_wake) */
	struct ring *outs[2];        /* every output gets every record: decode's ring, and the log's */
	unsigned n_outs;
	_Atomic uint8_t stuck[2];    /* a later output found full for a whole wait: not waited for until half empty */
	int fd;
	struct framer framer;
	uint64_t seq;
	uint64_t read_mono_ns;       /* stamps of the read being framed */
	int64_t read_real_ns;
	struct rx_record batch[CAN_RX_BATCH];
	unsigned batch_n;
	struct rx_record *next;      /* &batch[batch_n]: where the next record is built (the framer's sink slot) */
	unsigned char *rbuf;         /* CAN_RX_READ_SIZE bytes */
	struct rt_counters ctr;      /* in = records accepted, out = records pushed, dropped by reason */
	_Atomic uint64_t bytes;
	_Atomic uint64_t reads;
	_Atomic uint64_t opens;      /* successful opens */
	_Atomic uint64_t open_failures;
	_Atomic uint64_t hangups;    /* device lost */
	_Atomic int link_up;
	_Atomic int at_eof;          /* the input was a regular file and it was read to its end */
	int is_file;                 /* the open input is a regular file (replay) */
	_Atomic int last_errno;      /* of the last failed open or read */
	/* Loss on the link, counted from the device's own numbers (v2 frames only): */
	_Atomic uint64_t dev_frames_lost; /* v2 frames missing from the device's seq (gaps; a restart starts again) */
	_Atomic uint64_t can_frames_lost; /* CAN frames missing from the batches' CAN frame numbers (framer.can_lost) */
	_Atomic uint64_t nmea_fields_left_out; /* optional NMEA fields that did not parse (the fix was kept) */
	uint64_t can_lost_base;      /* can_lost of the framers before the last reconnection */
	uint32_t last_dev_seq;
	int dev_seq_known;
	uint64_t cyc_bytes;          /* read moderation: bytes read since the last moderation sleep ... */
	uint64_t cyc_start_ns;       /* ... which ended here (CLOCK_MONOTONIC) */
};

/*
 * Read moderation: how long to let bytes gather before the next read, given that the last cycle (from the end of the
 * previous moderation sleep to now) read cyc_bytes in cyc_ns.  The configured interval while the line is slow (bus
 * rate: tens to a few hundred bytes per 2 ms); shorter for a fast writer, so that about CAN_RX_MODERATION_BYTES
 * gather per sleep: a pseudo-terminal buffers only about 13 KB, and a writer that fills it during a full interval
 * waits for the reader (bench_can_path's maximum rate was capped at 0.2 M frames/s by 2 ms sleeps).  Pure.
 */
#define CAN_RX_MODERATION_BYTES 2048
static inline uint64_t can_rx_moderation_ns(uint64_t interval_ns, uint64_t cyc_bytes, uint64_t cyc_ns)
{
	/* cyc_bytes / cyc_ns > MODERATION_BYTES / interval_ns, without dividing */
	if (cyc_bytes == 0 || (unsigned __int128)cyc_bytes * interval_ns <= (unsigned __int128)CAN_RX_MODERATION_BYTES * cyc_ns)
		return interval_ns;
	return (uint64_t)((unsigned __int128)CAN_RX_MODERATION_BYTES * cyc_ns / cyc_bytes);
}

/* Fills conf with defaults for dev_path (115200 baud, link 0, auto framing). */
void can_rx_conf_init(struct can_rx_conf *conf, const char *dev_path);

/*
 * Prepares s (caller-owned) before the thread starts: allocates and touches its buffers.  Every accepted record is
 * pushed to each of outs[0..n_outs-1] (1 or 2 rings).  waiter must be in RT_WAIT_EVENTFD mode.  Returns 0 or -errno.
 */
int can_rx_init(struct can_rx *s, const struct can_rx_conf *conf, struct ring *const *outs, unsigned n_outs,
		struct rt_waiter *waiter, const struct rt_stop *stop);

/* Frees what can_rx_init allocated (after the thread was joined). */
void can_rx_fini(struct can_rx *s);

/* The thread body (arg: struct can_rx *).  Returns NULL. */
void *can_rx_thread(void *arg);

/* Wakes the thread out of poll() (after rt_stop_request): kicks its waiter.  Any thread. */
void can_rx_wake(struct can_rx *s);

/* The pipeline entry (rt/pipeline.h): the [can_rx] configuration (struct can_rx_conf), one or two outputs (every
 * record goes to each), polls its device beside its waiter's eventfd. */
struct rt_stage_desc;
extern const struct rt_stage_desc can_rx_stage;
extern const struct rt_config_table can_rx_config;

/* Returns the name of drop reason i of the stage's counters. */
const char *can_rx_drop_name(unsigned i);

#endif
