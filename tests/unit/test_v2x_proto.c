/*
 * test_v2x_proto.c - the V2 frame (firmware/include/v2x_proto.h) and its detection by the can_rx framer.
 *
 * Known values: the CRC-16/CCITT-FALSE check value 0x29B1 of "123456789" (the CRC catalogue); the COBS examples of
 * Cheshire & Baker's paper as listed on Wikipedia; the two worked frames of v2x_proto.h, computed by hand-checked
 * Python (struct.pack + a bitwise CRC + a block-splitting COBS), not by this code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "v2x_proto.h"
#include "stages/can_rx/framer.h"

/* Worked example 1 of v2x_proto.h. */
static const uint8_t ex1_raw[] = {0x01, 0x01, 0x00, 0x00, 0x00, 0x40, 0x42, 0x0F, 0x00, 0x55, 0x01, 0x00,
				  0x00, 0x08, 0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73, 0xEF, 0x70};
static const uint8_t ex1_wire[] = {0x03, 0x01, 0x01, 0x01, 0x01, 0x04, 0x40, 0x42, 0x0F, 0x03, 0x55, 0x01, 0x01,
				   0x08, 0x08, 0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x04, 0x73, 0xEF, 0x70, 0x00};
static const uint8_t ex1_payload[] = {0x55, 0x01, 0x00, 0x00, 0x08, 0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73};

/* Worked example 2 of v2x_proto.h. */
static const uint8_t ex2_raw[] = {0x03, 0x0A, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x00,
				  0x00, 0x06, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				  0x00, 0x00, 0x00, 0x00, 0x88, 0x13, 0x00, 0x00, 0xC3, 0xF1};
static const uint8_t ex2_wire[] = {0x03, 0x03, 0x0A, 0x01, 0x01, 0x06, 0x78, 0x56, 0x34, 0x12, 0x01, 0x01,
				   0x03, 0x06, 0x27, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
				   0x01, 0x01, 0x03, 0x88, 0x13, 0x01, 0x03, 0xC3, 0xF1, 0x00};

/* Worked example 3 of v2x_proto.h (a batch of three CAN frames), computed in Python (struct.pack, bitwise CRC,
 * block-splitting COBS) from the layout, not by this code. */
static const uint8_t ex3_payload[] = {0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x01, 0x00, 0x00, 0x08, 0x01,
				      0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73, 0xFA, 0x00, 0x9B, 0x05, 0x00, 0x00,
				      0x04, 0x80, 0x01, 0x00, 0x7E, 0xE8, 0x03, 0x23, 0x01, 0x00, 0xC0, 0x00};
static const uint8_t ex3_wire[] = {0x03, 0x08, 0x02, 0x01, 0x01, 0x04, 0x10, 0x4A, 0x0F, 0x03, 0x03, 0x01, 0x01,
				   0x01, 0x01, 0x01, 0x03, 0x55, 0x01, 0x01, 0x08, 0x08, 0x01, 0x97, 0xCE, 0x54,
				   0x9B, 0x38, 0x03, 0x73, 0xFA, 0x03, 0x9B, 0x05, 0x01, 0x04, 0x04, 0x80, 0x01,
				   0x06, 0x7E, 0xE8, 0x03, 0x23, 0x01, 0x02, 0xC0, 0x03, 0x25, 0x3D, 0x00};

static void test_crc_check_value(void **state)
{
	assert_int_equal(v2x_crc16(0xFFFF, "123456789", 9), 0x29B1);
	/* Incremental use gives the same result. */
	assert_int_equal(v2x_crc16(v2x_crc16(0xFFFF, "1234", 4), "56789", 5), 0x29B1);
	assert_int_equal(v2x_crc16(0xFFFF, "", 0), 0xFFFF);
}

/* The definition, one bit at a time (MSB first, polynomial 0x1021), against the table-driven v2x_crc16. */
static uint16_t crc16_bitwise(uint16_t crc, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(b[i] << 8);
		for (int k = 0; k < 8; k++)
			crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
	}
	return crc;
}

static void test_crc_matches_definition(void **state)
{
	(void)state;
	uint8_t buf[300];
	uint32_t x = 12345;

	/* every single byte from every register value of a sweep: covers every table entry */
	for (unsigned reg = 0; reg < 0x10000; reg += 257)
		for (unsigned b = 0; b < 256; b++) {
			uint8_t c = (uint8_t)b;
			assert_int_equal(v2x_crc16((uint16_t)reg, &c, 1), crc16_bitwise((uint16_t)reg, &c, 1));
		}
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t n = 0; n <= sizeof(buf); n += 7)
		assert_int_equal(v2x_crc16(0xFFFF, buf, n), crc16_bitwise(0xFFFF, buf, n));
}

static void cobs_case(const uint8_t *in, size_t n, const uint8_t *want, size_t want_n)
{
	uint8_t enc[600], dec[600];
	int len = v2x_cobs_encode(in, n, enc, sizeof(enc));

	assert_int_equal(len, (int)want_n);
	assert_memory_equal(enc, want, want_n);
	assert_int_equal(v2x_cobs_decode(enc, (size_t)len, dec, sizeof(dec)), (int)n);
	if (n)
		assert_memory_equal(dec, in, n);
	/* The worst-case bound holds. */
	assert_true((size_t)len <= V2X_COBS_MAX(n));
}

