/*
 * test_fw_linux_hal.c - the Linux board (firmware/linux/linux_hal.h): NVS file, CAN queue (filters, overrun), the
 * radio's range model (default 105 m), a pty exposed at a symlink, the relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "firmware/linux/linux_hal.h"

static struct linux_clock clk;
static atomic_int stop_flag;

static struct v2x_hal *board(const char *name, uint8_t last, size_t can_queue, const char *nvs)
{
	struct v2x_hal *h = NULL;
	struct linux_hal_conf c = {.name = name, .mac = {2, 0, 0, 0, 0, last}, .clock = &clk, .stop = &stop_flag,
				   .can_queue = can_queue, .nvs_path = nvs};
	assert_int_equal(linux_hal_create(&h, &c), 0);
	return h;
}

static void test_nvs(void **state)
{
	char path[] = "/tmp/test_fw_hal_nvs_XXXXXX";
	int fd = mkstemp(path);
	uint8_t buf[64];

	assert_true(fd >= 0);
	close(fd);
	struct v2x_hal *h = board("n", 1, 0, path);
	assert_int_equal(hal_nvs_get(h, "baud", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(hal_nvs_set(h, "baud", "921600", 6), 0);
	assert_int_equal(hal_nvs_set(h, "slot", "2", 1), 0);
	assert_int_equal(hal_nvs_set(h, "baud", "115200", 6), 0); /* replaced, not duplicated */
	assert_int_equal(hal_nvs_get(h, "baud", buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "115200", 6);
	assert_int_equal(hal_nvs_get(h, "slot", buf, sizeof(buf)), 1);
	assert_int_equal(hal_nvs_get(h, "baud", buf, 3), -ENOBUFS);
	assert_int_equal(hal_nvs_set(h, "a_key_too_long_x", "1", 1), -EINVAL); /* 16 characters */
	uint8_t bin[3] = {0x00, 0xFF, 0x0A};
	assert_int_equal(hal_nvs_set(h, "bin", bin, 3), 0);
	assert_int_equal(hal_nvs_get(h, "bin", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, bin, 3);
	linux_hal_destroy(h);
	/* Durable: a new board on the same file sees it. */
	h = board("n2", 1, 0, path);
	assert_int_equal(hal_nvs_get(h, "baud", buf, sizeof(buf)), 6);
	linux_hal_destroy(h);
	/* No NVS: every key is absent. */
	h = board("n3", 1, 0, NULL);
	assert_int_equal(hal_nvs_get(h, "baud", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(hal_nvs_set(h, "baud", "1", 1), -EIO);
	linux_hal_destroy(h);
	unlink(path);
}

static void test_can_queue(void **state)
{
	struct v2x_hal *h = board("c", 1, 4, NULL);
	struct hal_can_rx rx[8];
	struct v2x_can f = {.id = 0x155, .dlc = 1};
	struct hal_can_filter flt = {.id = 0x155, .mask = 0x7FF};
	uint32_t ov, be;

	for (int i = 0; i < 4; i++)
		assert_int_equal(linux_hal_can_push(h, &f, (uint32_t)i), 1);
	assert_int_equal(linux_hal_can_push(h, &f, 9), -ENOSPC);
	hal_can_counters(h, &ov, &be);
	assert_int_equal(ov, 1);
	assert_int_equal(hal_can_recv(h, rx, 3), 3);
	assert_int_equal(rx[2].t_us, 2);
	assert_int_equal(hal_can_recv(h, rx, 8), 1);
	assert_int_equal(rx[0].t_us, 3);
	assert_int_equal(hal_can_recv(h, rx, 8), 0);
	assert_int_equal(hal_can_set_filters(h, &flt, 1), 0);
	f.id = 0x156;
	assert_int_equal(linux_hal_can_push(h, &f, 10), 0);
	f.id = 0x155;
	assert_int_equal(linux_hal_can_push(h, &f, 11), 1);
	assert_int_equal(hal_can_set_filters(h, &flt, HAL_CAN_MAX_FILTERS + 1), -EINVAL);
	linux_hal_destroy(h);
	h = board("noc", 2, 0, NULL);
	assert_int_equal(hal_can_recv(h, rx, 8), -ENODEV);
	linux_hal_destroy(h);
}

/* Wait up to 1 s for one message. */
static int recv_wait(struct v2x_hal *h, uint8_t *src, uint8_t *buf, size_t size)
{
	for (int i = 0; i < 100; i++) {
		int n = hal_espnow_recv(h, src, buf, size);
		if (n)
			return n;
		usleep(10000);
	}
	return 0;
}

static void test_radio_range(void **state)
{
	uint16_t port = (uint16_t)(40000 + getpid() % 20000);
	struct v2x_hal *a = board("a", 1, 0, NULL), *b = board("b", 2, 0, NULL);
	uint8_t src[6], buf[64];
	struct linux_hal_counters ca;

	assert_int_equal(linux_hal_radio_open(a, port, LINUX_HAL_RANGE_M), 0);
	assert_int_equal(linux_hal_radio_open(b, port, LINUX_HAL_RANGE_M), 0);
	/* 0.0009 degrees of latitude is about 100 m: in range. */
	linux_hal_set_position(a, 13.7000, 100.5000);
	linux_hal_set_position(b, 13.7009, 100.5000);
	double d = linux_hal_distance_m(13.7000, 100.5, 13.7009, 100.5);
	assert_true(d > 99.0 && d < 101.0);
	assert_int_equal(hal_espnow_send(a, "hello", 5), 0);
	assert_int_equal(recv_wait(b, src, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(src[5], 1);
	/* The sender does not hear itself. */
	usleep(20000);
	assert_int_equal(hal_espnow_recv(a, src, buf, sizeof(buf)), 0);
	/* 0.0010 degrees (about 111 m): out of range, dropped and counted. */
	linux_hal_set_position(b, 13.7010, 100.5000);
	assert_int_equal(hal_espnow_send(a, "far", 3), 0);
	usleep(50000);
	assert_int_equal(hal_espnow_recv(b, src, buf, sizeof(buf)), 0);
	linux_hal_get_counters(b, &ca);
	assert_int_equal(ca.radio_out_of_range, 1);
	assert_int_equal(ca.radio_received, 1);
	uint8_t big[HAL_ESPNOW_MAX + 1] = {0};
	assert_int_equal(hal_espnow_send(a, big, sizeof(big)), -EMSGSIZE);
	linux_hal_destroy(a);
	linux_hal_destroy(b);
}

static void test_pty_symlink_and_relay(void **state)
{
	char link[64], slave[64], buf[16];
	struct stat st;
	struct v2x_hal *h = board("p", 3, 0, NULL);

	snprintf(link, sizeof(link), "/tmp/test_fw_hal_pty_%d", (int)getpid());
	unlink(link);
	assert_int_equal(linux_hal_uart_pty(h, HAL_UART_HOST, link, slave, sizeof(slave)), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	int fd = open(link, O_RDWR | O_NOCTTY);
	assert_true(fd >= 0);
	assert_int_equal(hal_uart_write(h, HAL_UART_HOST, "ab\n\0c", 5, 100), 5);
	ssize_t n = read(fd, buf, sizeof(buf));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "ab\n\0c", 5); /* raw: no CR added, NUL kept */
	assert_int_equal(write(fd, "xyz", 3), 3);
	assert_int_equal(hal_uart_read(h, HAL_UART_HOST, buf, sizeof(buf), 500), 3);
	assert_memory_equal(buf, "xyz", 3);
	assert_int_equal(hal_uart_read(h, HAL_UART_HOST, buf, sizeof(buf), 10), 0); /* nothing echoed back */
	close(fd);
	hal_relay_set(h, 1);
	assert_int_equal(linux_hal_relay_closed(h), 1);
	hal_relay_set(h, 0);
	assert_int_equal(hal_relay_get(h), 0);
	linux_hal_destroy(h);
	assert_int_equal(lstat(link, &st), -1); /* the symlink is removed */
	/* A regular file at the link path is not replaced. */
	fd = open(link, O_CREAT | O_WRONLY, 0600);
	close(fd);
	h = board("p2", 4, 0, NULL);
	assert_int_equal(linux_hal_uart_pty(h, HAL_UART_HOST, link, NULL, 0), -EEXIST);
	linux_hal_destroy(h);
	unlink(link);
}

int main(void)
{
	linux_clock_init(&clk, 1.0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nvs),
		cmocka_unit_test(test_can_queue),
		cmocka_unit_test(test_radio_range),
		cmocka_unit_test(test_pty_symlink_and_relay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
