/*
 * fw_radio.h - typed, authenticated ESP-NOW messages between vehicle hubs and charging stations.
 *
 * The legacy radio decided a message's type by its length and authenticated nothing (legacy-system.md).  Here every
 * message carries a type, its sender, a message counter and a tag:
 *
 *   offset  size  field
 *   0       2     magic "VX" (0x56 0x58)
 *   2       1     version (1)
 *   3       1     type          enum fw_radio_type; fixes the body length (FW_RADIO_BODY_LEN) and the key
 *   4       6     sender        the sender's MAC address (the receiver also checks it against the radio source)
 *   10      4     counter u32   little-endian, strictly increasing per sender and key (never reused, see below)
 *   14      n     body          the type's fixed-length body
 *   14+n    16    tag           HMAC-SHA256(key, bytes 0..14+n) truncated to its first 16 bytes
 *
 * Keys: V2V messages (a vehicle's state for every vehicle around) use the fleet key; V2G messages (vehicle <->
 * station) use the pairing key shared by one vehicle and one station, so a station accepts only its paired vehicle.
 * Both are 32 bytes provisioned in NVS ("v2v_key", "v2g_key"); firmware never contains a key.
 * Replay: a receiver keeps, per (sender, key) pair, the highest counter it accepted and refuses anything not above
 * it.  A sender keeps its counter across restarts by reserving blocks in NVS ("radio_ctr"): at start it resumes from
 * the stored value and stores value + FW_RADIO_CTR_BLOCK before using any of the block.
 *
 * Bodies (little-endian, f32 floats): FW_RADIO_V2V the legacy 88-byte Item; FW_RADIO_V2G_VEHICLE the legacy 52-byte
 * vehicle -> station message; FW_RADIO_V2G_STATION the legacy 56-byte station -> vehicle message; FW_RADIO_V2G_ACK
 * 9 bytes: session_id u32, acked_counter u32 (the counter of the message answered), code u8 (enum fw_radio_ack).
 *
 * fw_radio_open() ends every message in one verdict (enum fw_radio_verdict) and counts it; nothing is dropped
 * without a count.  Pure logic apart from mbedTLS; one radio state per application thread; no allocation.
 */
#ifndef V2X_FIRMWARE_APPS_COMMON_FW_RADIO_H
#define V2X_FIRMWARE_APPS_COMMON_FW_RADIO_H

#include <stddef.h>
#include <stdint.h>

#define FW_RADIO_KEY_LEN 32
#define FW_RADIO_TAG_LEN 16
#define FW_RADIO_HDR_LEN 14
#define FW_RADIO_MAX_BODY 88
#define FW_RADIO_MAX_LEN (FW_RADIO_HDR_LEN + FW_RADIO_MAX_BODY + FW_RADIO_TAG_LEN) /* 118 */
#define FW_RADIO_PEERS 16
#define FW_RADIO_CTR_BLOCK 1024u

enum fw_radio_type {
	FW_RADIO_V2V = 1,         /* vehicle -> everyone: its Item (fleet key) */
	FW_RADIO_V2G_VEHICLE = 2, /* vehicle -> station (pairing key) */
	FW_RADIO_V2G_STATION = 3, /* station -> vehicle (pairing key) */
	FW_RADIO_V2G_ACK = 4,     /* station -> vehicle: a stop request was done (pairing key) */
};

enum fw_radio_ack {
	FW_RADIO_ACK_STOPPED = 1,    /* the session ended and the relay is open */
	FW_RADIO_ACK_NO_SESSION = 2, /* nothing to stop (already stopped): still an answer, so the vehicle stops asking */
};

#define FW_RADIO_V2G_VEHICLE_LEN 52
#define FW_RADIO_V2G_STATION_LEN 56
#define FW_RADIO_V2G_ACK_LEN 9

/* Body length of a type, 0 for an unknown type. */
size_t fw_radio_body_len(uint8_t type);

enum fw_radio_verdict {
	FW_RADIO_OK,        /* authentic and new: deliver */
	FW_RADIO_MALFORMED, /* too short, bad magic/version, unknown type, wrong length, sender != radio source */
	FW_RADIO_NO_KEY,    /* a type whose key this node was not provisioned with */
	FW_RADIO_FORGED,    /* the tag does not match */
	FW_RADIO_REPLAYED,  /* the counter is not above the last one accepted from this sender */
	FW_RADIO_OWN,       /* our own message heard back */
	FW_RADIO_NOT_FOR_US, /* a well-formed type this node does not take (accept_mask): not authenticated */
	FW_RADIO__COUNT
};

/* Stable name of a verdict ("ok", "forged", ...). */
const char *fw_radio_verdict_name(enum fw_radio_verdict v);

struct fw_radio {
	uint8_t mac[6];
	uint8_t v2v_key[FW_RADIO_KEY_LEN], v2g_key[FW_RADIO_KEY_LEN];
	uint8_t have_v2v, have_v2g;
	uint32_t counter;       /* next counter to send */
	uint32_t counter_limit; /* end of the reserved block */
	struct {
		uint8_t mac[6];
		uint8_t used;
		uint8_t key; /* 0 v2v, 1 v2g */
		uint32_t last;
	} peer[FW_RADIO_PEERS];
	uint32_t accept_mask;            /* bit t set: type t is taken; 0: every type (set after fw_radio_init) */
	uint32_t count[FW_RADIO__COUNT]; /* verdicts of fw_radio_open() */
	uint32_t peers_evicted;          /* peer slots reused (the oldest is forgotten) */
};

/* Set up with this node's MAC and optional keys (NULL: not provisioned) and the first counter to use.  Never fails. */
void fw_radio_init(struct fw_radio *r, const uint8_t mac[6], const uint8_t *v2v_key, const uint8_t *v2g_key,
		   uint32_t first_counter);

/*
 * Build a message of type with body (its fixed length) into out (capacity size, FW_RADIO_MAX_LEN suffices), using and
 * advancing the counter.  Returns the message length, -EINVAL for an unknown type or wrong body length, -ENOKEY when
 * the type's key is missing, -ENOBUFS when out is too small, -EOVERFLOW when the counter would wrap.
 */
int fw_radio_seal(struct fw_radio *r, uint8_t type, const void *body, size_t body_len, uint8_t *out, size_t size);

/*
 * Check a received message (n bytes from radio source src).  Returns the verdict (also counted in r->count); on
 * FW_RADIO_OK *type, *body and *body_len describe the body inside msg and *counter is its counter.
 */
enum fw_radio_verdict fw_radio_open(struct fw_radio *r, const uint8_t src[6], const uint8_t *msg, size_t n,
				    uint8_t *type, const uint8_t **body, size_t *body_len, uint32_t *counter);

/* HMAC-SHA256 of n bytes truncated to FW_RADIO_TAG_LEN (mbedTLS).  Returns 0 or -EIO. */
int fw_radio_tag(const uint8_t key[FW_RADIO_KEY_LEN], const uint8_t *p, size_t n, uint8_t tag[FW_RADIO_TAG_LEN]);

#endif
