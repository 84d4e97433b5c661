#!/usr/bin/env bash
# trace/v2x-latency's bookkeeping of the batch events (seq ranges) on constructed inputs; every expected figure is
# worked out by hand from the definitions in its header and trace/README.md:
#   - can_batch_parsed(first_seq, count, rx_mono_ns): frames first_seq .. first_seq + count - 1 received at
#     rx_mono_ns; a hop's batch event (first_seq, last_seq, count) at time T: every received frame in the range
#     reached the hop at T;
#   - a frame never covered at a hop is "lost" when a later frame of its link got there, "in flight" otherwise; a
#     batch event's count below its range's length: that many records of the range are lost, left out of the
#     latency samples from the end of the range; a hop range's seqs without a receive event are counted apart;
#     overlapping ranges count their common seqs as repeated;
#   - state_published(last_seq) covers every received frame up to last_seq not covered before, at its time;
#   - the receive ranges hold every record: GPS fixes (gps_fix) and records between two log_batch runs are not
#     frames;
#   - per-frame events (can_frame_parsed, can_signals_decoded, log_row) are used when the trace has them, each hop
#     falling back to the other kind; processes and links are followed apart;
#   - nearest-rank percentiles over frames: one run of w frames counts w times.
# Also checks the batch trace's report and JSON (no bt2 trace needed: print_report on the constructed input).
set -u
HERE=$(cd "$(dirname "$0")/../.." && pwd)
/usr/bin/python3 -c 'import bt2, numpy' 2>/dev/null || { echo "FAIL: python3-bt2 / python3-numpy missing (make deps)"; exit 1; }
/usr/bin/python3 - "$HERE/trace/v2x-latency" <<'EOF'
import importlib.machinery, importlib.util, io, sys
loader = importlib.machinery.SourceFileLoader("v2x_latency", sys.argv[1])
spec = importlib.util.spec_from_loader("v2x_latency", loader)
m = importlib.util.module_from_spec(spec)
loader.exec_module(m)
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)

def rx_batches(t, key, batches):          # [(first_seq, count, rx_ns)]
    t.rx_b[key] = [[b[0] for b in batches], [b[1] for b in batches], [b[2] for b in batches]]
def hop_batches(t, path, key, batches):   # [(first_seq, last_seq, count, ns)]
    t.hop_b[path][key] = [[b[i] for b in batches] for i in range(4)]
def lats(r):
    return sorted(lat for _rx, lat in r["samples"])

# 1. the batch path: three reads, two decode batches, two log batches (the last two frames not logged yet)
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded", "log_batch", "state_published"])
K = (7, 0)
rx_batches(t, K, [(1, 3, 1000), (4, 2, 2000), (6, 4, 3000)])              # frames 1..9
hop_batches(t, "rx->decoded", K, [(1, 5, 5, 2500), (6, 9, 4, 3500)])
hop_batches(t, "rx->logged", K, [(1, 4, 4, 10000), (5, 7, 3, 11000)])
t.cumul_a["rx->published"][K] = [[4, 9], [2600, 3600]]
r = m.analyse(t)
d, l, p = r["rx->decoded"], r["rx->logged"], r["rx->published"]
check(t.frames_received == 9, "frames received %d, expected 9" % t.frames_received)
check(lats(d) == [500] * 6 + [1500] * 3, "decoded latencies %s" % lats(d))
check((d["stats"]["count"], d["stats"]["min"], d["stats"]["p50"], d["stats"]["p90"], d["stats"]["max"]) ==
      (9, 500, 500, 1500, 1500), "decoded stats %s" % d["stats"])
check((d["lost"], d["in_flight"], d["without_rx"], d["duplicates"]) == (0, 0, 0, 0), "decoded loss %s" % d)
check(d["source"] == ["can_batch_decoded"], "decoded source %s" % d.get("source"))
# frames 1-3 at 1000 -> 10000; 4 at 2000 -> 10000; 5 at 2000 -> 11000; 6, 7 at 3000 -> 11000
check(lats(l) == sorted([9000] * 3 + [8000] + [9000] + [8000] * 2), "logged latencies %s" % lats(l))
check((l["lost"], l["in_flight"]) == (0, 2), "logged: lost/in flight %s" % ((l["lost"], l["in_flight"]),))
# published: 1..3 at 2600 - 1000, 4 at 2600 - 2000, 5 at 3600 - 2000, 6..9 at 3600 - 3000
check(lats(p) == sorted([1600] * 3 + [600] + [1600] + [600] * 4), "published latencies %s" % lats(p))
check(p["in_flight"] == 0, "published in flight %s" % p["in_flight"])
check(r["rx->mqtt"].get("status") == "no events", "mqtt %s" % r["rx->mqtt"].get("status"))
out = io.StringIO()
m.print_report(t, r, "constructed", out)
rep = out.getvalue()
check("frames received (can_batch_parsed): 9" in rep, "report header: %s" % rep.splitlines()[1])
check("rx->logged                  lost 0, in flight at trace end 2" in rep, "report loss line")

