/*
 * framer.h - the can_rx framing layer: a byte stream from ESP32(1) (or a replayed log) in, one event per unit out.
 *
 * Pure logic: no file descriptor, clock, thread or heap.  The can_rx thread feeds whatever read() returned, in any
 * split; the framer cuts units, parses them (legacy_line.h, nmea.h, candump.h, v2x_proto.h) and calls emit once per
 * unit with a record, a reject reason or "ignored" (rx_event.h).  Every non-empty unit produces exactly one event,
 * except a text line where an NMEA sentence is recovered after junk: an RX_REJ_NMEA_JUNK reject for the junk, then
 * the sentence's event.  Empty text lines and empty v2 units (repeated 0x00 delimiters) produce none.
 *
 * Units.  Text: lines ended by LF, an optional CR before it dropped.  V2: COBS frames ended by 0x00.  A unit (text
 * line without its terminator, or COBS bytes without the 0x00) may be FRAMER_MAX_LINE bytes long; a longer one is
 * rejected once with RX_REJ_OVERLONG (its text: the first FRAMER_MAX_LINE + 1 bytes of a line, FRAMER_MAX_LINE of a
 * v2 run) and the rest of it, up to the next delimiter, is discarded.
 *
 * Text lines: printable ASCII only (0x20..0x7E); a NUL byte -> RX_REJ_NUL, any other byte -> RX_REJ_BINARY.  Kinds:
 * `SIM ...` (an id above 0x7FF without the extended flag -> RX_REJ_SIM_ID), `GPS ...`, `STATUS ...` and the banner
 * (legacy_line.h), NMEA sentences (nmea.h; the framer keeps the merged fix, so each fix-bearing sentence yields a
 * REC_GPS record with the whole fix so far), `(...` candump log lines (candump.h; CAN FD lines -> RX_REJ_CANDUMP).
 * Anything else -> RX_REJ_UNKNOWN.  NMEA recovery: a sentence starts at the last '$' or '!' of the line (no sentence
 * holds either inside); when it checks out (nmea.h) and is not refused, whatever came before it on the line (a
 * cut-off sentence, escape codes, NUL or other bytes) is one RX_REJ_NMEA_JUNK reject and the sentence is handled as
 * usual; extra '$' before it ("$$GPGGA") are not junk.  Otherwise the line is rejected once: RX_REJ_NUL or
 * _BINARY for such bytes, else the sentence's reason.
 *
 * V2 frames: REC_CAN for V2X_T_CAN, REC_GPS for V2X_T_NMEA (through the same NMEA parser and merged fix), REC_STATUS
 * for V2X_T_STATUS (HDOP 0xFFFF -> 99.99; the device counters are in ev->v2); a V2X_T_CAN_BATCH frame is the one
 * unit that yields several events: one REC_CAN record per entry, in order, each with dev_time_us = the frame's
 * unwrapped device time + the entry's offset and dev_seq = the frame's seq (per-CAN-frame loss is counted from the
 * batch's first_can numbers in f->can_lost; framer_parse_v2() alone returns it as RX_EV_IGNORED); every other type ->
 * RX_EV_IGNORED with ev->v2 set, for the hub stage.  Records get REC_F_DEV_TIME, dev_seq = the frame's seq and dev_time_us = the
 * frame's 32-bit device time unwrapped to 64 bits (+2^32 whenever it goes backwards while seq goes forwards; a seq
 * that goes backwards means the device restarted, and the unwrap starts again from 0).  Decode errors map to
 * RX_REJ_V2_COBS / _SHORT / _CRC / _TYPE / _PAYLOAD (too long decoded = _PAYLOAD).
 *
 * Modes.
 *   FRAMER_TEXT (fixed): only LF delimits; 0x00 is a byte of the line (-> RX_REJ_NUL).  Never switches.
 *   FRAMER_V2 (fixed): only 0x00 delimits.  An over-long run is rejected and discarded up to the next 0x00.
 *   FRAMER_AUTO: text lines and v2 frames in any mix, as when a port's firmware is swapped or prints boot text
 *     between frames.  Both LF and 0x00 delimit, with these rules:
 *     - A v2 frame begins with a COBS code byte >= 2 and a type byte 1..V2X_T_LAST, which no text line has (its
 *       second byte is printable).  So an LF ends the bytes since the last boundary as a text line unless they look
 *       like the start of a frame; then the LF is held as a byte of the would-be frame.
 *     - At a 0x00, the bytes since the last boundary are tried as a frame from their start and from just after each
 *       held LF or kept 0x00 in them; the earliest start that decodes is the frame (emitted; the bytes before it are
 *       handled as text lines, below).  If none decodes and the current segment looks like a frame, all of it is
 *       handled as text lines (so a damaged frame is one reject, or one with the bytes it is glued to), and so is
 *       a segment holding bytes that are not printable; a printable one keeps the 0x00 as a byte of its text line
 *       (a NUL in a line: RX_REJ_NUL at its LF, once).
 *     - Bytes handled as text lines: each line that parses is emitted; every maximal run of bytes between them
 *       (lines that do not parse, junk before a recovered NMEA sentence) is ONE reject.  So every lost byte range
 *       counts once, and every valid unit is recovered whichever format comes next.
 *     - More than FRAMER_MAX_LINE + 1 bytes without a boundary: with held LFs, the lines before the first point from
 *       which a frame could still come are handled as text and the rest is looked at again; otherwise one
 *       RX_REJ_OVERLONG (its text: the first FRAMER_MAX_LINE + 1 bytes), then the rest is discarded up to the next
 *       LF outside a would-be frame, or up to a valid frame after a 0x00.
 *     framer_detected() reports the format of the last valid unit (FRAMER_AUTO before the first).
 *   What auto mode loses: a frame glued to the bytes before it with no 0x00 or LF between (the firmware swapped
 *   mid-line) is part of their lost range; a valid text line inside bytes that looked like a frame's is delayed until
 *   the next 0x00 or overflow, not lost.  (Before the rework for issue 13 defect 4, a frame holding 0x0A before the
 *   switch to v2 and the text after it was lost.)
 *
 * The hot path.  A legacy SIM line in the firmware's own layout (legacy_sim_fixed(), legacy_line.h) that arrives
 * whole inside one fed chunk, with nothing held before it, is parsed without searching for its LF (the parser checks
 * every byte, so none is inside it) and without building a whole event.  With a sink set (framer_set_sink), its
 * record, and each entry's record of a V2X_T_CAN_BATCH frame, is written straight into the caller's storage and
 * commit is called in place of emit.  Any other line, or one the fixed layout refuses, takes the general path above,
 * so events, their order and every reject stay the same with or without a sink, however the stream is split.  A v2
 * frame whole inside one fed chunk, nothing held before it, is decoded where it lies, and once (in auto mode also
 * when it was gathered across reads).
 *
 * Threads: one framer per input stream, used by one thread at a time; nothing is shared.  No call blocks or
 * allocates; emit and commit are called synchronously from framer_feed()/framer_finish().
 */
