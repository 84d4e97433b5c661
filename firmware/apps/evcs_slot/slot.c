/*
 * slot.c - evcs_slot (slot.h): meter, session, reports, V2G.
 */
#include "firmware/apps/evcs_slot/slot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "firmware/apps/common/fw_legacy.h"
#include "firmware/apps/common/fw_node.h"
#include "v2x_proto.h"

int slot_line(int slot, int status, double lat, double lon, const struct pzem_reading *r, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s %d %.6f %.6f %.1f %.2f %.1f %.3f %u %.2f\r\n",
			 slot == 1 ? "EELAB_EVCS2_slot_1" : "EELAB_EVSE_slot_2", status ? 1 : 0, lat, lon,
			 r->voltage_dv / 10.0, r->current_ma / 1000.0, r->power_dw / 10.0, r->energy_wh / 1000.0,
			 (unsigned)((r->freq_dhz + 5) / 10), r->pf_centi / 100.0);

	return (n < 0 || (size_t)n >= size) ? -ENOBUFS : n;
}

struct slot {
	struct fw_node node;
	struct fw_radio radio;
	struct session sess;
	struct slot_stats st;
	uint32_t slot, legacy, meter_addr, meter_to_ms, meter_retries, read_ms, report_ms, v2g_ms, max_power_w;
	double lat, lon;
	int v2g;
	struct pzem_reading last;
	uint8_t have_last, fresh, vehicle_ready;
};

static void slot__line(struct slot *s, const char *text)
{
	fw_node_write(&s->node, text, strlen(text));
}

static void slot__read(struct slot *s)
{
	struct pzem_reading r;
	char line[96];
	int rc = pzem_read(s->node.h, (uint8_t)s->meter_addr, s->meter_to_ms, s->meter_retries, &r, &s->st.meter);

	if (rc < 0) {
		if (s->legacy) {
			snprintf(line, sizeof(line), "ERROR: PZEM read failed (%s)\r\n",
				 rc == -ETIMEDOUT ? "timeout" : rc == -EBADMSG ? "crc" : rc == -EREMOTEIO ? "exception"
											 : "bad frame");
			slot__line(s, line);
			s->st.error_lines++;
		}
		return;
	}
	s->last = r;
	s->have_last = 1;
	s->fresh = 1;
	struct pzem_reading for_session = r;
	if (!hal_relay_get(s->node.h))
		for_session.current_ma = 0; /* no current through an open contactor: a higher reading is stale */
	if (session_update(&s->sess, &for_session, hal_millis(s->node.h)) == SESSION_EV_ENDED && s->legacy) {
		snprintf(line, sizeof(line), "[V2G] session %u ended (%s), %u Wh\r\n", (unsigned)s->sess.last.id,
			 session_end_name(s->sess.last.end), (unsigned)s->sess.last.energy_wh);
		slot__line(s, line);
	}
}

static void slot__report(struct slot *s)
{
	char line[160];
	int status;

	if (!s->fresh)
		return; /* the reads since the last report failed: nothing true to send */
	s->fresh = 0;
	status = s->last.current_ma > s->sess.conf.threshold_ma;
	if (s->legacy) {
		if (slot_line((int)s->slot, status, s->lat, s->lon, &s->last, line, sizeof(line)) > 0) {
			slot__line(s, line);
			s->st.reports_sent++;
		}
		return;
	}
	struct v2x_station v = {
		.slot = (uint8_t)s->slot,
		.status = (uint8_t)status,
		.voltage_dv = s->last.voltage_dv,
		.current_ma = s->last.current_ma,
		.power_dw = s->last.power_dw,
		.energy_wh = s->last.energy_wh,
		.freq_dhz = s->last.freq_dhz,
		.pf_centi = (uint8_t)s->last.pf_centi,
		.alarm = s->last.alarm,
		.lat_e7 = (int32_t)(s->lat * 1e7),
		.lon_e7 = (int32_t)(s->lon * 1e7),
	};
	uint8_t payload[V2X_STATION_LEN];
	v2x_station_pack(&v, payload, sizeof(payload));
	if (fw_node_send(&s->node, V2X_T_STATION, hal_micros(s->node.h), payload, sizeof(payload)) == 0)
		s->st.reports_sent++;
}

