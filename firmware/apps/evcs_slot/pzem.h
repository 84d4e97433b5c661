/*
 * pzem.h - PZEM-004T v3 AC power meter over Modbus-RTU (9600 baud 8N1).
 *
 * One request reads everything: function 0x04 (read input registers), start 0x0000, 10 registers.  For slave
 * address 1 that is 01 04 00 00 00 0A 70 0D (CRC-16/MODBUS, low byte first).  The answer is address, 0x04, byte count
 * 20, ten big-endian registers, CRC: 25 bytes; an exception answer is address, 0x84, code, CRC: 5 bytes.
 * Registers (facts/legacy-system.md and the PZEM-004T v3 manual):
 *   0 voltage 0.1 V; 1-2 current 0.001 A (low word first); 3-4 power 0.1 W (low word first); 5-6 energy 1 Wh (low
 *   word first); 7 frequency 0.1 Hz; 8 power factor 0.01; 9 alarm (0xFFFF alarm, 0x0000 none).
 *
 * pzem_parse() is pure; pzem_read() talks to the meter through the HAL with a timeout and retries and returns a
 * reading only when a whole answer with a correct CRC, address, function and count arrived: a failed read is never
 * data.
 */
#ifndef V2X_FIRMWARE_APPS_EVCS_SLOT_PZEM_H
#define V2X_FIRMWARE_APPS_EVCS_SLOT_PZEM_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/hal/v2x_hal.h"

#define PZEM_REQ_LEN 8
#define PZEM_RESP_LEN 25
#define PZEM_EXC_LEN 5
#define PZEM_FUNC_READ_INPUT 0x04
#define PZEM_NREGS 10

struct pzem_reading {
	uint16_t voltage_dv;  /* 0.1 V */
	uint32_t current_ma;  /* 0.001 A */
	uint32_t power_dw;    /* 0.1 W */
	uint32_t energy_wh;   /* 1 Wh, the meter's cumulative counter */
	uint16_t freq_dhz;    /* 0.1 Hz */
	uint16_t pf_centi;    /* 0.01 */
	uint8_t alarm;        /* 1 when the alarm register is 0xFFFF */
};

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): "123456789" -> 0x4B37. */
uint16_t pzem_crc16(const uint8_t *p, size_t n);

/* The read request for slave addr into out[PZEM_REQ_LEN].  Returns PZEM_REQ_LEN. */
int pzem_build_request(uint8_t addr, uint8_t out[PZEM_REQ_LEN]);

/*
 * Parse an answer from slave addr in p[0..n).  Returns 0 and *r for a complete valid answer; -EAGAIN when p is a
 * valid prefix (wait for more); -EBADMSG for a CRC mismatch; -EPROTO for a wrong address, function, byte count or a
 * register value out of range (pf over 1.00, alarm neither 0 nor 0xFFFF); -EREMOTEIO for an exception answer
 * (*exc gets its code).
 */
int pzem_parse(uint8_t addr, const uint8_t *p, size_t n, struct pzem_reading *r, uint8_t *exc);

struct pzem_stats {
	uint32_t reads_ok, reads_failed;                           /* after retries */
	uint32_t timeouts, bad_crc, bad_frame, exceptions, retries; /* per attempt */
};

/*
 * Read the meter on HAL_UART_METER: up to 1 + retries attempts; an attempt ends after timeout_ms without a byte.
 * Returns 0 and *r, or the last attempt's error (-ETIMEDOUT, -EBADMSG, -EPROTO, -EREMOTEIO, -EIO); *r is untouched
 * on error.  Blocks about (1 + retries) x timeout_ms at most when the meter is silent.
 */
int pzem_read(struct v2x_hal *h, uint8_t addr, uint32_t timeout_ms, unsigned retries, struct pzem_reading *r,
	      struct pzem_stats *st);

#endif
