/*
 * test_uplink_telemetry.c - ThingsBoard payloads: the legacy vehicle keys of ../shared/facts/legacy-system.md
 * (MQTT uplink section) with correct values, every canonical signal name, the data time as "ts", batches,
 * session events and client attributes.  Payloads are parsed back with cJSON and checked key by key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "stages/uplink/telemetry.h"

#define assert_near(a, b, eps)                                                                                     \
	do {                                                                                                       \
		double a_ = (a), b_ = (b);                                                                         \
		if (!(fabs(a_ - b_) <= (eps)))                                                                     \
			fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                                        \
	} while (0)

/* 2024-01-01 10:59:59.500 UTC */
#define T_NS (1704106799LL * 1000000000LL + 500000000LL)

/* The legacy vehicle telemetry keys, in the facts file's order. */
static const char *const legacy_keys[] = {
	"soc", "current", "gear", "motor_active", "accelerator", "brake", "cap_voltage", "motor_speed", "odometer",
	"range", "battery_voltage", "available_energy", "charging_status", "motor_temp", "power_request",
	"timestamp_str", "latitude", "longitude",
};

static void set(struct vstate *s, enum canon_sig sig, double v)
{
	s->value[sig] = v;
	s->t_real_ns[sig] = T_NS - 1000000;
}

/* A state with every canonical signal set; values follow twizy-can.md's conversions of plausible raw bytes. */
static void full_state(struct vstate *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < SIG__COUNT; i++)
		set(s, (enum canon_sig)i, 1.0 + i);
	set(s, SIG_SOC, 39736 / 400.0);            /* 0x155 B4B5 = 0x9B38 -> 99.34 % */
	set(s, SIG_CURRENT, (2040 - 2000) / 4.0);  /* raw 2040 -> +10 A (charging) */
	set(s, SIG_GEAR, 1);                       /* 0x59B B0 = 0x80 -> D */
	set(s, SIG_IGNITION, 1);
	set(s, SIG_BRAKE, 0);
	set(s, SIG_THROTTLE, 253 * 100 / 253.0);   /* B3 = 253 -> 100 % */
	set(s, SIG_SPEED, 4520 / 100.0);           /* 0x599 B6B7 = 4520 -> 45.2 km/h */
	set(s, SIG_ODOMETER, 1234567 / 100.0);
	set(s, SIG_RANGE, 61);
	set(s, SIG_PACK_VOLTAGE, (575 + 577) / 2 / 10.0); /* mean(575, 577) / 10 = 57.6 V */
	set(s, SIG_ENERGY_AVAIL, 45 / 10.0);
	set(s, SIG_BMS_STATE, 0x0A);               /* charging */
	set(s, SIG_MOTOR_TEMP, 0x50 - 40);
	set(s, SIG_CHARGE_POWER_REQ, 7);
	set(s, SIG_CHARGE_PHASE, CHARGE_PHASE_TOPOFF);
	s->updated_real_ns = T_NS;
	s->gps.lat_deg = 48.137154;
	s->gps.lon_deg = 11.576124;
	s->gps.have = GPS_HAVE_POS;
	s->gps.valid = 1;
	s->gps_real_ns = T_NS - 2000000;
}

static cJSON *sample_of(const struct vstate *s, const struct telem_conf *c, uint64_t seq)
{
	char buf[TELEM_SAMPLE_MAX];
	int n = telem_sample(buf, sizeof(buf), s, seq, c);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	cJSON *o = cJSON_Parse(buf);
	assert_non_null(o);
	return o;
}

static double num(const cJSON *v, const char *key)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(v, key);
	if (!cJSON_IsNumber(i))
		fail_msg("key %s: not a number", key);
	return i->valuedouble;
}

static const char *str(const cJSON *v, const char *key)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(v, key);
	if (!cJSON_IsString(i))
		fail_msg("key %s: not a string", key);
	return i->valuestring;
}

