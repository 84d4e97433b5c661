#!/usr/bin/env bash
# bench_pipeline.sh - the whole vehicle pipeline on the simulator, in five configurations interleaved in one run.
#
#   perf/bench_pipeline.sh [--rounds N] [--bus-s S] [--max-s S] [--configs LIST] [--rates LIST] [--keep]
#                          [--no-build] [--max-wall S]
#   (BUILD=dir, default build; the RING=mutex and TRACE=0 variants go to $BUILD-mutex and $BUILD-notrace)
#
# Each run: v2xsim (every board: the CAN+GPS bridge on one pty, the radio hub on another, a second vehicle (V2V)
# and the station's slots (V2G), parked and plugged in at the station) -> v2xd (--snapshot-s 4, the uplink to a
# mosquitto broker this script starts on a free loopback port) at
#   bus  4,500 frames/s (v2xsim --rate 4500, real time), and
#   max  as fast as v2xsim pushes (--rate 9000 --speed 100: 900,000 frames/s offered; the simulator's bridge thread
#        is the limit, about 85,000 frames/s here; what it could not send is counted by it as can_lost_tx).
# Configurations (only v2xd changes; the simulator, v2xctl and the broker are the same binaries for all):
#   ring     the default build and profile: lock-free SPSC rings, coalesced wake-ups
#   latency  the same binary with --profile latency (a wake-up per record, reads at once)
#   mutex    v2xd built with RING=mutex (rt/ring_mutex.c: a mutex + condition variable queue), default profile
#   traced   the default binary while an LTTng session (trace/v2x-trace start) records every v2x event
#   notrace  v2xd built with TRACE=0 (no tracepoints compiled in), default profile: `ring` against it is the cost of
#            tracepoints compiled in but no session
#   ltraced  (only with --configs) latency's v2xd under a trace session: at maximum rate the coalesced configurations
#            take what their read interval lets in, so a throughput cost of tracing shows only against `latency`
# Rounds interleave them (ring latency mutex traced notrace, then the reverse order, ...) at each rate, so a burst of
# load from other processes hits every configuration alike.  Per run it measures, from v2xd's own interfaces:
#   throughput  frames logged per second over the steady window (log stage records, v2xctl status, from 2 s after
#               start to 1 s before the simulator stops);
#   loss        frames the bridge sent (v2xsim summary can_sent) against rows in can_data.csv, v2xd's link-loss
#               counters (v2 sequence gaps, CAN frame numbers) and rows lost; can_lost_tx: frames the simulated
#               bridge could not write because the pty was full (v2xd not reading fast enough);
#   latency     v2xctl stats --json at the end: decode rx_to_decoded, log rx_to_logged and rx_to_file (p50, p99,
#               p99.9, max: v2xd's log-linear histograms, a value is its bucket's upper bound, over the whole run);
#   CPU         v2xd's on-CPU time over the steady window (sum of every thread's /proc/PID/task/TID/schedstat, ns,
#               i.e. utime+stime at nanosecond resolution) as % of one core, and per frame; context switches/s;
#   memory      VmHWM (peak RSS) at the end.
# Instructions per frame need hardware counters (not in this VM) or callgrind: `make callgrind` (perf/README.md).
# Then per configuration and rate the median over rounds, the ratios to `ring` (and ring/notrace), and one
# SUMMARY line.  Exit status: 0, 1 if a run failed its checks (rows != frames sent, v2xd exited non-zero, ...),
# 2 usage.  Everything it starts (broker, simulators, daemons, trace session and the LTTng daemons v2x-trace
# started) is stopped; run files stay in $BUILD/bench_pipeline (the CSV files and traces are removed after each run).
set -u
PROG=bench_pipeline
ROUNDS=2
BUS_S=12
MAX_S=8
CONFIGS="ring latency mutex traced notrace"
RATES="bus max"
KEEP=0
BUILD_FIRST=1
MAX_WALL=600
usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=${2:?}; shift ;;
	--bus-s) BUS_S=${2:?}; shift ;;
	--max-s) MAX_S=${2:?}; shift ;;
	--configs) CONFIGS=$(echo "${2:?}" | tr ',' ' '); shift ;;
	--rates) RATES=$(echo "${2:?}" | tr ',' ' '); shift ;;
	--keep) KEEP=1 ;;
	--no-build) BUILD_FIRST=0 ;;
	--max-wall) MAX_WALL=${2:?}; shift ;;
	-h|--help) usage ;;
	*) echo "$PROG: unknown option $1" >&2; usage ;;
	esac
	shift
