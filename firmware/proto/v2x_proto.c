/*
 * v2x_proto.c - the V2 frame: CRC-16/CCITT-FALSE, COBS, frame encode/decode and payload packing.
 *
 * The format is documented in firmware/include/v2x_proto.h.  COBS follows the original paper: the input is cut at
 * every zero byte and after every run of 254 non-zero bytes; each block is written as its length + 1 followed by
 * its bytes, the zero being implied between blocks except after a full (0xFF) block.  An input that ends exactly
 * with a full block gets no trailing 0x01 block (the common "Wikipedia" form); the decoder accepts both.
 */
#include "v2x_proto.h"
#include "v2x_le.h"

#include <errno.h>
#include <string.h>

/*
 * v2x__crc_table[i]: the CRC register after shifting the byte i through it from zero (polynomial 0x1021, MSB
 * first), so one byte costs a look-up instead of eight conditional shifts (the bitwise loop was 10 to 20 % of v2xd's
 * CPU at the maximum rate: every CAN batch frame is checked).  512 bytes of flash on the ESP32.  test_v2x_proto
 * checks every entry against the bitwise definition and the catalogue's check value.
 */
static const uint16_t v2x__crc_table[256] = {
	0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
	0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
	0x1231, 0x0210, 0x3273, 0x2252, 0x52B5, 0x4294, 0x72F7, 0x62D6,
	0x9339, 0x8318, 0xB37B, 0xA35A, 0xD3BD, 0xC39C, 0xF3FF, 0xE3DE,
	0x2462, 0x3443, 0x0420, 0x1401, 0x64E6, 0x74C7, 0x44A4, 0x5485,
	0xA56A, 0xB54B, 0x8528, 0x9509, 0xE5EE, 0xF5CF, 0xC5AC, 0xD58D,
	0x3653, 0x2672, 0x1611, 0x0630, 0x76D7, 0x66F6, 0x5695, 0x46B4,
	0xB75B, 0xA77A, 0x9719, 0x8738, 0xF7DF, 0xE7FE, 0xD79D, 0xC7BC,
	0x48C4, 0x58E5, 0x6886, 0x78A7, 0x0840, 0x1861, 0x2802, 0x3823,
	0xC9CC, 0xD9ED, 0xE98E, 0xF9AF, 0x8948, 0x9969, 0xA90A, 0xB92B,
	0x5AF5, 0x4AD4, 0x7AB7, 0x6A96, 0x1A71, 0x0A50, 0x3A33, 0x2A12,
	0xDBFD, 0xCBDC, 0xFBBF, 0xEB9E, 0x9B79, 0x8B58, 0xBB3B, 0xAB1A,
	0x6CA6, 0x7C87, 0x4CE4, 0x5CC5, 0x2C22, 0x3C03, 0x0C60, 0x1C41,
	0xEDAE, 0xFD8F, 0xCDEC, 0xDDCD, 0xAD2A, 0xBD0B, 0x8D68, 0x9D49,
	0x7E97, 0x6EB6, 0x5ED5, 0x4EF4, 0x3E13, 0x2E32, 0x1E51, 0x0E70,
	0xFF9F, 0xEFBE, 0xDFDD, 0xCFFC, 0xBF1B, 0xAF3A, 0x9F59, 0x8F78,
	0x9188, 0x81A9, 0xB1CA, 0xA1EB, 0xD10C, 0xC12D, 0xF14E, 0xE16F,
	0x1080, 0x00A1, 0x30C2, 0x20E3, 0x5004, 0x4025, 0x7046, 0x6067,
	0x83B9, 0x9398, 0xA3FB, 0xB3DA, 0xC33D, 0xD31C, 0xE37F, 0xF35E,
	0x02B1, 0x1290, 0x22F3, 0x32D2, 0x4235, 0x5214, 0x6277, 0x7256,
	0xB5EA, 0xA5CB, 0x95A8, 0x8589, 0xF56E, 0xE54F, 0xD52C, 0xC50D,
	0x34E2, 0x24C3, 0x14A0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
	0xA7DB, 0xB7FA, 0x8799, 0x97B8, 0xE75F, 0xF77E, 0xC71D, 0xD73C,
	0x26D3, 0x36F2, 0x0691, 0x16B0, 0x6657, 0x7676, 0x4615, 0x5634,
	0xD94C, 0xC96D, 0xF90E, 0xE92F, 0x99C8, 0x89E9, 0xB98A, 0xA9AB,
	0x5844, 0x4865, 0x7806, 0x6827, 0x18C0, 0x08E1, 0x3882, 0x28A3,
	0xCB7D, 0xDB5C, 0xEB3F, 0xFB1E, 0x8BF9, 0x9BD8, 0xABBB, 0xBB9A,
	0x4A75, 0x5A54, 0x6A37, 0x7A16, 0x0AF1, 0x1AD0, 0x2AB3, 0x3A92,
	0xFD2E, 0xED0F, 0xDD6C, 0xCD4D, 0xBDAA, 0xAD8B, 0x9DE8, 0x8DC9,
	0x7C26, 0x6C07, 0x5C64, 0x4C45, 0x3CA2, 0x2C83, 0x1CE0, 0x0CC1,
	0xEF1F, 0xFF3E, 0xCF5D, 0xDF7C, 0xAF9B, 0xBFBA, 0x8FD9, 0x9FF8,
	0x6E17, 0x7E36, 0x4E55, 0x5E74, 0x2E93, 0x3EB2, 0x0ED1, 0x1EF0,
};