#ifndef V2X_STAGES_CAN_RX_FRAMER_H
#define V2X_STAGES_CAN_RX_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "stages/can_rx/nmea.h"
#include "stages/can_rx/rx_event.h"

enum framer_mode { FRAMER_AUTO, FRAMER_TEXT, FRAMER_V2 };

#define FRAMER_MAX_LINE 256 /* longest accepted text line / encoded v2 frame, terminator excluded */

/* Caller-owned state; treat as opaque. */
struct framer {
	enum framer_mode mode; /* the fixed mode; in auto, the format of the last valid unit (AUTO before one) */
	uint8_t fixed;         /* framer_init() was given TEXT or V2: never switch */
	uint8_t dead;          /* discarding the rest of a rejected unit */
	uint8_t cand_bad;      /* auto, dead: the frame candidate in buf overflowed; wait for the next 0x00 */
	uint8_t lf_held;       /* auto: buf holds an LF kept as a byte of a would-be frame */
	uint16_t len;          /* bytes in buf */
	uint16_t seg;          /* auto: where the current segment (after the last kept 0x00) starts in buf */
	uint8_t dev_known;     /* a v2 record has been seen: dev_seq/dev_time are meaningful */
	uint32_t dev_seq;      /* last v2 seq */
	uint32_t dev_time;     /* last v2 dev_time_us */
	uint64_t dev_time_hi;  /* wraps seen, << 32 */
	uint8_t can_known;     /* a V2X_T_CAN_BATCH has been seen: can_next is meaningful */
	uint32_t can_next;     /* next expected CAN frame number (v2x_proto.h: first_can; +1 per V2X_T_CAN) */
	uint64_t can_lost;     /* CAN frames lost on the link, counted from first_can gaps (read by the can_rx stage) */
	struct nmea_state nmea;
	struct rx_record *const *sink_slot; /* framer_set_sink(): where the next hot-path record goes */
	rx_commit_fn sink_commit;
	uint8_t buf[FRAMER_MAX_LINE + 2]; /* a unit, its CR, and room to see that it is too long */
};

