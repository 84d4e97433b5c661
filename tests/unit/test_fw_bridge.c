/*
 * test_fw_bridge.c - can_gps_bridge (firmware/apps/can_gps_bridge/bridge.h): the batcher's limits (v2x_proto.h: 33
 * entries, 240-byte payload, 65,535 us span), acceptance filters, the legacy lines (facts/legacy-system.md examples),
 * NMEA checksums (the classic GGA/RMC examples, checksums 47 and 6A), and a whole bridge run on the Linux board:
 * every CAN frame pushed arrives once, in order, with consecutive CAN frame numbers and seqs.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "firmware/apps/can_gps_bridge/bridge.h"
#include "firmware/apps/common/fw_nmea.h"
#include "firmware/linux/linux_hal.h"

static const char gga[] = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
static const char rmc[] = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";

static struct hal_can_rx frame(uint32_t id, uint8_t dlc, uint32_t t_us)
{
	struct hal_can_rx r = {.can = {.id = id, .dlc = dlc, .data = {1, 2, 3, 4, 5, 6, 7, 8}}, .t_us = t_us};
	return r;
}

static void test_batch_limits(void **state)
{
	struct bridge_batch b;
	struct hal_can_rx r;

	bridge_batch_reset(&b);
	/* 15 eight-byte frames fill 5 + 15 x 15 = 230 bytes; the 16th (245) does not fit. */
	for (int i = 0; i < 15; i++) {
		r = frame(0x155, 8, 1000 + (uint32_t)i * 200);
		assert_int_equal(bridge_batch_add(&b, &r), 1);
	}
	assert_int_equal(b.bytes, 230);
	assert_int_equal(b.t0_us, 1000);
	assert_int_equal(b.e[14].offset_us, 2800);
	r = frame(0x155, 8, 5000);
	assert_int_equal(bridge_batch_add(&b, &r), 0);
	/* ... but a 1-byte frame (8 bytes, 238 total) does. */
	r = frame(0x100, 1, 5000);
	assert_int_equal(bridge_batch_add(&b, &r), 1);
	/* 33 empty frames at most. */
	bridge_batch_reset(&b);
	for (int i = 0; i < 33; i++) {
		r = frame(0x100, 0, 7);
		assert_int_equal(bridge_batch_add(&b, &r), 1);
	}
	assert_int_equal(bridge_batch_add(&b, &r), 0);
	/* The span: 65,535 us fits, 65,536 does not; the clock may wrap in between. */
	bridge_batch_reset(&b);
	r = frame(0x100, 0, 0xFFFFFF00u);
	assert_int_equal(bridge_batch_add(&b, &r), 1);
	r = frame(0x100, 0, 0xFFFFFF00u + 65535u);
	assert_int_equal(bridge_batch_add(&b, &r), 1);
	assert_int_equal(b.e[1].offset_us, 65535);
	r = frame(0x100, 0, 0xFFFFFF00u + 65536u);
	assert_int_equal(bridge_batch_add(&b, &r), 0);
	/* A frame v2 cannot carry. */
	r = frame(0x800, 8, 0);
	assert_int_equal(bridge_batch_add(&b, &r), -EPROTO);
}

static void test_filters(void **state)
{
	struct hal_can_filter f[HAL_CAN_MAX_FILTERS];

	assert_int_equal(bridge_parse_filters("", f, HAL_CAN_MAX_FILTERS), 0);
	assert_int_equal(bridge_parse_filters("155:7FF,590:7F0", f, HAL_CAN_MAX_FILTERS), 2);
	assert_int_equal(f[0].id, 0x155);
	assert_int_equal(f[0].mask, 0x7FF);
	assert_int_equal(f[1].id, 0x590);
	assert_int_equal(f[1].mask, 0x7F0);
	assert_int_equal(bridge_parse_filters("80012345:9FFFFFFF", f, HAL_CAN_MAX_FILTERS), 1);
	assert_int_equal(f[0].id, 0x80012345u);
	assert_int_equal(bridge_parse_filters("155", f, HAL_CAN_MAX_FILTERS), -EINVAL);
	assert_int_equal(bridge_parse_filters("15G:7FF", f, HAL_CAN_MAX_FILTERS), -EINVAL);
	assert_int_equal(bridge_parse_filters("155:7FF,", f, HAL_CAN_MAX_FILTERS), -EINVAL);
	assert_int_equal(bridge_parse_filters("1:1,2:1,3:1", f, 2), -EINVAL);
}

