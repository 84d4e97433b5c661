#!/usr/bin/env bash
# demo.sh - the whole system on one machine (`make demo`): a Twizy drives to a charging station with another
# vehicle nearby, plugs in, negotiates, charges, stops at the desired SOC, unplugs and drives out of range; the
# ESP32 firmware runs in v2xsim (CAN/GPS bridge, radio hub, the station's two metered slots), v2xd runs the vehicle
# pipeline on the simulator's pseudo-terminals, and the uplink sends telemetry to a mosquitto broker on loopback.
#
#   programs/v2xsim/demo.sh [--speed N]       (BUILD=dir selects the build, default build)
#
# It shows a live status line, stops everything after the scenario (at most 90 s of wall time), prints a summary
# and exits non-zero if anything in it is wrong: frames logged != frames sent, loss counted by sequence numbers,
# the session's energy and cost more than 1 % from the vehicle model's, a wrong end reason, samples produced !=
# samples the broker delivered.  Everything it starts is stopped; its files stay in $BUILD/demo.
set -u
BUILD=${BUILD:-build}
SPEED=25
while [ $# -gt 0 ]; do
	case $1 in
	--speed) SPEED=$2; shift 2 ;;
	*) echo "usage: $0 [--speed N]" >&2; exit 2 ;;
	esac
done
BIN=$BUILD/bin
work=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)/demo
rm -rf "$work"
mkdir -p "$work/out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s\n' "$*"; }

# A free loopback port for the broker.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
broker=no
uplink=no
"$BIN/v2xd" --help 2>/dev/null | grep -q '^\[uplink\]' && uplink=yes
if [ "$uplink" = yes ] && command -v mosquitto >/dev/null; then
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$work/mosquitto.conf"
	mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && broker=yes && break
		sleep 0.1
	done
	if [ "$broker" = yes ]; then
		mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t 'v1/devices/me/telemetry' -v >"$work/telemetry.txt" 2>/dev/null &
		sub_pid=$!
		pids+=("$sub_pid")
	fi
fi

say "== V2X-RT demo: v2xsim (speed x$SPEED) -> v2xd -> $( [ "$broker" = yes ] && echo "mosquitto 127.0.0.1:$port" || echo "no broker (telemetry spooled to disk)")"
"$BIN/v2xsim" --speed "$SPEED" --can-pty "$work/can" --hub-pty "$work/hub" --summary "$work/sim.txt" \
	>"$work/v2xsim.out" 2>"$work/v2xsim.log" &
sim_pid=$!
pids+=("$sim_pid")
for _ in $(seq 100); do [ -e "$work/can" ] && [ -e "$work/hub" ] && break; sleep 0.05; done

uplink_args=()
if [ "$uplink" = yes ]; then
	uplink_args=(--uplink-spool-dir "$work/spool")
	[ "$broker" = yes ] && uplink_args+=(--uplink-host 127.0.0.1 --uplink-port "$port" --uplink-token demo-token)
fi
"$BIN/v2xd" --can-dev "$work/can" --baud 921600 --hub-dev "$work/hub" --hub-baud 921600 --out "$work/out" \
	--socket "$work/v2xd.sock" --status-s 0 --v2g-desired-soc 80 "${uplink_args[@]}" 2>"$work/v2xd.log" &
v2xd_pid=$!
pids+=("$v2xd_pid")

# Live status, one line, until the scenario ends (bounded: 90 s of wall time in all).
start=$(date +%s)
while kill -0 "$sim_pid" 2>/dev/null; do
	if [ $(($(date +%s) - start)) -ge 85 ]; then
		say ""; say "demo: the scenario did not finish within 85 s"; break
	fi
	line=$("$BIN/v2xctl" --socket "$work/v2xd.sock" status --json 2>/dev/null |
		/usr/bin/python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)["stages"]
except Exception:
    print("t=%3ss  starting..." % sys.argv[1]); sys.exit()
