/*
 * test_tty.c - the serial set-up on a real pseudo-terminal: raw 8N1 with input, output and local flags cleared,
 * each supported baud rate, refusal of unsupported rates and missing devices, one reader per port (flock).
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "stages/can_rx/tty.h"

static void test_speed_table(void **state)
{
	(void)state;
	/* the rates issue 3 names, and what termios calls them */
	assert_int_equal(tty_speed(115200), B115200);
	assert_int_equal(tty_speed(230400), B230400);
	assert_int_equal(tty_speed(460800), B460800);
	assert_int_equal(tty_speed(921600), B921600);
	assert_int_equal(tty_speed(2000000), B2000000);
	assert_int_equal(tty_speed(9600), B9600);
	assert_int_equal(tty_speed(0), 0);
	assert_int_equal(tty_speed(115201), 0);
	assert_int_equal(tty_speed(3000001), 0);
}

static void test_open_raw_8n1_each_rate(void **state)
{
	static const unsigned rates[] = {115200, 230400, 460800, 921600, 2000000};
	int master, slave;
	char name[64];
	struct termios tio;
	(void)state;

	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	/* start from the cooked defaults a fresh tty has (echo, canonical lines, CR/LF mapping, output processing) */
	assert_int_equal(tcgetattr(slave, &tio), 0);
	assert_true(tio.c_lflag & (ICANON | ECHO));
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		int fd = tty_open(name, rates[i]);
		assert_true(fd >= 0);
		assert_int_equal(tcgetattr(fd, &tio), 0);
		assert_int_equal(tio.c_iflag, 0);
		assert_int_equal(tio.c_oflag, 0);
		assert_int_equal(tio.c_lflag, 0);
		assert_int_equal(tio.c_cflag & CSIZE, CS8);
		assert_int_equal(tio.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
		assert_true(tio.c_cflag & CREAD);
		assert_true(tio.c_cflag & CLOCAL);
		assert_int_equal(tio.c_cc[VMIN], 1);
		assert_int_equal(tio.c_cc[VTIME], 0);
		assert_int_equal(cfgetispeed(&tio), tty_speed(rates[i]));
		assert_int_equal(cfgetospeed(&tio), tty_speed(rates[i]));
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		/* bytes pass untouched: CR, LF, NUL and 0xFF arrive as written (no ICRNL, no ISTRIP, no echo) */
		const unsigned char sent[] = {'S', '\r', '\n', 0x00, 0xFF, 0x11, 0x13};
		assert_int_equal(write(master, sent, sizeof(sent)), (ssize_t)sizeof(sent));
		unsigned char got[16];
		ssize_t n = 0;
		for (int tries = 0; tries < 200 && n < (ssize_t)sizeof(sent); tries++) {
			ssize_t r = read(fd, got + n, sizeof(got) - (size_t)n);
			if (r > 0)
				n += r;
			else
				usleep(1000);
		}
		assert_int_equal(n, (ssize_t)sizeof(sent));
		assert_memory_equal(got, sent, sizeof(sent));
		close(fd);
	}
	close(slave);
	close(master);
}

static void test_refusals(void **state)
{
	int master, slave;
	char name[64];
	(void)state;

	assert_int_equal(tty_open("/dev/null", 123456), -EINVAL);
	assert_int_equal(tty_open("/nonexistent/ttyUSB9", 115200), -ENOENT);
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	int fd = tty_open(name, 115200);
	assert_true(fd >= 0);
	/* a second reader would take part of the stream: refused while the first holds the port */
	assert_int_equal(tty_open(name, 115200), -EBUSY);
	close(fd);
	fd = tty_open(name, 115200);
	assert_true(fd >= 0);
	close(fd);
	close(slave);
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_speed_table),
		cmocka_unit_test(test_open_raw_8n1_each_rate),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