static void test_cobs_known_vectors(void **state)
{
	uint8_t in[300], want[300];

	cobs_case((const uint8_t[]){0x00}, 1, (const uint8_t[]){0x01, 0x01}, 2);
	cobs_case((const uint8_t[]){0x00, 0x00}, 2, (const uint8_t[]){0x01, 0x01, 0x01}, 3);
	cobs_case((const uint8_t[]){0x00, 0x11, 0x00}, 3, (const uint8_t[]){0x01, 0x02, 0x11, 0x01}, 4);
	cobs_case((const uint8_t[]){0x11, 0x22, 0x00, 0x33}, 4, (const uint8_t[]){0x03, 0x11, 0x22, 0x02, 0x33}, 5);
	cobs_case((const uint8_t[]){0x11, 0x22, 0x33, 0x44}, 4, (const uint8_t[]){0x05, 0x11, 0x22, 0x33, 0x44}, 5);
	cobs_case((const uint8_t[]){0x11, 0x00, 0x00, 0x00}, 4, (const uint8_t[]){0x02, 0x11, 0x01, 0x01, 0x01}, 5);
	cobs_case(NULL, 0, (const uint8_t[]){0x01}, 1);

	/* 01 02 .. FE (254 non-zero bytes) -> FF 01 .. FE: a full block and no trailing block. */
	for (int i = 0; i < 254; i++)
		in[i] = (uint8_t)(i + 1);
	want[0] = 0xFF;
	memcpy(want + 1, in, 254);
	cobs_case(in, 254, want, 255);

	/* 00 01 .. FE (255 bytes) -> 01 FF 01 .. FE. */
	in[0] = 0;
	for (int i = 1; i < 255; i++)
		in[i] = (uint8_t)i;
	want[0] = 0x01;
	want[1] = 0xFF;
	memcpy(want + 2, in + 1, 254);
	cobs_case(in, 255, want, 256);

	/* 01 02 .. FF (255 bytes) -> FF 01 .. FE 02 FF. */
	for (int i = 0; i < 255; i++)
		in[i] = (uint8_t)(i + 1);
	want[0] = 0xFF;
	memcpy(want + 1, in, 254);
	want[255] = 0x02;
	want[256] = 0xFF;
	cobs_case(in, 255, want, 257);

	/* 02 03 .. FF 00 (255 bytes) -> FF 02 .. FF 01 01. */
	for (int i = 0; i < 254; i++)
		in[i] = (uint8_t)(i + 2);
	in[254] = 0;
	want[0] = 0xFF;
	memcpy(want + 1, in, 254);
	want[255] = 0x01;
	want[256] = 0x01;
	cobs_case(in, 255, want, 257);

	/* 03 04 .. FF 00 01 (255 bytes) -> FE 03 .. FF 02 01. */
	for (int i = 0; i < 253; i++)
		in[i] = (uint8_t)(i + 3);
	in[253] = 0;
	in[254] = 1;
	want[0] = 0xFE;
	memcpy(want + 1, in, 253);
	want[254] = 0x02;
	want[255] = 0x01;
	cobs_case(in, 255, want, 256);
}

static void test_cobs_errors(void **state)
{
	uint8_t out[16];

	/* A code byte that runs past the end, a zero inside, a zero code. */
	assert_int_equal(v2x_cobs_decode((const uint8_t[]){0x05, 0x11, 0x22}, 3, out, sizeof(out)), -EILSEQ);
	assert_int_equal(v2x_cobs_decode((const uint8_t[]){0x03, 0x11, 0x00}, 3, out, sizeof(out)), -EILSEQ);
	assert_int_equal(v2x_cobs_decode((const uint8_t[]){0x00}, 1, out, sizeof(out)), -EILSEQ);
	/* Output buffer too small, both ways. */
	assert_int_equal(v2x_cobs_decode((const uint8_t[]){0x05, 0x11, 0x22, 0x33, 0x44}, 5, out, 3), -EMSGSIZE);
	assert_int_equal(v2x_cobs_encode((const uint8_t[]){0x11, 0x22, 0x33}, 3, out, 3), -ENOBUFS);
	assert_int_equal(v2x_cobs_encode((const uint8_t[]){0x00, 0x00, 0x00}, 3, out, 3), -ENOBUFS);
	assert_int_equal(v2x_cobs_encode(NULL, 0, out, 0), -ENOBUFS);
	/* A full block followed by an explicit final 0x01 decodes like the short form. */
	uint8_t in[256], dec[300];
	in[0] = 0xFF;
	for (int i = 1; i < 255; i++)
		in[i] = (uint8_t)i;
	in[255] = 0x01;
	assert_int_equal(v2x_cobs_decode(in, 256, dec, sizeof(dec)), 254);
	assert_int_equal(v2x_cobs_decode(in, 255, dec, sizeof(dec)), 254);
}

static void test_worked_example_1(void **state)
{
	uint8_t out[V2X_WIRE_MAX];
	struct v2x_frame fr;
	struct v2x_can can = {.id = 0x155, .dlc = 8, .data = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}};
	uint8_t payload[13];

	assert_int_equal(v2x_can_pack(&can, payload, sizeof(payload)), 13);
	assert_memory_equal(payload, ex1_payload, 13);
	assert_int_equal(v2x_crc16(0xFFFF, ex1_raw, sizeof(ex1_raw) - 2), 0x70EF);
	int n = v2x_frame_encode(V2X_T_CAN, 1, 1000000, payload, 13, out, sizeof(out));
	assert_int_equal(n, (int)sizeof(ex1_wire));
	assert_memory_equal(out, ex1_wire, sizeof(ex1_wire));

	assert_int_equal(v2x_frame_decode(ex1_wire, sizeof(ex1_wire) - 1, &fr), 0);
	assert_int_equal(fr.type, V2X_T_CAN);
	assert_int_equal(fr.seq, 1);
	assert_int_equal(fr.dev_time_us, 1000000);
	assert_int_equal(fr.len, 13);
	assert_memory_equal(fr.payload, ex1_payload, 13);
	struct v2x_can back;
	assert_int_equal(v2x_can_unpack(fr.payload, fr.len, &back), 0);
	assert_int_equal(back.id, 0x155);
	assert_int_equal(back.dlc, 8);
	assert_memory_equal(back.data, can.data, 8);
	/* The COBS layer alone gives the raw frame. */
	uint8_t raw[64];
	assert_int_equal(v2x_cobs_decode(ex1_wire, sizeof(ex1_wire) - 1, raw, sizeof(raw)), (int)sizeof(ex1_raw));
	assert_memory_equal(raw, ex1_raw, sizeof(ex1_raw));
}

