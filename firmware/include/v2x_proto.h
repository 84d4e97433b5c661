/*
 * v2x_proto.h - the V2 serial protocol shared by the project's ESP32 firmware and the Linux daemons.
 *
 * A link carries frames separated by one 0x00 byte.  Each frame is COBS-encoded (Consistent Overhead Byte
 * Stuffing, Cheshire and Baker 1999), so it contains no 0x00 itself; a legacy text line never contains one either,
 * so a receiver can tell the two apart (stages/can_rx/framer.h).  Decoded, a frame is, all integers little-endian:
 *
 *   offset  size  field
 *   0       1     type         enum v2x_type
 *   1       4     seq          per-link frame counter of the sender, +1 for every frame sent (wraps at 2^32)
 *   5       4     dev_time_us  the sender's microsecond clock (wraps every 2^32 us, about 71.6 min; receivers unwrap)
 *   9       n     payload      0..V2X_MAX_PAYLOAD bytes, layout per type (below)
 *   9+n     2     crc          CRC-16/CCITT-FALSE over bytes 0..9+n-1 (poly 0x1021, init 0xFFFF, not reflected,
 *                              xorout 0; "123456789" -> 0x29B1), stored little-endian
 *
 * V2X_MAX_PAYLOAD is 240 so that a decoded frame (at most 251 bytes) is under 254 bytes: COBS then adds exactly one
 * byte, and a whole encoded frame (at most 252 bytes) fits a receiver's 256-byte unit buffer.
 *
 * Payloads (a decoder rejects any other length or value with -EPROTO; an encoder refuses them the same way):
 *   V2X_T_CAN       id u32 (CAN_EFF_FLAG 0x80000000 extended, CAN_RTR_FLAG 0x40000000 remote; no other flag;
 *                   identifier <= 0x7FF without EFF, <= 0x1FFFFFFF with it), dlc u8 (0..8), then data[dlc] for a
 *                   data frame and nothing for a remote frame.  So 5..13 bytes.
 *   V2X_T_NMEA      one NMEA 0183 sentence as received, starting with '$', printable ASCII (0x20..0x7E), no CR/LF.
 *   V2X_T_STATUS    struct v2x_status, V2X_STATUS_LEN (21) bytes: 0 can_ok u8 (0|1), 1 gps_ok u8 (0|1), 2 sats u8,
 *                   3 hdop_centi u16 (HDOP x 100; 0xFFFF unknown), 5 can_overruns u32 (frames the CAN controller
 *                   lost), 9 tx_dropped u32 (frames the device could not queue for this link), 13 can_bus_errors u32,
 *                   17 uptime_ms u32.
 *   V2X_T_V2X_ITEM  the legacy 88-byte Item of link 2, unchanged (V2X_ITEM_LEN bytes).
 *   V2X_T_STATION   struct v2x_station, V2X_STATION_LEN (28) bytes, one charging slot's meter reading: 0 slot u8,
 *                   1 status u8 (0|1, current above the slot's threshold), 2 voltage_dv u16 (0.1 V), 4 current_ma u32,
 *                   8 power_dw u32 (0.1 W), 12 energy_wh u32, 16 freq_dhz u16 (0.1 Hz), 18 pf_centi u8 (0..100),
 *                   19 alarm u8 (0|1), 20 lat_e7 i32, 24 lon_e7 i32 (degrees x 1e7).
 *   V2X_T_CMD       command code u8 (not 0), then 0..V2X_MAX_PAYLOAD-1 argument bytes defined by the command.
 *   V2X_T_ACK       acked_seq u32 (seq of the frame answered), acked_type u8, result u8 (0 done, else a code): 6 bytes.
 *   V2X_T_CAN_BATCH several CAN frames in one frame (below).
 *
 * The batched CAN frame (V2X_T_CAN_BATCH).  A saturated 500 kbit/s bus carries up to 4,500 frames/s; one V2X_T_CAN
 * frame per CAN frame costs 26 bytes on the wire for an 8-byte frame (117 kB/s at 4,500 frames/s: more than a
 * 921,600-baud link's 92 kB/s) and one reader wake-up each.  A batch of k 8-byte frames costs 9 + 5 + 15k + 2 bytes
 * plus COBS and delimiter (243 bytes for 15 frames: 16.2 bytes a frame, 73 kB/s at bus rate).  Payload:
 *   offset  size  field
 *   0       1     count      number of CAN frames, 1..V2X_CAN_BATCH_MAX (33), and exactly as many entries follow
 *   1       4     first_can  the link's CAN frame number of the first entry (below)
 *   5       ...   entries, in the order the device received the frames, each:
 *                   0 offset_us u16  receive time of this frame minus the frame's dev_time_us (microseconds);
 *                                    non-decreasing from entry to entry
 *                   2 id u32         as V2X_T_CAN (flags, identifier range)
 *                   6 dlc u8         0..8
 *                   7 data[dlc]      for a data frame; nothing for a remote frame
 *                 so 7..15 bytes an entry; the entries fill the payload exactly (no trailing byte).
 * So an entry's device time is dev_time_us + offset_us (a sender puts the first frame's receive time in dev_time_us
 * and flushes a batch before its span would pass 65,535 us).
 * Loss accounting.  seq counts v2 frames, so a gap in seq is a lost frame (of whatever type).  first_can counts CAN
 * frames: the device numbers every CAN frame it sends on the link, in V2X_T_CAN and V2X_T_CAN_BATCH frames alike,
 * from 0, +1 each (wraps at 2^32); entry i of a batch is CAN frame first_can + i.  A receiver keeps the next expected
 * number (after a batch: first_can + count; after a single V2X_T_CAN frame: +1) and counts first_can - expected CAN
 * frames lost at each batch (stages/can_rx/framer.h keeps that count).
 *
 * Worked example 3: a batch, seq 2, dev_time_us 1002000 (0x000F4A10), first_can 1, three entries: at +0 us id 0x155
 * dlc 8 data 01 97 CE 54 9B 38 00 73; at +250 us (0x00FA) id 0x59B dlc 4 data 80 01 00 7E; at +1000 us (0x03E8) a
 * remote frame with the extended id 0x123 (id field 0xC0000123), dlc 0.  Payload (38 bytes):
 *   03 | 01 00 00 00 | 00 00 55 01 00 00 08 01 97 CE 54 9B 38 00 73 | FA 00 9B 05 00 00 04 80 01 00 7E
 *   | E8 03 23 01 00 C0 00
 * Decoded frame (49 bytes):
 *   08 | 02 00 00 00 | 10 4A 0F 00 | <the payload> | 25 3D     (crc 0x3D25)
 * On the wire (50 bytes COBS + delimiter):
 *   03 08 02 01 01 04 10 4A 0F 03 03 01 01 01 01 01 03 55 01 01 08 08 01 97 CE 54 9B 38 03 73 FA 03 9B 05 01
 *   04 04 80 01 06 7E E8 03 23 01 02 C0 03 25 3D 00
 * Device times of the three records: 1002000, 1002250, 1003000 us; CAN frame numbers 1, 2, 3.
 *
 * Worked example 1: a CAN frame, seq 1, dev_time_us 1000000 (0x000F4240), id 0x155, dlc 8, data 01 97 CE 54 9B 38
 * 00 73.  Decoded (24 bytes):
 *   01 | 01 00 00 00 | 40 42 0F 00 | 55 01 00 00 08 01 97 CE 54 9B 38 00 73 | EF 70     (crc 0x70EF)
 * On the wire (25 bytes COBS + delimiter):
 *   03 01 01 01 01 04 40 42 0F 03 55 01 01 08 08 01 97 CE 54 9B 38 04 73 EF 70 00
 *
 * Worked example 2: a status frame, seq 10, dev_time_us 0x12345678, can_ok 1, gps_ok 0, sats 0, HDOP 99.90
 * (hdop_centi 9990 = 0x2706), all counters 0, uptime 5000 ms.  Decoded (32 bytes):
 *   03 | 0A 00 00 00 | 78 56 34 12 | 01 00 00 06 27 00 00 00 00 00 00 00 00 00 00 00 00 88 13 00 00 | C3 F1
 * On the wire (33 bytes + delimiter; note the 0x0A byte, which is why a v2 link must not be split on newlines):
 *   03 03 0A 01 01 06 78 56 34 12 01 01 03 06 27 01 01 01 01 01 01 01 01 01 01 01 03 88 13 01 03 C3 F1 00
 *
 * Every function here is pure: no I/O, no allocation, no global state; safe from any thread, never blocks.
 * C11 and freestanding-friendly (needs only <stdint.h>, <stddef.h>, <errno.h>, <string.h>), so the firmware builds
 * it unchanged.
 */
