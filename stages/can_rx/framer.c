/*
 * framer.c - cutting the ESP32(1) byte stream into units and dispatching them to the parsers (framer.h).
 *
 * The loop finds delimiters with memchr (LF in text, 0x00 in v2, both while detecting) and, in the common case of
 * a whole text line inside one read, parses it where it lies, without a copy.  Only a unit split across reads is
 * gathered in f->buf.  The cached LF position keeps the loop linear even when a chunk holds many 0x00 bytes and no
 * LF.  State changes (detection, discarding) happen only at delimiters and on overflow, in the helpers below.
 */
#include "stages/can_rx/framer.h"

#include <errno.h>
#include <string.h>

#include "v2x_proto.h"
#include "stages/can_rx/candump.h"
#include "stages/can_rx/legacy_line.h"

_Static_assert(V2X_WIRE_MAX - 1 <= FRAMER_MAX_LINE, "a whole v2 frame must fit a framer unit");

void framer_init(struct framer *f, enum framer_mode mode)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->fixed = mode != FRAMER_AUTO;
	nmea_init(&f->nmea);
}

enum framer_mode framer_detected(const struct framer *f)
{
	return f->mode;
}

static int framer__is_text(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned)(s[i] - 0x20) > 0x5Eu)
			return 0;
	return 1;
}

static void framer__ev_init(struct rx_event *ev, const void *s, size_t n)
{
	memset(ev, 0, sizeof(*ev));
	ev->text = s;
	ev->len = n;
}

static void framer__reject(struct rx_event *ev, enum rx_reject r)
{
	ev->kind = RX_EV_REJECT;
	ev->reason = r;
}

/* The first space-separated token of s is exactly word. */
static int framer__word(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && memcmp(s, word, wl) == 0 && (n == wl || s[wl] == ' ');
}

void framer_parse_line(struct framer *f, const char *s, size_t n, struct rx_event *ev)
{
	int rc;

	if (n && s[n - 1] == '\r')
		n--;
	framer__ev_init(ev, s, n);
	if (n > FRAMER_MAX_LINE) {
		ev->len = FRAMER_MAX_LINE + 1; /* the first bytes, as when the line arrives in pieces */
		framer__reject(ev, RX_REJ_OVERLONG);
		return;
	}
	/* The hot path: a SIM line parses (and validates every byte) in one pass. */
	if (n >= 4 && s[0] == 'S' && s[1] == 'I' && s[2] == 'M' && s[3] == ' ' &&
	    legacy_sim_parse(s, n, &ev->rec.u.can) == 0) {
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_CAN;
		return;
	}
	memset(&ev->rec.u, 0, sizeof(ev->rec.u)); /* a failed SIM parse may have written some of it */
	if (!framer__is_text((const uint8_t *)s, n)) {
		framer__reject(ev, memchr(s, 0, n) ? RX_REJ_NUL : RX_REJ_BINARY);
		return;
	}
	if (n == 0) {
		ev->kind = RX_EV_IGNORED;
		return;
	}
	switch (s[0]) {
	case '$':
		ev->kind = nmea_parse(&f->nmea, s, n, &ev->rec, &ev->reason);
		return;
	case '(':
		rc = candump_parse(s, n, &ev->rec.u.can, &ev->rec.rx_real_ns);
		if (rc < 0) {
			framer__reject(ev, RX_REJ_CANDUMP);
			return;
		}
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_CAN;
		ev->rec.flags = REC_F_LOG_TIME;
		return;
	}
	if (framer__word(s, n, "SIM")) {
		framer__reject(ev, RX_REJ_SIM);
	} else if (framer__word(s, n, "GPS")) {
		if (legacy_gps_parse(s, n, &ev->rec.u.gps) < 0) {
			memset(&ev->rec.u, 0, sizeof(ev->rec.u));
			framer__reject(ev, RX_REJ_GPS);
			return;
		}
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_GPS;
	} else if (framer__word(s, n, "STATUS")) {
		if (legacy_status_parse(s, n, &ev->rec.u.status) < 0) {
			memset(&ev->rec.u, 0, sizeof(ev->rec.u));
			framer__reject(ev, RX_REJ_STATUS);
			return;
		}
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_STATUS;
	} else if (legacy_is_banner(s, n)) {
		ev->kind = RX_EV_IGNORED;
	} else {
		framer__reject(ev, RX_REJ_UNKNOWN);
	}
}