# 2. loss at a hop by ranges: frames 4..6 never decoded while 7..10 were; a range beyond the receive events
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded"])
rx_batches(t, K, [(1, 5, 0), (6, 5, 100)])                                  # frames 1..10
hop_batches(t, "rx->decoded", K, [(1, 3, 3, 50), (7, 12, 6, 200)])         # 11, 12: no receive event
d = m.analyse(t)["rx->decoded"]
check((d["lost"], d["in_flight"], d["without_rx"]) == (3, 0, 2), "range loss: lost/in flight/without rx %s" %
      ((d["lost"], d["in_flight"], d["without_rx"]),))
check(lats(d) == [50] * 3 + [100] * 4, "range loss latencies %s" % lats(d))

# 3. a batch holding fewer records than its range: 2 lost inside it, left out from its end (frames 9, 10)
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded"])
rx_batches(t, K, [(1, 5, 0), (6, 5, 100)])
hop_batches(t, "rx->decoded", K, [(1, 10, 8, 1000)])
d = m.analyse(t)["rx->decoded"]
check((d["lost"], d["lost_inside_batches"], d["in_flight"], d["without_rx"]) == (2, 2, 0, 0),
      "inside batches: %s" % ((d["lost"], d["lost_inside_batches"], d["in_flight"], d["without_rx"]),))
check(lats(d) == [900] * 3 + [1000] * 5, "inside batches latencies %s" % lats(d))

# 4. overlapping ranges: the common seqs count as repeated, each frame once, at the earlier range
t = m.Trace()
t.seen.update(["can_batch_parsed", "log_batch"])
rx_batches(t, K, [(1, 6, 0)])
hop_batches(t, "rx->logged", K, [(1, 5, 5, 10), (4, 6, 3, 20)])
l = m.analyse(t)["rx->logged"]
check((l["duplicates"], l["lost"], l["in_flight"]) == (2, 0, 0), "overlap: repeated/lost/in flight %s" %
      ((l["duplicates"], l["lost"], l["in_flight"]),))
check(lats(l) == [10] * 5 + [20], "overlap latencies %s" % lats(l))

# 5. processes and links apart: equal seqs, different receive times
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded"])
for vpid in (1, 2):
    for link in (0, 1):
        base = 1000000 * vpid + 1000 * link
        rx_batches(t, (vpid, link), [(1, 4, base)])
        hop_batches(t, "rx->decoded", (vpid, link), [(1, 4, 4, base + 10 * (vpid + link))])
d = m.analyse(t)["rx->decoded"]
check(lats(d) == sorted([10] * 4 + [20] * 8 + [30] * 4), "processes and links %s" % lats(d))
check(t.frames_received == 16, "processes and links: %d frames" % t.frames_received)

# 6. per-frame receive events with batch hops (a session recording can_frame_parsed and log_batch): seq 3 is a
#    GPS record (no can_frame_parsed) inside the range: neither lost nor "without a receive event"
t = m.Trace()
t.seen.update(["can_frame_parsed", "log_batch"])
t.rx_pf[K] = [[1, 2, 4, 5], [100, 100, 100, 200]]
hop_batches(t, "rx->logged", K, [(1, 5, 5, 1000)])
l = m.analyse(t)["rx->logged"]
check(lats(l) == [800] + [900] * 3, "per-frame rx, batch hop %s" % lats(l))
check((l["lost"], l["in_flight"], l["without_rx"]) == (0, 0, 0), "per-frame rx, batch hop loss %s" %
      ((l["lost"], l["in_flight"], l["without_rx"]),))

# 7. a --per-frame trace has both kinds: the per-frame events win; a hop without them uses the batch events
t = m.Trace()
t.seen.update(["can_frame_parsed", "can_batch_parsed", "can_signals_decoded", "can_batch_decoded", "log_batch"])
rx_batches(t, K, [(1, 3, 100)])
t.rx_pf[K] = [[1, 2, 3], [100, 100, 100]]
hop_batches(t, "rx->decoded", K, [(1, 3, 3, 900)])
t.hop_pf["rx->decoded"][K] = [[1, 2, 3], [300, 400, 500]]
hop_batches(t, "rx->logged", K, [(1, 3, 3, 2000)])
r = m.analyse(t)
check(lats(r["rx->decoded"]) == [200, 300, 400], "per-frame preferred %s" % lats(r["rx->decoded"]))
check(r["rx->decoded"]["source"] == ["can_signals_decoded"], "per-frame source %s" % r["rx->decoded"]["source"])
check(lats(r["rx->logged"]) == [1900] * 3, "batch fallback %s" % lats(r["rx->logged"]))
check(t.frames_received == 3 and t.rx_sources == {"can_frame_parsed"}, "per-frame receive side")