#ifndef V2X_FIRMWARE_V2X_PROTO_H
#define V2X_FIRMWARE_V2X_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define V2X_MAX_PAYLOAD 240
#define V2X_HDR_LEN 9 /* type, seq, dev_time_us */
#define V2X_CRC_LEN 2
#define V2X_FRAME_MIN (V2X_HDR_LEN + V2X_CRC_LEN)                   /* 11: a frame with an empty payload */
#define V2X_FRAME_MAX (V2X_HDR_LEN + V2X_MAX_PAYLOAD + V2X_CRC_LEN) /* 251 decoded bytes */
/* Worst-case COBS size of n input bytes (without the delimiter). */
#define V2X_COBS_MAX(n) ((n) + (n) / 254 + 1)
/* Longest frame on the wire, COBS bytes plus the 0x00 delimiter: 253. */
#define V2X_WIRE_MAX (V2X_COBS_MAX(V2X_FRAME_MAX) + 1)

enum v2x_type {
	V2X_T_CAN = 1,      /* device -> computer: one received CAN frame */
	V2X_T_NMEA = 2,     /* device -> computer: one NMEA sentence from the GPS receiver */
	V2X_T_STATUS = 3,   /* device -> computer: link and receiver health, periodic */
	V2X_T_V2X_ITEM = 4, /* both ways on the hub link: a vehicle's 88-byte Item */
	V2X_T_STATION = 5,  /* station slot -> computer, and hub -> computer: one slot's reading */
	V2X_T_CMD = 6,      /* computer -> device: a command */
	V2X_T_ACK = 7,      /* device -> computer: the answer to a command */
	V2X_T_CAN_BATCH = 8, /* device -> computer: several received CAN frames with time offsets */
};
#define V2X_T_FIRST V2X_T_CAN
#define V2X_T_LAST V2X_T_CAN_BATCH

