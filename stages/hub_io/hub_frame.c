/*
 * hub_frame.c - the hub link's receiver and encoders (hub_frame.h).
 *
 * The legacy receiver is a three-state machine (text, saw AA, body).  Text bytes gather in p->text until LF, a
 * header or HUB_TEXT_MAX; a complete body is validated, and a failed body holding an embedded header is fed again
 * from that header (at most once per byte: the re-fed part is shorter than a body, so it cannot complete a frame
 * inside the re-feed).  In V2 mode p->text holds the COBS unit.  Every unit goes out through hub__emit, which
 * counts it.
 */
#include "stages/hub_io/hub_frame.h"
#include "v2x_le.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

_Static_assert(HUB_ITEM_LEN == V2X_ITEM_LEN, "the v2 item is the legacy item");

enum { HUB__ST_TEXT = 0, HUB__ST_AA = 1, HUB__ST_BODY = 2 };

static const char *const hub__reject_names[HUB_REJ__COUNT] = {
	[HUB_REJ_NONE] = "none",
#define HUB__REJ_NAME(e, name) [HUB_REJ_##e] = name,
	HUB_REJECTS(HUB__REJ_NAME)
#undef HUB__REJ_NAME
};

const char *hub_reject_name(enum hub_reject r)
{
	if ((unsigned)r >= HUB_REJ__COUNT)
		return "invalid";
	return hub__reject_names[r];
}

const char *hub_event_kind_name(enum hub_event_kind k)
{
	static const char *const names[HUB_EV__COUNT] = { "item", "station", "slot", "ack", "ignored", "reject" };

	if ((unsigned)k >= HUB_EV__COUNT)
		return "invalid";
	return names[k];
}

/* ---- little-endian fields at explicit offsets ---- */

void hub_item_unpack(const uint8_t in[HUB_ITEM_LEN], struct hub_item *it)
{
	memset(it, 0, sizeof(*it));
	it->soc = v2x_le_get16(in + 0);
	it->battery_voltage = v2x_le_getf32(in + 4);
	it->battery_current = v2x_le_getf32(in + 8);
	it->available_energy = v2x_le_getf32(in + 12);
	it->charging_status = in[16];
	it->speed_kmh = v2x_le_getf32(in + 20);
	it->acceleration = v2x_le_getf32(in + 24);
	memcpy(it->gear, in + 28, 4);
	it->brake_status = in[32];
	it->gps_latitude = v2x_le_getf32(in + 36);
	it->gps_longitude = v2x_le_getf32(in + 40);
	it->gps_altitude = v2x_le_getf32(in + 44);
	it->gps_valid = in[48];
	it->is_charging_detected = in[49];
	it->desired_soc = v2x_le_getf32(in + 52);
	it->ready_to_charge = in[56];
	memcpy(it->mac, in + 57, 6);
	it->timestamp = v2x_le_get32(in + 64);
	it->evcs_session_cost = v2x_le_getf32(in + 68);
	it->evcs_cost_per_kwh = v2x_le_getf32(in + 72);
	it->evcs_max_power = v2x_le_getf32(in + 76);
	it->evcs_session_id = v2x_le_get32(in + 80);
	it->evcs_charging_available = in[84];
}

void hub_item_pack(const struct hub_item *it, uint8_t out[HUB_ITEM_LEN])
{
	memset(out, 0, HUB_ITEM_LEN);
	v2x_le_put16(out + 0, it->soc);
	v2x_le_putf32(out + 4, it->battery_voltage);
	v2x_le_putf32(out + 8, it->battery_current);
	v2x_le_putf32(out + 12, it->available_energy);
	out[16] = it->charging_status;
	v2x_le_putf32(out + 20, it->speed_kmh);
	v2x_le_putf32(out + 24, it->acceleration);
	memcpy(out + 28, it->gear, 4);
	out[32] = it->brake_status;
	v2x_le_putf32(out + 36, it->gps_latitude);
	v2x_le_putf32(out + 40, it->gps_longitude);
	v2x_le_putf32(out + 44, it->gps_altitude);
	out[48] = it->gps_valid;
	out[49] = it->is_charging_detected;
	v2x_le_putf32(out + 52, it->desired_soc);
	out[56] = it->ready_to_charge;
	memcpy(out + 57, it->mac, 6);
	v2x_le_put32(out + 64, it->timestamp);
	v2x_le_putf32(out + 68, it->evcs_session_cost);
	v2x_le_putf32(out + 72, it->evcs_cost_per_kwh);
	v2x_le_putf32(out + 76, it->evcs_max_power);
	v2x_le_put32(out + 80, it->evcs_session_id);
	out[84] = it->evcs_charging_available;
}