static void test_worked_example_2(void **state)
{
	uint8_t out[V2X_WIRE_MAX], payload[V2X_STATUS_LEN];
	struct v2x_status st = {.can_ok = 1, .gps_ok = 0, .sats = 0, .hdop_centi = 9990, .uptime_ms = 5000};
	struct v2x_frame fr;
	struct v2x_status back;

	assert_int_equal(v2x_status_pack(&st, payload, sizeof(payload)), V2X_STATUS_LEN);
	assert_memory_equal(payload, ex2_raw + V2X_HDR_LEN, V2X_STATUS_LEN);
	int n = v2x_frame_encode(V2X_T_STATUS, 10, 0x12345678, payload, sizeof(payload), out, sizeof(out));
	assert_int_equal(n, (int)sizeof(ex2_wire));
	assert_memory_equal(out, ex2_wire, sizeof(ex2_wire));
	assert_int_equal(v2x_frame_decode(ex2_wire, sizeof(ex2_wire) - 1, &fr), 0);
	assert_int_equal(fr.type, V2X_T_STATUS);
	assert_int_equal(fr.seq, 10);
	assert_int_equal(fr.dev_time_us, 0x12345678);
	assert_int_equal(v2x_status_unpack(fr.payload, fr.len, &back), 0);
	assert_int_equal(back.can_ok, 1);
	assert_int_equal(back.hdop_centi, 9990);
	assert_int_equal(back.uptime_ms, 5000);
	assert_int_equal(back.tx_dropped, 0);
}

static const struct v2x_can_entry ex3_entries[3] = {
	{.offset_us = 0, .can = {.id = 0x155, .dlc = 8, .data = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}}},
	{.offset_us = 250, .can = {.id = 0x59B, .dlc = 4, .data = {0x80, 0x01, 0x00, 0x7E}}},
	{.offset_us = 1000, .can = {.id = 0xC0000123u, .dlc = 0}},
};

static void test_worked_example_3_batch(void **state)
{
	uint8_t payload[V2X_MAX_PAYLOAD], out[V2X_WIRE_MAX];
	struct v2x_can_entry back[V2X_CAN_BATCH_MAX];
	struct v2x_frame fr;
	uint32_t first = 0;

	assert_int_equal(v2x_can_entry_len(&ex3_entries[0].can), 15);
	assert_int_equal(v2x_can_entry_len(&ex3_entries[1].can), 11);
	assert_int_equal(v2x_can_entry_len(&ex3_entries[2].can), 7);
	assert_int_equal(v2x_can_batch_pack(1, ex3_entries, 3, payload, sizeof(payload)), (int)sizeof(ex3_payload));
	assert_memory_equal(payload, ex3_payload, sizeof(ex3_payload));
	int n = v2x_frame_encode(V2X_T_CAN_BATCH, 2, 1002000, payload, sizeof(ex3_payload), out, sizeof(out));
	assert_int_equal(n, (int)sizeof(ex3_wire));
	assert_memory_equal(out, ex3_wire, sizeof(ex3_wire));

	assert_int_equal(v2x_frame_decode(ex3_wire, sizeof(ex3_wire) - 1, &fr), 0);
	assert_int_equal(fr.type, V2X_T_CAN_BATCH);
	assert_int_equal(fr.seq, 2);
	assert_int_equal(fr.dev_time_us, 1002000);
	assert_int_equal(v2x_can_batch_unpack(fr.payload, fr.len, &first, back, V2X_CAN_BATCH_MAX), 3);
	assert_int_equal(first, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(back[i].offset_us, ex3_entries[i].offset_us);
		assert_int_equal(back[i].can.id, ex3_entries[i].can.id);
		assert_int_equal(back[i].can.dlc, ex3_entries[i].can.dlc);
		assert_memory_equal(back[i].can.data, ex3_entries[i].can.data, 8);
	}
	/* Fewer slots than entries: refused, not truncated. */
	assert_int_equal(v2x_can_batch_unpack(fr.payload, fr.len, &first, back, 2), -EPROTO);
}

static void test_batch_rules(void **state)
{
	uint8_t p[V2X_MAX_PAYLOAD + 20];
	struct v2x_can_entry e[V2X_CAN_BATCH_MAX + 1];
	size_t n = sizeof(ex3_payload);

	/* Every rule, on a copy of the worked example. */
	memcpy(p, ex3_payload, n);
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), 0);
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n - 1), -EPROTO); /* entry cut short */
	p[n] = 0;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n + 1), -EPROTO); /* trailing byte */
	p[0] = 2;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO); /* count below the entries */
	p[0] = 4;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO); /* count above */
	p[0] = 0;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, 5), -EPROTO); /* empty batch */
	memcpy(p, ex3_payload, n);
	p[20] = 0x10; /* second offset 16 us: still >= the first (0) */
	p[21] = 0x00;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), 0);
	p[31] = 0x05; /* third offset 5 us: before the second, refused */
	p[32] = 0x00;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO);
	p[31] = 0x10; /* equal offsets are fine */
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), 0);
	memcpy(p, ex3_payload, n);
	p[26] = 9; /* dlc 9 */
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO);
	memcpy(p, ex3_payload, n);
	p[8] = 0x08; /* first id 0x855 without EFF */
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO);
	memcpy(p, ex3_payload, n);
	p[36] = 0xE0; /* third id with an error flag 0x20000000 */
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, n), -EPROTO);

	/* Packing refuses what decoding would refuse. */
	memcpy(e, ex3_entries, sizeof(ex3_entries));
	assert_int_equal(v2x_can_batch_pack(0, e, 0, p, sizeof(p)), -EPROTO);
	e[1].offset_us = 1001;
	assert_int_equal(v2x_can_batch_pack(0, e, 3, p, sizeof(p)), -EPROTO);
	e[1].offset_us = 250;
	e[1].can.dlc = 9;
	assert_int_equal(v2x_can_batch_pack(0, e, 3, p, sizeof(p)), -EPROTO);
	e[1].can.dlc = 4;
	assert_int_equal(v2x_can_batch_pack(0, e, 3, p, 37), -ENOBUFS);
	/* 16 8-byte entries: 5 + 16 x 15 = 245 bytes, over the 240-byte payload; 15 fit (230). */
	for (int i = 0; i < 16; i++)
		e[i] = ex3_entries[0];
	assert_int_equal(v2x_can_batch_pack(0, e, 16, p, sizeof(p)), -EMSGSIZE);
	assert_int_equal(v2x_can_batch_pack(0, e, 15, p, sizeof(p)), 230);
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, 230), 0);
	/* 33 zero-dlc entries: 5 + 33 x 7 = 236 bytes, the most a batch holds; 34 is refused. */
	for (int i = 0; i < 34; i++)
		e[i] = (struct v2x_can_entry){.offset_us = (uint16_t)i, .can = {.id = 0x100, .dlc = 0}};
	assert_int_equal(V2X_CAN_BATCH_MAX, 33);
	assert_int_equal(v2x_can_batch_pack(7, e, 33, p, sizeof(p)), 236);
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, 236), 0);
	assert_int_equal(v2x_can_batch_pack(7, e, 34, p, sizeof(p)), -EPROTO);
	/* Count 34 on that payload is refused (34 entries cannot fit 240 bytes). */
	p[0] = 34;
	assert_int_equal(v2x_payload_check(V2X_T_CAN_BATCH, p, 236), -EPROTO);
}

