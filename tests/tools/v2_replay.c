/*
 * v2_replay - writes a replay file of v2 CAN batch frames (V2X_T_CAN_BATCH, firmware/include/v2x_proto.h) holding
 * the same CAN frames as perf/valgrind.sh's legacy replay: frame i has the id ids[i % 15] of the Twizy's and the data
 * 8 bytes "i%256 97 CE 54 9B 38 (i/256)%256 73".  Frames are grouped BATCH to a v2 frame (default 5: at 4,500
 * frames/s the bridge's 1 ms batching window holds 4 or 5), each v2 frame numbered (seq 1, 2, ...), its device time
 * advancing 222 us per CAN frame (4,500/s), the CAN frame numbers continuous.  Encoded by the firmware's own
 * v2x_frame_encode, so the file is what the bridge would send.  `make callgrind` replays it with v2xd.
 *
 *   v2_replay N FILE [BATCH]      exit 0, or 1 with a message on a bad argument or a write error
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v2x_proto.h"

static const uint32_t ids[15] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557,
				 0x55E, 0x55F, 0x597, 0x599, 0x59B, 0x59E, 0x5D7};

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: v2_replay N FILE [BATCH]\n");
		return 1;
	}
	char *end;
	unsigned long n = strtoul(argv[1], &end, 10);
	unsigned long batch = argc == 4 ? strtoul(argv[3], NULL, 10) : 5;
	if (*end || n == 0 || batch < 1 || batch > V2X_CAN_BATCH_MAX) {
		fprintf(stderr, "v2_replay: N must be > 0 and BATCH 1..%d\n", V2X_CAN_BATCH_MAX);
		return 1;
	}
	FILE *f = fopen(argv[2], "wb");
	if (!f) {
		fprintf(stderr, "v2_replay: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	uint32_t seq = 0, dev_us = 1000000;
	for (unsigned long i = 0; i < n; i += batch) {
		struct v2x_can_entry e[V2X_CAN_BATCH_MAX];
		size_t k = n - i < batch ? n - i : batch;
		for (size_t j = 0; j < k; j++) {
			unsigned long c = i + j;
			memset(&e[j], 0, sizeof(e[j]));
			e[j].offset_us = (uint16_t)(j * 222);
			e[j].can.id = ids[c % 15];
			e[j].can.dlc = 8;
			const uint8_t data[8] = {(uint8_t)(c % 256), 0x97, 0xCE, 0x54, 0x9B, 0x38, (uint8_t)(c / 256 % 256), 0x73};
			memcpy(e[j].can.data, data, 8);
		}
		uint8_t payload[V2X_MAX_PAYLOAD], wire[V2X_WIRE_MAX];
		int pl = v2x_can_batch_pack((uint32_t)i + 1, e, k, payload, sizeof(payload));
		int wl = pl < 0 ? pl : v2x_frame_encode(V2X_T_CAN_BATCH, ++seq, dev_us, payload, (size_t)pl, wire, sizeof(wire));
		if (wl < 0) {
			fprintf(stderr, "v2_replay: cannot encode frame %u: %d\n", seq, wl);
			fclose(f);
			return 1;
		}
		dev_us += (uint32_t)(k * 222);
		if (fwrite(wire, 1, (size_t)wl, f) != (size_t)wl) {
			fprintf(stderr, "v2_replay: %s: %s\n", argv[2], strerror(errno));
			fclose(f);
			return 1;
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "v2_replay: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}
