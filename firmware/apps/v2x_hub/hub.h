/*
 * hub.h - v2x_hub, the vehicle's radio ESP32(2): V2V broadcast of the vehicle's state, V2G with the paired station,
 * and forwarding of what it hears to the vehicle computer on HAL_UART_HOST.
 *
 * From the computer: the vehicle's Item (v2: V2X_T_V2X_ITEM; legacy: AA 55 + 88 bytes, resynchronising on every
 * 0xAA so `AA AA 55` is found) and, v2 only, commands (V2X_T_CMD): HUB_CMD_STOP_CHARGING asks the paired station to
 * end the session; it is answered with a V2X_T_ACK (acked_seq = the command's seq, result enum hub_ack_result).
 * To the radio: every v2v_ms the Item (FW_RADIO_V2V, fleet key), every v2g_ms a FW_RADIO_V2G_VEHICLE (pairing key);
 * while a stop is pending, a V2G_VEHICLE with stop_charging every stop_retry_ms until the station's ACK, at most
 * stop_tries times.  Nothing is ever sent in reply to a V2V message, and V2G answers come only from the station, one
 * per request: no storm.
 * To the computer: every authenticated V2V Item (mac = the sender) and every station message as the legacy Item with
 * soc 0xFFFF (legacy-system.md), as V2X_T_V2X_ITEM frames or AA 55 frames.  Refused radio messages are counted by
 * verdict (fw_radio.h).  Items whose floats are not finite are counted and their fields zeroed.
 *
 * Configuration (NVS): "legacy" 0|1, "baud" (v2 921600, legacy 115200), "v2v_ms" (2000), "v2g_ms" (5000),
 * "stop_retry_ms" (1000), "stop_tries" (30), "item_max_age" (10000 ms: an older Item is not broadcast), keys
 * "v2v_key", "v2g_key", counter "radio_ctr".
 */
#ifndef V2X_FIRMWARE_APPS_V2X_HUB_HUB_H
#define V2X_FIRMWARE_APPS_V2X_HUB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/apps/common/fw_radio.h"
#include "firmware/hal/v2x_hal.h"

enum { HUB_CMD_STOP_CHARGING = 1 };

enum hub_ack_result {
	HUB_ACK_STOPPED = 0,    /* the station ended the session and opened its relay */
	HUB_ACK_NO_SESSION = 1, /* the station had no session running */
	HUB_ACK_NO_ANSWER = 2,  /* no acknowledgement after stop_tries requests */
	HUB_ACK_NO_KEY = 3,     /* no pairing key provisioned */
	HUB_ACK_UNKNOWN = 4,    /* unknown command */
	HUB_ACK_BUSY = 5,       /* a stop is already pending */
};

struct hub_stats {
	uint32_t items_from_host, cmds_from_host, host_rejects; /* host link input */
	uint32_t v2v_sent, v2g_sent, stop_sent;
	uint32_t forwarded_v2v, forwarded_station, acks_to_host;
	uint32_t radio[FW_RADIO__COUNT];
	uint32_t nonfinite_fields, tx_dropped, config_errors;
	uint32_t stop_result; /* hub_ack_result of the last stop, 0xFF none */
};

/* A legacy AA 55 receiver: feed bytes, get whole Items.  Bytes that are not part of a frame are counted. */
struct hub_aa55 {
	uint8_t buf[2 + 88];
	size_t n;
	uint32_t junk; /* bytes skipped while looking for AA 55 */
};

/* Feed one byte; returns 1 when buf[2..90) holds a complete Item. */
int hub_aa55_feed(struct hub_aa55 *r, uint8_t b);

/* The application: runs until hal_should_stop().  Returns 0 or a negative errno (no host UART). */
int hub_run(struct v2x_hal *h, struct hub_stats *stats);

#endif
