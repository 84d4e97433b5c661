#!/usr/bin/env bash
# perf/profile.sh - where v2xd spends its CPU: `perf record -g -e cpu-clock` of v2xd fed on a pseudo-terminal at bus
# rate (4,500 lines/s: 4,455 CAN frames and 45 GPS fixes; a saturated 500 kbit/s bus carries 4,500 frames/s) and at the maximum rate the pty takes, then per run a text report
# (perf report --stdio, top entries), folded stacks and a flame graph picture (perf/flamegraph.py, matplotlib).
#
#   perf/profile.sh [BUILD_DIR [OUT_DIR]]      (make profile: builds build/profile with frame pointers, runs this)
#   PROFILE_BUS_S=10 PROFILE_MAX_FRAMES=1000000 perf/profile.sh build/profile
#
# The feeder is tests/tools/pty_feed (the simulator, programs/v2xsim, is not in the tree yet): generated Twizy SIM
# lines with one GPS line per 100, paced in 1-ms steps (so at 4,500/s it writes 4 to 5 lines per wake-up).
# BUILD_DIR must hold bin/v2xd and tests/tools/pty_feed built with -fno-omit-frame-pointer (make profile does it).
# Writes OUT_DIR (default BUILD_DIR/profile-report)/{bus,max}.{data,report.txt,folded,png} and prints one PROFILE
# line per run: frames, rate, v2xd's CPU (user + system over the feed's wall time), samples, top symbols.
set -u
BUILD=${1:-build/profile}
OUT=${2:-$BUILD/profile-report}
HERE=$(cd "$(dirname "$0")" && pwd)
BUS_S=${PROFILE_BUS_S:-10}
MAX_FRAMES=${PROFILE_MAX_FRAMES:-1000000}
FREQ=${PROFILE_FREQ:-1999}
PY=/usr/bin/python3
fail() { echo "profile: $*" >&2; exit 1; }
command -v perf >/dev/null || fail "perf is not installed (Debian: linux-perf)"
[ -x "$BUILD/bin/v2xd" ] && [ -x "$BUILD/tests/tools/pty_feed" ] ||
	fail "$BUILD/bin/v2xd and $BUILD/tests/tools/pty_feed missing: make profile (or make BUILD=$BUILD all tests)"
mkdir -p "$OUT" || fail "cannot create $OUT"
work=$(mktemp -d /tmp/v2x-profile-XXXXXX)
v2xd_pid= feed_pid= perf_pid=
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null
	[ -n "$feed_pid" ] && kill "$feed_pid" 2>/dev/null
	[ -n "$v2xd_pid" ] && kill -9 "$v2xd_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# profile_run NAME LINES [RATE]: v2xd on a fresh pty, perf attached while pty_feed writes LINES lines.
profile_run() {
	local name=$1 lines=$2 rate=${3:-}
	local dir=$work/$name
	mkdir -p "$dir/out"
	local ts te c0 c1
	ts=$(date +%s.%N)
	PTY_FEED_DELAY_MS=1500 "$BUILD/tests/tools/pty_feed" --link "$dir/tty" --count "$lines" --hold-ms 200 \
		${rate:+--rate "$rate"} 2>"$dir/feed.log" &
	feed_pid=$!
	for _ in $(seq 100); do [ -e "$dir/tty" ] && break; sleep 0.05; done
	"$BUILD/bin/v2xd" --can-dev "$dir/tty" --out "$dir/out" --status-s 0 2>"$dir/v2xd.log" &
	v2xd_pid=$!
	for _ in $(seq 100); do grep -q ': open' "$dir/v2xd.log" 2>/dev/null && break; sleep 0.05; done
	c0=$(cpu_ticks "$v2xd_pid") # start-up excluded; the feeder writes from 1.5 s after it started
	perf record -q -g -e cpu-clock -F "$FREQ" -p "$v2xd_pid" -o "$OUT/$name.data" 2>"$dir/perf.log" &
	perf_pid=$!
	wait "$feed_pid" || fail "$name: pty_feed failed: $(cat "$dir/feed.log")"
	feed_pid=
	te=$(date +%s.%N); c1=$(cpu_ticks "$v2xd_pid")
	kill -INT "$perf_pid"; wait "$perf_pid"; perf_pid=
	kill -TERM "$v2xd_pid"; wait "$v2xd_pid" || fail "$name: v2xd failed: $(tail -3 "$dir/v2xd.log")"
	v2xd_pid=
	local frames rows
	frames=$((lines - lines / 100))
	rows=$(($(wc -l <"$dir/out/can_data.csv") - 1))
	[ "$rows" = "$frames" ] || echo "profile: $name: warning: $rows CSV rows for $frames frames fed" >&2
	# the stream's wall time: the feeder's life minus its 1.5 s start delay and its 0.2 s hold after the last byte
	# was read (the hold and a little of the delay count in the CPU time: v2xd idles then)
	local wall cpu_pct fps
	wall=$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.3f", b - a - 1.7 }')
	cpu_pct=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v w="$wall" 'BEGIN { printf "%.1f", 100 * c / hz / w }')
	fps=$(awk -v f="$frames" -v w="$wall" 'BEGIN { printf "%.0f", f / w }')
	perf report -i "$OUT/$name.data" --stdio --no-children --percent-limit 0.5 --sort comm,dso,sym 2>/dev/null \
		| grep -v '^$' >"$OUT/$name.report.txt"
	perf report -i "$OUT/$name.data" --stdio --no-children --sort sym -g none --percent-limit 1 2>/dev/null \
		| grep -E '^ +[0-9.]+%' >"$OUT/$name.top.txt"
	perf script -i "$OUT/$name.data" 2>/dev/null | $PY "$HERE/flamegraph.py" --out "$OUT/$name.png" \
		--folded "$OUT/$name.folded" --title "v2xd, $name: $frames frames at $fps/s, CPU $cpu_pct % of a core" ||
		fail "$name: flame graph failed"
	local samples top
	samples=$(awk '{ n += $NF } END { print n + 0 }' "$OUT/$name.folded")
	top=$(head -5 "$OUT/$name.top.txt" | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $NF, $1 }')
	echo "PROFILE run=$name frames=$frames fps=$fps v2xd_cpu_pct=$cpu_pct sample_weight=$samples top=$top"
}

echo "profile: $BUILD/bin/v2xd, perf record -g -e cpu-clock -F $FREQ; reports in $OUT"
profile_run bus $((4500 * BUS_S)) 4500
profile_run max "$MAX_FRAMES"
echo "profile: reports $OUT/{bus,max}.report.txt, flame graphs $OUT/{bus,max}.png"
