/*
 * pzem_sim.h - a simulated PZEM-004T v3 for v2xsim and the tests: a Modbus-RTU slave built on libmodbus (an
 * independent Modbus implementation, so the firmware's own driver, pzem.h, is checked against someone else's).
 *
 * A thread serves function 0x04 on a serial device (the slave side of the slot board's meter pty) from ten input
 * registers the simulator updates (pzem_sim_set(): the physics is the caller's, this is only the meter's face).
 * Faults for scenarios and tests: silence (no answer), a corrupted CRC, a Modbus exception.
 *
 * Threads: pzem_sim_set(), pzem_sim_fault() and pzem_sim_requests() from any thread (a mutex); start and stop from
 * one thread.
 */
#ifndef V2X_FIRMWARE_LINUX_PZEM_SIM_H
#define V2X_FIRMWARE_LINUX_PZEM_SIM_H

#include <stdint.h>

enum pzem_sim_fault { PZEM_SIM_OK, PZEM_SIM_SILENT, PZEM_SIM_BAD_CRC, PZEM_SIM_EXCEPTION };

struct pzem_sim_values {
	double voltage_v, current_a, power_w, energy_wh, freq_hz, pf;
	int alarm;
};

struct pzem_sim;

/* Open tty (e.g. the pts of a board's HAL_UART_METER) as slave addr and start serving.  Returns 0 or -errno. */
int pzem_sim_start(struct pzem_sim **out, const char *tty, uint8_t addr);
/* Stop the thread, close, free.  NULL is fine. */
void pzem_sim_stop(struct pzem_sim *s);
/* The values the next answers carry (scaled and rounded to the registers' resolution). */
void pzem_sim_set(struct pzem_sim *s, const struct pzem_sim_values *v);
/* Inject a fault for the next n requests (n = 0: until changed). */
void pzem_sim_fault(struct pzem_sim *s, enum pzem_sim_fault f, unsigned n);
/* Requests received and answered so far. */
void pzem_sim_requests(struct pzem_sim *s, uint64_t *received, uint64_t *answered);

#endif