rx = s.get("can_rx", {})
rec = rx.get("records", {})
v2g = s.get("v2g", {})
up = s.get("uplink", {})
print("t=%3ss  frames %8d  %6.0f/s  link %-4s  radio items %5d  sessions %d  uplink %s" % (
    sys.argv[1], rec.get("in", 0), rec.get("in_rate", 0), rx.get("link", {}).get("value", "?"),
    s.get("hub_io", {}).get("records", {}).get("in", 0), v2g.get("sessions", {}).get("value", 0),
    up.get("broker", {}).get("value", "-")))' "$(($(date +%s) - start))" 2>/dev/null)
	printf '\r%s   ' "$line"
	sleep 1
done
wait "$sim_pid"; sim_rc=$?
say ""
# Let the last samples reach the broker, then stop v2xd (it drains every ring and flushes every file).
if [ "$uplink" = yes ] && [ "$broker" = yes ]; then
	for _ in $(seq 50); do
		"$BIN/v2xctl" --socket "$work/v2xd.sock" status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
u = json.load(sys.stdin)["stages"].get("uplink", {})
sys.exit(0 if u.get("spool_records", {}).get("value", 1) == 0 else 1)' && break
		sleep 0.2
	done
fi
"$BIN/v2xctl" --socket "$work/v2xd.sock" stats --json >"$work/stats.json" 2>/dev/null
"$BIN/v2xctl" --socket "$work/v2xd.sock" status --json >"$work/status.json" 2>/dev/null
kill -TERM "$v2xd_pid"
wait "$v2xd_pid"; v2xd_rc=$?
[ -n "${sub_pid:-}" ] && { sleep 0.5; kill -TERM "$sub_pid" 2>/dev/null; }

/usr/bin/python3 - "$work" "$sim_rc" "$v2xd_rc" "$broker" "$uplink" <<'EOF'
import csv, glob, json, os, re, sys
work, sim_rc, v2xd_rc, broker, uplink = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
bad = []
def check(ok, what):
    if not ok:
        bad.append(what)
    return ok

sim = {}
for line in open(os.path.join(work, "sim.txt")):
    parts = line.split()
    if not parts or "=" in parts[0]:
        key, rest = "", parts
    else:
        key, rest = parts[0], parts[1:]
    for kv in rest:
        if "=" in kv:
            k, v = kv.split("=", 1)
            sim[(key + " " + k).strip()] = v
sent = int(sim["bridge can_sent"])
log = open(os.path.join(work, "v2xd.log")).read()
fin = re.search(r"final: .*", log)
check(fin is not None, "v2xd printed no final line")
fin = fin.group(0) if fin else ""
m = re.search(r"lost on the link (\d+) frames / (\d+) CAN frames", fin)
link_lost, can_lost = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
rows = sum(1 for _ in open(os.path.join(work, "out", "can_data.csv"))) - 1
lost_rows = sum(int(x) for x in re.findall(r"(?:can_data)=(\d+)", fin))
print("\n== summary")
print("frames   sent by the simulated ESP32(1): %d CAN frames (%s v2 frames, batched)" % (sent, sim.get("bridge last_seq")))
print("         logged by v2xd in can_data.csv: %d rows; lost on the link by sequence numbers: %d frames, %d CAN"
      " frames; rows lost: %d" % (rows, link_lost, can_lost, lost_rows))
check(sim_rc == 0, "v2xsim exited %d" % sim_rc)
check(v2xd_rc == 0, "v2xd exited %d" % v2xd_rc)
check(rows == sent, "rows logged (%d) != frames sent (%d)" % (rows, sent))
check(link_lost == 0 and can_lost == 0 and lost_rows == 0, "loss counted")

try:
    stats = json.load(open(os.path.join(work, "stats.json")))["histograms"]
    for g, name in (("decode", "rx_to_decoded"), ("log", "rx_to_logged"), ("log", "rx_to_file")):
        h = stats[g][name]
        print("latency  %-14s n=%-7d p50=%8.3f ms  p99=%8.3f ms  p99.9=%8.3f ms  max=%8.3f ms" % (
            name, h["count"], h["p50"] / 1e6, h["p99"] / 1e6, h["p999"] / 1e6, h["max"] / 1e6))