done
for v in "$ROUNDS" "$BUS_S" "$MAX_S" "$MAX_WALL"; do
	[[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "$PROG: counts and seconds are positive integers" >&2; exit 2; }
done
[ "$BUS_S" -ge 5 ] && [ "$MAX_S" -ge 5 ] || { echo "$PROG: runs of at least 5 s (2 s warm-up, 1 s tail)" >&2; exit 2; }
for c in $CONFIGS; do
	case $c in ring|latency|mutex|traced|notrace|ltraced) ;; *) echo "$PROG: unknown configuration $c" >&2; exit 2 ;; esac
done
for r in $RATES; do
	case $r in bus|max) ;; *) echo "$PROG: unknown rate $r (bus, max)" >&2; exit 2 ;; esac
done

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BUILD=${BUILD:-build}
MUTEX_BUILD=${MUTEX_BUILD:-$BUILD-mutex}
NOTRACE_BUILD=${NOTRACE_BUILD:-$BUILD-notrace}
renice -n "${BENCH_NICE:-10}" -p $$ >/dev/null 2>&1 # every child inherits it: other people's work goes first

if [ "$BUILD_FIRST" = 1 ]; then
	echo "$PROG: building $BUILD, $MUTEX_BUILD (RING=mutex), $NOTRACE_BUILD (TRACE=0)" >&2
	{ make --no-print-directory -s BUILD="$BUILD" -j2 "$BUILD/bin/v2xd" "$BUILD/bin/v2xsim" "$BUILD/bin/v2xctl" &&
		{ [[ " $CONFIGS " != *" mutex "* ]] ||
			make --no-print-directory -s BUILD="$MUTEX_BUILD" RING=mutex -j2 "$MUTEX_BUILD/bin/v2xd"; } &&
		{ [[ " $CONFIGS " != *" notrace "* ]] ||
			make --no-print-directory -s BUILD="$NOTRACE_BUILD" TRACE=0 -j2 "$NOTRACE_BUILD/bin/v2xd"; }; } >&2 ||
		{ echo "$PROG: build failed" >&2; exit 1; }
fi
BIN=$ROOT/$BUILD/bin
for f in "$BIN/v2xd" "$BIN/v2xsim" "$BIN/v2xctl"; do
	[ -x "$f" ] || { echo "$PROG: $f missing (make BUILD=$BUILD all)" >&2; exit 1; }
done
v2xd_of() {
	case $1 in
	mutex) echo "$ROOT/$MUTEX_BUILD/bin/v2xd" ;;
	notrace) echo "$ROOT/$NOTRACE_BUILD/bin/v2xd" ;;
	*) echo "$BIN/v2xd" ;;
	esac
}
for c in $CONFIGS; do
	[ -x "$(v2xd_of "$c")" ] || { echo "$PROG: $(v2xd_of "$c") missing" >&2; exit 1; }
done
if [[ " $CONFIGS " == *"traced "* ]] && ! command -v lttng >/dev/null; then
	echo "$PROG: lttng not installed: leave out the traced configuration (--configs)" >&2; exit 1
fi
command -v mosquitto >/dev/null || { echo "$PROG: mosquitto not installed" >&2; exit 1; }

