#!/usr/bin/env bash
# A real LTTng session around real programs: v2xd on a pseudo-terminal fed with Twizy lines, and a ring overfilled
# on purpose.  Checks with babeltrace2 that the v2x provider's events are recorded with the right counts, and that
# the batch events (can_batch_parsed, can_batch_decoded, log_batch) account for every record by seq ranges as
# trace/v2x_tp_provider.h defines them: the parsed ranges are contiguous from 1 and hold every record fed, each
# frame's can_frame_parsed time is its range's read time, decode's ranges hold every record once, the log's ranges
# every CAN frame once and no GPS fix.
# Starts lttng-sessiond if none runs (and stops that daemon again once no session remains), uses a unique session
# name, destroys it afterwards.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
TOOLS=$BUILD/tests/tools
fail() { echo "FAIL: $*"; exit 1; }
command -v lttng >/dev/null || { echo "lttng not installed"; exit 1; }
nm -C "$BIN" 2>/dev/null | grep -q lttng_ust_tracepoint || nm "$BIN" | grep -q '__tracepoint' ||
	{ echo "SKIP: $BIN built without tracepoints (TRACE=0)"; exit 77; }

work=$(mktemp -d /tmp/v2x-trace-XXXXXX)
session="v2x-test-$$-$RANDOM"
sessiond_pid=
v2xd_pid=
cleanup() {
	[ -n "$v2xd_pid" ] && kill -9 "$v2xd_pid" 2>/dev/null
	[ -n "${ours_overflow:-}" ] && kill -9 "$ours_overflow" 2>/dev/null
	lttng destroy "$session" >/dev/null 2>&1
	# Only the daemon this test started, and only when nobody else's session uses it (tests run in parallel).
	if [ -n "$sessiond_pid" ] && ! lttng list 2>/dev/null | grep -q '^ *[0-9]*) '; then
		kill "$sessiond_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$sessiond_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! pgrep -x lttng-sessiond >/dev/null; then
	lttng-sessiond --daemonize || fail "cannot start lttng-sessiond"
	sessiond_pid=$(cat /var/run/lttng/lttng-sessiond.pid 2>/dev/null)
	[ "$(cat /proc/"$sessiond_pid"/comm 2>/dev/null)" = lttng-sessiond ] || sessiond_pid=
fi
# The two programs wait on FIFOs until the session is set up (exec keeps the pid), so the session records only them
# (lttng track), not the v2xd of other tests or benchmarks running on the machine at the same time.
mkdir -p "$work/out"
mkfifo "$work/go-v2xd" "$work/go-overflow" || fail "mkfifo"
hold='read -r _ <"$1"; shift; exec "$@"'
bash -c "$hold" hold "$work/go-v2xd" "$BIN" --can-dev "$work/tty" --out "$work/out" --snapshot-s 1 --status-s 0 \
	2>"$work/v2xd.log" &
v2xd_pid=$!
ours_v2xd=$v2xd_pid
bash -c "$hold" hold "$work/go-overflow" "$TOOLS/ring_overflow" >/dev/null &
ours_overflow=$!
lttng create "$session" --output "$work/trace" >/dev/null || fail "lttng create"
lttng enable-channel -u chan --subbuf-size 1M --num-subbuf 8 --session "$session" >/dev/null || fail "enable-channel"
lttng add-context -u -t vtid -t vpid -t procname --session "$session" -c chan >/dev/null || fail "add-context"
lttng enable-event -u 'v2x:*' -c chan --session "$session" >/dev/null || fail "enable-event"
lttng track -u --session "$session" --vpid="$ours_v2xd,$ours_overflow" >/dev/null || fail "lttng track"
lttng start "$session" >/dev/null || fail "lttng start"

# 1. the CAN path: 2,000 generated lines (1,980 CAN frames, 20 GPS fixes)
PTY_FEED_DELAY_MS=1500 "$TOOLS/pty_feed" --link "$work/tty" --count 2000 --hold-ms 300 2>"$work/feed.log" &
feed_pid=$!
for _ in $(seq 100); do [ -e "$work/tty" ] && break; sleep 0.05; done
echo go >"$work/go-v2xd"
wait "$feed_pid" || fail "pty_feed failed: $(cat "$work/feed.log")"
kill -TERM "$v2xd_pid"
for _ in $(seq 200); do kill -0 "$v2xd_pid" 2>/dev/null || break; sleep 0.05; done
wait "$v2xd_pid"; rc=$?; v2xd_pid=
[ "$rc" = 0 ] || fail "v2xd exited $rc: $(tail -5 "$work/v2xd.log")"

# 2. a ring overfilled on purpose
echo go >"$work/go-overflow"
wait "$ours_overflow" || fail "ring_overflow misbehaved"

lttng stop "$session" >/dev/null || fail "lttng stop"
babeltrace2 "$work/trace" >"$work/events.txt" 2>"$work/bt.err" || fail "babeltrace2: $(head -3 "$work/bt.err")"

# Only this test's two processes were recorded (the tracker), and the count checks take only theirs anyway.
grep -E "vpid = ($ours_v2xd|$ours_overflow)[,}]" "$work/events.txt" >"$work/ours.txt"
[ "$(grep -c 'v2x:' "$work/events.txt")" = "$(wc -l <"$work/ours.txt")" ] ||
	fail "the session recorded other processes despite lttng track"
count() { grep -c "v2x:$1:" "$work/ours.txt"; }
echo "events recorded: $(wc -l <"$work/events.txt")"
for ev in can_bytes_read can_frame_parsed can_signals_decoded log_row gps_fix state_published stage_start \
	stage_stop snapshot_handoff snapshot_written snapshot_renamed link_state ring_overflow; do
	printf '  %-22s %s\n' "$ev" "$(count $ev)"
done
[ "$(count can_frame_parsed)" = 1980 ] || fail "can_frame_parsed: expected 1980 (one per CAN line fed)"
[ "$(count can_signals_decoded)" = 1980 ] || fail "can_signals_decoded: expected 1980"
[ "$(count log_row)" = 1980 ] || fail "log_row: expected 1980"
[ "$(count gps_fix)" = 20 ] || fail "gps_fix: expected 20"
[ "$(count ring_overflow)" = 3 ] || fail "ring_overflow: expected 3"
[ "$(count stage_start)" -ge 4 ] || fail "stage_start: expected the 4 threads of v2xd"
[ "$(count stage_stop)" -ge 3 ] || fail "stage_stop: expected can_rx, decode and log"
[ "$(count snapshot_renamed)" -ge 2 ] || fail "snapshot_renamed: expected at least the final snapshots"
[ "$(count state_published)" -ge 1 ] || fail "state_published: none"
# Each parsed frame's sequence numbers are 1..N in order, the same in the log stage.
grep 'v2x:can_frame_parsed:' "$work/ours.txt" | sed -n 's/.*seq = \([0-9]*\).*/\1/p' >"$work/seq_rx"
grep 'v2x:log_row:' "$work/ours.txt" | sed -n 's/.*seq = \([0-9]*\).*/\1/p' >"$work/seq_log"
cmp -s "$work/seq_rx" "$work/seq_log" || fail "log_row sequence numbers differ from can_frame_parsed's"
grep -q 'procname = "v2x-can-rx"' "$work/ours.txt" || fail "procname context of the receive thread missing"

# The batch events of v2xd's run (2,000 records: 1,980 CAN frames and 20 GPS fixes, seq 1..2000 on link 0).
grep -E "vpid = ${ours_v2xd}[,}]" "$work/ours.txt" >"$work/v2xd.txt"
/usr/bin/python3 - "$work/v2xd.txt" 2000 1980 <<'PYEOF' || fail "batch events do not account for every record"
import re, sys
lines, records, frames = open(sys.argv[1]).read().splitlines(), int(sys.argv[2]), int(sys.argv[3])
def events(name):
    out = []
    for l in lines:
        if "v2x:%s:" % name in l:
            out.append({k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", l.rsplit("{", 1)[1])})
    return out
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
parsed, decoded, logged = events("can_batch_parsed"), events("can_batch_decoded"), events("log_batch")
gps = {e["seq"] for e in events("gps_fix")}
pf = {e["seq"]: e["rx_mono_ns"] for e in events("can_frame_parsed")}
print("  can_batch_parsed %d, can_batch_decoded %d, log_batch %d events" % (len(parsed), len(decoded), len(logged)))
check(parsed and decoded and logged, "a batch event is missing")
# receive: ranges first_seq .. first_seq + count - 1, contiguous from 1, every record once
nxt, rx_of = 1, {}
for e in sorted(parsed, key=lambda e: e["first_seq"]):
    check(e["link"] == 0 and e["count"] >= 1 and e["first_seq"] == nxt, "parsed range %s after seq %d" % (e, nxt - 1))
    for s in range(e["first_seq"], e["first_seq"] + e["count"]):
        rx_of[s] = e["rx_mono_ns"]
    nxt = e["first_seq"] + e["count"]
check(nxt - 1 == records, "parsed ranges end at seq %d, %d records fed" % (nxt - 1, records))
check(len(gps) == 20 and len(pf) == frames and not (gps & set(pf)), "GPS fixes %d, CAN frames %d" % (len(gps), len(pf)))
check(all(rx_of.get(s) == t for s, t in pf.items()), "a frame's can_frame_parsed time is not its range's read time")
# decode: ranges first_seq .. last_seq holding count records; together every record once
held = []
for e in decoded:
    check(e["link"] == 0 and e["last_seq"] - e["first_seq"] + 1 == e["count"], "decode range %s" % e)
    held += range(e["first_seq"], e["last_seq"] + 1)
check(sorted(held) == list(range(1, records + 1)), "decode ranges hold %d seqs, not each record once" % len(held))
# log: ranges of CAN frames only; together every CAN frame once
held = []
for e in logged:
    check(e["link"] == 0 and e["last_seq"] - e["first_seq"] + 1 == e["count"], "log range %s" % e)
    held += range(e["first_seq"], e["last_seq"] + 1)
check(sorted(held) == sorted(pf), "log ranges hold %d seqs, not each CAN frame once" % len(held))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PYEOF
echo "trace session: ok"
