/*
 * bridge.h - can_gps_bridge, the ESP32(1) application: every CAN frame the controller holds and the GPS receiver's
 * NMEA, to the vehicle computer over HAL_UART_HOST.
 *
 * v2 mode (default): each loop drains the controller completely (no one-frame-per-tick loop), then sends the frames
 * as V2X_T_CAN_BATCH frames (one V2X_T_CAN when a single frame waits), each NMEA sentence as V2X_T_NMEA and a
 * V2X_T_STATUS frame every second.  A batch is sent when it is full (V2X_CAN_BATCH_MAX entries or the 240-byte
 * payload), when its span would pass 65,535 us, or once its first frame has waited batch_us (0: at the end of every
 * drain).  Legacy mode ("legacy" = 1, for old computers): SIM, GPS and STATUS text lines exactly as the legacy
 * firmware printed them (legacy-system.md), one SIM line per CAN frame, a GPS line per fix-bearing RMC, a STATUS line
 * every 5 s.
 *
 * Configuration (NVS, fw_node.h): "baud" host link (default 921600), "legacy" 0|1, "batch" 0|1 (0: one V2X_T_CAN per
 * CAN frame), "batch_us" (default 1000), "gps_baud" (9600), "can_filter" a list "ID:MASK,ID:MASK" of hexadecimal
 * acceptance filters (default: accept all), "status_ms" (1000 in v2).
 *
 * The pure parts (batcher, line formatting, filter parsing) are exposed for tests.
 */
#ifndef V2X_FIRMWARE_APPS_CAN_GPS_BRIDGE_BRIDGE_H
#define V2X_FIRMWARE_APPS_CAN_GPS_BRIDGE_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/apps/common/fw_nmea.h"
#include "firmware/hal/v2x_hal.h"
#include "v2x_proto.h"

struct bridge_conf {
	uint32_t baud, gps_baud, batch_us, status_ms;
	uint8_t legacy, batch;
	struct hal_can_filter filter[HAL_CAN_MAX_FILTERS];
	size_t n_filters;
};

/* What a run did (filled when bridge_run() returns; read it after the thread ends). */
struct bridge_stats {
	uint64_t can_rx;            /* frames taken from the controller */
	uint64_t can_sent;          /* CAN frames in frames/lines written successfully */
	uint64_t can_lost_tx;       /* CAN frames in frames/lines the UART refused (tx_dropped) */
	uint64_t frames_single;     /* V2X_T_CAN frames */
	uint64_t frames_batch;      /* V2X_T_CAN_BATCH frames */
	uint64_t nmea_sent, nmea_bad, status_sent, legacy_lines;
	uint32_t can_overruns, can_bus_errors, tx_dropped, config_errors;
	uint32_t last_seq;          /* seq of the last v2 frame sent (0 if none) */
	uint32_t sent_by_type[V2X_T_LAST + 1];
};

/* A batch being filled. */
struct bridge_batch {
	struct v2x_can_entry e[V2X_CAN_BATCH_MAX];
	size_t n, bytes;   /* entries; payload bytes so far (header included) */
	uint32_t t0_us;    /* receive time of the first entry: the frame's dev_time_us */
};

/* Empty the batch.  Never fails. */
void bridge_batch_reset(struct bridge_batch *b);

/* Add a received frame.  Returns 1 added, 0 when it does not fit (full, payload or time span: send the batch and add
 * again), -EPROTO for a frame v2 cannot carry (counted by the caller). */
int bridge_batch_add(struct bridge_batch *b, const struct hal_can_rx *rx);

/* Parse "155:7FF,59B:7FF" (hex id and mask, flags allowed: 80000000 extended).  Returns the count or -EINVAL. */
int bridge_parse_filters(const char *s, struct hal_can_filter *f, size_t max);

/* The legacy `SIM <id> <dlc> b0..b7` line with CRLF.  Returns its length or -ENOBUFS. */
int bridge_sim_line(const struct v2x_can *c, char *buf, size_t size);
/* The legacy GPS line for a fix (the +1 hour quirk kept: receivers expect it).  Returns its length or -ENOBUFS. */
int bridge_gps_line(const struct fw_fix *fix, char *buf, size_t size);
/* The legacy STATUS line.  Returns its length or -ENOBUFS. */
int bridge_status_line(int can_ok, const struct fw_fix *fix, int gps_ok, char *buf, size_t size);

/* Read the configuration from NVS. */
struct fw_node;
void bridge_conf_load(struct fw_node *n, struct bridge_conf *c);

/* The application: runs until hal_should_stop().  Returns 0 or a negative errno when the board lacks a part. */
int bridge_run(struct v2x_hal *h, struct bridge_stats *stats);

#endif