NO_LTTNG=0
"$ROOT/perf/no_lttng.sh" true 2>/dev/null && NO_LTTNG=1
work=$ROOT/$BUILD/bench_pipeline
rm -rf "$work"
mkdir -p "$work"
results=$work/results.txt
: >"$results"
export V2X_TRACE_STATE=$work/trace-state # v2x-trace's sessions and the daemons it started, ours only
pids=()
trace_on=0
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ "$trace_on" = 1 ] && "$ROOT/trace/v2x-trace" stop >/dev/null 2>&1
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget() { # drop a process we waited for from the clean-up list (its pid may be reused)
	local keep=() p
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
free_port() { # a free loopback port: tcp or udp
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# The broker, for every run.
port=$(free_port tcp)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
ok=0
for _ in $(seq 50); do
	/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] || { echo "$PROG: the broker did not start (see $work/mosquitto.log)" >&2; exit 1; }
# The simulated radio on a UDP port of its own: runs of other people on the default port would be heard otherwise.
radio_port=$(free_port udp)


# cpu_ns PID: on-CPU nanoseconds of every thread of PID (schedstat's first field); ctx PID: context switches.
# (%.0f, not %d: mawk clamps %d to 2^31 - 1, which is 2.1 s of CPU.)
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { printf "%.0f\n", s }'; }
# Trace sessions of other users of this machine: LTTng maps a session's buffers into every traced process and its
# enabled tracepoints cost time, so a run during one is not an untraced run (reported with the run, not fatal).
other_sessions() {
	command -v lttng >/dev/null || { echo 0; return; }
	lttng list 2>/dev/null | grep -E '^ *[0-9]+\) ' | grep -vc "v2xbench-$$-"
}
status_json() { "$BIN/v2xctl" --socket "$1" --json --timeout 3 status 2>/dev/null; }

# run CONFIG RATE ROUND: one run; appends one line of key=value to $results.
run() {
	local cfg=$1 rate=$2 round=$3
	local dir=$work/$rate-$cfg-$round secs speed simrate args=()
	mkdir -p "$dir"
	if [ "$rate" = bus ]; then secs=$BUS_S speed=1 simrate=4500; else secs=$MAX_S speed=100 simrate=9000; fi
	[ "$cfg" = latency ] || [ "$cfg" = ltraced ] && args+=(--profile latency)
	local others0
	others0=$(other_sessions)
	local tp_rate=$((simrate * speed))
	[ "$tp_rate" -gt 100000 ] && tp_rate=100000
	# v2xd first, polling for the devices every 10 ms, so it reads from the simulator's first byte (a pty that
	# nobody reads fills in milliseconds at the maximum rate, and the simulated bridge then drops frames).
	# Untraced configurations run hidden from every LTTng session daemon (perf/no_lttng.sh): other people's sessions
	# on this machine would otherwise record them.
	local iso=()
	[ "$cfg" = traced ] || [ "$cfg" = ltraced ] || [ "$NO_LTTNG" != 1 ] || iso=("$ROOT/perf/no_lttng.sh")
	"${iso[@]}" "$(v2xd_of "$cfg")" --can-dev "$dir/can" --baud 921600 --hub-dev "$dir/hub" --hub-baud 921600 --out "$dir/out" \
		--socket "$dir/v2xd.sock" --status-s 0 --snapshot-s 4 --v2g-state-dir "$dir/state" \
		--uplink-spool-dir "$dir/spool" --uplink-host 127.0.0.1 --uplink-port "$port" \
		--uplink-token "bench-$cfg" --uplink-client-id "v2xbench-$$-$cfg-$rate-$round" \
		--can-rx-reopen-ms 10 --hub-reopen-ms 10 "${args[@]}" 2>"$dir/v2xd.log" &
	local vd=$!
	pids+=("$vd")
	# The session records this v2xd only (--pid): with per-user buffers it would record every other v2xd of root.
	# v2xd waits for the simulator's ptys meanwhile, so no frame goes by before the session runs.
	if [ "$cfg" = traced ] || [ "$cfg" = ltraced ]; then
		"$ROOT/trace/v2x-trace" start --name "v2xbench-$$-$cfg-$rate-$round" --output "$dir/trace" --rate "$tp_rate" \
			--pid "$vd" >"$dir/trace.log" 2>&1 || { echo "$PROG: v2x-trace start failed: $(cat "$dir/trace.log")" >&2; return 1; }
		trace_on=1
	fi
	sleep 0.3
	"$BIN/v2xsim" --scenario "$ROOT/perf/scenario_parked.txt" --rate "$simrate" --speed "$speed" --duration $((secs * speed)) \
		--radio-port "$radio_port" --can-pty "$dir/can" --hub-pty "$dir/hub" --summary "$dir/sim.txt" --quiet \
		>"$dir/v2xsim.out" 2>"$dir/v2xsim.log" &
	local sim=$!
	pids+=("$sim")
	for _ in $(seq 100); do [ -e "$dir/can" ] && [ -e "$dir/hub" ] && break; sleep 0.05; done
	local t0
	t0=$(date +%s.%N)
	sleep 2
	status_json "$dir/v2xd.sock" >"$dir/status0.json"
	local c0 x0 w0
	c0=$(cpu_ns "$vd") x0=$(ctx "$vd") w0=$(date +%s.%N)
	sleep "$(awk -v s="$secs" -v t0="$t0" -v now="$w0" 'BEGIN { d = s - 1 - (now - t0); print (d > 0.5 ? d : 0.5) }')"
	local c1 x1 w1
	c1=$(cpu_ns "$vd") x1=$(ctx "$vd") w1=$(date +%s.%N)
	status_json "$dir/v2xd.sock" >"$dir/status1.json"
	# The simulator stops by itself (--duration); bounded anyway.
	for _ in $(seq 100); do kill -0 "$sim" 2>/dev/null || break; sleep 0.1; done
	kill -TERM "$sim" 2>/dev/null
	wait "$sim"
	local sim_rc=$?
	forget "$sim"
	# Let v2xd log the last frames (every row out of the rings), then stop it: it drains and flushes every file.
	local prev=-1 now_in
	for _ in $(seq 30); do
		now_in=$(status_json "$dir/v2xd.sock" | /usr/bin/python3 -c \
			'import json, sys; print(json.load(sys.stdin)["stages"]["log"]["records"]["in"])' 2>/dev/null)
		[ -n "$now_in" ] && [ "$now_in" = "$prev" ] && break
		prev=${now_in:--1}
		sleep 0.2
	done
	"$BIN/v2xctl" --socket "$dir/v2xd.sock" --json stats >"$dir/stats.json" 2>/dev/null
	status_json "$dir/v2xd.sock" >"$dir/status2.json"
	local others1
	others1=$(other_sessions)
	local hwm
	hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/"$vd"/status 2>/dev/null)
	kill -TERM "$vd"
	local v2xd_rc=0
	for _ in $(seq 100); do kill -0 "$vd" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$vd" 2>/dev/null && v2xd_rc=137
	wait "$vd" || v2xd_rc=$?
	forget "$vd"
	local trace_bytes=0
	if [ "$cfg" = traced ] || [ "$cfg" = ltraced ]; then
		"$ROOT/trace/v2x-trace" stop >>"$dir/trace.log" 2>&1
		trace_on=0
		trace_bytes=$(du -sb "$dir/trace" 2>/dev/null | awk '{ print $1 }')
		[ "$KEEP" = 1 ] || rm -rf "$dir/trace"
	fi
	/usr/bin/python3 - "$dir" "$cfg" "$rate" "$round" "$sim_rc" "$v2xd_rc" "$c0" "$c1" "$x0" "$x1" "$w0" "$w1" \
		"${hwm:-0}" "${trace_bytes:-0}" "$((others0 > others1 ? others0 : others1))" <<'EOF'
import json, os, re, sys
d, cfg, rate, rnd, sim_rc, v2xd_rc = sys.argv[1:7]
c0, c1, x0, x1 = (int(x) for x in sys.argv[7:11])
w0, w1 = float(sys.argv[11]), float(sys.argv[12])
hwm, trace_bytes, others = int(sys.argv[13]), int(sys.argv[14]), int(sys.argv[15])
kv = {"config": cfg, "rate": rate, "round": rnd}
bad = []
sim = {}
try:
    for line in open(os.path.join(d, "sim.txt")):
        parts = line.split()
        if parts and "=" not in parts[0]:
            for x in parts[1:]:
                if "=" in x:
                    k, v = x.split("=", 1)
                    sim[parts[0] + " " + k] = v
except OSError:
    bad.append("no simulator summary")
sent = int(sim.get("bridge can_sent", -1))
try:
    with open(os.path.join(d, "out", "can_data.csv"), "rb") as f:
        rows = sum(1 for _ in f) - 1
except OSError:
    rows = -1
log = open(os.path.join(d, "v2xd.log"), errors="replace").read()
m = re.search(r"lost on the link (\d+) frames / (\d+) CAN frames", log)
link_lost, can_lost = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
m = re.search(r"rows lost: (.*)", log)
rows_lost = sum(int(x) for x in re.findall(r"=(\d+)", m.group(1))) if m else -1
def st(name):
    try:
        return json.load(open(os.path.join(d, name)))
    except Exception:
        return None
s0, s1 = st("status0.json"), st("status1.json")
fps = -1.0
if s0 and s1:
    n0, n1 = s0["stages"]["log"]["records"]["in"], s1["stages"]["log"]["records"]["in"]
    fps = (n1 - n0) / (s1["uptime_s"] - s0["uptime_s"])
    kv["window_frames"] = n1 - n0
else:
    bad.append("no status from v2xd")
win = w1 - w0
kv.update(sent=sent, rows=rows, lost_tx=int(sim.get("bridge can_lost_tx", -1)),
          sim_overruns=int(sim.get("bridge overruns", -1)), link_lost=link_lost, can_lost=can_lost,
          rows_lost=rows_lost, fps=round(fps, 1), cpu_pct=round(100.0 * (c1 - c0) / 1e9 / win, 2),
          cpu_us_per_frame=round((c1 - c0) / 1e3 / (fps * win), 3) if fps > 0 else -1,
          ctxsw_per_s=round((x1 - x0) / win), hwm_kib=hwm)
if trace_bytes:
    kv["trace_mb"] = round(trace_bytes / 1e6, 1)
kv["other_trace_sessions"] = others
stats = st("stats.json")
for g, h, key in (("decode", "rx_to_decoded", "decoded"), ("log", "rx_to_logged", "logged"),
                  ("log", "rx_to_file", "file")):
    try:
        x = stats["histograms"][g][h]
        for p in ("p50", "p99", "p999", "max"):
            kv["%s_%s_us" % (key, p)] = round(x[p] / 1e3, 1)
    except Exception:
        bad.append("no %s histogram" % h)
s2 = st("status2.json")
if s2:
    up = s2["stages"].get("uplink", {})
    kv["uplink_acked"] = up.get("acked", {}).get("value", -1)
    kv["radio_in"] = s2["stages"].get("hub_io", {}).get("records", {}).get("in", -1)
if sim_rc != "0":
    bad.append("v2xsim exited %s" % sim_rc)
if v2xd_rc != "0":
    bad.append("v2xd exited %s" % v2xd_rc)
# At bus rate nothing may be lost; at maximum rate loss is a result (reported), not a failure of the benchmark.
if rate == "bus" and rows != sent:
    bad.append("rows %d != frames sent %d" % (rows, sent))
if rate == "bus" and (link_lost != 0 or can_lost != 0):
    bad.append("loss on the link counted by v2xd")
if rows_lost != 0:
    bad.append("rows lost in v2xd (%d)" % rows_lost)
if rows <= 0 or sent <= 0:
    bad.append("nothing sent or logged")
if kv.get("radio_in", 0) <= 0:
    bad.append("no radio traffic on the hub link")
kv["ok"] = 0 if bad else 1
if bad:
    kv["why"] = "'" + "; ".join(bad) + "'"
print(" ".join("%s=%s" % (k, v) for k, v in kv.items()))
EOF
	[ "$KEEP" = 1 ] || rm -rf "$dir/out" "$dir/spool"
}

