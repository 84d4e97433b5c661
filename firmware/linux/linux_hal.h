/*
 * linux_hal.h - the hardware interface (firmware/hal/v2x_hal.h) on Linux, for v2xsim and the firmware tests.
 *
 * One struct v2x_hal per simulated board.  The board's parts are attached by the simulator before the application
 * thread starts:
 *   UARTs     a pseudo-terminal (posix_openpt) whose slave is exposed at a path the user chooses (a symlink), or a
 *             socketpair whose other end the simulator keeps (GPS receiver, internal computers);
 *   CAN       a receive queue the simulator fills (linux_hal_can_push(), from the vehicle model or a candump log):
 *             the acceptance filters apply there, a full queue counts an overrun, as a TWAI controller would;
 *   ESP-NOW   UDP multicast on 127.0.0.1 (group 239.255.42.99, a chosen port).  Each datagram carries the sender's
 *             MAC and position; a receiver drops (and counts) messages from nodes farther than the range (default
 *             105 m, the legacy system's observed radio range) and its own;
 *   NVS       a file of `key=hex` lines, rewritten atomically (temporary file, fsync, rename) on every set;
 *   relay     a state the simulator reads (the charging contactor: the PZEM model meters only while it is closed);
 *   clocks    board time = CLOCK_MONOTONIC since the shared start x speed (--speed N); sleeps are divided by speed.
 * UART and radio timeouts are real time (the peers are real processes).
 *
 * Threads: the application thread owns the board; linux_hal_can_push(), linux_hal_set_position(),
 * linux_hal_relay_closed() and linux_hal_get_counters() may be called from any thread (a mutex or atomics).
 * Everything is set up by linux_hal_create() and the attach calls; nothing allocates afterwards.
 */
#ifndef V2X_FIRMWARE_LINUX_LINUX_HAL_H
#define V2X_FIRMWARE_LINUX_LINUX_HAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/hal/v2x_hal.h"

#define LINUX_HAL_RANGE_M 105.0
#define LINUX_HAL_GROUP "239.255.42.99"

/* The time base shared by every board of a simulation. */
struct linux_clock {
	uint64_t start_ns; /* CLOCK_MONOTONIC at board time 0 */
	double speed;      /* board time runs this many times faster than real time (>= 0.01) */
};

/* Start a clock now at the given speed. */
void linux_clock_init(struct linux_clock *c, double speed);
/* Board time in microseconds (64-bit, not wrapped). */
uint64_t linux_clock_us(const struct linux_clock *c);

struct linux_hal_conf {
	const char *name;                 /* for messages: "bridge", "hub", "slot1" */
	uint8_t mac[6];
	const struct linux_clock *clock;  /* shared, outlives the board */
	const atomic_int *stop;           /* non-zero: hal_should_stop() */
	size_t can_queue;                 /* frames the CAN controller holds (0: no CAN controller) */
	const char *nvs_path;             /* NVS file (NULL: no NVS, every key absent, sets fail) */
};

/* Create a board.  Returns 0 or a negative errno (bad configuration, no memory). */
int linux_hal_create(struct v2x_hal **out, const struct linux_hal_conf *c);
/* Close every descriptor, remove the symlinks this board created, free it.  NULL is fine. */
void linux_hal_destroy(struct v2x_hal *h);

/* Attach UART u as a pseudo-terminal; link (may be NULL) becomes a symlink to the slave (an existing symlink is
 * replaced; any other file there is refused with -EEXIST).  slave (may be NULL) receives the slave's path.  The board
 * keeps the slave open in raw mode itself, so no echo and no hang-up when the reader closes.  Returns 0 or -errno. */
int linux_hal_uart_pty(struct v2x_hal *h, enum hal_uart u, const char *link, char *slave, size_t slave_size);

/* Attach UART u as one end of a socketpair; *peer receives the other end (the caller's to close).  Returns 0 or
 * -errno. */
int linux_hal_uart_pair(struct v2x_hal *h, enum hal_uart u, int *peer);

/* Join the radio: UDP multicast on 127.0.0.1:port; range_m <= 0 means unlimited.  Returns 0 or -errno. */
int linux_hal_radio_open(struct v2x_hal *h, uint16_t port, double range_m);

/* The board's position for the range model (degrees).  Any thread. */
void linux_hal_set_position(struct v2x_hal *h, double lat_deg, double lon_deg);

/* A frame arrives on the bus at board time t_us.  Returns 1 queued, 0 not accepted by the filters, -ENOSPC overrun
 * (counted), -ENODEV no controller.  Any thread. */
int linux_hal_can_push(struct v2x_hal *h, const struct v2x_can *c, uint32_t t_us);

/* Relay state (1 closed).  Any thread. */
int linux_hal_relay_closed(const struct v2x_hal *h);

struct linux_hal_counters {
	uint64_t can_pushed, can_filtered, can_overruns;
	uint64_t radio_sent, radio_received, radio_out_of_range, radio_bad;
};
/* Snapshot of the counters.  Any thread. */
void linux_hal_get_counters(const struct v2x_hal *h, struct linux_hal_counters *c);

/* Great-circle distance in metres (haversine, mean Earth radius). */
double linux_hal_distance_m(double lat1, double lon1, double lat2, double lon2);

#endif