#define V2X_CAN_EFF_FLAG 0x80000000U
#define V2X_CAN_RTR_FLAG 0x40000000U
#define V2X_CAN_MIN_LEN 5
#define V2X_STATUS_LEN 21
#define V2X_ITEM_LEN 88
#define V2X_STATION_LEN 28
#define V2X_ACK_LEN 6
#define V2X_HDOP_UNKNOWN 0xFFFFu
#define V2X_CAN_BATCH_HDR 5                                                     /* count, first_can */
#define V2X_CAN_ENTRY_MIN 7                                                     /* offset, id, dlc */
#define V2X_CAN_ENTRY_MAX 15                                                    /* ... and 8 data bytes */
#define V2X_CAN_BATCH_MAX ((V2X_MAX_PAYLOAD - V2X_CAN_BATCH_HDR) / V2X_CAN_ENTRY_MIN) /* 33 */

/* A decoded frame.  payload holds len bytes; the rest of the array is unspecified. */
struct v2x_frame {
	uint8_t type;
	uint32_t seq;
	uint32_t dev_time_us;
	uint16_t len;
	uint8_t payload[V2X_MAX_PAYLOAD];
};

/* V2X_T_CAN payload, unpacked.  Data bytes at or past dlc (all of them for a remote frame) are zero. */
struct v2x_can {
	uint32_t id; /* identifier plus V2X_CAN_EFF_FLAG / V2X_CAN_RTR_FLAG */
	uint8_t dlc;
	uint8_t data[8];
};

/* V2X_T_STATUS payload, unpacked. */
struct v2x_status {
	uint8_t can_ok, gps_ok, sats;
	uint16_t hdop_centi;
	uint32_t can_overruns, tx_dropped, can_bus_errors, uptime_ms;
};

/* V2X_T_STATION payload, unpacked. */
struct v2x_station {
	uint8_t slot, status;
	uint16_t voltage_dv;
	uint32_t current_ma, power_dw, energy_wh;
	uint16_t freq_dhz;
	uint8_t pf_centi, alarm;
	int32_t lat_e7, lon_e7;
};

/* CRC-16/CCITT-FALSE of n bytes at p, continuing from crc (start with 0xFFFF).  Returns the new CRC. */
uint16_t v2x_crc16(uint16_t crc, const void *p, size_t n);

/*
 * COBS-encode n bytes from src into dst (capacity size); no delimiter is written.  Returns the encoded length
 * (at most V2X_COBS_MAX(n)) or -ENOBUFS when dst is too small.  src and dst must not overlap.
 */
int v2x_cobs_encode(const void *src, size_t n, uint8_t *dst, size_t size);

/*
 * Decode n COBS bytes (without the delimiter) from src into dst (capacity size).  Returns the decoded length,
 * -EILSEQ when src holds a 0x00 byte or a code byte points past the end, or -EMSGSIZE when dst is too small.
 * An empty input decodes to nothing (returns 0).  src and dst must not overlap.
 */