static void test_sample_has_legacy_keys_with_correct_values(void **state)
{
	(void)state;
	struct vstate s;
	struct telem_conf c = {.use_location = 1, .fallback_lat_deg = NAN, .fallback_lon_deg = NAN};
	full_state(&s);
	cJSON *o = sample_of(&s, &c, 42);

	assert_true(fabs(num(o, "ts") - 1704106799500.0) < 0.5); /* the data time, in ms */
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "values");
	assert_true(cJSON_IsObject(v));
	for (size_t i = 0; i < sizeof(legacy_keys) / sizeof(legacy_keys[0]); i++) {
		int present = cJSON_HasObjectItem(v, legacy_keys[i]);
		if (strcmp(legacy_keys[i], "cap_voltage") == 0)
			assert_false(present); /* no correct source: never sent (telemetry.h) */
		else if (!present)
			fail_msg("legacy key %s missing", legacy_keys[i]);
	}
	assert_near(num(v, "soc"), 99.34, 1e-9);
	assert_near(num(v, "current"), 10.0, 1e-9);
	assert_string_equal(str(v, "gear"), "Drive");
	assert_near(num(v, "motor_active"), 1, 0);
	assert_near(num(v, "accelerator"), 100.0, 1e-9);
	assert_near(num(v, "brake"), 0, 0);
	assert_near(num(v, "motor_speed"), 45.2, 1e-9); /* vehicle speed, not a guessed motor ratio */
	assert_near(num(v, "odometer"), 12345.67, 1e-9);
	assert_near(num(v, "range"), 61, 0);
	assert_near(num(v, "battery_voltage"), 57.6, 1e-9); /* 0x55F pack voltage, not 0x425 */
	assert_near(num(v, "available_energy"), 4.5, 1e-9);
	assert_string_equal(str(v, "charging_status"), "0x0A");
	assert_near(num(v, "motor_temp"), 40, 0);
	assert_near(num(v, "power_request"), 7, 0);
	assert_string_equal(str(v, "timestamp_str"), "2024-01-01 10:59:59.500");
	assert_near(num(v, "latitude"), 48.137154, 1e-9);
	assert_near(num(v, "longitude"), 11.576124, 1e-9);
	assert_near(num(v, "sample_seq"), 42, 0);
	cJSON_Delete(o);
}

static void test_sample_has_every_canonical_name(void **state)
{
	(void)state;
	struct vstate s;
	struct telem_conf c = {0};
	full_state(&s);
	cJSON *o = sample_of(&s, &c, 1);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "values");
	for (int i = 0; i < SIG__COUNT; i++) {
		const char *name = canon_sig_name((enum canon_sig)i);
		if (!cJSON_HasObjectItem(v, name))
			fail_msg("canonical key %s missing", name);
		if (i == SIG_GEAR || i == SIG_CHARGE_PHASE)
			continue;
		assert_near(num(v, name), s.value[i], 1e-9);
	}
	assert_near(num(v, "gear_code"), 1, 0);
	assert_string_equal(str(v, "charge_phase"), "topoff");
	assert_near(num(v, "pack_voltage"), 57.6, 1e-9);
	/* no location without use_location */
	assert_false(cJSON_HasObjectItem(v, "latitude"));
	cJSON_Delete(o);
}

static void test_missing_signals_are_left_out(void **state)
{
	(void)state;
	struct vstate s;
	struct telem_conf c = {.use_location = 1, .fallback_lat_deg = 43.5, .fallback_lon_deg = -1.25};
	char buf[TELEM_SAMPLE_MAX];

	memset(&s, 0, sizeof(s));
	assert_int_equal(telem_sample(buf, sizeof(buf), &s, 1, &c), -ENODATA); /* nothing decoded yet */
	s.updated_real_ns = T_NS;
	set(&s, SIG_SOC, 50);
	set(&s, SIG_GEAR, -1);
	set(&s, SIG_CURRENT, NAN); /* never sent as NaN/null */
	cJSON *o = sample_of(&s, &c, 7);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "values");
	assert_string_equal(str(v, "gear"), "Reverse");
	assert_near(num(v, "gear_code"), -1, 0);
	assert_false(cJSON_HasObjectItem(v, "current"));
	assert_false(cJSON_HasObjectItem(v, "battery_voltage"));
	assert_false(cJSON_HasObjectItem(v, "odometer"));
	/* no GPS position: the configured fallback */
	assert_near(num(v, "latitude"), 43.5, 0);
	assert_near(num(v, "longitude"), -1.25, 0);
	/* soc, gear, gear_code, timestamp_str, sample_seq, latitude, longitude */
	assert_int_equal(cJSON_GetArraySize(v), 7);
	cJSON_Delete(o);
	/* neutral: anything other than D and R */
	set(&s, SIG_GEAR, 0);
	o = sample_of(&s, &c, 8);
	assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(o, "values"), "gear"), "Neutral");
	cJSON_Delete(o);
}

static void test_sample_too_small_buffer(void **state)
{
	(void)state;
	struct vstate s;
	char buf[64];
	full_state(&s);
	assert_int_equal(telem_sample(buf, sizeof(buf), &s, 1, NULL), -ENOBUFS);
}

