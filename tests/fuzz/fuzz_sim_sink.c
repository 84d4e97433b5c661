/*
 * fuzz_sim_sink.c - libFuzzer target for the legacy SIM hot path (framer.h "The hot path", legacy_line.h
 * legacy_sim_fixed).
 *
 * Input: byte 0 picks a read size (1..256), byte 1 bit 0 the mode (AUTO or TEXT), the rest is the stream.  The stream
 * is fed whole without a sink (the reference), then in reads of that size with a sink; both must give the same units
 * in the same order: kind, reason, and for records type, flags, device fields and the CAN frame (the sink's records
 * arrive through commit, the rest through emit).  Every LF-terminated piece of the stream whose length is the fixed
 * layout's is also parsed by legacy_sim_fixed() and legacy_sim_parse(): whatever the first takes, the second must
 * take with the same frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/can_rx/framer.h"
#include "stages/can_rx/legacy_line.h"

#define FUZZ_MAX_EV 4096

struct fuzz_unit {
	uint8_t kind, reason;
	uint16_t type, flags;
	uint32_t dev_seq;
	uint64_t dev_time_us;
	uint32_t id;
	uint8_t dlc, data[8];
};

struct fuzz_log {
	size_t n;
	struct fuzz_unit u[FUZZ_MAX_EV];
	struct rx_record slot;
	struct rx_record *slot_ptr;
};

static void fuzz__add(struct fuzz_log *l, uint8_t kind, uint8_t reason, const struct rx_record *r)
{
	if (l->n >= FUZZ_MAX_EV)
		return;
	struct fuzz_unit *u = &l->u[l->n++];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->reason = reason;
	if (!r)
		return;
	u->type = r->type;
	u->flags = r->flags;
	u->dev_seq = r->dev_seq;
	u->dev_time_us = r->dev_time_us;
	if (r->type == REC_CAN) {
		u->id = r->u.can.id;
		u->dlc = r->u.can.dlc;
		memcpy(u->data, r->u.can.data, 8);
	}
}

static void fuzz__emit(void *ctx, const struct rx_event *ev)
{
	fuzz__add(ctx, (uint8_t)ev->kind, ev->kind == RX_EV_REJECT ? (uint8_t)ev->reason : 0,
		  ev->kind == RX_EV_RECORD ? &ev->rec : NULL);
}

static void fuzz__commit(void *ctx, struct rx_record *rec)
{
	struct fuzz_log *l = ctx;

	if (rec != l->slot_ptr || rec->type != REC_CAN)
		abort();
	fuzz__add(l, RX_EV_RECORD, 0, rec);
	memset(rec, 0xA5, sizeof(*rec));
}

static struct fuzz_log ref, got;

static void fuzz__run(struct fuzz_log *l, enum framer_mode mode, const uint8_t *s, size_t n, size_t chunk, int sink)
{
	struct framer f;

	l->n = 0;
	memset(&l->slot, 0xA5, sizeof(l->slot));
	l->slot_ptr = &l->slot;
	framer_init(&f, mode);
	if (sink)
		framer_set_sink(&f, &l->slot_ptr, fuzz__commit);
	for (size_t i = 0; i < n; i += chunk)
		framer_feed(&f, s + i, n - i < chunk ? n - i : chunk, fuzz__emit, l);
	framer_finish(&f, fuzz__emit, l);
}

static void fuzz__fixed_vs_careful(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n, len = e - i;
		if (len && s[e - 1] == '\r')
			len--;
		if (len == LEGACY_SIM_LEN3 || len == LEGACY_SIM_LEN8) {
			struct can_frame_data a, b;
			if (legacy_sim_fixed((const char *)s + i, len, &a) == 0) {
				if (legacy_sim_parse((const char *)s + i, len, &b) != 0 || a.id != b.id || a.dlc != b.dlc ||
				    memcmp(a.data, b.data, 8) != 0)
					abort();
			}
		}
		i = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t chunk = (size_t)data[0] + 1;
	enum framer_mode mode = data[1] & 1 ? FRAMER_TEXT : FRAMER_AUTO;
	data += 2;
	size -= 2;
	fuzz__fixed_vs_careful(data, size);
	fuzz__run(&ref, mode, data, size, size ? size : 1, 0);
	fuzz__run(&got, mode, data, size, chunk, 1);
	if (ref.n != got.n || memcmp(ref.u, got.u, ref.n * sizeof(ref.u[0])) != 0)
		abort();
	return 0;
}