static enum rx_reject framer__v2_reason(int rc)
{
	switch (rc) {
	case -EILSEQ:
		return RX_REJ_V2_COBS;
	case -ENODATA:
		return RX_REJ_V2_SHORT;
	case -EBADMSG:
		return RX_REJ_V2_CRC;
	case -ENOMSG:
		return RX_REJ_V2_TYPE;
	default:
		return RX_REJ_V2_PAYLOAD; /* -EPROTO, -EMSGSIZE */
	}
}

/* The device clock, unwrapped (framer.h). */
static uint64_t framer__dev_time(struct framer *f, uint32_t seq, uint32_t t_us)
{
	if (!f->dev_known || (int32_t)(seq - f->dev_seq) < 0) {
		f->dev_time_hi = 0; /* first frame, or the device restarted */
	} else if (t_us < f->dev_time) {
		f->dev_time_hi += 1ull << 32;
	}
	f->dev_known = 1;
	f->dev_seq = seq;
	f->dev_time = t_us;
	return f->dev_time_hi | t_us;
}

int framer_parse_v2(struct framer *f, const uint8_t *s, size_t n, struct v2x_frame *frame, struct rx_event *ev)
{
	struct v2x_can can;
	struct v2x_status st;
	int rc;

	framer__ev_init(ev, s, n);
	if (n > FRAMER_MAX_LINE) {
		framer__reject(ev, RX_REJ_OVERLONG);
		return -EMSGSIZE;
	}
	rc = v2x_frame_decode(s, n, frame);
	if (rc < 0) {
		framer__reject(ev, framer__v2_reason(rc));
		return rc;
	}
	ev->v2 = frame;
	uint64_t t_us = framer__dev_time(f, frame->seq, frame->dev_time_us);
	switch (frame->type) {
	case V2X_T_CAN:
		if (v2x_can_unpack(frame->payload, frame->len, &can) < 0) { /* cannot happen: decode checked it */
			framer__reject(ev, RX_REJ_V2_PAYLOAD);
			return 0;
		}
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_CAN;
		ev->rec.u.can.id = can.id;
		ev->rec.u.can.dlc = can.dlc;
		memcpy(ev->rec.u.can.data, can.data, sizeof(can.data));
		break;
	case V2X_T_NMEA:
		ev->kind = nmea_parse(&f->nmea, (const char *)frame->payload, frame->len, &ev->rec, &ev->reason);
		break;
	case V2X_T_STATUS:
		if (v2x_status_unpack(frame->payload, frame->len, &st) < 0) {
			framer__reject(ev, RX_REJ_V2_PAYLOAD);
			return 0;
		}
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_STATUS;
		ev->rec.u.status.can_ok = st.can_ok;
		ev->rec.u.status.gps_ok = st.gps_ok;
		ev->rec.u.status.sats = st.sats;
		ev->rec.u.status.hdop = st.hdop_centi == V2X_HDOP_UNKNOWN ? 99.99f : (float)st.hdop_centi / 100.0f;
		break;
	default:
		ev->kind = RX_EV_IGNORED;
		break;
	}
	if (ev->kind == RX_EV_RECORD) {
		ev->rec.flags |= REC_F_DEV_TIME;
		ev->rec.dev_seq = frame->seq;
		ev->rec.dev_time_us = t_us;
	}
	return 0;
}

/* --- units ------------------------------------------------------------------------------------------------------ */

static void framer__emit_reject(enum rx_reject r, const void *s, size_t n, rx_emit_fn emit, void *ctx)
{
	struct rx_event ev;

	framer__ev_init(&ev, s, n);
	framer__reject(&ev, r);
	emit(ctx, &ev);
}

/* A complete text line (LF removed). */
static void framer__text_unit(struct framer *f, const uint8_t *s, size_t n, rx_emit_fn emit, void *ctx)
{
	struct rx_event ev;

	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return;
	framer_parse_line(f, (const char *)s, n, &ev);
	if (f->mode == FRAMER_AUTO && ev.kind != RX_EV_REJECT)
		f->mode = FRAMER_TEXT;
	emit(ctx, &ev);
}

