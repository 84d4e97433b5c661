#!/usr/bin/env bash
# trace/v2x-trace + trace/v2x-latency on a real session: v2xd on a pseudo-terminal fed by tests/tools/pty_feed,
# recorded by four sessions at once and analysed with `v2x-latency --json`:
#   - the default session (`v2x-trace start`): the batch events only (no can_frame_parsed, can_signals_decoded,
#     log_row); every frame fed has its receive -> decoded -> logged -> published path complete from the seq ranges
#     (counts equal the frames fed, nothing lost, nothing in flight), the GPS fixes among the records are told
#     apart, every path's percentiles are ordered, a path whose events are absent reads "no events", the PNGs are
#     real PNG files; the channel is the documented one (discard, never blocking, sized by trace/README.md's
#     arithmetic for 3,000 frames/s) and lists its events by name (listing an exclusion crashes lttng 2.13.9);
#   - a `--per-frame` session: the same paths complete from the per-frame events, exactly three events more per
#     frame than the default session, and on that trace the batch events give each percentile at least the
#     per-frame one (a batch event follows its frames' per-frame events) and the same receive -> published figures;
#   - a --snapshot session (overwrite mode) writes a readable trace on demand;
#   - a raw lttng session recording only can_frame_parsed and log_row (an older trace): the decode hop then reads
#     "no events" while rx->logged stays complete.
# Also: v2x-latency's native field reader and bt2's public API give the same figures.
# Bounded (every wait has a limit); destroys its sessions and stops an lttng-sessiond it started.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
TOOLS=$BUILD/tests/tools
HERE=$(cd "$(dirname "$0")/../.." && pwd)
TRACE=$HERE/trace/v2x-trace
LATENCY=$HERE/trace/v2x-latency
fail() { echo "FAIL: $*"; exit 1; }
command -v lttng >/dev/null || fail "lttng not installed (make deps)"
/usr/bin/python3 -c 'import bt2, matplotlib' 2>/dev/null || fail "python3-bt2 / python3-matplotlib missing (make deps)"
nm "$BIN" 2>/dev/null | grep -q lttng_ust_tracepoint || { echo "SKIP: $BIN built without tracepoints"; exit 77; }

# pty_feed generates one GPS line per 100 lines (the 100th, 200th, ...), every other line a CAN frame.
LINES=3000
FRAMES=$((LINES - LINES / 100))

