/*
 * test_fw_radio.c - authenticated radio messages (firmware/apps/common/fw_radio.h): the layout and tag against a
 * message sealed in Python (hmac.new(key, msg, sha256).digest()[:16]), acceptance, forgery, replay, wrong key, own
 * messages, and the counter reservation in NVS through the Linux board.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "firmware/apps/common/fw_node.h"
#include "firmware/apps/common/fw_radio.h"
#include "firmware/linux/linux_hal.h"

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 1}, mac_b[6] = {2, 0, 0, 0, 0, 2}, mac_c[6] = {2, 0, 0, 0, 0, 3};

/* FW_RADIO_V2G_ACK from mac_a, counter 5, body session 7, acked 9, code 1; key 00 01 .. 1F. */
static const uint8_t sealed[39] = {0x56, 0x58, 0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00,
				   0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x78, 0x46, 0xCB,
				   0x8A, 0x04, 0x7F, 0x5C, 0x00, 0xC9, 0x53, 0xBB, 0xD4, 0x1C, 0x6A, 0xCF, 0x8D};

static void key_init(uint8_t k[32], uint8_t base)
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(base + i);
}

static void test_seal_matches_python(void **state)
{
	struct fw_radio a;
	uint8_t key[32], out[FW_RADIO_MAX_LEN];
	const uint8_t body[9] = {7, 0, 0, 0, 9, 0, 0, 0, 1};

	key_init(key, 0);
	fw_radio_init(&a, mac_a, NULL, key, 5);
	assert_int_equal(fw_radio_seal(&a, FW_RADIO_V2G_ACK, body, sizeof(body), out, sizeof(out)), 39);
	assert_memory_equal(out, sealed, sizeof(sealed));
	assert_int_equal(a.counter, 6);
	/* Wrong body length, unknown type, missing key, small buffer. */
	assert_int_equal(fw_radio_seal(&a, FW_RADIO_V2G_ACK, body, 8, out, sizeof(out)), -EINVAL);
	assert_int_equal(fw_radio_seal(&a, 9, body, 9, out, sizeof(out)), -EINVAL);
	uint8_t item[88] = {0};
	assert_int_equal(fw_radio_seal(&a, FW_RADIO_V2V, item, 88, out, sizeof(out)), -ENOKEY);
	assert_int_equal(fw_radio_seal(&a, FW_RADIO_V2G_ACK, body, 9, out, 38), -ENOBUFS);
}