static void framer__reset_unit(struct framer *f)
{
	f->len = 0;
	f->dead = 0;
	f->nul_seen = 0;
	f->cand_bad = 0;
	f->seg = 0;
}

/* Detected text mode tries the bytes after each 0x00 as a v2 frame. */
static int framer__tracks_frames(const struct framer *f)
{
	return f->mode == FRAMER_TEXT && !f->fixed;
}

static size_t framer__cap(const struct framer *f)
{
	return f->mode == FRAMER_V2 ? FRAMER_MAX_LINE : FRAMER_MAX_LINE + 1; /* text: room for the CR */
}

static void framer__take(struct framer *f, const uint8_t *p, size_t k, rx_emit_fn emit, void *ctx);

/* The unit in buf cannot take the k bytes at p (k may equal the room left when the caller knows more follow): fill
 * buf, reject it once, start discarding, and pass the rest of p through the new state. */
static void framer__overflow(struct framer *f, const uint8_t *p, size_t k, rx_emit_fn emit, void *ctx)
{
	size_t cap = framer__cap(f), room = cap - f->len;

	memcpy(f->buf + f->len, p, room);
	framer__emit_reject(RX_REJ_OVERLONG, f->buf, cap, emit, ctx);
	f->dead = 1;
	if (f->mode == FRAMER_V2 && !f->fixed)
		f->mode = FRAMER_AUTO; /* a legacy firmware again? decide afresh after the next delimiter */
	if (framer__tracks_frames(f) && f->nul_seen) {
		/* Keep the bytes after the last 0x00: they may be the start of a frame. */
		memmove(f->buf, f->buf + f->seg, cap - f->seg);
		f->len = (uint16_t)(cap - f->seg);
		f->cand_bad = 0;
	} else {
		f->len = 0;
		f->cand_bad = 1;
	}
	f->nul_seen = 0;
	f->seg = 0;
	framer__take(f, p + room, k - room, emit, ctx);
}

static void framer__take(struct framer *f, const uint8_t *p, size_t k, rx_emit_fn emit, void *ctx)
{
	size_t cap = framer__cap(f);

	if (k == 0)
		return;
	if (f->dead) {
		if (!framer__tracks_frames(f) || f->cand_bad)
			return;
		if (k > cap - f->len) {
			f->len = 0;
			f->cand_bad = 1;
			return;
		}
	} else if (k > cap - f->len) {
		framer__overflow(f, p, k, emit, ctx);
		return;
	}
	memcpy(f->buf + f->len, p, k);
	f->len = (uint16_t)(f->len + k);
}

/* Try s[0..n) as a v2 frame; on success emit it (after the optional rejected text prefix) and switch to V2. */
static int framer__try_v2(struct framer *f, const uint8_t *s, size_t n, const uint8_t *prefix, size_t prefix_n,
			  rx_emit_fn emit, void *ctx)
{
	struct v2x_frame frame;
	struct rx_event ev;

	if (n == 0 || framer_parse_v2(f, s, n, &frame, &ev) < 0)
		return 0;
	if (prefix_n)
		framer__emit_reject(RX_REJ_NUL, prefix, prefix_n, emit, ctx);
	if (!f->fixed)
		f->mode = FRAMER_V2;
	emit(ctx, &ev);
	return 1;
}