/* COBS-encode a raw frame with a correct CRC appended (CRC and COBS are checked against known values above). */
static size_t make_wire(const uint8_t *raw_no_crc, size_t n, uint8_t *wire)
{
	uint8_t raw[300];

	memcpy(raw, raw_no_crc, n);
	uint16_t crc = v2x_crc16(0xFFFF, raw, n);
	raw[n] = (uint8_t)crc;
	raw[n + 1] = (uint8_t)(crc >> 8);
	int len = v2x_cobs_encode(raw, n + 2, wire, 600);
	assert_true(len > 0);
	return (size_t)len;
}

static int decode_raw(const uint8_t *raw_no_crc, size_t n)
{
	uint8_t wire[600];
	struct v2x_frame fr;
	size_t len = make_wire(raw_no_crc, n, wire);

	return v2x_frame_decode(wire, len, &fr);
}

static void test_decode_errors(void **state)
{
	struct v2x_frame fr;
	uint8_t wire[600], raw[300];

	/* Bad COBS. */
	assert_int_equal(v2x_frame_decode((const uint8_t[]){0x09, 0x01}, 2, &fr), -EILSEQ);
	assert_int_equal(v2x_frame_decode(ex1_wire, sizeof(ex1_wire), &fr), -EILSEQ); /* delimiter included */
	/* Too short: nothing, and 10 bytes. */
	assert_int_equal(v2x_frame_decode(NULL, 0, &fr), -ENODATA);
	memset(raw, 0x11, sizeof(raw));
	assert_int_equal(v2x_cobs_encode(raw, 10, wire, sizeof(wire)), 11);
	assert_int_equal(v2x_frame_decode(wire, 11, &fr), -ENODATA);
	/* Too long: a 252-byte frame (payload 241) after a 251-byte one. */
	raw[0] = V2X_T_CMD;
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + V2X_MAX_PAYLOAD), 0); /* 240-byte payload: the maximum */
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + V2X_MAX_PAYLOAD + 1), -EMSGSIZE);
	/* CRC: one payload bit flipped on the wire. */
	memcpy(wire, ex1_wire, sizeof(ex1_wire));
	wire[16] ^= 0x01;
	assert_int_equal(v2x_frame_decode(wire, sizeof(ex1_wire) - 1, &fr), -EBADMSG);
	/* Unknown types 0 and V2X_T_LAST + 1 (9), with correct CRCs. */
	memcpy(raw, ex1_raw, sizeof(ex1_raw) - 2);
	raw[0] = 0;
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -ENOMSG);
	raw[0] = V2X_T_LAST + 1;
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -ENOMSG);
	raw[0] = V2X_T_CAN;
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), 0);
	/* Payload malformed for its type. */
	raw[13] = 9; /* dlc 9 */
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -EPROTO);
	raw[13] = 7; /* dlc 7 but 8 data bytes */
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -EPROTO);
	raw[13] = 8;
	raw[10] = 0x08; /* id 0x855 without the extended flag */
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -EPROTO);
	raw[12] = 0x80; /* ... with it: fine */
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), 0);
	raw[12] = 0x20; /* error flag */
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -EPROTO);
	raw[12] = 0x40; /* remote frame with data bytes */
	raw[10] = 0x01;
	assert_int_equal(decode_raw(raw, sizeof(ex1_raw) - 2), -EPROTO);
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + 5), 0); /* remote frame, no data: fine */
	memcpy(raw, ex2_raw, sizeof(ex2_raw) - 2);
	raw[9] = 2; /* can_ok 2 */
	assert_int_equal(decode_raw(raw, sizeof(ex2_raw) - 2), -EPROTO);
	raw[9] = 1;
	assert_int_equal(decode_raw(raw, sizeof(ex2_raw) - 3), -EPROTO); /* 20-byte status */
	raw[0] = V2X_T_NMEA;                                            /* payload does not start with '$' */
	assert_int_equal(decode_raw(raw, sizeof(ex2_raw) - 2), -EPROTO);
	raw[0] = V2X_T_V2X_ITEM;
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + 87), -EPROTO);
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + 88), 0);
	raw[0] = V2X_T_ACK;
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + 5), -EPROTO);
	raw[0] = V2X_T_CMD;
	raw[9] = 0;
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN + 1), -EPROTO);
	assert_int_equal(decode_raw(raw, V2X_HDR_LEN), -EPROTO);
	/* Names for the log. */
	assert_string_equal(v2x_strerror(-EBADMSG), "bad_crc");
	assert_string_equal(v2x_strerror(0), "ok");
}

