/*
 * hub.c - v2x_hub (hub.h).
 */
#include "firmware/apps/v2x_hub/hub.h"

#include <errno.h>
#include <string.h>

#include "firmware/apps/common/fw_legacy.h"
#include "firmware/apps/common/fw_node.h"
#include "v2x_proto.h"

int hub_aa55_feed(struct hub_aa55 *r, uint8_t b)
{
	if (r->n == 0) {
		if (b == 0xAA)
			r->buf[r->n++] = b;
		else
			r->junk++;
		return 0;
	}
	if (r->n == 1) {
		if (b == 0x55) {
			r->buf[r->n++] = b;
		} else if (b == 0xAA) {
			r->junk++; /* AA AA 55: the second AA may start the frame */
		} else {
			r->junk += 2;
			r->n = 0;
		}
		return 0;
	}
	r->buf[r->n++] = b;
	if (r->n == sizeof(r->buf)) {
		r->n = 0;
		return 1;
	}
	return 0;
}

struct hub {
	struct fw_node node;
	struct fw_radio radio;
	struct hub_stats st;
	uint32_t legacy, v2v_ms, v2g_ms, stop_retry_ms, stop_tries, item_max_age;
	struct fw_item item;
	uint8_t have_item;
	uint32_t item_ms;
	/* v2 receive */
	uint8_t rx[V2X_WIRE_MAX + 8];
	size_t rx_n;
	uint8_t rx_overlong;
	struct hub_aa55 aa;
	/* station */
	uint32_t station_session;
	/* pending stop */
	uint8_t stop_pending;
	uint32_t stop_cmd_seq, stop_sent_n, stop_last_ms;
	uint32_t stop_counters[64]; /* radio counters of our stop requests (the ACK names one) */
};

static void hub__ack_host(struct hub *s, uint32_t seq, uint8_t result)
{
	uint8_t p[V2X_ACK_LEN] = {(uint8_t)seq, (uint8_t)(seq >> 8), (uint8_t)(seq >> 16), (uint8_t)(seq >> 24),
				  V2X_T_CMD, result};

	s->st.stop_result = result;
	if (s->legacy)
		return; /* a legacy computer sends no commands */
	if (fw_node_send(&s->node, V2X_T_ACK, hal_micros(s->node.h), p, sizeof(p)) == 0)
		s->st.acks_to_host++;
}

static void hub__forward(struct hub *s, const struct fw_item *it)
{
	uint8_t b[2 + FW_ITEM_LEN] = {0xAA, 0x55};

	fw_item_pack(it, b + 2);
	if (s->legacy)
		fw_node_write(&s->node, b, sizeof(b));
	else
		fw_node_send(&s->node, V2X_T_V2X_ITEM, hal_micros(s->node.h), b + 2, FW_ITEM_LEN);
}

static void hub__send_v2g(struct hub *s, int stop)
{
	struct fw_v2g_vehicle m;
	uint8_t body[FW_V2G_VEHICLE_LEN];

	memset(&m, 0, sizeof(m));
	hal_mac(s->node.h, m.mac);
	m.latitude = s->item.gps_latitude;
	m.longitude = s->item.gps_longitude;
	m.altitude = s->item.gps_altitude;
	m.gps_valid = s->item.gps_valid;
	m.soc = s->item.soc;
	m.battery_voltage = s->item.battery_voltage;
	m.battery_current = s->item.battery_current;
	m.battery_capacity = 6.1f;
	m.desired_soc = s->item.desired_soc;
	m.ready_to_charge = stop ? 0 : s->item.ready_to_charge;
	m.stop_charging = (uint8_t)stop;
	m.session_id = s->station_session;
	m.timestamp = hal_millis(s->node.h);
	fw_v2g_vehicle_pack(&m, body);
	uint32_t counter = s->radio.counter;
	if (fw_node_radio_send(&s->node, &s->radio, FW_RADIO_V2G_VEHICLE, body, sizeof(body)) == 0) {
		s->st.v2g_sent++;
		if (stop) {
			s->stop_counters[s->stop_sent_n % 64] = counter;
			s->stop_sent_n++;
			s->st.stop_sent++;
		}
	}
}

