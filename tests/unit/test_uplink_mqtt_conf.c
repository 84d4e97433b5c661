/*
 * test_uplink_mqtt_conf.c - the legacy mqtt_config.txt (every key of ../shared/facts/legacy-system.md, values far
 * longer than any fixed buffer), the token file, refusal of secret files others can read, and masking: the token
 * never appears in an error message or in --print-config output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages/uplink/mqtt_conf.h"

#define TOKEN "A1b2C3d4E5f6G7h8SECRET"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/v2x-mqttconf-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/mqtt_config.txt", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_every_legacy_key(void **state)
{
	struct fx *f = *state;
	struct mqtt_legacy c;
	char err[512] = "";

	put(f->path,
	    "# ThingsBoard connection\r\n"
	    "broker_ip=demo.thingsboard.io\r\n"
	    "broker_port = 1883\r\n"
	    "\r\n"
	    "device_token=" TOKEN "\r\n"
	    "check_interval=5\r\n"
	    "use_location=True\r\n"
	    "latitude=48.137154\r\n"
	    "longitude=-11.576124\r\n"
	    "csv_pattern=merged_can_data_*.csv\r\n",
	    0600);
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.broker_ip, "demo.thingsboard.io");
	assert_int_equal(c.broker_port, 1883);
	assert_string_equal(c.device_token, TOKEN);
	assert_int_equal(c.check_interval_ns, 5000000000ull);
	assert_int_equal(c.use_location, 1);
	assert_true(c.have_latitude && c.latitude == 48.137154);
	assert_true(c.have_longitude && c.longitude == -11.576124);
	assert_string_equal(c.csv_pattern, "merged_can_data_*.csv");
	assert_int_equal(c.ignored_keys, 0);
	mqtt_legacy_free(&c);
}

static void test_long_values_and_equals_in_value(void **state)
{
	struct fx *f = *state;
	struct mqtt_legacy c;
	char err[256];
	size_t n = 100000; /* the legacy program overflowed a stack buffer with far less */
	char *text = malloc(n + 6000);
	strcpy(text, "csv_pattern=");
	memset(text + 12, 'x', n);
	strcpy(text + 12 + n, "=y#z\nbroker_ip=");
	size_t k = strlen(text);
	memset(text + k, 'h', 5000);
	strcpy(text + k + 5000, "\nuse_location=no\n");
	put(f->path, text, 0644); /* no token: may be world-readable */
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(c.csv_pattern), n + 4);
	assert_string_equal(c.csv_pattern + n, "=y#z");
	assert_int_equal(strlen(c.broker_ip), 5000);
	assert_int_equal(c.use_location, 0);
	assert_null(c.device_token);
	mqtt_legacy_free(&c);
	free(text);
}

static void test_station_keys_ignored_unknown_refused(void **state)
{
	struct fx *f = *state;
	struct mqtt_legacy c;
	char err[512];

	put(f->path, "broker_ip=10.0.0.1\nqos=1\nkeepalive=60\nevcs_name=EELAB\n", 0600);
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.ignored_keys, 3);
	assert_non_null(c.notice);
	assert_non_null(strstr(c.notice, ":2: qos"));
	mqtt_legacy_free(&c);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{"broker_ip=x\nbrokr_port=1883\n", ":2: unknown key 'brokr_port'"},
		{"broker_port=70000\n", ":1: broker_port = 70000: out of range (1..65535)"},
		{"broker_port=0\n", ":1: broker_port = 0: out of range"},
		{"broker_port=18a3\n", ":1: broker_port = 18a3: not a port number"},
		{"broker_port=-5\n", "not a port number"},
		{"check_interval=0\n", ":1: check_interval = 0"},
		{"check_interval=abc\n", ":1: check_interval = abc"},
		{"use_location=maybe\n", ":1: use_location = maybe: not true or false"},
		{"latitude=91\n", ":1: latitude = 91"},
		{"longitude=nan\n", ":1: longitude = nan"},
		{"broker_ip=a\nbroker_ip=b\n", ":2: broker_ip given twice"},
		{"just a line\n", ":1: not a key=value line"},
		{"broker_ip=\n", ":1: broker_ip = : not a host"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(f->path, bad[i].text, 0600);
		err[0] = '\0';
		assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: message '%s' lacks '%s'", i, err, bad[i].want);
		assert_non_null(strstr(err, "mqtt_config.txt"));
	}
	assert_int_equal(mqtt_legacy_load("/nonexistent/mqtt_config.txt", &c, err, sizeof(err)), -ENOENT);
}

