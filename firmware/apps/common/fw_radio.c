/*
 * fw_radio.c - sealing and opening authenticated radio messages (fw_radio.h).
 *
 * The tag is compared in constant time.  The replay check runs only after the tag: a forged message must not move
 * the stored counter.  The peer table is small (a vehicle hears a handful of nodes); when full, the slot used least
 * recently is reused and counted, which at worst lets a very old message of a forgotten peer through once more.
 */
#include "firmware/apps/common/fw_radio.h"

#include <errno.h>
#include <string.h>

#include <mbedtls/md.h>

static const uint8_t fw_radio__magic[2] = {0x56, 0x58};
#define FW_RADIO_VERSION 1

size_t fw_radio_body_len(uint8_t type)
{
	switch (type) {
	case FW_RADIO_V2V:
		return 88;
	case FW_RADIO_V2G_VEHICLE:
		return FW_RADIO_V2G_VEHICLE_LEN;
	case FW_RADIO_V2G_STATION:
		return FW_RADIO_V2G_STATION_LEN;
	case FW_RADIO_V2G_ACK:
		return FW_RADIO_V2G_ACK_LEN;
	default:
		return 0;
	}
}

const char *fw_radio_verdict_name(enum fw_radio_verdict v)
{
	static const char *const names[FW_RADIO__COUNT] = {"ok",	  "malformed", "no_key", "forged",
								      "replayed", "own",       "not_for_us"};

	return (unsigned)v < FW_RADIO__COUNT ? names[v] : "invalid";
}

void fw_radio_init(struct fw_radio *r, const uint8_t mac[6], const uint8_t *v2v_key, const uint8_t *v2g_key,
		   uint32_t first_counter)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->mac, mac, 6);
	if (v2v_key) {
		memcpy(r->v2v_key, v2v_key, FW_RADIO_KEY_LEN);
		r->have_v2v = 1;
	}
	if (v2g_key) {
		memcpy(r->v2g_key, v2g_key, FW_RADIO_KEY_LEN);
		r->have_v2g = 1;
	}
	r->counter = first_counter;
	r->counter_limit = UINT32_MAX;
}

int fw_radio_tag(const uint8_t key[FW_RADIO_KEY_LEN], const uint8_t *p, size_t n, uint8_t tag[FW_RADIO_TAG_LEN])
{
	uint8_t full[32];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (!md || mbedtls_md_hmac(md, key, FW_RADIO_KEY_LEN, p, n, full) != 0)
		return -EIO;
	memcpy(tag, full, FW_RADIO_TAG_LEN);
	return 0;
}

static const uint8_t *fw_radio__key(const struct fw_radio *r, uint8_t type)
{
	if (type == FW_RADIO_V2V)
		return r->have_v2v ? r->v2v_key : NULL;
	return r->have_v2g ? r->v2g_key : NULL;
}

int fw_radio_seal(struct fw_radio *r, uint8_t type, const void *body, size_t body_len, uint8_t *out, size_t size)
{
	size_t want = fw_radio_body_len(type);
	const uint8_t *key;

	if (want == 0 || body_len != want)
		return -EINVAL;
	key = fw_radio__key(r, type);
	if (!key)
		return -ENOKEY;
	if (size < FW_RADIO_HDR_LEN + want + FW_RADIO_TAG_LEN)
		return -ENOBUFS;
	if (r->counter == UINT32_MAX)
		return -EOVERFLOW;
	memcpy(out, fw_radio__magic, 2);
	out[2] = FW_RADIO_VERSION;
	out[3] = type;
	memcpy(out + 4, r->mac, 6);
	uint32_t c = r->counter++;
	out[10] = (uint8_t)c;
	out[11] = (uint8_t)(c >> 8);
	out[12] = (uint8_t)(c >> 16);
	out[13] = (uint8_t)(c >> 24);
	memcpy(out + FW_RADIO_HDR_LEN, body, want);
	if (fw_radio_tag(key, out, FW_RADIO_HDR_LEN + want, out + FW_RADIO_HDR_LEN + want) < 0)
		return -EIO;
	return (int)(FW_RADIO_HDR_LEN + want + FW_RADIO_TAG_LEN);
}

static enum fw_radio_verdict fw_radio__count(struct fw_radio *r, enum fw_radio_verdict v)
{
	r->count[v]++;
	return v;
}

/* The replay check: accept counter c from (mac, key) only when above the last one; remember it. */
static int fw_radio__fresh(struct fw_radio *r, const uint8_t mac[6], uint8_t key, uint32_t c)
{
	int free_slot = -1, i;

	for (i = 0; i < FW_RADIO_PEERS; i++) {
		if (!r->peer[i].used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (r->peer[i].key == key && memcmp(r->peer[i].mac, mac, 6) == 0) {
			if (c <= r->peer[i].last)
				return 0;
			r->peer[i].last = c;
			return 1;
		}
	}
	if (free_slot < 0) {
		free_slot = (int)(c % FW_RADIO_PEERS); /* full: reuse a slot (counted) */
		r->peers_evicted++;
	}
	r->peer[free_slot].used = 1;
	r->peer[free_slot].key = key;
	memcpy(r->peer[free_slot].mac, mac, 6);
	r->peer[free_slot].last = c;
	return 1;
}

enum fw_radio_verdict fw_radio_open(struct fw_radio *r, const uint8_t src[6], const uint8_t *msg, size_t n,
				    uint8_t *type, const uint8_t **body, size_t *body_len, uint32_t *counter)
{
	uint8_t tag[FW_RADIO_TAG_LEN], diff = 0;
	size_t want;
	const uint8_t *key;

	if (n < FW_RADIO_HDR_LEN + FW_RADIO_TAG_LEN || memcmp(msg, fw_radio__magic, 2) != 0 ||
	    msg[2] != FW_RADIO_VERSION)
		return fw_radio__count(r, FW_RADIO_MALFORMED);
	want = fw_radio_body_len(msg[3]);
	if (want == 0 || n != FW_RADIO_HDR_LEN + want + FW_RADIO_TAG_LEN || memcmp(msg + 4, src, 6) != 0)
		return fw_radio__count(r, FW_RADIO_MALFORMED);
	if (memcmp(msg + 4, r->mac, 6) == 0)
		return fw_radio__count(r, FW_RADIO_OWN);
	if (r->accept_mask && !(r->accept_mask & (1u << msg[3])))
		return fw_radio__count(r, FW_RADIO_NOT_FOR_US);
	key = fw_radio__key(r, msg[3]);
	if (!key)
		return fw_radio__count(r, FW_RADIO_NO_KEY);
	if (fw_radio_tag(key, msg, FW_RADIO_HDR_LEN + want, tag) < 0)
		return fw_radio__count(r, FW_RADIO_FORGED);
	for (size_t i = 0; i < FW_RADIO_TAG_LEN; i++)
		diff |= (uint8_t)(tag[i] ^ msg[FW_RADIO_HDR_LEN + want + i]);
	if (diff)
		return fw_radio__count(r, FW_RADIO_FORGED);
	uint32_t c = (uint32_t)msg[10] | (uint32_t)msg[11] << 8 | (uint32_t)msg[12] << 16 | (uint32_t)msg[13] << 24;
	if (!fw_radio__fresh(r, msg + 4, msg[3] == FW_RADIO_V2V ? 0 : 1, c))
		return fw_radio__count(r, FW_RADIO_REPLAYED);
	*type = msg[3];
	*body = msg + FW_RADIO_HDR_LEN;
	*body_len = want;
	*counter = c;
	return fw_radio__count(r, FW_RADIO_OK);
}
