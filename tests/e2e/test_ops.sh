#!/bin/bash
# tests/e2e/test_ops.sh: what an operator relies on: statsd events, the
# status page and /metrics, -config with SIGHUP reload, and SIGUSR2
# restarts under constant load with no failed request.  Work files:
# tests/out/ops/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=ops

OUT=$PWD/tests/out/ops
SRC=$OUT/src
STORE=$OUT/store
CONF=$OUT/image-server.conf
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$SRC/ops/img" "$STORE"
check_start "$OUT/run"

# restart PID: SIGUSR2 to the responder; prints the pid in its pid file
# once that names another process (or after 5 s).
restart() {
	kill -USR2 "$1"
	for _ in $(seq 50); do
		[ "$(cat "$STACK_DIR/image-server.pid" 2>/dev/null)" != "$1" ] && break
		sleep 0.1
	done
	cat "$STACK_DIR/image-server.pid"
}

free_ports 24000 UPORT PORT
for id in $(seq 1 40); do
	convert -size 400x300 "plasma:fractal" -quality 90 "$SRC/ops/img/$id.jpg"
done

# A statsd stand-in: every UDP datagram on UPORT, one per line.
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		LocalPort => $ARGV[0], Proto => "udp") or die "udp: $!";
	$| = 1;
	while (defined $s->recv(my $m, 4096)) { print "$m\n" }' "$UPORT" \
	>"$OUT/statsd.txt" 2>"$OUT/statsd.err" &
_stack_add $! "statsd listener"

cat >"$CONF" <<CONF
# written by test_ops.sh
default_quality = 60
statsd 127.0.0.1:$UPORT
statsd_prefix = image_server
source file://$SRC/{model}/{field}/{id}.jpg
CONF
stack_responder ops -config "$CONF" -store "$STORE" -threads 4 \
	-pid_file "$STACK_DIR/image-server.pid" || exit 1
FIRST=${STACK_PIDS[-1]}
stack_nginx ops "$PORT" "$STORE" "$STACK_DIR/ops.sock" || exit 1

quality() { identify -format '%Q' "$T/body" 2>/dev/null; }

# --- statsd: the seed's event names, exactly -------------------------------
get "$PORT" /ops/img/1/w100.jpg
expect "statsd: a new output" "$code" 200
get "$PORT" /ops/img/999/w100.jpg
expect "statsd: a missing original" "$code" 404
sleep 0.3
ev=$OUT/statsd.txt
expect "statsd: original_downloaded" "$(grep -cx 'image_server.original_downloaded:1|c' "$ev")" 1
expect_re "statsd: original_download_time timer" "$(grep -c '^image_server.original_download_time:[0-9.]*|ms$' "$ev")" '^1$'
expect "statsd: image_request" "$(grep -cx 'image_server.image_request:1|c' "$ev")" 1
expect "statsd: image_request.jpg" "$(grep -cx 'image_server.image_request.jpg:1|c' "$ev")" 1
expect_re "statsd: image_processing_time timer" "$(grep -c '^image_server.image_processing_time:[0-9.]*|ms$' "$ev")" '^1$'
expect "statsd: original_unavailable" "$(grep -cx 'image_server.original_unavailable:1|c' "$ev")" 1
expect "statsd: image_request_fail" "$(grep -cx 'image_server.image_request_fail:1|c' "$ev")" 1
expect "statsd: nothing else" "$(grep -vc '^image_server\.' "$ev")" 0

# --- the status page and /metrics (straight from the responder's nginx) ---
get "$PORT" /status
expect "status: 200" "$code" 200
st=$(cat "$T/body")
expect_re "status: JSON with version" "$st" '^\{"version":"[0-9.]+",'
expect_re "status: counts the outputs made" "$st" '"made":1[,}]'
expect_re "status: counts originals downloaded" "$st" '"originals_downloaded":1[,}]'
expect_re "status: counts refusals" "$st" '"refused":1[,}]'
expect_re "status: being processed now" "$st" '"processing":0[,}]'
expect_re "status: redis state" "$st" '"redis":"off"'
get "$PORT" '/status?format=html'
expect "status: html" "$code" 200
expect_re "status: html page" "$(cat "$T/body")" '<h1>image-server'
get "$PORT" /metrics
expect "metrics: 200" "$code" 200
expect_re "metrics: made counter" "$(grep '^image_server_made_total ' "$T/body")" '^image_server_made_total 1$'
expect_re "metrics: TYPE lines" "$(grep -c '^# TYPE image_server_' "$T/body")" '^[1-9][0-9]$'

# --- configuration file and SIGHUP -----------------------------------------
get "$PORT" /ops/img/2/w100.jpg
expect "config: a new output" "$code" 200
expect "config: quality from the file" "$(quality)" 60
sed -i 's/^default_quality = 60/default_quality = 40/; s/^statsd_prefix = image_server/statsd_prefix = imgs2/' "$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "configuration reloaded" || fail "reload logged" "no line"
get "$PORT" /ops/img/2/w101.jpg
expect "reload: new output" "$code" 200
expect "reload: quality applied" "$(quality)" 40
sleep 0.3
expect "reload: statsd prefix applied" "$(grep -cx 'imgs2.image_request:1|c' "$ev")" 1
echo "default_quality = 500" >>"$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "reload refused" || fail "bad file logged" "no line"
expect_re "reload: the reason names file and line" \
	"$(grep 'reload refused' "$STACK_DIR/ops.log")" 'image-server.conf:6: -default_quality'
