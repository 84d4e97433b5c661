/* tty.c - raw 8N1 serial set-up (see tty.h). */
#include "stages/can_rx/tty.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

speed_t tty_speed(unsigned baud)
{
	switch (baud) {
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	case 500000: return B500000;
	case 921600: return B921600;
	case 1000000: return B1000000;
	case 2000000: return B2000000;
	default: return 0;
	}
}

int tty_open(const char *path, unsigned baud)
{
	speed_t speed = tty_speed(baud);
	struct termios tio;
	int fd, err;

	if (speed == 0)
		return -EINVAL;
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* One reader per port: two readers would each get part of the stream.  flock rather than TIOCEXCL, which
	 * does not stop root. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	if (!isatty(fd))
		return fd; /* a FIFO or a file: nothing to configure */
	if (tcgetattr(fd, &tio) < 0)
		goto fail;
	tio.c_iflag = 0; /* no BRKINT/ICRNL/IXON/ISTRIP/INPCK: bytes as they come */
	tio.c_oflag = 0; /* no OPOST: write bytes as they are */
	tio.c_lflag = 0; /* no ICANON/ECHO/ISIG/IEXTEN */
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	tio.c_cflag |= CS8 | CREAD | CLOCAL;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, speed) < 0 || cfsetospeed(&tio, speed) < 0)
		goto fail;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}