/* ---- validation ---- */

static int hub__in(float v, double lo, double hi)
{
	return (double)v >= lo && (double)v <= hi;
}

enum hub_reject hub_item_validate(const struct hub_item *it)
{
	const float fl[] = { it->battery_voltage, it->battery_current, it->available_energy, it->speed_kmh,
			     it->acceleration,    it->gps_latitude,    it->gps_longitude,    it->gps_altitude,
			     it->desired_soc,     it->evcs_session_cost, it->evcs_cost_per_kwh, it->evcs_max_power };
	int station = hub_item_is_station(it);
	int nul = -1;

	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
		if (!isfinite(fl[i]))
			return HUB_REJ_NON_FINITE;
	if (!station && it->soc > 100)
		return HUB_REJ_SOC_RANGE;
	for (int i = 0; i < 4; i++) {
		if (it->gear[i] == '\0') {
			nul = i;
			break;
		}
		if ((unsigned char)it->gear[i] < 0x20 || (unsigned char)it->gear[i] > 0x7E)
			return HUB_REJ_GEAR;
	}
	if (nul < 0)
		return HUB_REJ_GEAR;
	if (it->brake_status > 1 || it->gps_valid > 1 || it->is_charging_detected > 1 || it->ready_to_charge > 1 ||
	    it->evcs_charging_available > 1)
		return HUB_REJ_BAD_BOOL;
	if (!hub__in(it->gps_latitude, -90.0, 90.0) || !hub__in(it->gps_longitude, -180.0, 180.0) ||
	    !hub__in(it->gps_altitude, HUB_ALT_MIN, HUB_ALT_MAX))
		return HUB_REJ_GPS_RANGE;
	{
		static const uint8_t zero[6], bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

		if (!memcmp(it->mac, zero, 6) || !memcmp(it->mac, bcast, 6) || (it->mac[0] & 1))
			return HUB_REJ_BAD_MAC;
	}
	int evcs_ok = hub__in(it->evcs_session_cost, 0, HUB_COST_MAX) &&
		      hub__in(it->evcs_cost_per_kwh, 0, HUB_PRICE_MAX) && hub__in(it->evcs_max_power, 0, HUB_POWER_MAX);
	if (station) {
		if (!evcs_ok || !hub__in(it->battery_voltage, 0, HUB_ST_VOLT_MAX) ||
		    !hub__in(it->battery_current, 0, HUB_ST_CURR_MAX) ||
		    !hub__in(it->available_energy, 0, HUB_ST_ENERGY_MAX))
			return HUB_REJ_STATION_FIELDS;
		return HUB_REJ_NONE;
	}
	if (!hub__in(it->battery_voltage, 0, HUB_VEH_VOLT_MAX))
		return HUB_REJ_VOLTAGE_RANGE;
	if (!hub__in(it->battery_current, -HUB_VEH_CURR_ABS_MAX, HUB_VEH_CURR_ABS_MAX))
		return HUB_REJ_CURRENT_RANGE;
	if (!hub__in(it->available_energy, 0, HUB_VEH_ENERGY_MAX))
		return HUB_REJ_ENERGY_RANGE;
	if (!hub__in(it->speed_kmh, -HUB_SPEED_ABS_MAX, HUB_SPEED_ABS_MAX) ||
	    !hub__in(it->acceleration, -HUB_ACCEL_ABS_MAX, HUB_ACCEL_ABS_MAX))
		return HUB_REJ_SPEED_RANGE;
	if (!hub__in(it->desired_soc, 0, 100))
		return HUB_REJ_DESIRED_SOC_RANGE;
	if (!evcs_ok)
		return HUB_REJ_EVCS_RANGE;
	return HUB_REJ_NONE;
}

/* ---- receiver ---- */

void hub_parser_init(struct hub_parser *p, enum hub_format mode)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->fixed = mode != HUB_FMT_AUTO;
	p->seen = mode;
}

enum hub_format hub_parser_format(const struct hub_parser *p)
{
	return p->mode == HUB_FMT_V2 ? HUB_FMT_V2 : p->seen;
}

