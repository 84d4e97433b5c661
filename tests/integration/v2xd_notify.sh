#!/usr/bin/env bash
# v2xd under a service manager's protocol (sd_notify, as systemd's Type=notify and WatchdogSec= use it): a
# datagram socket stands for systemd's NOTIFY_SOCKET; v2xd must send READY=1 once its stages run, then WATCHDOG=1
# about twice per WATCHDOG_USEC while its stages make progress, and STOPPING=1 when told to stop.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-notify-XXXXXX)
trap 'rm -rf "$work"' EXIT
for i in $(seq 200); do echo "SIM 155 8 01 97 CE 54 9B 38 00 73"; done >"$work/in.txt"
/usr/bin/python3 - "$BIN" "$work" <<'PY'
import os, socket, subprocess, sys, time
binary, work = sys.argv[1], sys.argv[2]
path = os.path.join(work, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
p = subprocess.Popen([binary, "--can-dev", os.path.join(work, "in.txt"), "--out", os.path.join(work, "out"),
                      "--status-s", "0"], env=env, stderr=open(os.path.join(work, "v2xd.log"), "w"))
msgs = []
end = time.time() + 20
while time.time() < end and sum(1 for m in msgs if "WATCHDOG=1" in m) < 4:
    try:
        msgs.append(s.recv(4096).decode())
    except socket.timeout:
        pass
p.terminate()
while True:
    try:
        msgs.append(s.recv(4096).decode())
    except socket.timeout:
        if p.poll() is not None:
            break
rc = p.wait(timeout=30)
ready = [i for i, m in enumerate(msgs) if "READY=1" in m]
dogs = [i for i, m in enumerate(msgs) if "WATCHDOG=1" in m]
stopping = [i for i, m in enumerate(msgs) if "STOPPING=1" in m]
assert rc == 0, "v2xd exited %d" % rc
assert len(ready) == 1, msgs
assert len(dogs) >= 4 and dogs[0] > ready[0], msgs
assert stopping and stopping[0] > dogs[-1], msgs
assert "MAINPID=%d" % p.pid in msgs[ready[0]], msgs[ready[0]]
print("notify: ready, %d watchdog pings, stopping" % len(dogs))
PY
