#!/usr/bin/env bash
# v2xsim_scenario.sh - the whole firmware set in v2xsim on the built-in scenario (at --speed 25) and on the faults
# scenario.  Expected values come from the scenario and the specification, not from a previous run:
#  - slot 1's session ends by the vehicle's stop request (V2G), the relay is open, the hub got the acknowledgement;
#  - the session's energy is within 1 % (or 2 Wh, the meter's 1 Wh resolution at both ends) of the AC energy the car
#    model drew while plugged, and its cost is energy x 1.50 per kWh;
#  - the second vehicle (not paired) is refused by the station as forged, while V2V between the vehicles is accepted;
#  - driving away, messages are dropped by the range model;
#  - every CAN frame the model put on the bus reached the bridge's host link (internal), none lost;
#  - faults: three bad CRCs make one failed read (after 2 retries), silence and exceptions are retried.
set -u
BUILD=${V2X_BUILD:-build}
SIM=$BUILD/bin/v2xsim
[ -x "$SIM" ] || { echo "skip: $SIM not built"; exit 77; }
TMP=$(mktemp -d /tmp/v2xsim_scn.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PORT=$((20000 + RANDOM % 20000))
kv() { awk -v p="$2" -v k="$3" '$1 == p { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$1"; }
fail() { echo "FAIL: $*"; cat "$TMP/sum.txt"; exit 1; }

"$SIM" --speed 25 --radio-port "$PORT" --quiet --summary "$TMP/sum.txt" >"$TMP/out.txt" 2>&1 || fail "v2xsim exited non-zero"
S=$TMP/sum.txt
cat "$S"
[ "$(kv "$S" slot1_session end)" = vehicle_stop ] || fail "session not ended by the vehicle"
[ "$(kv "$S" slot1 relay_closed)" = 0 ] || fail "relay not open after the stop"
[ "$(kv "$S" slot1 acks_sent)" -ge 1 ] || fail "no acknowledgement sent"
[ "$(kv "$S" hub stop_result)" = 0 ] || fail "the hub did not get 'stopped'"
[ "$(kv "$S" hub_host last_ack_result)" = 0 ] || fail "the computer did not get the ACK"
e=$(kv "$S" slot1_session energy_wh); cost=$(kv "$S" slot1_session cost); m=$(kv "$S" model session_ac_wh)
awk -v e="$e" -v m="$m" 'BEGIN { d = e - m; if (d < 0) d = -d; exit !(m > 200 && (d <= 0.01 * m || d <= 2)) }' ||
	fail "session energy $e Wh vs model $m Wh"
awk -v e="$e" -v c="$cost" 'BEGIN { d = c - e / 1000 * 1.50; if (d < 0) d = -d; exit !(d < 0.0001) }' ||
	fail "cost $cost for $e Wh at 1.50/kWh"
[ "$(kv "$S" slot1 radio_forged)" -ge 1 ] || fail "the unpaired vehicle's V2G was not refused"
[ "$(kv "$S" vehicle2 forwarded_v2v)" -ge 1 ] || fail "no V2V between the vehicles"
[ "$(kv "$S" hub forwarded_station)" -ge 1 ] || fail "the hub forwarded no station message"
[ "$(kv "$S" hub_radio out_of_range)" -ge 1 ] || fail "nothing dropped by range"
sent=$(kv "$S" bridge can_sent)
[ "$(kv "$S" bridge can_rx)" = "$sent" ] && [ "$(kv "$S" bridge can_lost_tx)" = 0 ] || fail "bridge lost CAN frames"
model_frames=$(awk '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == "can_model_frames") print a[2] } }' "$S")
[ "$sent" = "$model_frames" ] || fail "model put $model_frames frames on the bus, bridge sent $sent"

"$SIM" --speed 5 --radio-port "$PORT" --quiet --apps bridge,hub,slot1 --scenario programs/v2xsim/scenarios/faults.txt \
	--summary "$TMP/sum.txt" >"$TMP/out.txt" 2>&1 || fail "v2xsim (faults) exited non-zero"
cat "$S"
[ "$(kv "$S" slot1 meter_bad_crc)" = 3 ] || fail "bad CRCs not counted"
[ "$(kv "$S" slot1 meter_reads_failed)" = 1 ] || fail "a read with 3 bad answers must fail once"
[ "$(kv "$S" slot1 meter_timeouts)" = 1 ] || fail "the silent answer not counted"
[ "$(kv "$S" slot1 meter_exceptions)" = 2 ] || fail "exceptions not counted"
reads=$(kv "$S" slot1 meter_reads_ok); reports=$(kv "$S" slot1 reports_sent)
[ "$reports" -le "$reads" ] || fail "more reports than good reads"
[ "$(kv "$S" slot1_session end)" = vehicle_stop ] || fail "faults run: session not stopped by the vehicle"

# A candump log replayed on the bus: each of its frames (bad lines skipped) reaches the bridge once.
cat >"$TMP/log.txt" <<'LOG'
(1436509052.249713) can0 155#0596E7546D58006F
(1436509052.251713) can0 59B#80010000
not a frame line
(1436509052.259713) can0 19F#000007D000000000
(1436509052.350000) can0 1FFFFFFF#1122
(1436509052.450000) can0 123#R
LOG
"$SIM" --apps bridge --candump "$TMP/log.txt" --duration 2 --quiet --summary "$TMP/sum.txt" >"$TMP/out.txt" 2>&1 ||
	fail "v2xsim (candump) exited non-zero"
cat "$S"
[ "$(kv "$S" bridge can_sent)" = 5 ] || fail "candump replay: 5 frames expected"

# Legacy links everywhere: text lines from the bridge and the slots, AA 55 frames from the hub.
"$SIM" --legacy --speed 10 --radio-port "$PORT" --quiet --duration 30 --summary "$TMP/sum.txt" >"$TMP/out.txt" 2>&1 ||
	fail "v2xsim (legacy) exited non-zero"
cat "$S"
[ "$(kv "$S" bridge legacy_lines)" -gt 5000 ] || fail "legacy: too few SIM lines"
[ "$(kv "$S" bridge_host lines)" -gt 5000 ] || fail "legacy: the bridge host link carried no lines"
[ "$(kv "$S" slot1_host lines)" -ge 10 ] || fail "legacy: no slot lines"
[ "$(kv "$S" hub forwarded_v2v)" -ge 1 ] && [ "$(kv "$S" hub_host lines)" -ge 1 ] || fail "legacy: the hub forwarded nothing"
echo PASS
