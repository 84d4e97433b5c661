#!/usr/bin/env bash
# The V2G fault-injection suite (issue 8 item 8): tests/tools/v2g_faults drives the session machine through a
# scripted station peer, one fault per case, and prints the report; every case must PASS.  The report is kept in
# $BUILD/test-logs/v2g_faults.report.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/tests/tools/v2g_faults
[ -x "$BIN" ] || { echo "SKIP: $BIN not built (make BUILD=$BUILD tests)"; exit 77; }
mkdir -p "$BUILD/test-logs"
report=$BUILD/test-logs/v2g_faults.report
"$BIN" >"$report" 2>&1
rc=$?
cat "$report"
n=$(grep -c ' PASS' "$report")
[ "$rc" = 0 ] || { echo "FAIL: v2g_faults exited $rc"; exit 1; }
[ "$n" -ge 17 ] || { echo "FAIL: only $n passing cases, the issue lists at least 17"; exit 1; }
grep -q '^SUMMARY cases=[0-9]* passed=[0-9]* failed=0$' "$report" || { echo "FAIL: summary"; exit 1; }
echo "ok: $n cases"
