#!/usr/bin/env bash
# perf/no_lttng.sh CMD [ARGS...] - runs CMD where no LTTng session daemon can see it.
#
# An LTTng-UST application registers with the root session daemon through /run/lttng and with its user's through
# $LTTNG_HOME/.lttng ($HOME by default); every session of that daemon that enables our events then records it.  On a
# machine shared with other people's trace sessions, "tracepoints compiled in, no session" holds only for a process
# that cannot register: CMD runs in a private mount namespace (unshare, root) with an empty tmpfs over /run/lttng
# and LTTNG_HOME pointing into it.  Exit status: CMD's; 125 when the namespace cannot be made
# (not root, no unshare): callers check with `perf/no_lttng.sh true` first.
if [ "${1:-}" = --inside ]; then
	shift
	mkdir -p /run/lttng && mount -t tmpfs v2x-no-lttng /run/lttng ||
		{ echo "no_lttng: cannot hide /run/lttng" >&2; exit 125; }
	export LTTNG_HOME=/run/lttng # the user's daemon would be under the same empty tmpfs
	exec "$@"
fi
[ "$(id -u)" = 0 ] && command -v unshare >/dev/null || exit 125
exec unshare --mount -- "$0" --inside "$@"