except Exception as e:
    check(False, "no latency statistics (%s)" % e)

sess = glob.glob(os.path.join(work, "out", "v2g_sessions_*.csv"))
rows_s = [r for f in sess for r in csv.DictReader(open(f))]
model_kwh = float(sim.get("model session_ac_wh", "nan")) / 1000
model_cost = float(sim.get("model session_cost", "nan"))
if check(len(rows_s) == 1, "%d session rows, expected 1" % len(rows_s)):
    r = rows_s[0]
    e, c = float(r["energy_station_kwh"]), float(r["cost"])
    print("session  %s at station %s: %.3f kWh metered (model %.3f), cost %.4f (model %.4f), SOC %s -> %s, "
          "max %s A, end: %s" % (r["session_id"], r["station_mac"], e, model_kwh, c, model_cost,
                                 r["start_soc"], r["end_soc"], r["max_current"], r["end_reason"]))
    check(abs(e - model_kwh) <= 0.01 * model_kwh, "session energy %.4f kWh not within 1 %% of the model's %.4f" % (e, model_kwh))
    check(abs(c - model_cost) <= 0.01 * model_cost, "session cost %.4f not within 1 %% of the model's %.4f" % (c, model_cost))
    check(r["end_reason"] == "desired_soc", "end reason %s, expected desired_soc" % r["end_reason"])
nb = glob.glob(os.path.join(work, "out", "ESP_now_data_*.csv"))
items = sum(sum(1 for _ in open(f)) - 1 for f in nb)
v2v = sum(1 for f in nb for r in csv.DictReader(open(f)) if r.get("DataType") == "V2V")
print("radio    %d items received (%d from the other vehicle, %d from the station)" % (items, v2v, items - v2v))
check(v2v > 0, "nothing heard from the other vehicle")

if uplink == "yes":
    st = json.load(open(os.path.join(work, "status.json")))["stages"].get("uplink", {})
    produced = st.get("samples", {}).get("value", 0)
    if broker == "yes":
        seqs, samples, events = [], 0, []
        for line in open(os.path.join(work, "telemetry.txt")):
            try:
                batch = json.loads(line.split(" ", 1)[1])
            except Exception:
                continue
            for e in batch:
                v = e["values"]
                seqs.append(v.get("sample_seq"))
                if "session_event" in v:
                    events.append(v["session_event"])
                else:
                    samples += 1
        uniq = sorted(set(s for s in seqs if isinstance(s, int)))
        published = st.get("published", {}).get("value", 0)
        print("uplink   %d records produced (%d samples, %d session events), %d delivered by the broker (%d "
              "duplicates), sample_seq 1..%d %s" % (published, produced, published - produced, len(uniq),
                                                    len(seqs) - len(uniq), uniq[-1] if uniq else 0,
                                                    "contiguous" if uniq == list(range(1, len(uniq) + 1)) else "WITH GAPS"))
        check(uniq == list(range(1, len(uniq) + 1)), "telemetry sequence numbers have gaps: samples lost")
        check(produced > 0 and len(uniq) >= published and samples >= produced,
              "samples delivered (%d records) fewer than produced (%d)" % (len(uniq), published))
        check(events == ["start", "end"], "session events %s, expected start and end" % events)
    else:
        print("uplink   no broker could be started: %d samples kept in the spool (%s)" % (produced, os.path.join(work, "spool")))
else:
    print("uplink   not built into this v2xd")
print("files    %s:" % os.path.join(work, "out"))
for f in sorted(os.listdir(os.path.join(work, "out"))):
    print("           %-40s %9d bytes" % (f, os.path.getsize(os.path.join(work, "out", f))))
if bad:
    print("\nDEMO FAILED:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("\ndemo: everything checks out")
EOF
rc=$?
exit $rc