static void test_batch_is_a_json_array_of_samples(void **state)
{
	(void)state;
	struct vstate s;
	char e1[TELEM_SAMPLE_MAX], e2[TELEM_SAMPLE_MAX], batch[2 * TELEM_SAMPLE_MAX];
	size_t used;

	full_state(&s);
	int n1 = telem_sample(e1, sizeof(e1), &s, 1, NULL);
	s.updated_real_ns += 1000000000LL;
	int n2 = telem_sample(e2, sizeof(e2), &s, 2, NULL);
	assert_true(n1 > 0 && n2 > 0);
	assert_int_equal(telem_batch_begin(batch, sizeof(batch), &used), 0);
	assert_int_equal(telem_batch_add(batch, sizeof(batch), &used, e1, (size_t)n1), 0);
	assert_int_equal(telem_batch_add(batch, sizeof(batch), &used, e2, (size_t)n2), 0);
	assert_int_equal(telem_batch_end(batch, sizeof(batch), &used), 0);
	assert_int_equal(used, strlen(batch));
	cJSON *a = cJSON_Parse(batch);
	assert_true(cJSON_IsArray(a));
	assert_int_equal(cJSON_GetArraySize(a), 2);
	assert_true(fabs(num(cJSON_GetArrayItem(a, 1), "ts") - 1704106800500.0) < 0.5);
	assert_near(num(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "values"), "sample_seq"), 2, 0);
	cJSON_Delete(a);
	/* a full batch refuses the element and stays closable */
	char small[40];
	assert_int_equal(telem_batch_begin(small, sizeof(small), &used), 0);
	assert_int_equal(telem_batch_add(small, sizeof(small), &used, e1, (size_t)n1), -ENOBUFS);
	assert_int_equal(telem_batch_add(small, sizeof(small), &used, "{\"ts\":1,\"values\":{}}", strlen("{\"ts\":1,\"values\":{}}")), 0);
	assert_int_equal(telem_batch_end(small, sizeof(small), &used), 0);
	assert_string_equal(small, "[{\"ts\":1,\"values\":{}}]");
}

static void test_session_events_and_attributes(void **state)
{
	(void)state;
	char buf[1024];
	struct telem_session_event ev = {.kind = TELEM_SESSION_END, .t_real_ns = T_NS, .session_id = 17,
					  .soc_pct = 80, .energy_kwh = 2.5, .cost = 3.75, .duration_s = 3600,
					  .max_current_a = NAN};
	assert_true(telem_session(buf, sizeof(buf), &ev, 9) > 0);
	cJSON *o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_true(fabs(num(o, "ts") - 1704106799500.0) < 0.5);
	const cJSON *v = cJSON_GetObjectItem(o, "values");
	assert_string_equal(str(v, "session_event"), "end");
	assert_near(num(v, "session_id"), 17, 0);
	assert_near(num(v, "session_cost"), 3.75, 0); /* 2.5 kWh at 1.50 per kWh (slot 1's legacy price) */
	assert_false(cJSON_HasObjectItem(v, "session_max_current"));
	cJSON_Delete(o);
	ev.kind = TELEM_SESSION_START;
	assert_true(telem_session(buf, sizeof(buf), &ev, 10) > 0);
	o = cJSON_Parse(buf);
	assert_string_equal(str(cJSON_GetObjectItem(o, "values"), "session_event"), "start");
	cJSON_Delete(o);
	ev.kind = 0;
	assert_int_equal(telem_session(buf, sizeof(buf), &ev, 11), -EINVAL);

	assert_true(telem_attributes(buf, sizeof(buf), "0.9.0", "twizy-\"7\"", "twizy.dbc") > 0);
	o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_string_equal(str(o, "sw_version"), "0.9.0");
	assert_string_equal(str(o, "vehicle_id"), "twizy-\"7\""); /* escaped by cJSON, read back intact */
	assert_string_equal(str(o, "dbc_name"), "twizy.dbc");
	cJSON_Delete(o);
	assert_true(telem_attributes(buf, sizeof(buf), "1", NULL, "") > 0);
	assert_string_equal(buf, "{\"sw_version\":\"1\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_has_legacy_keys_with_correct_values),
		cmocka_unit_test(test_sample_has_every_canonical_name),
		cmocka_unit_test(test_missing_signals_are_left_out),
		cmocka_unit_test(test_sample_too_small_buffer),
		cmocka_unit_test(test_batch_is_a_json_array_of_samples),
		cmocka_unit_test(test_session_events_and_attributes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