uint16_t v2x_crc16(uint16_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)((crc << 8) ^ v2x__crc_table[(crc >> 8) ^ b[i]]);
	return crc;
}

int v2x_cobs_encode(const void *src, size_t n, uint8_t *dst, size_t size)
{
	const uint8_t *in = src;
	size_t out = 1, code_at = 0;
	uint8_t code = 1;

	if (size < 1)
		return -ENOBUFS;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == 0) {
			dst[code_at] = code;
			code = 1;
			code_at = out++;
			if (out > size)
				return -ENOBUFS;
			continue;
		}
		if (out >= size)
			return -ENOBUFS;
		dst[out++] = in[i];
		if (++code == 0xFF) {
			dst[code_at] = code;
			code = 1;
			if (i + 1 == n)
				return (int)out; /* ends with a full block: no trailing 0x01 */
			code_at = out++;
			if (out > size)
				return -ENOBUFS;
		}
	}
	dst[code_at] = code;
	return (int)out;
}

int v2x_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t size)
{
	size_t i = 0, out = 0;

	/* One vectorised scan for a zero instead of a test per byte: v2 CAN data is mostly short blocks. */
	if (n && memchr(src, 0, n))
		return -EILSEQ;
	while (i < n) {
		size_t run = (size_t)src[i++] - 1;

		if (run > n - i)
			return -EILSEQ;
		if (run > size - out)
			return -EMSGSIZE;
		memcpy(dst + out, src + i, run);
		i += run;
		out += run;
		if (run != 0xFE && i < n) {
			if (out >= size)
				return -EMSGSIZE;
			dst[out++] = 0;
		}
	}
	return (int)out;
}

/* Whether an id with flag bits is a legal CAN identifier for v2 frames. */
static int v2x__can_id_ok(uint32_t id)
{
	uint32_t raw = id & ~(V2X_CAN_EFF_FLAG | V2X_CAN_RTR_FLAG);

	if (id & V2X_CAN_EFF_FLAG)
		return raw <= 0x1FFFFFFFu;
	return raw <= 0x7FFu;
}

/*
 * Walk a V2X_T_CAN_BATCH payload: check every rule of v2x_proto.h and, when e is not NULL, unpack the entries into
 * e[0..max).  Returns the entry count or -EPROTO.
 */
