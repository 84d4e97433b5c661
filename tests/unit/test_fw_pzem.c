/*
 * test_fw_pzem.c - the PZEM-004T driver (firmware/apps/evcs_slot/pzem.h): CRC-16/MODBUS, the request, the answer's
 * register map, every refusal, and pzem_read() against the libmodbus slave (firmware/linux/pzem_sim.h) on a pty with
 * injected faults.
 *
 * Expected bytes come from the specification: the CRC catalogue's check value 0x4B37 for "123456789", the standard
 * read request 01 04 00 00 00 0A 70 0D, and an answer built in Python (struct.pack of the register map, a bitwise
 * CRC-16/MODBUS), not by this code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/apps/evcs_slot/pzem.h"
#include "firmware/linux/linux_hal.h"
#include "firmware/linux/pzem_sim.h"

/* V 230.0, I 6.543 A, P 1504.9 W, E 123456 Wh, f 50.0 Hz, pf 0.99, no alarm. */
static const uint8_t answer[PZEM_RESP_LEN] = {0x01, 0x04, 0x14, 0x08, 0xFC, 0x19, 0x8F, 0x00, 0x00, 0x3A, 0xC9,
					      0x00, 0x00, 0xE2, 0x40, 0x00, 0x01, 0x01, 0xF4, 0x00, 0x63, 0x00,
					      0x00, 0x75, 0xBB};
static const uint8_t exception4[PZEM_EXC_LEN] = {0x01, 0x84, 0x04, 0x42, 0xC3};

static void test_crc_and_request(void **state)
{
	uint8_t req[PZEM_REQ_LEN];
	static const uint8_t want[PZEM_REQ_LEN] = {0x01, 0x04, 0x00, 0x00, 0x00, 0x0A, 0x70, 0x0D};

	assert_int_equal(pzem_crc16((const uint8_t *)"123456789", 9), 0x4B37);
	assert_int_equal(pzem_build_request(1, req), PZEM_REQ_LEN);
	assert_memory_equal(req, want, PZEM_REQ_LEN);
	/* The CRC of a whole frame, CRC included (low byte first), is 0: the Modbus residue. */
	assert_int_equal(pzem_crc16(req, PZEM_REQ_LEN), 0);
	assert_int_equal(pzem_crc16(answer, PZEM_RESP_LEN), 0);
}

static void test_parse_answer(void **state)
{
	struct pzem_reading r;
	uint8_t exc = 0;

	assert_int_equal(pzem_parse(1, answer, sizeof(answer), &r, &exc), 0);
	assert_int_equal(r.voltage_dv, 2300);
	assert_int_equal(r.current_ma, 6543);
	assert_int_equal(r.power_dw, 15049);
	assert_int_equal(r.energy_wh, 123456);
	assert_int_equal(r.freq_dhz, 500);
	assert_int_equal(r.pf_centi, 99);
	assert_int_equal(r.alarm, 0);
	/* Every prefix asks for more. */
	for (size_t n = 0; n < sizeof(answer); n++)
		assert_int_equal(pzem_parse(1, answer, n, &r, &exc), -EAGAIN);
	assert_int_equal(pzem_parse(1, exception4, sizeof(exception4), &r, &exc), -EREMOTEIO);
	assert_int_equal(exc, 4);
}

static void test_parse_refusals(void **state)
{
	struct pzem_reading r;
	uint8_t a[PZEM_RESP_LEN + 1];

	assert_int_equal(pzem_parse(2, answer, sizeof(answer), &r, NULL), -EPROTO); /* another slave */
	memcpy(a, answer, sizeof(answer));
	a[10] ^= 0x01;
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN, &r, NULL), -EBADMSG);
	memcpy(a, answer, sizeof(answer));
	a[1] = 0x03; /* holding registers: not what was asked */
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN, &r, NULL), -EPROTO);
	memcpy(a, answer, sizeof(answer));
	a[2] = 0x12; /* byte count 18 */
	assert_int_equal(pzem_parse(1, a, 3, &r, NULL), -EPROTO);
	memcpy(a, answer, sizeof(answer));
	a[PZEM_RESP_LEN] = 0;
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN + 1, &r, NULL), -EPROTO); /* trailing byte */
	/* pf 1.01 and an alarm register of 0x0001, with correct CRCs. */
	memcpy(a, answer, sizeof(answer));
	a[20] = 101;
	uint16_t c = pzem_crc16(a, PZEM_RESP_LEN - 2);
	a[23] = (uint8_t)c;
	a[24] = (uint8_t)(c >> 8);
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN, &r, NULL), -EPROTO);
	memcpy(a, answer, sizeof(answer));
	a[22] = 0x01;
	c = pzem_crc16(a, PZEM_RESP_LEN - 2);
	a[23] = (uint8_t)c;
	a[24] = (uint8_t)(c >> 8);
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN, &r, NULL), -EPROTO);
	/* Alarm 0xFFFF is the alarm. */
	a[21] = 0xFF;
	a[22] = 0xFF;
	c = pzem_crc16(a, PZEM_RESP_LEN - 2);
	a[23] = (uint8_t)c;
	a[24] = (uint8_t)(c >> 8);
	assert_int_equal(pzem_parse(1, a, PZEM_RESP_LEN, &r, NULL), 0);
	assert_int_equal(r.alarm, 1);
}