static void hub__emit(struct hub_parser *p, struct hub_event *ev, hub_emit_fn emit, void *ctx)
{
	p->stats.events[ev->kind]++;
	if (ev->kind == HUB_EV_REJECT)
		p->stats.rejects[ev->reason]++;
	else if (ev->kind != HUB_EV_IGNORED && !p->fixed)
		p->seen = ev->unit_format;
	emit(ctx, ev);
}

static void hub__ev_init(struct hub_event *ev, enum hub_format f, const uint8_t *raw, size_t len)
{
	memset(ev, 0, sizeof(*ev));
	ev->unit_format = f;
	ev->raw = raw;
	ev->len = len;
}

static int hub__is_text_byte(uint8_t c)
{
	return (c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\r' || c == 0x1B;
}

/* Emits text[0..n) as one unit (nothing for an empty one or a lone CR). */
static void hub__text_unit(struct hub_parser *p, const uint8_t *s, size_t n, hub_emit_fn emit, void *ctx)
{
	struct hub_event ev;
	size_t m = n;

	if (m && s[m - 1] == '\r')
		m--;
	if (m == 0)
		return;
	hub__ev_init(&ev, HUB_FMT_LEGACY, s, m);
	ev.kind = HUB_EV_IGNORED;
	for (size_t i = 0; i < m; i++)
		if (!hub__is_text_byte(s[i])) {
			ev.kind = HUB_EV_REJECT;
			ev.reason = HUB_REJ_GARBAGE;
			break;
		}
	hub__emit(p, &ev, emit, ctx);
}

static void hub__text_flush(struct hub_parser *p, hub_emit_fn emit, void *ctx)
{
	hub__text_unit(p, p->text, p->text_len, emit, ctx);
	p->text_len = 0;
	p->seg = 0;
}

static enum hub_reject hub__v2_reason(int err)
{
	switch (err) {
	case -EILSEQ: return HUB_REJ_V2_COBS;
	case -ENODATA: return HUB_REJ_V2_SHORT;
	case -EBADMSG: return HUB_REJ_V2_CRC;
	case -ENOMSG: return HUB_REJ_V2_TYPE;
	default: return HUB_REJ_V2_PAYLOAD; /* -EMSGSIZE, -EPROTO */
	}
}

static void hub__item_event(struct hub_event *ev, const uint8_t *item)
{
	hub_item_unpack(item, &ev->item);
	ev->reason = hub_item_validate(&ev->item);
	if (ev->reason != HUB_REJ_NONE)
		ev->kind = HUB_EV_REJECT;
	else
		ev->kind = hub_item_is_station(&ev->item) ? HUB_EV_STATION : HUB_EV_ITEM;
}

/* Sequence accounting for a frame whose CRC was right. */
static void hub__seq(struct hub_parser *p, uint32_t seq)
{
	if (p->seq_known) {
		uint32_t d = seq - p->last_seq;

		if (d == 0 || d > 0x80000000u)
			p->stats.v2_restarts++;
		else
			p->stats.v2_lost += d - 1;
	}
	p->seq_known = 1;
	p->last_seq = seq;
}

/* Decodes a v2 unit into *ev.  Returns 0 when it was a valid frame (whatever the event), else the decode error. */
static int hub__v2_unit(struct hub_parser *p, const uint8_t *s, size_t n, struct v2x_frame *fr, struct hub_event *ev)
{
	int rc;

	hub__ev_init(ev, HUB_FMT_V2, s, n);
	rc = v2x_frame_decode(s, n, fr);
	if (rc < 0) {
		ev->kind = HUB_EV_REJECT;
		ev->reason = hub__v2_reason(rc);
		return rc;
	}
	ev->v2 = fr;
	ev->has_seq = 1;
	ev->seq = fr->seq;
	ev->dev_time_us = fr->dev_time_us;
	switch (fr->type) {
	case V2X_T_V2X_ITEM:
		hub__item_event(ev, fr->payload);
		break;
	case V2X_T_STATION:
		if (v2x_station_unpack(fr->payload, fr->len, &ev->slot) < 0) {
			ev->kind = HUB_EV_REJECT;
			ev->reason = HUB_REJ_V2_PAYLOAD;
		} else if (ev->slot.lat_e7 < -900000000 || ev->slot.lat_e7 > 900000000 ||
			   ev->slot.lon_e7 < -1800000000 || ev->slot.lon_e7 > 1800000000) {
			ev->kind = HUB_EV_REJECT;
			ev->reason = HUB_REJ_GPS_RANGE;
		} else {
			ev->kind = HUB_EV_SLOT;
		}
		break;
	case V2X_T_ACK:
		ev->kind = HUB_EV_ACK;
		ev->ack_seq = v2x_le_get32(fr->payload);
		ev->ack_type = fr->payload[4];
		ev->ack_result = fr->payload[5];
		break;
	case V2X_T_STATUS:
		ev->kind = HUB_EV_IGNORED;
		break;
	default: /* CAN, NMEA, CMD: never sent by a hub */
		ev->kind = HUB_EV_REJECT;
		ev->reason = HUB_REJ_V2_DIRECTION;
		break;
	}
	return 0;
}

static void hub__feed_legacy(struct hub_parser *p, const uint8_t *s, size_t n, hub_emit_fn emit, void *ctx);

/* A complete legacy body in p->body[2..90). */
static void hub__body_done(struct hub_parser *p, hub_emit_fn emit, void *ctx)
{
	struct hub_event ev;
	uint8_t refeed[HUB_ITEM_LEN];
	size_t k, rn = 0;

	p->st = HUB__ST_TEXT;
	p->body_len = 0;
	hub__ev_init(&ev, HUB_FMT_LEGACY, p->body, HUB_LEGACY_FRAME_LEN);
	hub__item_event(&ev, p->body + 2);
	if (ev.kind == HUB_EV_REJECT) {
		const uint8_t *b = p->body + 2;

		for (k = 0; k < HUB_ITEM_LEN; k++)
			if (b[k] == 0xAA && (k + 1 == HUB_ITEM_LEN || b[k + 1] == 0x55))
				break;
		if (k < HUB_ITEM_LEN) {
			if (k + 1 < HUB_ITEM_LEN) {
				ev.reason = HUB_REJ_TRUNCATED;
				ev.len = 2 + k; /* the frame as far as the next header */
			}
			rn = HUB_ITEM_LEN - k;
			memcpy(refeed, b + k, rn);
		}
	}
	hub__emit(p, &ev, emit, ctx);
	if (rn)
		hub__feed_legacy(p, refeed, rn, emit, ctx);
}

/* Tries text[seg..text_len) as a v2 frame at a 0x00.  Returns 1 when it was one (and the port switched to V2). */
static int hub__try_v2(struct hub_parser *p, hub_emit_fn emit, void *ctx)
{
	struct v2x_frame fr;
	struct hub_event ev;
	size_t n = (size_t)(p->text_len - p->seg);

	if (n < V2X_FRAME_MIN || hub__v2_unit(p, p->text + p->seg, n, &fr, &ev) < 0)
		return 0;
	hub__text_unit(p, p->text, p->seg, emit, ctx);
	hub__seq(p, fr.seq);
	p->mode = HUB_FMT_V2;
	hub__emit(p, &ev, emit, ctx);
	p->text_len = 0;
	p->seg = 0;
	p->v2_len = 0;
	return 1;
}

static void hub__feed_v2(struct hub_parser *p, const uint8_t *s, size_t n, hub_emit_fn emit, void *ctx);

static void hub__text_byte(struct hub_parser *p, uint8_t c, hub_emit_fn emit, void *ctx)
{
	if (c == '\n') {
		hub__text_flush(p, emit, ctx);
		return;
	}
	if (c == 0x00 && p->mode == HUB_FMT_AUTO && hub__try_v2(p, emit, ctx))
		return;
	p->text[p->text_len++] = c;
	if (c == 0x00)
		p->seg = p->text_len;
	if (p->text_len >= HUB_TEXT_MAX)
		hub__text_flush(p, emit, ctx);
}

/* The legacy receiver; returns early when the port switched to V2 (the rest goes to the v2 receiver). */
static void hub__feed_legacy(struct hub_parser *p, const uint8_t *s, size_t n, hub_emit_fn emit, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		switch (p->st) {
		case HUB__ST_BODY:
			p->body[2 + p->body_len++] = c;
			if (p->body_len == HUB_ITEM_LEN)
				hub__body_done(p, emit, ctx);
			break;
		case HUB__ST_AA:
			if (c == 0x55) {
				hub__text_flush(p, emit, ctx);
				p->body[0] = 0xAA;
				p->body[1] = 0x55;
				p->body_len = 0;
				p->st = HUB__ST_BODY;
				break;
			}
			hub__text_byte(p, 0xAA, emit, ctx); /* the AA was not a header */
			if (c == 0xAA)
				break; /* AA AA 55: the second AA may start the header */
			p->st = HUB__ST_TEXT;
			hub__text_byte(p, c, emit, ctx);
			break;
		default:
			if (c == 0xAA)
				p->st = HUB__ST_AA;
			else
				hub__text_byte(p, c, emit, ctx);
			break;
		}
		if (p->mode == HUB_FMT_V2) {
			hub__feed_v2(p, s + i + 1, n - i - 1, emit, ctx);
			return;
		}
	}
}