start=$(date +%s)
echo "$PROG: $ROUNDS rounds x rates [$RATES] x configurations [$CONFIGS], runs of $BUS_S s (bus) / $MAX_S s (max);" \
	"broker 127.0.0.1:$port; files in $work" >&2
stopped_early=0
for round in $(seq "$ROUNDS"); do
	order=$CONFIGS
	[ $((round % 2)) = 0 ] && order=$(echo "$CONFIGS" | tr ' ' '\n' | tac | tr '\n' ' ')
	for rate in $RATES; do
		for cfg in $order; do
			if [ $(($(date +%s) - start)) -ge "$MAX_WALL" ]; then
				echo "$PROG: --max-wall $MAX_WALL s reached: stopping before round $round $rate $cfg" >&2
				stopped_early=1
				break 3
			fi
			printf '%s round %d %-4s %-8s ' "$PROG:" "$round" "$rate" "$cfg" >&2
			run "$cfg" "$rate" "$round" >"$work/last"
			# A run that could not even start (v2x-trace failed, ...) still counts, as a failure.
			[ -s "$work/last" ] || echo "config=$cfg rate=$rate round=$round ok=0 why='the run did not start'" >"$work/last"
			cat "$work/last" >>"$results"
			awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(fps|cpu_pct|decoded_p99_us|logged_p99_us|ok|why)=/) printf "%s ", $i; print "" }' "$work/last" >&2
		done
	done