/*
 * The decoder's contract (v2x_proto.h), written out the slow way: COBS as the paper gives it, byte by byte (a zero
 * byte anywhere, or a block running past the end, is -EILSEQ), then length, CRC and payload rules in that order.
 */
static int frame_decode_reference(const uint8_t *src, size_t n, struct v2x_frame *out)
{
	uint8_t raw[1024];
	size_t i = 0, len = 0;

	while (i < n) {
		uint8_t code = src[i++];
		if (code == 0)
			return -EILSEQ;
		for (unsigned k = 1; k < code; k++) {
			if (i >= n || src[i] == 0)
				return -EILSEQ;
			raw[len++] = src[i++];
		}
		if (code != 0xFF && i < n)
			raw[len++] = 0;
	}
	if (len < V2X_FRAME_MIN)
		return -ENODATA;
	if (len > V2X_FRAME_MAX)
		return -EMSGSIZE;
	uint16_t crc = crc16_bitwise(0xFFFF, raw, len - V2X_CRC_LEN);
	if (crc != (uint16_t)(raw[len - 2] | raw[len - 1] << 8))
		return -EBADMSG;
	int rc = v2x_payload_check(raw[0], raw + V2X_HDR_LEN, len - V2X_FRAME_MIN);
	if (rc < 0)
		return rc;
	out->type = raw[0];
	out->len = (uint16_t)(len - V2X_FRAME_MIN);
	memcpy(out->payload, raw + V2X_HDR_LEN, out->len);
	return 0;
}

/* Valid frames of every size, then each with bytes changed, cut or extended: the decoder agrees with the reference. */
static void test_decode_matches_reference(void **state)
{
	(void)state;
	uint8_t payload[V2X_MAX_PAYLOAD], wire[600];
	uint32_t x = 987654321u;

	for (int round = 0; round < 4000; round++) {
		size_t plen = 1 + (size_t)(round % V2X_MAX_PAYLOAD);
		for (size_t i = 0; i < plen; i++) {
			x = x * 1103515245u + 12345u;
			payload[i] = (x >> 20) % 3 == 0 ? 0 : (uint8_t)(x >> 16); /* many zeros: short COBS blocks */
		}
		payload[0] = 1; /* a command: any bytes after a non-zero first one */
		int n = v2x_frame_encode(V2X_T_CMD, (uint32_t)round, 7, payload, plen, wire, sizeof(wire));
		assert_true(n > 1);
		size_t wn = (size_t)n - 1; /* without the delimiter */
		x = x * 1103515245u + 12345u;
		switch (round % 5) {
		case 0: break;                                                        /* as encoded */
		case 1: wire[x % wn] = (uint8_t)(x >> 8); break;                      /* one byte changed */
		case 2: wn = x % wn; break;                                           /* cut */
		case 3: memset(wire + wn, 0x05, 300); wn += 300 - (x % 200); break;  /* too long */
		case 4: wire[x % wn] ^= 0x01; wire[(x >> 8) % wn] = 0; break;         /* a zero inside */
		}
		struct v2x_frame a, b;
		int ra = v2x_frame_decode(wn ? wire : NULL, wn, &a), rb = frame_decode_reference(wire, wn, &b);
		assert_int_equal(ra, rb);
		if (ra == 0) {
			assert_int_equal(a.type, b.type);
			assert_int_equal(a.len, b.len);
			assert_memory_equal(a.payload, b.payload, a.len);
		}
	}
}

static void test_encode_errors(void **state)
{
	uint8_t out[V2X_WIRE_MAX], big[V2X_MAX_PAYLOAD + 1];

	memset(big, 'A', sizeof(big));
	big[0] = '$';
	assert_int_equal(v2x_frame_encode(V2X_T_NMEA, 1, 2, big, V2X_MAX_PAYLOAD, out, sizeof(out)),
			 (int)V2X_WIRE_MAX);
	assert_int_equal(v2x_frame_encode(V2X_T_NMEA, 1, 2, big, V2X_MAX_PAYLOAD + 1, out, sizeof(out)), -EMSGSIZE);
	assert_int_equal(v2x_frame_encode(V2X_T_NMEA, 1, 2, big, 10, out, 10), -ENOBUFS);
	assert_int_equal(v2x_frame_encode(99, 1, 2, big, 10, out, sizeof(out)), -ENOMSG);
	assert_int_equal(v2x_frame_encode(V2X_T_STATUS, 1, 2, big, 10, out, sizeof(out)), -EPROTO);
}

static void test_station_roundtrip(void **state)
{
	struct v2x_station s = {.slot = 2, .status = 1, .voltage_dv = 2301, .current_ma = 15500, .power_dw = 35650,
				.energy_wh = 1234, .freq_dhz = 500, .pf_centi = 98, .alarm = 0, .lat_e7 = -337777777,
				.lon_e7 = 1511234567};
	struct v2x_station back;
	uint8_t p[V2X_STATION_LEN];

	assert_int_equal(v2x_station_pack(&s, p, sizeof(p)), V2X_STATION_LEN);
	/* Little-endian at the documented offsets. */
	assert_int_equal(p[2] | p[3] << 8, 2301);
	assert_int_equal(p[18], 98);
	assert_int_equal(v2x_station_unpack(p, sizeof(p), &back), 0);
	assert_memory_equal(&back, &s, sizeof(s));
	p[18] = 101;
	assert_int_equal(v2x_station_unpack(p, sizeof(p), &back), -EPROTO);
}

/* --- detection by the framer ----------------------------------------------------------------------------------- */

struct coll {
	unsigned n, records, rejects, ignored;
	struct rx_event ev[64];
};

