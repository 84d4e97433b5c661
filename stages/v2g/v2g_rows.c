/*
 * v2g_rows.c - ESP_now_data and v2g_sessions rows, and the vehicle's own Item (v2g_rows.h).
 *
 * Rows are a few per second at most, so they are built with snprintf into a cursor that fails the whole row when
 * it runs out of room.
 */
#include "stages/v2g/v2g_rows.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stages/log/csv_format.h"

struct v2g__cur {
	char *buf;
	size_t size, len;
	int bad;
};

__attribute__((format(printf, 2, 3))) static void v2g__put(struct v2g__cur *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->bad)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->buf + c->len, c->size - c->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= c->size - c->len)
		c->bad = 1;
	else
		c->len += (size_t)n;
}

/* The fewest decimals (%.Nf, no exponent) that read back to the same float; %.9g for what needs more than 12;
 * empty for NaN/inf. */
static void v2g__f32(struct v2g__cur *c, float f)
{
	char t[64];

	if (!isfinite(f))
		return;
	for (int d = 0; d <= 12; d++) {
		snprintf(t, sizeof(t), "%.*f", d, (double)f);
		if (strtof(t, NULL) == f) {
			v2g__put(c, "%s", t);
			return;
		}
	}
	v2g__put(c, "%.9g", (double)f);
}

/* %.Nf, or nothing when v is not finite. */
static void v2g__fix(struct v2g__cur *c, double v, int decimals)
{
	if (isfinite(v))
		v2g__put(c, "%.*f", decimals, v);
}

static const char *v2g__yn(unsigned v)
{
	return v ? "YES" : "NO";
}

static size_t v2g__done(struct v2g__cur *c)
{
	v2g__put(c, "\n");
	return c->bad ? 0 : c->len;
}

size_t v2g_espnow_row(char *buf, size_t size, const struct hub_item *it, int64_t rx_real_ns, uint64_t link_seq,
		      double distance_m)
{
	struct v2g__cur c = { buf, size, 0, size == 0 };
	char mac[18], t[32];
	size_t tl;

	hub_mac_format(it->mac, mac, sizeof(mac));
	v2g__put(&c, "%s,%u,", mac, (unsigned)it->soc);
	v2g__f32(&c, it->battery_voltage);
	v2g__put(&c, ",");
	v2g__f32(&c, it->battery_current);
	v2g__put(&c, ",");
	v2g__f32(&c, it->available_energy);
	v2g__put(&c, ",%u,", (unsigned)it->charging_status);
	v2g__f32(&c, it->speed_kmh);
	v2g__put(&c, ",");
	v2g__f32(&c, it->acceleration);
	v2g__put(&c, ",%.4s,%s,", memchr(it->gear, 0, 4) ? it->gear : "", v2g__yn(it->brake_status));
	v2g__f32(&c, it->gps_latitude);
	v2g__put(&c, ",");
	v2g__f32(&c, it->gps_longitude);
	v2g__put(&c, ",");
	v2g__f32(&c, it->gps_altitude);
	v2g__put(&c, ",%s,%s,", v2g__yn(it->gps_valid), v2g__yn(it->is_charging_detected));
	v2g__f32(&c, it->desired_soc);
	v2g__put(&c, ",%s,%u,%s,", v2g__yn(it->ready_to_charge), (unsigned)it->timestamp,
		 hub_item_is_station(it) ? "EVCS" : "V2V");
	v2g__f32(&c, it->evcs_session_cost);
	v2g__put(&c, ",");
	v2g__f32(&c, it->evcs_cost_per_kwh);
	v2g__put(&c, ",");
	v2g__f32(&c, it->evcs_max_power);
	v2g__put(&c, ",%u,%s,", (unsigned)it->evcs_session_id, v2g__yn(it->evcs_charging_available));
	tl = csv_fmt_time_ns(t, sizeof(t), rx_real_ns);
	v2g__put(&c, "%.*s,%llu,", (int)tl, t, (unsigned long long)link_seq);
	v2g__fix(&c, distance_m, 1);
	return v2g__done(&c);
}

static void v2g__iso(struct v2g__cur *c, int64_t t_ns)
{
	time_t sec = (time_t)(t_ns >= 0 ? t_ns / 1000000000 : -((-t_ns + 999999999) / 1000000000));
	struct tm tm;
	char t[40];

	if (!gmtime_r(&sec, &tm) || strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		c->bad = 1;
		return;
	}
	v2g__put(c, "%s", t);
}

