/*
 * fuzz_decode_fast.c - libFuzzer target: the decoder's fast path against its generic path on any DBC.  The input is
 * DBC text; when it parses and compiles, every message is decoded at every DLC with data bytes taken from the input
 * (and their complement) by a default decoder and a DECODER_F_GENERIC one, which must agree bit for bit (values,
 * signal numbers, refusal counts, known_id); then the same frames go through decoder_records_apply into a struct
 * vstate, which must end with the values, times and counts the generic results give through vstate_apply.
 * Corpus: tests/fuzz/corpus/decode_fast (seeds: twizy.dbc and test_decode_fast.c's DBC).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vehicle/vstate.h"
#include "stages/decode/dbc.h"
#include "stages/decode/decoder.h"
#include "stages/decode/vstate_update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

#define FUZZ_BATCH 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rx_record batch[FUZZ_BATCH];
	static struct vstate sa, sb;
	struct dbc db;
	struct dbc_error err;
	struct decoder *fast = NULL, *generic = NULL, *fast_vs = NULL, *generic_vs = NULL;

	if (dbc_parse(&db, (const char *)data, size, &err))
		return 0;
	if (decoder_create(&fast, &db) || decoder_create_flags(&generic, &db, DECODER_F_GENERIC) ||
	    decoder_create(&fast_vs, &db) || decoder_create_flags(&generic_vs, &db, DECODER_F_GENERIC))
		goto out;

	struct decode_result ra, rb;
	struct decode_tally ta;
	size_t nb = 0;
	uint64_t seq = 0;
	memset(&ta, 0, sizeof ta);
	vstate_init(&sa);
	vstate_init(&sb);
	for (size_t m = 0; m < db.n_msgs && m < 256; m++)
		for (unsigned variant = 0; variant < 2; variant++)
			for (uint8_t dlc = 0; dlc <= 9; dlc++) {
				struct can_frame_data f;
				memset(&f, 0, sizeof f);
				f.id = db.msgs[m].id;
				f.dlc = dlc;
				for (unsigned i = 0; i < dlc && i < 8 && size; i++) {
					uint8_t b = data[(m * 8 + i + dlc) % size];
					f.data[i] = variant ? (uint8_t)~b : b;
				}
				int64_t t = (int64_t)++seq * 1000000;
				decoder_frame(fast, &f, t, &ra);
				decoder_frame(generic, &f, t, &rb);
				fuzz_check(ra.n == rb.n && ra.known_id == rb.known_id);
				fuzz_check(memcmp(ra.invalid, rb.invalid, sizeof ra.invalid) == 0);
				for (unsigned i = 0; i < ra.n; i++)
					fuzz_check(ra.v[i].sig == rb.v[i].sig &&
						   memcmp(&ra.v[i].value, &rb.v[i].value, sizeof(double)) == 0);

				decoder_frame(generic_vs, &f, t, &rb);
				vstate_apply(&sb, generic_vs, &rb, t + 7, (uint64_t)t, seq);
				memset(&batch[nb], 0, sizeof batch[nb]);
				batch[nb].type = REC_CAN;
				batch[nb].seq = seq;
				batch[nb].rx_mono_ns = (uint64_t)t;
				batch[nb].rx_real_ns = t + 7;
				batch[nb].u.can = f;
				if (++nb == FUZZ_BATCH) {
					fuzz_check(decoder_records_apply(fast_vs, batch, nb, &sa, &ta) == 0);
					nb = 0;
				}
			}
	fuzz_check(decoder_records_apply(fast_vs, batch, nb, &sa, &ta) == 0);
	vstate_add_tally(&sa, &ta);
	fuzz_check(memcmp(sa.value, sb.value, sizeof sa.value) == 0);
	fuzz_check(memcmp(sa.t_real_ns, sb.t_real_ns, sizeof sa.t_real_ns) == 0);
	fuzz_check(sa.frames == sb.frames && sa.invalid_values == sb.invalid_values && sa.unknown_ids == sb.unknown_ids);
	fuzz_check(sa.last_seq == sb.last_seq && sa.updated_real_ns == sb.updated_real_ns &&
		   sa.last_frame_mono_ns == sb.last_frame_mono_ns);
out:
	decoder_destroy(fast);
	decoder_destroy(generic);
	decoder_destroy(fast_vs);
	decoder_destroy(generic_vs);
	dbc_fini(&db);
	return 0;
}