static void slot__station_msg(struct slot *s)
{
	struct fw_v2g_station m;
	uint8_t body[FW_V2G_STATION_LEN];

	memset(&m, 0, sizeof(m));
	hal_mac(s->node.h, m.mac);
	m.latitude = (float)s->lat;
	m.longitude = (float)s->lon;
	m.ac_voltage = s->have_last ? (float)(s->last.voltage_dv / 10.0) : 0.0f;
	m.max_current = (float)(s->max_power_w / 230.0);
	m.max_power = (float)s->max_power_w;
	m.cost_per_kwh = (float)s->sess.conf.cost_per_kwh;
	const struct session_record *rec = s->sess.active ? &s->sess.cur : &s->sess.last;
	m.energy_delivered = (float)(rec->energy_wh / 1000.0);
	m.session_cost = (float)rec->cost;
	m.session_id = rec->id;
	m.charging_available = hal_relay_get(s->node.h) ? 1 : 0;
	m.timestamp = hal_millis(s->node.h);
	fw_v2g_station_pack(&m, body);
	if (fw_node_radio_send(&s->node, &s->radio, FW_RADIO_V2G_STATION, body, sizeof(body)) == 0)
		s->st.station_msgs_sent++;
}

static void slot__ack(struct slot *s, uint32_t session_id, uint32_t counter, uint8_t code)
{
	uint8_t body[FW_RADIO_V2G_ACK_LEN] = {(uint8_t)session_id, (uint8_t)(session_id >> 8), (uint8_t)(session_id >> 16),
					      (uint8_t)(session_id >> 24), (uint8_t)counter, (uint8_t)(counter >> 8),
					      (uint8_t)(counter >> 16), (uint8_t)(counter >> 24), code};

	if (fw_node_radio_send(&s->node, &s->radio, FW_RADIO_V2G_ACK, body, sizeof(body)) == 0)
		s->st.acks_sent++;
}

static void slot__radio(struct slot *s)
{
	uint8_t src[6], msg[HAL_ESPNOW_MAX], type;
	const uint8_t *body;
	size_t blen;
	uint32_t counter;
	char line[96];
	int n;

	while ((n = hal_espnow_recv(s->node.h, src, msg, sizeof(msg))) != 0) {
		if (n < 0)
			continue; /* longer than any message: counted by the radio layer as dropped */
		if (fw_radio_open(&s->radio, src, msg, (size_t)n, &type, &body, &blen, &counter) != FW_RADIO_OK)
			continue; /* counted in s->radio.count */
		if (type != FW_RADIO_V2G_VEHICLE)
			continue; /* V2V traffic and other stations: not for a slot */
		struct fw_v2g_vehicle v;
		fw_v2g_vehicle_unpack(body, &v);
		if (v.stop_charging) {
			s->st.stop_requests++;
			uint32_t id = s->sess.active ? s->sess.cur.id : s->sess.last.id;
			enum session_event ev = session_stop(&s->sess, hal_millis(s->node.h), SESSION_END_VEHICLE_STOP);
			hal_relay_set(s->node.h, 0);
			slot__ack(s, id, counter, ev == SESSION_EV_ENDED ? FW_RADIO_ACK_STOPPED : FW_RADIO_ACK_NO_SESSION);
			if (ev == SESSION_EV_ENDED && s->legacy) {
				snprintf(line, sizeof(line), "[V2G] stop request: session %u ended, %u Wh\r\n",
					 (unsigned)id, (unsigned)s->sess.last.energy_wh);
				slot__line(s, line);
			}
			s->vehicle_ready = 0;
			continue;
		}
		if (v.ready_to_charge && !s->vehicle_ready && !hal_relay_get(s->node.h)) {
			hal_relay_set(s->node.h, 1);
			s->st.relay_closes++;
		}
		s->vehicle_ready = v.ready_to_charge;
	}
}