/* Start a stream in the given mode, without a sink.  Never fails. */
void framer_init(struct framer *f, enum framer_mode mode);

/*
 * Records of the hot path (above) are built in *slot, the caller's storage, which it keeps pointing at a free
 * struct rx_record (the framer reads *slot before each such record; *slot must stay valid while the framer is fed),
 * and handed over by commit(ctx, record) in place of emit: a REC_CAN record with type, flags, dev_seq, dev_time_us and
 * u.can as its event's record would have them (flags 0 and device fields 0 from a SIM line; REC_F_DEV_TIME and the
 * frame's from a v2 CAN batch entry); the caller sets rx_mono_ns, rx_real_ns, seq, link and line as for an event's
 * record, and the union's bytes past u.can are unspecified.  Every other unit still comes through emit.  NULL commit:
 * no sink (every record comes through emit).  framer_init() clears the sink.
 */
void framer_set_sink(struct framer *f, struct rx_record *const *slot, rx_commit_fn commit);

/* Feed n bytes of the stream (any split) and emit an event for each unit they complete.  buf is only read during the
 * call. */
void framer_feed(struct framer *f, const void *buf, size_t n, rx_emit_fn emit, void *ctx);

/* End of input: an unterminated final unit is handled as if its delimiter had arrived (in AUTO a line; in V2 a
 * frame; an unfinished discard ends silently).  The framer then starts a new unit; mode and merged fix are kept. */
void framer_finish(struct framer *f, rx_emit_fn emit, void *ctx);

/* The fixed mode; in auto mode the format of the last valid unit, FRAMER_AUTO before the first. */
enum framer_mode framer_detected(const struct framer *f);

/*
 * Parse one complete text line s[0..n) (terminator removed, CR included or not) into *ev, as the framer does, using
 * and updating f's merged NMEA fix; ev->text/len point at s, or at the recovered sentence with ev->junk_len > 0
 * (the junk is the junk_len bytes before ev->text).  For tools and tests; it does not change the mode.
 */
void framer_parse_line(struct framer *f, const char *s, size_t n, struct rx_event *ev);

/*
 * Decode one v2 unit (COBS bytes without the 0x00) into *ev, as the framer does (including the device-time unwrap);
 * frame is the caller's storage that ev->v2 will point at.  Returns 0 when the unit is a valid frame, else the
 * v2x_frame_decode() error (ev is then a reject).
 */
int framer_parse_v2(struct framer *f, const uint8_t *s, size_t n, struct v2x_frame *frame, struct rx_event *ev);

#endif
