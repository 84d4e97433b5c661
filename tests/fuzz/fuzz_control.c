/*
 * fuzz_control.c - libFuzzer target for the control socket's request handling (rt/control.h, rt_control_answer):
 * any bytes as one request line, answered by a control loop without a socket that has a registry (counters, a ring,
 * a histogram) and a program command.
 *
 * Checks: every input gets an answer; the answer is one line (no raw newline: the protocol is line-delimited), a
 * JSON object with a boolean "ok"; an error has an "error" string and no "result"; a success names a registered
 * command in "cmd" and has a "result" object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt/control.h"
#include "rt/log.h"
#include "rt/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_reasons[] = {"crc", "ring_full"};

static int fuzz__echo(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	const cJSON *fail = cJSON_GetObjectItemCaseSensitive(args, "fail");
	if (cJSON_IsString(fail)) {
		strncpy(err, fail->valuestring, errsz - 1);
		err[errsz - 1] = '\0';
		return -1;
	}
	if (args)
		cJSON_AddItemToObject(result, "args", cJSON_Duplicate(args, 1));
	return 0;
}

static struct rt_control *fuzz__control(void)
{
	static struct rt_control ctl;
	static struct rt_registry reg;
	static struct rt_counters ctr;
	static struct rt_hist hist;
	static int ready;
	if (ready)
		return &ctl;
	rt_log_setup("fuzz_control", RT_LOG_ERR);
	rt_registry_init(&reg);
	rt_counters_init(&ctr, "stage", fuzz_reasons, 2);
	rt_hist_init(&hist);
	rt_hist_record(&hist, 1000);
	struct rt_control_conf conf;
	rt_control_conf_init(&conf, "fuzz");
	conf.signals = false;
	conf.registry = &reg;
	if (rt_registry_add_counters(&reg, "stage", NULL, &ctr) < 0 ||
	    rt_registry_add_hist(&reg, "stage", "latency", "ns", &hist) < 0 || rt_control_init(&ctl, &conf) < 0 ||
	    rt_control_add_command(&ctl, "echo", "echo", fuzz__echo, NULL) < 0)
		abort();
	ready = 1;
	return &ctl;
}

static const char *const fuzz_commands[] = {"ping", "status", "stats", "help", "echo"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_control *ctl = fuzz__control();
	char *text = rt_control_answer(ctl, (const char *)data, size);
	if (!text || strchr(text, '\n'))
		abort();
	cJSON *ans = cJSON_Parse(text);
	if (!cJSON_IsObject(ans))
		abort();
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ans, "ok");
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(ans, "result");
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(ans, "cmd");
	if (cJSON_IsFalse(ok)) {
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ans, "error")) || result)
			abort();
	} else if (cJSON_IsTrue(ok)) {
		int known = 0;
		if (!cJSON_IsObject(result) || !cJSON_IsString(cmd))
			abort();
		for (size_t i = 0; i < sizeof(fuzz_commands) / sizeof(fuzz_commands[0]); i++)
			known |= strcmp(cmd->valuestring, fuzz_commands[i]) == 0;
		if (!known)
			abort();
	} else {
		abort();
	}
	cJSON_Delete(ans);
	cJSON_free(text);
	return 0;
}
