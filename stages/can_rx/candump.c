/*
 * candump.c - one `candump -l` log line to a CAN frame and its log time (candump.h).
 *
 * Written as a single left-to-right pass: "(" seconds "." usec ") " iface " " id "#" payload [" R"|" T"].
 */
#include "stages/can_rx/candump.h"

#include <errno.h>
#include <string.h>

#include "stages/can_rx/scan.h"

#define CANDUMP_IFNAME_MAX 15

int candump_parse(const char *s, size_t n, struct can_frame_data *frame, int64_t *real_ns)
{
	size_t i = 1, b;
	uint64_t sec = 0;
	uint32_t usec, id;

	if (n < 1 || s[0] != '(')
		return -EINVAL;
	for (b = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (i - b >= 10)
			return -EINVAL;
		sec = sec * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == b || i >= n || s[i] != '.' || sec > 9223372035ull) /* rx_real_ns must fit int64_t */
		return -EINVAL;
	i++;
	if (n - i < 8 || scan_uint(s + i, 6, 999999, &usec) < 0 || s[i + 6] != ')' || s[i + 7] != ' ')
		return -EINVAL;
	i += 8;
	for (b = i; i < n && s[i] != ' '; i++)
		;
	if (i == b || i - b > CANDUMP_IFNAME_MAX || i >= n)
		return -EINVAL;
	i++;
	const char *hash = memchr(s + i, '#', n - i);
	if (!hash)
		return -EINVAL;
	size_t id_n = (size_t)(hash - (s + i));
	if ((id_n != 3 && id_n != 8) || scan_hex_u32(s + i, id_n, &id) < 0)
		return -EINVAL;
	if (id_n == 3) {
		if (id > CAN_SFF_MASK)
			return -EINVAL;
	} else {
		if (id > CAN_EFF_MASK)
			return -EINVAL; /* error frames (0x20000000) and other flags */
		id |= CAN_EFF_FLAG;
	}
	i += id_n + 1;

	/* The end of the frame: the line, or a -x direction suffix. */
	size_t end = n;
	if (end - i >= 2 && s[end - 2] == ' ' && (s[end - 1] == 'R' || s[end - 1] == 'T'))
		end -= 2;

	memset(frame->data, 0, sizeof(frame->data));
	if (i < end && s[i] == '#')
		return -EPROTONOSUPPORT; /* CAN FD */
	if (i < end && s[i] == 'R') {
		uint32_t dlc = 0;
		i++;
		if (i < end && scan_uint(s + i, 1, 8, &dlc) < 0)
			return -EINVAL;
		if (end - i > 1)
			return -EINVAL;
		frame->id = id | CAN_RTR_FLAG;
		frame->dlc = (uint8_t)dlc;
	} else {
		size_t hex = end - i;
		if (hex > 16 || hex % 2)
			return -EINVAL;
		for (size_t k = 0; k < hex / 2; k++) {
			int v = scan_hex2(s + i + 2 * k);
			if (v < 0)
				return -EINVAL;
			frame->data[k] = (uint8_t)v;
		}
		frame->id = id;
		frame->dlc = (uint8_t)(hex / 2);
	}
	*real_ns = (int64_t)(sec * 1000000000ull + (uint64_t)usec * 1000ull);
	return 0;
}