size_t v2g_session_row(char *buf, size_t size, const struct v2g_record *r)
{
	struct v2g__cur c = { buf, size, 0, size == 0 };
	char mac[18];

	v2g__iso(&c, r->end_real_ns);
	v2g__put(&c, ",%.2f,", (double)r->duration_ns / 60e9);
	v2g__fix(&c, r->soc_start, 2);
	v2g__put(&c, ",");
	v2g__fix(&c, r->soc_end, 2);
	v2g__put(&c, ",");
	v2g__fix(&c, r->soc_end - r->soc_start, 2);
	v2g__put(&c, ",");
	v2g__fix(&c, r->energy_avail_start_kwh, 1);
	v2g__put(&c, ",");
	v2g__fix(&c, r->energy_avail_end_kwh, 1);
	v2g__put(&c, ",");
	v2g__fix(&c, r->energy_batt_kwh, 4);
	v2g__put(&c, ",");
	v2g__fix(&c, r->max_current_a, 2);
	if (r->have_station_id)
		v2g__put(&c, ",%u,", (unsigned)r->station_session_id);
	else
		v2g__put(&c, ",local-%u,", (unsigned)r->local_id);
	hub_mac_format(r->mac, mac, sizeof(mac));
	v2g__put(&c, "%s,", mac);
	v2g__fix(&c, r->energy_station_kwh, 4);
	v2g__put(&c, ",");
	v2g__fix(&c, r->price_per_kwh, 4);
	v2g__put(&c, ",");
	v2g__fix(&c, r->cost, 4);
	v2g__put(&c, ",%s,", v2g_end_name(r->reason));
	v2g__iso(&c, r->start_real_ns);
	v2g__put(&c, ",");
	v2g__iso(&c, r->end_real_ns);
	return v2g__done(&c);
}

static double v2g__sig(const struct vstate *vs, enum canon_sig s)
{
	return vstate_has(vs, s) && isfinite(vs->value[s]) ? vs->value[s] : 0.0;
}

void v2g_own_item(const struct vstate *vs, double desired_soc, int ready_to_charge, uint32_t timestamp_ms,
		  struct hub_item *it)
{
	double soc = v2g__sig(vs, SIG_SOC);

	memset(it, 0, sizeof(*it));
	soc = soc < 0 ? 0 : soc > 100 ? 100 : soc;
	it->soc = (uint16_t)lround(soc);
	it->battery_voltage = (float)v2g__sig(vs, SIG_PACK_VOLTAGE);
	it->battery_current = (float)v2g__sig(vs, SIG_CURRENT);
	it->available_energy = (float)v2g__sig(vs, SIG_ENERGY_AVAIL);
	it->charging_status = (uint8_t)v2g__sig(vs, SIG_BMS_STATE);
	it->speed_kmh = (float)v2g__sig(vs, SIG_SPEED);
	it->acceleration = 0.0f;
	if (!vstate_has(vs, SIG_GEAR))
		memcpy(it->gear, "Unk", 4);
	else if (vs->value[SIG_GEAR] > 0.5)
		memcpy(it->gear, "Dri", 4);
	else if (vs->value[SIG_GEAR] < -0.5)
		memcpy(it->gear, "Rev", 4);
	else
		memcpy(it->gear, "Neu", 4);
	it->brake_status = v2g__sig(vs, SIG_BRAKE) != 0;
	if (vs->gps_real_ns && (vs->gps.have & GPS_HAVE_POS) && isfinite(vs->gps.lat_deg) &&
	    isfinite(vs->gps.lon_deg)) {
		it->gps_latitude = (float)vs->gps.lat_deg;
		it->gps_longitude = (float)vs->gps.lon_deg;
		if ((vs->gps.have & GPS_HAVE_ALT) && isfinite(vs->gps.alt_m))
			it->gps_altitude = (float)vs->gps.alt_m;
		it->gps_valid = vs->gps.valid ? 1 : 0;
	}
	it->is_charging_detected = v2g__sig(vs, SIG_CHARGING) != 0;
	it->desired_soc = (float)(desired_soc >= 0 && desired_soc <= 100 ? desired_soc : 100.0);
	it->ready_to_charge = ready_to_charge ? 1 : 0;
	it->timestamp = timestamp_ms;
}
