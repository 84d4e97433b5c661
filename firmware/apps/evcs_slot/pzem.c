/*
 * pzem.c - the PZEM-004T v3 Modbus-RTU driver (pzem.h).
 */
#include "firmware/apps/evcs_slot/pzem.h"

#include <errno.h>
#include <string.h>

uint16_t pzem_crc16(const uint8_t *p, size_t n)
{
	uint16_t c = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (uint16_t)((c >> 1) ^ 0xA001u) : (uint16_t)(c >> 1);
	}
	return c;
}

int pzem_build_request(uint8_t addr, uint8_t out[PZEM_REQ_LEN])
{
	out[0] = addr;
	out[1] = PZEM_FUNC_READ_INPUT;
	out[2] = 0x00; /* start register, big-endian */
	out[3] = 0x00;
	out[4] = 0x00; /* register count */
	out[5] = PZEM_NREGS;
	uint16_t c = pzem_crc16(out, 6);
	out[6] = (uint8_t)c;
	out[7] = (uint8_t)(c >> 8);
	return PZEM_REQ_LEN;
}

static uint16_t reg(const uint8_t *p, int i)
{
	return (uint16_t)(p[3 + 2 * i] << 8 | p[4 + 2 * i]);
}

int pzem_parse(uint8_t addr, const uint8_t *p, size_t n, struct pzem_reading *r, uint8_t *exc)
{
	if (n >= 1 && p[0] != addr)
		return -EPROTO;
	if (n < 2)
		return -EAGAIN;
	if (p[1] == (PZEM_FUNC_READ_INPUT | 0x80)) {
		if (n < PZEM_EXC_LEN)
			return -EAGAIN;
		if (n > PZEM_EXC_LEN || pzem_crc16(p, 3) != (uint16_t)(p[3] | p[4] << 8))
			return -EBADMSG;
		if (exc)
			*exc = p[2];
		return -EREMOTEIO;
	}
	if (p[1] != PZEM_FUNC_READ_INPUT)
		return -EPROTO;
	if (n >= 3 && p[2] != 2 * PZEM_NREGS)
		return -EPROTO;
	if (n < PZEM_RESP_LEN)
		return -EAGAIN;
	if (n > PZEM_RESP_LEN)
		return -EPROTO;
	if (pzem_crc16(p, PZEM_RESP_LEN - 2) != (uint16_t)(p[23] | p[24] << 8))
		return -EBADMSG;
	uint16_t pf = reg(p, 8), alarm = reg(p, 9);
	if (pf > 100 || (alarm != 0 && alarm != 0xFFFF))
		return -EPROTO;
	r->voltage_dv = reg(p, 0);
	r->current_ma = (uint32_t)reg(p, 1) | (uint32_t)reg(p, 2) << 16;
	r->power_dw = (uint32_t)reg(p, 3) | (uint32_t)reg(p, 4) << 16;
	r->energy_wh = (uint32_t)reg(p, 5) | (uint32_t)reg(p, 6) << 16;
	r->freq_dhz = reg(p, 7);
	r->pf_centi = pf;
	r->alarm = alarm == 0xFFFF;
	return 0;
}

/* One request and its answer.  The timeout bounds the wait for each piece of the answer (the UART delivers it in
 * chunks); a silence of timeout_ms ends the attempt. */
static int pzem__attempt(struct v2x_hal *h, uint8_t addr, uint32_t timeout_ms, struct pzem_reading *r,
			 struct pzem_stats *st)
{
	uint8_t req[PZEM_REQ_LEN], buf[64];
	size_t n = 0;
	int rc;

	hal_uart_flush_input(h, HAL_UART_METER);
	pzem_build_request(addr, req);
	if (hal_uart_write(h, HAL_UART_METER, req, sizeof(req), timeout_ms) < 0)
		return -EIO;
	for (;;) {
		rc = hal_uart_read(h, HAL_UART_METER, buf + n, sizeof(buf) - n, timeout_ms);
		if (rc < 0)
			return -EIO;
		if (rc == 0) {
			st->timeouts++;
			return -ETIMEDOUT;
		}
		n += (size_t)rc;
		uint8_t exc = 0;
		rc = pzem_parse(addr, buf, n, r, &exc);
		if (rc == -EAGAIN && n < sizeof(buf))
			continue;
		if (rc == -EBADMSG)
			st->bad_crc++;
		else if (rc == -EREMOTEIO)
			st->exceptions++;
		else if (rc < 0)
			st->bad_frame++;
		return rc == -EAGAIN ? -EPROTO : rc;
	}
}

int pzem_read(struct v2x_hal *h, uint8_t addr, uint32_t timeout_ms, unsigned retries, struct pzem_reading *r,
	      struct pzem_stats *st)
{
	struct pzem_reading tmp;
	int rc = -EIO;

	for (unsigned a = 0; a <= retries && !hal_should_stop(h); a++) {
		if (a)
			st->retries++;
		rc = pzem__attempt(h, addr, timeout_ms, &tmp, st);
		if (rc == 0) {
			*r = tmp;
			st->reads_ok++;
			return 0;
		}
	}
	st->reads_failed++;
	return rc;
}