/* A 0x00 arrived; buf holds what came before it. */
static void framer__zero(struct framer *f, rx_emit_fn emit, void *ctx)
{
	struct v2x_frame frame;
	struct rx_event ev;
	int rc;

	switch (f->mode) {
	case FRAMER_V2:
		if (!f->dead && f->len) {
			framer_parse_v2(f, f->buf, f->len, &frame, &ev);
			emit(ctx, &ev);
		}
		framer__reset_unit(f);
		return;
	case FRAMER_AUTO:
		if (!f->dead && f->len) {
			rc = framer_parse_v2(f, f->buf, f->len, &frame, &ev);
			if (rc == 0) {
				f->mode = FRAMER_V2;
			} else if (ev.reason != RX_REJ_OVERLONG && framer__is_text(f->buf, f->len)) {
				ev.reason = RX_REJ_NUL; /* a text line cut by a NUL byte */
			}
			emit(ctx, &ev);
		}
		framer__reset_unit(f);
		return;
	case FRAMER_TEXT:
		break;
	}
	if (f->fixed) {
		framer__take(f, (const uint8_t *)"", 1, emit, ctx);
		f->nul_seen = 1;
		return;
	}
	if (f->dead) {
		if (!f->cand_bad && framer__try_v2(f, f->buf, f->len, NULL, 0, emit, ctx)) {
			framer__reset_unit(f);
			return;
		}
		f->len = 0;
		f->cand_bad = 0;
		return;
	}
	if (framer__try_v2(f, f->buf + f->seg, f->len - f->seg, f->buf, f->seg, emit, ctx)) {
		framer__reset_unit(f);
		return;
	}
	/* Not a frame: the 0x00 is a byte of the line. */
	f->nul_seen = 1;
	if (f->len >= framer__cap(f)) {
		framer__emit_reject(RX_REJ_OVERLONG, f->buf, f->len, emit, ctx);
		framer__reset_unit(f);
		f->dead = 1; /* the next bytes start a candidate right after this 0x00 */
		return;
	}
	f->buf[f->len++] = 0;
	f->seg = f->len;
}

/* An LF arrived (text or undecided); buf holds the line before it. */
static void framer__newline(struct framer *f, rx_emit_fn emit, void *ctx)
{
	if (f->dead) {
		framer__reset_unit(f);
		return;
	}
	if (f->nul_seen) {
		size_t n = f->len;
		if (n && f->buf[n - 1] == '\r')
			n--;
		framer__emit_reject(n > FRAMER_MAX_LINE ? RX_REJ_OVERLONG : RX_REJ_NUL, f->buf, n, emit, ctx);
	} else {
		framer__text_unit(f, f->buf, f->len, emit, ctx);
	}
	framer__reset_unit(f);
}

void framer_feed(struct framer *f, const void *buf, size_t n, rx_emit_fn emit, void *ctx)
{
	const uint8_t *p = buf, *end = p + n, *nl = NULL;
	int nl_known = 0;

	while (p < end) {
		if (f->mode == FRAMER_V2) {
			const uint8_t *z = memchr(p, 0, (size_t)(end - p));
			size_t room = framer__cap(f) - f->len;
			if (!f->dead && (size_t)((z ? z : end) - p) > room) {
				/* Over-long: reject after exactly cap bytes, then look at the rest in the new state (the
				 * fall-back to AUTO makes an LF a delimiter again). */
				framer__overflow(f, p, room, emit, ctx);
				p += room;
				continue;
			}
			if (!z) {
				framer__take(f, p, (size_t)(end - p), emit, ctx);
				return;
			}
			framer__take(f, p, (size_t)(z - p), emit, ctx);
			framer__zero(f, emit, ctx);
			p = z + 1;
			continue;
		}
		/* nl is the first LF at or after p, or NULL when none is left in the chunk. */
		if (!nl_known || (nl && nl < p)) {
			nl = memchr(p, '\n', (size_t)(end - p));
			nl_known = 1;
		}
		const uint8_t *lim = nl ? nl : end;
		const uint8_t *z = memchr(p, 0, (size_t)(lim - p));
		if (z) {
			framer__take(f, p, (size_t)(z - p), emit, ctx);
			framer__zero(f, emit, ctx);
			p = z + 1;
			continue;
		}
		if (!nl) {
			framer__take(f, p, (size_t)(end - p), emit, ctx);
			return;
		}
		if (f->len == 0 && !f->dead) {
			framer__text_unit(f, p, (size_t)(nl - p), emit, ctx); /* whole line in this chunk: no copy */
		} else {
			framer__take(f, p, (size_t)(nl - p), emit, ctx);
			framer__newline(f, emit, ctx);
		}
		p = nl + 1;
	}
}

void framer_finish(struct framer *f, rx_emit_fn emit, void *ctx)
{
	if (f->mode == FRAMER_V2)
		framer__zero(f, emit, ctx);
	else if (f->len || f->dead)
		framer__newline(f, emit, ctx);
	framer__reset_unit(f);
}
