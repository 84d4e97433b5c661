/*
 * fuzz_v2_frame.c - libFuzzer target for the V2 frame (firmware/include/v2x_proto.h).
 *
 * 1. Decode the input as COBS frame bytes: never crash; a frame that decodes re-encodes and decodes to the same.
 * 2. Round trip: byte 0 = type, the rest = payload; when v2x_frame_encode() accepts it, the bytes before the
 *    delimiter hold no 0x00 and v2x_frame_decode() gives back type, seq, time and payload exactly; when it refuses,
 *    v2x_payload_check() refuses too.
 * 3. COBS alone: encode, decode, compare.
 * 4. The input as a V2X_T_CAN_BATCH payload: v2x_payload_check() and v2x_can_batch_unpack() agree; an accepted
 *    payload re-packs to the same bytes with v2x_can_batch_pack().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "v2x_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct v2x_frame fr, back;
	uint8_t wire[V2X_WIRE_MAX];
	static uint8_t enc[V2X_COBS_MAX(70000)], dec[70000];
	int n;

	if (v2x_frame_decode(data, size, &fr) == 0) {
		n = v2x_frame_encode(fr.type, fr.seq, fr.dev_time_us, fr.payload, fr.len, wire, sizeof(wire));
		if (n < 1 || v2x_frame_decode(wire, (size_t)n - 1, &back) != 0)
			abort();
		if (back.type != fr.type || back.seq != fr.seq || back.dev_time_us != fr.dev_time_us ||
		    back.len != fr.len || memcmp(back.payload, fr.payload, fr.len) != 0)
			abort();
	}

	if (size >= 1) {
		uint8_t type = data[0];
		const uint8_t *payload = data + 1;
		size_t len = size - 1;
		uint32_t seq = (uint32_t)size * 2654435761u, t_us = ~seq;
		n = v2x_frame_encode(type, seq, t_us, payload, len, wire, sizeof(wire));
		if (n < 0) {
			if (v2x_payload_check(type, payload, len) == 0)
				abort();
		} else {
			if (n > V2X_WIRE_MAX || wire[n - 1] != 0 || memchr(wire, 0, (size_t)n - 1))
				abort();
			if (v2x_frame_decode(wire, (size_t)n - 1, &fr) != 0)
				abort();
			if (fr.type != type || fr.seq != seq || fr.dev_time_us != t_us || fr.len != len ||
			    (len && memcmp(fr.payload, payload, len) != 0))
				abort();
		}
	}

	{
		struct v2x_can_entry e[V2X_CAN_BATCH_MAX];
		uint8_t again[V2X_MAX_PAYLOAD];
		uint32_t first = 0;
		int ok = v2x_payload_check(V2X_T_CAN_BATCH, data, size) == 0;
		int k = v2x_can_batch_unpack(data, size, &first, e, V2X_CAN_BATCH_MAX);
		if (ok != (k > 0))
			abort();
		if (k > 0) {
			n = v2x_can_batch_pack(first, e, (size_t)k, again, sizeof(again));
			if (n != (int)size || memcmp(again, data, size) != 0)
				abort();
			for (int i = 0; i < k; i++)
				if (v2x_can_entry_len(&e[i].can) == 0)
					abort();
		}
	}

	if (size < sizeof(dec)) {
		n = v2x_cobs_encode(data, size, enc, sizeof(enc));
		if (n < 0 || (size_t)n > V2X_COBS_MAX(size) || memchr(enc, 0, (size_t)n))
			abort();
		int m = v2x_cobs_decode(enc, (size_t)n, dec, sizeof(dec));
		if (m != (int)size || (size && memcmp(dec, data, size) != 0))
			abort();
	}
	return 0;
}