static void test_legacy_lines(void **state)
{
	char buf[160];
	struct v2x_can c = {.id = 0x155, .dlc = 8, .data = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}};
	struct fw_fix fx;

	assert_true(bridge_sim_line(&c, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "SIM 155 8 01 97 CE 54 9B 38 00 73\r\n");
	c = (struct v2x_can){.id = 0x5D7, .dlc = 7, .data = {0xFF, 0xFF, 0x00, 0x56, 0x78, 0x90, 0xAB}};
	bridge_sim_line(&c, buf, sizeof(buf));
	assert_string_equal(buf, "SIM 5D7 7 FF FF 00 56 78 90 AB 00\r\n");
	c = (struct v2x_can){.id = 0x80012345u, .dlc = 1, .data = {0x42}};
	bridge_sim_line(&c, buf, sizeof(buf));
	assert_string_equal(buf, "SIM 80012345 1 42 00 00 00 00 00 00 00\r\n");

	memset(&fx, 0, sizeof(fx));
	assert_true(fw_nmea_valid(gga, strlen(gga)));
	assert_true(fw_nmea_valid(rmc, strlen(rmc)));
	assert_int_equal(fw_nmea_checksum(gga, strlen(gga)), 0x47);
	assert_int_equal(fw_nmea_merge(&fx, gga, strlen(gga), 5), 0);
	assert_int_equal(fw_nmea_merge(&fx, rmc, strlen(rmc), 6), 0);
	assert_true(fx.lat_deg > 48.11729 && fx.lat_deg < 48.11731); /* 48 + 7.038/60 */
	assert_true(fx.lon_deg > 11.51666 && fx.lon_deg < 11.51667); /* 11 + 31/60 */
	assert_int_equal(fx.sats, 8);
	/* 22.4 kn = 41.48 km/h; the legacy hour is +1 and nothing is zero-padded. */
	bridge_gps_line(&fx, buf, sizeof(buf));
	assert_string_equal(buf, "GPS 48.117300 11.516667 545.4 41.5 8 0.90 1994-3-23 13:35:19 1\r\n");
	fx.have_date = 0;
	bridge_gps_line(&fx, buf, sizeof(buf));
	assert_string_equal(buf, "GPS 48.117300 11.516667 545.4 41.5 8 0.90 INVALID 1\r\n");
	bridge_status_line(1, &fx, 1, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS CAN:OK GPS:OK Sats:8 HDOP:0.9 Pos:48.117300,11.516667 Speed:41.5km/h\r\n");
	/* Refusals: wrong checksum, no checksum, spliced sentences, lower-case hex is fine. */
	char bad[sizeof(gga)];
	memcpy(bad, gga, sizeof(gga));
	bad[strlen(bad) - 1] = '8';
	assert_false(fw_nmea_valid(bad, strlen(bad)));
	assert_int_equal(fw_nmea_merge(&fx, bad, strlen(bad), 7), -EINVAL);
	assert_false(fw_nmea_valid(gga, strlen(gga) - 3));
	assert_false(fw_nmea_valid("$GPGGA*47$GPGGA,1*47", 20));
	char fin[96] = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,";
	int n = fw_nmea_finish(fin, strlen(fin), sizeof(fin));
	assert_int_equal(n, (int)strlen(gga) + 2);
	assert_memory_equal(fin, gga, strlen(gga));
	assert_memory_equal(fin + strlen(gga), "\r\n", 2);
}

/* --- a whole run ---------------------------------------------------------------------------------------------- */

struct run {
	struct v2x_hal *h;
	struct bridge_stats st;
	int rc;
};

static void *run_bridge(void *arg)
{
	struct run *r = arg;
	r->rc = bridge_run(r->h, &r->st);
	return NULL;
}

static void nvs_str(struct v2x_hal *h, const char *k, const char *v)
{
	assert_int_equal(hal_nvs_set(h, k, v, strlen(v)), 0);
}

/* Read v2 frames from fd until n CAN frames have arrived (or 5 s pass); check numbering. */
static void collect(int fd, uint32_t n_can, const struct v2x_can *sent, int expect_batches)
{
	static uint8_t buf[1 << 20];
	size_t len = 0;
	uint32_t got = 0, next_seq = 1, batches = 0;
	struct v2x_frame f;
	struct v2x_can_entry e[V2X_CAN_BATCH_MAX];

	for (int spins = 0; got < n_can && spins < 500; spins++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0) {
			ssize_t r = read(fd, buf + len, sizeof(buf) - len);
			assert_true(r > 0);
			len += (size_t)r;
		}
		uint8_t *z;
		while ((z = memchr(buf, 0, len)) != NULL) {
			size_t ul = (size_t)(z - buf);
			assert_int_equal(v2x_frame_decode(buf, ul, &f), 0);
			assert_int_equal(f.seq, next_seq);
			next_seq++;
			if (f.type == V2X_T_CAN_BATCH) {
				uint32_t first;
				int k = v2x_can_batch_unpack(f.payload, f.len, &first, e, V2X_CAN_BATCH_MAX);
				assert_true(k >= 2);
				assert_int_equal(first, got);
				for (int i = 0; i < k; i++) {
					assert_int_equal(e[i].can.id, sent[got].id);
					assert_memory_equal(e[i].can.data, sent[got].data, 8);
					got++;
				}
				batches++;
			} else if (f.type == V2X_T_CAN) {
				struct v2x_can c;
				assert_int_equal(v2x_can_unpack(f.payload, f.len, &c), 0);
				assert_int_equal(c.id, sent[got].id);
				got++;
			}
			memmove(buf, z + 1, len - ul - 1);
			len -= ul + 1;
		}
	}
	assert_int_equal(got, n_can);
	if (expect_batches)
		assert_true(batches > 0);
	else
		assert_int_equal(batches, 0);
}