/* The driver against libmodbus, through a Linux board's meter pty. */
static void test_read_against_libmodbus(void **state)
{
	struct linux_clock clk;
	atomic_int stop = 0;
	struct v2x_hal *h = NULL;
	struct pzem_sim *sim = NULL;
	struct pzem_stats st;
	struct pzem_reading r;
	char pts[128];
	struct linux_hal_conf c = {.name = "slot", .mac = {2, 0, 0, 0, 0, 9}, .clock = &clk, .stop = &stop};

	linux_clock_init(&clk, 1.0);
	assert_int_equal(linux_hal_create(&h, &c), 0);
	assert_int_equal(linux_hal_uart_pty(h, HAL_UART_METER, NULL, pts, sizeof(pts)), 0);
	assert_int_equal(pzem_sim_start(&sim, pts, 1), 0);
	struct pzem_sim_values v = {.voltage_v = 229.7, .current_a = 12.345, .power_w = 2803.2, .energy_wh = 70123.6,
				    .freq_hz = 49.9, .pf = 0.97};
	pzem_sim_set(sim, &v);
	memset(&st, 0, sizeof(st));
	assert_int_equal(pzem_read(h, 1, 500, 0, &r, &st), 0);
	assert_int_equal(r.voltage_dv, 2297);
	assert_int_equal(r.current_ma, 12345);
	assert_int_equal(r.power_dw, 28032);
	assert_int_equal(r.energy_wh, 70123);
	assert_int_equal(r.freq_dhz, 499);
	assert_int_equal(r.pf_centi, 97);
	/* A current above 65.535 A needs the high register. */
	v.current_a = 70.0;
	pzem_sim_set(sim, &v);
	assert_int_equal(pzem_read(h, 1, 500, 0, &r, &st), 0);
	assert_int_equal(r.current_ma, 70000);

	/* Silence once: the retry reads it; the first attempt is a counted timeout. */
	struct pzem_reading before = r;
	pzem_sim_fault(sim, PZEM_SIM_SILENT, 1);
	assert_int_equal(pzem_read(h, 1, 150, 1, &r, &st), 0);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.retries, 1);
	/* A bad CRC with no retry: an error, and r untouched. */
	memset(&r, 0x5A, sizeof(r));
	struct pzem_reading poison = r;
	pzem_sim_fault(sim, PZEM_SIM_BAD_CRC, 1);
	assert_int_equal(pzem_read(h, 1, 300, 0, &r, &st), -EBADMSG);
	assert_memory_equal(&r, &poison, sizeof(r));
	assert_int_equal(st.bad_crc, 1);
	/* An exception. */
	pzem_sim_fault(sim, PZEM_SIM_EXCEPTION, 1);
	assert_int_equal(pzem_read(h, 1, 300, 0, &r, &st), -EREMOTEIO);
	assert_int_equal(st.exceptions, 1);
	/* (No request to a foreign address here: libmodbus 3.1.6 loses its framing on a pty after ignoring one, as it
	 * cuts frames by length, not by the 3.5-character silence.) */
	assert_int_equal(st.reads_failed, 2);
	assert_int_equal(pzem_read(h, 1, 500, 0, &r, &st), 0);
	assert_int_equal(r.current_ma, before.current_ma);
	assert_int_equal(st.reads_ok, 4);

	pzem_sim_stop(sim);
	linux_hal_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_and_request),
		cmocka_unit_test(test_parse_answer),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_read_against_libmodbus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