static void hub__v2_end(struct hub_parser *p, hub_emit_fn emit, void *ctx)
{
	struct v2x_frame fr;
	struct hub_event ev;

	if (p->dead) {
		p->dead = 0;
	} else if (p->v2_len) {
		if (hub__v2_unit(p, p->text, p->v2_len, &fr, &ev) == 0)
			hub__seq(p, fr.seq);
		hub__emit(p, &ev, emit, ctx);
	}
	p->v2_len = 0;
}

static void hub__feed_v2(struct hub_parser *p, const uint8_t *s, size_t n, hub_emit_fn emit, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == 0x00) {
			hub__v2_end(p, emit, ctx);
			continue;
		}
		if (p->dead)
			continue;
		p->text[p->v2_len++] = c;
		if (p->v2_len > V2X_WIRE_MAX - 1) {
			struct hub_event ev;

			hub__ev_init(&ev, HUB_FMT_V2, p->text, p->v2_len);
			ev.kind = HUB_EV_REJECT;
			ev.reason = HUB_REJ_OVERLONG;
			hub__emit(p, &ev, emit, ctx);
			p->v2_len = 0;
			if (p->fixed) {
				p->dead = 1;
				continue;
			}
			/* a legacy hub again: back to detection, the rest goes to the legacy receiver */
			p->mode = HUB_FMT_AUTO;
			p->seen = HUB_FMT_AUTO;
			p->st = HUB__ST_TEXT;
			p->text_len = 0;
			p->seg = 0;
			hub__feed_legacy(p, s + i + 1, n - i - 1, emit, ctx);
			return;
		}
	}
}