static int v2x__batch_walk(const uint8_t *p, size_t len, struct v2x_can_entry *e, size_t max)
{
	size_t count, at = V2X_CAN_BATCH_HDR, i;
	uint16_t prev = 0;

	if (len < V2X_CAN_BATCH_HDR + V2X_CAN_ENTRY_MIN)
		return -EPROTO;
	count = p[0];
	if (count < 1 || count > V2X_CAN_BATCH_MAX || (e && count > max))
		return -EPROTO;
	for (i = 0; i < count; i++) {
		if (len - at < V2X_CAN_ENTRY_MIN)
			return -EPROTO;
		uint16_t off = v2x_le_get16(p + at);
		uint32_t id = v2x_le_get32(p + at + 2);
		uint8_t dlc = p[at + 6];
		if (off < prev || !v2x__can_id_ok(id) || dlc > 8)
			return -EPROTO;
		size_t nd = (id & V2X_CAN_RTR_FLAG) ? 0u : dlc;
		if (len - at - V2X_CAN_ENTRY_MIN < nd)
			return -EPROTO;
		if (e) {
			e[i].offset_us = off;
			e[i].can.id = id;
			e[i].can.dlc = dlc;
			memset(e[i].can.data, 0, sizeof(e[i].can.data));
			memcpy(e[i].can.data, p + at + V2X_CAN_ENTRY_MIN, nd);
		}
		prev = off;
		at += V2X_CAN_ENTRY_MIN + nd;
	}
	return at == len ? (int)count : -EPROTO;
}

int v2x_payload_check(uint8_t type, const uint8_t *payload, size_t len)
{
	if (type < V2X_T_FIRST || type > V2X_T_LAST)
		return -ENOMSG;
	if (len > V2X_MAX_PAYLOAD)
		return -EMSGSIZE;
	switch ((enum v2x_type)type) {
	case V2X_T_CAN: {
		if (len < V2X_CAN_MIN_LEN)
			return -EPROTO;
		uint32_t id = v2x_le_get32(payload);
		uint8_t dlc = payload[4];
		if (!v2x__can_id_ok(id) || dlc > 8)
			return -EPROTO;
		size_t want = V2X_CAN_MIN_LEN + ((id & V2X_CAN_RTR_FLAG) ? 0u : dlc);
		return len == want ? 0 : -EPROTO;
	}
	case V2X_T_NMEA:
		if (len < 1 || payload[0] != '$')
			return -EPROTO;
		for (size_t i = 0; i < len; i++)
			if (payload[i] < 0x20 || payload[i] > 0x7E)
				return -EPROTO;
		return 0;
	case V2X_T_STATUS:
		if (len != V2X_STATUS_LEN || payload[0] > 1 || payload[1] > 1)
			return -EPROTO;
		return 0;
	case V2X_T_V2X_ITEM:
		return len == V2X_ITEM_LEN ? 0 : -EPROTO;
	case V2X_T_STATION:
		if (len != V2X_STATION_LEN || payload[1] > 1 || payload[18] > 100 || payload[19] > 1)
			return -EPROTO;
		return 0;
	case V2X_T_CMD:
		return (len >= 1 && payload[0] != 0) ? 0 : -EPROTO;
	case V2X_T_ACK:
		return len == V2X_ACK_LEN ? 0 : -EPROTO;
	case V2X_T_CAN_BATCH:
		return v2x__batch_walk(payload, len, NULL, 0) < 0 ? -EPROTO : 0;
	}
	return -ENOMSG;
}

int v2x_frame_encode(uint8_t type, uint32_t seq, uint32_t dev_time_us, const void *payload, size_t len, uint8_t *out,
		     size_t size)
{
	uint8_t raw[V2X_FRAME_MAX];
	int rc = v2x_payload_check(type, payload, len);

	if (rc < 0)
		return rc;
	raw[0] = type;
	v2x_le_put32(raw + 1, seq);
	v2x_le_put32(raw + 5, dev_time_us);
	if (len)
		memcpy(raw + V2X_HDR_LEN, payload, len);
	uint16_t crc = v2x_crc16(0xFFFF, raw, V2X_HDR_LEN + len);
	v2x_le_put16(raw + V2X_HDR_LEN + len, crc);
	if (size < 1)
		return -ENOBUFS;
	rc = v2x_cobs_encode(raw, V2X_HDR_LEN + len + V2X_CRC_LEN, out, size - 1);
	if (rc < 0)
		return rc;
	out[rc] = 0;
	return rc + 1;
}

