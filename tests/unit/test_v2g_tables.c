/*
 * test_v2g_tables.c - neighbours and stations (stages/v2g/v2x_tables.h), the rows (v2g_rows.h) and the own Item.
 *
 * Distances: one degree of latitude is R x pi / 180 with R = 6371008.8 m (IUGG mean radius), so 0.0001 deg north is
 * 11.1195080 m; along a parallel at latitude phi, a small step dl is R cos(phi) dl.  Row texts are written out by hand
 * from the formats documented in v2g_rows.h and the legacy header of ../shared/facts/legacy-system.md.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stages/v2g/v2g_rows.h"
#include "stages/v2g/v2x_tables.h"

#define S_NS 1000000000ull

static struct hub_item station(uint8_t last, float lat, float lon, uint32_t uptime, uint32_t sid, float kwh)
{
	struct hub_item it;

	memset(&it, 0, sizeof(it));
	it.soc = HUB_SOC_STATION;
	it.mac[0] = 0x30;
	it.mac[5] = last;
	it.gps_latitude = lat;
	it.gps_longitude = lon;
	it.gps_valid = 1;
	it.battery_voltage = 230;
	it.battery_current = 16;
	it.available_energy = kwh;
	it.timestamp = uptime;
	it.evcs_session_id = sid;
	it.evcs_cost_per_kwh = 1.5f;
	it.evcs_max_power = 3000;
	it.evcs_charging_available = 1;
	return it;
}

static void test_haversine(void **state)
{
	double d = v2x_haversine_m(48.0, 11.0, 48.0001, 11.0);

	assert_true(fabs(d - 11.1195080) < 1e-4);
	d = v2x_haversine_m(0, 0, 1, 0);
	assert_true(fabs(d - 111195.0802) < 1e-3);
	d = v2x_haversine_m(60.0, 10.0, 60.0, 10.0001); /* R cos 60 dl = 5.5597540 m */
	assert_true(fabs(d - 5.5597540) < 1e-4);
	assert_true(v2x_haversine_m(48, 11, 48, 11) == 0.0);
}

static void test_neighbours_expiry_and_eviction(void **state)
{
	struct v2x_tables t;
	struct hub_item it;
	int idx;

	v2x_tables_init(&t, 30 * S_NS);
	memset(&it, 0, sizeof(it));
	it.soc = 50;
	it.mac[0] = 0x24;
	it.gps_valid = 1;
	it.gps_latitude = 48.0001f;
	it.gps_longitude = 11.0f;
	assert_int_equal(v2x_tables_apply(&t, &it, 1 * S_NS, 100, &idx), V2X_UPD_NEW);
	assert_true(isnan(t.neigh[idx].distance_m)); /* no own fix yet */
	v2x_tables_set_fix(&t, 1, 48.0, 11.0);
	/* the f32 latitude 48.0001 is 48.00009918: 11.1103 m */
	assert_true(fabs(t.neigh[idx].distance_m - v2x_haversine_m(48.0, 11.0, (double)48.0001f, 11.0)) < 1e-9);
	assert_int_equal(v2x_tables_apply(&t, &it, 2 * S_NS, 200, &idx), V2X_UPD_UPDATED);
	assert_int_equal(t.neigh[idx].items, 2);
	assert_int_equal(v2x_tables_expire(&t, 32 * S_NS), 0); /* 30 s exactly: kept */
	assert_int_equal(v2x_tables_expire(&t, 32 * S_NS + 1), 1);
	assert_int_equal(v2x_tables_neighbours(&t), 0);
	/* fill the table, then one more: the one heard longest ago makes room */
	for (int i = 0; i < V2X_NEIGH_MAX; i++) {
		it.mac[5] = (uint8_t)i;
		v2x_tables_apply(&t, &it, (uint64_t)(100 + i) * S_NS, 0, NULL);
	}
	it.mac[5] = 0xEE;
	assert_int_equal(v2x_tables_apply(&t, &it, 200 * S_NS, 0, &idx), V2X_UPD_NEW);
	assert_int_equal(t.stats.evicted, 1);
	assert_int_equal(v2x_tables_neighbours(&t), V2X_NEIGH_MAX);
	for (int i = 0; i < V2X_NEIGH_MAX; i++)
		assert_false(t.neigh[i].used && t.neigh[i].mac[5] == 0); /* mac ..:00 was the oldest */
}

/* Regression (found by test_v2xd_hub under ASan): the v2g thread samples its clock, then takes records that
 * hub_io stamped after that instant.  An entry heard "in the future" of now is fresh, not 2^64 ns old: it is neither
 * expired nor refused as a match candidate. */
