/*
 * bridge.c - can_gps_bridge (bridge.h): drain the CAN controller, batch, forward NMEA, report status.
 *
 * The loop never waits while there is work: it drains the controller, sends what is due, reads what the GPS UART
 * holds, and sleeps 1 ms only when a pass found nothing.  At 4,500 frames/s that is a few frames per pass; the batch
 * collects them and leaves after batch_us, so the link carries about 1,000 frames/s at most instead of 4,500.
 */
#include "firmware/apps/can_gps_bridge/bridge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/apps/common/fw_node.h"

void bridge_batch_reset(struct bridge_batch *b)
{
	b->n = 0;
	b->bytes = V2X_CAN_BATCH_HDR;
	b->t0_us = 0;
}

int bridge_batch_add(struct bridge_batch *b, const struct hal_can_rx *rx)
{
	size_t el = v2x_can_entry_len(&rx->can);

	if (el == 0)
		return -EPROTO;
	if (b->n == 0)
		b->t0_us = rx->t_us;
	uint32_t off = rx->t_us - b->t0_us;
	if (b->n == V2X_CAN_BATCH_MAX || b->bytes + el > V2X_MAX_PAYLOAD || off > 0xFFFFu ||
	    (b->n && off < b->e[b->n - 1].offset_us))
		return 0;
	b->e[b->n].offset_us = (uint16_t)off;
	b->e[b->n].can = rx->can;
	b->n++;
	b->bytes += el;
	return 1;
}

static int bridge__hex(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10
						     : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int bridge_parse_filters(const char *s, struct hal_can_filter *f, size_t max)
{
	size_t k = 0;

	if (*s == 0)
		return 0;
	for (;;) {
		const char *colon = strchr(s, ':'), *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);
		if (!colon || colon > end || k == max)
			return -EINVAL;
		if (bridge__hex(s, (size_t)(colon - s), &f[k].id) < 0 ||
		    bridge__hex(colon + 1, (size_t)(end - colon - 1), &f[k].mask) < 0)
			return -EINVAL;
		k++;
		if (!comma)
			return (int)k;
		s = comma + 1;
	}
}

int bridge_sim_line(const struct v2x_can *c, char *buf, size_t size)
{
	const uint8_t *d = c->data;
	int n = snprintf(buf, size, "SIM %03X %u %02X %02X %02X %02X %02X %02X %02X %02X\r\n", (unsigned)c->id,
			 (unsigned)c->dlc, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);

	return (n < 0 || (size_t)n >= size) ? -ENOBUFS : n;
}

int bridge_gps_line(const struct fw_fix *fx, char *buf, size_t size)
{
	int n;

	if (fx->have_date)
		n = snprintf(buf, size, "GPS %.6f %.6f %.1f %.1f %u %.2f %u-%u-%u %u:%u:%u %d\r\n", fx->lat_deg,
			     fx->lon_deg, fx->alt_m, fx->speed_kmh, (unsigned)fx->sats, fx->hdop, (unsigned)fx->year,
			     (unsigned)fx->month, (unsigned)fx->day, (unsigned)fx->hour + 1u, (unsigned)fx->minute,
			     (unsigned)fx->second, fx->valid ? 1 : 0);
	else
		n = snprintf(buf, size, "GPS %.6f %.6f %.1f %.1f %u %.2f INVALID %d\r\n", fx->lat_deg, fx->lon_deg,
			     fx->alt_m, fx->speed_kmh, (unsigned)fx->sats, fx->hdop, fx->valid ? 1 : 0);
	return (n < 0 || (size_t)n >= size) ? -ENOBUFS : n;
}

int bridge_status_line(int can_ok, const struct fw_fix *fx, int gps_ok, char *buf, size_t size)
{
	int n;

	if (gps_ok && fx->have_pos)
		n = snprintf(buf, size, "STATUS CAN:%s GPS:OK Sats:%u HDOP:%.1f Pos:%.6f,%.6f Speed:%.1fkm/h\r\n",
			     can_ok ? "OK" : "NO", (unsigned)fx->sats, fx->hdop, fx->lat_deg, fx->lon_deg, fx->speed_kmh);
	else
		n = snprintf(buf, size, "STATUS CAN:%s GPS:NO Sats:%u HDOP:%.1f\r\n", can_ok ? "OK" : "NO",
			     (unsigned)fx->sats, fx->hdop);
	return (n < 0 || (size_t)n >= size) ? -ENOBUFS : n;
}

