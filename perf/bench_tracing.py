#!/usr/bin/python3
"""bench_tracing - what LTTng tracepoints cost v2xd's throughput, where v2xd itself is the bottleneck.

usage: perf/bench_tracing.py [--build DIR] [--frames N] [--rounds R] [--configs LIST] [--no-build]

v2xd reads a replay file (tests/tools/v2_replay: N CAN frames, default 2,000,000, as v2 CAN batch frames of 5, what
the bridge sends) as fast as it can: a regular file as --can-dev is read once to its end, so nothing but v2xd's own
threads (receive, decode, log: every frame parsed, decoded, logged as a CSV row and a candump line) bounds the
rate.  bench_pipeline.sh's maximum rate is bounded by the simulator's bridge thread sharing the two CPUs, which
makes its throughput ratios mostly noise; here the ratio is v2xd's.  Configurations, interleaved per round (the
order reversed every other round):
  notrace    BUILD/notrace/bin/v2xd, built with TRACE=0: no tracepoints compiled in
  ring       BUILD/bin/v2xd, tracepoints compiled in, no session (run through perf/no_lttng.sh: no session on the
             machine can record it)
  traced     BUILD/bin/v2xd under the default session of trace/v2x-trace (--pid: only this process), batch events
  perframe   the same with v2x-trace --per-frame (three more events per frame); only with --configs
Per run: v2xd starts with the replay absent (it retries every 10 ms), the session (if any) starts for its pid, the
replay is put in place; the control socket is polled every 2 ms; the rate is measured from the first sample after
the first read (receive stage's records > 0) to the first with all N rows logged (start-up and the trace session's
set-up excluded), the CPU time (every thread's schedstat) over the same window.  Every run must log N rows.  Reports per configuration the
median and range of frames/s and CPU ns per frame, then the per-round ratios (median and range over the rounds):
tracing_off_* = ring against notrace, tracing_on_* = traced against ring; ends with one SUMMARY line.
Exit status 1 when a run failed its checks.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def die(msg):
    sys.exit("bench_tracing: " + msg)


def status(sock_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b'{"cmd":"status"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)["result"]


def cpu_ns(pid):
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def run_one(a, cfg, rnd, replay, work):
    d = os.path.join(work, "%s-%d" % (cfg, rnd))
    os.makedirs(os.path.join(d, "out"))
    dev, sock = os.path.join(d, "can.bin"), os.path.join(d, "v2xd.sock")
    v2xd = os.path.join(ROOT, a.build, "notrace" if cfg == "notrace" else "", "bin", "v2xd")
    cmd = [v2xd, "--can-dev", dev, "--can-rx-reopen-ms", "10", "--out", os.path.join(d, "out"), "--socket", sock,
           "--status-s", "0", "--v2g-state-dir", os.path.join(d, "state"),
           "--uplink-spool-dir", os.path.join(d, "spool")]
    if cfg in ("ring", "notrace") and a.no_lttng:
        cmd = [os.path.join(ROOT, "perf", "no_lttng.sh")] + cmd
    log = open(os.path.join(d, "v2xd.log"), "w")
    p = subprocess.Popen(cmd, stderr=log, stdout=log)
    res = {"config": cfg, "round": rnd, "ok": 0}
    traced = cfg in ("traced", "perframe")
    name = "v2xbt-%d-%s-%d" % (os.getpid(), cfg, rnd)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            if p.poll() is not None:
                raise RuntimeError("v2xd exited %s" % p.returncode)
            time.sleep(0.01)
        else:
            raise RuntimeError("no control socket")
        if traced:
            t = [os.path.join(ROOT, "trace", "v2x-trace"), "start", "--name", name, "--output",
                 os.path.join(d, "trace"), "--rate", "1000000", "--pid", str(p.pid)]
            if cfg == "perframe":
                t.append("--per-frame")
            r = subprocess.run(t, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("v2x-trace start failed: " + r.stderr.strip())
        os.symlink(replay, dev)
        first = last = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            st = status(sock)
            now, c = time.monotonic(), cpu_ns(p.pid)
            n = st["stages"]["log"]["records"]["in"]
            if first is None and st["stages"]["can_rx"]["records"]["in"] > 0:
                first = (now, n, c)  # the first read: from here every frame is in the window
            if n >= a.frames:
                last = (now, n, c)
                break
            time.sleep(0.002)
        if first is None or last is None:
            raise RuntimeError("v2xd did not log the replay in time")
        frames = last[1] - first[1]
        secs = last[0] - first[0]
        res["secs"] = secs
        if frames <= 0 or secs <= 0:
            raise RuntimeError("the replay went by between two samples: use more frames")
        res["fps"] = frames / secs
        res["cpu_ns_per_frame"] = (last[2] - first[2]) / frames
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        res["why"] = str(e)
    finally:
        if traced:
            subprocess.run([os.path.join(ROOT, "trace", "v2x-trace"), "stop", name], capture_output=True)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                res.setdefault("why", "v2xd did not stop")
        log.close()
    try:
        with open(os.path.join(d, "out", "can_data.csv"), "rb") as f:
            rows = sum(1 for _ in f) - 1
    except OSError:
        rows = -1
    res["rows"] = rows
    if "why" not in res:
        if p.returncode != 0:
            res["why"] = "v2xd exited %s" % p.returncode
        elif rows != a.frames:
            res["why"] = "%d rows for %d frames" % (rows, a.frames)
        else:
            res["ok"] = 1
    if traced and not a.keep:
        shutil.rmtree(os.path.join(d, "trace"), ignore_errors=True)
    shutil.rmtree(os.path.join(d, "out"), ignore_errors=True)
    return res


def med_range(vals):
    return statistics.median(vals), min(vals), max(vals)


def main():
    ap = argparse.ArgumentParser(description="the cost of tracepoints, v2xd alone on a replay file")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--frames", type=int, default=2000000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--configs", default="notrace,ring,traced")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the traces")
    a = ap.parse_args()
    configs = a.configs.split(",")
    for c in configs:
        if c not in ("notrace", "ring", "traced", "perframe"):
            die("unknown configuration %s" % c)
    os.chdir(ROOT)
    if not a.no_build:
        r = subprocess.run(["make", "--no-print-directory", "-s", "BUILD=" + a.build, "-j2",
                            a.build + "/bin/v2xd", a.build + "/tests/tools/v2_replay"])
        r2 = subprocess.run(["make", "--no-print-directory", "-s", "BUILD=" + a.build + "/notrace", "TRACE=0", "-j2",
                             a.build + "/notrace/bin/v2xd"]) if "notrace" in configs else r
        if r.returncode or r2.returncode:
            die("build failed")
    if any(c in ("traced", "perframe") for c in configs) and not shutil.which("lttng"):
        die("lttng is not installed (make deps)")
    a.no_lttng = subprocess.run([os.path.join(ROOT, "perf", "no_lttng.sh"), "true"]).returncode == 0
    work = os.path.join(ROOT, a.build, "bench_tracing")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    replay = os.path.join(work, "replay.v2")
    if subprocess.run([os.path.join(a.build, "tests", "tools", "v2_replay"), str(a.frames), replay]).returncode:
        die("v2_replay failed")
    t_start = time.time()
    runs = []
    for rnd in range(1, a.rounds + 1):
        order = configs if rnd % 2 else list(reversed(configs))
        for cfg in order:
            r = run_one(a, cfg, rnd, replay, work)
            runs.append(r)
            print("run %-8s round %d: %s" % (cfg, rnd, " ".join(
                "%s=%s" % (k, round(v, 1) if isinstance(v, float) else v) for k, v in r.items()
                if k not in ("config", "round"))), flush=True)
    ok = all(r["ok"] for r in runs)
    summ = {}
    print("\n%d frames per run (v2 CAN batch frames of 5), %d rounds; medians and ranges over the rounds" % (
        a.frames, a.rounds))
    print("%-9s %12s %22s %14s %20s" % ("config", "frames/s", "range", "CPU ns/frame", "range"))
    by = {}
    for cfg in configs:
        rs = [r for r in runs if r["config"] == cfg and r["ok"]]
        by[cfg] = {r["round"]: r for r in rs}
        if not rs:
            continue
        f, fmin, fmax = med_range([r["fps"] for r in rs])
        c, cmin, cmax = med_range([r["cpu_ns_per_frame"] for r in rs])
        print("%-9s %12.0f %10.0f..%-10.0f %14.0f %9.0f..%-9.0f" % (cfg, f, fmin, fmax, c, cmin, cmax))
        summ["%s_fps" % cfg] = "%.0f" % f
        summ["%s_cpu_ns_per_frame" % cfg] = "%.0f" % c

    def paired(x, y, key):
        """Per-round ratios x/y (the two ran next to each other), median and range; None without pairs."""
        v = [by[x][k][key] / by[y][k][key] for k in by.get(x, {}) if k in by.get(y, {})]
        return med_range(v) if v else None

    print("\nper-round ratios (median, range):")
    for name, x, y in (("tracing_off", "ring", "notrace"), ("tracing_on", "traced", "ring"),
                       ("tracing_on_per_frame", "perframe", "ring")):
        f = paired(x, y, "fps")
        c = paired(x, y, "cpu_ns_per_frame")
        if not f:
            continue
        print("  %-22s throughput cost %6.2f %% (%.2f..%.2f)   CPU per frame %+6.2f %% (%+.2f..%+.2f)" % (
            name, 100 * (1 - f[0]), 100 * (1 - f[2]), 100 * (1 - f[1]), 100 * (c[0] - 1), 100 * (c[1] - 1),
            100 * (c[2] - 1)))
        summ["%s_fps_cost_pct" % name] = "%.2f" % (100 * (1 - f[0]))
        summ["%s_fps_cost_range_pct" % name] = "%.2f..%.2f" % (100 * (1 - f[2]), 100 * (1 - f[1]))
        summ["%s_cpu_cost_pct" % name] = "%.2f" % (100 * (c[0] - 1))
    summ["frames"] = str(a.frames)
    summ["rounds"] = str(a.rounds)
    summ["failed_runs"] = str(sum(1 for r in runs if not r["ok"]))
    summ["untraced_runs_hidden_from_lttng"] = "1" if a.no_lttng else "0"
    summ["wall_s"] = "%.0f" % (time.time() - t_start)
    summ["load1"] = "%.2f" % os.getloadavg()[0]
    summ["machine"] = "%s-%scpu" % (platform.machine(), os.cpu_count())
    summ["ok"] = "1" if ok else "0"
    for r in runs:
        if not r["ok"]:
            print("FAILED run: %s round %d: %s" % (r["config"], r["round"], r.get("why", "?")))
    print("\nSUMMARY " + " ".join("%s=%s" % kv for kv in summ.items()))
    shutil.rmtree(work, ignore_errors=True) if ok and not a.keep else None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