void hub_parser_feed(struct hub_parser *p, const void *buf, size_t n, hub_emit_fn emit, void *ctx)
{
	p->stats.bytes += n;
	if (p->mode == HUB_FMT_V2)
		hub__feed_v2(p, buf, n, emit, ctx);
	else
		hub__feed_legacy(p, buf, n, emit, ctx);
}

void hub_parser_finish(struct hub_parser *p, hub_emit_fn emit, void *ctx)
{
	if (p->mode == HUB_FMT_V2) {
		hub__v2_end(p, emit, ctx);
		return;
	}
	if (p->st == HUB__ST_BODY) {
		struct hub_event ev;

		hub__ev_init(&ev, HUB_FMT_LEGACY, p->body, 2u + p->body_len);
		ev.kind = HUB_EV_REJECT;
		ev.reason = HUB_REJ_TRUNCATED;
		hub__emit(p, &ev, emit, ctx);
	} else if (p->st == HUB__ST_AA) {
		p->text[p->text_len++] = 0xAA;
	}
	p->st = HUB__ST_TEXT;
	p->body_len = 0;
	hub__text_flush(p, emit, ctx);
}

/* ---- encoders ---- */

int hub_encode_legacy(const struct hub_item *it, uint8_t *out, size_t size)
{
	if (size < HUB_LEGACY_FRAME_LEN)
		return -ENOBUFS;
	out[0] = 0xAA;
	out[1] = 0x55;
	hub_item_pack(it, out + 2);
	return HUB_LEGACY_FRAME_LEN;
}

int hub_encode_v2_item(const struct hub_item *it, uint32_t seq, uint32_t dev_time_us, uint8_t *out, size_t size)
{
	uint8_t item[HUB_ITEM_LEN];

	hub_item_pack(it, item);
	return v2x_frame_encode(V2X_T_V2X_ITEM, seq, dev_time_us, item, sizeof(item), out, size);
}

int hub_encode_stop(uint32_t seq, uint32_t dev_time_us, uint8_t *out, size_t size)
{
	const uint8_t code = HUB_CMD_STOP_CHARGING;

	return v2x_frame_encode(V2X_T_CMD, seq, dev_time_us, &code, 1, out, size);
}

int hub_is_stop_cmd(const uint8_t *payload, size_t len)
{
	return len >= 1 && payload[0] == HUB_CMD_STOP_CHARGING;
}

int hub_mac_format(const uint8_t mac[6], char *buf, size_t size)
{
	return snprintf(buf, size, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