static void hub__host_frame(struct hub *s, const struct v2x_frame *f)
{
	if (f->type == V2X_T_V2X_ITEM) {
		s->st.nonfinite_fields += (uint32_t)fw_item_unpack(f->payload, &s->item);
		hal_mac(s->node.h, s->item.mac);
		s->have_item = 1;
		s->item_ms = hal_millis(s->node.h);
		s->st.items_from_host++;
		return;
	}
	if (f->type == V2X_T_CMD) {
		s->st.cmds_from_host++;
		if (f->payload[0] != HUB_CMD_STOP_CHARGING) {
			hub__ack_host(s, f->seq, HUB_ACK_UNKNOWN);
			return;
		}
		if (!s->radio.have_v2g) {
			hub__ack_host(s, f->seq, HUB_ACK_NO_KEY);
			return;
		}
		if (s->stop_pending) {
			hub__ack_host(s, f->seq, HUB_ACK_BUSY);
			return;
		}
		s->stop_pending = 1;
		s->item.ready_to_charge = 0; /* until the computer says otherwise in a newer Item */
		s->stop_cmd_seq = f->seq;
		s->stop_sent_n = 0;
		s->stop_last_ms = hal_millis(s->node.h);
		hub__send_v2g(s, 1);
		return;
	}
	s->st.host_rejects++; /* a type the hub does not take */
}

static void hub__host(struct hub *s)
{
	uint8_t buf[512];
	struct v2x_frame f;
	int n;

	while ((n = hal_uart_read(s->node.h, HAL_UART_HOST, buf, sizeof(buf), 0)) > 0) {
		for (int i = 0; i < n; i++) {
			uint8_t b = buf[i];
			if (s->legacy) {
				if (hub_aa55_feed(&s->aa, b)) {
					s->st.nonfinite_fields += (uint32_t)fw_item_unpack(s->aa.buf + 2, &s->item);
					hal_mac(s->node.h, s->item.mac);
					s->have_item = 1;
					s->item_ms = hal_millis(s->node.h);
					s->st.items_from_host++;
				}
				continue;
			}
			if (b != 0) {
				if (s->rx_n < sizeof(s->rx))
					s->rx[s->rx_n++] = b;
				else
					s->rx_overlong = 1;
				continue;
			}
			if (s->rx_n || s->rx_overlong) {
				if (s->rx_overlong || v2x_frame_decode(s->rx, s->rx_n, &f) < 0)
					s->st.host_rejects++;
				else
					hub__host_frame(s, &f);
			}
			s->rx_n = 0;
			s->rx_overlong = 0;
		}
	}
}

static void hub__radio(struct hub *s)
{
	uint8_t src[6], msg[HAL_ESPNOW_MAX], type;
	const uint8_t *body;
	size_t blen;
	uint32_t counter;
	struct fw_item it;
	int n;

	while ((n = hal_espnow_recv(s->node.h, src, msg, sizeof(msg))) != 0) {
		if (n < 0)
			continue;
		if (fw_radio_open(&s->radio, src, msg, (size_t)n, &type, &body, &blen, &counter) != FW_RADIO_OK)
			continue;
		switch (type) {
		case FW_RADIO_V2V:
			s->st.nonfinite_fields += (uint32_t)fw_item_unpack(body, &it);
			memcpy(it.mac, src, 6);
			hub__forward(s, &it);
			s->st.forwarded_v2v++;
			break;
		case FW_RADIO_V2G_STATION: {
			struct fw_v2g_station m;
			s->st.nonfinite_fields += (uint32_t)fw_v2g_station_unpack(body, &m);
			memcpy(m.mac, src, 6);
			s->station_session = m.session_id;
			fw_item_from_station(&m, &it);
			hub__forward(s, &it);
			s->st.forwarded_station++;
			break;
		}
		case FW_RADIO_V2G_ACK: {
			uint32_t acked = (uint32_t)body[4] | (uint32_t)body[5] << 8 | (uint32_t)body[6] << 16 |
					 (uint32_t)body[7] << 24;
			int ours = 0;
			for (uint32_t i = 0; i < s->stop_sent_n && i < 64; i++)
				ours |= s->stop_counters[i] == acked;
			if (s->stop_pending && ours) {
				s->stop_pending = 0;
				hub__ack_host(s, s->stop_cmd_seq,
					      body[8] == FW_RADIO_ACK_STOPPED ? HUB_ACK_STOPPED : HUB_ACK_NO_SESSION);
			}
			break;
		}
		default:
			break; /* another vehicle's V2G traffic */
		}
	}
}

