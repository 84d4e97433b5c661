#!/usr/bin/env bash
# Regression for issue 13 defect 5: bad option values were accepted.  `--can-dev ""` ran and retried forever,
# `--dbc /dev/null` ran with an empty database (every frame "unknown id", no warning), and seven numeric options
# took numbers with a leading space (" 7").  Now each is refused before anything starts, with a message naming the
# option or file: exit 2 for a configuration error, 1 for an unusable DBC (`v2xd --help`: "1 when the pipeline
# cannot start, 2 for a configuration error").  An empty database is accepted only with --allow-empty-dbc, and only
# from a regular file (issue 13 defect 2: anything that is not a regular file is refused, /dev/null included).
# Every run is bounded by `timeout` (exit 124 = the old behaviour of running on).
set -u
BUILD=${V2X_BUILD:-build}
BIN=$BUILD/bin/v2xd
work=$(mktemp -d /tmp/v2x-regress-opts-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
: >"$work/in.txt"     # an input that ends at once: a daemon that starts stops on SIGTERM
: >"$work/empty.dbc"

# check WHAT EXPECT_RC EXPECT_TEXT ARGS...: v2xd ARGS must exit EXPECT_RC with EXPECT_TEXT on stderr
check() {
	local what=$1 want=$2 text=$3
	shift 3
	timeout 10 "$BIN" "$@" >"$work/stdout" 2>"$work/err" </dev/null
	local rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: $what: exit $rc, want $want"; sed 's/^/  /' "$work/err" | head -5; fail=1; return
	fi
	if ! grep -qF -- "$text" "$work/err"; then
		echo "FAIL: $what: no message containing '$text'"; sed 's/^/  /' "$work/err" | head -5; fail=1; return
	fi
	echo "ok: $what: exit $rc: $(head -1 "$work/err")"
}

base=(--can-dev "$work/in.txt" --out "$work/logs" --status-s 0)

check '--can-dev ""' 2 '--can-dev' --can-dev "" --out "$work/logs"
check '--can-dev " "' 2 '--can-dev' --can-dev " " --out "$work/logs"
check '--dbc /dev/null' 1 '/dev/null' "${base[@]}" --dbc /dev/null
check '--dbc /dev/null --allow-empty-dbc' 1 'not a regular file' "${base[@]}" --dbc /dev/null --allow-empty-dbc
check '--dbc <empty file>' 1 'no message' "${base[@]}" --dbc "$work/empty.dbc"

# An empty database from a regular file with --allow-empty-dbc: the daemon runs (and stops cleanly on SIGTERM).
: >"$work/run.log"
"$BIN" "${base[@]}" --dbc "$work/empty.dbc" --allow-empty-dbc >"$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'running:' "$work/run.log" && break; sleep 0.1; done
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" = 0 ] && grep -q 'running:' "$work/run.log"; then
	echo "ok: --dbc <empty file> --allow-empty-dbc: runs, exit 0 on SIGTERM"
else
	echo "FAIL: --dbc <empty file> --allow-empty-dbc: exit $rc"; sed 's/^/  /' "$work/run.log" | head -5; fail=1
fi

# Every numeric option of the daemon: each "--name N" line of --help, which must include at least the numeric keys
# of issue 7's configuration list below; a value inside its range is accepted, and the same value is refused when
# written with a leading space, a trailing space, a leading tab, or as "--opt= N".
required=(--ring --spin-us --full-wait-ms --status-s --baud --can-rx-reopen-ms --can-rx-priority --decode-publish-us
	--decode-priority --flush-ms --fsync-ms --rotate-mb --snapshot-s --snapshot-rows --merged-s --log-buffer-kb
	--log-priority)
mapfile -t numeric < <("$BIN" --help 2>&1 | grep -oE -- '--[a-z0-9-]+ N( |$)' | awk '{print $1}')
for opt in "${required[@]}"; do
	case " ${numeric[*]} " in
	*" $opt "*) ;;
	*) echo "FAIL: $opt is no longer a numeric option in --help"; fail=1 ;;
	esac
done
echo "numeric options: ${#numeric[@]}"
# A value each option accepts without the space: the lower end of the range --help gives on the option's second line
# ("(key: MIN..MAX unit; default D)"), or its default where the range is a list.
"$BIN" --help >"$work/help" 2>&1
value() {
	case $1 in --ring) echo 1024 ;; --baud | --hub-baud) echo 115200 ;; esac
	awk -v opt="$1" '
		found { if (match($0, /: [0-9]+\.\./)) { print substr($0, RSTART + 2, RLENGTH - 4) } else if (match($0, /default [0-9]+/)) { print substr($0, RSTART + 8, RLENGTH - 8) } exit }
		$1 == opt { found = 1 }' "$work/help"
}
for opt in "${numeric[@]}"; do
	v=$(value "$opt" | head -1)
	# control: the same value without the space is taken (--print-config shows the effective value)
	if timeout 10 "$BIN" "${base[@]}" "$opt" "$v" --print-config >"$work/stdout" 2>"$work/err" &&
		grep -qE "= ${v}( |$)" "$work/stdout"; then
		echo "ok: $opt '$v': accepted"
	else
		echo "FAIL: $opt '$v' (no space) was not accepted"; sed 's/^/  /' "$work/err" | head -5; fail=1
	fi
	check "$opt ' $v'" 2 "$opt" "${base[@]}" "$opt" " $v"
	check "$opt '$v '" 2 "$opt" "${base[@]}" "$opt" "$v "
	check "$opt '\\t$v'" 2 "$opt" "${base[@]}" "$opt" "$(printf '\t%s' "$v")"
	check "$opt= $v" 2 "$opt" "${base[@]}" "$opt= $v"
done
exit $fail
