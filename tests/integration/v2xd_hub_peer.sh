#!/usr/bin/env bash
# v2xd_hub_peer.sh - v2xd as it runs beside real devices, three processes: tests/tools/pty_feed plays ESP32(1)
# (SIM/GPS lines replayed from a file), tests/tools/hub_peer plays ESP32(2) with a station behind it (--v2 frames,
# after its --garbage start: boot text, AA AA 55, a NaN field, a truncated frame), v2xd between them.
# The car parks 2.2 m from the station, plugs in and charges at 10 A; `v2xctl stop-charging` ends the session:
# a stop command on the link, the peer acknowledges and closes its session.  The car's current does not fall in
# this replay, so the machine stops waiting after --v2g-fall-timeout-ms (1 s): still `stopped_by_user`, the stop
# having been acknowledged.  Checked: the session row against hub_peer's own SUMMARY (energy within 1 %, cost =
# energy x its price 1.5), one session and at least one acknowledgement at the peer, EVCS rows, and hub_io's
# rejects of the garbage start (garbage, NaN).  tests/integration/test_v2xd_hub.c checks all of this exactly, in
# lock step; this script keeps hub_peer (the demo's and manual tests' peer) working with the daemon.
#
# CAN lines (../shared/facts/twizy-can.md): 155 07 07 F8 54 3E 80: request 7, current raw 0x7F8 = 2040 ->
# (2040 - 2000) / 4 = 10 A, soc 0x3E80 = 16000 / 400 = 40 %; 155 07 07 D0 ..: 0 A; 597 20 20: plugged, charging;
# 597 00 00: unplugged; 55F .. 22 82 28: v1 = v2 = 0x228 = 552 -> 55.2 V.
set -u
BUILD=${V2X_BUILD:-build}
for b in bin/v2xd bin/v2xctl tests/tools/hub_peer tests/tools/pty_feed; do
	[ -x "$BUILD/$b" ] || { echo "skip: $BUILD/$b not built"; exit 77; }
done
command -v jq >/dev/null || { echo "skip: jq missing"; exit 77; }
work=$(mktemp -d /tmp/v2x-hubpeer-XXXXXX)
feed_pid= peer_pid= v2xd_pid=
cleanup() {
	for p in $v2xd_pid $peer_pid $feed_pid; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in v2xd.log peer.out; do [ -f "$work/$f" ] && { echo "--- $f"; tail -15 "$work/$f"; }; done
	exit 1
}
ctl() { "$BUILD/bin/v2xctl" --socket "$work/v2xd.sock" --json --timeout 10 "$@"; }
state() { ctl sessions 2>/dev/null | jq -r .state; }

# 2 s parked and unplugged, then 40 s plugged and charging at 10 A (4 lines every 20 ms at 200 lines/s)
{
	for _ in $(seq 100); do
		printf 'GPS 48.000000 11.000000 500.0 0.0 9 0.90 2026-11-30 23:5:0 1\r\n'
		printf 'SIM 155 8 07 07 D0 54 3E 80 00 00\r\nSIM 597 8 00 00 00 00 00 00 00 00\r\n'
		printf 'SIM 55F 8 00 00 00 00 00 22 82 28\r\n'
	done
	for _ in $(seq 2000); do
		printf 'GPS 48.000000 11.000000 500.0 0.0 9 0.90 2026-11-30 23:5:0 1\r\n'
		printf 'SIM 155 8 07 07 F8 54 3E 80 00 00\r\nSIM 597 8 20 20 00 00 00 00 00 00\r\n'
		printf 'SIM 55F 8 00 00 00 00 00 22 82 28\r\n'
	done
} >"$work/can.txt"

"$BUILD/tests/tools/pty_feed" --link "$work/ttyCAN" --rate 200 "$work/can.txt" >"$work/feed.out" 2>&1 &
feed_pid=$!
"$BUILD/tests/tools/hub_peer" --link "$work/ttyHUB" --v2 --garbage --seconds 120 --period-ms 200 \
	--lat 48.00002 --lon 11.0 --price 1.5 --kwh-per-msg 0.002 >"$work/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 200); do [ -e "$work/ttyCAN" ] && [ -e "$work/ttyHUB" ] && break; sleep 0.05; done
