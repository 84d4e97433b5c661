/*
 * hub_io.h - the hub link stage: ESP32(2)'s serial port in both directions.
 *
 * Receive: poll the tty and the stage's eventfd waiter, read, cut units with hub_frame.h (legacy AA 55 frames or v2
 * frames, detected per port), count and trace every reject by reason, and pass every accepted unit (vehicle item,
 * station item, meter reading, stop acknowledgement) to the v2g stage as a struct hub_rx_rec, stamped with both
 * clocks and the link's sequence number.  The device is opened like can_rx's (stages/can_rx/tty.h): raw 8N1, an
 * exclusive flock; while it is absent the thread sleeps on the waiter between retries (no CPU), and an unplug
 * restarts the parser on a clean unit.  With no device configured (an empty path) the stage only drops, counted,
 * what v2g queues.
 *
 * Send: the v2g stage pushes struct hub_tx_rec records (the vehicle's own Item, V2G messages) into this stage's
 * input ring, never waiting (a full ring is counted there).  This thread encodes them in the port's format (legacy
 * frames until v2 frames were detected, or as configured) into a bounded transmit buffer written without blocking
 * (POLLOUT); what does not fit, or arrives while the device is absent, is dropped and counted.  The hub builds the
 * radio V2G messages itself from the latest Item (hub_frame.h), so a V2G message becomes a frame only when it asks
 * to stop: the v2 command HUB_CMD_STOP_CHARGING; the others are counted (`v2g_in_item`: their content is in the
 * Item).  A legacy hub takes no command: a stop is counted (`stop_no_legacy`) and travels as ready_to_charge = 0 in
 * the Item.  The stage only ever sends what v2g queued: it never answers a received broadcast (the legacy radio
 * storm).
 *
 * Acknowledgements: each stop command sent is remembered (seq, session id) in a small table; the hub's V2X_T_ACK
 * naming it with a final result (stopped, or no session at the station) becomes a record with stop_acked set.
 *
 * Stop: this stage ends on the stop flag (it both feeds v2g and consumes v2g's output, so it cannot wait for its
 * input to be closed); it reads what the kernel already holds, closes its output ring, and returns.
 *
 * Threads: hub_io_init/fini on the control thread; the thread body on its own thread; counters readable anywhere
 * (relaxed).  Nothing allocates after init.
 */
#ifndef V2X_STAGES_HUB_IO_HUB_IO_H
#define V2X_STAGES_HUB_IO_HUB_IO_H

#include <stdatomic.h>
#include <stdint.h>

#include "rt/config.h"
#include "rt/counters.h"
#include "rt/pipeline.h"
#include "rt/ring.h"
#include "rt/wait.h"
#include "stages/hub_io/hub_frame.h"

/* hub_io -> v2g. */
enum hub_rx_kind { HUB_RX_ITEM = 1, HUB_RX_STATION = 2, HUB_RX_SLOT = 3, HUB_RX_ACK = 4 };

struct hub_rx_rec {
	uint64_t rx_mono_ns;
	int64_t rx_real_ns;
	uint64_t link_seq;      /* per-link counter of accepted units */
	uint8_t kind;           /* enum hub_rx_kind */
	uint8_t has_seq;        /* a v2 frame: dev_seq / dev_time_us are the hub's */
	uint8_t stop_acked;     /* ACK: the hub confirmed a stop request */
	uint8_t ack_result;
	uint32_t dev_seq, dev_time_us;
	uint32_t ack_session_id;
	struct hub_item item;   /* ITEM, STATION */
	struct v2x_station slot; /* SLOT */
};

/* v2g -> hub_io. */
enum hub_tx_kind { HUB_TX_ITEM = 1, HUB_TX_V2G = 2 };

struct hub_tx_rec {
	uint8_t kind;           /* enum hub_tx_kind */
	struct hub_item item;   /* ITEM */
	struct hub_v2g_msg msg; /* V2G */
};

enum hub_tx_format { HUB_TXF_AUTO = 0, HUB_TXF_LEGACY = 1, HUB_TXF_V2 = 2 };

struct hub_io_conf {
	char dev_path[256];
	unsigned baud;
	int mode;               /* enum hub_format: auto, legacy, v2 (receive) */
	int tx_format;          /* enum hub_tx_format: auto = as detected (legacy until v2 is seen) */
	uint64_t reopen_ns;
	uint64_t full_wait_ns;  /* back-pressure towards v2g */
	unsigned link;
	struct rt_sched_conf sched;
};

/* Drop reasons after the parser's (hub_frame.h): index HUB_REJ__COUNT + k. */
enum hub_io_drop {
	HUB_IO_DROP_RING_FULL = 0, /* v2g's ring stayed full */
	HUB_IO_DROP_TX_FULL,       /* transmit buffer full */
	HUB_IO_DROP_TX_DOWN,       /* nothing to send to: device absent */
	HUB_IO_DROP_STOP_LEGACY,   /* a stop request on a legacy link (no command exists) */
	HUB_IO_DROP__COUNT
};

#define HUB_IO_READ_SIZE 4096
#define HUB_IO_TX_BUF 4096
#define HUB_IO_ACK_SLOTS 16

struct hub_io {
	struct hub_io_conf conf;
	struct ring *out;            /* to v2g */
	struct ring *in;             /* from v2g, or NULL */
	struct rt_waiter *waiter;
	const struct rt_stop *stop;
	int fd;
	struct hub_parser parser;
	uint64_t link_seq;
	uint32_t tx_seq;             /* v2 frames sent */
	uint64_t read_mono_ns;
	int64_t read_real_ns;
	uint8_t rbuf[HUB_IO_READ_SIZE];
	uint8_t tx[HUB_IO_TX_BUF];
	size_t tx_len;
	struct { uint32_t seq, session_id; uint8_t used, stop; } acks[HUB_IO_ACK_SLOTS];
	unsigned ack_next;
	struct rt_counters ctr;      /* in: units accepted; out: records v2g took; dropped: rejects by reason, then ours */
	_Atomic uint64_t bytes_in, bytes_out, frames_out, opens, open_failures, hangups;
	_Atomic uint64_t v2_lost, v2_restarts, ignored, v2g_in_item;
	_Atomic int link_up, last_errno;
};

/* Fills conf with the defaults: no device, 115200 baud, auto, tx auto, 500 ms reopen, 2 s full wait, link 2. */
void hub_io_conf_init(struct hub_io_conf *conf);

/* Prepares the stage (no device is opened here: the thread does).  in may be NULL.  Returns 0 or -EINVAL (no
 * eventfd waiter). */
int hub_io_init(struct hub_io *s, const struct hub_io_conf *conf, struct ring *out, struct ring *in,
		struct rt_waiter *waiter, const struct rt_stop *stop);

/* Closes the device.  After the thread was joined, or when it never started. */
void hub_io_fini(struct hub_io *s);

/* The thread body (arg: struct hub_io *). */
void *hub_io_thread(void *arg);

/* Name of drop index i of ctr (the parser's reject names, then "ring_full", "tx_full", "tx_down", "stop_no_legacy"). */
const char *hub_io_drop_name(unsigned i);

/* The pipeline entry: [hub] configuration (struct hub_io_conf); one output ring to v2g (struct hub_rx_rec), one input
 * ring from v2g (struct hub_tx_rec). */
extern const struct rt_stage_desc hub_io_stage;
extern const struct rt_config_table hub_io_config;

#endif
