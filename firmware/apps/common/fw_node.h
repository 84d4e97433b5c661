/*
 * fw_node.h - what every application does with its board: configuration from NVS, the v2 link to its computer,
 * the radio identity (keys and message counter).
 *
 * Configuration lives in NVS as short text values ("921600", "1", "0.5") under keys of at most 15 characters, and
 * the radio keys as 32-byte values; the provisioning tool (on Linux: v2xsim) writes them, the firmware only reads
 * them (except the radio counter's reservation).  A value that is present but malformed or out of range is refused:
 * the default is used and the refusal counted in fw_node.config_errors, reported in the status frames.
 *
 * One fw_node per application thread; calls may block only where the HAL call they make does (UART writes).
 */
#ifndef V2X_FIRMWARE_APPS_COMMON_FW_NODE_H
#define V2X_FIRMWARE_APPS_COMMON_FW_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/apps/common/fw_radio.h"
#include "firmware/hal/v2x_hal.h"
#include "v2x_proto.h"

struct fw_node {
	struct v2x_hal *h;
	uint32_t config_errors;
	/* The v2 link on HAL_UART_HOST. */
	uint32_t seq;                  /* seq of the next frame (the first frame sent is seq 1) */
	uint32_t tx_timeout_ms;        /* how long a write may wait for room (default 2000) */
	uint32_t sent[V2X_T_LAST + 1]; /* frames handed to the UART, by type (including failed writes) */
	uint32_t can_frames;           /* CAN frames sent in V2X_T_CAN / V2X_T_CAN_BATCH frames: the first_can counter */
	uint32_t tx_dropped;           /* frames or lines the UART could not take in time */
	uint32_t lines_sent;           /* legacy text lines / AA 55 frames written */
	uint64_t bytes_sent;
};

/* Bind to the board.  Never fails. */
void fw_node_init(struct fw_node *n, struct v2x_hal *h);

/* An unsigned decimal setting in [min, max]; absent -> def.  Returns the value. */
uint32_t fw_cfg_u32(struct fw_node *n, const char *key, uint32_t def, uint32_t min, uint32_t max);
/* A decimal setting (e.g. "0.5") in [min, max]; absent -> def. */
double fw_cfg_double(struct fw_node *n, const char *key, double def, double min, double max);
/* A text setting copied into buf (NUL-terminated); absent or too long -> def.  Returns buf. */
const char *fw_cfg_str(struct fw_node *n, const char *key, const char *def, char *buf, size_t size);
/* A 32-byte key.  Returns 0, -ENOENT when absent (never an error count: the node just lacks it), -EINVAL when the
 * stored value is not 32 bytes (counted). */
int fw_cfg_key(struct fw_node *n, const char *key, uint8_t out[FW_RADIO_KEY_LEN]);

/* Encode and write one v2 frame on the host link with the next seq and dev_time_us.  Returns 0, or the encoder's
 * error (a bug: counted nowhere else), or -EAGAIN / -EIO from the UART (counted in tx_dropped; the seq is used anyway,
 * so the receiver sees the gap). */
int fw_node_send(struct fw_node *n, uint8_t type, uint32_t dev_time_us, const void *payload, size_t len);

/* Write raw bytes (a legacy line with its CRLF, an AA 55 frame).  Returns 0 or -EAGAIN / -EIO (counted). */
int fw_node_write(struct fw_node *n, const void *buf, size_t len);

/* Radio identity: this board's MAC, the keys "v2v_key" / "v2g_key" from NVS, and the counter resumed from
 * "radio_ctr" with a block reserved.  Returns 0 or -EIO when the reservation cannot be stored. */
int fw_node_radio_init(struct fw_node *n, struct fw_radio *r);

/* Seal and broadcast one message, reserving the next counter block in NVS when needed.  Returns 0 or a negative
 * errno from fw_radio_seal(), the NVS or the radio. */
int fw_node_radio_send(struct fw_node *n, struct fw_radio *r, uint8_t type, const void *body, size_t len);

#endif
