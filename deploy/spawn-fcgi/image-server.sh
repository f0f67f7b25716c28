#!/bin/sh
# deploy/spawn-fcgi/image-server.sh: start, stop and reload the image-server
# FastCGI responder under spawn-fcgi, on hosts without systemd.
#
#   image-server.sh start|stop|reload|restart|status
#
# Install as /etc/init.d/image-server (it has an LSB header) or call it from
# any supervisor that runs init scripts. Settings below can be overridden in
# /etc/default/image-server (a shell fragment: VAR=value lines).
#
# spawn-fcgi runs with -n, so it binds the socket and then execs the
# responder in place: the pid of the background job is the responder's, and
# its stderr (the log) is appended to $LOGFILE. Without -n, spawn-fcgi would
# fork and send the log to /dev/null. The log is opened in append mode so
# that logrotate's copytruncate works: after the truncation the next line
# goes to the start of the file, not past a hole.
#
# restart stops the responder (it drains requests in flight) and starts a
# new one: meanwhile the socket is gone and the web server gets errors. Use
# reload (SIGHUP, which re-reads the configuration file) when you can, or
# systemd's socket units, which keep the socket open across a restart.
# (The responder's own restart in place, SIGUSR2, would leave $PIDFILE
# naming the old process: this script does not use it.)
#
# Exit status (LSB): 0 success; 1 failure; for status, 0 running,
# 1 dead with a stale pid file, 3 not running.

### BEGIN INIT INFO
# Provides:          image-server
# Required-Start:    $local_fs $network $remote_fs $syslog
# Required-Stop:     $local_fs $network $remote_fs $syslog
# Should-Start:      redis-server
# Should-Stop:       redis-server
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: image-server FastCGI responder
### END INIT INFO

[ -r /etc/default/image-server ] && . /etc/default/image-server

: "${DAEMON:=/usr/local/bin/image-server}"
: "${CONFIG:=/etc/image-server.conf}"
: "${DAEMON_ARGS:=-e production -config $CONFIG}"
: "${SOCKET:=/run/image-server/image-server.sock}"
: "${PIDFILE:=/run/image-server/image-server.pid}"
: "${LOGFILE:=/var/log/image-server/image-server.log}"
# The responder runs as RUN_USER:RUN_GROUP, which must own the store. The
# socket is RUN_USER:WEB_GROUP 0660, so that the web server's workers (in
# WEB_GROUP) can connect.
: "${RUN_USER:=image-server}"
: "${RUN_GROUP:=image-server}"
: "${WEB_GROUP:=www-data}"
# Longer than the responder's -drain_seconds (20 by default).
: "${STOP_TIMEOUT:=30}"

NAME=image-server

# running: true when the pid in $PIDFILE is a live $DAEMON; sets $pid.
running() {
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	# The pid may have been reused by another program since.
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
	[ "${exe% (deleted)}" = "$(readlink -f "$DAEMON")" ]
}

do_start() {
	if running; then
		echo "$NAME is already running (pid $pid)"
		return 0
	fi
	if [ ! -x "$DAEMON" ]; then
		echo "$NAME: $DAEMON is not executable" >&2
		return 1
	fi
	mkdir -p "$(dirname "$SOCKET")" "$(dirname "$PIDFILE")" "$(dirname "$LOGFILE")" ||
		return 1
	if [ ! -e "$LOGFILE" ]; then
		(umask 027 && : >>"$LOGFILE") || return 1
		chgrp adm "$LOGFILE" 2>/dev/null
	fi
	# setsid: no controlling terminal, so closing the shell that ran us
	# sends the responder no SIGHUP (which would reload it). As a child of
	# a non-interactive shell, setsid execs without forking: $! is the pid.
	# shellcheck disable=SC2086 # DAEMON_ARGS is a list of words
	setsid spawn-fcgi -n -s "$SOCKET" -M 0660 -U "$RUN_USER" -G "$WEB_GROUP" \
		-u "$RUN_USER" -g "$RUN_GROUP" -- "$DAEMON" $DAEMON_ARGS \
		</dev/null >>"$LOGFILE" 2>&1 &
	pid=$!
	echo "$pid" >"$PIDFILE" || return 1
	# A bad option or configuration file makes the responder exit at once
	# (status 2); spawn-fcgi fails if the socket is in use.
	sleep 1
	if ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$PIDFILE"
		echo "$NAME failed to start; the end of $LOGFILE:" >&2
		tail -n 5 "$LOGFILE" >&2
		return 1
	fi
	echo "$NAME started (pid $pid)"
}

do_stop() {
	if ! running; then
		echo "$NAME is not running"
		rm -f "$PIDFILE"
		return 0
	fi
	# SIGTERM: stop accepting, let the requests in flight finish, exit.
	kill -TERM "$pid" 2>/dev/null
	n=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$n" -ge "$((STOP_TIMEOUT * 10))" ]; then
			echo "$NAME did not stop in ${STOP_TIMEOUT}s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
		n=$((n + 1))
	done
	rm -f "$PIDFILE"
	# spawn-fcgi leaves its socket behind.
	[ -S "$SOCKET" ] && rm -f "$SOCKET"
	echo "$NAME stopped"
}

do_reload() {
	if ! running; then
		echo "$NAME is not running" >&2
		return 1
	fi
	kill -HUP "$pid" && echo "$NAME reloading its configuration (pid $pid)"
}

do_status() {
	if running; then
		echo "$NAME is running (pid $pid)"
		return 0
	fi
	if [ -e "$PIDFILE" ]; then
		echo "$NAME is not running, but $PIDFILE exists"
		return 1
	fi
	echo "$NAME is not running"
	return 3
}

case $1 in
start) do_start ;;
stop) do_stop ;;
reload | force-reload) do_reload ;;
restart) do_stop && do_start ;;
status) do_status ;;
*)
	echo "usage: $0 start|stop|reload|restart|status" >&2
	exit 2
	;;
esac