static void collect(void *ctx, const struct rx_event *ev)
{
	struct coll *c = ctx;

	if (c->n < 64)
		c->ev[c->n] = *ev;
	c->n++;
	c->records += ev->kind == RX_EV_RECORD;
	c->rejects += ev->kind == RX_EV_REJECT;
	c->ignored += ev->kind == RX_EV_IGNORED;
}

static void test_detect_v2_stream(void **state)
{
	uint8_t stream[600];
	size_t n = 0;
	/* A frame whose data holds 0x0A bytes (LF) and one whose seq and time do. */
	struct v2x_can can = {.id = 0x0A0A | V2X_CAN_EFF_FLAG, .dlc = 4, .data = {0x0A, 0x0A, 0x0D, 0x0A}};
	uint8_t payload[16];
	int len = v2x_can_pack(&can, payload, sizeof(payload));

	memcpy(stream + n, ex1_wire, sizeof(ex1_wire));
	n += sizeof(ex1_wire);
	memcpy(stream + n, ex2_wire, sizeof(ex2_wire));
	n += sizeof(ex2_wire);
	n += (size_t)v2x_frame_encode(V2X_T_CAN, 11, 0x0A0A0A0A, payload, (size_t)len, stream + n, 100);
	assert_non_null(memchr(stream, '\n', n));
	for (size_t split = 0; split <= n; split++) {
		struct framer f;
		struct coll c = {0};
		framer_init(&f, FRAMER_AUTO);
		framer_feed(&f, stream, split, collect, &c);
		framer_feed(&f, stream + split, n - split, collect, &c);
		framer_finish(&f, collect, &c);
		assert_int_equal(c.n, 3);
		assert_int_equal(c.records, 3);
		assert_int_equal(framer_detected(&f), FRAMER_V2);
		assert_int_equal(c.ev[0].rec.type, REC_CAN);
		assert_int_equal(c.ev[0].rec.u.can.id, 0x155);
		assert_int_equal(c.ev[0].rec.flags, REC_F_DEV_TIME);
		assert_int_equal(c.ev[0].rec.dev_seq, 1);
		assert_true(c.ev[0].rec.dev_time_us == 1000000);
		assert_int_equal(c.ev[1].rec.type, REC_STATUS);
		assert_int_equal(c.ev[1].rec.u.status.can_ok, 1);
		assert_int_equal(c.ev[1].rec.u.status.gps_ok, 0);
		assert_true(c.ev[1].rec.u.status.hdop > 99.89f && c.ev[1].rec.u.status.hdop < 99.91f);
		assert_true(c.ev[1].rec.dev_time_us == 0x12345678);
		assert_int_equal(c.ev[2].rec.u.can.id, 0x0A0Au | CAN_EFF_FLAG);
		assert_int_equal(c.ev[2].rec.u.can.dlc, 4);
		assert_int_equal(c.ev[2].rec.u.can.data[3], 0x0A);
		assert_int_equal(c.ev[2].rec.u.can.data[4], 0);
	}
}

#define SIM_LINE "SIM 155 8 01 97 CE 54 9B 38 00 73\r\n"

static size_t put(uint8_t *stream, size_t n, const void *p, size_t len)
{
	memcpy(stream + n, p, len);
	return n + len;
}

static void test_detect_text_then_v2(void **state)
{
	static const char head[] = SIM_LINE SIM_LINE "SIM 155 8 01";
	uint8_t stream[600];
	size_t n = 0;

	/* Two legacy lines, then the firmware is swapped: a partial line, then v2 frames. */
	n = put(stream, n, head, strlen(head));
	n = put(stream, n, ex1_wire, sizeof(ex1_wire)); /* lost: glued to the partial line */
	n = put(stream, n, ex1_wire, sizeof(ex1_wire));
	const size_t switch_at = n;
	n = put(stream, n, ex2_wire, sizeof(ex2_wire)); /* holds a 0x0A: fine once in V2 */
	for (size_t split = 0; split <= n; split++) {
		struct framer f;
		struct coll c = {0};
		framer_init(&f, FRAMER_AUTO);
		framer_feed(&f, stream, split, collect, &c);
		if (split >= strlen(SIM_LINE))
			assert_int_equal(framer_detected(&f), split < switch_at ? FRAMER_TEXT : FRAMER_V2);
		framer_feed(&f, stream + split, n - split, collect, &c);
		framer_finish(&f, collect, &c);
		assert_int_equal(framer_detected(&f), FRAMER_V2);
		assert_int_equal(c.n, 5);
		assert_int_equal(c.ev[0].rec.type, REC_CAN);
		assert_int_equal(c.ev[0].rec.flags, 0);
		assert_int_equal(c.ev[1].rec.type, REC_CAN);
		assert_int_equal(c.ev[2].kind, RX_EV_REJECT);
		assert_int_equal(c.ev[2].reason, RX_REJ_BINARY); /* text glued to a frame, up to the frame's 0x00 */
		assert_int_equal(c.ev[2].len, strlen("SIM 155 8 01") + sizeof(ex1_wire) - 1);
		assert_int_equal(c.ev[3].kind, RX_EV_RECORD);
		assert_int_equal(c.ev[3].rec.type, REC_CAN);
		assert_int_equal(c.ev[3].rec.flags, REC_F_DEV_TIME);
		assert_int_equal(c.ev[4].rec.type, REC_STATUS);
	}

	/* A frame holding 0x0A right after the switch is not cut at it: its start is no text (framer.h). */
	struct framer f;
	struct coll c = {0};
	n = put(stream, 0, head, strlen(head));
	n = put(stream, n, ex1_wire, sizeof(ex1_wire));
	n = put(stream, n, ex2_wire, sizeof(ex2_wire));
	n = put(stream, n, ex1_wire, sizeof(ex1_wire));
	framer_init(&f, FRAMER_AUTO);
	framer_feed(&f, stream, n, collect, &c);
	assert_int_equal(c.records, 4);
	assert_int_equal(c.rejects, 1);
	assert_int_equal(c.ev[2].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[3].rec.type, REC_STATUS);
	assert_int_equal(c.ev[4].rec.flags, REC_F_DEV_TIME);

	/* Swapped cleanly at a line boundary: nothing is lost. */
	memset(&c, 0, sizeof(c));
	framer_init(&f, FRAMER_AUTO);
	framer_feed(&f, SIM_LINE, strlen(SIM_LINE), collect, &c);
	framer_feed(&f, ex1_wire, sizeof(ex1_wire), collect, &c);
	assert_int_equal(c.records, 2);
	assert_int_equal(c.rejects, 0);
	assert_int_equal(framer_detected(&f), FRAMER_V2);
}

