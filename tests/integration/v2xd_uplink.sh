#!/usr/bin/env bash
# The whole daemon's telemetry through outages and a crash (issue 9): v2xd samples its published state ten times a
# second into the spool and sends it to a real mosquitto broker on 127.0.0.1; the broker is stopped (a tunnel), the
# samples pile up in the spool, v2xd is SIGKILLed with that backlog on disk, the broker comes back, v2xd is started
# again on the same spool: every sample arrives, in order of its sequence number, none missing (QoS 1 may deliver a
# sample twice: duplicates are allowed, gaps are not), each with the data time and the vehicle keys, and the token is
# in no output.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
CTL=$BUILD/bin/v2xctl
command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null || { echo "mosquitto missing (make deps)"; exit 77; }
work=$(mktemp -d /tmp/v2x-uplink-XXXXXX)
broker= sub= v2xd= feed= port=0
cleanup() {
	for p in $v2xd $sub $broker $feed; do kill -KILL "$p" 2>/dev/null; done
	pkill -KILL -f "mosquitto_sub -h 127.0.0.1 -p $port " 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -5 "$work"/v2xd*.log 2>/dev/null; exit 1; }
token=tok-$RANDOM-secret
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
start_broker() {
	mosquitto -c "$work/mosquitto.conf" >>"$work/mosquitto.log" 2>&1 &
	broker=$!
	for _ in $(seq 100); do
		/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "mosquitto did not start"
}
start_broker
# A persistent QoS 1 subscriber: it keeps its session across the broker's outage by reconnecting (-c, fixed id).
( while :; do mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -c -i v2x-test-sub -t 'v1/devices/me/telemetry' \
	>>"$work/telemetry.txt" 2>/dev/null; sleep 0.1; done ) &
sub=$!
# The vehicle's data keeps changing (a sample is taken only when there is newer data): a feed of 200 lines/s on a
# pty, for at most 60 s, that outlives v2xd's crash (v2xd reopens the port when it starts again).
"$BUILD/tests/tools/pty_feed" --link "$work/tty" --rate 200 --count 12000 --hold-ms 100 >/dev/null 2>&1 &
feed=$!
for _ in $(seq 100); do [ -e "$work/tty" ] && break; sleep 0.05; done

run_v2xd() { # log name
	"$BIN" --can-dev "$work/tty" --out "$work/out" --socket "$work/v2xd.sock" --status-s 1 \
		--uplink-host 127.0.0.1 --uplink-port "$port" --uplink-token "$token" --uplink-sample-interval-ms 100 \
		--uplink-reconnect-min-ms 100 --uplink-reconnect-max-s 1 --uplink-spool-dir "$work/spool" \
		--uplink-spool-fsync-ms 100 2>"$work/$1" &
	v2xd=$!
	for _ in $(seq 200); do [ -S "$work/v2xd.sock" ] && return 0; sleep 0.05; done
	fail "v2xd did not start"
}
uplink_field() { # name -> value from `v2xctl uplink --json`
	"$CTL" --socket "$work/v2xd.sock" uplink --json 2>/dev/null |
		/usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin).get('$1', ''))" 2>/dev/null
}
wait_acked() { # at least N samples acknowledged
	for _ in $(seq 300); do
		[ "$(uplink_field acked_samples)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	fail "fewer than $1 samples acknowledged: $("$CTL" --socket "$work/v2xd.sock" uplink --json)"
}

# 1. connected: samples flow.
run_v2xd v2xd-1.log
wait_acked 5
# 2. the broker goes away (a tunnel): samples pile up in the spool.
kill -TERM "$broker"; wait "$broker" 2>/dev/null; broker=
for _ in $(seq 300); do
	[ "$(uplink_field spool_records)" -ge 15 ] 2>/dev/null && break
	sleep 0.1
done
backlog=$(uplink_field spool_records)
[ "${backlog:-0}" -ge 15 ] || fail "no backlog in the spool ($backlog)"
# 3. power lost: SIGKILL with the backlog on disk.
kill -KILL "$v2xd"; wait "$v2xd" 2>/dev/null; v2xd=
# 4. the broker returns (and the test's subscriber with it: a probe message proves it listens again), v2xd starts
# again on the same spool and drains it before live data.
start_broker
for i in $(seq 100); do
	mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t 'v1/devices/me/telemetry' -m "[{\"ts\":1,\"values\":{\"probe\":$i}}]" \
		2>/dev/null
	grep -q '"probe"' "$work/telemetry.txt" 2>/dev/null && break
	sleep 0.1
done
run_v2xd v2xd-2.log
# Drained: the backlog acknowledged and the spool empty at one look (live samples keep arriving, ten a second, so
# a later look may find the newest one not yet acknowledged).
drained=0
for _ in $(seq 300); do
	[ "$(uplink_field spool_records)" = 0 ] && [ "$(uplink_field acked_samples)" -ge "$backlog" ] 2>/dev/null &&
		{ drained=1; break; }
	sleep 0.1
done
[ "$drained" = 1 ] || fail "the spool did not drain: $("$CTL" --socket "$work/v2xd.sock" uplink --json)"
"$CTL" --socket "$work/v2xd.sock" status >"$work/status.txt" 2>&1
"$CTL" --socket "$work/v2xd.sock" config >"$work/config.txt" 2>&1
kill -TERM "$v2xd"; wait "$v2xd"; rc=$?; v2xd=
[ "$rc" = 0 ] || fail "v2xd exited $rc"
sleep 0.5

/usr/bin/python3 - "$work/telemetry.txt" "$backlog" <<'EOF' || fail "telemetry checks"
import json, sys
seqs, keys_ok, ts_ok, volts = [], True, True, False
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    for e in json.loads(line):
        v = e["values"]
        if "probe" in v:
            continue
        seqs.append(v["sample_seq"])
        ts_ok &= isinstance(e["ts"], int) and e["ts"] > 1.6e12
        if "session_event" not in v:
            # soc comes with the feed's first frame (0x155); the pack voltage's frame comes later in its cycle
            keys_ok &= "soc" in v
            volts |= "battery_voltage" in v
uniq = sorted(set(seqs))
assert uniq == list(range(1, len(uniq) + 1)), "gaps in sample_seq: %s" % [s for s in range(1, uniq[-1]) if s not in set(uniq)][:10]
assert len(uniq) >= 5 + int(sys.argv[2]), (len(uniq), sys.argv[2])
order = [s for i, s in enumerate(seqs) if i == 0 or s > seqs[i - 1]]
assert ts_ok, "a sample without its data time"
assert keys_ok and volts, "samples without the vehicle keys"
print("uplink: %d samples delivered (%d duplicates), sample_seq 1..%d without a gap, %s backlog drained after SIGKILL"
      % (len(uniq), len(seqs) - len(uniq), uniq[-1], sys.argv[2]))
EOF
# The token never appears in what v2xd prints or serves.
if grep -l -- "$token" "$work"/v2xd-*.log "$work/status.txt" "$work/config.txt" >/dev/null 2>&1; then
	fail "the token appears in: $(grep -l -- "$token" "$work"/v2xd-*.log "$work/status.txt" "$work/config.txt")"
fi
echo "v2xd uplink through an outage and a SIGKILL: ok"
