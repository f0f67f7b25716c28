# tests/e2e/hosts.sh: a test bed of several "hosts" on this machine, for
# the end-to-end tests of image-server on more than one host.  Each host
# has its own loopback address (host 1 is 127.0.0.2, host 2 127.0.0.3,
# ...), its own hostname (a UTS namespace: unshare -u, which needs root),
# its own responder listening on ADDR:FPORT over TCP and its own nginx on
# ADDR:HPORT with deploy/nginx/multi-host.conf (an upstream of the
# responders); all share one store directory and whatever Redis their
# responders are given.  Traffic stays on loopback addresses.  Source it
# after deploy/stack.sh and tests/e2e/check.sh (it uses stack_init's run
# directory, _stack_add and get):
#
#   hosts_init 3 STORE FPORT HPORT      the bed: HOST_ADDR[1..3], HOST_NAME[1..3]
#   host_responder I [--ro|--tmpfs SIZE] ARGS...
#                                       host I's responder (bin/image-server ARGS
#                                       -store STORE -socket ADDR:FPORT) under
#                                       hostname hostI; --ro: the store read-only
#                                       on that host only, --tmpfs: a store of
#                                       SIZE of its own there (a full disk);
#                                       log $STACK_DIR/hostI.log, pid HOST_PID[I]
#   host_nginx I [local|all|only [PORT]]
#                                       host I's nginx; its upstream: its own
#                                       responder first and the others as backup
#                                       (local, the default), all in turn (all),
#                                       or its own alone (only); on PORT: a
#                                       second one
#   host_kill I                         kill -9 host I's responder
#   host_stop I                         stop it with SIGTERM
#   host_to I [PORT]                    ADDR:HPORT of host I's nginx, for get
#   hosts_herd PATH N                   N requests at once spread over the hosts;
#                                       "CODE MD5 HOST" lines in $T/herd
#   hosts_made PATH                     how many times the hosts' logs say they
#                                       made PATH (log_count made)
#
# Processes are children of the sourcing shell (never call these inside
# $( ) or a pipeline); stack_stop stops them.  The mount namespace of a
# --ro or --tmpfs host ends with its responder, and its mounts with it.

# shellcheck shell=bash
HOSTS_N=0
HOSTS_STORE=""
HOST_FPORT=""
HOST_HPORT=""
HOST_ADDR=()
HOST_NAME=()
HOST_PID=()

# hosts_init N STORE FPORT HPORT: a bed of N hosts sharing STORE; every
# responder listens on port FPORT and every nginx on HPORT of its own
# address.  Fails when not root or without unshare.
hosts_init() {
	local i
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
		echo "hosts: the bed needs root and unshare(1)" >&2
		return 1
	fi
	HOSTS_N=$1
	HOSTS_STORE=$(mkdir -p "$2" && cd "$2" && pwd) || return 1
	HOST_FPORT=$3
	HOST_HPORT=$4
	for ((i = 1; i <= HOSTS_N; i++)); do
		HOST_ADDR[i]=127.0.0.$((i + 1))
		HOST_NAME[i]=host$i
		_stack_port_free "$HOST_FPORT" "${HOST_ADDR[i]}" || return 1
		_stack_port_free "$HOST_HPORT" "${HOST_ADDR[i]}" || return 1
	done
}

# host_responder I [--ro|--tmpfs SIZE] ARGS...: see above.
host_responder() {
	local i=$1 ns=(-u) pre
	shift
	local log=$STACK_DIR/host$i.log
	pre="hostname ${HOST_NAME[i]}"
	case ${1:-} in
	--ro)
		ns=(-u -m)
		pre+=" && mount --bind '$HOSTS_STORE' '$HOSTS_STORE'"
		pre+=" && mount -o remount,bind,ro '$HOSTS_STORE'"
		shift
		;;
	--tmpfs)
		ns=(-u -m)
		pre+=" && mount -t tmpfs -o size=$2 tmpfs '$HOSTS_STORE'"
		shift 2
		;;
	esac
	if [ ! -x "$STACK_BIN" ]; then
		echo "hosts: $STACK_BIN is missing; run make first" >&2
		return 1
	fi
	# unshare execs bash, which execs the responder: $! is the responder.
	unshare "${ns[@]}" bash -c "$pre && exec \"\$0\" \"\$@\"" "$STACK_BIN" \
		-store "$HOSTS_STORE" -socket "${HOST_ADDR[i]}:$HOST_FPORT" "$@" \
		>>"$log" 2>&1 &
	HOST_PID[i]=$!
	_stack_add $! "responder host$i"
	if ! _stack_wait 100 $! "responder host$i (see $log)" \
		stack_port_open "$HOST_FPORT" "${HOST_ADDR[i]}"; then
		tail -n 5 "$log" >&2
		return 1
	fi
}

