/*
 * pzem_sim.c - the simulated PZEM-004T on libmodbus (pzem_sim.h).
 *
 * modbus_receive() waits for an indication with a 100 ms indication timeout so the thread sees its stop flag;
 * modbus_reply() answers from a modbus_mapping_t whose input registers are copied from the shared values under the
 * mutex just before.  A corrupted answer is built with modbus_reply() semantics by hand (the 25-byte frame with its
 * CRC's low byte flipped) and written to the descriptor directly.
 */
#include "firmware/linux/pzem_sim.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "firmware/apps/evcs_slot/pzem.h"

struct pzem_sim {
	modbus_t *ctx;
	modbus_mapping_t *map;
	pthread_t thread;
	atomic_int stop;
	uint8_t addr;
	pthread_mutex_t mu;
	uint16_t regs[PZEM_NREGS];
	enum pzem_sim_fault fault;
	unsigned fault_left;
	uint64_t received, answered;
};

static uint32_t clampu(double v, double max)
{
	if (!(v > 0))
		return 0;
	return v > max ? (uint32_t)max : (uint32_t)llround(v);
}

void pzem_sim_set(struct pzem_sim *s, const struct pzem_sim_values *v)
{
	uint32_t cur = clampu(v->current_a * 1000.0, 4294967295.0), pw = clampu(v->power_w * 10.0, 4294967295.0);
	uint32_t wh = clampu(floor(v->energy_wh), 4294967295.0);

	pthread_mutex_lock(&s->mu);
	s->regs[0] = (uint16_t)clampu(v->voltage_v * 10.0, 65535);
	s->regs[1] = (uint16_t)cur;
	s->regs[2] = (uint16_t)(cur >> 16);
	s->regs[3] = (uint16_t)pw;
	s->regs[4] = (uint16_t)(pw >> 16);
	s->regs[5] = (uint16_t)wh;
	s->regs[6] = (uint16_t)(wh >> 16);
	s->regs[7] = (uint16_t)clampu(v->freq_hz * 10.0, 65535);
	s->regs[8] = (uint16_t)clampu(v->pf * 100.0, 100);
	s->regs[9] = v->alarm ? 0xFFFF : 0x0000;
	pthread_mutex_unlock(&s->mu);
}

void pzem_sim_fault(struct pzem_sim *s, enum pzem_sim_fault f, unsigned n)
{
	pthread_mutex_lock(&s->mu);
	s->fault = f;
	s->fault_left = n;
	pthread_mutex_unlock(&s->mu);
}

void pzem_sim_requests(struct pzem_sim *s, uint64_t *received, uint64_t *answered)
{
	pthread_mutex_lock(&s->mu);
	*received = s->received;
	*answered = s->answered;
	pthread_mutex_unlock(&s->mu);
}

static void *pzem_sim__thread(void *arg)
{
	struct pzem_sim *s = arg;
	uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH];

	while (!atomic_load(&s->stop)) {
		int n = modbus_receive(s->ctx, req);
		if (n <= 0)
			continue; /* timeout, or a frame for another slave / with a bad CRC (libmodbus drops it) */
		enum pzem_sim_fault f;
		pthread_mutex_lock(&s->mu);
		s->received++;
		f = s->fault;
		if (f != PZEM_SIM_OK && s->fault_left && --s->fault_left == 0)
			s->fault = PZEM_SIM_OK;
		memcpy(s->map->tab_input_registers, s->regs, sizeof(s->regs));
		pthread_mutex_unlock(&s->mu);
		int rc = 0;
		switch (f) {
		case PZEM_SIM_SILENT:
			continue;
		case PZEM_SIM_EXCEPTION:
			rc = modbus_reply_exception(s->ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE);
			break;
		case PZEM_SIM_BAD_CRC: {
			uint8_t a[PZEM_RESP_LEN];
			a[0] = s->addr;
			a[1] = PZEM_FUNC_READ_INPUT;
			a[2] = 2 * PZEM_NREGS;
			for (int i = 0; i < PZEM_NREGS; i++) {
				a[3 + 2 * i] = (uint8_t)(s->map->tab_input_registers[i] >> 8);
				a[4 + 2 * i] = (uint8_t)s->map->tab_input_registers[i];
			}
			uint16_t c = pzem_crc16(a, PZEM_RESP_LEN - 2) ^ 0x00FF;
			a[23] = (uint8_t)c;
			a[24] = (uint8_t)(c >> 8);
			rc = (int)write(modbus_get_socket(s->ctx), a, sizeof(a));
			break;
		}
		case PZEM_SIM_OK:
			rc = modbus_reply(s->ctx, req, n, s->map);
			break;
		}
		if (rc > 0) {
			pthread_mutex_lock(&s->mu);
			s->answered++;
			pthread_mutex_unlock(&s->mu);
		}
	}
	return NULL;
}

int pzem_sim_start(struct pzem_sim **out, const char *tty, uint8_t addr)
{
	struct pzem_sim *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->addr = addr;
	s->ctx = modbus_new_rtu(tty, 9600, 'N', 8, 1);
	if (!s->ctx) {
		rc = -errno;
		goto fail;
	}
	if (modbus_set_slave(s->ctx, addr) < 0 || modbus_connect(s->ctx) < 0) {
		rc = -errno;
		goto fail_ctx;
	}
	modbus_set_indication_timeout(s->ctx, 0, 100000);
	if (getenv("V2X_MODBUS_DEBUG"))
		modbus_set_debug(s->ctx, 1);
	s->map = modbus_mapping_new(0, 0, 0, PZEM_NREGS);
	if (!s->map) {
		rc = -ENOMEM;
		goto fail_conn;
	}
	rc = pthread_create(&s->thread, NULL, pzem_sim__thread, s);
	if (rc) {
		rc = -rc;
		goto fail_map;
	}
	*out = s;
	return 0;
fail_map:
	modbus_mapping_free(s->map);
fail_conn:
	modbus_close(s->ctx);
fail_ctx:
	modbus_free(s->ctx);
fail:
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc ? rc : -EIO;
}

void pzem_sim_stop(struct pzem_sim *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	modbus_mapping_free(s->map);
	modbus_close(s->ctx);
	modbus_free(s->ctx);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
