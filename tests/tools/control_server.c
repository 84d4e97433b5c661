/*
 * control_server - a stand-in daemon for v2xctl's tests: rt/control on the socket given, with a registry holding one
 * of each metric type at known values and the program commands v2xd will have (state, config) plus two probes
 * (echo: returns its args; fail: answers an error).  Stops on SIGINT/SIGTERM.
 *
 *   control_server SOCKET_PATH
 *
 * Known values (tests/integration/v2xctl_cli.sh checks them): stage "demo" in=120 out=117, drops crc=2
 * ring_full=1, hwm=9; counter demo/bytes=4096; ring demo->sink capacity 16 with 5 queued; text demo/link="up";
 * gauge disk/free_mb=512 MB; histogram demo/latency holding 1..100 (ns), histogram demo/empty with no sample.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/control.h"
#include "rt/log.h"
#include "rt/registry.h"

static const char *const demo_reasons[] = {"crc", "ring_full"};

static int text_link(void *ctx, char *buf, size_t size)
{
	snprintf(buf, size, "up");
	return 0;
}

static int64_t gauge_free(void *ctx)
{
	return 512;
}

static int cmd_echo(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	cJSON *dup = args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
	if (!dup)
		return -ENOMEM;
	cJSON_AddItemToObject(result, "args", dup);
	return 0;
}

static int cmd_fail(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	snprintf(err, errsz, "refused on purpose");
	return -EPERM;
}

/* The shape v2xd's state command is expected to have (see programs/v2xctl/render.c). */
static int cmd_state(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	cJSON *sig = cJSON_AddObjectToObject(result, "signals");
	cJSON *soc = cJSON_AddObjectToObject(sig, "soc");
	cJSON_AddNumberToObject(soc, "value", 87.5);
	cJSON_AddStringToObject(soc, "unit", "%");
	cJSON_AddNumberToObject(soc, "age_ms", 120);
	cJSON *v = cJSON_AddObjectToObject(sig, "pack_voltage");
	cJSON_AddNumberToObject(v, "value", 57.3);
	cJSON_AddStringToObject(v, "unit", "V");
	cJSON_AddNumberToObject(v, "age_ms", 2500);
	cJSON *gps = cJSON_AddObjectToObject(result, "gps");
	cJSON_AddBoolToObject(gps, "valid", 1);
	cJSON_AddNumberToObject(gps, "lat_deg", 43.6);
	cJSON_AddNumberToObject(gps, "lon_deg", 1.44);
	return 0;
}

static int cmd_config(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	cJSON *can = cJSON_AddObjectToObject(result, "can");
	cJSON_AddStringToObject(can, "device", "/dev/ttyUSB0");
	cJSON_AddNumberToObject(can, "baud", 921600);
	cJSON *ctl = cJSON_AddObjectToObject(result, "control");
	cJSON_AddStringToObject(ctl, "socket", "/run/v2x/v2xd.sock");
	return 0;
}

int main(int argc, char **argv)
{
	static struct rt_counters demo;
	static _Atomic uint64_t bytes;
	static struct ring ring;
	static struct rt_hist lat, empty;
	struct rt_registry reg;
	struct rt_control ctl;
	struct rt_control_conf conf;
	int rc = -1;

	if (argc != 2) {
		fprintf(stderr, "usage: control_server SOCKET_PATH\n");
		return 2;
	}
	rt_log_setup("control_server", RT_LOG_INFO);
	rt_registry_init(&reg);
	rt_counters_init(&demo, "demo", demo_reasons, 2);
	rt_count(&demo.in, 120);
	rt_count(&demo.out, 117);
	rt_count(&demo.dropped[0], 2);
	rt_count(&demo.dropped[1], 1);
	rt_count_max(&demo.ring_hwm, 9);
	atomic_init(&bytes, 4096);
	if (ring_init(&ring, "demo->sink", 8, 16, NULL) < 0)
		goto out_reg;
	uint64_t rec = 0;
	for (int i = 0; i < 5; i++)
		ring_push(&ring, &rec);
	rt_hist_init(&lat);
	rt_hist_init(&empty);
	for (uint64_t v = 1; v <= 100; v++)
		rt_hist_record(&lat, v);
	if (rt_registry_add_counters(&reg, "demo", NULL, &demo) < 0 ||
	    rt_registry_add_counter(&reg, "demo", "bytes", &bytes) < 0 ||
	    rt_registry_add_ring(&reg, "demo", NULL, &ring) < 0 ||
	    rt_registry_add_text(&reg, "demo", "link", text_link, NULL) < 0 ||
	    rt_registry_add_gauge_int(&reg, "disk", "free_mb", "MB", gauge_free, NULL) < 0 ||
	    rt_registry_add_hist(&reg, "demo", "latency", "ns", &lat) < 0 ||
	    rt_registry_add_hist(&reg, "demo", "empty", "ns", &empty) < 0)
		goto out_ring;

	rt_control_conf_init(&conf, "control_server");
	conf.socket_path = argv[1];
	conf.registry = &reg;
	if (rt_control_init(&ctl, &conf) < 0)
		goto out_ring;
	if (rt_control_add_command(&ctl, "echo", "returns its args", cmd_echo, NULL) < 0 ||
	    rt_control_add_command(&ctl, "set-desired-soc", "returns its args", cmd_echo, NULL) < 0 ||
	    rt_control_add_command(&ctl, "set-max-cost", "returns its args", cmd_echo, NULL) < 0 ||
	    rt_control_add_command(&ctl, "fail", "always answers an error", cmd_fail, NULL) < 0 ||
	    rt_control_add_command(&ctl, "state", "sample vehicle state", cmd_state, NULL) < 0 ||
	    rt_control_add_command(&ctl, "config", "sample configuration", cmd_config, NULL) < 0)
		goto out_ctl;
	rt_info("listening on %s", argv[1]);
	rc = rt_control_run(&ctl);
	rt_info("stopped (%d)", rc);
out_ctl:
	rt_control_fini(&ctl);
out_ring:
	ring_fini(&ring);
out_reg:
	rt_registry_fini(&reg);
	return rc > 0 ? 0 : 1;
}
