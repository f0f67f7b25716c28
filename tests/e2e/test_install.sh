#!/bin/bash
# tests/e2e/test_install.sh: `make install` and what it installs, without
# root services. Installs into a temporary DESTDIR with PREFIX=/usr and
# checks every file and its mode; `mandoc -Tlint` on the installed pages;
# `systemd-analyze verify` on the units, pointed at the installed binary;
# that the example configuration names every option and is accepted (start,
# SIGHUP, SIGTERM); the spawn-fcgi wrapper's start, status, reload and stop
# (as root), with a logrotate copytruncate in between; `make uninstall`;
# and the default PREFIX. Prints "ok - ..." / "not ok - ..." per check and,
# last, "install: N passed, M failed"; exits 1 if any check failed. Work
# files: a temporary directory, kept (and named) only when a check failed.
set -u

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD

. tests/e2e/check.sh
NAME=install

OUT=$(mktemp -d /tmp/image-server-install.XXXXXX) || exit 1
# The responder runs as nobody in the wrapper's checks: it must reach OUT.
chmod 755 "$OUT"
DEST=$OUT/dest
BIN=$DEST/usr/bin/image-server
DOC=$DEST/usr/share/doc/image-server/examples
MAN=$DEST/usr/share/man
CHECK_PID=""
WRAPPER_STARTED=0

# check_finish (check.sh) calls this: stop what we started, then clean up.
stack_stop() {
	[ "$WRAPPER_STARTED" -eq 1 ] && wrapper stop >/dev/null 2>&1
	if [ -n "$CHECK_PID" ] && kill -0 "$CHECK_PID" 2>/dev/null; then
		kill -TERM "$CHECK_PID"
		wait "$CHECK_PID" 2>/dev/null
	fi
	if [ "$failed" -eq 0 ]; then
		rm -rf "$OUT"
	else
		echo "install: work files kept in $OUT"
	fi
}
check_traps

# need CMD PACKAGE: true when CMD exists, installing PACKAGE if we can.
need() {
	command -v "$1" >/dev/null && return 0
	[ "$(id -u)" -eq 0 ] || return 1
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
			apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1; }
	command -v "$1" >/dev/null
}

# mode FILE: its permission bits, e.g. 755 ("missing" if absent).
mode() {
	stat -c %a "$1" 2>/dev/null || echo missing
}

# --- make install ---------------------------------------------------------

# A make started by `make test` inherits its variables (SANITIZER=...)
# through MAKEFLAGS, so this one agrees with the build about the flags.
make --no-print-directory install DESTDIR="$DEST" PREFIX=/usr >"$OUT/make-install.log" 2>&1
expect "make install DESTDIR=... PREFIX=/usr exits 0" "$?" 0

expect "bin/image-server installed 0755" "$(mode "$BIN")" 755
expect "image-server.8 installed 0644" "$(mode "$MAN/man8/image-server.8")" 644
expect "bin/images installed 0755, images.1 0644" \
	"$(mode "$DEST/usr/bin/images") $(mode "$MAN/man1/images.1")" "755 644"
cmp -s bin/images "$DEST/usr/bin/images" && pass "installed images is bin/images" ||
	fail "installed images is bin/images" "contents differ"
"$DEST/usr/bin/images" -h >/dev/null 2>&1
expect "installed images runs (-h exits 0)" "$?" 0
expect "image-server.conf.5 installed 0644" "$(mode "$MAN/man5/image-server.conf.5")" 644
cmp -s bin/image-server "$BIN" && pass "installed binary is bin/image-server" ||
	fail "installed binary is bin/image-server" "contents differ"
"$BIN" -h >/dev/null 2>&1
expect "installed binary runs (-h exits 0)" "$?" 0

