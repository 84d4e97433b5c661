/*
 * fuzz_dbc.c - libFuzzer target for the DBC parser (stages/decode/dbc.c) and, when the input parses, the decoder
 * compiled from it: every message is decoded with data bytes taken from the input at every DLC, then a tick.
 * Invariants checked beyond the sanitizers: a failed parse names a line within the input and a message starting
 * "line N: "; every parsed signal fits its message's DLC; a frame never yields more than DECODE_MAX_VALUES values.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "stages/decode/dbc.h"
#include "stages/decode/decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbc db;
	struct dbc_error err;
	int rc = dbc_parse(&db, (const char *)data, size, &err);
	if (rc) {
		fuzz_check(rc == -EINVAL || rc == -ENOMEM);
		if (rc == -EINVAL) {
			unsigned lines = 1;
			for (size_t i = 0; i < size; i++)
				lines += data[i] == '\n';
			fuzz_check(err.line >= 1 && err.line <= lines);
			char prefix[24];
			snprintf(prefix, sizeof prefix, "line %u: ", err.line);
			fuzz_check(strncmp(err.msg, prefix, strlen(prefix)) == 0);
		}
		return 0;
	}
	for (size_t m = 0; m < db.n_msgs; m++) {
		fuzz_check(db.msgs[m].dlc <= 8);
		for (size_t s = 0; s < db.msgs[m].n_sigs; s++) {
			const struct dbc_signal *sig = &db.msgs[m].sigs[s];
			fuzz_check(sig->length_bits >= 1 && sig->length_bits <= 64);
			fuzz_check(dbc_signal_bytes_needed(sig) <= db.msgs[m].dlc);
			fuzz_check(sig->factor != 0);
		}
	}
	struct decoder *d;
	if (decoder_create(&d, &db) == 0) {
		struct decode_result r;
		struct can_frame_data f;
		int64_t t = 0;
		for (size_t m = 0; m < db.n_msgs; m++)
			for (uint8_t dlc = 0; dlc <= 8; dlc++) {
				memset(&f, 0, sizeof f);
				f.id = db.msgs[m].id;
				f.dlc = dlc;
				for (unsigned i = 0; i < dlc && size; i++)
					f.data[i] = data[(m * 8 + i + dlc) % size];
				unsigned n = decoder_frame(d, &f, t, &r);
				fuzz_check(n == r.n && n <= DECODE_MAX_VALUES && r.known_id);
				for (unsigned i = 0; i < n; i++) {
					fuzz_check(decoder_signal_name(d, r.v[i].sig) != NULL);
					(void)decoder_value_label(d, r.v[i].sig, r.v[i].value);
					(void)decoder_value_text(d, r.v[i].sig, r.v[i].value);
				}
				t += 1000000000;
			}
		decoder_tick(d, t + 20000000000LL, &r);
		fuzz_check(r.n <= 1);
		decoder_destroy(d);
	}
	dbc_fini(&db);
	return 0;
}
