#!/usr/bin/env bash
# uplink_deploy.sh - the service files of v2xd (programs/v2xd/: the systemd unit, the udev rules, the sysusers.d
# file): `make install-service` honours DESTDIR and PREFIX, systemd-analyze verify accepts the unit with the binary
# it names present (and refuses it without, or with a typo: the check can fail), the unit has what issue 9 asks
# for, the sandbox's exposure score, the udev rules name both boards, the sysusers file creates v2x in dialout.
# Skipped (77) only when systemd-analyze is missing.
set -u
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed: skipped"; exit 77; }
cd "$(dirname "$0")/../.." || exit 1
t=$(mktemp -d /tmp/v2x-deploy-XXXXXX)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. DESTDIR with PREFIX=/usr: the distribution paths
make -s install-service DESTDIR="$t/dest" PREFIX=/usr >"$t/make.log" 2>&1 || { cat "$t/make.log"; fail "make install-service"; }
unit="$t/dest/usr/lib/systemd/system/v2xd.service"
[ -f "$unit" ] || fail "unit not installed at /usr/lib/systemd/system"
[ -f "$t/dest/usr/lib/udev/rules.d/60-v2x-esp32.rules" ] || fail "udev rules not installed"
[ -f "$t/dest/usr/lib/sysusers.d/v2x-rt.conf" ] || fail "sysusers file not installed"
grep -q '^ExecStart=/usr/bin/v2xd --config /etc/v2x-rt/v2xd.ini ' "$unit" || fail "ExecStart paths: $(grep ExecStart "$unit")"
grep -q '@[A-Z]*@' "$unit" && fail "unsubstituted @VAR@ in the unit"

# 2. what the issue asks of the unit
for want in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=10s' 'User=v2x' 'SupplementaryGroups=dialout' \
	'AmbientCapabilities=CAP_SYS_NICE CAP_IPC_LOCK' 'CapabilityBoundingSet=CAP_SYS_NICE CAP_IPC_LOCK' \
	'StateDirectory=v2x-rt' 'LogsDirectory=v2x-rt' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'DevicePolicy=closed'; do
	grep -qx "$want" "$unit" || fail "unit lacks '$want'"
done
[ "$(grep -c '^AmbientCapabilities=' "$unit")" = 1 ] || fail "more than one AmbientCapabilities line"
grep -q '^RestrictRealtime=yes' "$unit" && fail "RestrictRealtime=yes would forbid the SCHED_FIFO stages"

# 3. systemd-analyze verify, with the binary the unit names present (PREFIX in a temp dir)
make -s install-service PREFIX="$t/p" >"$t/make2.log" 2>&1 || { cat "$t/make2.log"; fail "make install-service PREFIX"; }
unit2="$t/p/lib/systemd/system/v2xd.service"
mkdir -p "$t/p/bin"
bin="${V2X_BUILD:-build}/bin/v2xd"
if [ -x "$bin" ]; then cp "$bin" "$t/p/bin/v2xd"; else printf '#!/bin/sh\nexit 0\n' >"$t/p/bin/v2xd"; chmod 755 "$t/p/bin/v2xd"; fi
systemd-analyze verify "$unit2" >"$t/verify.log" 2>&1 || { cat "$t/verify.log"; fail "systemd-analyze verify refused the unit"; }
if grep -q 'v2xd.service' "$t/verify.log"; then cat "$t/verify.log"; fail "verify warned about the unit"; fi
echo "verify: ok"
# every option ExecStart passes is one the real v2xd knows (when it is built)
if [ -x "$bin" ]; then
	"$bin" --help >"$t/help.txt" 2>&1
	for o in $(sed -n 's/^ExecStart=[^ ]* //p' "$unit2" | grep -o -- '--[a-z0-9-]*'); do
		grep -q -- "$o[ =]" "$t/help.txt" || grep -q -- "$o\$" "$t/help.txt" || fail "v2xd --help has no $o"
	done
	echo "ExecStart options: known to v2xd"
fi
# ... and it does refuse a unit whose binary is missing, or with a bad value (so the check above can fail)
rm "$t/p/bin/v2xd"
systemd-analyze verify "$unit2" >"$t/verify2.log" 2>&1 && fail "verify accepted a missing binary"
sed 's/^Type=notify$/Type=notifyy/' "$unit2" >"$t/bad.service"
printf '#!/bin/sh\n' >"$t/p/bin/v2xd"; chmod 755 "$t/p/bin/v2xd"
systemd-analyze verify "$t/bad.service" >"$t/verify3.log" 2>&1
grep -q "Failed to parse service type" "$t/verify3.log" || { cat "$t/verify3.log"; fail "verify did not report Type=notifyy"; }

# 4. the sandbox's exposure (systemd-analyze security, offline)
systemd-analyze security --offline=yes "$unit2" >"$t/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for v2xd.service: \([0-9.]*\).*/\1/p' "$t/security.log")
[ -n "$score" ] || { cat "$t/security.log"; fail "no exposure score"; }
echo "systemd-analyze security: exposure $score"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score above 3.0"

# 5. udev rules: both names, each active rule with a vendor, a product, a serial, dialout and 0660
rules="$t/dest/usr/lib/udev/rules.d/60-v2x-esp32.rules"
grep -q 'SYMLINK+="v2x-can"' "$rules" || fail "no v2x-can rule"
grep -q 'SYMLINK+="v2x-hub"' "$rules" || fail "no v2x-hub rule"
while IFS= read -r line; do
	case "$line" in ''|'#'*) continue ;; esac
	for k in 'SUBSYSTEM=="tty"' 'ATTRS{idVendor}=="' 'ATTRS{idProduct}=="' 'ATTRS{serial}=="' 'GROUP="dialout"' 'MODE="0660"'; do
		case "$line" in *"$k"*) ;; *) fail "udev rule without $k: $line" ;; esac
	done
done <"$rules"
if command -v udevadm >/dev/null 2>&1 && udevadm verify --help >/dev/null 2>&1; then
	udevadm verify "$rules" || fail "udevadm verify"
fi

# 6. sysusers: v2x, a member of dialout
sysu="$t/dest/usr/lib/sysusers.d/v2x-rt.conf"
grep -Eq '^u v2x ' "$sysu" || fail "sysusers: no user v2x"
grep -Eq '^m v2x dialout$' "$sysu" || fail "sysusers: v2x not in dialout"
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$t/root/etc"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$t/root/etc/passwd"
	printf 'root:x:0:\ndialout:x:20:\n' >"$t/root/etc/group"
	systemd-sysusers --root="$t/root" "$sysu" >"$t/sysusers.log" 2>&1 || { cat "$t/sysusers.log"; fail "systemd-sysusers"; }
	grep -q '^v2x:' "$t/root/etc/passwd" || fail "sysusers did not create v2x"
	grep -Eq '^dialout:x:20:(.*,)?v2x(,.*)?$' "$t/root/etc/group" || fail "v2x not added to dialout: $(grep dialout "$t/root/etc/group")"
fi
echo "PASS"
