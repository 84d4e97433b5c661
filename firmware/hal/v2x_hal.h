/*
 * v2x_hal.h - the hardware interface the project's ESP32 applications are written against.
 *
 * The applications (firmware/apps/) see the board only through these calls, so the same C builds for ESP-IDF and
 * for Linux (firmware/linux/linux_hal.c, used by v2xsim); firmware/README.md maps each call onto ESP-IDF.  Every call
 * takes the board handle: on an ESP32 there is one board, in v2xsim one per simulated node (each application runs as
 * a thread with its own board).  A board is used by one application thread only; nothing here is thread-safe across
 * threads unless said so.  Errors are negative errno values.  No call allocates.
 *
 * Clocks: hal_millis() and hal_micros() count from the board's start and wrap at 2^32 (49.7 days, 71.6 minutes).
 * Applications compare times with unsigned subtraction ((uint32_t)(now - then) >= period) so a wrap is harmless.
 */
#ifndef V2X_FIRMWARE_HAL_V2X_HAL_H
#define V2X_FIRMWARE_HAL_V2X_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "v2x_proto.h"

struct v2x_hal; /* one board; defined by the implementation */

/* --- CAN receive --------------------------------------------------------------------------------------------- */

/* One received frame: the frame (struct v2x_can: id with V2X_CAN_EFF_FLAG / V2X_CAN_RTR_FLAG, dlc, data) and the
 * hal_micros() time the controller took it off the bus. */
struct hal_can_rx {
	struct v2x_can can;
	uint32_t t_us;
};

/* An acceptance filter: a frame passes when (id & mask) == (filter_id & mask), ids compared with their flag bits. */
struct hal_can_filter {
	uint32_t id;
	uint32_t mask;
};

#define HAL_CAN_MAX_FILTERS 8

/* Install n acceptance filters (0: accept every frame).  Returns 0, -EINVAL for n > HAL_CAN_MAX_FILTERS. */
int hal_can_set_filters(struct v2x_hal *h, const struct hal_can_filter *f, size_t n);

/* Take up to max frames the controller holds, oldest first, without waiting.  Returns how many (0: none waiting) or
 * -ENODEV when the board has no CAN controller. */
int hal_can_recv(struct v2x_hal *h, struct hal_can_rx *out, size_t max);

/* Controller counters since start: frames lost because its receive queue was full, bus errors. */
void hal_can_counters(struct v2x_hal *h, uint32_t *overruns, uint32_t *bus_errors);

/* --- UARTs --------------------------------------------------------------------------------------------------- */

enum hal_uart {
	HAL_UART_HOST,  /* USB serial to the computer (vehicle computer or station computer) */
	HAL_UART_GPS,   /* the GPS receiver (NMEA) */
	HAL_UART_METER, /* the PZEM-004T power meter (Modbus-RTU) */
	HAL_UART__COUNT
};

/* Configure a UART at baud 8N1.  Returns 0, -ENODEV when the board does not have it, -EINVAL for a bad rate. */
int hal_uart_open(struct v2x_hal *h, enum hal_uart u, uint32_t baud);

/* Write n bytes; waits at most timeout_ms for room in the transmit buffer.  Returns n, or -EAGAIN when the bytes
 * could not all be queued in time (some may have been: a partial frame the receiver rejects), or -EIO. */
int hal_uart_write(struct v2x_hal *h, enum hal_uart u, const void *buf, size_t n, uint32_t timeout_ms);

/* Read up to n received bytes, waiting at most timeout_ms for the first one.  Returns the count (0 on timeout) or
 * -EIO. */
int hal_uart_read(struct v2x_hal *h, enum hal_uart u, void *buf, size_t n, uint32_t timeout_ms);

/* Discard received bytes not read yet (before a Modbus request).  Returns 0 or -EIO. */
int hal_uart_flush_input(struct v2x_hal *h, enum hal_uart u);

/* --- clocks and waiting ------------------------------------------------------------------------------------ */

uint32_t hal_millis(struct v2x_hal *h);
uint32_t hal_micros(struct v2x_hal *h);

/* Sleep ms of board time (a FreeRTOS task delay on the device). */
void hal_sleep_ms(struct v2x_hal *h, uint32_t ms);

/* Non-zero when the application should return from its main loop (v2xsim shutting down; never on a device). */
int hal_should_stop(struct v2x_hal *h);

/* --- ESP-NOW ------------------------------------------------------------------------------------------------- */

#define HAL_MAC_LEN 6
#define HAL_ESPNOW_MAX 250 /* ESP-NOW v1 payload limit */

/* The board's own station MAC address. */
void hal_mac(struct v2x_hal *h, uint8_t mac[HAL_MAC_LEN]);

/* Broadcast n bytes (n <= HAL_ESPNOW_MAX) to every node in range.  Returns 0, -EMSGSIZE, or -EIO. */
int hal_espnow_send(struct v2x_hal *h, const void *buf, size_t n);

/* Take one received message without waiting: copies at most size bytes to buf and the sender's address to src.
 * Returns the message length, 0 when none is waiting, or -EMSGSIZE when it was longer than size (dropped). */
int hal_espnow_recv(struct v2x_hal *h, uint8_t src[HAL_MAC_LEN], void *buf, size_t size);

/* --- non-volatile storage --------------------------------------------------------------------------------- */

/* Read the value stored under key (at most 15 characters, as NVS) into buf.  Returns its length, -ENOENT when the
 * key is absent, -ENOBUFS when it is longer than size. */
int hal_nvs_get(struct v2x_hal *h, const char *key, void *buf, size_t size);

/* Store n bytes under key, durably before returning.  Returns 0 or -EIO / -ENOSPC. */
int hal_nvs_set(struct v2x_hal *h, const char *key, const void *buf, size_t n);

/* --- relay output -------------------------------------------------------------------------------------------- */

/* Drive the relay (the charging contactor): closed = 1 lets current through. */
void hal_relay_set(struct v2x_hal *h, int closed);
int hal_relay_get(struct v2x_hal *h);

#endif
