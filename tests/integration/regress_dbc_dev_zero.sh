#!/usr/bin/env bash
# Regression for issue 13 defect 2 (and the DBC half of defect 5): `--dbc /dev/zero` or `/dev/urandom` made dbc_load
# double its buffer until memory ran out.  Now every DBC that is not a regular file, is over dbc.h's 4 MiB cap, or
# defines no message is refused at once with a message naming it, and both `v2xd decode` and the daemon exit 1.
# Each run is bounded by `timeout` (exit 124 = the old unbounded read) and, except under AddressSanitizer (which
# reserves terabytes of address space), a 512 MiB address-space limit.
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-regress-dbc-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
vlimit=524288
grep -q __asan_init "$BIN" && vlimit=unlimited

printf 'SIM 155 8 07 08 F0 54 6D 58 00 00\n' >"$work/in.txt"
truncate -s $((4 * 1024 * 1024 + 1)) "$work/big.dbc"
: >"$work/empty.dbc"
printf 'VERSION ""\n\nBU_: N\n' >"$work/nomsg.dbc"

# check WHAT EXPECT_RC EXPECT_TEXT CMD...
check() {
	local what=$1 want=$2 text=$3
	shift 3
	(ulimit -v "$vlimit"; timeout 10 "$@") >"$work/out" 2>"$work/err" </dev/null
	local rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: $what: exit $rc, want $want"; sed 's/^/  /' "$work/err" | head -5; fail=1; return
	fi
	if ! grep -q -- "$text" "$work/err"; then
		echo "FAIL: $what: no message containing '$text'"; sed 's/^/  /' "$work/err" | head -5; fail=1; return
	fi
	echo "ok: $what: exit $rc: $(head -1 "$work/err")"
}

for dev in /dev/zero /dev/urandom /dev/null; do
	check "decode --dbc $dev" 1 "$dev: not a regular file" "$BIN" decode --dbc "$dev" "$work/in.txt"
done
check "decode --dbc <directory>" 1 "not a regular file (a directory)" "$BIN" decode --dbc "$work" "$work/in.txt"
check "decode --dbc <4 MiB + 1>" 1 "larger than the 4 MiB" "$BIN" decode --dbc "$work/big.dbc" "$work/in.txt"
check "decode --dbc <empty file>" 1 "no message" "$BIN" decode --dbc "$work/empty.dbc" "$work/in.txt"
check "decode --dbc <no BO_>" 1 "no message" "$BIN" decode --dbc "$work/nomsg.dbc" "$work/in.txt"
# The daemon: the DBC is loaded before the device is opened; a regular file as --can-dev keeps it off any tty.
for dev in /dev/zero /dev/urandom; do
	check "v2xd --dbc $dev" 1 "$dev: not a regular file" "$BIN" --can-dev "$work/in.txt" --out "$work/out_d" \
		--dbc "$dev"
done
check "v2xd --dbc <4 MiB + 1>" 1 "larger than the 4 MiB" "$BIN" --can-dev "$work/in.txt" --out "$work/out_d" \
	--dbc "$work/big.dbc"
exit $fail