void bridge_conf_load(struct fw_node *n, struct bridge_conf *c)
{
	char buf[160];

	memset(c, 0, sizeof(*c));
	c->baud = fw_cfg_u32(n, "baud", 921600, 9600, 4000000);
	c->gps_baud = fw_cfg_u32(n, "gps_baud", 9600, 4800, 921600);
	c->legacy = (uint8_t)fw_cfg_u32(n, "legacy", 0, 0, 1);
	c->batch = (uint8_t)fw_cfg_u32(n, "batch", 1, 0, 1);
	c->batch_us = fw_cfg_u32(n, "batch_us", 1000, 0, 60000);
	c->status_ms = fw_cfg_u32(n, "status_ms", c->legacy ? 5000 : 1000, 100, 60000);
	fw_cfg_str(n, "can_filter", "", buf, sizeof(buf));
	int k = bridge_parse_filters(buf, c->filter, HAL_CAN_MAX_FILTERS);
	if (k < 0)
		n->config_errors++;
	else
		c->n_filters = (size_t)k;
}

struct bridge {
	struct fw_node node;
	struct bridge_conf conf;
	struct bridge_stats st;
	struct bridge_batch batch;
	struct fw_fix fix;
	char gps_line[256];
	size_t gps_len;
	uint8_t gps_overlong;
	uint32_t can_seen_ms; /* board time of the last CAN frame */
	uint8_t can_seen;
};

static void bridge__flush(struct bridge *b)
{
	uint8_t payload[V2X_MAX_PAYLOAD];
	struct fw_node *n = &b->node;
	int rc;

	if (b->batch.n == 0)
		return;
	if (b->batch.n == 1 || !b->conf.batch) {
		for (size_t i = 0; i < b->batch.n; i++) {
			rc = v2x_can_pack(&b->batch.e[i].can, payload, sizeof(payload));
			if (rc >= 0)
				rc = fw_node_send(n, V2X_T_CAN, b->batch.t0_us + b->batch.e[i].offset_us, payload, (size_t)rc);
			b->st.frames_single++;
			n->can_frames++;
			if (rc == 0)
				b->st.can_sent++;
			else
				b->st.can_lost_tx++;
		}
	} else {
		rc = v2x_can_batch_pack(n->can_frames, b->batch.e, b->batch.n, payload, sizeof(payload));
		if (rc >= 0)
			rc = fw_node_send(n, V2X_T_CAN_BATCH, b->batch.t0_us, payload, (size_t)rc);
		b->st.frames_batch++;
		n->can_frames += (uint32_t)b->batch.n;
		if (rc == 0)
			b->st.can_sent += b->batch.n;
		else
			b->st.can_lost_tx += b->batch.n;
	}
	bridge_batch_reset(&b->batch);
}

static void bridge__can_frame(struct bridge *b, const struct hal_can_rx *rx)
{
	char line[64];
	int rc;

	b->st.can_rx++;
	b->can_seen = 1;
	b->can_seen_ms = hal_millis(b->node.h);
	if (b->conf.legacy) {
		rc = bridge_sim_line(&rx->can, line, sizeof(line));
		if (rc > 0 && fw_node_write(&b->node, line, (size_t)rc) == 0) {
			b->st.can_sent++;
			b->st.legacy_lines++;
		} else {
			b->st.can_lost_tx++;
		}
		return;
	}
	if (!b->conf.batch) {
		bridge_batch_reset(&b->batch);
		bridge_batch_add(&b->batch, rx);
		bridge__flush(b);
		return;
	}
	rc = bridge_batch_add(&b->batch, rx);
	if (rc == 0) {
		bridge__flush(b);
		rc = bridge_batch_add(&b->batch, rx);
	}
	if (rc < 0)
		b->st.can_lost_tx++; /* cannot happen: the controller only delivers valid frames */
}

static int bridge__gps_ok(struct bridge *b)
{
	return b->fix.valid && (uint32_t)(hal_millis(b->node.h) - b->fix.updated_ms) < 3000u;
}

static void bridge__nmea(struct bridge *b, const char *s, size_t n)
{
	char line[128];
	int rc;

	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return;
	rc = fw_nmea_merge(&b->fix, s, n, hal_millis(b->node.h));
	if (rc == -EINVAL || !fw_nmea_valid(s, n)) {
		b->st.nmea_bad++;
		if (!b->conf.legacy && n <= V2X_MAX_PAYLOAD && s[0] == '$' &&
		    v2x_payload_check(V2X_T_NMEA, (const uint8_t *)s, n) == 0) {
			/* forward as received: the computer counts the bad checksum itself */
			if (fw_node_send(&b->node, V2X_T_NMEA, hal_micros(b->node.h), s, n) == 0)
				b->st.nmea_sent++;
		}
		return;
	}
	if (b->conf.legacy) {
		if (n >= 6 && memcmp(s + 3, "RMC", 3) == 0) {
			rc = bridge_gps_line(&b->fix, line, sizeof(line));
			if (rc > 0 && fw_node_write(&b->node, line, (size_t)rc) == 0)
				b->st.legacy_lines++;
		}
		return;
	}
	if (n <= V2X_MAX_PAYLOAD && fw_node_send(&b->node, V2X_T_NMEA, hal_micros(b->node.h), s, n) == 0)
		b->st.nmea_sent++;
}

