#!/usr/bin/env bash
# Differential test of the NMEA path against gpsd's gpsdecode (issue 12 item 8): see gps_gpsdecode_diff.py beside
# this file for what is generated, compared, and the documented differences.  Exit 77 (skip) without gpsdecode.
set -u
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
exec "$PY" "$(dirname "$0")/gps_gpsdecode_diff.py"
