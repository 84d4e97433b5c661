#!/usr/bin/env bash
# trace/v2x-latency's analysis on constructed inputs, where every expected figure follows from the definitions in
# its header and trace/README.md (no trace needed, so the cases a short real session never produces are covered):
#   - nearest-rank percentiles: of the samples 1..1000, p50 = 500, p90 = 900, p99 = 990, p99.9 = 999;
#   - a frame received but missing at a per-frame hop is "lost" when a later frame of its link reached that hop,
#     "in flight" when none did; a hop event without a receive event is counted apart;
#   - state_published(last_seq) covers every received frame up to last_seq not covered before, at its time;
#   - the largest gap between consecutive reads overlapping each snapshot's hand-off..rename interval;
#   - processes (vpid) and links are followed separately: equal sequence numbers do not mix.
set -u
HERE=$(cd "$(dirname "$0")/../.." && pwd)
/usr/bin/python3 -c 'import bt2' 2>/dev/null || { echo "FAIL: python3-bt2 missing (make deps)"; exit 1; }
/usr/bin/python3 - "$HERE/trace/v2x-latency" <<'EOF'
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("v2x_latency", sys.argv[1])
spec = importlib.util.spec_from_loader("v2x_latency", loader)
m = importlib.util.module_from_spec(spec)
loader.exec_module(m)
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)

# 1. percentiles by nearest rank
st = m.summarize(list(range(1000, 0, -1)))
check((st["count"], st["min"], st["p50"], st["p90"], st["p99"], st["p99.9"], st["max"]) ==
      (1000, 1, 500, 900, 990, 999, 1000), "nearest-rank percentiles of 1..1000: %s" % st)
st = m.summarize([7])
check(st["p50"] == st["p99.9"] == st["min"] == st["max"] == 7, "one sample: %s" % st)

# 2. losses, in flight, hop events without a receive event; two processes and two links with equal seqs
t = m.Trace()
t.seen.update(["can_frame_parsed", "can_signals_decoded", "log_row", "state_published"])
for vpid in (100, 200):
    for link in (0, 1):
        for seq in range(1, 11):
            t.rx[(vpid, link, seq)] = 1000000 * seq + 1000 * link
dec = t.hop.setdefault("rx->decoded", {})
log = t.hop.setdefault("rx->logged", {})
for key, rx in t.rx.items():
    vpid, link, seq = key
    if not (vpid == 100 and link == 1 and seq in (3, 4)):   # two frames lost before decode on one link
        dec[key] = rx + 5000
    if not (vpid == 200 and link == 0 and seq >= 9):         # the last two of one link not logged yet
        log[key] = rx + 20000
dec[(100, 0, 11)] = 99000000                                  # decoded, its receive event not in the trace
# state published twice per (process, link): up to seq 5 at +1.5 ms after frame 5, then up to 10
for vpid in (100, 200):
    for link in (0, 1):
        t.cumul.setdefault("rx->published", []).append((vpid, link, None, 5, 1000000 * 5 + 1000 * link + 1500000))
        t.cumul["rx->published"].append((vpid, link, None, 10, 1000000 * 10 + 1000 * link + 500000))
r = m.analyse(t)
d, l, p = r["rx->decoded"], r["rx->logged"], r["rx->published"]
check((d["lost"], d["in_flight"], d["without_rx"]) == (2, 0, 1), "decoded: lost/in flight/without rx %s" %
      ((d["lost"], d["in_flight"], d["without_rx"]),))
check(d["stats"]["count"] == 38 and d["stats"]["min"] == d["stats"]["max"] == 5000, "decoded stats %s" % d["stats"])
check((l["lost"], l["in_flight"]) == (0, 2), "logged: lost/in flight %s" % ((l["lost"], l["in_flight"]),))
check(l["stats"]["count"] == 38 and l["stats"]["p50"] == 20000, "logged stats %s" % l["stats"])
# published: frame k <= 5 waits (5 - k) ms + 1.5 ms; frame k in 6..10 waits (10 - k) ms + 0.5 ms
want = sorted(4 * ([(5 - k) * 1000000 + 1500000 for k in range(1, 6)] + [(10 - k) * 1000000 + 500000 for k in range(6, 11)]))
got = sorted(lat for _rx, lat in p["samples"])
check(got == want, "published latencies %s, expected %s" % (got[:12], want[:12]))
check(r["rx->mqtt"].get("status") == "no events", "mqtt: %s" % r["rx->mqtt"].get("status"))

# 3. the largest receive gap during each snapshot
t = m.Trace()
t.seen.update(["can_bytes_read", "snapshot_handoff", "snapshot_renamed"])
t.reads[(1, 0)] = [0, 100, 200, 900, 1000, 1100, 5000, 5100]
t.snapshots = [(1, 0, 150, 950, 0), (1, 0, 4000, 4100, 0)]   # gaps 100 | 700 | 100, then inside 1100..5000
r = m.analyse(t)
g = sorted(lat for _h, lat in r["snapshot rx gap"]["samples"])
check(g == [700, 3900], "snapshot gaps %s, expected [700, 3900]" % g)
s = sorted(lat for _h, lat in r["snapshot handoff->renamed"]["samples"])
check(s == [100, 800], "snapshot durations %s" % s)
check(r["snapshot rx gap"]["largest_gap_outside_snapshots_ns"] == 100,
      "gap away from snapshots %s" % r["snapshot rx gap"]["largest_gap_outside_snapshots_ns"])

for b in bad:
    print("FAIL: " + b)
print("latency analysis: %s" % ("ok" if not bad else "%d failure(s)" % len(bad)))
sys.exit(1 if bad else 0)
EOF