done

/usr/bin/python3 - "$results" "$ROUNDS" "$CONFIGS" "$RATES" "$BUILD" "$stopped_early" "$(($(date +%s) - start))" "$NO_LTTNG" <<'EOF'
import os, platform, shlex, statistics, sys
path, rounds, configs, rates, build, early, wall, no_lttng = sys.argv[1:9]
configs, rates = configs.split(), rates.split()
runs = []
for line in open(path):
    kv = dict(x.split("=", 1) for x in shlex.split(line) if "=" in x)
    runs.append(kv)
ok = bool(runs) and all(r.get("ok") == "1" for r in runs) and early == "0"
def med(cfg, rate, key):
    v = [float(r[key]) for r in runs if r["config"] == cfg and r["rate"] == rate and key in r and r.get("ok") == "1"]
    return statistics.median(v) if v else None
def rng(cfg, rate, key):
    v = [float(r[key]) for r in runs if r["config"] == cfg and r["rate"] == rate and key in r and r.get("ok") == "1"]
    return (min(v), max(v)) if v else (None, None)
cols = [("fps", "frames/s"), ("cpu_pct", "CPU %"), ("cpu_us_per_frame", "CPU us/frame"), ("ctxsw_per_s", "ctxsw/s"),
        ("decoded_p50_us", "dec p50"), ("decoded_p99_us", "dec p99"), ("logged_p50_us", "log p50"),
        ("logged_p99_us", "log p99"), ("logged_p999_us", "log p99.9"), ("file_p99_us", "file p99"),
        ("hwm_kib", "RSS KiB"), ("lost_tx", "lost_tx")]
