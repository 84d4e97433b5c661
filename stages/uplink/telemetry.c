/* telemetry.c - ThingsBoard telemetry and attribute payloads (see telemetry.h). */
#include "stages/uplink/telemetry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t telem_data_time_ms(const struct vstate *s)
{
	if (s->updated_real_ns <= 0)
		return 0;
	return s->updated_real_ns / 1000000;
}

/* Adds a number when finite; returns 0 or -ENOMEM. */
static int telem__num(cJSON *o, const char *key, double v)
{
	if (!isfinite(v))
		return 0;
	return cJSON_AddNumberToObject(o, key, v) ? 0 : -ENOMEM;
}

static int telem__sig(cJSON *o, const char *key, const struct vstate *s, enum canon_sig sig)
{
	return vstate_has(s, sig) ? telem__num(o, key, s->value[sig]) : 0;
}

static int telem__str(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v) ? 0 : -ENOMEM;
}

int telem_add_values(cJSON *values, const struct vstate *s, const struct telem_conf *c)
{
	int rc = 0;
	char tmp[16];

	/* legacy keys (legacy-system.md), correct values: the merged CSV's mapping */
	rc |= telem__sig(values, "soc", s, SIG_SOC);
	rc |= telem__sig(values, "current", s, SIG_CURRENT);
	if (vstate_has(s, SIG_GEAR) && isfinite(s->value[SIG_GEAR])) {
		double g = s->value[SIG_GEAR];
		rc |= telem__str(values, "gear", g > 0.5 ? "Drive" : g < -0.5 ? "Reverse" : "Neutral");
	}
	if (vstate_has(s, SIG_IGNITION))
		rc |= telem__num(values, "motor_active", s->value[SIG_IGNITION] != 0 ? 1 : 0);
	rc |= telem__sig(values, "accelerator", s, SIG_THROTTLE);
	if (vstate_has(s, SIG_BRAKE))
		rc |= telem__num(values, "brake", s->value[SIG_BRAKE] != 0 ? 1 : 0);
	rc |= telem__sig(values, "motor_speed", s, SIG_SPEED);
	rc |= telem__sig(values, "odometer", s, SIG_ODOMETER);
	rc |= telem__sig(values, "range", s, SIG_RANGE);
	rc |= telem__sig(values, "battery_voltage", s, SIG_PACK_VOLTAGE);
	rc |= telem__sig(values, "available_energy", s, SIG_ENERGY_AVAIL);
	if (vstate_has(s, SIG_BMS_STATE) && isfinite(s->value[SIG_BMS_STATE])) {
		snprintf(tmp, sizeof(tmp), "0x%02X", (unsigned)(int64_t)s->value[SIG_BMS_STATE] & 0xFFu);
		rc |= telem__str(values, "charging_status", tmp);
	}
	rc |= telem__sig(values, "motor_temp", s, SIG_MOTOR_TEMP);
	rc |= telem__sig(values, "power_request", s, SIG_CHARGE_POWER_REQ);
	if (c && c->use_location) {
		const struct gps_fix *g = &s->gps;
		if (s->gps_real_ns && (g->have & GPS_HAVE_POS) && isfinite(g->lat_deg) && isfinite(g->lon_deg)) {
			rc |= telem__num(values, "latitude", g->lat_deg);
			rc |= telem__num(values, "longitude", g->lon_deg);
		} else if (isfinite(c->fallback_lat_deg) && isfinite(c->fallback_lon_deg)) {
			rc |= telem__num(values, "latitude", c->fallback_lat_deg);
			rc |= telem__num(values, "longitude", c->fallback_lon_deg);
		}
	}
	/* canonical names; the ones equal to a legacy key were added above with the same value */
	for (int sig = 0; sig < SIG__COUNT; sig++) {
		const char *name = canon_sig_name((enum canon_sig)sig);
		if (!vstate_has(s, (enum canon_sig)sig) || (sig != SIG_GEAR && cJSON_HasObjectItem(values, name)))
			continue;
		if (sig == SIG_GEAR) {
			rc |= telem__num(values, "gear_code", s->value[sig]);
			continue;
		}
		if (sig == SIG_CHARGE_PHASE) {
			double v = s->value[sig];
			const char *t = v >= 0 && v <= 16 && v == (int)v ? charge_phase_name((int)v) : NULL;
			if (t) {
				rc |= telem__str(values, name, t);
				continue;
			}
		}
		rc |= telem__num(values, name, s->value[sig]);
	}
	return rc ? -ENOMEM : 0;
}

