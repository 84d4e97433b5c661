/*
 * fw_node.c - configuration, host link and radio identity helpers shared by the applications (fw_node.h).
 */
#include "firmware/apps/common/fw_node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fw_node_init(struct fw_node *n, struct v2x_hal *h)
{
	memset(n, 0, sizeof(*n));
	n->h = h;
	n->seq = 1;
	n->tx_timeout_ms = 2000;
}

/* The NVS value under key as a NUL-terminated string: 1 found, 0 absent, -1 unusable (counted). */
static int fw_cfg__text(struct fw_node *n, const char *key, char *buf, size_t size)
{
	int len = hal_nvs_get(n->h, key, buf, size - 1);

	if (len == -ENOENT)
		return 0;
	if (len < 0) {
		n->config_errors++;
		return -1;
	}
	buf[len] = 0;
	return 1;
}

uint32_t fw_cfg_u32(struct fw_node *n, const char *key, uint32_t def, uint32_t min, uint32_t max)
{
	char buf[32], *end;

	if (fw_cfg__text(n, key, buf, sizeof(buf)) <= 0)
		return def;
	unsigned long v = strtoul(buf, &end, 10);
	if (end == buf || *end || buf[0] == '-' || v < min || v > max) {
		n->config_errors++;
		return def;
	}
	return (uint32_t)v;
}

double fw_cfg_double(struct fw_node *n, const char *key, double def, double min, double max)
{
	char buf[32], *end;

	if (fw_cfg__text(n, key, buf, sizeof(buf)) <= 0)
		return def;
	double v = strtod(buf, &end);
	if (end == buf || *end || !(v >= min && v <= max)) {
		n->config_errors++;
		return def;
	}
	return v;
}

const char *fw_cfg_str(struct fw_node *n, const char *key, const char *def, char *buf, size_t size)
{
	if (fw_cfg__text(n, key, buf, size) <= 0) {
		size_t l = strlen(def);
		if (l >= size)
			l = size - 1;
		memcpy(buf, def, l);
		buf[l] = 0;
	}
	return buf;
}

int fw_cfg_key(struct fw_node *n, const char *key, uint8_t out[FW_RADIO_KEY_LEN])
{
	uint8_t buf[FW_RADIO_KEY_LEN + 1];
	int len = hal_nvs_get(n->h, key, buf, sizeof(buf));

	if (len == -ENOENT)
		return -ENOENT;
	if (len != FW_RADIO_KEY_LEN) {
		n->config_errors++;
		return -EINVAL;
	}
	memcpy(out, buf, FW_RADIO_KEY_LEN);
	return 0;
}

int fw_node_write(struct fw_node *n, const void *buf, size_t len)
{
	int rc = hal_uart_write(n->h, HAL_UART_HOST, buf, len, n->tx_timeout_ms);

	if (rc < 0) {
		n->tx_dropped++;
		return rc;
	}
	n->lines_sent++;
	n->bytes_sent += len;
	return 0;
}

int fw_node_send(struct fw_node *n, uint8_t type, uint32_t dev_time_us, const void *payload, size_t len)
{
	uint8_t wire[V2X_WIRE_MAX];
	int w = v2x_frame_encode(type, n->seq, dev_time_us, payload, len, wire, sizeof(wire));

	if (w < 0)
		return w;
	n->seq++;
	n->sent[type]++;
	int rc = hal_uart_write(n->h, HAL_UART_HOST, wire, (size_t)w, n->tx_timeout_ms);
	if (rc < 0) {
		n->tx_dropped++;
		return rc;
	}
	n->bytes_sent += (size_t)w;
	return 0;
}

static int fw_node__store_ctr(struct fw_node *n, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	return hal_nvs_set(n->h, "radio_ctr", b, 4);
}

int fw_node_radio_init(struct fw_node *n, struct fw_radio *r)
{
	uint8_t mac[6], v2v[FW_RADIO_KEY_LEN], v2g[FW_RADIO_KEY_LEN], b[4];
	uint32_t start = 1;
	int have_v2v = fw_cfg_key(n, "v2v_key", v2v) == 0;
	int have_v2g = fw_cfg_key(n, "v2g_key", v2g) == 0;

	hal_mac(n->h, mac);
	if (hal_nvs_get(n->h, "radio_ctr", b, sizeof(b)) == 4)
		start = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	if (start > UINT32_MAX - FW_RADIO_CTR_BLOCK)
		return -EOVERFLOW;
	fw_radio_init(r, mac, have_v2v ? v2v : NULL, have_v2g ? v2g : NULL, start);
	memset(v2v, 0, sizeof(v2v));
	memset(v2g, 0, sizeof(v2g));
	r->counter_limit = start + FW_RADIO_CTR_BLOCK;
	return fw_node__store_ctr(n, r->counter_limit) < 0 ? -EIO : 0;
}

int fw_node_radio_send(struct fw_node *n, struct fw_radio *r, uint8_t type, const void *body, size_t len)
{
	uint8_t msg[FW_RADIO_MAX_LEN];
	int rc;

	if (r->counter >= r->counter_limit) {
		if (r->counter_limit > UINT32_MAX - FW_RADIO_CTR_BLOCK)
			return -EOVERFLOW;
		if (fw_node__store_ctr(n, r->counter_limit + FW_RADIO_CTR_BLOCK) < 0)
			return -EIO;
		r->counter_limit += FW_RADIO_CTR_BLOCK;
	}
	rc = fw_radio_seal(r, type, body, len, msg, sizeof(msg));
	if (rc < 0)
		return rc;
	return hal_espnow_send(n->h, msg, (size_t)rc);
}
