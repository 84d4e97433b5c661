/*
 * fuzz_hub_frame.c - libFuzzer target for the hub link receiver (stages/hub_io/hub_frame.h).
 *
 * Byte 0 picks the mode (AUTO, LEGACY, V2) and a chunk size; the rest is fed in chunks, then finished.  Checked:
 * no crash; every event's raw unit is non-empty and at most one text unit, frame or v2 unit long; ITEM and STATION
 * items pass hub_item_validate and re-encode (hub_item_pack) to a body that decodes to the same fields; the
 * parser's per-kind counters equal the events seen and the reject counters sum to the reject events; the same
 * input fed in one piece gives the same sequence of event kinds and reasons.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/hub_io/hub_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_EV 4096

struct fz {
	unsigned n;
	uint8_t kind[FZ_MAX_EV];
	uint8_t reason[FZ_MAX_EV];
};

static void fz_emit(void *ctx, const struct hub_event *ev)
{
	struct fz *z = ctx;
	uint8_t body[HUB_ITEM_LEN];
	struct hub_item back;

	if (ev->len == 0 || ev->len > HUB_TEXT_MAX + V2X_WIRE_MAX)
		abort();
	if ((unsigned)ev->kind >= HUB_EV__COUNT)
		abort();
	if (ev->kind == HUB_EV_REJECT && (ev->reason == HUB_REJ_NONE || ev->reason >= HUB_REJ__COUNT))
		abort();
	if (ev->kind == HUB_EV_ITEM || ev->kind == HUB_EV_STATION) {
		if (hub_item_validate(&ev->item) != HUB_REJ_NONE)
			abort();
		if ((ev->kind == HUB_EV_STATION) != hub_item_is_station(&ev->item))
			abort();
		hub_item_pack(&ev->item, body);
		hub_item_unpack(body, &back);
		if (memcmp(&back, &ev->item, sizeof(back)) != 0)
			abort();
	}
	if (z->n < FZ_MAX_EV) {
		z->kind[z->n] = (uint8_t)ev->kind;
		z->reason[z->n] = (uint8_t)ev->reason;
	}
	z->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hub_parser p, q;
	static struct fz a, b;
	enum hub_format mode;
	size_t chunk;
	uint64_t sum = 0, rej = 0;

	if (size < 1)
		return 0;
	mode = (enum hub_format)(data[0] % 3);
	chunk = (size_t)(data[0] >> 2) + 1;
	data++;
	size--;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	hub_parser_init(&p, mode);
	for (size_t i = 0; i < size; i += chunk)
		hub_parser_feed(&p, data + i, size - i < chunk ? size - i : chunk, fz_emit, &a);
	hub_parser_finish(&p, fz_emit, &a);
	for (int k = 0; k < HUB_EV__COUNT; k++)
		sum += p.stats.events[k];
	for (int r = 0; r < HUB_REJ__COUNT; r++)
		rej += p.stats.rejects[r];
	if (sum != a.n || rej != p.stats.events[HUB_EV_REJECT] || p.stats.rejects[HUB_REJ_NONE] != 0)
		abort();
	hub_parser_init(&q, mode);
	hub_parser_feed(&q, data, size, fz_emit, &b);
	hub_parser_finish(&q, fz_emit, &b);
	if (a.n != b.n)
		abort();
	for (unsigned i = 0; i < a.n && i < FZ_MAX_EV; i++)
		if (a.kind[i] != b.kind[i] || a.reason[i] != b.reason[i])
			abort();
	return 0;
}
