# deploy/stack.sh: start and stop real redis-server, image-server (under
# spawn-fcgi) and nginx on loopback, in a private run directory.
#
# A bash library, sourced by deploy/run.sh and tests/e2e/test_e2e.sh:
#
#   . deploy/stack.sh
#   stack_init run/                      # run directory; logs, pids, sockets
#   trap stack_stop EXIT
#   stack_redis 7001 [DATA_DIR]          # DATA_DIR: keep its data (AOF) there
#   stack_redis_replica 7003 7001        # a replica of the Redis on :7001
#   stack_sentinel 7004 mymaster 7001 2  # a redis-sentinel watching it
#   stack_responder img -store run/store -source 'file:///src/{model}/{field}/{id}.jpg'
#   stack_nginx img 7000 run/store "$STACK_DIR/img.sock"
#   stack_origin origin 7002 /some/dir   # static origin for http:// sources
#   stack_alive || echo "something died"
#   stack_stop                           # stops all of the above, by pid
#
# NAME (img, origin above) names each instance's files in the run directory:
# NAME.sock, NAME.pid and NAME.log (responder); NAME-nginx.pid,
# NAME-access.log, NAME-error.log, NAME.out, NAME-server.conf and
# NAME-nginx.conf (nginx). Functions return
# non-zero with a message on stderr when a server does not come up.
# Processes are started as children of the sourcing shell (never call these
# functions inside $( ) or a pipeline), so stack_stop can wait for them.

STACK_DIR=""
STACK_PIDS=()   # pids we started, in start order
STACK_NAMES=()  # what each pid is, for messages
STACK_SOCKS=()  # unix sockets to remove at stop
STACK_PIDFILES=() # per pid: a pid file naming its successor ("" if none)
STACK_NOW=()      # per pid: the process it is now (_stack_follow)
STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_BIN=${STACK_BIN:-$STACK_ROOT/bin/image-server}

# stack_init DIR: create the run directory DIR (absolute path kept in STACK_DIR).
stack_init() {
	mkdir -p "$1/tmp" || return 1
	STACK_DIR=$(cd "$1" && pwd)
	STACK_PIDS=()
	STACK_NAMES=()
	STACK_SOCKS=()
	STACK_PIDFILES=()
	STACK_NOW=()
}

# _stack_add PID WHAT [PIDFILE]: remember a started process.  With PIDFILE,
# the process may hand over to a successor (the responder's SIGUSR2
# restart), which writes its pid there: stack_alive and stack_stop then
# follow the pid file.
_stack_add() {
	STACK_PIDS+=("$1")
	STACK_NAMES+=("$2")
	STACK_PIDFILES+=("${3:-}")
	STACK_NOW+=("$1")
}

# _stack_follow I: the pid that entry I is now, into STACK_NOW[I]: its pid
# file's when that names a live process (a successor, remembered even after
# the file is gone), else the pid we started.
_stack_follow() {
	local f=${STACK_PIDFILES[$1]} pid=""
	[ -n "$f" ] && read -r pid 2>/dev/null <"$f"
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		STACK_NOW[$1]=$pid
	elif [ -z "${STACK_NOW[$1]:-}" ]; then
		STACK_NOW[$1]=${STACK_PIDS[$1]}
	fi
}

# _stack_wait TRIES PID WHAT COMMAND...: run COMMAND every 0.1 s until it
# succeeds; fail if PID exits or TRIES run out.
_stack_wait() {
	local tries=$1 pid=$2 what=$3
	shift 3
	while ! "$@" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "stack: $what exited during startup" >&2
			return 1
		fi
		tries=$((tries - 1))
		if [ "$tries" -le 0 ]; then
			echo "stack: $what did not come up" >&2
			return 1
		fi
		sleep 0.1
	done
}

