/*
 * framer.h - the can_rx framing layer: a byte stream from ESP32(1) (or a replayed log) in, one event per unit out.
 *
 * Pure logic: no file descriptor, clock, thread or heap.  The can_rx thread feeds whatever read() returned, in any
 * split; the framer cuts units, parses them (legacy_line.h, nmea.h, candump.h, v2x_proto.h) and calls emit once per
 * unit with a record, a reject reason or "ignored" (rx_event.h).  Every non-empty unit produces exactly one event;
 * empty text lines and empty v2 units (repeated 0x00 delimiters) produce none.
 *
 * Units.  Text: lines ended by LF, an optional CR before it dropped.  V2: COBS frames ended by 0x00.  A unit (text
 * line without its terminator, or COBS bytes without the 0x00) may be FRAMER_MAX_LINE bytes long; a longer one is
 * rejected once with RX_REJ_OVERLONG (its text: the first FRAMER_MAX_LINE + 1 bytes of a line, FRAMER_MAX_LINE of a
 * v2 run) and the rest of it, up to the next delimiter, is discarded.
 *
 * Text lines: printable ASCII only (0x20..0x7E); a NUL byte -> RX_REJ_NUL, any other byte -> RX_REJ_BINARY.  Kinds:
 * `SIM ...`, `GPS ...`, `STATUS ...` and the banner (legacy_line.h), `$...` NMEA (nmea.h; the framer keeps the merged
 * fix, so each fix-bearing sentence yields a REC_GPS record with the whole fix so far), `(...` candump log lines
 * (candump.h; CAN FD lines -> RX_REJ_CANDUMP).  Anything else -> RX_REJ_UNKNOWN.
 *
 * V2 frames: REC_CAN for V2X_T_CAN, REC_GPS for V2X_T_NMEA (through the same NMEA parser and merged fix), REC_STATUS
 * for V2X_T_STATUS (HDOP 0xFFFF -> 99.99; the device counters are in ev->v2); every other type -> RX_EV_IGNORED with
 * ev->v2 set, for the hub stage.  Records get REC_F_DEV_TIME, dev_seq = the frame's seq and dev_time_us = the
 * frame's 32-bit device time unwrapped to 64 bits (+2^32 whenever it goes backwards while seq goes forwards; a seq
 * that goes backwards means the device restarted, and the unwrap starts again from 0).  Decode errors map to
 * RX_REJ_V2_COBS / _SHORT / _CRC / _TYPE / _PAYLOAD (too long decoded = _PAYLOAD).
 *
 * Modes and detection.
 *   FRAMER_TEXT (fixed): only LF delimits; 0x00 is a byte of the line (-> RX_REJ_NUL).  Never switches.
 *   FRAMER_V2 (fixed): only 0x00 delimits.  An over-long run is rejected and discarded up to the next 0x00.
 *   FRAMER_AUTO: LF and 0x00 both delimit, until the first valid unit decides:
 *     - a unit ended by 0x00 that decodes as a valid v2 frame switches to V2 (detected);
 *     - a unit ended by LF that parses as a record, a banner or an ignored NMEA sentence switches to TEXT.
 *     While undecided, a unit ended by 0x00 that is not a valid frame is rejected as RX_REJ_NUL when it is all
 *     printable text, else with its v2 decode reason; a unit ended by LF is a text line.
 *   Detected TEXT: as fixed TEXT, but at each 0x00 the bytes since the previous 0x00 (or the line start) are tried
 *     as a v2 frame; a valid one is emitted and switches to V2 (the firmware was swapped): the text before it is
 *     rejected once as RX_REJ_NUL.  Otherwise the 0x00 stays part of the line, which is rejected as RX_REJ_NUL at
 *     its LF.  This try continues while an over-long line is being discarded.
 *   Detected V2: only 0x00 delimits (frames may contain 0x0A).  A run of more than FRAMER_MAX_LINE bytes without a
 *     0x00 (a legacy firmware again) is rejected RX_REJ_OVERLONG and the framer falls back to AUTO, discarding up to
 *     the next LF or 0x00.
 *   What detection loses: never a unit after the first valid one of the new kind.  Before it, in AUTO and in
 *   detected TEXT, LF still delimits, so a v2 frame holding a 0x0A byte is cut there and lost (rejected as the
 *   pieces it becomes), and so is a frame glued to the unterminated text line before it; the first frame without
 *   0x0A that starts after a 0x00 or LF is accepted and switches to V2.  (A frame has a 0x0A byte with probability
 *   about len/256, so this is typically zero or one frame.)  Going back from V2: the FRAMER_MAX_LINE bytes of the
 *   over-long run and the rest of the line they end in.
 *
 * Threads: one framer per input stream, used by one thread at a time; nothing is shared.  No call blocks or
 * allocates; emit is called synchronously from framer_feed()/framer_finish().
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
	enum framer_mode mode; /* current mode: AUTO until detected, unless fixed */
	uint8_t fixed;         /* framer_init() was given TEXT or V2: never switch */
	uint8_t dead;          /* discarding the rest of a rejected unit */
	uint8_t nul_seen;      /* text: the current line holds a 0x00 */
	uint8_t cand_bad;      /* detected text, dead: the v2 candidate overflowed; wait for the next 0x00 */
	uint16_t len;          /* bytes in buf */
	uint16_t seg;          /* detected text: where the v2 candidate (bytes after the last 0x00) starts in buf */
	uint8_t dev_known;     /* a v2 record has been seen: dev_seq/dev_time are meaningful */
	uint32_t dev_seq;      /* last v2 seq */
	uint32_t dev_time;     /* last v2 dev_time_us */
	uint64_t dev_time_hi;  /* wraps seen, << 32 */
	struct nmea_state nmea;
	uint8_t buf[FRAMER_MAX_LINE + 2]; /* a unit, its CR, and room to see that it is too long */
};

/* Start a stream in the given mode.  Never fails. */
void framer_init(struct framer *f, enum framer_mode mode);

/* Feed n bytes of the stream (any split) and emit an event for each unit they complete.  buf is only read during the
 * call. */
void framer_feed(struct framer *f, const void *buf, size_t n, rx_emit_fn emit, void *ctx);

/* End of input: an unterminated final unit is handled as if its delimiter had arrived (in AUTO a line; in V2 a
 * frame; an unfinished discard ends silently).  The framer then starts a new unit; mode and merged fix are kept. */
void framer_finish(struct framer *f, rx_emit_fn emit, void *ctx);

/* The current mode: FRAMER_AUTO while undecided, else what was fixed or detected. */
enum framer_mode framer_detected(const struct framer *f);

/*
 * Parse one complete text line s[0..n) (terminator removed, CR included or not) into *ev, as the framer does, using
 * and updating f's merged NMEA fix; ev->text/len point at s.  For tools such as `v2xd decode` and for tests; it does
 * not change the mode.
 */
void framer_parse_line(struct framer *f, const char *s, size_t n, struct rx_event *ev);

/*
 * Decode one v2 unit (COBS bytes without the 0x00) into *ev, as the framer does (including the device-time unwrap);
 * frame is the caller's storage that ev->v2 will point at.  Returns 0 when the unit is a valid frame, else the
 * v2x_frame_decode() error (ev is then a reject).
 */
int framer_parse_v2(struct framer *f, const uint8_t *s, size_t n, struct v2x_frame *frame, struct rx_event *ev);

#endif
