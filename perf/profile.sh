#!/usr/bin/env bash
# perf/profile.sh - where v2xd spends its CPU: `perf record -g -e cpu-clock` of v2xd on the built-in simulator
# (programs/v2xsim: the CAN+GPS bridge on one pty, the radio hub on another, a second vehicle and the station's
# slots on the simulated radio, the car parked and plugged in so a V2G session runs, snapshots every 4 s) at bus rate
# (v2xsim --rate 4500: a saturated 500 kbit/s bus carries 4,500 frames/s) and at the maximum rate (--rate 9000
# --speed 100: more than the simulated bridge can push, so v2xd takes whatever arrives), then per run a text report
# (perf report --stdio, top entries), folded stacks and a flame graph picture (perf/flamegraph.py, matplotlib).
#
#   perf/profile.sh [BUILD_DIR [OUT_DIR]]      (make profile: builds build/profile with frame pointers, runs this)
#   PROFILE_BUS_S=10 PROFILE_MAX_S=5 perf/profile.sh build/profile
#
# BUILD_DIR must hold bin/v2xd and bin/v2xsim built with -fno-omit-frame-pointer (make profile does it).  The uplink
# is off (no broker): bench_pipeline.sh measures the whole pipeline with one.
# Writes OUT_DIR (default BUILD_DIR/profile-report)/{bus,max}.{data,report.txt,top.txt,folded,png} and prints one
# PROFILE line per run: frames the bridge sent, rows logged, rate, v2xd's CPU (all threads, over the recorded
# window), samples, top symbols.
set -u
BUILD=${1:-build/profile}
OUT=${2:-$BUILD/profile-report}
HERE=$(cd "$(dirname "$0")" && pwd)
BUS_S=${PROFILE_BUS_S:-10}
MAX_S=${PROFILE_MAX_S:-5}
FREQ=${PROFILE_FREQ:-1999}
PY=/usr/bin/python3
fail() { echo "profile: $*" >&2; exit 1; }
command -v perf >/dev/null || fail "perf is not installed (Debian: linux-perf; make deps)"
[ -x "$BUILD/bin/v2xd" ] && [ -x "$BUILD/bin/v2xsim" ] ||
	fail "$BUILD/bin/v2xd and $BUILD/bin/v2xsim missing: make profile (or make BUILD=$BUILD all)"
mkdir -p "$OUT" || fail "cannot create $OUT"
work=$(mktemp -d /tmp/v2x-profile-XXXXXX)
v2xd_pid= sim_pid= perf_pid=
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	[ -n "$v2xd_pid" ] && kill -9 "$v2xd_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# on-CPU nanoseconds of every thread of a process (schedstat's first field)
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# a UDP port of our own for the simulated radio: other people's simulators on the default port would be heard
radio_port=$($PY -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# profile_run NAME SECONDS RATE SPEED: v2xd on the simulator's ptys, perf attached for the simulator's run.
profile_run() {
	local name=$1 secs=$2 rate=$3 speed=$4
	local dir=$work/$name
	mkdir -p "$dir/out"
	# v2xd first, polling for the devices every 10 ms, so it reads from the simulator's first byte
	"$BUILD/bin/v2xd" --can-dev "$dir/can" --baud 921600 --hub-dev "$dir/hub" --hub-baud 921600 --out "$dir/out" \
		--status-s 0 --snapshot-s 4 --v2g-state-dir "$dir/state" --uplink-spool-dir "$dir/spool" \
		--can-rx-reopen-ms 10 --hub-reopen-ms 10 2>"$dir/v2xd.log" &
	v2xd_pid=$!
	sleep 0.3
	kill -0 "$v2xd_pid" 2>/dev/null || fail "$name: v2xd did not start: $(tail -3 "$dir/v2xd.log")"
	perf record -q -g -e cpu-clock -F "$FREQ" -p "$v2xd_pid" -o "$OUT/$name.data" 2>"$dir/perf.log" &
	perf_pid=$!
	local c0 w0 c1 w1
	c0=$(cpu_ns "$v2xd_pid") w0=$(date +%s.%N)
	"$BUILD/bin/v2xsim" --scenario "$HERE/scenario_parked.txt" --rate "$rate" --speed "$speed" --duration $((secs * speed)) \
		--radio-port "$radio_port" --can-pty "$dir/can" --hub-pty "$dir/hub" --summary "$dir/sim.txt" --quiet \
		>"$dir/v2xsim.out" 2>"$dir/v2xsim.log" &
	sim_pid=$!
	# the simulator stops by itself (--duration); bounded anyway
	for _ in $(seq $((secs * 10 + 100))); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$sim_pid" 2>/dev/null
	wait "$sim_pid" || fail "$name: v2xsim failed: $(tail -3 "$dir/v2xsim.log")"
	sim_pid=
	c1=$(cpu_ns "$v2xd_pid") w1=$(date +%s.%N)
	kill -INT "$perf_pid"; wait "$perf_pid"; perf_pid=
	kill -TERM "$v2xd_pid"
	for _ in $(seq 100); do kill -0 "$v2xd_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$v2xd_pid" || fail "$name: v2xd failed: $(tail -3 "$dir/v2xd.log")"
	v2xd_pid=
	local sent rows wall cpu_pct fps
	sent=$(awk '$1 == "bridge" { for (i = 2; i <= NF; i++) if ($i ~ /^can_sent=/) { sub("can_sent=", "", $i); print $i } }' "$dir/sim.txt")
	rows=$(($(wc -l <"$dir/out/can_data.csv") - 1))
	[ "$rows" = "${sent:-x}" ] || echo "profile: $name: note: $rows CSV rows for ${sent:-?} frames the bridge sent" >&2
	# the window: from before the simulator started to after it ended (v2xd idles a little at both ends)
	wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')
	cpu_pct=$(awk -v c="$((c1 - c0))" -v w="$wall" 'BEGIN { printf "%.2f", c / 1e7 / w }')
	fps=$(awk -v f="$rows" -v s="$secs" 'BEGIN { printf "%.0f", f / s }')
	perf report -i "$OUT/$name.data" --stdio --no-children --percent-limit 0.5 --sort comm,dso,sym 2>/dev/null \
		| grep -v '^$' >"$OUT/$name.report.txt"
	perf report -i "$OUT/$name.data" --stdio --no-children --sort sym -g none --percent-limit 1 2>/dev/null \
		| grep -E '^ +[0-9.]+%' >"$OUT/$name.top.txt"
	perf script -i "$OUT/$name.data" 2>/dev/null | $PY "$HERE/flamegraph.py" --out "$OUT/$name.png" \
		--folded "$OUT/$name.folded" --title "v2xd on v2xsim, $name: $rows frames at $fps/s, CPU $cpu_pct % of a core" ||
		fail "$name: flame graph failed"
	local samples top
	samples=$(awk '{ n += $NF } END { print n + 0 }' "$OUT/$name.folded")
	top=$(head -5 "$OUT/$name.top.txt" | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $NF, $1 }')
	echo "PROFILE run=$name sent=${sent:-?} frames=$rows fps=$fps v2xd_cpu_pct=$cpu_pct sample_weight=$samples top=$top"
}

echo "profile: $BUILD/bin/v2xd, perf record -g -e cpu-clock -F $FREQ; reports in $OUT"
profile_run bus "$BUS_S" 4500 1
profile_run max "$MAX_S" 9000 100
echo "profile: reports $OUT/{bus,max}.report.txt, flame graphs $OUT/{bus,max}.png"
