#!/usr/bin/env bash
# `v2xd decode` on frames built from ../shared/facts/twizy-can.md, one per CAN id: every canonical signal's value,
# worked out by hand from the table (arithmetic in the comments), the validity rules, malformed lines rejected with
# their line number and reason, and --strict's exit status.  Runs under `make check` too (ASan/UBSan build).
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-decode-XXXXXX)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

cat >"$work/in.txt" <<'LINES'
SIM 155 8 07 08 F0 54 6D 58 00 00
SIM 196 8 00 00 00 00 00 41 00 00
SIM 19F 8 00 00 83 40 00 00 00 00
SIM 424 8 11 00 10 20 00 5F 00 00
SIM 425 8 2A 3C 00 00 00 00 00 00
SIM 554 8 3C 3D 3E 3F 40 41 42 43
SIM 556 8 29 42 96 29 82 9A 29 C0
SIM 557 8 29 42 96 29 82 9A 29 C0
SIM 55E 8 29 42 96 29 82 9A 00 00
SIM 55F 8 00 00 00 00 00 23 F2 41
SIM 597 8 20 20 0A 00 00 00 00 46
SIM 599 8 00 00 00 00 00 64 13 88
SIM 59B 8 08 09 00 FD 00 00 00 00
SIM 59E 8 00 00 00 00 00 50 00 00
SIM 5D7 8 00 00 01 2D 68 70 00 00
SIM 196 8 00 00 00 00 00 FF 00 00
SIM 599 4 00 00 00 00 00 64 13 88
SIM 155 8 07 08 F0 94 6D 58 00 00
SIM 155 9 07 08 F0 54 6D 58 00 00
this is not a frame
(1755515106.123456) can0 155#0596E7546D58006F
LINES

"$BIN" decode "$work/in.txt" >"$work/out.json" 2>"$work/err.txt"
rc=$?
[ "$rc" = 0 ] || { echo "FAIL: exit $rc without --strict"; cat "$work/err.txt"; exit 1; }
"$BIN" decode --strict "$work/in.txt" >/dev/null 2>&1
[ $? = 1 ] || { echo "FAIL: --strict must exit 1 when a line was rejected"; exit 1; }
head -15 "$work/in.txt" | "$BIN" decode --strict - >/dev/null 2>&1 || { echo "FAIL: --strict on good input"; exit 1; }

"$PY" - "$work/out.json" "$work/err.txt" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    rows[o["line"]] = o
err = open(sys.argv[2]).read()
bad = []
def sig(line, name):
    return rows[line]["signals"].get(name)
def expect(line, name, want, tol=1e-9):
    got = sig(line, name)
    if got is None or (isinstance(want, str) and got != want) or \
       (not isinstance(want, str) and abs(got - want) > tol * max(1.0, abs(want))):
        bad.append(f"line {line} {name}: got {got!r}, want {want!r}")
# 0x155: B0 7; current raw (B1&0x0F)<<8|B2 = 0x8F0 = 2288 -> (2288-2000)/4 = 72 A; B3 0x54 valid;
#        soc raw 0x6D58 = 27992 -> /400 = 69.98 %
expect(1, "charge_power_req", 7); expect(1, "current", 72.0); expect(1, "bms_valid", 84); expect(1, "soc", 69.98)
# 0x196: B5 0x41 = 65 -> 65-40 = 25 C
expect(2, "motor_temp", 25)
# 0x19F: (0x8340 >> 4) = 0x834 = 2100 -> (2100-2000)*10 = 1000 rpm
expect(3, "motor_rpm", 1000)
# 0x424: B0 0x11; B2 16*500 = 8000 W; B3 32*500 = 16000 W; B5 0x5F = 95 %
expect(4, "bms_state_424", 17); expect(4, "max_charge_power", 8000); expect(4, "max_drive_power", 16000)
expect(4, "soh", 95)
# 0x425: B0 0x2A = 42 (driving); B1 0x3C = 60 -> 6.0 kWh
expect(5, "bms_state", 42); expect(5, "energy_avail", 6.0)
# 0x554: 0x3C..0x43 -> 20..27 C (8-module pack: module_temp8 from B7)
for i in range(8):
    expect(6, f"module_temp{i+1}", 20 + i)