/*
 * COBS never grows data, so n input bytes decode to at most n: decoding into a buffer of n bytes tells -EILSEQ (not
 * COBS) from a frame that is too short or too long in one pass, with the same precedence as checking first.
 */
int v2x_frame_decode(const uint8_t *cobs, size_t n, struct v2x_frame *out)
{
	uint8_t raw[V2X_COBS_MAX(V2X_FRAME_MAX) + 1];
	int len;

	if (n <= sizeof(raw)) {
		len = v2x_cobs_decode(cobs, n, raw, n);
		if (len < 0)
			return len;
	} else {
		/* longer than any frame's encoding: the error is -EILSEQ if it is not COBS, else -EMSGSIZE */
		size_t i = 0;
		if (memchr(cobs, 0, n))
			return -EILSEQ;
		while (i < n) {
			size_t run = (size_t)cobs[i++] - 1;
			if (run > n - i)
				return -EILSEQ;
			i += run;
		}
		return -EMSGSIZE;
	}
	if (len < V2X_FRAME_MIN)
		return -ENODATA;
	if (len > V2X_FRAME_MAX)
		return -EMSGSIZE;
	size_t plen = (size_t)len - V2X_FRAME_MIN;
	uint16_t crc = v2x_crc16(0xFFFF, raw, (size_t)len - V2X_CRC_LEN);
	if (crc != v2x_le_get16(raw + len - V2X_CRC_LEN))
		return -EBADMSG;
	int rc = v2x_payload_check(raw[0], raw + V2X_HDR_LEN, plen);
	if (rc < 0)
		return rc;
	out->type = raw[0];
	out->seq = v2x_le_get32(raw + 1);
	out->dev_time_us = v2x_le_get32(raw + 5);
	out->len = (uint16_t)plen;
	memcpy(out->payload, raw + V2X_HDR_LEN, plen);
	return 0;
}

const char *v2x_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -EILSEQ:
		return "bad_cobs";
	case -ENODATA:
		return "too_short";
	case -EMSGSIZE:
		return "too_long";
	case -EBADMSG:
		return "bad_crc";
	case -ENOMSG:
		return "unknown_type";
	case -EPROTO:
		return "bad_payload";
	case -ENOBUFS:
		return "no_buffer_space";
	default:
		return "unknown_error";
	}
}

int v2x_can_pack(const struct v2x_can *c, uint8_t *out, size_t size)
{
	if (!v2x__can_id_ok(c->id) || c->dlc > 8)
		return -EPROTO;
	size_t n = V2X_CAN_MIN_LEN + ((c->id & V2X_CAN_RTR_FLAG) ? 0u : c->dlc);
	if (size < n)
		return -ENOBUFS;
	v2x_le_put32(out, c->id);
	out[4] = c->dlc;
	memcpy(out + V2X_CAN_MIN_LEN, c->data, n - V2X_CAN_MIN_LEN);
	return (int)n;
}

int v2x_can_unpack(const uint8_t *payload, size_t len, struct v2x_can *c)
{
	if (v2x_payload_check(V2X_T_CAN, payload, len) < 0)
		return -EPROTO;
	c->id = v2x_le_get32(payload);
	c->dlc = payload[4];
	memset(c->data, 0, sizeof(c->data));
	memcpy(c->data, payload + V2X_CAN_MIN_LEN, len - V2X_CAN_MIN_LEN);
	return 0;
}

int v2x_status_pack(const struct v2x_status *s, uint8_t *out, size_t size)
{
	if (size < V2X_STATUS_LEN)
		return -ENOBUFS;
	out[0] = s->can_ok ? 1 : 0;
	out[1] = s->gps_ok ? 1 : 0;
	out[2] = s->sats;
	v2x_le_put16(out + 3, s->hdop_centi);
	v2x_le_put32(out + 5, s->can_overruns);
	v2x_le_put32(out + 9, s->tx_dropped);
	v2x_le_put32(out + 13, s->can_bus_errors);
	v2x_le_put32(out + 17, s->uptime_ms);
	return V2X_STATUS_LEN;
}