static int bridge__gps(struct bridge *b)
{
	char buf[256];
	int n = hal_uart_read(b->node.h, HAL_UART_GPS, buf, sizeof(buf), 0);

	for (int i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\n') {
			if (!b->gps_overlong)
				bridge__nmea(b, b->gps_line, b->gps_len);
			else
				b->st.nmea_bad++;
			b->gps_len = 0;
			b->gps_overlong = 0;
		} else if (b->gps_len < sizeof(b->gps_line)) {
			b->gps_line[b->gps_len++] = c;
		} else {
			b->gps_overlong = 1;
		}
	}
	return n > 0;
}

static void bridge__status(struct bridge *b)
{
	struct fw_node *n = &b->node;
	uint32_t overruns = 0, bus_errors = 0;
	int can_ok = b->can_seen && (uint32_t)(hal_millis(n->h) - b->can_seen_ms) < 2000u;
	char line[160];

	hal_can_counters(n->h, &overruns, &bus_errors);
	if (b->conf.legacy) {
		int rc = bridge_status_line(can_ok, &b->fix, bridge__gps_ok(b), line, sizeof(line));
		if (rc > 0 && fw_node_write(n, line, (size_t)rc) == 0)
			b->st.legacy_lines++;
		return;
	}
	struct v2x_status s = {
		.can_ok = (uint8_t)can_ok,
		.gps_ok = (uint8_t)bridge__gps_ok(b),
		.sats = b->fix.sats,
		.hdop_centi = b->fix.have_pos && b->fix.hdop < 655.0 ? (uint16_t)(b->fix.hdop * 100.0 + 0.5)
								      : V2X_HDOP_UNKNOWN,
		.can_overruns = overruns,
		.tx_dropped = n->tx_dropped,
		.can_bus_errors = bus_errors,
		.uptime_ms = hal_millis(n->h),
	};
	uint8_t payload[V2X_STATUS_LEN];
	v2x_status_pack(&s, payload, sizeof(payload));
	if (fw_node_send(n, V2X_T_STATUS, hal_micros(n->h), payload, sizeof(payload)) == 0)
		b->st.status_sent++;
}

static const char *const bridge__banner[] = {
	"=== CAN + GPS Data Sniffer Ready ===\r\n",
	"Sending CAN and GPS data to Jetson via USB Serial\r\n",
	"Format:\r\n",
	"  CAN: SIM <ID> <DLC> <DATA_BYTES>\r\n",
	"  GPS: GPS <LAT> <LON> <ALT> <SPEED> <SATS> <VALID>\r\n",
	"=====================================\r\n",
};

int bridge_run(struct v2x_hal *h, struct bridge_stats *stats)
{
	struct bridge b; /* about 1.5 KB: fits an ESP32 task stack */
	struct hal_can_rx rx[32];
	uint32_t status_ms;
	int rc;

	memset(&b, 0, sizeof(b));
	fw_node_init(&b.node, h);
	bridge_conf_load(&b.node, &b.conf);
	bridge_batch_reset(&b.batch);
	rc = hal_uart_open(h, HAL_UART_HOST, b.conf.baud);
	if (rc < 0)
		return rc;
	if (hal_uart_open(h, HAL_UART_GPS, b.conf.gps_baud) < 0)
		b.node.config_errors++; /* no GPS fitted: CAN only */
	rc = hal_can_set_filters(h, b.conf.filter, b.conf.n_filters);
	if (rc < 0)
		return rc;
	if (b.conf.legacy)
		for (size_t i = 0; i < sizeof(bridge__banner) / sizeof(bridge__banner[0]); i++)
			fw_node_write(&b.node, bridge__banner[i], strlen(bridge__banner[i]));
	status_ms = hal_millis(h);
	while (!hal_should_stop(h)) {
		int busy = 0, k;

		/* Drain the controller completely. */
		do {
			k = hal_can_recv(h, rx, sizeof(rx) / sizeof(rx[0]));
			for (int i = 0; i < k; i++)
				bridge__can_frame(&b, &rx[i]);
			if (k > 0)
				busy = 1;
		} while (k == (int)(sizeof(rx) / sizeof(rx[0])));
		if (b.batch.n && (uint32_t)(hal_micros(h) - b.batch.t0_us) >= b.conf.batch_us)
			bridge__flush(&b);
		if (bridge__gps(&b))
			busy = 1;
		if ((uint32_t)(hal_millis(h) - status_ms) >= b.conf.status_ms) {
			status_ms += b.conf.status_ms;
			bridge__status(&b);
		}
		if (!busy)
			hal_sleep_ms(h, 1);
	}
	bridge__flush(&b);
	if (stats) {
		b.st.tx_dropped = b.node.tx_dropped;
		b.st.config_errors = b.node.config_errors;
		hal_can_counters(h, &b.st.can_overruns, &b.st.can_bus_errors);
		b.st.last_seq = b.node.seq - 1;
		memcpy(b.st.sent_by_type, b.node.sent, sizeof(b.st.sent_by_type));
		*stats = b.st;
	}
	return 0;
}
