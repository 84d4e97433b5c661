/*
 * test_fw_model.c - the simulated Twizy (firmware/linux/twizy_model.h) decoded with the formulas of
 * ../shared/facts/twizy-can.md, written out here independently of the model's encoder: the frames agree with each
 * other and with the physics (SOC falls while driving and rises while charging, current sign, pack power, plug and
 * charging flags, gear, odometer, the BMS request stepping down in the constant-voltage phase), and the periods give
 * 0x155 every 10 ms, the 100 ms and 1 s groups.  Also the scenario parser's refusals.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/linux/sim_scenario.h"
#include "firmware/linux/twizy_model.h"

struct dec {
	int level;
	double current, soc, pack_v, speed, odo, cell1;
	int gear, plug, charging, bms_state;
};

static void decode(const struct model *m, struct dec *d)
{
	struct v2x_can c;
	const uint8_t *b = c.data;

	assert_int_equal(model_frame(m, 0x155, &c), 0);
	d->level = b[0];
	int raw = (b[1] & 0x0F) << 8 | b[2];
	assert_true(raw > 0 && raw < 0xF00);
	d->current = (raw - 2000) / 4.0;
	assert_int_equal(b[3], 0x54);
	d->soc = (b[4] << 8 | b[5]) / 400.0;
	assert_int_equal(model_frame(m, 0x55F, &c), 0);
	int v1 = b[5] << 4 | b[6] >> 4, v2 = (b[6] & 0xF) << 8 | b[7];
	d->pack_v = (v1 + v2) / 2.0 / 10.0;
	assert_int_equal(model_frame(m, 0x599, &c), 0);
	d->speed = (b[6] << 8 | b[7]) / 100.0;
	assert_int_equal(model_frame(m, 0x59B, &c), 0);
	d->gear = b[0] == 0x80 ? 1 : b[0] == 0x08 ? -1 : 0;
	assert_int_equal(model_frame(m, 0x597, &c), 0);
	d->plug = (b[0] & 0x20) != 0;
	d->charging = (b[1] & 0x60) == 0x20;
	assert_int_equal(model_frame(m, 0x5D7, &c), 0);
	d->odo = ((uint32_t)b[2] << 20 | (uint32_t)b[3] << 12 | (uint32_t)b[4] << 4 | (uint32_t)b[5] >> 4) / 100.0;
	assert_int_equal(model_frame(m, 0x425, &c), 0);
	d->bms_state = b[0];
	assert_int_equal(model_frame(m, 0x556, &c), 0);
	d->cell1 = (b[0] << 4 | b[1] >> 4) / 200.0;
}

static void run_for(struct model *m, double s)
{
	for (double t = 0; t < s; t += 0.01)
		model_step(m, 0.01);
}

static void test_periods(void **state)
{
	double per_s = 0;
	int has155 = 0;

	for (size_t i = 0; i < model_n_ids; i++) {
		per_s += 1000.0 / model_ids[i].period_ms;
		if (model_ids[i].id == 0x155) {
			has155 = 1;
			assert_int_equal(model_ids[i].period_ms, 10);
		} else {
			assert_true(model_ids[i].period_ms == 100 || model_ids[i].period_ms == 1000);
		}
		struct v2x_can c;
		assert_int_equal(model_frame(&(struct model){0}, model_ids[i].id, &c), 0);
		assert_int_equal(c.dlc, 8);
	}
	assert_true(has155);
	assert_true(per_s > 195.9 && per_s < 196.1);
	struct v2x_can c;
	assert_int_equal(model_frame(&(struct model){0}, 0x123, &c), -ENOENT);
}

static void test_driving(void **state)
{
	struct model m;
	struct dec a, b;

	model_init(&m, 60.0);
	m.key_on = 1;
	m.gear = 1;
	m.target_kmh = 40;
	run_for(&m, 15.0); /* past the acceleration */
	decode(&m, &a);
	run_for(&m, 60.0);
	decode(&m, &b);
	assert_int_equal(b.gear, 1);
	assert_true(fabs(b.speed - 40.0) < 0.05);
	assert_true(b.current < -10.0); /* discharging: negative */
	assert_true(b.soc < a.soc);
	assert_true(b.odo > a.odo + 0.6 && b.odo < a.odo + 0.7); /* 40 km/h for 60 s = 0.667 km */
	assert_false(b.plug);
	assert_false(b.charging);
	assert_int_equal(b.level, 0);
	assert_int_equal(b.bms_state, 0x2A);
	/* Pack voltage below the open-circuit value while discharging; cells = pack / 14. */
	assert_true(b.pack_v < 48.0 + 10.0 * b.soc / 100.0);
	assert_true(fabs(b.cell1 * 14.0 - b.pack_v) < 0.2);
	/* SOC fell by the energy the pack delivered: |I| x V x t / capacity, within 10 %. */
	double want = -b.current * b.pack_v * 60.0 / 3600.0 / 6100.0 * 100.0;
	assert_true(fabs((a.soc - b.soc) - want) < 0.1 * want + 0.005);
	/* Stop: speed 0, no traction current (auxiliaries only). */
	m.target_kmh = 0;
	run_for(&m, 10.0);
	decode(&m, &b);
	assert_true(b.speed < 0.01);
	assert_true(b.current > -4.0 && b.current < 0);
}