# 0x556/0x557: c1 0x294=660, c2 0x296=662, c3 0x298=664, c4 0x29A=666, c5 0x29C=668 -> /200 V
for base, line in ((1, 7), (6, 8)):
    for k, raw in enumerate((660, 662, 664, 666, 668)):
        expect(line, f"cell_v{base+k}", raw / 200)
# 0x55E: cells 11..14 from B0..B5
for k, raw in enumerate((660, 662, 664, 666)):
    expect(9, f"cell_v{11+k}", raw / 200)
# 0x55F: v1 = 0x23<<4|0xF = 575, v2 = 0x2<<8|0x41 = 577 -> mean 576 /10 = 57.6 V; power = 72 A * 57.6 V / 1000
expect(10, "pack_voltage", 57.6); expect(10, "power", 72 * 57.6 / 1000)
# 0x597: B0 0x20 plug; B1 0x20 -> charging (CHARGING set, OFFLINE clear); B2 10/5 = 2 A; B7 0x46 = 70-40 = 30 C
expect(11, "plug", 1); expect(11, "charging", 1); expect(11, "dcdc_current", 2.0); expect(11, "charger_temp", 30)
# 0x599: B5 0x64 = 100 km; B6B7 0x1388 = 5000 -> 50 km/h
expect(12, "range", 100); expect(12, "speed", 50.0)
# 0x59B: B0 0x08 -> reverse (-1); B1 0x09 -> brake 1, ignition 1; B3 253 -> 253*100/253 = 100 %
expect(13, "gear", -1); expect(13, "brake", 1); expect(13, "ignition", 1); expect(13, "throttle", 100.0)
# 0x59E: B5 0x50 = 80-40 = 40 C
expect(14, "inverter_temp", 40)
# 0x5D7: 0x01<<20 | 0x2D<<12 | 0x68<<4 | 0x7 = 1234567 -> /100 = 12345.67 km
expect(15, "odometer", 12345.67)
# sentinels and validity: 0xFF motor temperature refused; DLC 4 leaves range and speed unread; B3 0x94 gates 0x155
if "motor_temp" in rows[16]["signals"] or rows[16].get("invalid", {}).get("range") != 1:
    bad.append(f"line 16: 0xFF motor_temp must be refused and counted: {rows[16]}")
if "range" in rows[17]["signals"] or "speed" in rows[17]["signals"] or rows[17].get("invalid", {}).get("short_dlc") != 2:
    bad.append(f"line 17: DLC 4 must leave range and speed unread: {rows[17]}")
if "soc" in rows[18]["signals"] or "current" in rows[18]["signals"] or not rows[18].get("invalid", {}).get("gated"):
    bad.append(f"line 18: bms_valid 0x94 must gate the frame: {rows[18]}")
# malformed lines: not decoded, reported with line number and reason
if 19 in rows or 20 in rows:
    bad.append("lines 19/20 are malformed and must not be decoded")
for want in ("line 19: rejected (bad_sim)", "line 20: rejected (unknown_line)", "2 rejected"):
    if want not in err:
        bad.append(f"stderr lacks {want!r}: {err!r}")
# candump line with its own time; interop.md's example frame: current raw 0x6E7 = 1767 -> -58.25 A, soc 69.98
if rows[21].get("t") != 1755515106.123456 or rows[21].get("id") != "155":
    bad.append(f"line 21: {rows[21]}")
expect(21, "current", -58.25); expect(21, "soc", 69.98)
if bad:
    print("FAIL:\n" + "\n".join(bad)); sys.exit(1)
print(f"decode_cli: {len(rows)} decoded lines checked")
PY
