#!/usr/bin/env bash
# `make demo` as an end-to-end test: the built-in scenario through v2xsim, v2xd and (when built in) the uplink to a
# local broker.  demo.sh itself asserts the summary (exits non-zero otherwise): every CAN frame the simulated ESP32
# sent is a row of can_data.csv, no loss counted by sequence numbers, one session row whose metered energy and cost
# are within 1 % of the vehicle model's and whose end reason is desired_soc, the other vehicle heard, and the samples
# the broker delivered equal the samples produced.  This script also checks that the summary says so.
set -u
BUILD=${V2X_BUILD:-build}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$(BUILD=$BUILD timeout 150 bash "$HERE/programs/v2xsim/demo.sh" 2>&1); rc=$?
printf '%s\n' "$out" | tail -30
[ "$rc" = 0 ] || { echo "FAIL: demo exited $rc"; exit 1; }
printf '%s\n' "$out" | grep -q '^demo: everything checks out$' || { echo "FAIL: no verdict"; exit 1; }
printf '%s\n' "$out" | grep -q 'end: desired_soc' || { echo "FAIL: the session did not end at the desired SOC"; exit 1; }
echo "demo scenario: ok"
