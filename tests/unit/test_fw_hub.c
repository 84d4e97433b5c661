/*
 * test_fw_hub.c - the hub's legacy pieces: the 88-byte Item layout of facts/legacy-system.md (expected bytes from
 * Python struct.pack at the listed offsets), a station message packed into an Item (soc 0xFFFF and the field mapping
 * of the facts), untrusted fields (NaN, unterminated gear), and the AA 55 receiver's resynchronisation (the legacy
 * defect: `AA AA 55` was missed).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/apps/common/fw_legacy.h"
#include "firmware/apps/v2x_hub/hub.h"

static const uint8_t item_bytes[88] = {
	0x4C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x66, 0x42, 0x00, 0x00, 0x44, 0xC1, 0x00, 0x00, 0x90, 0x40, 0x01, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xF4, 0x41, 0x00, 0x00, 0x80, 0x3E, 0x44, 0x72, 0x69, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x58, 0x41, 0x00, 0x80, 0xC8, 0x42, 0x00, 0x00, 0xA0, 0x40, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xA0, 0x42, 0x01, 0x02, 0x58, 0x53, 0x00, 0x00, 0x11, 0x00, 0x40, 0xE2, 0x01, 0x00, 0x00, 0x00, 0xC0, 0x3F,
	0x00, 0x00, 0xC0, 0x3F, 0x00, 0x80, 0x3B, 0x45, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};

static void test_item_layout(void **state)
{
	struct fw_item it = {.soc = 76, .battery_voltage = 57.5f, .battery_current = -12.25f, .available_energy = 4.5f,
			     .charging_status = 1, .speed_kmh = 30.5f, .acceleration = 0.25f, .gear = "Dri",
			     .brake_status = 1, .gps_latitude = 13.5f, .gps_longitude = 100.25f, .gps_altitude = 5.0f,
			     .gps_valid = 1, .is_charging_detected = 0, .desired_soc = 80.0f, .ready_to_charge = 1,
			     .mac = {2, 0x58, 0x53, 0, 0, 0x11}, .timestamp = 123456, .evcs_session_cost = 1.5f,
			     .evcs_cost_per_kwh = 1.5f, .evcs_max_power = 3000.0f, .evcs_session_id = 7,
			     .evcs_charging_available = 1};
	uint8_t out[88];
	struct fw_item back;

	fw_item_pack(&it, out);
	assert_memory_equal(out, item_bytes, 88);
	assert_int_equal(fw_item_unpack(item_bytes, &back), 0);
	assert_int_equal(back.soc, 76);
	assert_true(back.battery_current == -12.25f);
	assert_string_equal(back.gear, "Dri");
	assert_int_equal(back.evcs_session_id, 7);
	assert_memory_equal(back.mac, it.mac, 6);
	/* NaN and infinity are not data; gear without its NUL is cut to 3 characters. */
	uint8_t bad[88];
	memcpy(bad, item_bytes, 88);
	memset(bad + 4, 0xFF, 4);                             /* NaN voltage */
	memcpy(bad + 20, (const uint8_t[]){0, 0, 0x80, 0x7F}, 4); /* +inf speed */
	memcpy(bad + 28, "Driv", 4);
	assert_int_equal(fw_item_unpack(bad, &back), 2);
	assert_true(back.battery_voltage == 0.0f);
	assert_true(back.speed_kmh == 0.0f);
	assert_string_equal(back.gear, "Dri");
}

static void test_station_item(void **state)
{
	struct fw_v2g_station m = {.mac = {2, 0, 0, 0, 0, 0x13}, .latitude = 13.7297f, .longitude = 100.5231f,
				   .altitude = 4.0f, .ac_voltage = 229.8f, .max_current = 13.0f, .max_power = 3000.0f,
				   .cost_per_kwh = 1.5f, .energy_delivered = 0.297f, .session_cost = 0.4455f,
				   .charging_available = 1, .session_id = 3, .timestamp = 99000};
	uint8_t b[FW_V2G_STATION_LEN];
	struct fw_v2g_station back;
	struct fw_item it;

	fw_v2g_station_pack(&m, b);
	/* Offsets of the facts: charging_available at 44, session_id at 48, timestamp at 52. */
	assert_int_equal(b[44], 1);
	assert_int_equal(b[48], 3);
	assert_int_equal(b[52] | b[53] << 8 | b[54] << 16, 99000);
	assert_int_equal(fw_v2g_station_unpack(b, &back), 0);
	assert_true(back.energy_delivered == 0.297f);
	fw_item_from_station(&back, &it);
	assert_int_equal(it.soc, 0xFFFF);
	assert_true(it.battery_voltage == 229.8f); /* station AC voltage */
	assert_true(it.battery_current == 13.0f);  /* station max current */
	assert_true(it.available_energy == 0.297f);
	assert_int_equal(it.timestamp, 99000);
	assert_int_equal(it.gps_valid, 1);
	assert_int_equal(it.evcs_session_id, 3);
	assert_true(it.evcs_max_power == 3000.0f);
	assert_memory_equal(it.mac, m.mac, 6);
	/* The vehicle message: ready at 40, stop at 41, session at 44, soc u16 at 22. */
	struct fw_v2g_vehicle v = {.soc = 80, .ready_to_charge = 0, .stop_charging = 1, .session_id = 3};
	uint8_t vb[FW_V2G_VEHICLE_LEN];
	fw_v2g_vehicle_pack(&v, vb);
	assert_int_equal(vb[22], 80);
	assert_int_equal(vb[40], 0);
	assert_int_equal(vb[41], 1);
	assert_int_equal(vb[44], 3);
}

static int feed(struct hub_aa55 *r, const uint8_t *p, size_t n)
{
	int got = 0;

	for (size_t i = 0; i < n; i++)
		got += hub_aa55_feed(r, p[i]);
	return got;
}

static void test_aa55_resync(void **state)
{
	struct hub_aa55 r = {0};
	uint8_t s[300];
	size_t n = 0;

	/* boot text, then AA AA 55 + Item, then junk AA 12, then AA 55 + Item */
	memcpy(s, "boot\r\n", 6);
	n = 6;
	s[n++] = 0xAA;
	s[n++] = 0xAA;
	s[n++] = 0x55;
	memcpy(s + n, item_bytes, 88);
	n += 88;
	s[n++] = 0xAA;
	s[n++] = 0x12;
	s[n++] = 0xAA;
	s[n++] = 0x55;
	memcpy(s + n, item_bytes, 88);
	n += 88;
	assert_int_equal(feed(&r, s, n), 2);
	assert_memory_equal(r.buf + 2, item_bytes, 88);
	assert_int_equal(r.junk, 6 + 1 + 2); /* the boot text, the first AA, the AA 12 pair */
	/* An Item may itself hold AA 55: a frame is taken by length, not searched in. */
	uint8_t tricky[90] = {0xAA, 0x55};
	memcpy(tricky + 2, item_bytes, 88);
	tricky[10] = 0xAA;
	tricky[11] = 0x55;
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, tricky, 90), 1);
	assert_memory_equal(r.buf, tricky, 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_item_layout),
		cmocka_unit_test(test_station_item),
		cmocka_unit_test(test_aa55_resync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