static void test_token_never_in_messages(void **state)
{
	struct fx *f = *state;
	struct mqtt_legacy c;
	char err[512];

	/* a token file others can read: refused, and the message shows the mode, not the token */
	put(f->path, "broker_ip=h\ndevice_token=" TOKEN "\n", 0644);
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "mode 0644 lets others read the secret; chmod 600"));
	assert_null(strstr(err, "SECRET"));
	put(f->path, "device_token=" TOKEN "\n", 0660); /* group-writable */
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), -EACCES);
	put(f->path, "device_token=" TOKEN "\n", 0640); /* group-readable (the service's group): accepted */
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), 0);
	mqtt_legacy_free(&c);
	/* a bad token line: the message names the key, never the value */
	put(f->path, "device_token=" TOKEN " tail\n", 0600);
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "SECRET"));
	assert_non_null(strstr(err, "device_token"));

	/* --print-config: masked */
	put(f->path, "broker_ip=h\nbroker_port=8883\ndevice_token=" TOKEN "\n", 0600);
	assert_int_equal(mqtt_legacy_load(f->path, &c, err, sizeof(err)), 0);
	char *out = NULL;
	size_t outlen = 0;
	FILE *m = open_memstream(&out, &outlen);
	mqtt_legacy_print(m, &c);
	fclose(m);
	assert_null(strstr(out, "SECRET"));
	assert_null(strstr(out, "A1b2"));
	assert_non_null(strstr(out, "device_token=*** (22 chars)\n"));
	assert_non_null(strstr(out, "broker_port=8883\n"));
	free(out);
	mqtt_legacy_free(&c);
	char b[32];
	assert_true(mqtt_mask_secret(NULL, b, sizeof(b)) > 0);
	assert_string_equal(b, "(none)");
	assert_int_equal(mqtt_mask_secret(TOKEN, b, 4), -ENOBUFS);
}

static void test_token_file(void **state)
{
	struct fx *f = *state;
	char path[192], err[512];
	char *tok;

	snprintf(path, sizeof(path), "%s/token", f->dir);
	put(path, "  " TOKEN "\n", 0600);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, TOKEN);
	free(tok);
	put(path, TOKEN "\n", 0604);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), -EACCES);
	assert_null(tok);
	assert_null(strstr(err, "SECRET"));
	put(path, "\n\n", 0600);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty"));
	put(path, "", 0600);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), -EINVAL);
	put(path, "two tokens\n", 0600);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "tokens"));
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "ab\0cd", 5), 5);
	close(fd);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), -EINVAL);
	assert_int_equal(mqtt_read_token_file("/nonexistent/token", &tok, err, sizeof(err)), -ENOENT);
	/* a long token (JWT-sized and more) */
	char *big = malloc(20001);
	memset(big, 'k', 20000);
	big[20000] = '\0';
	put(path, big, 0400);
	assert_int_equal(mqtt_read_token_file(path, &tok, err, sizeof(err)), 0);
	assert_int_equal(strlen(tok), 20000);
	free(tok);
	free(big);
	/* a key file check */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(mqtt_check_secret_file(path, -1, err, sizeof(err)), -EACCES);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(mqtt_check_secret_file(path, -1, err, sizeof(err)), 0);
	assert_int_equal(mqtt_check_secret_file(f->dir, -1, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_legacy_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_values_and_equals_in_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_station_keys_ignored_unknown_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_never_in_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