# Every example under deploy/, in its subdirectory, same contents; the
# spawn-fcgi wrapper executable, the rest not.
want=$(cd deploy && ls -d nginx/* apache/* lighttpd/* systemd/* spawn-fcgi/* logrotate/* grafana/* image-server.conf | sort)
got=$(cd "$DOC" 2>/dev/null && find . -type f | sed 's|^\./||' | sort)
expect "examples: exactly deploy/'s configs, units and scripts" "$(echo $got)" "$(echo $want)"
bad=""
for f in $want; do
	m=644
	[ "$f" = spawn-fcgi/image-server.sh ] && m=755
	[ "$(mode "$DOC/$f")" = $m ] && cmp -s "deploy/$f" "$DOC/$f" || bad="$bad $f"
done
expect "examples: same contents, 0755 for the wrapper, 0644 otherwise" "${bad:-none}" none
got=$(cd "$DEST" && find . -type f | sed 's|^\./||' | grep -v '^usr/share/doc/image-server/examples/' | sort | tr '\n' ' ')
expect "nothing else installed" "$got" \
	"usr/bin/image-server usr/bin/images usr/share/man/man1/images.1 usr/share/man/man5/image-server.conf.5 usr/share/man/man8/image-server.8 "

# --- man pages --------------------------------------------------------------

# mandoc looks up .Xr only in /usr/share/man (built in), where these pages
# are not installed, and through a mandoc.db that may be out of date: those
# two notes are filtered out. Anything else it says is a finding.
if need mandoc mandoc; then
	lint=$(mandoc -Tlint "$MAN/man8/image-server.8" "$MAN/man5/image-server.conf.5" \
		"$MAN/man1/images.1" 2>&1 |
		grep -v -E 'referenced manual not found: Xr (image-server(\.conf)?|images) [158]( |$)' |
		grep -v 'outdated mandoc.db lacks')
	expect "mandoc -Tlint on the installed pages is silent" "$lint" ""
else
	fail "mandoc -Tlint on the installed pages is silent" "mandoc is not installed and could not be"
fi

# --- systemd units ----------------------------------------------------------

mkdir -p "$OUT/units"
cp "$DOC/systemd/image-server.socket" "$DOC/systemd/image-server.service" "$OUT/units/"
sed -i "s|^ExecStart=/usr/local/bin/image-server |ExecStart=$BIN |" "$OUT/units/image-server.service"
grep -q "^ExecStart=$BIN " "$OUT/units/image-server.service" ||
	fail "units point at the installed binary" "no ExecStart=/usr/local/bin/image-server line"
expect_re "service takes the socket on fd 0" \
	"$(grep -c -E '^(StandardInput=socket|Requires=image-server.socket)$' "$OUT/units/image-server.service")" '^2$'
if command -v systemd-analyze >/dev/null; then
	# Documentation=man:... is checked with man(1) against the installed pages.
	manopt=--man=no
	command -v man >/dev/null && manopt=--man=yes
	v=$(MANPATH=$MAN systemd-analyze verify "$manopt" "$OUT/units/image-server.socket" \
		"$OUT/units/image-server.service" 2>&1)
	rc=$?
	expect "systemd-analyze verify on the units: silent, exits 0" "$rc: $v" "0: "
else
	skip "systemd-analyze verify on the units: silent, exits 0" \
		"systemd-analyze is not installed"
fi

# --- the example configuration ----------------------------------------------

opts=$("$BIN" -h | sed -n 's/^  -\([a-z_]*\) .*/\1/p' | grep -v -x -E 'e|config')
missing=""
for o in $opts; do
	grep -q -E "^#?$o( |$)" "$DOC/image-server.conf" || missing="$missing $o"
done
expect "example configuration shows every option of -h" "${missing:-none}" none
missing=""
for o in $opts; do
	grep -q "^\.It Ic $o " "$MAN/man5/image-server.conf.5" || missing="$missing $o"
done
expect "image-server.conf(5) describes every option of -h" "${missing:-none}" none

# Uncomment every option line: all must be accepted. The flags override
# what must not touch this host (socket, store, pid file, Redis, statsd).
grep -E '^#[a-z_]+( |$)' "$DOC/image-server.conf" | sed 's/^#//' >"$OUT/example.conf"
mkdir -p "$OUT/store"
"$BIN" -config "$OUT/example.conf" -socket "$OUT/check.sock" -store "$OUT/store" \
	-pid_file "$OUT/check.pid" -redis '' -statsd '' >"$OUT/check.log" 2>&1 &
CHECK_PID=$!
if wait_line "$OUT/check.log" " started"; then
	pass "responder starts with the example configuration, all options uncommented"
	kill -HUP "$CHECK_PID"
	wait_line "$OUT/check.log" "configuration reloaded" &&
		pass "SIGHUP reloads the example configuration" ||
		fail "SIGHUP reloads the example configuration" "$(tail -n 2 "$OUT/check.log")"
	kill -TERM "$CHECK_PID"
	wait "$CHECK_PID"
	expect "responder exits 0 on SIGTERM" "$?" 0
	expect "no error logged" "$(grep -c ' error ' "$OUT/check.log")" 0
else
	fail "responder starts with the example configuration, all options uncommented" \
		"$(tail -n 3 "$OUT/check.log")"
fi
CHECK_PID=""

# --- the spawn-fcgi wrapper, and logrotate -----------------------------------

W=$OUT/wrapper
# wrapper ACTION: the installed wrapper, with every path in $W.
wrapper() {
	env DAEMON="$BIN" CONFIG="$W/image-server.conf" SOCKET="$W/run/image-server.sock" \
		PIDFILE="$W/run/image-server.pid" LOGFILE="$W/log/image-server.log" \
		RUN_USER=nobody RUN_GROUP=nogroup WEB_GROUP=www-data STOP_TIMEOUT=10 \
		sh "$DOC/spawn-fcgi/image-server.sh" "$1"
}

if [ "$(id -u)" -ne 0 ]; then
	skip "spawn-fcgi wrapper: start, status, logrotate, reload, stop" \
		"spawn-fcgi -u/-g need root"
elif ! need spawn-fcgi spawn-fcgi || ! need logrotate logrotate; then
	fail "spawn-fcgi wrapper" "spawn-fcgi or logrotate is not installed and could not be"
else
	mkdir -p "$W/store"
	chown nobody:nogroup "$W/store"
	chmod 755 "$W"
	printf 'store %s\nlog_level info\n' "$W/store" >"$W/image-server.conf"
	wrapper status >/dev/null
	expect "wrapper status before start: 3 (not running)" "$?" 3
	wrapper start >"$W/start.out" 2>&1
	expect "wrapper start exits 0" "$?" "0"
	WRAPPER_STARTED=1
	pid=$(cat "$W/run/image-server.pid" 2>/dev/null)
	expect "wrapper: responder runs as nobody" "$(ps -o user= -p "${pid:-0}" 2>/dev/null | tr -d ' ')" nobody
	expect "wrapper: pid file holds the responder itself" \
		"$(readlink "/proc/${pid:-0}/exe" 2>/dev/null)" "$BIN"
	expect "wrapper: socket 0660 nobody:www-data" \
		"$(stat -c '%a %U:%G' "$W/run/image-server.sock" 2>/dev/null)" "660 nobody:www-data"
	wait_line "$W/log/image-server.log" " started" &&
		pass "wrapper: the log is appended to LOGFILE" ||
		fail "wrapper: the log is appended to LOGFILE" "$(cat "$W/start.out")"
	wrapper status >/dev/null
	expect "wrapper status while running: 0" "$?" 0

	# copytruncate, then a line from the responder: it must land at the
	# start of the emptied file (append mode), not past a hole of NULs.
	sed "s|^/var/log/image-server/image-server.log |$W/log/image-server.log |" \
		"$DOC/logrotate/image-server" >"$W/logrotate.conf"
	logrotate -f -s "$W/logrotate.state" "$W/logrotate.conf" >"$W/logrotate.out" 2>&1
	expect "logrotate -f with the installed config exits 0" "$?" 0
	grep -q " started" "$W/log/image-server.log.1" 2>/dev/null &&
		pass "logrotate: the old log is in image-server.log.1" ||
		fail "logrotate: the old log is in image-server.log.1" "$(cat "$W/logrotate.out")"

	wrapper reload >/dev/null
	expect "wrapper reload exits 0" "$?" 0
	wait_line "$W/log/image-server.log" "configuration reloaded" &&
		pass "wrapper reload: the responder re-read its configuration" ||
		fail "wrapper reload: the responder re-read its configuration" \
			"$(tail -n 2 "$W/log/image-server.log")"
	expect_re "after copytruncate the log starts with a time, not a hole" \
		"$(head -c 4 "$W/log/image-server.log" | tr '\0' @)" '^[0-9]{4}$'
	expect "wrapper reload keeps the process" "$(cat "$W/run/image-server.pid" 2>/dev/null)" "$pid"

	wrapper stop >/dev/null
	expect "wrapper stop exits 0" "$?" 0
	WRAPPER_STARTED=0
	kill -0 "${pid:-0}" 2>/dev/null && fail "wrapper stop: responder gone" "pid $pid alive" ||
		pass "wrapper stop: responder gone"
	expect "wrapper stop: pid file and socket removed" \
		"$(ls "$W/run" 2>/dev/null | tr '\n' ' ')" ""
	wrapper status >/dev/null
	expect "wrapper status after stop: 3" "$?" 3
fi

# --- make uninstall, default PREFIX -----------------------------------------

make --no-print-directory uninstall DESTDIR="$DEST" PREFIX=/usr >"$OUT/make-uninstall.log" 2>&1
expect "make uninstall exits 0" "$?" 0
expect "make uninstall leaves no file" "$(find "$DEST" -type f | wc -l)" 0
expect "make uninstall removes share/doc/image-server" \
	"$(test -e "$DEST/usr/share/doc/image-server" && echo present || echo gone)" gone

env -u PREFIX make --no-print-directory install DESTDIR="$OUT/dest-default" \
	>"$OUT/make-install-default.log" 2>&1
expect "default PREFIX is /usr/local" \
	"$(mode "$OUT/dest-default/usr/local/bin/image-server") $(mode "$OUT/dest-default/usr/local/share/doc/image-server/examples/image-server.conf")" \
	"755 644"