static void test_v2_falls_back_to_text(void **state)
{
	uint8_t stream[1000];
	size_t n = 0;
	const size_t lines = 12, line_len = strlen(SIM_LINE);

	memcpy(stream, ex1_wire, sizeof(ex1_wire));
	n += sizeof(ex1_wire);
	for (size_t i = 0; i < lines; i++, n += line_len)
		memcpy(stream + n, SIM_LINE, line_len);
	/* After a frame, text lines are recognised at their LF (they cannot be the start of a frame): nothing is lost. */
	for (size_t split = 0; split <= n; split++) {
		struct framer f;
		struct coll c = {0};
		framer_init(&f, FRAMER_AUTO);
		framer_feed(&f, stream, split, collect, &c);
		framer_feed(&f, stream + split, n - split, collect, &c);
		framer_finish(&f, collect, &c);
		assert_int_equal(framer_detected(&f), FRAMER_TEXT);
		assert_int_equal(c.n, 1 + lines);
		assert_int_equal(c.ev[0].rec.flags, REC_F_DEV_TIME);
		assert_int_equal(c.rejects, 0);
		assert_int_equal(c.records, 1 + lines);
	}
}

static void test_fixed_modes(void **state)
{
	struct framer f;
	struct coll c = {0};

	/* Fixed TEXT never switches: a valid frame is a line with NUL bytes... until its LF. */
	framer_init(&f, FRAMER_TEXT);
	framer_feed(&f, ex1_wire, sizeof(ex1_wire), collect, &c);
	framer_feed(&f, "\n" SIM_LINE, 1 + strlen(SIM_LINE), collect, &c);
	assert_int_equal(framer_detected(&f), FRAMER_TEXT);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_NUL);
	assert_int_equal(c.ev[1].rec.type, REC_CAN);

	/* Fixed V2: text is one over-long unit, discarded up to the next 0x00; no fall-back. */
	memset(&c, 0, sizeof(c));
	framer_init(&f, FRAMER_V2);
	for (int i = 0; i < 10; i++)
		framer_feed(&f, SIM_LINE, strlen(SIM_LINE), collect, &c);
	framer_feed(&f, "\0", 1, collect, &c);
	framer_feed(&f, ex2_wire, sizeof(ex2_wire), collect, &c);
	assert_int_equal(framer_detected(&f), FRAMER_V2);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_OVERLONG);
	assert_int_equal(c.ev[1].rec.type, REC_STATUS);
}

static void test_v2_rejects_and_types(void **state)
{
	struct framer f;
	struct coll c = {0};
	uint8_t wire[V2X_WIRE_MAX], item[V2X_ITEM_LEN] = {0};

	framer_init(&f, FRAMER_V2);
	/* bad COBS, too short, bad CRC */
	framer_feed(&f, "\x05\x11\0", 3, collect, &c);
	framer_feed(&f, "\x03\x11\x22\0", 4, collect, &c);
	memcpy(wire, ex1_wire, sizeof(ex1_wire));
	wire[16] ^= 1;
	framer_feed(&f, wire, sizeof(ex1_wire), collect, &c);
	/* empty units: nothing */
	framer_feed(&f, "\0\0\0", 3, collect, &c);
	/* an Item: ignored here, the frame is handed over in ev->v2 */
	int n = v2x_frame_encode(V2X_T_V2X_ITEM, 5, 6, item, sizeof(item), wire, sizeof(wire));
	framer_feed(&f, wire, (size_t)n, collect, &c);
	/* an NMEA frame goes through the NMEA parser */
	static const char gga[] = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
	n = v2x_frame_encode(V2X_T_NMEA, 6, 7, gga, strlen(gga), wire, sizeof(wire));
	framer_feed(&f, wire, (size_t)n, collect, &c);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ev[0].reason, RX_REJ_V2_COBS);
	assert_int_equal(c.ev[1].reason, RX_REJ_V2_SHORT);
	assert_int_equal(c.ev[2].reason, RX_REJ_V2_CRC);
	assert_int_equal(c.ev[3].kind, RX_EV_IGNORED);
	assert_null(c.ev[0].v2);
	assert_int_equal(c.ev[4].kind, RX_EV_RECORD);
	assert_int_equal(c.ev[4].rec.type, REC_GPS);
	assert_int_equal(c.ev[4].rec.u.gps.sats, 8);
	assert_int_equal(c.ev[4].rec.flags, REC_F_DEV_TIME);
	assert_int_equal(c.ev[4].rec.dev_seq, 6);
}

/* Type and payload rejects through the framer, each with a correct CRC. */
static void test_v2_type_payload_rejects(void **state)
{
	struct framer f;
	struct coll c = {0};
	uint8_t raw[32], wire[64];

	framer_init(&f, FRAMER_V2);
	memcpy(raw, ex1_raw, sizeof(ex1_raw) - 2);
	raw[0] = 0x42;
	size_t n = make_wire(raw, sizeof(ex1_raw) - 2, wire);
	wire[n++] = 0;
	framer_feed(&f, wire, n, collect, &c);
	raw[0] = V2X_T_CAN;
	raw[13] = 9;
	n = make_wire(raw, sizeof(ex1_raw) - 2, wire);
	wire[n++] = 0;
	framer_feed(&f, wire, n, collect, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_V2_TYPE);
	assert_int_equal(c.ev[1].reason, RX_REJ_V2_PAYLOAD);
}