print()
print("bench_pipeline: medians over %s rounds (latency in us; ranges [min..max] of CPU %% and throughput)" % rounds)
for rate in rates:
    print("\n%s rate" % rate)
    print("  %-8s" % "config" + "".join("%12s" % c[1] for c in cols) + "   CPU range        fps range")
    for cfg in configs:
        vals = [med(cfg, rate, k) for k, _ in cols]
        if all(v is None for v in vals):
            print("  %-8s  (no successful run)" % cfg)
            continue
        lo, hi = rng(cfg, rate, "cpu_pct")
        flo, fhi = rng(cfg, rate, "fps")
        print("  %-8s" % cfg + "".join("%12s" % ("-" if v is None else ("%.3g" % v if v < 100 else "%.0f" % v))
                                       for v in vals) + "   %5.2f..%-5.2f  %8.0f..%-8.0f" % (lo, hi, flo, fhi))
summ = {}
def put(k, v, fmt="%.3g"):
    if v is not None:
        summ[k] = fmt % v if isinstance(v, float) else str(v)
def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None
for rate in rates:
    for cfg in configs:
        put("%s_%s_fps" % (rate, cfg), med(cfg, rate, "fps"), "%.0f")
        put("%s_%s_cpu_pct" % (rate, cfg), med(cfg, rate, "cpu_pct"))
        put("%s_%s_cpu_us_per_frame" % (rate, cfg), med(cfg, rate, "cpu_us_per_frame"))
        put("%s_%s_decoded_p99_us" % (rate, cfg), med(cfg, rate, "decoded_p99_us"), "%.0f")
        put("%s_%s_logged_p99_us" % (rate, cfg), med(cfg, rate, "logged_p99_us"), "%.0f")
        put("%s_%s_rss_kib" % (rate, cfg), med(cfg, rate, "hwm_kib"), "%.0f")
    # Ratios to the default (ring): CPU per frame (work), throughput, p99s.
    for cfg in configs:
        if cfg == "ring":
            continue
        put("%s_%s_vs_ring_cpu" % (rate, cfg), ratio(med(cfg, rate, "cpu_us_per_frame"), med("ring", rate, "cpu_us_per_frame")))
        put("%s_%s_vs_ring_fps" % (rate, cfg), ratio(med(cfg, rate, "fps"), med("ring", rate, "fps")))
        put("%s_%s_vs_ring_decoded_p99" % (rate, cfg), ratio(med(cfg, rate, "decoded_p99_us"), med("ring", rate, "decoded_p99_us")))
    if "traced" in configs and "ring" in configs:
        # Tracing on costs throughput only where v2xd is the limit; at bus rate the cost shows as CPU.
        f = ratio(med("traced", rate, "fps"), med("ring", rate, "fps"))
        put("%s_tracing_on_fps_cost_pct" % rate, None if f is None else 100 * (1 - f))
        c = ratio(med("traced", rate, "cpu_us_per_frame"), med("ring", rate, "cpu_us_per_frame"))
        put("%s_tracing_on_cpu_cost_pct" % rate, None if c is None else 100 * (c - 1))
    if "ltraced" in configs and "latency" in configs:
        f = ratio(med("ltraced", rate, "fps"), med("latency", rate, "fps"))
        put("%s_tracing_on_latency_fps_cost_pct" % rate, None if f is None else 100 * (1 - f))
        c = ratio(med("ltraced", rate, "cpu_us_per_frame"), med("latency", rate, "cpu_us_per_frame"))
        put("%s_tracing_on_latency_cpu_cost_pct" % rate, None if c is None else 100 * (c - 1))
    if "notrace" in configs and "ring" in configs:
        f = ratio(med("ring", rate, "fps"), med("notrace", rate, "fps"))
        put("%s_tracing_off_fps_cost_pct" % rate, None if f is None else 100 * (1 - f))
        c = ratio(med("ring", rate, "cpu_us_per_frame"), med("notrace", rate, "cpu_us_per_frame"))
        put("%s_tracing_off_cpu_cost_pct" % rate, None if c is None else 100 * (c - 1))
