#!/usr/bin/env bash
# v2xctl against a stand-in daemon (tests/tools/control_server: rt/control with known metric values, see its header):
# every verb in --json (parsed by python3's json) and human form, key=value and positional arguments sent as JSON
# numbers, the exit statuses (0 ok, 1 daemon error, 2 usage, 3 cannot connect), watch without a tty, the socket's
# mode, a stale socket after a crash, and a second server refused.  The test against a running v2xd comes with its
# wiring.
set -u
BUILD=${V2X_BUILD:-build}
CTL=$BUILD/bin/v2xctl
SRV=$BUILD/tests/tools/control_server
[ -x "$CTL" ] && [ -x "$SRV" ] || { echo "SKIP: build $CTL and $SRV first"; exit 77; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
work=$(mktemp -d /tmp/v2x-ctl-XXXXXX)
sock=$work/v2xd.sock
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# start_server LOG: starts the stand-in daemon, waits until it says it listens
start_server() {
	srv_log=$work/$1
	"$SRV" "$sock" >"$srv_log" 2>&1 &
	srv_pid=$!
	for _ in $(seq 200); do [ -S "$sock" ] && grep -q "listening on" "$srv_log" && return 0; sleep 0.05; done
	echo "FAIL: the server did not start"; cat "$srv_log"; exit 1
}

# run EXPECTED_RC ARGS...: runs v2xctl, keeps stdout in $work/out and stderr in $work/err
run() {
	local want=$1; shift
	"$CTL" "$@" >"$work/out" 2>"$work/err"
	local rc=$?
	[ "$rc" = "$want" ] || { fail "v2xctl $* exited $rc, expected $want"; cat "$work/out" "$work/err"; }
}

# check PYTHON_EXPR: evaluates the expression with j = the JSON in $work/out
check() {
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$work/out" "$1" || { fail "json check failed: $1"; cat "$work/out"; }
}

grep_out() { grep -q -- "$1" "$work/out" || { fail "output lacks '$1'"; cat "$work/out"; }; }
grep_err() { grep -q -- "$1" "$work/err" || { fail "stderr lacks '$1'"; cat "$work/err"; }; }

start_server server1.log
perm=$(stat -c %a "$sock")
[ "$perm" = 660 ] || fail "socket mode $perm, expected 660"

# ping
run 0 --socket "$sock" ping
grep_out "pong: control_server  pid $srv_pid"
run 0 --socket "$sock" ping --json
check "j['program'] == 'control_server' and j['pid'] == $srv_pid and j['uptime_s'] >= 0"

# status: values from control_server's header
run 0 --socket "$sock" status --json
check "j['stages']['demo']['records'] == dict(type='counters', **{k: j['stages']['demo']['records'][k] for k in ('in_rate','out_rate')}, **{'in': 120, 'out': 117, 'dropped': 3, 'drops': {'crc': 2, 'ring_full': 1}, 'hwm': 9})"
check "j['stages']['demo']['bytes']['value'] == 4096"
check "j['stages']['demo']['demo->sink'] == {'type': 'ring', 'fill': 5, 'capacity': 16, 'high_water': j['stages']['demo']['demo->sink']['high_water'], 'full_drops': 0}"
check "j['stages']['demo']['link'] == {'type': 'text', 'value': 'up'}"
check "j['stages']['disk']['free_mb'] == {'type': 'gauge', 'value': 512, 'unit': 'MB'}"
check "'latency' not in j['stages']['demo']"
check "j['stages']['control']['accepted']['value'] >= 2"
# the default socket comes from V2X_SOCKET
V2X_SOCKET=$sock run 0 status
grep_out "^STAGE"
grep_out "^demo  *120  *117  *[0-9]*  *3  *crc=2 ring_full=1$"
grep_out "^demo->sink  *demo  *5  *16  *31.2%"
grep_out "link up"
grep_out "free_mb 512 MB"

# stats: 1..100 recorded; p50 = 50, p90 = 91 (bucket [90,91]), p99 = 99, p99.9 = max 100 (rt/histogram.h's rule)
run 0 --socket "$sock" stats --json
check "(lambda h: (h['count'], h['min'], h['p50'], h['p90'], h['p99'], h['p999'], h['max'], h['unit']) == (100, 1, 50, 91, 99, 100, 100, 'ns'))(j['histograms']['demo']['latency'])"
run 0 --socket "$sock" stats
grep_out "P99.9"
grep_out "^demo/latency  *ns  *100  *1  *50  *91  *99  *100  *100$"
grep_out "^demo/empty  *ns  *0  *-  *-  *-  *-  *-  *-$"   # no sample: dashes, not zeros

# state and config (the shapes v2xd will answer)
run 0 --socket "$sock" state
grep_out "^SIGNAL"
grep_out "^soc  *87.5 %  *0.1s$"
grep_out "^pack_voltage  *57.3 V  *2.5s$"
grep_out "lat_deg: 43.6"
run 0 --socket "$sock" state --json
check "j['signals']['soc']['value'] == 87.5"
run 0 --socket "$sock" config
grep_out "^\[can\]$"
grep_out "^baud = 921600$"
grep_out "^device = /dev/ttyUSB0$"
run 0 --socket "$sock" help
grep_out "set-desired-soc"

# generic commands: numbers as JSON numbers, true/false/null, strings otherwise
run 0 --socket "$sock" echo soc=80 cost=0.25 neg=-3 name=x flag=true none=null hex=0x10 --json
check "j['args'] == {'soc': 80, 'cost': 0.25, 'neg': -3, 'name': 'x', 'flag': True, 'none': None, 'hex': '0x10'}"
run 0 --socket "$sock" set-desired-soc 80 --json
check "j == {'args': {'soc': 80}}"
run 0 --socket "$sock" set-max-cost 0.31 --json
check "j == {'args': {'cost': 0.31}}"
run 0 --socket "$sock" echo
grep_out "^args: {}$"

# exit statuses
run 1 --socket "$sock" fail
grep_err "fail: refused on purpose"
run 1 --socket "$sock" no-such-command
grep_err 'unknown command "no-such-command"'
run 2 --socket "$sock"
grep_err "no command given"
run 2 --socket "$sock" status --bogus
grep_err "unknown option --bogus"
run 2 --socket "$sock" echo notakeyvalue
grep_err "KEY=VALUE"
run 2 --socket "$sock" set-desired-soc eighty
grep_err "not a number: eighty"
run 2 --socket "$sock" set-desired-soc 1 2
run 2 --socket "$sock" echo a=1 a=2
grep_err "given twice"
run 2 --socket "$sock" watch --count 0
run 3 --socket "$work/nothing.sock" status
grep_err "cannot connect to $work/nothing.sock"
V2X_SOCKET=$work/nothing2.sock run 3 ping
grep_err "$work/nothing2.sock"
run 0 --help
grep_out "exit status"

# watch without a tty: one block per refresh, --count stops it; --json: one object per line
run 0 --socket "$sock" watch --count 2 --interval 0.1 </dev/null
[ "$(grep -c '^--- v2xctl watch' "$work/out")" = 2 ] || { fail "watch --count 2 printed $(grep -c '^--- v2xctl watch' "$work/out") blocks"; cat "$work/out"; }
grep_out "^demo/latency"
if grep -q $'\033' "$work/out"; then fail "watch wrote escape codes to a non-tty"; fi
run 0 --socket "$sock" watch --json --count 3 --interval 0.1 </dev/null
[ "$(wc -l <"$work/out")" = 3 ] || fail "watch --json --count 3 printed $(wc -l <"$work/out") lines"
"$PY" -c 'import json,sys; [json.loads(l)["stages"]["demo"]["records"]["in"] == 120 or sys.exit(1) for l in open(sys.argv[1])]' "$work/out" \
	|| fail "watch --json lines are not status objects"
# watch stops on SIGINT (Ctrl-C) with status 0
"$CTL" --socket "$sock" watch --interval 0.1 </dev/null >"$work/out" 2>"$work/err" &
wpid=$!
sleep 0.5
kill -INT "$wpid"
wait "$wpid"; rc=$?
[ "$rc" = 0 ] || fail "watch after SIGINT exited $rc"

# on a terminal (script(1) gives it a pty): the screen is cleared before each refresh, and q stops it
if command -v script >/dev/null; then
	(sleep 1; printf q) | timeout 20 script -qfc "$CTL --socket $sock watch --interval 0.2" /dev/null >"$work/out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || fail "watch on a pty did not stop on q (exit $rc)"
	grep -q $'\033\[H\033\[2J--- v2xctl watch' "$work/out" || fail "watch on a pty does not clear the screen"
	grep -q "(q to quit)" "$work/out" || fail "watch on a pty does not say how to quit"
fi

# a second server on the same socket is refused, and the first keeps answering
"$SRV" "$sock" >"$work/second.log" 2>&1; rc=$?
[ "$rc" = 1 ] || fail "second server exited $rc"
grep -q "another process is listening" "$work/second.log" || { fail "second server's message"; cat "$work/second.log"; }
run 0 --socket "$sock" ping

# a crash leaves the socket file; the next start removes it (nothing listens) and serves again
kill -9 "$srv_pid"; wait "$srv_pid" 2>/dev/null; srv_pid=
[ -S "$sock" ] || fail "the crashed server's socket file is gone (test set-up)"
run 3 --socket "$sock" ping
start_server server2.log
grep -q "removed the stale socket" "$srv_log" || fail "stale socket not reported"
run 0 --socket "$sock" ping

# an orderly stop removes the socket file
kill -TERM "$srv_pid"; wait "$srv_pid"; rc=$?; srv_pid=
[ "$rc" = 0 ] || fail "server exit $rc after SIGTERM"
[ -e "$sock" ] && fail "socket file left after an orderly stop"

[ "$fails" = 0 ] && echo "v2xctl_cli: all checks passed"
[ "$fails" = 0 ]
