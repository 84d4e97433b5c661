#!/usr/bin/env bash
# v2xd's configuration through the real program: the shipped v2xd.ini loads and runs; --print-config re-loads to
# the same configuration; the command line wins over the file; bad files are refused with file:line:reason and
# exit status 2; bad option values (empty device, a number with a leading space) are refused.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
HERE=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/v2x-conf-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_refused STATUS TEXT args...: runs v2xd, wants exit STATUS and TEXT in its stderr.
expect_refused() {
	local want=$1 text=$2; shift 2
	"$BIN" "$@" >"$work/out" 2>"$work/err"; local rc=$?
	[ "$rc" = "$want" ] || fail "v2xd $*: exit $rc, expected $want ($(head -3 "$work/err"))"
	grep -qF -- "$text" "$work/err" || fail "v2xd $*: stderr lacks '$text': $(head -3 "$work/err")"
}

# 1. The shipped example loads; its print-config is itself a configuration that loads to the same values.
"$BIN" --config "$HERE/v2xd.ini" --print-config >"$work/a.ini" 2>"$work/err" || fail "v2xd.ini: $(cat "$work/err")"
grep -q '^dev = /dev/ttyUSB0$' "$work/a.ini" || fail "v2xd.ini's device not in print-config"
"$BIN" --config "$work/a.ini" --print-config >"$work/b.ini" 2>"$work/err" || fail "print-config output does not load"
cmp -s "$work/a.ini" "$work/b.ini" || fail "print-config does not round-trip: $(diff "$work/a.ini" "$work/b.ini" | head)"

# 2. The command line wins over the file.
printf '[log]\nflush_ms = 200\nout = %s/fromfile\n[can_rx]\ndev = /dev/null\n' "$work" >"$work/c.ini"
"$BIN" --config "$work/c.ini" --flush-ms 300 --print-config >"$work/c.out" 2>"$work/err" || fail "c.ini: $(cat "$work/err")"
grep -q '^flush_ms = 300$' "$work/c.out" || fail "--flush-ms did not win over the file"
grep -q "^out = $work/fromfile\$" "$work/c.out" || fail "the file's out was lost"

# 3. Bad files: each refused with the file, the line and the reason.
printf '[log]\nflush_ms = 100\n\n[log]\nfrobnicate = 1\n' >"$work/d1.ini"
expect_refused 2 "d1.ini:5:" --config "$work/d1.ini" --can-dev /dev/null
printf '[nosuchsection]\nx = 1\n' >"$work/d2.ini"
expect_refused 2 "d2.ini:1:" --config "$work/d2.ini" --can-dev /dev/null
printf '# comment\n[log]\nflush_ms = 0\n' >"$work/d3.ini"
expect_refused 2 "d3.ini:3:" --config "$work/d3.ini" --can-dev /dev/null
printf '[pipeline]\nring = 1000\n' >"$work/d4.ini"
expect_refused 2 "d4.ini:2:" --config "$work/d4.ini" --can-dev /dev/null
printf '[can_rx]\nbaud = 9600\n' >"$work/d5.ini"
expect_refused 2 "d5.ini:2:" --config "$work/d5.ini" --can-dev /dev/null
printf '[log]\nthis line has no equals sign\n' >"$work/d6.ini"
expect_refused 2 "d6.ini:2:" --config "$work/d6.ini" --can-dev /dev/null
expect_refused 2 "nonexistent.ini" --config "$work/nonexistent.ini" --can-dev /dev/null
expect_refused 2 "/dev/zero" --config /dev/zero --can-dev /dev/null

# 4. Bad option values (issue 13 defect 5).
expect_refused 2 "can-dev" --can-dev ""
for opt in --flush-ms --fsync-ms --rotate-mb --snapshot-s --snapshot-rows --merged-s --log-buffer-kb --ring \
	--spin-us --full-wait-ms --status-s; do
	expect_refused 2 "$opt" --can-dev /dev/null "$opt" " 7"
done
expect_refused 2 "can-dev" --out "$work/x"

# 5. A configuration file runs the daemon: a log replayed from a regular file reaches can_data.csv.
for i in $(seq 1 50); do echo "SIM 155 8 01 97 CE 54 9B 38 00 73"; done >"$work/replay.txt"
printf '[can_rx]\ndev = %s\n[log]\nout = %s/run\n[control]\nstatus_s = 0\n' "$work/replay.txt" "$work" >"$work/run.ini"
"$BIN" --config "$work/run.ini" 2>"$work/run.err" &
pid=$!
for _ in $(seq 200); do grep -q 'end of file' "$work/run.err" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" = 0 ] || fail "v2xd --config run.ini exited $rc: $(tail -3 "$work/run.err")"
rows=$(($(wc -l <"$work/run/can_data.csv") - 1))
[ "$rows" = 50 ] || fail "can_data.csv has $rows rows, expected 50"
echo "v2xd configuration: ok"