/* The receiver reads batches: worked example 1 (CAN frame number 0) then example 3 (numbers 1..3), in v2 and auto
 * mode and in every split; then a batch whose first_can skips 5 frames counts them as lost. */
static void test_framer_reads_batch(void **state)
{
	uint8_t stream[128];
	size_t n = 0;

	memcpy(stream + n, ex1_wire, sizeof(ex1_wire));
	n += sizeof(ex1_wire);
	memcpy(stream + n, ex3_wire, sizeof(ex3_wire));
	n += sizeof(ex3_wire);
	for (int mode = 0; mode < 2; mode++) {
		for (size_t split = 0; split <= n; split++) {
			struct framer f;
			struct coll c;
			memset(&c, 0, sizeof(c));
			framer_init(&f, mode ? FRAMER_V2 : FRAMER_AUTO);
			framer_feed(&f, stream, split, collect, &c);
			framer_feed(&f, stream + split, n - split, collect, &c);
			framer_finish(&f, collect, &c);
			assert_int_equal(c.n, 4);
			assert_int_equal(c.records, 4);
			static const uint32_t ids[4] = {0x155, 0x155, 0x59B, 0xC0000123u};
			static const uint64_t t[4] = {1000000, 1002000, 1002250, 1003000};
			static const uint32_t seq[4] = {1, 2, 2, 2};
			for (int i = 0; i < 4; i++) {
				assert_int_equal(c.ev[i].rec.type, REC_CAN);
				assert_int_equal(c.ev[i].rec.flags, REC_F_DEV_TIME);
				assert_int_equal(c.ev[i].rec.u.can.id, ids[i]);
				assert_true(c.ev[i].rec.dev_time_us == t[i]);
				assert_int_equal(c.ev[i].rec.dev_seq, seq[i]);
			}
			assert_int_equal(c.ev[2].rec.u.can.dlc, 4);
			assert_int_equal(c.ev[2].rec.u.can.data[3], 0x7E);
			assert_int_equal(c.ev[2].rec.u.can.data[4], 0);
			assert_int_equal(c.ev[3].rec.u.can.dlc, 0);
			assert_true(f.can_lost == 0);
			assert_int_equal(f.can_next, 4);
		}
	}
	/* Next: a batch of one frame numbered 9 (4..8 lost), seq 4 (seq 3 lost). */
	struct framer f;
	struct coll c;
	uint8_t payload[V2X_MAX_PAYLOAD], wire[V2X_WIRE_MAX];
	memset(&c, 0, sizeof(c));
	framer_init(&f, FRAMER_V2);
	framer_feed(&f, stream, n, collect, &c);
	int pl = v2x_can_batch_pack(9, ex3_entries, 1, payload, sizeof(payload));
	int wl = v2x_frame_encode(V2X_T_CAN_BATCH, 4, 1004000, payload, (size_t)pl, wire, sizeof(wire));
	framer_feed(&f, wire, (size_t)wl, collect, &c);
	assert_int_equal(c.records, 5);
	assert_true(f.can_lost == 5);
	assert_int_equal(f.can_next, 10);
	/* parse_v2 alone reports a batch as ignored, with the frame. */
	struct v2x_frame fr;
	struct rx_event ev;
	framer_init(&f, FRAMER_V2);
	assert_int_equal(framer_parse_v2(&f, ex3_wire, sizeof(ex3_wire) - 1, &fr, &ev), 0);
	assert_int_equal(ev.kind, RX_EV_IGNORED);
	assert_non_null(ev.v2);
}

static void test_dev_time_unwrap(void **state)
{
	struct framer f;
	struct coll c = {0};
	uint8_t wire[V2X_WIRE_MAX], payload[16];
	struct v2x_can can = {.id = 0x100, .dlc = 0};
	int plen = v2x_can_pack(&can, payload, sizeof(payload));
	static const struct {
		uint32_t seq, t;
		uint64_t want;
	} steps[] = {
		{100, 0xFFFFFF00u, 0xFFFFFF00ull},  {101, 0x00000100u, 0x100000100ull}, /* wrapped */
		{102, 0x00000200u, 0x100000200ull}, {103, 0xFFFFFFF0u, 0x1FFFFFFF0ull},
		{104, 0x00000010u, 0x200000010ull}, {1, 0x00000500u, 0x500ull}, /* seq went back: restart */
	};

	framer_init(&f, FRAMER_AUTO);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int n = v2x_frame_encode(V2X_T_CAN, steps[i].seq, steps[i].t, payload, (size_t)plen, wire, sizeof(wire));
		framer_feed(&f, wire, (size_t)n, collect, &c);
		assert_int_equal(c.n, i + 1);
		assert_true(c.ev[i].rec.dev_time_us == steps[i].want);
		assert_int_equal(c.ev[i].rec.dev_seq, steps[i].seq);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_value),
		cmocka_unit_test(test_crc_matches_definition),
		cmocka_unit_test(test_decode_matches_reference),
		cmocka_unit_test(test_cobs_known_vectors),
		cmocka_unit_test(test_cobs_errors),
		cmocka_unit_test(test_worked_example_1),
		cmocka_unit_test(test_worked_example_2),
		cmocka_unit_test(test_worked_example_3_batch),
		cmocka_unit_test(test_batch_rules),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_station_roundtrip),
		cmocka_unit_test(test_detect_v2_stream),
		cmocka_unit_test(test_detect_text_then_v2),
		cmocka_unit_test(test_v2_falls_back_to_text),
		cmocka_unit_test(test_fixed_modes),
		cmocka_unit_test(test_v2_rejects_and_types),
		cmocka_unit_test(test_v2_type_payload_rejects),
		cmocka_unit_test(test_dev_time_unwrap),
		cmocka_unit_test(test_framer_reads_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