int v2x_status_unpack(const uint8_t *payload, size_t len, struct v2x_status *s)
{
	if (v2x_payload_check(V2X_T_STATUS, payload, len) < 0)
		return -EPROTO;
	s->can_ok = payload[0];
	s->gps_ok = payload[1];
	s->sats = payload[2];
	s->hdop_centi = v2x_le_get16(payload + 3);
	s->can_overruns = v2x_le_get32(payload + 5);
	s->tx_dropped = v2x_le_get32(payload + 9);
	s->can_bus_errors = v2x_le_get32(payload + 13);
	s->uptime_ms = v2x_le_get32(payload + 17);
	return 0;
}

int v2x_station_pack(const struct v2x_station *s, uint8_t *out, size_t size)
{
	if (size < V2X_STATION_LEN)
		return -ENOBUFS;
	out[0] = s->slot;
	out[1] = s->status ? 1 : 0;
	v2x_le_put16(out + 2, s->voltage_dv);
	v2x_le_put32(out + 4, s->current_ma);
	v2x_le_put32(out + 8, s->power_dw);
	v2x_le_put32(out + 12, s->energy_wh);
	v2x_le_put16(out + 16, s->freq_dhz);
	out[18] = s->pf_centi > 100 ? 100 : s->pf_centi;
	out[19] = s->alarm ? 1 : 0;
	v2x_le_put32(out + 20, (uint32_t)s->lat_e7);
	v2x_le_put32(out + 24, (uint32_t)s->lon_e7);
	return V2X_STATION_LEN;
}

int v2x_station_unpack(const uint8_t *payload, size_t len, struct v2x_station *s)
{
	if (v2x_payload_check(V2X_T_STATION, payload, len) < 0)
		return -EPROTO;
	s->slot = payload[0];
	s->status = payload[1];
	s->voltage_dv = v2x_le_get16(payload + 2);
	s->current_ma = v2x_le_get32(payload + 4);
	s->power_dw = v2x_le_get32(payload + 8);
	s->energy_wh = v2x_le_get32(payload + 12);
	s->freq_dhz = v2x_le_get16(payload + 16);
	s->pf_centi = payload[18];
	s->alarm = payload[19];
	s->lat_e7 = (int32_t)v2x_le_get32(payload + 20);
	s->lon_e7 = (int32_t)v2x_le_get32(payload + 24);
	return 0;
}

size_t v2x_can_entry_len(const struct v2x_can *c)
{
	if (!v2x__can_id_ok(c->id) || c->dlc > 8)
		return 0;
	return V2X_CAN_ENTRY_MIN + ((c->id & V2X_CAN_RTR_FLAG) ? 0u : c->dlc);
}

int v2x_can_batch_pack(uint32_t first_can, const struct v2x_can_entry *e, size_t n, uint8_t *out, size_t size)
{
	size_t total = V2X_CAN_BATCH_HDR, i;

	if (n < 1 || n > V2X_CAN_BATCH_MAX)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		size_t el = v2x_can_entry_len(&e[i].can);
		if (el == 0 || (i && e[i].offset_us < e[i - 1].offset_us))
			return -EPROTO;
		total += el;
	}
	if (total > V2X_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (size < total)
		return -ENOBUFS;
	out[0] = (uint8_t)n;
	v2x_le_put32(out + 1, first_can);
	size_t at = V2X_CAN_BATCH_HDR;
	for (i = 0; i < n; i++) {
		size_t nd = v2x_can_entry_len(&e[i].can) - V2X_CAN_ENTRY_MIN;
		v2x_le_put16(out + at, e[i].offset_us);
		v2x_le_put32(out + at + 2, e[i].can.id);
		out[at + 6] = e[i].can.dlc;
		memcpy(out + at + V2X_CAN_ENTRY_MIN, e[i].can.data, nd);
		at += V2X_CAN_ENTRY_MIN + nd;
	}
	return (int)total;
}

int v2x_can_batch_unpack(const uint8_t *payload, size_t len, uint32_t *first_can, struct v2x_can_entry *e,
			 size_t max)
{
	if (len > V2X_MAX_PAYLOAD)
		return -EPROTO;
	int n = v2x__batch_walk(payload, len, e, max);
	if (n < 0)
		return n;
	*first_can = v2x_le_get32(payload + 1);
	return n;
}