int hub_run(struct v2x_hal *h, struct hub_stats *stats)
{
	struct hub s;
	uint32_t t_v2v, t_v2g;
	int rc;

	memset(&s, 0, sizeof(s));
	fw_node_init(&s.node, h);
	s.st.stop_result = 0xFF;
	s.legacy = fw_cfg_u32(&s.node, "legacy", 0, 0, 1);
	uint32_t baud = fw_cfg_u32(&s.node, "baud", s.legacy ? 115200 : 921600, 9600, 4000000);
	s.v2v_ms = fw_cfg_u32(&s.node, "v2v_ms", 2000, 100, 60000);
	s.v2g_ms = fw_cfg_u32(&s.node, "v2g_ms", 5000, 100, 60000);
	s.stop_retry_ms = fw_cfg_u32(&s.node, "stop_retry_ms", 1000, 50, 60000);
	s.stop_tries = fw_cfg_u32(&s.node, "stop_tries", 30, 1, 1000);
	s.item_max_age = fw_cfg_u32(&s.node, "item_max_age", 10000, 100, 3600000);
	rc = hal_uart_open(h, HAL_UART_HOST, baud);
	if (rc < 0)
		return rc;
	rc = fw_node_radio_init(&s.node, &s.radio);
	if (rc < 0)
		return rc;
	s.radio.accept_mask = 1u << FW_RADIO_V2V | 1u << FW_RADIO_V2G_STATION | 1u << FW_RADIO_V2G_ACK;
	t_v2v = t_v2g = hal_millis(h);
	while (!hal_should_stop(h)) {
		uint32_t now = hal_millis(h);
		int fresh;

		hub__host(&s);
		hub__radio(&s);
		fresh = s.have_item && (uint32_t)(now - s.item_ms) < s.item_max_age;
		if ((uint32_t)(now - t_v2v) >= s.v2v_ms) {
			t_v2v += s.v2v_ms;
			if (fresh && s.radio.have_v2v) {
				uint8_t body[FW_ITEM_LEN];
				fw_item_pack(&s.item, body);
				if (fw_node_radio_send(&s.node, &s.radio, FW_RADIO_V2V, body, sizeof(body)) == 0)
					s.st.v2v_sent++;
			}
		}
		if ((uint32_t)(now - t_v2g) >= s.v2g_ms) {
			t_v2g += s.v2g_ms;
			if (fresh && s.radio.have_v2g && !s.stop_pending)
				hub__send_v2g(&s, 0);
		}
		if (s.stop_pending && (uint32_t)(now - s.stop_last_ms) >= s.stop_retry_ms) {
			s.stop_last_ms = now;
			if (s.stop_sent_n >= s.stop_tries) {
				s.stop_pending = 0;
				hub__ack_host(&s, s.stop_cmd_seq, HUB_ACK_NO_ANSWER);
			} else {
				hub__send_v2g(&s, 1);
			}
		}
		hal_sleep_ms(h, 2);
	}
	if (stats) {
		memcpy(s.st.radio, s.radio.count, sizeof(s.st.radio));
		s.st.tx_dropped = s.node.tx_dropped;
		s.st.config_errors = s.node.config_errors;
		*stats = s.st;
	}
	return 0;
}