static void test_heard_after_now_is_fresh(void **state)
{
	struct v2x_tables t;
	struct hub_item st = station(1, 48.00001f, 11.0f, 1000, 0, 0);
	struct hub_item it;

	v2x_tables_init(&t, 30 * S_NS);
	v2x_tables_set_fix(&t, 1, 48.0, 11.0);
	memset(&it, 0, sizeof(it));
	it.soc = 50;
	it.mac[0] = 0x24;
	it.gps_valid = 1;
	assert_int_equal(v2x_tables_apply(&t, &it, 10 * S_NS + 5000, 0, NULL), V2X_UPD_NEW);
	assert_int_equal(v2x_tables_apply(&t, &st, 10 * S_NS + 5000, 0, NULL), V2X_UPD_NEW);
	assert_non_null(v2x_tables_match_station(&t, 10.0, 10 * S_NS, 10 * S_NS));
	assert_int_equal(v2x_tables_expire(&t, 10 * S_NS), 0);
	assert_int_equal(v2x_tables_neighbours(&t), 1);
	assert_int_equal(v2x_tables_stations(&t), 1);
}

static void test_station_order(void **state)
{
	struct v2x_tables t;
	struct hub_item a = station(1, 48.0f, 11.0f, 10000, 5, 0.5f);
	const struct v2x_station_entry *e;

	int idx0 = -1, idx1 = -1;

	v2x_tables_init(&t, 60 * S_NS);
	assert_int_equal(v2x_tables_apply(&t, &a, S_NS, 0, &idx0), V2X_UPD_NEW);
	assert_int_equal(v2x_tables_apply(&t, &a, 2 * S_NS, 0, &idx1), V2X_UPD_DUPLICATE);
	assert_true(idx0 >= 0);
	assert_int_equal(idx1, idx0); /* the entry of a message not applied is still named */
	a.timestamp = 9000; /* late, older message */
	a.available_energy = 0.1f;
	assert_int_equal(v2x_tables_apply(&t, &a, 3 * S_NS, 0, NULL), V2X_UPD_STALE);
	e = v2x_tables_station(&t, a.mac);
	assert_non_null(e);
	assert_true(e->energy_kwh == (double)0.5f); /* not applied */
	assert_int_equal(e->last_seen_mono_ns, S_NS);
	a.timestamp = 80000;
	a.available_energy = 0.75f;
	assert_int_equal(v2x_tables_apply(&t, &a, 4 * S_NS, 0, NULL), V2X_UPD_UPDATED);
	a.timestamp = 19000; /* 61 s back: restarted */
	assert_int_equal(v2x_tables_apply(&t, &a, 5 * S_NS, 0, NULL), V2X_UPD_RESTART);
	a.timestamp = 18000; /* 1 s back, sent before the last one: out of order */
	assert_int_equal(v2x_tables_apply(&t, &a, 5 * S_NS + 500000000, 0, NULL), V2X_UPD_STALE);
	a.timestamp = 2500; /* 2.5 s of uptime after 3 s of silence: it restarted (within the reorder window) */
	assert_int_equal(v2x_tables_apply(&t, &a, 8 * S_NS, 0, NULL), V2X_UPD_RESTART);
	assert_int_equal(t.stats.duplicates, 1);
	assert_int_equal(t.stats.stale, 2);
	assert_int_equal(t.stats.restarts, 2);
	e = v2x_tables_station(&t, a.mac);
	assert_true(e->price_per_kwh == 1.5);
	assert_true(e->max_power_w == 3000.0);
	assert_true(e->ac_voltage_v == 230.0);
	assert_true(e->max_current_a == 16.0);
	assert_int_equal(e->session_id, 5);
	assert_int_equal(e->available, 1);
}

/* Nearest within the radius, never the first heard; none beyond the radius or outside the window. */
static void test_match_rule(void **state)
{
	struct v2x_tables t;
	struct hub_item far = station(1, 48.00007f, 11.0f, 1000, 0, 0); /* about 7.8 m */
	struct hub_item near = station(2, 48.00002f, 11.0f, 1000, 0, 0); /* about 2.2 m */
	struct hub_item out = station(3, 48.0002f, 11.0f, 1000, 0, 0);   /* about 22 m */
	const struct v2x_station_entry *m;

	v2x_tables_init(&t, 60 * S_NS);
	v2x_tables_set_fix(&t, 1, 48.0, 11.0);
	v2x_tables_apply(&t, &out, 1 * S_NS, 0, NULL);
	assert_null(v2x_tables_match_station(&t, 10.0, 10 * S_NS, 1 * S_NS));
	v2x_tables_apply(&t, &far, 2 * S_NS, 0, NULL);
	m = v2x_tables_match_station(&t, 10.0, 10 * S_NS, 2 * S_NS);
	assert_non_null(m);
	assert_int_equal(m->mac[5], 1);
	v2x_tables_apply(&t, &near, 3 * S_NS, 0, NULL);
	m = v2x_tables_match_station(&t, 10.0, 10 * S_NS, 3 * S_NS);
	assert_int_equal(m->mac[5], 2);
	/* the near one falls silent for more than the window: the far one again */
	far.timestamp = 5000;
	v2x_tables_apply(&t, &far, 14 * S_NS, 0, NULL);
	m = v2x_tables_match_station(&t, 10.0, 10 * S_NS, 14 * S_NS);
	assert_int_equal(m->mac[5], 1);
	/* without our fix nothing matches */
	v2x_tables_set_fix(&t, 0, 0, 0);
	assert_null(v2x_tables_match_station(&t, 10.0, 10 * S_NS, 14 * S_NS));
}

