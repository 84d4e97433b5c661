/*
 * candump.h - parser for can-utils `candump -l` log lines (../shared/facts/interop.md), for replaying logs.
 *
 *   (1436509052.249713) can0 155#0596E7546D58006F        11-bit id: exactly 3 hex digits, value <= 0x7FF
 *   (1436509052.249713) can0 12345678#DEADBEEF           29-bit id: exactly 8 hex digits, value <= 0x1FFFFFFF,
 *                                                          stored with CAN_EFF_FLAG
 *   (1436509052.249713) can0 123#R   or  123#R4          remote frame (CAN_RTR_FLAG), optional dlc digit 0..8
 *   (1436509052.249713) can0 123#                         data: 0..16 hex digits (either case), an even count
 *   ... 123#1122 R   /  ... 123#1122 T                    `candump -x` direction suffix, accepted and dropped
 *
 * The timestamp is <seconds>.<exactly 6 digits>; it becomes rx_real_ns (seconds * 1e9 + usec * 1000).  The
 * interface name is 1..15 bytes without spaces.  CAN FD lines (`id##<flags><data>`), error frames and anything
 * else are refused.  Pure function: any thread, no blocking, no allocation.
 */
#ifndef V2X_STAGES_CAN_RX_CANDUMP_H
#define V2X_STAGES_CAN_RX_CANDUMP_H

#include <stddef.h>
#include <stdint.h>

#include "vehicle/record.h"

/* Parse one log line s[0..n) (no terminator).  Returns 0 with *frame and *real_ns, -EPROTONOSUPPORT for a CAN FD
 * line, or -EINVAL. */
int candump_parse(const char *s, size_t n, struct can_frame_data *frame, int64_t *real_ns);

#endif
