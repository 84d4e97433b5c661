/* rpc.c - ThingsBoard RPC requests and answers (see rpc.h). */
#include "stages/uplink/rpc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trace/tp.h"

static const char *const method_names[] = {
	[RPC_NONE] = "",
	[RPC_STOP_CHARGING] = "stopCharging",
	[RPC_SET_DESIRED_SOC] = "setDesiredSoc",
	[RPC_SET_MAX_COST] = "setMaxCost",
	[RPC_GET_STATE] = "getState",
};

static const struct {
	const char *name;
	const char *message;
} err_text[RPC_ERR__COUNT] = {
	[RPC_OK] = {"ok", "ok"},
	[RPC_ERR_TOPIC] = {"bad_topic", "request topic without a decimal id"},
	[RPC_ERR_OVERSIZE] = {"oversize", "request larger than 1024 bytes"},
	[RPC_ERR_JSON] = {"bad_json", "request is not valid JSON"},
	[RPC_ERR_NOT_OBJECT] = {"not_object", "request is not a JSON object"},
	[RPC_ERR_NO_METHOD] = {"no_method", "\"method\" missing or not a string"},
	[RPC_ERR_UNKNOWN_METHOD] = {"unknown_method",
				    "unknown method (stopCharging, setDesiredSoc, setMaxCost, getState)"},
	[RPC_ERR_PARAMS_TYPE] = {"bad_params",
				 "params of the wrong type (setDesiredSoc {\"soc\":N}, setMaxCost {\"cost\":X})"},
	[RPC_ERR_RANGE] = {"out_of_range", "value out of range (soc 0..100, cost >= 0)"},
	[RPC_ERR_BUSY] = {"busy", "command queue full, try again"},
};

const char *rpc_method_name(enum rpc_method m)
{
	return (unsigned)m < sizeof(method_names) / sizeof(method_names[0]) ? method_names[m] : NULL;
}

const char *rpc_err_name(enum rpc_err e)
{
	return (unsigned)e < RPC_ERR__COUNT ? err_text[e].name : NULL;
}

/* Parses the decimal id after the prefix: 1..10 digits, <= UINT32_MAX, nothing after.  Returns 0 or -1. */
static int rpc__topic_id(const char *topic, uint32_t *id)
{
	size_t pl = strlen(RPC_REQUEST_PREFIX);
	uint64_t v = 0;

	if (!topic || strncmp(topic, RPC_REQUEST_PREFIX, pl) != 0)
		return -1;
	const char *p = topic + pl;
	size_t n = 0;
	for (; p[n]; n++) {
		if (p[n] < '0' || p[n] > '9' || n >= 10)
			return -1;
		v = v * 10 + (uint64_t)(p[n] - '0');
	}
	if (n == 0 || v > UINT32_MAX)
		return -1;
	*id = (uint32_t)v;
	return 0;
}

/* Reads params.<key> as a finite number. */
static enum rpc_err rpc__param_num(const cJSON *params, const char *key, double *out)
{
	const cJSON *v = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
	if (!cJSON_IsNumber(v))
		return RPC_ERR_PARAMS_TYPE;
	if (!isfinite(v->valuedouble))
		return RPC_ERR_RANGE;
	*out = v->valuedouble;
	return RPC_OK;
}

enum rpc_err rpc_parse(const char *topic, const void *payload, size_t len, struct rpc_cmd *cmd)
{
	enum rpc_err err = RPC_OK;

	memset(cmd, 0, sizeof(*cmd));
	if (rpc__topic_id(topic, &cmd->request_id) < 0)
		return RPC_ERR_TOPIC;
	if (len > RPC_PAYLOAD_MAX)
		return RPC_ERR_OVERSIZE;
	cJSON *o = cJSON_ParseWithLength(payload, len);
	if (!o)
		return RPC_ERR_JSON;
	if (!cJSON_IsObject(o)) {
		err = RPC_ERR_NOT_OBJECT;
		goto out;
	}
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
	if (!cJSON_IsString(m) || !m->valuestring) {
		err = RPC_ERR_NO_METHOD;
		goto out;
	}
	for (unsigned i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (strcmp(m->valuestring, method_names[i]) == 0)
			cmd->method = (enum rpc_method)i;
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
	switch (cmd->method) {
	case RPC_STOP_CHARGING:
	case RPC_GET_STATE:
		break; /* params, if any, are not used */
	case RPC_SET_DESIRED_SOC:
		err = rpc__param_num(params, "soc", &cmd->soc_pct);
		if (err == RPC_OK && (cmd->soc_pct < 0 || cmd->soc_pct > 100))
			err = RPC_ERR_RANGE;
		break;
	case RPC_SET_MAX_COST:
		err = rpc__param_num(params, "cost", &cmd->max_cost);
		if (err == RPC_OK && cmd->max_cost < 0)
			err = RPC_ERR_RANGE;
		break;
	default:
		err = RPC_ERR_UNKNOWN_METHOD;
		break;
	}
out:
	cJSON_Delete(o);
	return err;
}

int rpc_response_topic(char *buf, size_t size, uint32_t request_id)
{
	int n = snprintf(buf, size, RPC_RESPONSE_PREFIX "%u", request_id);
	return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

static int rpc__print(cJSON *o, int rc, char *buf, size_t size)
{
	int ok = !rc && size <= 0x7FFFFFFF && cJSON_PrintPreallocated(o, buf, (int)size, 0);
	cJSON_Delete(o);
	if (rc)
		return -ENOMEM;
	return ok ? (int)strlen(buf) : -ENOBUFS;
}

int rpc_result_body(char *buf, size_t size, const struct rpc_cmd *cmd)
{
	cJSON *o = cJSON_CreateObject();
	int rc = 0;

	if (!o)
		return -ENOMEM;
	rc |= !cJSON_AddStringToObject(o, "result", "accepted");
	rc |= !cJSON_AddStringToObject(o, "method", rpc_method_name(cmd->method) ? rpc_method_name(cmd->method) : "");
	if (cmd->method == RPC_SET_DESIRED_SOC)
		rc |= !cJSON_AddNumberToObject(o, "soc", cmd->soc_pct);
	if (cmd->method == RPC_SET_MAX_COST)
		rc |= !cJSON_AddNumberToObject(o, "cost", cmd->max_cost);
	return rpc__print(o, rc, buf, size);
}

int rpc_error_body(char *buf, size_t size, enum rpc_err err)
{
	if ((unsigned)err >= RPC_ERR__COUNT || err == RPC_OK)
		return -EINVAL;
	cJSON *o = cJSON_CreateObject();
	int rc = 0;
	if (!o)
		return -ENOMEM;
	rc |= !cJSON_AddStringToObject(o, "error", err_text[err].name);
	rc |= !cJSON_AddStringToObject(o, "message", err_text[err].message);
	return rpc__print(o, rc, buf, size);
}

void rpc_count(struct rpc_stats *st, enum rpc_method method, enum rpc_err err)
{
	atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
	if (err == RPC_OK)
		atomic_fetch_add_explicit(&st->accepted, 1, memory_order_relaxed);
	else if ((unsigned)err < RPC_ERR__COUNT)
		atomic_fetch_add_explicit(&st->rejected[err], 1, memory_order_relaxed);
	V2X_TP(uplink_rpc, (int)method, (int)err);
}
