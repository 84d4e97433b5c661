#!/usr/bin/env bash
# `v2xd decode` on a receiver's NMEA stream (issue 12): every talker gives a fix (the issue's $INRMC example), AIS,
# proprietary and other well-formed types are counted as ignored by type, so --strict exits 0; a sentence after junk
# on its line is recovered with the junk counted once (then --strict exits 1); a SIM line with a 4-digit id and no
# extended flag is refused as sim_id.  Expected values from the sentences' own fields: ddmm.mmmm = dd + mm.mmmm/60,
# 1 kn = 1.852 km/h; checksums computed from the text (XOR of the bytes between '$' or '!' and '*').
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-nmea-XXXXXX)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
fail() { echo "FAIL: $*"; sed 's/^/  /' "$work/err" | tail -5; exit 1; }

printf '%s\r\n' \
	'$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39' \
	'$GLGSV,2,1,08,65,26,057,32,66,73,332,41,72,42,104,40,73,12,036,28*63' \
	'$GPTXT,01,01,02,u-blox ag - www.u-blox.com*50' \
	'$PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,0.007,,0.92,1.19,0.77,9,0,0*5F' \
	'$GNRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V*33' \
	'$GNGGA,083559.00,4717.11437,N,00833.91522,E,1,08,1.01,499.6,M,48.0,M,,*46' \
	'$GNVTG,77.52,T,,M,0.004,N,0.008,K,A*18' \
	'$GNGLL,4717.11437,N,00833.91522,E,083559.00,A,A*75' \
	'$GNGNS,083559.00,4717.11437,N,00833.91522,E,AAN,12,1.01,499.6,48.0,,,V*53' \
	'$INRMC,101500,A,4807.0380,N,01131.0000,E,5.2,77.3,160906,1.8,W*46' \
	'$GNZDA,083559.00,09,12,2002,00,00*70' \
	'!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*71' \
	'!AIVDO,1,1,,,B5NJ;PP005l4ot5Isbl03wsUkP06,0*35' \
	'$PGRME,15.0,M,45.0,M,25.0,M*1C' >"$work/rx.txt"
"$BIN" decode --strict "$work/rx.txt" >"$work/out" 2>"$work/err" || fail "--strict on a receiver's stream: exit $?"
grep -q 'ignored: GPGSA=1 GLGSV=1 GPTXT=1 PUBX=1 GNZDA=1 AIVDM=1 AIVDO=1 PGRME=1$' "$work/err" ||
	fail "ignored units by type"
grep -q ', 6 records (0 CAN frames, 6 GPS fixes, 0 status), 8 ignored, 0 rejected' "$work/err" || fail "counts"
"$PY" - "$work/out" <<'PYEOF' || exit 1
import json, sys
rows = {r["line"]: r["gps"] for r in map(json.loads, open(sys.argv[1]))}
bad = []
def expect(line, key, want, tol=1e-9):
    got = rows.get(line, {}).get(key)
    if got is None or (abs(got - want) > tol if isinstance(want, float) else got != want):
        bad.append("line %d %s: got %r, want %r" % (line, key, got, want))
lat, lon = 47 + 17.11437 / 60, 8 + 33.91522 / 60
expect(5, "lat", lat); expect(5, "lon", lon)
expect(5, "valid", False)                        # RMC navigational status V (NMEA 4.1)
expect(6, "valid", True); expect(6, "alt_m", 499.6)
expect(7, "speed_kmh", 0.004 * 1.852)            # VTG: from knots, not the 0.008 km/h field
expect(8, "valid", True)                         # GLL A, mode A
expect(9, "valid", False)                        # GNS AAN, but nav status V
expect(10, "lat", 48 + 7.038 / 60); expect(10, "lon", 11 + 31.0 / 60)   # the issue's $INRMC example
expect(10, "speed_kmh", 5.2 * 1.852); expect(10, "course_deg", 77.3); expect(10, "valid", True)
expect(10, "time", "2006-09-16T10:15:00.000000Z")
if bad:
    print("FAIL:\n" + "\n".join(bad)); sys.exit(1)
PYEOF

# Recovery inside a line: the issue's spliced example, an escape sequence, NULs; the junk is one reject each.
printf '%s\r\n' '$GPGGA,1234$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4D' \
	$'\x1b[0m $GPGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4D' >"$work/junk.txt"
printf 'ab\0\0$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4D\r\n' >>"$work/junk.txt"
"$BIN" decode --strict "$work/junk.txt" >"$work/out" 2>"$work/err"
[ $? = 1 ] || fail "--strict must exit 1: junk was rejected"
[ "$(grep -c '"lat":51.11666666666667' "$work/out")" = 3 ] || fail "three recovered GLL fixes"
grep -q ', 3 records .*, 3 rejected nmea_junk=3;' "$work/err" || fail "junk counted once per line"

# Issue 12 item 7: an id above 0x7FF without the extended flag is a corrupted SIM line.
printf 'SIM 1558 7 01 97 CE 54 9B 38 00 73\r\nSIM 155 8 01 97 CE 54 9B 38 00 73\r\n' >"$work/sim.txt"
"$BIN" decode "$work/sim.txt" >"$work/out" 2>"$work/err" || fail "decode exit $?"
grep -q '^line 1: rejected (sim_id): SIM 1558 7' "$work/err" || fail "sim_id reject"
grep -q '1 rejected sim_id=1;' "$work/err" || fail "sim_id count"
[ "$(wc -l <"$work/out")" = 1 ] || fail "the good SIM line"
echo "ok"
