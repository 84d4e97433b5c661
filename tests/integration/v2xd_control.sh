#!/usr/bin/env bash
# The control socket of a running v2xd on a pseudo-terminal: every command answers (status, stats, state, config,
# ping), `v2xctl --json` output parses, a malformed request gets an error object on a connection that stays usable,
# many clients are served at once, and a client that connects, sends requests and never reads blocks nothing: the
# pipeline keeps logging and other clients keep being answered.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
CTL=$BUILD/bin/v2xctl
command -v socat >/dev/null || { echo "socat missing (make deps)"; exit 77; }
work=$(mktemp -d /tmp/v2x-ctl-XXXXXX)
socat_pid= v2xd_pid=
cleanup() {
	[ -n "$v2xd_pid" ] && kill -KILL "$v2xd_pid" 2>/dev/null
	[ -n "$socat_pid" ] && kill "$socat_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/v2xd.log" ] && tail -5 "$work/v2xd.log"; exit 1; }

socat pty,raw,echo=0,link="$work/tty" pty,raw,echo=0,link="$work/feed" 2>"$work/socat.log" &
socat_pid=$!
for _ in $(seq 100); do [ -e "$work/feed" ] && [ -e "$work/tty" ] && break; sleep 0.05; done
sock=$work/v2xd.sock
"$BIN" --can-dev "$work/tty" --out "$work/out" --socket "$sock" --status-s 0 2>"$work/v2xd.log" &
v2xd_pid=$!
for _ in $(seq 200); do grep -q 'tty: open' "$work/v2xd.log" 2>/dev/null && [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no control socket"
[ "$(stat -c %a "$sock")" = 660 ] || fail "socket mode $(stat -c %a "$sock"), expected 660"

# 100 CAN frames (0x155: SOC 99.34 %, current -0.5 A per the facts' scaling) and a GPS line.
{
	for i in $(seq 100); do printf 'SIM 155 8 01 97 CE 54 9B 38 00 73\r\n'; done
	printf 'GPS 48.117300 11.516670 545.4 12.5 8 0.90 2026-11-30 12:0:1 1\r\n'
} >"$work/feed"
for _ in $(seq 200); do
	[ "$(("$(wc -l <"$work/out/can_data.csv" 2>/dev/null || echo 0)" - 1))" -ge 100 ] && break; sleep 0.05
done

/usr/bin/python3 - "$sock" "$CTL" <<'EOF' || fail "control checks"
import json, socket, subprocess, sys, time
sock_path, ctl = sys.argv[1], sys.argv[2]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock_path)
    return s, s.makefile("rb")

def ask(s, f, obj):
    s.sendall((obj if isinstance(obj, str) else json.dumps(obj)).encode() + b"\n")
    return json.loads(f.readline())

s, f = conn()
st = ask(s, f, {"cmd": "status"})
assert st["ok"] and st["cmd"] == "status", st
stages = st["result"]["stages"]
assert stages["can_rx"]["link"]["value"] == "up", stages["can_rx"]
assert stages["can_rx"]["records"]["in"] == 101, stages["can_rx"]["records"]  # 100 frames + 1 fix
assert stages["log"]["records"]["in"] == 101 and stages["log"]["rows_lost"]["value"] == 0, stages["log"]
assert stages["log"]["disk"]["value"] == "ok"
rings = stages["rings"]
assert rings["can_rx->decode"]["capacity"] == 16384 and rings["can_rx->log"]["capacity"] == 65536 and rings["can_rx->log"]["full_drops"] == 0, rings
stats = ask(s, f, {"cmd": "stats"})
h = stats["result"]["histograms"]["decode"]["rx_to_decoded"]
assert h["count"] >= 1 and h["min"] <= h["p50"] <= h["p90"] <= h["p99"] <= h["p999"] <= h["max"], h
state = ask(s, f, {"cmd": "state"})["result"]
assert abs(state["signals"]["soc"]["value"] - 99.34) < 0.01, state["signals"]["soc"]
assert abs(state["signals"]["current"]["value"] - (-0.5)) < 1e-9, state["signals"]["current"]
assert state["signals"]["soc"]["unit"] == "%" and state["signals"]["soc"]["age_s"] >= 0
assert abs(state["gps"]["lat_deg"] - 48.1173) < 1e-6 and state["gps"]["valid"] is True, state["gps"]
cfg = ask(s, f, {"cmd": "config"})["result"]
assert cfg["control"]["socket"] == sock_path and cfg["log"]["flush_ms"] == 100, cfg
assert ask(s, f, {"cmd": "ping"})["ok"]

# Malformed requests: an error object each, and the connection still works.
for bad in ["this is not json", "[1,2,3]", '{"nocmd":1}', '{"cmd":"no-such-command"}', '{"cmd":"status","args":5}']:
    r = ask(s, f, bad)
    assert r["ok"] is False and r["error"], (bad, r)
assert ask(s, f, {"cmd": "ping"})["ok"]

# A client that sends many requests and never reads: it is dropped, nobody waits for it.
stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stuck.connect(sock_path)
stuck.setblocking(False)
req = (json.dumps({"cmd": "status"}) + "\n").encode() * 200
sent = 0
t_end = time.time() + 20
while time.time() < t_end:
    try:
        sent += stuck.send(req)
    except BlockingIOError:
        time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError):
        break
    r = ask(s, f, {"cmd": "ping"})  # others are still served meanwhile
    assert r["ok"]
    if ask(s, f, {"cmd": "status"})["result"]["stages"]["control"]["dropped_slow"]["value"] >= 1:
        break
st = ask(s, f, {"cmd": "status"})["result"]["stages"]["control"]
assert st["dropped_slow"]["value"] >= 1, st
stuck.close()

# Twenty clients at once.
many = [conn() for _ in range(20)]
for c, cf in many:
    c.sendall(b'{"cmd":"ping"}\n')
for c, cf in many:
    assert json.loads(cf.readline())["ok"]
    c.close()

# v2xctl --json gives the same objects, parsable.
for verb in ["status", "stats", "state", "config"]:
    out = subprocess.run([ctl, verb, "--json", "--socket", sock_path], capture_output=True, timeout=30)
    assert out.returncode == 0, (verb, out.stderr)
    json.loads(out.stdout)
out = subprocess.run([ctl, "state", "--socket", sock_path], capture_output=True, timeout=30, text=True)
assert out.returncode == 0 and "soc" in out.stdout, out
out = subprocess.run([ctl, "status", "--socket", sock_path + ".nope"], capture_output=True, timeout=30, text=True)
assert out.returncode == 3, out
print("control: ok")
EOF

# The pipeline kept running throughout: more frames are still logged, and the daemon stops cleanly.
for i in $(seq 50); do printf 'SIM 155 8 01 97 CE 54 9B 38 00 73\r\n'; done >"$work/feed"
for _ in $(seq 200); do
	[ "$(("$(wc -l <"$work/out/can_data.csv")" - 1))" -ge 150 ] && break; sleep 0.05
done
kill -TERM "$v2xd_pid"; wait "$v2xd_pid"; rc=$?; v2xd_pid=
[ "$rc" = 0 ] || fail "v2xd exited $rc"
rows=$(($(wc -l <"$work/out/can_data.csv") - 1))
[ "$rows" = 150 ] || fail "can_data.csv: $rows rows, expected 150"
[ ! -e "$sock" ] || fail "the socket file was left behind"
echo "v2xd control socket: ok"
