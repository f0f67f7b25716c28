# tests/e2e/check.sh: the check helpers every end-to-end script shares.
# Source it (after deploy/stack.sh), set NAME, and call check_start (or
# check_traps for a script without servers): each check prints "ok - ..."
# or "not ok - ... (details)", a check that cannot run here prints
# "ok - ... # SKIP reason" (TAP's form) and is counted apart, and the last
# line is "NAME: N passed, M failed", with ", K skipped" after it when K
# is not 0; the script then exits 1 if any failed (a skip never fails it).
# It also sources lib.sh, the other helpers (get, status, made, shard,
# rcli, free_ports, wait_line, ...): see there.

passed=0
failed=0
skipped=0

pass() {
	passed=$((passed + 1))
	echo "ok - $1"
}

# fail DESC DETAILS
fail() {
	failed=$((failed + 1))
	echo "not ok - $1 ($2)"
}

# skip DESC REASON: the check DESC cannot run here (a tool is missing, it
# needs root): neither a pass nor a failure.
skip() {
	skipped=$((skipped + 1))
	echo "ok - $1 # SKIP $2"
}

# expect DESC GOT WANT: pass if the strings are equal.
expect() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

# expect_re DESC GOT REGEX: pass if GOT matches the extended REGEX.
expect_re() {
	if [[ $2 =~ $3 ]]; then pass "$1"; else fail "$1" "got '$2', want /$3/"; fi
}

# The EXIT trap: an explicit exit, since a trap's last status is not the
# script's. Calls stack_stop first, if there is one (deploy/stack.sh's, or
# the script's own).
check_finish() { # [RC]: the script's exit status, when called from a wrapper
	local rc=${1:-$?} more=""
	declare -F stack_stop >/dev/null && stack_stop
	# An exit before the end (a server that did not start) is a failure.
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		fail "ran to the end" "exit status $rc"
	fi
	[ "$skipped" -ne 0 ] && more=", $skipped skipped"
	echo "$NAME: $passed passed, $failed failed$more"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# check_traps [FINISH]: FINISH (default check_finish, which it must end
# with) on exit, and an interrupt counted as a failure. For a script that
# starts no servers; check_start calls it.
check_traps() {
	# shellcheck disable=SC2064 # the handler's name is fixed now
	trap "${1:-check_finish}" EXIT
	trap 'fail "run to the end" "interrupted"; exit 1' INT TERM
}

# check_start RUN_DIR [FINISH]: stack_init RUN_DIR, then check_traps FINISH.
check_start() {
	stack_init "$1" || exit 1
	check_traps "${2:-}"
}

# die DESC [DETAILS]: a failure the script cannot go on after (a server
# that did not start).
die() {
	fail "$1" "${2:-see $STACK_DIR}"
	exit 1
}

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
