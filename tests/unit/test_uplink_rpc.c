/*
 * test_uplink_rpc.c - ThingsBoard RPC requests (../shared/facts/interop.md: request on
 * v1/devices/me/rpc/request/<id> as {"method":..,"params":..}, answer on v1/devices/me/rpc/response/<id>):
 * the four methods, and every rejection with its answer and counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stages/uplink/rpc.h"

#define T(id) "v1/devices/me/rpc/request/" id

static enum rpc_err parse(const char *topic, const char *body, struct rpc_cmd *c)
{
	return rpc_parse(topic, body, strlen(body), c);
}

static void test_methods_accepted(void **state)
{
	(void)state;
	struct rpc_cmd c;

	assert_int_equal(parse(T("7"), "{\"method\":\"stopCharging\",\"params\":{}}", &c), RPC_OK);
	assert_int_equal(c.method, RPC_STOP_CHARGING);
	assert_int_equal(c.request_id, 7);
	assert_int_equal(parse(T("8"), "{\"method\":\"stopCharging\"}", &c), RPC_OK); /* params optional */
	assert_int_equal(parse(T("9"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":80}}", &c), RPC_OK);
	assert_int_equal(c.method, RPC_SET_DESIRED_SOC);
	assert_true(c.soc_pct == 80.0);
	assert_int_equal(parse(T("10"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":0}}", &c), RPC_OK);
	assert_int_equal(parse(T("11"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":100}}", &c), RPC_OK);
	assert_int_equal(parse(T("12"), "{\"method\":\"setMaxCost\",\"params\":{\"cost\":4.5}}", &c), RPC_OK);
	assert_int_equal(c.method, RPC_SET_MAX_COST);
	assert_true(c.max_cost == 4.5);
	assert_int_equal(parse(T("4294967295"), "{\"method\":\"getState\",\"params\":null}", &c), RPC_OK);
	assert_int_equal(c.method, RPC_GET_STATE);
	assert_int_equal(c.request_id, 4294967295u);
}

static void test_rejections(void **state)
{
	(void)state;
	struct rpc_cmd c;
	static const struct {
		const char *topic, *body;
		enum rpc_err want;
	} cases[] = {
		{"v1/devices/me/rpc/request/", "{\"method\":\"getState\"}", RPC_ERR_TOPIC},
		{"v1/devices/me/rpc/request/12a", "{\"method\":\"getState\"}", RPC_ERR_TOPIC},
		{"v1/devices/me/rpc/request/4294967296", "{\"method\":\"getState\"}", RPC_ERR_TOPIC},
		{"v1/devices/me/rpc/request/-1", "{\"method\":\"getState\"}", RPC_ERR_TOPIC},
		{"v1/devices/me/attributes", "{\"method\":\"getState\"}", RPC_ERR_TOPIC},
		{T("1"), "{\"method\":\"getState\"", RPC_ERR_JSON},
		{T("1"), "", RPC_ERR_JSON},
		{T("1"), "not json", RPC_ERR_JSON},
		{T("1"), "[1,2]", RPC_ERR_NOT_OBJECT},
		{T("1"), "\"getState\"", RPC_ERR_NOT_OBJECT},
		{T("1"), "{\"params\":{}}", RPC_ERR_NO_METHOD},
		{T("1"), "{\"method\":42}", RPC_ERR_NO_METHOD},
		{T("1"), "{\"method\":\"reboot\"}", RPC_ERR_UNKNOWN_METHOD},
		{T("1"), "{\"method\":\"getstate\"}", RPC_ERR_UNKNOWN_METHOD}, /* case matters */
		{T("1"), "{\"method\":\"setDesiredSoc\"}", RPC_ERR_PARAMS_TYPE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":80}", RPC_ERR_PARAMS_TYPE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":\"80\"}}", RPC_ERR_PARAMS_TYPE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":{\"SOC\":80}}", RPC_ERR_PARAMS_TYPE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":100.5}}", RPC_ERR_RANGE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":-1}}", RPC_ERR_RANGE},
		{T("1"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":1e999}}", RPC_ERR_RANGE},
		{T("1"), "{\"method\":\"setMaxCost\",\"params\":{\"cost\":true}}", RPC_ERR_PARAMS_TYPE},
		{T("1"), "{\"method\":\"setMaxCost\",\"params\":{\"cost\":-0.01}}", RPC_ERR_RANGE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum rpc_err got = parse(cases[i].topic, cases[i].body, &c);
		if (got != cases[i].want)
			fail_msg("case %zu (%s %s): got %s, want %s", i, cases[i].topic, cases[i].body,
				 rpc_err_name(got), rpc_err_name(cases[i].want));
	}
	/* the id survives a later error, so the error can be answered */
	assert_int_equal(parse(T("55"), "{\"method\":\"reboot\"}", &c), RPC_ERR_UNKNOWN_METHOD);
	assert_int_equal(c.request_id, 55);
}

static void test_oversize_refused_unparsed(void **state)
{
	(void)state;
	struct rpc_cmd c;
	size_t n = RPC_PAYLOAD_MAX + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	memcpy(big, "{\"method\":\"getState\"}", 21); /* valid JSON padded with spaces: still too long */
	assert_int_equal(rpc_parse(T("3"), big, n, &c), RPC_ERR_OVERSIZE);
	assert_int_equal(c.request_id, 3);
	assert_int_equal(rpc_parse(T("3"), big, RPC_PAYLOAD_MAX, &c), RPC_OK); /* exactly the limit is fine */
	free(big);
}

static void test_payload_not_nul_terminated(void **state)
{
	(void)state;
	struct rpc_cmd c;
	const char buf[] = "{\"method\":\"getState\"}GARBAGE";
	assert_int_equal(rpc_parse(T("1"), buf, 21, &c), RPC_OK);
}

static void test_answers(void **state)
{
	(void)state;
	char b[RPC_ANSWER_MAX];
	struct rpc_cmd c;

	assert_int_equal(rpc_response_topic(b, sizeof(b), 4294967295u), (int)strlen("v1/devices/me/rpc/response/4294967295"));
	assert_string_equal(b, "v1/devices/me/rpc/response/4294967295");
	assert_true(RPC_TOPIC_MAX > strlen(b));
	assert_int_equal(rpc_response_topic(b, 10, 1), -ENOBUFS);

	assert_int_equal(parse(T("9"), "{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":80}}", &c), RPC_OK);
	assert_true(rpc_result_body(b, sizeof(b), &c) > 0);
	assert_string_equal(b, "{\"result\":\"accepted\",\"method\":\"setDesiredSoc\",\"soc\":80}");
	assert_int_equal(parse(T("9"), "{\"method\":\"stopCharging\"}", &c), RPC_OK);
	assert_true(rpc_result_body(b, sizeof(b), &c) > 0);
	assert_string_equal(b, "{\"result\":\"accepted\",\"method\":\"stopCharging\"}");

	for (int e = 1; e < RPC_ERR__COUNT; e++) {
		assert_true(rpc_error_body(b, sizeof(b), (enum rpc_err)e) > 0);
		cJSON *o = cJSON_Parse(b);
		assert_non_null(o);
		assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, rpc_err_name((enum rpc_err)e));
		assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "message")));
		cJSON_Delete(o);
	}
	assert_int_equal(rpc_error_body(b, sizeof(b), RPC_OK), -EINVAL);
	assert_int_equal(rpc_error_body(b, 8, RPC_ERR_JSON), -ENOBUFS);
}

static void test_counters(void **state)
{
	(void)state;
	struct rpc_stats st;
	memset(&st, 0, sizeof(st));
	rpc_count(&st, RPC_GET_STATE, RPC_OK);
	rpc_count(&st, RPC_NONE, RPC_ERR_JSON);
	rpc_count(&st, RPC_NONE, RPC_ERR_JSON);
	rpc_count(&st, RPC_NONE, RPC_ERR_OVERSIZE);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.rejected[RPC_ERR_JSON], 2);
	assert_int_equal(st.rejected[RPC_ERR_OVERSIZE], 1);
	assert_string_equal(rpc_method_name(RPC_SET_MAX_COST), "setMaxCost");
	assert_null(rpc_err_name(RPC_ERR__COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods_accepted),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_oversize_refused_unparsed),
		cmocka_unit_test(test_payload_not_nul_terminated),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