static void test_espnow_row(void **state)
{
	struct hub_item it;
	char buf[V2G_ESPNOW_ROW_MAX];
	size_t n;
	static const char want[] =
		"24:6F:28:01:02:03,80,57.5,-12.5,2,42,16,1.5,Dri,YES,48,11.5,16,YES,NO,80,NO,16909060,V2V,0,0,0,0,NO,"
		"1764537349.000000001,7,12.3\n";
	static const char want_st[] =
		"30:00:00:00:00:01,65535,230,16,0.25,0,0,0,,NO,48.1,11.5,0,YES,NO,0,NO,60000,EVCS,0.375,1.5,3000,7,YES,"
		"1764537349.500000000,8,\n";

	memset(&it, 0, sizeof(it));
	it.soc = 80;
	it.battery_voltage = 57.5f;
	it.battery_current = -12.5f;
	it.available_energy = 2.0f;
	it.charging_status = 42;
	it.speed_kmh = 16.0f;
	it.acceleration = 1.5f;
	memcpy(it.gear, "Dri", 4);
	it.brake_status = 1;
	it.gps_latitude = 48.0f;
	it.gps_longitude = 11.5f;
	it.gps_altitude = 16.0f;
	it.gps_valid = 1;
	it.desired_soc = 80.0f;
	memcpy(it.mac, "\x24\x6F\x28\x01\x02\x03", 6);
	it.timestamp = 0x01020304;
	n = v2g_espnow_row(buf, sizeof(buf), &it, 1764537349000000001LL, 7, 12.34);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(v2g_espnow_row(buf, 40, &it, 0, 7, 1), 0);

	it = station(1, 48.1f, 11.5f, 60000, 7, 0.25f);
	it.evcs_session_cost = 0.375f;
	n = v2g_espnow_row(buf, sizeof(buf), &it, 1764537349500000000LL, 8, NAN);
	assert_int_equal(n, strlen(want_st));
	assert_memory_equal(buf, want_st, n);
	/* the header: the legacy columns, then the three appended */
	assert_int_equal(strncmp(V2G_ESPNOW_HEADER,
				 "MAC,SOC,BatteryVoltage,BatteryCurrent,AvailableEnergy,ChargingStatus,Speed,Acceleration,"
				 "Gear,BrakeStatus,Latitude,Longitude,Altitude,GPSValid,IsCharging,DesiredSOC,ReadyToCharge,"
				 "Timestamp,DataType,EVCSSessionCost,EVCSCostPerKWH,EVCSMaxPower,EVCSSessionID,"
				 "EVCSChargingAvailable,rx_time,link_seq,distance_m\n", 400), 0);
}

