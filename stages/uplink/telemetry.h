/*
 * telemetry.h - the JSON the uplink sends to ThingsBoard (../shared/facts/interop.md, legacy-system.md), built with
 * cJSON.
 *
 * A sample is one element of a timestamped batch: {"ts":<data time, unix ms>,"values":{...}}.  The uplink spools
 * each sample as it is, and a publish is the JSON array of consecutive samples ("[e1,e2,...]", telem_batch_*),
 * which ThingsBoard accepts on v1/devices/me/telemetry; each element keeps its data time, so a QoS 1 redelivery
 * overwrites itself instead of adding a row.
 *
 * Keys of a sample (a signal never received is left out, never sent as 0; non-finite values are left out):
 *  - the legacy vehicle keys, with correct values (the legacy decoder's errors are not copied; the same mapping as
 *    the merged CSV, stages/log/csv_format.h): soc, current, gear ("Drive"/"Neutral"/"Reverse"), motor_active
 *    (ignition 1/0), accelerator (throttle %), brake (1/0), motor_speed (vehicle speed km/h), odometer, range,
 *    battery_voltage (pack_voltage), available_energy (energy_avail), charging_status ("0x%02X" of bms_state),
 *    motor_temp, power_request (charge_power_req), timestamp_str (the data time, "YYYY-MM-DD HH:MM:SS.mmm" UTC),
 *    and with use_location latitude, longitude (the GPS fix when it has a position, else the configured fallback).
 *    cap_voltage is never sent: the legacy value was a misdecode and the vehicle has no correct source for it.
 *  - every canonical signal (vehicle/signals.h) under its canonical name, in its canonical unit; charge_phase as
 *    its text.  Where a canonical name equals a legacy key (soc, current, brake, odometer, range, motor_temp) the
 *    value is the same; for gear the legacy key keeps the word users' dashboards read, and the canonical -1/0/1
 *    goes to gear_code.
 *  - sample_seq: the uplink's sample counter (consecutive across restarts), so a consumer can check order and
 *    completeness.
 *
 * Everything here is pure (no clock, no descriptor); it allocates (cJSON) and is safe from any thread on distinct
 * buffers.  Each builder writes a NUL-terminated string into (buf, size) and returns its length, or a negative errno
 * (-ENOBUFS when it does not fit, -ENOMEM, -ENODATA when there is nothing to send).
 */
#ifndef V2X_STAGES_UPLINK_TELEMETRY_H
#define V2X_STAGES_UPLINK_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "vehicle/vstate.h"

#define TELEM_TOPIC "v1/devices/me/telemetry"
#define TELEM_ATTR_TOPIC "v1/devices/me/attributes"
#define TELEM_SAMPLE_MAX 8192 /* a sample of every key fits in this */

struct cJSON;

struct telem_conf {
	int use_location;          /* add latitude/longitude (legacy use_location) */
	double fallback_lat_deg;   /* sent when the GPS has no position; NaN = leave out */
	double fallback_lon_deg;
};

/*
 * Adds the keys above (all but sample_seq and timestamp_str) for the state s to the cJSON object values.
 * Returns 0 or -ENOMEM.
 */
int telem_add_values(struct cJSON *values, const struct vstate *s, const struct telem_conf *c);

/*
 * One sample of s, timestamped with its data time (s->updated_real_ns, in ms).  Returns the length, -ENODATA when
 * s holds no data yet, -ENOBUFS or -ENOMEM.
 */
int telem_sample(char *buf, size_t size, const struct vstate *s, uint64_t sample_seq, const struct telem_conf *c);

/* Returns the data time of s in unix ms (what telem_sample puts in "ts"), 0 when s holds no data. */
int64_t telem_data_time_ms(const struct vstate *s);

/* A charging session event (from the V2G stage), published as a telemetry sample. */
enum telem_session_kind {
	TELEM_SESSION_START = 1,
	TELEM_SESSION_END = 2,
};

struct telem_session_event {
	enum telem_session_kind kind;
	int64_t t_real_ns;         /* when it happened (CLOCK_REALTIME) */
	uint32_t session_id;
	double soc_pct;            /* at this event; NaN = unknown */
	double energy_kwh;         /* end: energy delivered in the session; NaN = unknown */
	double cost;               /* end: session cost; NaN = unknown */
	double duration_s;         /* end: session length; NaN = unknown */
	double max_current_a;      /* end: highest charging current seen; NaN = unknown */
};

/*
 * {"ts":<event time ms>,"values":{"session_event":"start"|"end","session_id":N, "session_soc":..,
 * "session_energy_kwh":.., "session_cost":.., "session_duration_s":.., "session_max_current":..,
 * "sample_seq":N}} (unknown values left out).  Returns the length, -EINVAL (bad kind), -ENOBUFS or -ENOMEM.
 */
int telem_session(char *buf, size_t size, const struct telem_session_event *ev, uint64_t sample_seq);

/*
 * Client attributes, published on connect to v1/devices/me/attributes:
 * {"sw_version":..,"vehicle_id":..,"dbc_name":..} (a NULL or empty string is left out).
 */
int telem_attributes(char *buf, size_t size, const char *sw_version, const char *vehicle_id, const char *dbc_name);

/*
 * Batches: telem_batch_begin writes "[", telem_batch_add appends an element (a sample string of len bytes, with a
 * comma when it is not the first), telem_batch_end closes it with "]" and a NUL.  *used tracks the length; each
 * returns 0 or -ENOBUFS (nothing written; the batch so far stays valid to end), keeping room for the closing "]".
 */
int telem_batch_begin(char *buf, size_t size, size_t *used);
int telem_batch_add(char *buf, size_t size, size_t *used, const char *elem, size_t len);
int telem_batch_end(char *buf, size_t size, size_t *used);

#endif