static void whole_run(int batch)
{
	enum { N = 3000 };
	static struct v2x_can sent[N];
	struct linux_clock clk;
	atomic_int stop = 0;
	struct run r = {0};
	pthread_t t;
	int host, gps;
	char path[] = "/tmp/test_fw_bridge_nvs_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	linux_clock_init(&clk, 1.0);
	struct linux_hal_conf c = {.name = "bridge", .mac = {2, 0, 0, 0, 0, 1}, .clock = &clk, .stop = &stop,
				   .can_queue = 4096, .nvs_path = path};
	assert_int_equal(linux_hal_create(&r.h, &c), 0);
	assert_int_equal(linux_hal_uart_pair(r.h, HAL_UART_HOST, &host), 0);
	assert_int_equal(linux_hal_uart_pair(r.h, HAL_UART_GPS, &gps), 0);
	nvs_str(r.h, "batch", batch ? "1" : "0");
	nvs_str(r.h, "can_filter", "100:700,500:700"); /* ids 0x100-0x1FF and 0x500-0x5FF */
	nvs_str(r.h, "status_ms", "60000");
	assert_int_equal(pthread_create(&t, NULL, run_bridge, &r), 0);
	/* Push frames in bursts, as a busy bus does; every third id is filtered out (0x3xx). */
	uint32_t n = 0, pushed = 0;
	for (uint32_t i = 0; n < N; i++) {
		struct v2x_can cf = {.id = (i % 3 == 0) ? 0x155 : (i % 3 == 1) ? 0x5D7 : 0x3AA, .dlc = 8};
		memcpy(cf.data, &i, 4);
		int rc = linux_hal_can_push(r.h, &cf, hal_micros(r.h));
		if (rc == 1)
			sent[n++] = cf;
		pushed++;
		if (i % 40 == 39)
			usleep(2000);
	}
	collect(host, N, sent, batch);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.st.can_rx, N);
	assert_int_equal(r.st.can_sent, N);
	assert_int_equal(r.st.can_lost_tx, 0);
	assert_int_equal(r.st.can_overruns, 0);
	struct linux_hal_counters hc;
	linux_hal_get_counters(r.h, &hc);
	assert_int_equal(hc.can_filtered, pushed - N);
	if (!batch)
		assert_int_equal(r.st.frames_single, N);
	close(host);
	close(gps);
	linux_hal_destroy(r.h);
	unlink(path);
}

static void test_run_batched(void **state)
{
	whole_run(1);
}

static void test_run_single(void **state)
{
	whole_run(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_limits),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_legacy_lines),
		cmocka_unit_test(test_run_batched),
		cmocka_unit_test(test_run_single),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