int v2x_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t size);

/*
 * Check a payload against its type's layout (above).  Returns 0, -ENOMSG for an unknown type, -EMSGSIZE when
 * len > V2X_MAX_PAYLOAD, or -EPROTO when the payload does not fit the type.
 */
int v2x_payload_check(uint8_t type, const uint8_t *payload, size_t len);

/*
 * Build one frame for the wire: header, payload, CRC, COBS, then the 0x00 delimiter, into out (capacity size;
 * V2X_WIRE_MAX always suffices).  Returns the number of bytes written including the delimiter, or the error of
 * v2x_payload_check(), or -ENOBUFS when out is too small.
 */
int v2x_frame_encode(uint8_t type, uint32_t seq, uint32_t dev_time_us, const void *payload, size_t len, uint8_t *out,
		     size_t size);

/*
 * Decode one frame from its n COBS bytes (the delimiter excluded) into *out.  Returns 0 or, checked in this order:
 *   -EILSEQ    bad COBS (a 0x00 byte inside, or a code byte past the end)
 *   -ENODATA   decoded frame shorter than V2X_FRAME_MIN
 *   -EMSGSIZE  decoded frame longer than V2X_FRAME_MAX (payload over V2X_MAX_PAYLOAD)
 *   -EBADMSG   CRC mismatch
 *   -ENOMSG    unknown type
 *   -EPROTO    payload malformed for its type
 * *out is unspecified after an error.
 */
int v2x_frame_decode(const uint8_t *cobs, size_t n, struct v2x_frame *out);

/* Short name of a v2x_frame_decode() / v2x_frame_encode() error ("bad_cobs", "bad_crc", ...); "ok" for 0. */
const char *v2x_strerror(int err);

/* Pack a CAN frame into out[13].  Returns the payload length (5..13) or -EPROTO when *c breaks the rules above. */
int v2x_can_pack(const struct v2x_can *c, uint8_t *out, size_t size);
/* Unpack a checked V2X_T_CAN payload.  Returns 0 or -EPROTO. */
int v2x_can_unpack(const uint8_t *payload, size_t len, struct v2x_can *c);

/* One entry of a V2X_T_CAN_BATCH payload, unpacked. */
struct v2x_can_entry {
	uint16_t offset_us; /* receive time minus the frame's dev_time_us */
	struct v2x_can can;
};

/* Bytes the entry for *c takes in a batch (V2X_CAN_ENTRY_MIN + data bytes), or 0 when *c breaks the V2X_T_CAN
 * rules. */
size_t v2x_can_entry_len(const struct v2x_can *c);

/*
 * Pack a V2X_T_CAN_BATCH payload of n entries e[0..n) into out (capacity size).  Returns the payload length, -EPROTO
 * when n is 0 or over V2X_CAN_BATCH_MAX, an entry's frame breaks the rules or offsets decrease, -EMSGSIZE when the
 * entries do not fit V2X_MAX_PAYLOAD, or -ENOBUFS when out is too small.  Pure; any thread.
 */
int v2x_can_batch_pack(uint32_t first_can, const struct v2x_can_entry *e, size_t n, uint8_t *out, size_t size);

/*
 * Unpack a V2X_T_CAN_BATCH payload into *first_can and e[0..max).  Returns the entry count (1..V2X_CAN_BATCH_MAX)
 * or -EPROTO when the payload is malformed (the rules above) or holds more than max entries.  Data bytes at or past
 * an entry's dlc are zero.
 */
int v2x_can_batch_unpack(const uint8_t *payload, size_t len, uint32_t *first_can, struct v2x_can_entry *e,
			 size_t max);

/* Pack *s into out (V2X_STATUS_LEN bytes).  Returns V2X_STATUS_LEN or -ENOBUFS. */
int v2x_status_pack(const struct v2x_status *s, uint8_t *out, size_t size);
/* Unpack a V2X_T_STATUS payload.  Returns 0 or -EPROTO. */
int v2x_status_unpack(const uint8_t *payload, size_t len, struct v2x_status *s);

/* Pack *s into out (V2X_STATION_LEN bytes).  Returns V2X_STATION_LEN or -ENOBUFS. */
int v2x_station_pack(const struct v2x_station *s, uint8_t *out, size_t size);
/* Unpack a V2X_T_STATION payload.  Returns 0 or -EPROTO. */
int v2x_station_unpack(const uint8_t *payload, size_t len, struct v2x_station *s);

#endif
