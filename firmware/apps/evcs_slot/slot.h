/*
 * slot.h - evcs_slot, a charging slot's ESP32: reads its PZEM-004T, runs the session logic, reports to the station
 * computer on HAL_UART_HOST, and (slot 1 role) talks V2G with the paired vehicle over ESP-NOW.
 *
 * Every read_ms the meter is read (pzem_read: timeout, retries); a failed read is counted and reported as an
 * `ERROR: ...` line in legacy mode, never as data.  Every report_ms the last good reading, if it is fresh (taken since
 * the previous report), goes out as a slot line (legacy: `EELAB_EVCS2_slot_1 ...` / `EELAB_EVSE_slot_2 ...`, the
 * formats of legacy-system.md) or a V2X_T_STATION frame (v2).
 * V2G (slot 1, when the pairing key "v2g_key" is provisioned): every v2g_ms the station broadcasts its data
 * (FW_RADIO_V2G_STATION); an authenticated FW_RADIO_V2G_VEHICLE with stop_charging ends the session
 * (SESSION_END_VEHICLE_STOP), opens the relay and is answered with one FW_RADIO_V2G_ACK (STOPPED, or NO_SESSION when
 * nothing was running) per request: the vehicle repeats its request until acknowledged, the station never sends
 * unprompted answers, so no storm.  The relay closes again when the vehicle's ready_to_charge goes from 0 to 1.
 *
 * Configuration (NVS): "slot" 1|2, "legacy" 0|1, "baud" (v2 921600, legacy 115200), "meter_addr" (1),
 * "meter_to_ms" (200), "meter_retries" (2), "read_ms" (1000), "report_ms" (2000), "v2g_ms" (5000), "threshold_ma"
 * (slot 1: 500, slot 2: 100, the legacy thresholds), "stop_hold_ms" (4000), "cost_kwh" (1.50), "max_power_w" (3000),
 * "lat", "lon" (station position, degrees), "relay_on" (1: relay closed at start).
 */
#ifndef V2X_FIRMWARE_APPS_EVCS_SLOT_SLOT_H
#define V2X_FIRMWARE_APPS_EVCS_SLOT_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/apps/common/fw_radio.h"
#include "firmware/apps/evcs_slot/pzem.h"
#include "firmware/apps/evcs_slot/session.h"
#include "firmware/hal/v2x_hal.h"

struct slot_stats {
	struct pzem_stats meter;
	uint32_t reports_sent, error_lines, frames_sent, tx_dropped, config_errors;
	uint32_t sessions_finished;
	struct session_record last; /* the last finished session */
	uint8_t session_active;     /* a session was running when the app stopped */
	struct session_record running;
	uint32_t stop_requests, acks_sent, station_msgs_sent;
	uint32_t radio[FW_RADIO__COUNT];
	uint8_t relay_closed;
	uint32_t relay_closes; /* re-closed by the vehicle's ready_to_charge */
};

/* The legacy slot line for slot 1|2 with a reading.  Returns its length or -ENOBUFS. */
int slot_line(int slot, int status, double lat, double lon, const struct pzem_reading *r, char *buf, size_t size);

/* The application: runs until hal_should_stop().  Returns 0 or a negative errno (no host UART). */
int slot_run(struct v2x_hal *h, struct slot_stats *stats);

#endif