static void test_charging_cc_cv(void **state)
{
	struct model m;
	struct dec a, b;

	model_init(&m, 88.0);
	m.plugged = 1;
	m.supply_on = 1;
	run_for(&m, 1.0);
	decode(&m, &a);
	assert_true(a.plug);
	assert_true(a.charging);
	assert_int_equal(a.level, 7);
	assert_true(a.current > 30.0); /* about 2070 W into a 57 V pack */
	/* power = current x pack voltage = what the charger puts in (2300 W x 90 %), within a few watts of rounding */
	assert_true(fabs(a.current * a.pack_v - 2300.0 * 0.9) < 30.0);
	assert_true(fabs(m.ac_w - 2300.0) < 1e-6);
	assert_int_equal(a.bms_state, 0x0A);
	/* Through 90 %: the request steps down 7 -> 6 -> ... and the current with it; SOC keeps rising. */
	int last_level = 7, steps = 0;
	double last_soc = a.soc, last_i = a.current;
	while (m.soc_pct < 99.9 && m.t_s < 20000) {
		run_for(&m, 30.0);
		decode(&m, &b);
		assert_true(b.soc >= last_soc);
		assert_true(b.level <= last_level);
		if (b.level < last_level) {
			steps++;
			assert_true(b.current < last_i);
			assert_int_equal(b.bms_state, 0x2C);
		}
		last_level = b.level;
		last_soc = b.soc;
		last_i = b.current;
	}
	assert_true(steps >= 5);
	/* Full: request 0, no charging, the plug still in. */
	run_for(&m, 600.0);
	decode(&m, &b);
	assert_int_equal(b.level, 0);
	assert_false(b.charging);
	assert_true(b.plug);
	assert_true(b.current <= 0.0);
	/* The AC energy drawn is the DC energy over the charger's efficiency. */
	assert_true(fabs(m.ac_wh * 0.9 - m.dc_wh) < 1e-6 * m.ac_wh + 1e-9);
	/* Supply cut (the station's relay opens): no charging although the BMS still asks. */
	model_init(&m, 50.0);
	m.plugged = 1;
	m.supply_on = 0;
	run_for(&m, 1.0);
	decode(&m, &b);
	assert_true(b.plug);
	assert_false(b.charging);
	assert_int_equal(b.level, 7);
	assert_true(b.current <= 0.0);
}

static void test_scenario_parse(void **state)
{
	static struct scenario s;
	char err[128];

	assert_int_equal(scenario_parse(&s, scenario_builtin, err, sizeof(err)), 0);
	assert_true(s.n > 10);
	assert_int_equal(scenario_parse(&s, "0 soc 50\n# comment\n\n1.5 drive 30 # trailing\n2 fault meter_crc 3\n",
					err, sizeof(err)),
			 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ev[1].cmd, SC_DRIVE);
	assert_true(s.ev[1].t_s == 1.5 && s.ev[1].a == 30);
	assert_int_equal(s.ev[2].cmd, SC_FAULT_METER_CRC);
	assert_int_equal(scenario_parse(&s, "0 soc 50\n1 fly 3\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: unknown command 'fly'");
	assert_int_equal(scenario_parse(&s, "5 stop\n4 stop\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: time 4.000 goes backwards");
	assert_int_equal(scenario_parse(&s, "0 soc 150\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(scenario_parse(&s, "0 drive\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: 'drive' takes 1 argument(s)");
	assert_int_equal(scenario_parse(&s, "x stop\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(scenario_parse(&s, "0 key maybe\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(scenario_parse(&s, "0 fault meter_fire 1\n", err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_periods),
		cmocka_unit_test(test_driving),
		cmocka_unit_test(test_charging_cc_cv),
		cmocka_unit_test(test_scenario_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
