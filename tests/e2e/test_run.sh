#!/bin/bash
# tests/e2e/test_run.sh: the stack of `make run` (deploy/run.sh) as a
# person uses it: on the ports given (PORT, REDIS_PORT), it serves the
# demo; it follows the responder through a SIGUSR2 restart under load with
# no failed request; Ctrl-C (SIGINT) stops everything it started, the
# restarted responder too; started again on the same run directory, Redis
# still knows what the store holds.  Work files: tests/out/run/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=run

OUT=$PWD/tests/out/run
RUN=$OUT/run
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$OUT"
RUN_PID=""
LOADERS=()

stack_stop() {
	local p
	for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$RUN_PID" ] && kill -INT -- "-$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
	return 0
}
check_traps

free_ports 26000 PORT RPORT

# start_stack: deploy/run.sh in the background, in a process group of its
# own as a terminal would start it (job control on: a background job
# would otherwise ignore SIGINT); waits for its banner.
STARTS=0
start_stack() {
	STARTS=$((STARTS + 1))
	RUN_OUT=$OUT/run$STARTS.out
	set -m
	RUN_DIR=$RUN PORT=$PORT REDIS_PORT=$RPORT bash deploy/run.sh >"$RUN_OUT" 2>&1 &
	RUN_PID=$!
	set +m
	for _ in $(seq 150); do
		grep -q 'image-server is running' "$RUN_OUT" && return 0
		kill -0 "$RUN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop_stack: SIGINT to its process group, as Ctrl-C; true if run.sh
# ended within 15 s.
stop_stack() {
	kill -INT -- "-$RUN_PID"
	for _ in $(seq 150); do
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$RUN_PID" 2>/dev/null || return 1
	wait "$RUN_PID" 2>/dev/null
	RUN_PID=""
}

start_stack || die "run.sh starts on PORT=$PORT REDIS_PORT=$RPORT" "see $RUN_OUT"
pass "run.sh starts on PORT=$PORT REDIS_PORT=$RPORT"
expect "the banner names the port" "$(grep -c "http://127.0.0.1:$PORT/" "$RUN_OUT")" 1
get "$PORT" /user/avatar/3589782/w500.jpg
expect "demo: w500.jpg" "$code" 200
expect "demo: a 500x375 JPEG" "$(identify -format '%m %w %h' "$T/body" 2>/dev/null)" "JPEG 500 375"
expect "Redis on REDIS_PORT records it" \
	"$(rcli sismember imgsrv:outputs:user/avatar/3589782 w500.jpg)" 1

# --- SIGUSR2 under load --------------------------------------------------------
# Two clients asking for new outputs (misses reach the responder) and
# writing down every status.
for c in 1 2; do
	(
		i=0
		while :; do
			i=$((i + 1))
			curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
				"http://127.0.0.1:$PORT/product/image/10855050/w$((c * 400 + i)).jpg"
		done
	) >"$OUT/load$c.txt" 2>&1 &
	LOADERS+=($!)
done
sleep 1
OLD=$(cat "$RUN/image-server.pid")
kill -USR2 "$OLD"
NEW=$OLD
for _ in $(seq 100); do
	NEW=$(cat "$RUN/image-server.pid" 2>/dev/null)
	[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] && ! kill -0 "$OLD" 2>/dev/null && break
	sleep 0.1
done
sleep 1.5
for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
LOADERS=()
[ "$NEW" != "$OLD" ] && pass "SIGUSR2: a new responder took over" ||
	fail "SIGUSR2: a new responder took over" "pid file still names $OLD"
kill -0 "$OLD" 2>/dev/null && fail "SIGUSR2: the old responder left" "pid $OLD runs" ||
	pass "SIGUSR2: the old responder left"
n=$(cat "$OUT"/load*.txt | wc -l)
bad=$(cat "$OUT"/load*.txt | grep -cv '^200$')
[ "$n" -ge $((20 / $(slowdown))) ] && pass "load: $n requests during the restart" ||
	fail "load: requests during the restart" "only $n"
expect "load: no failed request through the restart" "$bad" 0
kill -0 "$RUN_PID" 2>/dev/null && pass "run.sh keeps serving after the restart" ||
	fail "run.sh keeps serving after the restart" "it stopped: $(tail -n 2 "$RUN_OUT")"
get "$PORT" /user/avatar/3589782/w321.jpg
expect "after the restart: a new output" "$code" 200
grep -q 'has died' "$RUN_OUT" && fail "no 'has died' for a restart" "$(grep 'has died' "$RUN_OUT")" ||
	pass "no 'has died' for a restart"

# --- Ctrl-C --------------------------------------------------------------------
REDIS_PID=$(pgrep -f "redis-server 127.0.0.1:$RPORT" | head -n 1)
NGINX_PID=$(cat "$RUN/nginx-nginx.pid" 2>/dev/null)
stop_stack && pass "Ctrl-C stops run.sh" || fail "Ctrl-C stops run.sh" "still running"
for p in "responder:$NEW" "redis:$REDIS_PID" "nginx:$NGINX_PID"; do
	pid=${p#*:}
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		fail "Ctrl-C: ${p%%:*} stopped" "pid $pid runs"
		kill -KILL "$pid" 2>/dev/null
	else
		pass "Ctrl-C: ${p%%:*} stopped"
	fi
done

# --- again, on the same run directory ------------------------------------------
start_stack || die "run.sh starts again" "see $RUN_OUT"
expect "restarted: Redis still records the demo's outputs" \
	"$(rcli sismember imgsrv:outputs:user/avatar/3589782 w500.jpg)" 1
get "$PORT" /user/avatar/3589782/w500.jpg
expect "restarted: the store still serves them" "$code" 200
stop_stack && pass "Ctrl-C stops it again" || fail "Ctrl-C stops it again" "still running"