int slot_run(struct v2x_hal *h, struct slot_stats *stats)
{
	struct slot s;
	struct session_conf sc;
	uint32_t t_read, t_report, t_v2g;
	int rc;

	memset(&s, 0, sizeof(s));
	fw_node_init(&s.node, h);
	s.slot = fw_cfg_u32(&s.node, "slot", 1, 1, 2);
	s.legacy = fw_cfg_u32(&s.node, "legacy", 0, 0, 1);
	uint32_t baud = fw_cfg_u32(&s.node, "baud", s.legacy ? 115200 : 921600, 9600, 4000000);
	s.meter_addr = fw_cfg_u32(&s.node, "meter_addr", 1, 1, 247);
	s.meter_to_ms = fw_cfg_u32(&s.node, "meter_to_ms", 200, 10, 5000);
	s.meter_retries = fw_cfg_u32(&s.node, "meter_retries", 2, 0, 10);
	s.read_ms = fw_cfg_u32(&s.node, "read_ms", 1000, 100, 60000);
	s.report_ms = fw_cfg_u32(&s.node, "report_ms", 2000, 100, 60000);
	s.v2g_ms = fw_cfg_u32(&s.node, "v2g_ms", 5000, 100, 60000);
	s.max_power_w = fw_cfg_u32(&s.node, "max_power_w", 3000, 100, 100000);
	s.lat = fw_cfg_double(&s.node, "lat", 0.0, -90.0, 90.0);
	s.lon = fw_cfg_double(&s.node, "lon", 0.0, -180.0, 180.0);
	sc.threshold_ma = fw_cfg_u32(&s.node, "threshold_ma", s.slot == 1 ? 500 : 100, 0, 100000);
	sc.stop_hold_ms = fw_cfg_u32(&s.node, "stop_hold_ms", 4000, 0, 600000);
	sc.cost_per_kwh = fw_cfg_double(&s.node, "cost_kwh", 1.50, 0.0, 1000.0);
	session_init(&s.sess, &sc, fw_cfg_u32(&s.node, "session_base", 1, 1, 1000000000));
	hal_relay_set(h, (int)fw_cfg_u32(&s.node, "relay_on", 1, 0, 1));
	rc = hal_uart_open(h, HAL_UART_HOST, baud);
	if (rc < 0)
		return rc;
	if (hal_uart_open(h, HAL_UART_METER, 9600) < 0)
		s.node.config_errors++; /* every read will fail, counted */
	if (s.slot == 1 && fw_node_radio_init(&s.node, &s.radio) == 0 && s.radio.have_v2g)
		s.v2g = 1;
	s.radio.accept_mask = 1u << FW_RADIO_V2G_VEHICLE; /* a station takes only vehicles' V2G messages */
	t_read = t_report = t_v2g = hal_millis(h);
	while (!hal_should_stop(h)) {
		uint32_t now = hal_millis(h);
		if ((uint32_t)(now - t_read) >= s.read_ms) {
			t_read += s.read_ms;
			slot__read(&s);
		}
		if ((uint32_t)(now - t_report) >= s.report_ms) {
			t_report += s.report_ms;
			slot__report(&s);
		}
		if (s.v2g) {
			slot__radio(&s);
			if ((uint32_t)(now - t_v2g) >= s.v2g_ms) {
				t_v2g += s.v2g_ms;
				slot__station_msg(&s);
			}
		}
		hal_sleep_ms(h, 5);
	}
	if (stats) {
		s.st.frames_sent = s.node.sent[V2X_T_STATION];
		s.st.tx_dropped = s.node.tx_dropped;
		s.st.config_errors = s.node.config_errors;
		s.st.sessions_finished = s.sess.finished;
		s.st.last = s.sess.last;
		s.st.session_active = s.sess.active;
		s.st.running = s.sess.cur;
		memcpy(s.st.radio, s.radio.count, sizeof(s.st.radio));
		s.st.relay_closed = (uint8_t)hal_relay_get(h);
		*stats = s.st;
	}
	return 0;
}