summ["loss_total"] = str(sum(max(0, int(r.get("sent", 0)) - max(0, int(r.get("rows", 0)))) for r in runs))
summ["lost_tx_total"] = str(sum(max(0, int(r.get("lost_tx", 0))) for r in runs))
summ["runs"] = str(len(runs))
summ["runs_during_other_trace_sessions"] = str(sum(1 for r in runs if r.get("other_trace_sessions", "0") != "0"))
summ["untraced_runs_hidden_from_lttng"] = no_lttng  # perf/no_lttng.sh: other sessions cannot record them
summ["failed_runs"] = str(sum(1 for r in runs if r.get("ok") != "1"))
summ["rounds"] = rounds
summ["wall_s"] = wall
summ["load1"] = "%.2f" % os.getloadavg()[0]
summ["machine"] = "%s-%scpu" % (platform.machine(), os.cpu_count())
summ["kernel"] = platform.release()
summ["build"] = os.path.basename(build)
summ["ok"] = "1" if ok else "0"
for r in runs:
    if r.get("other_trace_sessions", "0") != "0":
        hidden = no_lttng == "1" and r["config"] not in ("traced", "ltraced")
        print("note: %s %s round %s ran while %s trace session(s) of someone else existed%s" % (
            r["rate"], r["config"], r["round"], r["other_trace_sessions"],
            " (hidden from them: perf/no_lttng.sh)" if hidden else " (they may have recorded it)"))
    if r.get("ok") != "1":
        print("FAILED run: %s %s round %s: %s" % (r["rate"], r["config"], r["round"], r.get("why", "?")))
print()
print("SUMMARY " + " ".join("%s=%s" % kv for kv in summ.items()))
sys.exit(0 if ok else 1)
EOF
