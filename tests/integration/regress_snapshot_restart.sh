#!/usr/bin/env bash
# Regression for issue 13 defect 6: after a restart the snapshots were replaced by header-only files until new data
# arrived, while can_data.csv held the history.  A snapshot file is the latest --snapshot-rows rows (README); so
# across a restart on the same --out, and before any new data arrives, can_data_snapshot.csv must still hold the last
# rows of can_data.csv, also after the restarted daemon rewrote it; gps_data_snapshot.csv likewise.  A third run with
# five new frames then shows the window continuing: 15 old rows followed by the 5 new ones.
# Every wait is bounded; the daemon reads a regular file as --can-dev (read once, then "end of file").
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-regress-snaprestart-XXXXXX)
out=$work/out
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fail=0
ROWS=20

die() { echo "FAIL: $*"; [ -f "$work/v2xd.log" ] && sed 's/^/  /' "$work/v2xd.log" | tail -8; exit 1; }
wait_for() { # wait_for SECONDS COMMAND...
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
lines_in() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# frames FIRST COUNT: SIM lines whose bytes 5..6 carry the frame's number (legacy link-1 format)
frames() {
	for ((i = $1; i < $1 + $2; i++)); do
		printf 'SIM 155 8 07 08 F0 54 6D %02X %02X 00\r\n' $((i >> 8)) $((i & 255))
		if [ $((i % 25)) = 24 ]; then printf 'GPS 48.858370 2.294481 35.0 %d.0 9 0.90 2025-8-18 12:5:%d 1\r\n' \
			$((i % 50)) $((i % 60)); fi
	done
}

start() { # start INPUT: v2xd on INPUT, until it has read it all
	: >"$work/v2xd.log"
	"$BIN" --can-dev "$1" --out "$out" --snapshot-s 1 --snapshot-rows $ROWS --status-s 0 >>"$work/v2xd.log" 2>&1 &
	pid=$!
	wait_for 30 grep -q 'end of file' "$work/v2xd.log" || die "v2xd did not read $1"
}
stop() {
	kill -TERM "$pid"
	local rc=0
	wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || die "v2xd did not stop on SIGTERM"
	wait "$pid" || rc=$?
	pid=
	[ "$rc" = 0 ] || die "v2xd exited $rc"
}
# expect_window WHAT CSV SNAPSHOT N: the snapshot is CSV's header and its last N rows (N > 0)
expect_window() {
	local what=$1 csv=$2 snap=$3 n=$4
	{ head -1 "$csv"; tail -n "$n" "$csv"; } >"$work/want"
	if ! cmp -s "$work/want" "$snap"; then
		echo "FAIL: $what: $(basename "$snap") is not the header + the last $n rows of $(basename "$csv")"
		diff "$work/want" "$snap" | head -6 | sed 's/^/  /'
		fail=1
		return
	fi
	echo "ok: $what: $(basename "$snap") holds the last $n rows ($(($(wc -l <"$snap") - 1)) rows)"
}
inode() { stat -c %i "$1" 2>/dev/null; }

# Run 1: 50 frames and 2 GPS fixes.
frames 0 50 >"$work/in1.txt"
start "$work/in1.txt"
wait_for 30 lines_in "$out/can_data.csv" 51 || die "run 1: can_data.csv did not get 50 rows"
stop
[ "$(wc -l <"$out/can_data.csv")" = 51 ] || die "run 1: can_data.csv has $(wc -l <"$out/can_data.csv") lines"
expect_window "run 1, stopped" "$out/can_data.csv" "$out/can_data_snapshot.csv" $ROWS
expect_window "run 1, stopped" "$out/gps_data.csv" "$out/gps_data_snapshot.csv" 2

# Run 2: restarted with no new data.  The daemon rewrites the snapshots every second: wait for a rewrite (a new
# inode: written to .tmp and renamed) and check it still holds the previous rows.
: >"$work/in2.txt"
before=$(inode "$out/can_data_snapshot.csv")
start "$work/in2.txt"
wait_for 10 bash -c "[ \"\$(stat -c %i '$out/can_data_snapshot.csv' 2>/dev/null)\" != '$before' ]" ||
	die "run 2: the snapshot was not rewritten within 10 s"
sleep 0.2
expect_window "run 2, rewritten before new data" "$out/can_data.csv" "$out/can_data_snapshot.csv" $ROWS
expect_window "run 2, rewritten before new data" "$out/gps_data.csv" "$out/gps_data_snapshot.csv" 2
stop
expect_window "run 2, stopped" "$out/can_data.csv" "$out/can_data_snapshot.csv" $ROWS

# Run 3: five new frames: the window continues from the previous rows.
frames 50 5 >"$work/in3.txt"
start "$work/in3.txt"
wait_for 30 lines_in "$out/can_data.csv" 56 || die "run 3: can_data.csv did not get the 5 new rows"
stop
expect_window "run 3, 5 new frames" "$out/can_data.csv" "$out/can_data_snapshot.csv" $ROWS
# the last five snapshot rows are the new frames 50..54 (data bytes 5..6), the 15 before are frames 35..49
got=$(tail -n $ROWS "$out/can_data_snapshot.csv" | cut -d, -f4 | while read -r _ _ _ _ _ hi lo _; do
	printf '%d ' $((16#$hi * 256 + 16#$lo))
done)
want=$(seq 35 54 | tr '\n' ' ')
if [ "$got" = "$want" ]; then
	echo "ok: run 3: the snapshot holds frames 35..54"
else
	echo "FAIL: run 3: the snapshot holds frames '$got', want '$want'"; fail=1
fi
exit $fail
