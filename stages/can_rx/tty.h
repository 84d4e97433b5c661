/*
 * tty.h - opening a serial device (a USB CDC/UART tty or a pseudo-terminal) for the receive stages.
 *
 * Raw mode: input, output and local flags cleared (no echo, no canonical lines, no CR/LF translation, no flow
 * control), 8N1, receiver on, modem control lines ignored, VMIN 1 / VTIME 0.  Non-blocking and close-on-exec: the
 * caller waits in poll().  Called from the receive thread at start and after every unplug; it neither logs nor
 * allocates.
 */
#ifndef V2X_STAGES_CAN_RX_TTY_H
#define V2X_STAGES_CAN_RX_TTY_H

#include <termios.h>

/* Returns the termios speed constant for a baud rate (115200, 230400, 460800, 921600, 2000000 and the usual lower
 * ones), or 0 when the rate is not supported. */
speed_t tty_speed(unsigned baud);

/* Opens path in raw 8N1 mode at baud and takes an exclusive flock on it, so a second daemon on the same port is
 * refused (-EBUSY) instead of silently taking part of the stream.  Returns the descriptor, or a negative errno
 * (-EINVAL for an unsupported baud).  A descriptor that is not a terminal (a FIFO, for tests and replay) is accepted
 * as it is. */
int tty_open(const char *path, unsigned baud);

#endif