# stack_port_open PORT [ADDR]: true when something accepts TCP
# connections on ADDR:PORT (127.0.0.1 unless given).
stack_port_open() {
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# stack_free_port START: print the first port from START on that nothing
# listens on (loopback).
stack_free_port() {
	local p=$1
	while stack_port_open "$p"; do
		p=$((p + 1))
	done
	echo "$p"
}

# Fail with a message when PORT (on ADDR, 127.0.0.1 unless given) is
# taken: waiting for it to answer would then be fooled by whoever holds it.
_stack_port_free() {
	if stack_port_open "$1" "${2:-}"; then
		echo "stack: port ${2:-127.0.0.1}:$1 is in use" >&2
		return 1
	fi
}

_stack_redis_ping() {
	[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

# stack_redis PORT [DATA_DIR]: start redis-server on 127.0.0.1:PORT, log in
# redis.log; wait until it answers PING.  Without DATA_DIR it keeps nothing
# (a test's throw-away registry); with it, its data live in DATA_DIR as an
# append-only file and outlast a restart, as the store beside it does.
stack_redis() {
	local port=$1 keep=(--appendonly no --dir "$STACK_DIR")
	_stack_port_free "$port" || return 1
	if [ -n "${2:-}" ]; then
		mkdir -p "$2" || return 1
		keep=(--appendonly yes --appendfsync everysec --dir "$(cd "$2" && pwd)")
	fi
	redis-server --bind 127.0.0.1 --port "$port" --save '' "${keep[@]}" \
		--daemonize no >"$STACK_DIR/redis.log" 2>&1 &
	_stack_add $! "redis-server :$port"
	_stack_wait 100 $! "redis-server :$port (see $STACK_DIR/redis.log)" \
		_stack_redis_ping "$port"
}

# stack_redis_replica PORT MASTER_PORT: a throw-away redis-server on
# 127.0.0.1:PORT, replica of the one on 127.0.0.1:MASTER_PORT, log in
# redis-PORT.log; wait until its link to the master is up (a full sync
# done).  Masters and replicas here sync without the 5 s wait for more
# replicas (repl-diskless-sync-delay 0), as they would on a slow disk.
stack_redis_replica() {
	local port=$1 master=$2
	_stack_port_free "$port" || return 1
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$STACK_DIR" --repl-diskless-sync-delay 0 \
		--replicaof 127.0.0.1 "$master" --daemonize no \
		>"$STACK_DIR/redis-$port.log" 2>&1 &
	_stack_add $! "redis-server :$port (replica of :$master)"
	redis-cli -h 127.0.0.1 -p "$master" config set repl-diskless-sync-delay 0 >/dev/null 2>&1
	_stack_wait 100 $! "redis-server :$port (see $STACK_DIR/redis-$port.log)" \
		_stack_redis_synced "$port"
}

_stack_redis_synced() {
	redis-cli -h 127.0.0.1 -p "$1" info replication 2>/dev/null |
		grep -q '^master_link_status:up'
}

# stack_sentinel PORT NAME MASTER_PORT QUORUM: redis-sentinel on
# 127.0.0.1:PORT watching the master NAME on 127.0.0.1:MASTER_PORT, with
# QUORUM sentinels to agree it is down, and test timings: down after 1 s
# without an answer, a failover given 3 s.  Its configuration (which it
# rewrites) is sentinel-PORT.conf, its log sentinel-PORT.log; wait until
# it answers.
stack_sentinel() {
	local port=$1 name=$2 master=$3 quorum=$4 conf=$STACK_DIR/sentinel-$1.conf
	_stack_port_free "$port" || return 1
	cat >"$conf" <<EOF
bind 127.0.0.1
port $port
dir $STACK_DIR
sentinel monitor $name 127.0.0.1 $master $quorum
sentinel down-after-milliseconds $name 1000
sentinel failover-timeout $name 3000
sentinel parallel-syncs $name 1
EOF
	redis-sentinel "$conf" >"$STACK_DIR/sentinel-$port.log" 2>&1 &
	_stack_add $! "redis-sentinel :$port"
	_stack_wait 100 $! "redis-sentinel :$port (see $STACK_DIR/sentinel-$port.log)" \
		_stack_redis_ping "$port"
}

# stack_responder NAME ARGS...: run bin/image-server ARGS under spawn-fcgi on
# the unix socket $STACK_DIR/NAME.sock (mode 0660, like a deployment); its
# stderr (one line per request) goes to $STACK_DIR/NAME.log.  Its pid file,
# $STACK_DIR/NAME.pid, follows it through SIGUSR2 restarts.
stack_responder() {
	local name=$1
	shift
	local sock=$STACK_DIR/$name.sock pidf=$STACK_DIR/$name.pid
	if [ ! -x "$STACK_BIN" ]; then
		echo "stack: $STACK_BIN is missing; run make first" >&2
		return 1
	fi
	# -n: no fork, so $! is the responder itself (spawn-fcgi execs it) and
	# its stderr stays ours; forking spawn-fcgi sends it to /dev/null.
	rm -f "$pidf"
	spawn-fcgi -n -s "$sock" -M 0660 -- "$STACK_BIN" -pid_file "$pidf" "$@" \
		>>"$STACK_DIR/$name.log" 2>&1 &
	_stack_add $! "responder $name" "$pidf"
	STACK_SOCKS+=("$sock")
	# spawn-fcgi binds the socket before it execs the responder, so the
	# socket alone says little: also give the program a moment to fail on
	# bad flags before we call it up.
	_stack_wait 50 $! "responder $name (see $STACK_DIR/$name.log)" test -S "$sock" || return 1
	sleep 0.2
	if ! kill -0 "$!" 2>/dev/null; then
		echo "stack: responder $name exited during startup:" >&2
		tail -n 5 "$STACK_DIR/$name.log" >&2
		return 1
	fi
}

# _stack_nginx_run NAME PORT SERVER_CONF [ADDR]: wrap the server block in
# file SERVER_CONF in a minimal nginx.conf whose every path is in
# $STACK_DIR, start nginx in the foreground (daemon off, so $! is the
# master), and wait until it accepts connections on ADDR:PORT (ADDR
# 127.0.0.1 unless given).
_stack_nginx_run() {
	local name=$1 port=$2 server=$3 addr=${4:-127.0.0.1} d=$STACK_DIR
	local conf=$d/$name-nginx.conf user=""
	_stack_port_free "$port" "$addr" || return 1
	mkdir -p "$d/tmp/$name"
	# Workers run as root when we are root: the responder's socket and the
	# store are root's, as they would be the same user's in a deployment.
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat >"$conf" <<EOF
# Generated by deploy/stack.sh for a test run; do not edit.
$user
daemon off;
worker_processes 1;
pid $d/$name-nginx.pid;
error_log $d/$name-error.log info;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $d/$name-access.log;
    client_body_temp_path $d/tmp/$name/client;
    fastcgi_temp_path $d/tmp/$name/fastcgi;
    proxy_temp_path $d/tmp/$name/proxy;
    uwsgi_temp_path $d/tmp/$name/uwsgi;
    scgi_temp_path $d/tmp/$name/scgi;
    include $server;
}
EOF
	# -e: the error log of startup itself, before the config is read.
	if ! nginx -t -q -p "$d" -c "$conf" -e "$d/$name-error.log" 2>>"$d/$name.out"; then
		echo "stack: bad nginx config $conf:" >&2
		tail -n 5 "$d/$name.out" >&2
		return 1
	fi
	nginx -p "$d" -c "$conf" -e "$d/$name-error.log" >>"$d/$name.out" 2>&1 &
	_stack_add $! "nginx $name $addr:$port"
	_stack_wait 100 $! "nginx $name $addr:$port (see $d/$name-error.log)" \
		stack_port_open "$port" "$addr"
}

# stack_nginx NAME PORT STORE SOCKET: nginx on 127.0.0.1:PORT with
# deploy/nginx/image-server.conf, its root set to STORE and its fastcgi_pass
# to the unix socket SOCKET.
stack_nginx() {
	local name=$1 port=$2 store sock=$4
	store=$(mkdir -p "$3" && cd "$3" && pwd) || return 1
	sed -e "s|^\( *\)listen 7000;|\1listen 127.0.0.1:$port;|" \
		-e "s|^\( *\)root /var/lib/image-server/store;|\1root $store;|" \
		-e "s|unix:/run/image-server/image-server.sock;|unix:$sock;|" \
		"$STACK_ROOT/deploy/nginx/image-server.conf" >"$STACK_DIR/$name-server.conf"
	# The sed must have hit all three lines, or nginx would listen on 7000
	# or serve /var/lib: refuse rather than test the wrong thing.
	if ! grep -q "listen 127.0.0.1:$port;" "$STACK_DIR/$name-server.conf" ||
		! grep -q "root $store;" "$STACK_DIR/$name-server.conf" ||
		grep -q /run/image-server/ "$STACK_DIR/$name-server.conf"; then
		echo "stack: could not rewrite deploy/nginx/image-server.conf" >&2
		return 1
	fi
	_stack_nginx_run "$name" "$port" "$STACK_DIR/$name-server.conf"
}

# stack_origin NAME PORT DIR: a static nginx on 127.0.0.1:PORT serving DIR,
# to play the origin of http:// sources. Besides plain files:
#   /status500/...  answers 500 (a broken origin)
#   /slow/PATH      serves DIR/PATH at 200 bytes/s (a slow origin)
# Its access log, $STACK_DIR/NAME-access.log, tells how often it was asked.
stack_origin() {
	local name=$1 port=$2 dir
	dir=$(cd "$3" && pwd) || return 1
	cat >"$STACK_DIR/$name-server.conf" <<EOF
server {
    listen 127.0.0.1:$port;
    root $dir;
    location / { }
    location /status500/ { return 500 "origin broken\n"; }
    location /slow/ { alias $dir/; limit_rate 200; }
}
EOF
	_stack_nginx_run "$name" "$port" "$STACK_DIR/$name-server.conf"
}

# stack_forget PID: take PID (a server the caller stopped itself) out of
# the lists, so stack_alive and stack_stop no longer look at it.
stack_forget() {
	local i
	for i in "${!STACK_PIDS[@]}"; do
		[ "${STACK_PIDS[$i]}" = "$1" ] &&
			unset "STACK_PIDS[$i]" "STACK_NAMES[$i]" "STACK_PIDFILES[$i]" "STACK_NOW[$i]"
	done
	STACK_PIDS=("${STACK_PIDS[@]}")
	STACK_NAMES=("${STACK_NAMES[@]}")
	STACK_PIDFILES=("${STACK_PIDFILES[@]}")
	STACK_NOW=("${STACK_NOW[@]}")
}

# stack_alive: true while every process we started runs; otherwise names
# the dead ones on stderr.
stack_alive() {
	local i ok=0 pid
	for i in "${!STACK_PIDS[@]}"; do
		_stack_follow "$i"
		pid=${STACK_NOW[$i]}
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "stack: ${STACK_NAMES[$i]} (pid $pid) has died" >&2
			ok=1
		fi
	done
	return $ok
}

# stack_stop: stop everything started, newest first (nginx before the
# responder before redis): SIGTERM, up to 5 s, then SIGKILL; wait for each.
# Safe to call twice and from traps.
stack_stop() {
	local i pid n
	for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
		# The successor first (a restarted responder is no child of
		# ours), then the process we started, if it still runs.
		_stack_follow "$i"
		for pid in "${STACK_NOW[$i]}" "${STACK_PIDS[$i]}"; do
			kill -TERM "$pid" 2>/dev/null || continue
			for ((n = 0; n < 50; n++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				echo "stack: ${STACK_NAMES[$i]} ignored SIGTERM; killing it" >&2
				kill -KILL "$pid" 2>/dev/null
			fi
			wait "$pid" 2>/dev/null
		done
	done
	# spawn-fcgi leaves its socket behind.
	for i in "${STACK_SOCKS[@]}"; do
		rm -f "$i"
	done
	STACK_PIDS=()
	STACK_NAMES=()
	STACK_SOCKS=()
	STACK_PIDFILES=()
	STACK_NOW=()
	return 0
}