static void test_session_row(void **state)
{
	struct v2g_record r;
	char buf[V2G_SESSION_ROW_MAX];
	size_t n;
	/* 2.5 h = 150 min; 40.00 -> 80.25 %; 0.6 kWh of 0x425 then 3.1; 2.35 kWh into the battery; 1.5 x 2.4 = 3.6 */
	static const char want[] = "2025-11-30T21:15:49Z,150.00,40.00,80.25,40.25,0.6,3.1,2.3500,13.75,77,"
				   "30:00:00:00:00:01,2.4000,1.5000,3.6000,done,2025-11-30T18:45:49Z,"
				   "2025-11-30T21:15:49Z\n";
	static const char want_local[] = "2025-11-30T21:15:49Z,150.00,40.00,80.25,40.25,,,2.3500,13.75,local-1764528349,"
					 "30:00:00:00:00:01,2.4000,1.5000,3.6000,station_lost,2025-11-30T18:45:49Z,"
					 "2025-11-30T21:15:49Z\n";

	memset(&r, 0, sizeof(r));
	r.station_session_id = 77;
	r.have_station_id = 1;
	r.local_id = 1764528349;
	r.mac[0] = 0x30;
	r.mac[5] = 1;
	r.start_real_ns = (1764537349LL - 9000) * 1000000000LL;
	r.end_real_ns = 1764537349LL * 1000000000LL;
	r.duration_ns = 9000ull * 1000000000ull;
	r.soc_start = 40.0;
	r.soc_end = 80.25;
	r.energy_avail_start_kwh = 0.6;
	r.energy_avail_end_kwh = 3.1;
	r.energy_batt_kwh = 2.35;
	r.max_current_a = 13.75;
	r.energy_station_kwh = 2.4;
	r.price_per_kwh = 1.5;
	r.cost = 3.6;
	r.reason = V2G_END_DONE;
	n = v2g_session_row(buf, sizeof(buf), &r);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	r.have_station_id = 0;
	r.energy_avail_start_kwh = NAN;
	r.energy_avail_end_kwh = NAN;
	r.reason = V2G_END_STATION_LOST;
	n = v2g_session_row(buf, sizeof(buf), &r);
	assert_int_equal(n, strlen(want_local));
	assert_memory_equal(buf, want_local, n);
	assert_int_equal(strncmp(V2G_SESSIONS_HEADER,
				 "timestamp,duration_min,start_soc,end_soc,soc_gained,start_energy,end_energy,"
				 "energy_gained,max_current,session_id,station_mac,energy_station_kwh,price_per_kwh,cost,"
				 "end_reason,start_time,end_time\n", 300), 0);
}

static void test_own_item(void **state)
{
	struct vstate vs;
	struct hub_item it;
	uint8_t body[HUB_ITEM_LEN];

	memset(&vs, 0, sizeof(vs));
	v2g_own_item(&vs, 80, 1, 1234, &it);
	assert_string_equal(it.gear, "Unk");
	assert_int_equal(it.soc, 0);
	vs.value[SIG_SOC] = 87.4525;
	vs.t_real_ns[SIG_SOC] = 1;
	vs.value[SIG_PACK_VOLTAGE] = 57.4;
	vs.t_real_ns[SIG_PACK_VOLTAGE] = 1;
	vs.value[SIG_CURRENT] = 12.25; /* charging: positive into the battery */
	vs.t_real_ns[SIG_CURRENT] = 1;
	vs.value[SIG_GEAR] = -1;
	vs.t_real_ns[SIG_GEAR] = 1;
	vs.value[SIG_CHARGING] = 1;
	vs.t_real_ns[SIG_CHARGING] = 1;
	vs.value[SIG_BMS_STATE] = 0x0A;
	vs.t_real_ns[SIG_BMS_STATE] = 1;
	vs.gps.lat_deg = 48.5;
	vs.gps.lon_deg = 11.25;
	vs.gps.alt_m = 500;
	vs.gps.valid = 1;
	vs.gps.have = GPS_HAVE_POS | GPS_HAVE_ALT;
	vs.gps_real_ns = 1;
	v2g_own_item(&vs, 80, 1, 1234, &it);
	assert_int_equal(it.soc, 87);
	assert_true(it.battery_voltage == 57.4f);
	assert_true(it.battery_current == 12.25f);
	assert_string_equal(it.gear, "Rev");
	assert_int_equal(it.charging_status, 0x0A);
	assert_int_equal(it.is_charging_detected, 1);
	assert_true(it.gps_latitude == 48.5f);
	assert_int_equal(it.gps_valid, 1);
	assert_true(it.desired_soc == 80.0f);
	assert_int_equal(it.ready_to_charge, 1);
	assert_int_equal(it.timestamp, 1234);
	/* valid except for the mac, which the hub fills */
	it.mac[0] = 0x24;
	assert_int_equal(hub_item_validate(&it), HUB_REJ_NONE);
	/* on the wire: soc 87 at offset 0, current 12.25 (0x41440000) at offset 8, "Rev" at 28 */
	hub_item_pack(&it, body);
	assert_int_equal(body[0], 87);
	assert_int_equal(body[8], 0x00);
	assert_int_equal(body[10], 0x44);
	assert_int_equal(body[11], 0x41);
	assert_memory_equal(body + 28, "Rev", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_haversine),
		cmocka_unit_test(test_neighbours_expiry_and_eviction),
		cmocka_unit_test(test_heard_after_now_is_fresh),
		cmocka_unit_test(test_station_order),
		cmocka_unit_test(test_match_rule),
		cmocka_unit_test(test_espnow_row),
		cmocka_unit_test(test_session_row),
		cmocka_unit_test(test_own_item),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