static void test_accept_forge_replay(void **state)
{
	struct fw_radio b;
	uint8_t key[32], other[32], msg[64], type = 0;
	const uint8_t *body = NULL;
	size_t blen = 0;
	uint32_t ctr = 0;

	key_init(key, 0);
	key_init(other, 1);
	fw_radio_init(&b, mac_b, NULL, key, 1);
	/* Authentic and new. */
	assert_int_equal(fw_radio_open(&b, mac_a, sealed, sizeof(sealed), &type, &body, &blen, &ctr), FW_RADIO_OK);
	assert_int_equal(type, FW_RADIO_V2G_ACK);
	assert_int_equal(blen, 9);
	assert_int_equal(ctr, 5);
	assert_int_equal(body[0], 7);
	/* The same message again: a replay. */
	assert_int_equal(fw_radio_open(&b, mac_a, sealed, sizeof(sealed), &type, &body, &blen, &ctr),
			 FW_RADIO_REPLAYED);
	/* Any bit flipped, in header, body or tag: forged (and the stored counter does not move). */
	for (size_t i = 4; i < sizeof(sealed); i++) {
		if (i >= 4 && i < 10)
			continue; /* the sender field must match the radio source: tested below */
		memcpy(msg, sealed, sizeof(sealed));
		msg[i] ^= 0x10;
		assert_int_equal(fw_radio_open(&b, mac_a, msg, sizeof(sealed), &type, &body, &blen, &ctr),
				 FW_RADIO_FORGED);
	}
	/* A sender that is not the radio source, a short message, a bad magic: malformed. */
	assert_int_equal(fw_radio_open(&b, mac_c, sealed, sizeof(sealed), &type, &body, &blen, &ctr),
			 FW_RADIO_MALFORMED);
	assert_int_equal(fw_radio_open(&b, mac_a, sealed, 38, &type, &body, &blen, &ctr), FW_RADIO_MALFORMED);
	memcpy(msg, sealed, sizeof(sealed));
	msg[0] = 'W';
	assert_int_equal(fw_radio_open(&b, mac_a, msg, sizeof(sealed), &type, &body, &blen, &ctr), FW_RADIO_MALFORMED);
	/* A newer message from the same sender is accepted; an older one (counter 3) is a replay. */
	struct fw_radio a;
	const uint8_t ack[9] = {1, 0, 0, 0, 2, 0, 0, 0, 1};
	fw_radio_init(&a, mac_a, NULL, key, 6);
	int n = fw_radio_seal(&a, FW_RADIO_V2G_ACK, ack, 9, msg, sizeof(msg));
	assert_int_equal(fw_radio_open(&b, mac_a, msg, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_OK);
	assert_int_equal(ctr, 6);
	fw_radio_init(&a, mac_a, NULL, key, 3);
	n = fw_radio_seal(&a, FW_RADIO_V2G_ACK, ack, 9, msg, sizeof(msg));
	assert_int_equal(fw_radio_open(&b, mac_a, msg, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_REPLAYED);
	/* Another pairing key: forged.  A V2V message to a node without the fleet key: no_key. */
	fw_radio_init(&a, mac_a, other, other, 100);
	n = fw_radio_seal(&a, FW_RADIO_V2G_ACK, ack, 9, msg, sizeof(msg));
	assert_int_equal(fw_radio_open(&b, mac_a, msg, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_FORGED);
	uint8_t item[88] = {0}, big[FW_RADIO_MAX_LEN];
	n = fw_radio_seal(&a, FW_RADIO_V2V, item, 88, big, sizeof(big));
	assert_int_equal(n, FW_RADIO_MAX_LEN);
	assert_int_equal(fw_radio_open(&b, mac_a, big, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_NO_KEY);
	/* Our own message heard back. */
	fw_radio_init(&a, mac_b, NULL, key, 1000);
	n = fw_radio_seal(&a, FW_RADIO_V2G_ACK, ack, 9, msg, sizeof(msg));
	assert_int_equal(fw_radio_open(&b, mac_b, msg, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_OWN);
	/* A type this node does not take is set aside before any authentication. */
	b.accept_mask = 1u << FW_RADIO_V2G_VEHICLE;
	fw_radio_init(&a, mac_a, NULL, key, 2000);
	n = fw_radio_seal(&a, FW_RADIO_V2G_ACK, ack, 9, msg, sizeof(msg));
	assert_int_equal(fw_radio_open(&b, mac_a, msg, (size_t)n, &type, &body, &blen, &ctr), FW_RADIO_NOT_FOR_US);
	assert_int_equal(b.count[FW_RADIO_NOT_FOR_US], 1);
	b.accept_mask = 0;
	/* Every verdict was counted once per call. */
	assert_int_equal(b.count[FW_RADIO_OK], 2);
	assert_int_equal(b.count[FW_RADIO_REPLAYED], 2);
	assert_int_equal(b.count[FW_RADIO_FORGED], sizeof(sealed) - 10 + 1);
	assert_int_equal(b.count[FW_RADIO_MALFORMED], 3);
	assert_int_equal(b.count[FW_RADIO_NO_KEY], 1);
	assert_int_equal(b.count[FW_RADIO_OWN], 1);
	assert_string_equal(fw_radio_verdict_name(FW_RADIO_REPLAYED), "replayed");
}

/* The counter survives a restart: a second start resumes above everything the first could have sent. */
static void test_counter_reservation(void **state)
{
	char path[] = "/tmp/test_fw_radio_nvs_XXXXXX";
	int fd = mkstemp(path);
	struct linux_clock clk;
	atomic_int stop = 0;
	struct v2x_hal *h;
	struct fw_node node;
	struct fw_radio r;
	uint8_t key[32], b[8];

	assert_true(fd >= 0);
	close(fd);
	linux_clock_init(&clk, 1.0);
	struct linux_hal_conf c = {.name = "hub", .mac = {2, 0, 0, 0, 0, 5}, .clock = &clk, .stop = &stop,
				   .nvs_path = path};
	assert_int_equal(linux_hal_create(&h, &c), 0);
	key_init(key, 9);
	assert_int_equal(hal_nvs_set(h, "v2g_key", key, 32), 0);
	fw_node_init(&node, h);
	assert_int_equal(fw_node_radio_init(&node, &r), 0);
	assert_int_equal(r.counter, 1);
	assert_true(r.have_v2g);
	assert_false(r.have_v2v);
	assert_memory_equal(r.v2g_key, key, 32);
	assert_int_equal(hal_nvs_get(h, "radio_ctr", b, sizeof(b)), 4);
	assert_int_equal(b[0] | b[1] << 8, 1 + FW_RADIO_CTR_BLOCK);
	/* A restart resumes at the reserved limit. */
	assert_int_equal(fw_node_radio_init(&node, &r), 0);
	assert_int_equal(r.counter, 1 + FW_RADIO_CTR_BLOCK);
	/* A key of the wrong size is refused and counted. */
	assert_int_equal(hal_nvs_set(h, "v2v_key", key, 16), 0);
	uint32_t before = node.config_errors;
	assert_int_equal(fw_cfg_key(&node, "v2v_key", key), -EINVAL);
	assert_int_equal(node.config_errors, before + 1);
	linux_hal_destroy(h);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_matches_python),
		cmocka_unit_test(test_accept_forge_replay),
		cmocka_unit_test(test_counter_reservation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