# _hosts_upstream I MODE OUT: deploy/nginx/multi-host.conf with its
# example servers replaced by the bed's responders, for host I's nginx:
# host J's with the parameters of the file's Jth example server (or its
# last).
_hosts_upstream() {
	local i=$1 mode=$2 out=$3 j lines="" p params=()
	local src=$STACK_ROOT/deploy/nginx/multi-host.conf
	mapfile -t params < <(sed -n 's/^ *server 10\.0\.0\.1[0-9]:9000 \(.*\);$/\1/p' "$src")
	for ((j = 1; j <= HOSTS_N; j++)); do
		p=${params[j - 1]:-${params[-1]:-}}
		if [ "$j" = "$i" ] || [ "$mode" = all ]; then
			lines+="    server ${HOST_ADDR[j]}:$HOST_FPORT $p;\n"
		elif [ "$mode" = local ]; then
			lines+="    server ${HOST_ADDR[j]}:$HOST_FPORT $p backup;\n"
		fi
	done
	awk -v lines="$lines" '
		/^ *server 10\.0\.0\.1[0-9]:9000 / { if (!done) printf "%s", lines; done = 1; next }
		{ print }
	' "$src" >"$out"
	if [ "${#params[@]}" = 0 ] || ! grep -q "server ${HOST_ADDR[i]}:$HOST_FPORT" "$out" ||
		grep -v '^ *#' "$out" | grep -q 10.0.0.1; then
		echo "hosts: could not render $src (see $out)" >&2
		return 1
	fi
}

# host_nginx I [local|all|only [PORT]]: see above; PORT: on that port
# instead of HPORT, a second web server of host I.
host_nginx() {
	local i=$1 mode=${2:-local} port=${3:-$HOST_HPORT} d=$STACK_DIR
	local name=host$i addr=${HOST_ADDR[i]}
	[ "$port" = "$HOST_HPORT" ] || name=host$i-$port
	local server=$d/$name-server.conf
	_hosts_upstream "$i" "$mode" "$d/$name-upstream.conf" || return 1
	sed -e "s|^\( *\)listen 7000;|\1listen $addr:$port;|" \
		-e "s|^\( *\)root /var/lib/image-server/store;|\1root $HOSTS_STORE;|" \
		-e "s|fastcgi_pass unix:/run/image-server/image-server.sock;|fastcgi_pass image_server;|" \
		"$STACK_ROOT/deploy/nginx/image-server.conf" >"$server.tmp"
	if ! grep -q "listen $addr:$port;" "$server.tmp" ||
		! grep -q "fastcgi_pass image_server;" "$server.tmp" ||
		grep -q -e /run/image-server/ -e /var/lib/image-server "$server.tmp"; then
		echo "hosts: could not rewrite deploy/nginx/image-server.conf" >&2
		return 1
	fi
	cat "$d/$name-upstream.conf" "$server.tmp" >"$server" && rm -f "$server.tmp"
	_stack_nginx_run "$name" "$port" "$server" "$addr"
}

# host_kill I: kill -9 host I's responder, as a crash would.
host_kill() {
	kill_server "${HOST_PID[$1]}"
	HOST_PID[$1]=""
}

# host_stop I: stop host I's responder with SIGTERM (it finishes its
# requests and leaves the queue cleanly), to start it again otherwise.
host_stop() {
	local pid=${HOST_PID[$1]}
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	stack_forget "$pid"
	HOST_PID[$1]=""
}

# host_to I [PORT]: ADDR:PORT of host I's nginx (on HPORT unless given).
host_to() {
	echo "${HOST_ADDR[$1]}:${2:-$HOST_HPORT}"
}

# hosts_herd PATH N: N GETs of PATH at once, request k to host k mod N
# + 1; "CODE MD5 HOST" lines in $T/herd.
hosts_herd() {
	local path=$1 n=$2 k h pids=()
	rm -rf "$T/h" && mkdir -p "$T/h"
	for ((k = 0; k < n; k++)); do
		h=$((k % HOSTS_N + 1))
		curl -s --max-time 60 -o "$T/h/$k" -w "%{http_code} $h\n" \
			"http://$(host_to "$h")$path" >"$T/h/$k.code" &
		pids+=($!)
	done
	# Only the curls: a bare wait would wait for the servers too.
	wait "${pids[@]}"
	for ((k = 0; k < n; k++)); do
		read -r c h <"$T/h/$k.code"
		echo "$c $(md5sum <"$T/h/$k" | cut -c1-32) $h"
	done >"$T/herd"
}

hosts_made() {
	local i logs=()
	for ((i = 1; i <= HOSTS_N; i++)); do logs+=("$STACK_DIR/host$i.log"); done
	log_count made "$1" "${logs[@]}"
}
