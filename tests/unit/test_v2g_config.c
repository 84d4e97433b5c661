/*
 * test_v2g_config.c - the [hub] and [v2g] key tables through the project's loader (rt/config.h): every default is
 * accepted by its own key (the loader checks), the command line and an INI file set the documented keys in their
 * units, out-of-range values are refused, and the machine's configuration follows the stage's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/config.h"
#include "stages/hub_io/hub_io.h"
#include "stages/v2g/v2g_stage.h"
#include "tests/support/testutil.h"

/* argv strings: getopt wants char *, the literals are never written */
#define S(lit) ((char *)(lit))

static struct hub_io_conf hc;
static struct v2g_stage_conf vc;
static char errbuf[2048];

static int load(int argc, char **argv)
{
	struct rt_config_bind binds[] = { { &hub_io_config, &hc }, { &v2g_config, &vc } };
	struct rt_config_program p;

	memset(&p, 0, sizeof(p));
	p.name = "test";
	p.usage = "usage: test\n";
	p.binds = binds;
	p.n_binds = 2;
	p.out = stderr;
	p.errbuf = errbuf;
	p.errbuf_size = sizeof(errbuf);
	errbuf[0] = 0;
	return rt_config_load(&p, argc, argv);
}

static void test_defaults(void **state)
{
	char *argv[] = { S("test"), NULL };

	assert_int_equal(load(1, argv), 0);
	assert_string_equal(hc.dev_path, ""); /* no hub link unless configured */
	assert_int_equal(hc.baud, 115200);
	assert_int_equal(vc.item_period_ns, 2 * RT_NS_PER_SEC); /* issue 8 item 3: every 2 s */
	assert_int_equal(vc.msg_period_ns, 5 * RT_NS_PER_SEC);  /* V2G every 5 s */
	assert_true(vc.match_radius_m == 10.0);                 /* item 4: 10 m */
	assert_int_equal(vc.match_window_ns, 10 * RT_NS_PER_SEC); /* heard within 10 s */
	assert_true(vc.depart_radius_m == 105.0);
	assert_true(vc.current_on_a == 0.5);
	assert_true(vc.desired_soc == 100.0);
	assert_true(vc.max_cost == 0.0);
}

static void test_command_line_and_file(void **state)
{
	char dir[200], ini[260], cfg[300];
	FILE *f;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "v2gconf"), 0);
	snprintf(ini, sizeof(ini), "%s/v2xd.ini", dir);
	f = fopen(ini, "w");
	assert_non_null(f);
	fprintf(f, "[hub]\nframing = v2\nbaud = 921600\n[v2g]\nmatch_radius_m = 12.5\nstop_retries = 5\n"
		   "ack_by_current = yes\nstate_dir = /var/lib/v2x\n");
	fclose(f);
	snprintf(cfg, sizeof(cfg), "%s", ini);
	char *argv[] = { S("test"), S("--config"), cfg, S("--hub-dev"), S("/dev/ttyUSB1"), S("--v2g-desired-soc"), S("80"),
			 S("--v2g-max-cost"), S("2.5"), S("--v2g-stop-retry-ms"), S("1500"), NULL };
	assert_int_equal(load(11, argv), 0);
	assert_string_equal(hc.dev_path, "/dev/ttyUSB1");
	assert_int_equal(hc.mode, HUB_FMT_V2);
	assert_int_equal(hc.baud, 921600);
	assert_true(vc.match_radius_m == 12.5);
	assert_int_equal(vc.stop_retries, 5);
	assert_true(vc.ack_by_current);
	assert_string_equal(vc.state_dir, "/var/lib/v2x");
	assert_true(vc.desired_soc == 80.0);
	assert_true(vc.max_cost == 2.5);
	assert_int_equal(vc.stop_retry_ns, 1500 * RT_NS_PER_MS);

	struct v2g_conf m;
	v2g_stage_session_conf(&vc, &m);
	assert_true(m.match_radius_m == 12.5);
	assert_int_equal(m.stop_retries, 5);
	assert_int_equal(m.stop_retry_ns, 1500 * RT_NS_PER_MS);
	assert_int_equal(m.ack_by_current, 1);
	test_rmtree(dir);
}

static void test_refusals(void **state)
{
	char *a1[] = { S("test"), S("--v2g-desired-soc"), S("0"), NULL };
	char *a2[] = { S("test"), S("--v2g-max-cost"), S("-1"), NULL };
	char *a3[] = { S("test"), S("--hub-framing"), S("binary"), NULL };
	char *a4[] = { S("test"), S("--v2g-tick-ms"), S("0"), NULL };

	assert_int_equal(load(3, a1), -EINVAL);
	assert_non_null(strstr(errbuf, "desired"));
	assert_int_equal(load(3, a2), -EINVAL);
	assert_int_equal(load(3, a3), -EINVAL);
	assert_non_null(strstr(errbuf, "legacy")); /* the accepted names are listed */
	assert_int_equal(load(3, a4), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_command_line_and_file),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