work=$(mktemp -d /tmp/v2x-lat-XXXXXX)
export V2X_TRACE_STATE=$work/state
name="v2x-lat-test-$$-$RANDOM"
pf="v2x-lat-pf-$$-$RANDOM"
raw="v2x-lat-raw-$$-$RANDOM"
v2xd_pid= feed_pid=
cleanup() {
	[ -n "$v2xd_pid" ] && kill -9 "$v2xd_pid" 2>/dev/null
	[ -n "$feed_pid" ] && kill -9 "$feed_pid" 2>/dev/null
	lttng destroy "$raw" >/dev/null 2>&1
	[ -n "${snap:-}" ] && [ -f "$work/state/sessions/$snap" ] && timeout 30 "$TRACE" stop "$snap" >/dev/null 2>&1
	[ -f "$work/state/sessions/$pf" ] && timeout 30 "$TRACE" stop "$pf" >/dev/null 2>&1
	[ -f "$work/state/sessions/$name" ] && timeout 30 "$TRACE" stop "$name" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

# v2xd waits on a FIFO until the sessions are set up (exec keeps the pid): every session records only that process
# (--pid, lttng track), not the v2xd of other tests or benchmarks running on the machine at the same time.
mkdir -p "$work/out"
mkfifo "$work/go" || fail "mkfifo"
bash -c 'read -r _ <"$1"; shift; exec "$@"' hold "$work/go" "$BIN" --can-dev "$work/tty" --out "$work/out" \
	--snapshot-s 1 --status-s 0 2>"$work/v2xd.log" &
v2xd_pid=$!
timeout 30 "$TRACE" start --name "$name" --output "$work/trace" --rate 3000 --pid "$v2xd_pid" >"$work/start.log" 2>&1 ||
	fail "v2x-trace start: $(cat "$work/start.log")"
grep -q "channel v2x" "$work/start.log" || fail "v2x-trace start printed no channel sizing"
# The channel as trace/README.md specifies it: discard mode, never blocking, sub-buffers sized for 1 s at 3,000
# frames/s with the coalesced profile: 500 reads/s x 267 bytes + 3,000 / 64 x 220 bytes + 12,800 = 156,612 bytes/s,
# an eighth of it rounded up to a power of two (32 KiB), at least 64 KiB.
lttng list "$name" >"$work/list.txt" 2>&1 || fail "lttng list $name: $(cat "$work/list.txt")"
grep -Eq 'Event-loss mode: +discard' "$work/list.txt" || fail "channel not in discard mode: $(cat "$work/list.txt")"
grep -Eq 'Blocking timeout: +0 us' "$work/list.txt" || fail "channel may block the application"
grep -Eq 'Sub-buffer size: +65536 bytes' "$work/list.txt" || fail "sub-buffer size not sized for 3,000 frames/s"
grep -Eq 'Sub-buffer count: +8$' "$work/list.txt" || fail "sub-buffer count"
for ev in can_batch_parsed can_batch_decoded log_batch state_published gps_fix can_bytes_read snapshot_renamed; do
	grep -q "v2x:$ev " "$work/list.txt" || fail "default session does not enable v2x:$ev"
done
grep -Eq 'v2x:(\*|can_frame_parsed|can_signals_decoded|log_row) ' "$work/list.txt" &&
	fail "default session enables per-frame events: $(grep 'v2x:' "$work/list.txt" | head -3)"
# --per-frame: every v2x event; 1 s at 3,000 frames/s is 156,612 + 3,000 x 161 = 639,612 bytes/s: 128 KiB x 8.
timeout 30 "$TRACE" start --per-frame --name "$pf" --output "$work/pftrace" --rate 3000 --pid "$v2xd_pid" \
	>"$work/pfstart.log" 2>&1 ||
	fail "v2x-trace start --per-frame: $(cat "$work/pfstart.log")"
lttng list "$pf" >"$work/pflist.txt" 2>&1 || fail "lttng list $pf"
grep -q 'v2x:\* ' "$work/pflist.txt" || fail "--per-frame session does not enable v2x:*"
grep -Eq 'Sub-buffer size: +131072 bytes' "$work/pflist.txt" || fail "--per-frame sub-buffer size"
# A flight recorder alongside: overwrite mode, written on demand.
snap="v2x-lat-snap-$$-$RANDOM"
timeout 30 "$TRACE" start --snapshot --seconds 2 --name "$snap" --output "$work/snap" --rate 3000 --pid "$v2xd_pid" \
	>"$work/snapstart.log" 2>&1 || fail "v2x-trace start --snapshot: $(cat "$work/snapstart.log")"
lttng list "$snap" 2>&1 | grep -Eq 'Event-loss mode: +overwrite' || fail "snapshot channel not in overwrite mode"
lttng create "$raw" --output "$work/raw" >/dev/null || fail "lttng create (raw)"
lttng enable-channel -u c --session "$raw" --subbuf-size 256K --num-subbuf 8 >/dev/null || fail "enable-channel (raw)"
lttng add-context -u -t vpid --session "$raw" -c c >/dev/null || fail "add-context (raw)"
lttng enable-event -u --session "$raw" -c c 'v2x:can_frame_parsed,v2x:log_row' >/dev/null || fail "enable-event (raw)"
lttng track -u --session "$raw" --vpid="$v2xd_pid" >/dev/null || fail "lttng track (raw)"
lttng start "$raw" >/dev/null || fail "lttng start (raw)"

PTY_FEED_DELAY_MS=1000 "$TOOLS/pty_feed" --link "$work/tty" --count $LINES --rate 3000 --hold-ms 300 \
	2>"$work/feed.log" &
feed_pid=$!
for _ in $(seq 100); do [ -e "$work/tty" ] && break; sleep 0.05; done
echo go >"$work/go"
timeout 60 tail --pid="$feed_pid" -f /dev/null || fail "pty_feed did not finish within 60 s"
wait "$feed_pid" || fail "pty_feed failed: $(cat "$work/feed.log")"
feed_pid=
kill -TERM "$v2xd_pid"
for _ in $(seq 200); do kill -0 "$v2xd_pid" 2>/dev/null || break; sleep 0.05; done
wait "$v2xd_pid"; rc=$?; pid=$v2xd_pid; v2xd_pid=
[ "$rc" = 0 ] || fail "v2xd exited $rc: $(tail -5 "$work/v2xd.log")"

timeout 30 "$TRACE" snapshot "$snap" >"$work/snapshot.log" 2>&1 || fail "v2x-trace snapshot: $(cat "$work/snapshot.log")"
timeout 30 "$TRACE" stop "$snap" >/dev/null 2>&1 || fail "v2x-trace stop (snapshot session)"
lttng stop "$raw" >/dev/null || fail "lttng stop (raw)"
lttng destroy "$raw" >/dev/null || fail "lttng destroy (raw)"
timeout 30 "$TRACE" stop "$pf" >/dev/null 2>&1 || fail "v2x-trace stop (--per-frame session)"
timeout 30 "$TRACE" stop "$name" >"$work/stop.log" 2>&1 || fail "v2x-trace stop: $(cat "$work/stop.log")"
lttng list 2>/dev/null | grep -q "$name" && fail "session $name still exists after v2x-trace stop"

# --pid (lttng track): the sessions recorded this v2xd only
others=$(babeltrace2 "$work/trace" "$work/pftrace" 2>/dev/null | grep 'v2x:' | grep -cv "vpid = $pid[,}]")
[ "$others" = 0 ] || fail "$others events of other processes recorded despite v2x-trace --pid"
timeout 120 "$LATENCY" "$work/trace" --pid "$pid" --out "$work/plots" --json "$work/lat.json" >"$work/report.txt" \
	2>"$work/lat.err" || fail "v2x-latency: $(cat "$work/lat.err")"
cat "$work/report.txt"
timeout 120 "$LATENCY" "$work/raw" --pid "$pid" --no-plots --json "$work/raw.json" >/dev/null 2>"$work/raw.err" ||
	fail "v2x-latency (raw): $(cat "$work/raw.err")"
V2X_LATENCY_NO_NATIVE=1 timeout 120 "$LATENCY" "$work/trace" --pid "$pid" --no-plots --json "$work/public.json" \
	>/dev/null 2>"$work/public.err" || fail "v2x-latency (public API): $(cat "$work/public.err")"
for e in auto batch; do
	timeout 120 "$LATENCY" "$work/pftrace" --pid "$pid" --no-plots --events "$e" --json "$work/pf-$e.json" \
		>"$work/pf-$e.txt" 2>"$work/pf.err" || fail "v2x-latency --events $e (--per-frame trace): $(cat "$work/pf.err")"
done
sed -n '/^latency/,/^$/p' "$work/pf-auto.txt"

ls -d "$work"/snap/snapshot-* >/dev/null 2>&1 || fail "v2x-trace snapshot wrote nothing under $work/snap"
timeout 120 "$LATENCY" "$work/snap" --pid "$pid" --no-plots --json "$work/snap.json" >/dev/null 2>"$work/snap.err" ||
	fail "v2x-latency (snapshot): $(cat "$work/snap.err")"

/usr/bin/python3 - "$work" "$FRAMES" "$((LINES / 100))" <<'EOF' || fail "checks on v2x-latency's figures"
import json, sys
w, frames, gps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(n):
    return json.load(open("%s/%s.json" % (w, n)))
lat, raw, snap, pub, pf, pfb = (load(n) for n in ("lat", "raw", "snap", "public", "pf-auto", "pf-batch"))
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
keys = ("min", "p50", "p90", "p99", "p99.9", "max")
def complete(doc, label, rx_event, ends):
    P = doc["paths"]
    check(doc["tracer_discarded_events"] == 0, "%s: the tracer discarded events" % label)
    check(doc["frames_received"] == frames and doc["frames_received_from"] == [rx_event],
          "%s: frames received %d from %s, fed %d" % (label, doc["frames_received"], doc["frames_received_from"],
                                                      frames))
    for p in ("rx->decoded", "rx->logged", "rx->published"):
        st = P[p].get("stats", {})
        check(st.get("count") == frames, "%s %s: %s samples, expected %d" % (label, p, st.get("count"), frames))
    for p, ev in zip(("rx->decoded", "rx->logged"), ends):
        r = P[p]
        check(r.get("source") == [ev], "%s %s: followed by %s, expected %s" % (label, p, r.get("source"), ev))
        check((r.get("lost"), r.get("in_flight"), r.get("without_rx"), r.get("lost_inside_batches")) == (0, 0, 0, 0),
              "%s %s: lost %s, in flight %s, without receive %s, inside batches %s" %
              (label, p, r.get("lost"), r.get("in_flight"), r.get("without_rx"), r.get("lost_inside_batches")))
    check(P["rx->mqtt"].get("status", "").startswith("no ") or P["rx->mqtt"].get("stats", {}).get("count") == frames,
          "%s rx->mqtt: neither absent nor complete" % label)
    n = 0
    for p, r in P.items():
        st = r.get("stats")
        if not st or not st.get("count"):
            continue
        v = [st[k] for k in keys]
        check(v[0] >= 0, "%s %s: negative latency %d ns" % (label, p, v[0]))
        check(all(a <= b for a, b in zip(v, v[1:])), "%s %s: percentiles out of order %s" % (label, p, v))
        n += 1
    check(n >= 4, "%s: only %d paths had samples" % (label, n))
# 1. the default session: batch events only; the GPS fixes of pty_feed (one line in 100) are not frames
complete(lat, "default", "can_batch_parsed", ("can_batch_decoded", "log_batch"))
P = lat["paths"]
check(P["rx->decoded"]["events"] == ["can_batch_decoded"] and P["rx->logged"]["events"] == ["log_batch"],
      "default session recorded per-frame events: %s %s" % (P["rx->decoded"]["events"], P["rx->logged"]["events"]))
check(lat["records_not_frames"] == {"gps": gps, "between_log_runs": 0}, "records not frames %s, expected %d GPS fixes" %
      (lat["records_not_frames"], gps))
check(P["snapshot handoff->renamed"].get("stats", {}).get("count", 0) >= 1, "no snapshot matched (--snapshot-s 1)")
check(pub["paths"] == lat["paths"], "bt2's public API and the native reader disagree")
# 2. the --per-frame session: per-frame events; three more events per frame than the default session
complete(pf, "per-frame", "can_frame_parsed", ("can_signals_decoded", "log_row"))
check(pf["events"] - lat["events"] == 3 * frames, "per-frame session: %d events, default %d: not 3 per frame more" %
      (pf["events"], lat["events"]))
complete(pfb, "per-frame trace by batch events", "can_batch_parsed", ("can_batch_decoded", "log_batch"))
for p in ("rx->decoded", "rx->logged"):
    a, b = pf["paths"][p]["stats"], pfb["paths"][p]["stats"]
    check(all(b[k] >= a[k] for k in keys), "%s: batch events below per-frame ones: %s vs %s" %
          (p, [b[k] for k in keys], [a[k] for k in keys]))
check(pf["paths"]["rx->published"]["stats"] == pfb["paths"]["rx->published"]["stats"],
      "rx->published differs between per-frame and batch receive events")
# 3. the raw session (can_frame_parsed and log_row only)
R = raw["paths"]
check(R["rx->decoded"].get("status") == "no events", "raw session: rx->decoded should read 'no events'")
check(R["rx->logged"].get("stats", {}).get("count") == frames, "raw session: rx->logged incomplete")
# 4. the flight recorder keeps the newest events: some frames (its ring holds ~2 s at 3,000/s), all ordered.
sp = snap["paths"]["rx->logged"].get("stats", {})
check(0 < sp.get("count", 0) <= frames, "snapshot: %s frames on rx->logged" % sp.get("count"))
check(all(sp[a] <= sp[b] for a, b in zip(keys, keys[1:])) if sp.get("count") else False, "snapshot: percentiles")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

for f in hist_rx_to_decoded.png hist_rx_to_logged.png hist_rx_to_published.png timeline.png; do
	[ -s "$work/plots/$f" ] || fail "$f missing or empty"
	[ "$(head -c 8 "$work/plots/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
done
echo "latency trace: ok ($FRAMES frames, every path complete)"
