/*
 * test_fw_session.c - the slot's session logic (firmware/apps/evcs_slot/session.h) and the legacy slot line
 * (facts/legacy-system.md: `<prefix> <status> <lat %.6f> <lon %.6f> <V %.1f> <A %.2f> <W %.1f> <kWh %.3f> <Hz>
 * <pf %.2f>`, slot 1 prefix EELAB_EVCS2_slot_1, slot 2 EELAB_EVSE_slot_2, thresholds 0.5 A and 0.1 A, 1.50 per kWh).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/apps/evcs_slot/session.h"
#include "firmware/apps/evcs_slot/slot.h"

static struct pzem_reading rd(uint32_t ma, uint32_t wh)
{
	struct pzem_reading r = {.voltage_dv = 2300, .current_ma = ma, .power_dw = ma * 23 / 10, .energy_wh = wh,
				 .freq_dhz = 500, .pf_centi = 100};
	return r;
}

static void test_threshold_start_stop(void **state)
{
	struct session s;
	struct session_conf c = {.threshold_ma = 500, .stop_hold_ms = 4000, .cost_per_kwh = 1.50};
	struct pzem_reading r;

	session_init(&s, &c, 10);
	r = rd(0, 1000);
	assert_int_equal(session_update(&s, &r, 0), SESSION_EV_NONE);
	r = rd(500, 1000); /* at the threshold: not above */
	assert_int_equal(session_update(&s, &r, 1000), SESSION_EV_NONE);
	r = rd(501, 1003); /* above: starts; the 3 Wh since the previous reading count */
	assert_int_equal(session_update(&s, &r, 2000), SESSION_EV_STARTED);
	assert_true(s.active);
	assert_int_equal(s.cur.id, 10);
	assert_int_equal(s.cur.energy_wh, 3);
	r = rd(10000, 1503);
	assert_int_equal(session_update(&s, &r, 3000), SESSION_EV_NONE);
	r = rd(14000, 2003);
	assert_int_equal(session_update(&s, &r, 4000), SESSION_EV_NONE);
	/* Current falls: the session ends only after 4 s at or below the threshold. */
	r = rd(100, 2004);
	assert_int_equal(session_update(&s, &r, 5000), SESSION_EV_NONE);
	r = rd(0, 2004);
	assert_int_equal(session_update(&s, &r, 8999), SESSION_EV_NONE);
	assert_int_equal(session_update(&s, &r, 9000), SESSION_EV_ENDED);
	assert_false(s.active);
	assert_int_equal(s.last.id, 10);
	assert_int_equal(s.last.energy_wh, 1004); /* 2004 - 1000 */
	assert_true(s.last.cost > 1.5059 && s.last.cost < 1.5061); /* 1.004 kWh x 1.50 */
	assert_int_equal(s.last.max_current_ma, 14000);
	assert_int_equal(s.last.start_ms, 2000);
	assert_int_equal(s.last.end_ms, 9000);
	assert_int_equal(s.last.end, SESSION_END_CURRENT);
	/* A dip shorter than the hold does not end a session. */
	r = rd(6000, 2010);
	assert_int_equal(session_update(&s, &r, 10000), SESSION_EV_STARTED);
	assert_int_equal(s.cur.id, 11);
	r = rd(0, 2011);
	assert_int_equal(session_update(&s, &r, 11000), SESSION_EV_NONE);
	r = rd(6000, 2020);
	assert_int_equal(session_update(&s, &r, 14500), SESSION_EV_NONE);
	r = rd(0, 2021);
	assert_int_equal(session_update(&s, &r, 15000), SESSION_EV_NONE);
	assert_true(s.active);
}

static void test_vehicle_stop_and_meter_reset(void **state)
{
	struct session s;
	struct session_conf c = {.threshold_ma = 100, .stop_hold_ms = 4000, .cost_per_kwh = 2.0};
	struct pzem_reading r;

	session_init(&s, &c, 1);
	assert_int_equal(session_stop(&s, 0, SESSION_END_VEHICLE_STOP), SESSION_EV_NONE); /* nothing running */
	r = rd(0, 500);
	session_update(&s, &r, 0);
	r = rd(8000, 600);
	assert_int_equal(session_update(&s, &r, 1000), SESSION_EV_STARTED);
	/* The meter's counter restarts at 0 (reset): energy keeps what was counted and continues. */
	r = rd(8000, 20);
	assert_int_equal(session_update(&s, &r, 2000), SESSION_EV_NONE);
	assert_int_equal(s.meter_resets, 1);
	assert_int_equal(s.cur.energy_wh, 100);
	r = rd(8000, 270);
	session_update(&s, &r, 3000);
	assert_int_equal(s.cur.energy_wh, 350);
	assert_int_equal(session_stop(&s, 3500, SESSION_END_VEHICLE_STOP), SESSION_EV_ENDED);
	assert_int_equal(s.last.end, SESSION_END_VEHICLE_STOP);
	assert_int_equal(s.last.energy_wh, 350);
	assert_true(s.last.cost > 0.6999 && s.last.cost < 0.7001);
	assert_string_equal(session_end_name(SESSION_END_VEHICLE_STOP), "vehicle_stop");
	assert_int_equal(s.finished, 1);
}

static void test_slot_lines(void **state)
{
	char buf[160];
	struct pzem_reading r = {.voltage_dv = 2301, .current_ma = 15500, .power_dw = 35650, .energy_wh = 1234,
				 .freq_dhz = 500, .pf_centi = 98};

	assert_true(slot_line(1, 1, 13.736717, 100.523186, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "EELAB_EVCS2_slot_1 1 13.736717 100.523186 230.1 15.50 3565.0 1.234 50 0.98\r\n");
	r.current_ma = 0;
	r.power_dw = 0;
	assert_true(slot_line(2, 0, 13.736717, 100.523186, &r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "EELAB_EVSE_slot_2 0 13.736717 100.523186 230.1 0.00 0.0 1.234 50 0.98\r\n");
	assert_int_equal(slot_line(1, 1, 0, 0, &r, buf, 20), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threshold_start_stop),
		cmocka_unit_test(test_vehicle_stop_and_meter_reset),
		cmocka_unit_test(test_slot_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