# 8. batch receive events with a per-frame hop (a session recording can_batch_parsed and log_row)
t = m.Trace()
t.seen.update(["can_batch_parsed", "log_row"])
rx_batches(t, K, [(1, 4, 0)])
t.hop_pf["rx->logged"][K] = [[1, 2, 4], [10, 20, 40]]
l = m.analyse(t)["rx->logged"]
check(lats(l) == [10, 20, 40] and (l["lost"], l["in_flight"]) == (1, 0), "batch rx, per-frame hop %s %s" %
      (lats(l), (l["lost"], l["in_flight"])))

# 10. can_batch_parsed holds every record of a read: GPS fixes (gps_fix names their seqs) and the records between
#     two runs of CAN frames in log_batch (status records: no event; what ends a run has no CAN row) are not frames;
#     a CAN frame missing inside a run is lost (count below the range)
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded", "log_batch", "gps_fix"])
rx_batches(t, K, [(1, 10, 0), (11, 8, 50)])                                   # records 1..18
t.gps[7] = [5, 14]                                                            # GPS fixes at 5 and 14
hop_batches(t, "rx->decoded", K, [(1, 10, 10, 100), (11, 18, 8, 150)])       # decode holds every record
# CAN runs of the log: 1-4 | GPS 5 | 6-7 | status 8 | 9-11 | status 12, 13, GPS 14 | 15-18 without 17
hop_batches(t, "rx->logged", K, [(1, 4, 4, 200), (6, 7, 2, 210), (9, 11, 3, 220), (15, 18, 3, 230)])
r = m.analyse(t)
d, l = r["rx->decoded"], r["rx->logged"]
check(t.not_frames == {"gps": 2, "between_log_runs": 3}, "records not frames %s" % t.not_frames)
check(t.frames_received == 13, "frames %d, expected 13 (18 records - 2 GPS - 3 status)" % t.frames_received)
check(lats(d) == [100] * 13 and (d["lost"], d["in_flight"], d["without_rx"]) == (0, 0, 0),
      "decoded with GPS/status records: %s %s" % (lats(d), (d["lost"], d["in_flight"], d["without_rx"])))
# 1-4 at 200, 6-7 at 210, 9-10 at 220 (rx 0), 11 at 220 (rx 50), 15-18 at 230 (rx 50) less one, from the end
check(lats(l) == sorted([200] * 4 + [210] * 2 + [220] * 2 + [170] + [180] * 3),
      "logged with GPS/status records %s" % lats(l))
check((l["lost"], l["lost_inside_batches"], l["in_flight"], l["without_rx"]) == (1, 1, 0, 0),
      "logged: lost/inside batches/in flight/without rx %s" %
      ((l["lost"], l["lost_inside_batches"], l["in_flight"], l["without_rx"]),))
out = io.StringIO()
m.print_report(t, r, "constructed", out)
check("2 GPS fixes (gps_fix), 3 between two logged runs" in out.getvalue(), "report: records not frames")

# 11. a decode range holding a GPS fix and one record fewer than it spans: one frame lost inside it
t = m.Trace()
t.seen.update(["can_batch_parsed", "can_batch_decoded", "gps_fix"])
rx_batches(t, K, [(1, 10, 0)])
t.gps[7] = [5]
hop_batches(t, "rx->decoded", K, [(1, 10, 9, 100)])
d = m.analyse(t)["rx->decoded"]
check((d["lost"], d["lost_inside_batches"], d["without_rx"], len(d["samples"])) == (1, 1, 0, 8),
      "GPS in a short decode range: lost/inside/without rx/samples %s" %
      ((d["lost"], d["lost_inside_batches"], d["without_rx"], len(d["samples"])),))

# 9. nearest rank over frames with runs: 10 once, 20 997 times, 30 twice (1,000 frames)
st = m.summarize([20, 30, 10], [997, 2, 1])
check((st["count"], st["min"], st["p50"], st["p99"], st["p99.9"], st["max"]) == (1000, 10, 20, 20, 30, 30),
      "weighted percentiles %s" % st)

for b in bad:
    print("FAIL: " + b)
print("latency ranges: %s" % ("ok" if not bad else "%d failure(s)" % len(bad)))
sys.exit(1 if bad else 0)
EOF