"$BUILD/bin/v2xd" --can-dev "$work/ttyCAN" --hub-dev "$work/ttyHUB" --out "$work/out" --socket "$work/v2xd.sock" \
	--status-s 0 --v2g-item-period-ms 250 --v2g-fall-timeout-ms 1000 2>"$work/v2xd.log" &
v2xd_pid=$!

st=
for _ in $(seq 300); do st=$(state); [ "$st" = charging ] && break; sleep 0.1; done
[ "$st" = charging ] || fail "no charging session (state '$st')"
sleep 2 # the station's meter runs
[ "$(ctl stop-charging | jq -r .requested)" = true ] || fail "stop-charging refused"
for _ in $(seq 300); do st=$(state); [ "$st" = fault ] || [ "$st" = ended ] && break; sleep 0.1; done
[ "$st" = fault ] || [ "$st" = ended ] || fail "the session did not end (state '$st')"
ctl status >"$work/status.json" || fail "no status"
kill -TERM "$v2xd_pid"
wait "$v2xd_pid"
rc=$?
v2xd_pid=
[ "$rc" = 0 ] || fail "v2xd exited $rc"
kill -TERM "$peer_pid"
wait "$peer_pid"
peer_pid=
kill -TERM "$feed_pid" 2>/dev/null
wait "$feed_pid" 2>/dev/null
feed_pid=

sum=$(grep '^SUMMARY' "$work/peer.out") || fail "hub_peer printed no summary"
echo "$sum"
kv() { echo "$sum" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
[ "$(kv sessions)" = 1 ] || fail "the station opened $(kv sessions) sessions, expected 1"
[ "$(kv acks)" -ge 1 ] || fail "the station acknowledged no stop"
grep -q 'kind=cmd stop=1' "$work/peer.out" || fail "no stop command reached the peer"

rows=$(tail -n +2 "$work"/out/v2g_sessions_*.csv)
echo "session: $rows"
[ "$(echo "$rows" | wc -l)" = 1 ] || fail "expected one session row"
IFS=, read -r _ _ _ _ _ _ _ _ max_a sid mac e_st price cost reason _ <<<"$rows"
[ "$reason" = stopped_by_user ] || fail "end reason $reason"
[ "$sid" = 1001 ] || fail "session id $sid, the peer's first is 1001"
[ "$mac" = 30:AE:A4:00:00:01 ] || fail "station $mac"
[ "$max_a" = 10.00 ] || fail "max current $max_a, the feed's 10 A"
e_peer=$(kv energy_kwh)
awk -v e="$e_st" -v p="$e_peer" -v c="$cost" -v pr="$price" 'BEGIN {
	d = e - p; if (d < 0) d = -d; dc = c - p * 1.5; if (dc < 0) dc = -dc
	exit !(p > 0 && d <= 0.01 * p && dc <= 0.01 * p * 1.5 && pr == 1.5) }' ||
	fail "energy $e_st kWh / cost $cost at $price vs the peer's $e_peer kWh at 1.5"
evcs=$(grep -c ',EVCS,' "$work"/out/ESP_now_data_*.csv)
[ "$evcs" -ge 10 ] || fail "only $evcs EVCS rows"
drops() { jq -r ".stages.hub_io.records.drops.$1" "$work/status.json"; }
echo "hub_io rejects: garbage $(drops garbage), non_finite $(drops non_finite), truncated $(drops truncated)," \
	"v2 frames $(drops v2_crc)/$(drops v2_cobs) crc/cobs"
[ "$(drops garbage)" -ge 1 ] && [ "$(drops non_finite)" -ge 1 ] || fail "the garbage start was not counted"
[ "$(drops stop_no_legacy)" = 0 ] || fail "a stop was dropped as legacy on a v2 link"
echo "ok: $evcs EVCS rows, session $sid $reason, $e_st kWh (peer $e_peer), cost $cost"
exit 0