get "$PORT" /ops/img/2/w102.jpg
expect "bad file: still serving" "$code" 200
expect "bad file: running configuration kept" "$(quality)" 40
sed -i '$d' "$CONF"
echo "drain_seconds 9" >>"$CONF"
kill -HUP "$FIRST"
wait_line "$STACK_DIR/ops.log" "drain_seconds changed; only a restart" || fail "restart-only option logged" "no line"
get "$PORT" /ops/img/2/w103.jpg
expect "restart-only change: still serving" "$code" 200
sed -i '$d' "$CONF"

# --- SIGUSR2 twice under constant load: no failed request ------------------
# Four clients loop over new outputs (misses, made by the responder) and
# /status for 7 s; the responder is restarted at 1.5 s and 4 s.
load() { # load N: requests until $OUT/stop exists; codes to $OUT/load.N
	local n=$1 i=0
	while [ ! -e "$OUT/stop" ]; do
		i=$((i + 1))
		local id=$(( (n * 7 + i) % 40 + 1 ))
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$PORT/ops/img/$id/w$((100 + (n * 300 + i) % 1500)).jpg"
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$PORT/status"
	done >"$OUT/load.$n"
}
pids=()
for n in 1 2 3 4; do
	load "$n" &
	pids+=($!)
done
sleep 1.5
old=$(cat "$STACK_DIR/image-server.pid")
expect "restart 1: the pid file names the first process" "$old" "$FIRST"
second=$(restart "$old")
wait "$FIRST"
expect "restart 1: the first process exited 0" "$?" 0
sleep 2.5
third=$(restart "$second")
for _ in $(seq 100); do kill -0 "$second" 2>/dev/null || break; sleep 0.1; done
sleep 1
touch "$OUT/stop"
wait "${pids[@]}"
total=$(cat "$OUT"/load.* | wc -l)
bad=$(cat "$OUT"/load.* | grep -vc '^200$')
expect_re "restarts: requests answered during the run ($total)" "$total" '^[0-9]{2,}$'
expect "restarts: no failed request" "$bad" 0
expect_re "restarts: three processes in turn" "$FIRST $second $third" '^([0-9]+) ([0-9]+) ([0-9]+)$'
[ "$second" != "$FIRST" ] && [ "$third" != "$second" ] && pass "restarts: new pids" ||
	fail "restarts: new pids" "$FIRST $second $third"
kill -0 "$second" 2>/dev/null && fail "restart 2: old process gone" "pid $second runs" ||
	pass "restart 2: old process gone"
kill -0 "$third" 2>/dev/null && pass "restart 2: new process serving" ||
	fail "restart 2: new process serving" "pid $third"
expect "restarts: logged" "$(grep -c 'restart: started' "$STACK_DIR/ops.log")" 2

# The newest copy is not one stack_stop knows: stop it here.
kill -TERM "$third" 2>/dev/null
for _ in $(seq 100); do kill -0 "$third" 2>/dev/null || break; sleep 0.1; done
kill -0 "$third" 2>/dev/null && fail "last copy stops on SIGTERM" "still running" ||
	pass "last copy stops on SIGTERM"
expect "pid file removed by the last copy" "$([ -e "$STACK_DIR/image-server.pid" ] && echo present || echo gone)" gone

# --- -log syslog: lines reach /dev/log ---------------------------------------
# In a private mount namespace, /dev is a tmpfs of our own (with the few
# devices a process needs), so a listener can own /dev/log there without
# touching the host's.
cat >"$OUT/syslog.sh" <<'SH'
set -e
out=$1 bin=$2
mkdir -p "$out/olddev"
mount --bind /dev "$out/olddev"
mount -t tmpfs tmpfs /dev
for n in null zero random urandom; do
	touch "/dev/$n"
	mount --bind "$out/olddev/$n" "/dev/$n"
done
ln -s /proc/self/fd /dev/fd
perl -MIO::Socket::UNIX -MSocket -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "/dev/log")
		or die "listen /dev/log: $!";
	$| = 1;
	while (defined $s->recv(my $m, 4096)) { print "$m\n" }' >"$out/syslog.txt" &
listener=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
"$bin" -log syslog -socket "$out/syslog.sock" -store "$out/store" -e production \
	2>"$out/syslog.stderr" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
sleep 0.2
kill "$listener"
SH
if unshare -m bash "$OUT/syslog.sh" "$OUT" "$STACK_BIN" 2>"$OUT/syslog.err"; then
	expect_re "syslog: the start line, tagged" "$(cat "$OUT/syslog.txt")" 'image-server\[[0-9]+\]: image-server [0-9.]+ started'
	expect_re "syslog: the stop line" "$(cat "$OUT/syslog.txt")" 'image-server stopped'
	expect "syslog: nothing on stderr" "$(wc -c <"$OUT/syslog.stderr")" 0
else
	fail "syslog: private mount namespace" "$(head -c 300 "$OUT/syslog.err")"
fi
