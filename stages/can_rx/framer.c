/*
 * framer.c - cutting the ESP32(1) byte stream into units and dispatching them to the parsers (framer.h).
 *
 * The loop finds delimiters with memchr (LF and 0x00 in auto mode, the one delimiter of a fixed mode) and, in the
 * common case of a whole text line inside one read, parses it where it lies, without a copy.  Before that, between
 * units, framer__sim_run() takes the firmware's own SIM lines one after the other without any memchr: their layout
 * says where each ends, and the parser checks every byte before it; and a v2 frame whole in the chunk is decoded where
 * it lies (framer__v2_whole; fixed v2 mode likewise).  Only a unit split across reads, or held back because it may
 * be a v2 frame, is gathered in f->buf.  Cached delimiter positions keep the loop linear.  Decisions are taken only at delimiters and when buf overflows, on the bytes gathered so far, so
 * the events do not depend on how the stream was split into reads.
 */
#include "stages/can_rx/framer.h"

#include <errno.h>
#include <stdbool.h>
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

void framer_set_sink(struct framer *f, struct rx_record *const *slot, rx_commit_fn commit)
{
	f->sink_slot = commit ? slot : NULL;
	f->sink_commit = commit;
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

/* The last '$' or '!' of s[0..n), or NULL. */
static const char *framer__last_start(const char *s, size_t n)
{
	const char *d = memrchr(s, '$', n), *x = memrchr(s, '!', n);

	return d && (!x || d > x) ? d : x;
}

void framer_parse_line(struct framer *f, const char *s, size_t n, struct rx_event *ev)
{
	enum rx_event_kind nk = RX_EV_REJECT;
	enum rx_reject nmea_why = RX_REJ_NMEA_SYNTAX;
	int sim_rc = -EINVAL, rc;

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
	    (sim_rc = legacy_sim_parse(s, n, &ev->rec.u.can)) == 0) {
		ev->kind = RX_EV_RECORD;
		ev->rec.type = REC_CAN;
		return;
	}
	memset(&ev->rec.u, 0, sizeof(ev->rec.u)); /* a failed SIM parse may have written some of it */
	/* NMEA: the sentence starts at the last '$' or '!' (no sentence holds either inside); what is before it is junk,
	 * unless it is only more '$' (a doubled "$$" after a receiver reset). */
	const char *start = n ? framer__last_start(s, n) : NULL;
	if (start) {
		size_t k = (size_t)(start - s), j = 0;
		while (j < k && s[j] == '$')
			j++;
		nk = nmea_parse(&f->nmea, start, n - k, &ev->rec, &nmea_why);
		if (nk != RX_EV_REJECT) {
			ev->kind = nk;
			ev->bad_fields = nk == RX_EV_RECORD ? f->nmea.bad_fields : 0;
			if (j < k) {
				ev->text = start;
				ev->len = n - k;
				ev->junk_len = k;
			}
			return;
		}
	}
	if (!framer__is_text((const uint8_t *)s, n)) {
		framer__reject(ev, memchr(s, 0, n) ? RX_REJ_NUL : RX_REJ_BINARY);
		return;
	}
	if (n == 0) {
		ev->kind = RX_EV_IGNORED;
		return;
	}
	if (start) {
		framer__reject(ev, nmea_why); /* no legacy line holds '$' or '!' */
		return;
	}
	if (s[0] == '(') {
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
		framer__reject(ev, sim_rc == -ERANGE ? RX_REJ_SIM_ID : RX_REJ_SIM);
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

/* The event of a unit that decoded as *frame (ev already initialised with the unit's bytes), as framer_parse_v2()
 * gives it; unwraps the device time. */
static void framer__v2_event(struct framer *f, const struct v2x_frame *frame, struct rx_event *ev)
{
	struct v2x_can can;
	struct v2x_status st;

	ev->v2 = frame;
	uint64_t t_us = framer__dev_time(f, frame->seq, frame->dev_time_us);
	switch (frame->type) {
	case V2X_T_CAN_BATCH: {
		/* The records come from framer__emit_v2(); here only the CAN frame numbers are checked. */
		uint32_t first = (uint32_t)frame->payload[1] | (uint32_t)frame->payload[2] << 8 |
				 (uint32_t)frame->payload[3] << 16 | (uint32_t)frame->payload[4] << 24;
		if (f->can_known && (int32_t)(first - f->can_next) > 0)
			f->can_lost += first - f->can_next;
		f->can_known = 1;
		f->can_next = first + frame->payload[0];
		ev->kind = RX_EV_IGNORED;
		return;
	}
	case V2X_T_CAN:
		f->can_next++;
		if (v2x_can_unpack(frame->payload, frame->len, &can) < 0) { /* cannot happen: decode checked it */
			framer__reject(ev, RX_REJ_V2_PAYLOAD);
			return;
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
			return;
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
}

int framer_parse_v2(struct framer *f, const uint8_t *s, size_t n, struct v2x_frame *frame, struct rx_event *ev)
{
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
	framer__v2_event(f, frame, ev);
	return 0;
}

/*
 * Where the hot path builds its next record: the sink's slot (slot and commit as framer_set_sink() left them in f,
 * read once by the caller: a commit may not change them), or ev's record, cleared, as an RX_EV_RECORD event.
 */
static inline struct rx_record *framer__slot(struct rx_record *const *slot, struct rx_event *ev)
{
	if (slot)
		return *slot;
	memset(&ev->rec, 0, sizeof(ev->rec));
	ev->kind = RX_EV_RECORD;
	return &ev->rec;
}

/* The record built at framer__slot() is done: committed to the sink, or emitted as ev. */
static inline void framer__slot_done(rx_commit_fn commit, struct rx_event *ev, struct rx_record *r, rx_emit_fn emit,
				     void *ctx)
{
	if (commit)
		commit(ctx, r);
	else
		emit(ctx, ev);
}

/* Emit the event of a decoded v2 unit; a V2X_T_CAN_BATCH frame becomes one REC_CAN record per entry, each at the
 * frame's unwrapped device time + its offset, with dev_seq = the frame's seq: built in the sink's slot and committed
 * when there is a sink (framer.h, the hot path), else emitted. */
static void framer__emit_v2(struct framer *f, const struct v2x_frame *frame, struct rx_event *ev, rx_emit_fn emit,
			    void *ctx)
{
	struct v2x_can_entry e[V2X_CAN_BATCH_MAX];
	uint32_t first;
	int k;

	if (ev->kind != RX_EV_IGNORED || !ev->v2 || frame->type != V2X_T_CAN_BATCH ||
	    (k = v2x_can_batch_unpack(frame->payload, frame->len, &first, e, V2X_CAN_BATCH_MAX)) < 1) {
		emit(ctx, ev);
		return;
	}
	uint64_t base = f->dev_time_hi | f->dev_time; /* framer__dev_time() just unwrapped this frame's time */
	for (int i = 0; i < k; i++) {
		struct rx_record *r = framer__slot(f->sink_slot, ev);
		r->type = REC_CAN;
		r->flags = REC_F_DEV_TIME;
		r->dev_seq = frame->seq;
		r->dev_time_us = base + e[i].offset_us;
		r->u.can.id = e[i].can.id;
		r->u.can.dlc = e[i].can.dlc;
		memcpy(r->u.can.data, e[i].can.data, sizeof(e[i].can.data));
		framer__slot_done(f->sink_commit, ev, r, emit, ctx);
	}
}

/* --- units ------------------------------------------------------------------------------------------------------ */

static void framer__emit_reject(enum rx_reject r, const void *s, size_t n, rx_emit_fn emit, void *ctx)
{
	struct rx_event ev;

	framer__ev_init(&ev, s, n);
	framer__reject(&ev, r);
	emit(ctx, &ev);
}

static void framer__reset_unit(struct framer *f)
{
	f->len = 0;
	f->dead = 0;
	f->cand_bad = 0;
	f->lf_held = 0;
	f->seg = 0;
}

static size_t framer__cap(const struct framer *f)
{
	return f->fixed && f->mode == FRAMER_V2 ? FRAMER_MAX_LINE : FRAMER_MAX_LINE + 1; /* text: room for the CR */
}

/*
 * Whether s[0..n) can be the start of a v2 frame: the COBS code byte is at least 2 (a code of 1 would make the type
 * byte 0) and the next byte, the type, is a known one.  A text line never passes (its second byte is printable), so
 * an LF ends such a segment only when it cannot be inside a frame.
 */
_Static_assert(V2X_T_LAST < '\n', "a v2 type byte must stay below 0x0A for framer__frame_like()");
static int framer__frame_like(const uint8_t *s, size_t n)
{
	return n >= 2 && s[0] >= 2 && s[1] >= V2X_T_FIRST && s[1] <= V2X_T_LAST;
}

/* The reason a lost byte range s[0..n) is rejected for: its first segment judged as a v2 frame when it looks like
 * one, else as text. */
static enum rx_reject framer__lost_reason(const uint8_t *s, size_t n)
{
	struct v2x_frame scratch;
	size_t k = 0;

	while (k < n && s[k] != 0 && s[k] != '\n')
		k++;
	if (framer__frame_like(s, k)) {
		int rc = v2x_frame_decode(s, k, &scratch);
		return rc < 0 ? framer__v2_reason(rc) : RX_REJ_BINARY;
	}
	if (memchr(s, 0, n))
		return RX_REJ_NUL;
	return framer__is_text(s, n) ? RX_REJ_UNKNOWN : RX_REJ_BINARY;
}

/*
 * Auto mode: s[0..n) holds complete pieces separated by LF (the last one may lack its LF), none of them part of a v2
 * frame.  A piece that is a valid text unit is emitted as such; every maximal run of bytes between valid units
 * (pieces that are not, and junk before a recovered NMEA sentence) is one reject.  lf_free: the caller knows s holds
 * no LF (one piece), so it is not searched again.
 */
static void framer__pieces_at(struct framer *f, const uint8_t *s, size_t n, int lf_free, rx_emit_fn emit, void *ctx)
{
	size_t i = 0, lost_at = 0, lost_end = 0;
	int lost = 0;
	enum rx_reject why = RX_REJ_UNKNOWN;
	struct rx_event ev;

	while (i < n) {
		const uint8_t *nl = lf_free ? NULL : memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n, next = nl ? e + 1 : n;
		if (e - i == 0 || (e - i == 1 && s[i] == '\r')) { /* an empty line: nothing, or part of a lost range */
			i = next;
			continue;
		}
		framer_parse_line(f, (const char *)s + i, e - i, &ev);
		if (ev.kind == RX_EV_REJECT || ev.junk_len) {
			if (!lost) {
				lost = 1;
				lost_at = i;
				why = !f->fixed && framer__frame_like(s + i, e - i) ? framer__lost_reason(s + i, n - i)
				    : ev.kind == RX_EV_REJECT	  ? ev.reason
								  : RX_REJ_NMEA_JUNK;
			}
			lost_end = ev.kind == RX_EV_REJECT ? i + ev.len : i + ev.junk_len;
		}
		if (ev.kind != RX_EV_REJECT) {
			if (lost) {
				framer__emit_reject(why, s + lost_at, lost_end - lost_at, emit, ctx);
				lost = 0;
			}
			ev.junk_len = 0;
			f->mode = f->fixed ? f->mode : FRAMER_TEXT;
			emit(ctx, &ev);
		}
		i = next;
	}
	if (lost)
		framer__emit_reject(why, s + lost_at, lost_end - lost_at, emit, ctx);
}

static void framer__pieces(struct framer *f, const uint8_t *s, size_t n, rx_emit_fn emit, void *ctx)
{
	framer__pieces_at(f, s, n, 0, emit, ctx);
}

/*
 * The hot path (framer.h): from p, between units, whole legacy SIM lines in the firmware's layout, each with its LF
 * (after an optional CR) inside [p, end).  The layout gives the line's length from its 8th byte; legacy_sim_fixed()
 * checks every byte before the terminator, so the line holds no LF or 0x00 and is exactly the unit the general path
 * would cut, and its record the one framer_parse_line() would give (text mode, not frame-like: its second byte is
 * printable).  Returns where it stopped: end, or the first byte of a line it does not take.
 */
static inline __attribute__((always_inline)) const uint8_t *
framer__sim_lines(struct framer *f, const uint8_t *p, const uint8_t *end, rx_emit_fn emit, void *ctx, const bool sink)
{
	struct rx_record *const *slot = sink ? f->sink_slot : NULL;
	rx_commit_fn commit = sink ? f->sink_commit : NULL;

	while ((size_t)(end - p) > LEGACY_SIM_LEN3 && p[0] == 'S') {
		size_t avail = (size_t)(end - p), n = p[7] == ' ' ? LEGACY_SIM_LEN3 : LEGACY_SIM_LEN8, term;
		if (avail <= n)
			break;
		if (p[n] == '\n')
			term = 1;
		else if (p[n] == '\r' && avail > n + 1 && p[n + 1] == '\n')
			term = 2;
		else
			break;
		struct rx_event ev;
		if (!commit)
			framer__ev_init(&ev, p, n); /* the event carries the unit's bytes */
		struct rx_record *r = framer__slot(slot, &ev);
		if (legacy_sim_fixed((const char *)p, n, &r->u.can) != 0)
			break;
		r->type = REC_CAN;
		r->flags = 0;
		r->dev_seq = 0;
		r->dev_time_us = 0;
		f->mode = FRAMER_TEXT; /* as framer__pieces() does; a fixed TEXT framer is already */
		framer__slot_done(commit, &ev, r, emit, ctx);
		p += n + term;
	}
	return p;
}

/* One copy of the loop with a sink, one without: no test of the sink per line. */
static const uint8_t *framer__sim_run(struct framer *f, const uint8_t *p, const uint8_t *end, rx_emit_fn emit,
				      void *ctx)
{
	return f->sink_commit ? framer__sim_lines(f, p, end, emit, ctx, true)
			      : framer__sim_lines(f, p, end, emit, ctx, false);
}

/* Auto mode: the earliest start in buf -- 0, or just after a 0x00 or LF byte -- from which the rest of buf is a
 * valid v2 frame, decoded into *frame (so that it is decoded once).  Pure (the device clock is not touched).
 * Returns the start, or -1 (*frame then unspecified). */
static long framer__find_frame(const struct framer *f, struct v2x_frame *frame)
{
	size_t c = 0;

	while (c < f->len) {
		size_t n = f->len - c;
		if (n >= V2X_FRAME_MIN + 1 && n <= FRAMER_MAX_LINE && framer__frame_like(f->buf + c, n) &&
		    v2x_frame_decode(f->buf + c, n, frame) == 0)
			return (long)c;
		const uint8_t *z = memchr(f->buf + c, 0, n), *nl = memchr(f->buf + c, '\n', n);
		const uint8_t *d = z && (!nl || z < nl) ? z : nl;
		if (!d)
			break;
		c = (size_t)(d - f->buf) + 1;
	}
	return -1;
}

static void framer__auto_feed(struct framer *f, const uint8_t *p, size_t n, rx_emit_fn emit, void *ctx);

/* Auto mode: buf[at..len) holds a valid v2 frame, decoded as *frame (framer__find_frame).  Emit what is before it as
 * text pieces, then the frame, and start a new unit. */
static void framer__auto_frame_at(struct framer *f, size_t at, const struct v2x_frame *frame, rx_emit_fn emit,
				  void *ctx)
{
	uint8_t prefix[FRAMER_MAX_LINE + 2], unit[FRAMER_MAX_LINE + 2];
	size_t un = f->len - at;
	struct rx_event ev;

	memcpy(prefix, f->buf, at);
	memcpy(unit, f->buf + at, un);
	framer__reset_unit(f);
	if (at)
		framer__pieces(f, prefix, at, emit, ctx);
	framer__ev_init(&ev, unit, un);
	framer__v2_event(f, frame, &ev);
	f->mode = FRAMER_V2;
	framer__emit_v2(f, frame, &ev, emit, ctx);
}

/*
 * Auto mode, buf is full and more must go in.  With LFs held inside a would-be frame: the frame cannot start at the
 * beginning of the unit any more, so what comes before the first later start that may still become a frame (or
 * before the last LF) is text pieces, and the rest is fed again.  Otherwise one over-long reject, and the rest of the
 * unit is discarded up to the next LF (outside a would-be frame) or a valid frame after a 0x00.
 */
static void framer__auto_overflow(struct framer *f, rx_emit_fn emit, void *ctx)
{
	uint8_t tmp[FRAMER_MAX_LINE + 2];

	if (f->lf_held) {
		size_t cut = 0, len = f->len;
		for (size_t i = f->seg; i < len; i++) {
			if (f->buf[i] != '\n')
				continue;
			cut = i + 1;
			if (framer__frame_like(f->buf + cut, len - cut) && len - cut < FRAMER_MAX_LINE)
				break;
		}
		memcpy(tmp, f->buf, len);
		framer__reset_unit(f);
		framer__pieces(f, tmp, cut, emit, ctx);
		framer__auto_feed(f, tmp + cut, len - cut, emit, ctx);
		return;
	}
	framer__emit_reject(RX_REJ_OVERLONG, f->buf, f->len, emit, ctx);
	if (f->seg > 0) {
		/* Keep the bytes after the last kept 0x00: they may be the start of a frame. */
		size_t keep = f->len - f->seg;
		memmove(f->buf, f->buf + f->seg, keep);
		framer__reset_unit(f);
		f->len = (uint16_t)keep;
	} else {
		framer__reset_unit(f);
		f->cand_bad = 1;
	}
	f->dead = 1;
}

/* Auto mode: append k bytes that hold no delimiter. */
static void framer__auto_append(struct framer *f, const uint8_t *p, size_t k, rx_emit_fn emit, void *ctx)
{
	const size_t cap = FRAMER_MAX_LINE + 1;

	while (k) {
		if (f->dead) {
			if (f->cand_bad)
				return;
			if (k > cap - f->len) {
				f->len = 0;
				f->cand_bad = 1;
				return;
			}
			memcpy(f->buf + f->len, p, k);
			f->len = (uint16_t)(f->len + k);
			return;
		}
		size_t room = cap - f->len;
		if (k <= room) {
			memcpy(f->buf + f->len, p, k);
			f->len = (uint16_t)(f->len + k);
			return;
		}
		memcpy(f->buf + f->len, p, room);
		f->len = (uint16_t)cap;
		p += room;
		k -= room;
		framer__auto_overflow(f, emit, ctx);
	}
}

/* Auto mode: store one delimiter byte c in the unit (an LF held in a would-be frame, a 0x00 kept in a text line). */
static void framer__auto_store(struct framer *f, uint8_t c, rx_emit_fn emit, void *ctx)
{
	framer__auto_append(f, &c, 1, emit, ctx);
}

static void framer__auto_lf(struct framer *f, rx_emit_fn emit, void *ctx)
{
	if (f->dead) {
		if (!f->cand_bad && framer__frame_like(f->buf, f->len)) {
			framer__auto_store(f, '\n', emit, ctx);
			return;
		}
		framer__reset_unit(f); /* the LF ends the discarded line */
		return;
	}
	if (framer__frame_like(f->buf + f->seg, f->len - f->seg)) {
		if (f->len == FRAMER_MAX_LINE + 1) {
			framer__auto_overflow(f, emit, ctx);
			framer__auto_lf(f, emit, ctx);
			return;
		}
		f->buf[f->len++] = '\n';
		f->lf_held = 1;
		return;
	}
	uint8_t line[FRAMER_MAX_LINE + 2];
	size_t n = f->len;
	memcpy(line, f->buf, n);
	framer__reset_unit(f);
	framer__pieces(f, line, n, emit, ctx);
}

static void framer__auto_zero(struct framer *f, rx_emit_fn emit, void *ctx)
{
	struct v2x_frame frame;
	long at;

	if (f->dead) {
		if (!f->cand_bad && f->len && (at = framer__find_frame(f, &frame)) >= 0) {
			/* The discarded range, up to the frame, was rejected when it overflowed. */
			memmove(f->buf, f->buf + at, f->len - (size_t)at);
			f->len = (uint16_t)(f->len - (size_t)at);
			framer__auto_frame_at(f, 0, &frame, emit, ctx);
			return;
		}
		f->len = 0; /* a new candidate starts after this 0x00 */
		f->cand_bad = 0;
		return;
	}
	if (f->len == 0)
		return;
	at = framer__find_frame(f, &frame);
	if (at >= 0) {
		framer__auto_frame_at(f, (size_t)at, &frame, emit, ctx);
		return;
	}
	if (framer__frame_like(f->buf + f->seg, f->len - f->seg) || !framer__is_text(f->buf + f->seg, f->len - f->seg)) {
		/* A damaged frame, or binary noise: what is held before it are text pieces, the frame or noise with what
		 * it is glued to one reject. */
		uint8_t tmp[FRAMER_MAX_LINE + 2];
		size_t n = f->len;
		memcpy(tmp, f->buf, n);
		framer__reset_unit(f);
		framer__pieces(f, tmp, n, emit, ctx);
		return;
	}
	/* Printable text: the 0x00 is a byte of a text line, which ends at its LF. */
	if (f->len == FRAMER_MAX_LINE + 1) {
		framer__auto_overflow(f, emit, ctx);
		framer__auto_zero(f, emit, ctx);
		return;
	}
	f->buf[f->len++] = 0;
	f->seg = f->len;
}

/*
 * Auto mode, between units (nothing held): s[0..n), up to a 0x00 inside the fed chunk, starts like a frame and holds
 * no LF in its first two bytes.  The general path would gather it in buf, keeping every LF in it as a byte of the
 * would-be frame (it looks like one from its start), and at the 0x00 take it as the frame when it decodes from its
 * start, the earliest start there is.  So when it decodes it is emitted here, without the gathering.  Returns 1 when
 * taken, 0 to leave it to the general path.
 */
static int framer__v2_whole(struct framer *f, const uint8_t *s, size_t n, rx_emit_fn emit, void *ctx)
{
	struct v2x_frame frame;
	struct rx_event ev;

	if (n < V2X_FRAME_MIN + 1 || n > FRAMER_MAX_LINE || v2x_frame_decode(s, n, &frame) != 0)
		return 0;
	framer__ev_init(&ev, s, n);
	framer__v2_event(f, &frame, &ev);
	f->mode = FRAMER_V2;
	framer__emit_v2(f, &frame, &ev, emit, ctx);
	return 1;
}

static void framer__auto_feed(struct framer *f, const uint8_t *p, size_t n, rx_emit_fn emit, void *ctx)
{
	const uint8_t *end = p + n, *nl = NULL, *z = NULL;
	int nl_known = 0, z_known = 0;

	/* nl and z are the first LF and 0x00 at or after p, or NULL when none is left; each is searched again only once
	 * p has passed it, which keeps the loop linear. */
	while (p < end) {
		if (f->len == 0 && !f->dead) {
			if (p[0] == 'S') {
				p = framer__sim_run(f, p, end, emit, ctx);
				if (p == end)
					return;
			}
			if (p[0] != '\n' && framer__frame_like(p, (size_t)(end - p))) {
				if (!z_known || (z && z < p)) {
					z = memchr(p, 0, (size_t)(end - p));
					z_known = 1;
				}
				if (z && framer__v2_whole(f, p, (size_t)(z - p), emit, ctx)) {
					p = z + 1;
					continue;
				}
			}
		}
		if (!nl_known || (nl && nl < p)) {
			nl = memchr(p, '\n', (size_t)(end - p));
			nl_known = 1;
		}
		if (!z_known || (z && z < p)) {
			z = memchr(p, 0, (size_t)(end - p));
			z_known = 1;
		}
		const uint8_t *d = z && (!nl || z < nl) ? z : nl;
		if (!d) {
			framer__auto_append(f, p, (size_t)(end - p), emit, ctx);
			return;
		}
		if (*d == '\n' && f->len == 0 && !f->dead && !framer__frame_like(p, (size_t)(d - p))) {
			framer__pieces_at(f, p, (size_t)(d - p), 1, emit, ctx); /* whole line in this chunk: no copy */
		} else {
			framer__auto_append(f, p, (size_t)(d - p), emit, ctx);
			if (*d == '\n')
				framer__auto_lf(f, emit, ctx);
			else
				framer__auto_zero(f, emit, ctx);
		}
		p = d + 1;
	}
}

/* --- fixed modes ------------------------------------------------------------------------------------------------ */

/* Fixed modes: append k bytes without a delimiter; past the cap, reject once and discard up to the delimiter. */
static void framer__fixed_append(struct framer *f, const uint8_t *p, size_t k, rx_emit_fn emit, void *ctx)
{
	size_t cap = framer__cap(f), room = cap - f->len;

	if (f->dead || k == 0)
		return;
	if (k <= room) {
		memcpy(f->buf + f->len, p, k);
		f->len = (uint16_t)(f->len + k);
		return;
	}
	memcpy(f->buf + f->len, p, room);
	framer__emit_reject(RX_REJ_OVERLONG, f->buf, cap, emit, ctx);
	framer__reset_unit(f);
	f->dead = 1;
}

static void framer__fixed_feed(struct framer *f, const uint8_t *p, size_t n, rx_emit_fn emit, void *ctx)
{
	const uint8_t *end = p + n;
	const int v2 = f->mode == FRAMER_V2;
	struct v2x_frame frame;
	struct rx_event ev;

	while (p < end) {
		if (!v2 && f->len == 0 && !f->dead) {
			p = framer__sim_run(f, p, end, emit, ctx);
			if (p == end)
				return;
		}
		const uint8_t *d = memchr(p, v2 ? 0 : '\n', (size_t)(end - p));
		if (!d) {
			framer__fixed_append(f, p, (size_t)(end - p), emit, ctx);
			return;
		}
		if (!v2 && f->len == 0 && !f->dead) {
			framer__pieces_at(f, p, (size_t)(d - p), 1, emit, ctx); /* whole line in this chunk: no copy */
		} else if (v2 && f->len == 0 && !f->dead && (size_t)(d - p) <= FRAMER_MAX_LINE) {
			if (d > p) { /* whole unit in this chunk: decoded where it lies */
				framer_parse_v2(f, p, (size_t)(d - p), &frame, &ev);
				framer__emit_v2(f, &frame, &ev, emit, ctx);
			}
		} else {
			framer__fixed_append(f, p, (size_t)(d - p), emit, ctx);
			if (!f->dead && f->len) {
				if (v2) {
					framer_parse_v2(f, f->buf, f->len, &frame, &ev);
					framer__emit_v2(f, &frame, &ev, emit, ctx);
				} else {
					framer__pieces(f, f->buf, f->len, emit, ctx);
				}
			}
			framer__reset_unit(f);
		}
		p = d + 1;
	}
}

void framer_feed(struct framer *f, const void *buf, size_t n, rx_emit_fn emit, void *ctx)
{
	if (f->fixed)
		framer__fixed_feed(f, buf, n, emit, ctx);
	else
		framer__auto_feed(f, buf, n, emit, ctx);
}

void framer_finish(struct framer *f, rx_emit_fn emit, void *ctx)
{
	struct v2x_frame frame;
	struct rx_event ev;
	long at;

	if (f->fixed) {
		if (!f->dead && f->len) {
			if (f->mode == FRAMER_V2) {
				framer_parse_v2(f, f->buf, f->len, &frame, &ev);
				framer__emit_v2(f, &frame, &ev, emit, ctx);
			} else {
				framer__pieces(f, f->buf, f->len, emit, ctx);
			}
		}
		framer__reset_unit(f);
		return;
	}
	if (f->dead) {
		if (!f->cand_bad && f->len && (at = framer__find_frame(f, &frame)) >= 0) {
			memmove(f->buf, f->buf + at, f->len - (size_t)at);
			f->len = (uint16_t)(f->len - (size_t)at);
			framer__auto_frame_at(f, 0, &frame, emit, ctx);
		}
		framer__reset_unit(f);
		return;
	}
	if (f->len == 0)
		return;
	at = framer__find_frame(f, &frame);
	if (at >= 0) {
		framer__auto_frame_at(f, (size_t)at, &frame, emit, ctx);
		return;
	}
	uint8_t tmp[FRAMER_MAX_LINE + 2];
	size_t n = f->len;
	memcpy(tmp, f->buf, n);
	framer__reset_unit(f);
	framer__pieces(f, tmp, n, emit, ctx);
}