/* Prints o into (buf, size) without formatting; frees o.  Returns the length or -ENOBUFS. */
static int telem__print(cJSON *o, char *buf, size_t size)
{
	int ok = size <= 0x7FFFFFFF && cJSON_PrintPreallocated(o, buf, (int)size, 0);
	cJSON_Delete(o);
	if (!ok)
		return -ENOBUFS;
	return (int)strlen(buf);
}

static void telem__time_str(char *out, size_t size, int64_t ms)
{
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	int milli = (int)(ms - (int64_t)sec * 1000);

	gmtime_r(&sec, &tm);
	snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

int telem_sample(char *buf, size_t size, const struct vstate *s, uint64_t sample_seq, const struct telem_conf *c)
{
	int64_t ts = telem_data_time_ms(s);
	char tstr[40];

	if (ts <= 0)
		return -ENODATA;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	int rc = telem__num(o, "ts", (double)ts);
	cJSON *v = cJSON_AddObjectToObject(o, "values");
	if (!v) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	rc |= telem_add_values(v, s, c);
	telem__time_str(tstr, sizeof(tstr), ts);
	rc |= telem__str(v, "timestamp_str", tstr);
	rc |= telem__num(v, "sample_seq", (double)sample_seq);
	if (rc) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return telem__print(o, buf, size);
}

int telem_session(char *buf, size_t size, const struct telem_session_event *ev, uint64_t sample_seq)
{
	if (ev->kind != TELEM_SESSION_START && ev->kind != TELEM_SESSION_END)
		return -EINVAL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	int rc = telem__num(o, "ts", (double)(ev->t_real_ns / 1000000));
	cJSON *v = cJSON_AddObjectToObject(o, "values");
	if (!v) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	rc |= telem__str(v, "session_event", ev->kind == TELEM_SESSION_START ? "start" : "end");
	rc |= telem__num(v, "session_id", ev->session_id);
	rc |= telem__num(v, "session_soc", ev->soc_pct);
	rc |= telem__num(v, "session_energy_kwh", ev->energy_kwh);
	rc |= telem__num(v, "session_cost", ev->cost);
	rc |= telem__num(v, "session_duration_s", ev->duration_s);
	rc |= telem__num(v, "session_max_current", ev->max_current_a);
	rc |= telem__num(v, "sample_seq", (double)sample_seq);
	if (rc) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return telem__print(o, buf, size);
}

int telem_attributes(char *buf, size_t size, const char *sw_version, const char *vehicle_id, const char *dbc_name)
{
	cJSON *o = cJSON_CreateObject();
	int rc = 0;

	if (!o)
		return -ENOMEM;
	if (sw_version && *sw_version)
		rc |= telem__str(o, "sw_version", sw_version);
	if (vehicle_id && *vehicle_id)
		rc |= telem__str(o, "vehicle_id", vehicle_id);
	if (dbc_name && *dbc_name)
		rc |= telem__str(o, "dbc_name", dbc_name);
	if (rc) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return telem__print(o, buf, size);
}

int telem_batch_begin(char *buf, size_t size, size_t *used)
{
	if (size < 3)
		return -ENOBUFS;
	buf[0] = '[';
	buf[1] = '\0';
	*used = 1;
	return 0;
}

int telem_batch_add(char *buf, size_t size, size_t *used, const char *elem, size_t len)
{
	size_t comma = *used > 1 ? 1 : 0;
	/* room for the element, a comma, the closing ']' and the NUL */
	if (*used + comma + len + 2 > size)
		return -ENOBUFS;
	if (comma)
		buf[(*used)++] = ',';
	memcpy(buf + *used, elem, len);
	*used += len;
	buf[*used] = '\0';
	return 0;
}

int telem_batch_end(char *buf, size_t size, size_t *used)
{
	if (*used + 2 > size)
		return -ENOBUFS;
	buf[(*used)++] = ']';
	buf[*used] = '\0';
	return 0;
}
