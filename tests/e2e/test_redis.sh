#!/bin/bash
# tests/e2e/test_redis.sh: one output made once across threads and
# processes, with real redis-server, two responders sharing one store, and
# nginx in front of each.  Covers: the herd (64 requests, one decode), Redis
# stopped mid-run, a lock holder killed with kill -9, and the keys left in
# Redis.  Work files: tests/out/redis/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=redis

OUT=$PWD/tests/out/redis
SRC=$OUT/src
STORE=$OUT/store
rm -rf "$OUT"
mkdir -p "$SRC/e2e/img" "$STORE"
check_start "$OUT/run"

free_ports 21000 RPORT OPORT PA PB PC
PREFIX="imgsrv:"

# Big originals, so that making one output takes a while and requests
# really overlap.
for id in 1 2 3 4 5; do
	convert -size 3000x2000 plasma:fractal -quality 92 "$SRC/e2e/img/$id.jpg"
done

stack_redis "$RPORT" || exit 1
stack_origin origin "$OPORT" "$SRC" || exit 1
common=(-store "$STORE" -threads 8 -redis "127.0.0.1:$RPORT" -lock_ttl_ms 3000
	-wait_timeout 20 -e development)
stack_responder a "${common[@]}" -source "http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg" || exit 1
PID_A=${STACK_PIDS[-1]}
stack_responder b "${common[@]}" -source "http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg" || exit 1
stack_nginx a "$PA" "$STORE" "$STACK_DIR/a.sock" || exit 1
stack_nginx b "$PB" "$STORE" "$STACK_DIR/b.sock" || exit 1

# herd PATH N: N concurrent GETs of PATH, alternating between both nginx;
# leaves "CODE MD5" lines in $OUT/herd.
herd() {
	local path=$1 n=$2 i pids=()
	rm -rf "$OUT/h" && mkdir -p "$OUT/h"
	for ((i = 0; i < n; i++)); do
		local port=$PA
		((i % 2)) && port=$PB
		curl -s --max-time 60 -o "$OUT/h/$i" -w '%{http_code}\n' \
			"http://127.0.0.1:$port$path" >"$OUT/h/$i.code" &
		pids+=($!)
	done
	# Only the curls: a bare wait would wait for the servers too.
	wait "${pids[@]}"
	for ((i = 0; i < n; i++)); do
		echo "$(cat "$OUT/h/$i.code") $(md5sum <"$OUT/h/$i" | cut -c1-32)"
	done >"$OUT/herd"
}

# made_ab PATH: how many times the logs of responders a and b say they
# made PATH.
made_ab() {
	log_count made "$1" "$STACK_DIR/a.log" "$STACK_DIR/b.log"
}

# --- 64 concurrent requests for one new output: one decode -------------
herd /e2e/img/1/w300.jpg 64
expect "herd: 64 answers" "$(wc -l <"$OUT/herd")" 64
expect "herd: every answer 200" "$(cut -d' ' -f1 "$OUT/herd" | sort -u)" 200
expect "herd: identical bodies" "$(cut -d' ' -f2 "$OUT/herd" | sort -u | wc -l)" 1
expect "herd: made exactly once" "$(made_ab /e2e/img/1/w300.jpg)" 1
expect "herd: original fetched once from the source" \
	"$(grep -c 'GET /e2e/img/1.jpg ' "$STACK_DIR/origin-access.log")" 1
expect "herd: both responders answered" \
	"$(grep -l '/e2e/img/1/w300.jpg 200' "$STACK_DIR"/a.log "$STACK_DIR"/b.log | wc -l)" 2
expect "herd: identify says 300 wide" \
	"$(identify -format '%w' "$OUT/h/0")" 300

# --- the registry: what exists for an id -------------------------------
expect "registry: outputs set for the id" \
	"$(rcli smembers "${PREFIX}outputs:e2e/img/1" | sort | tr '\n' ' ')" "original w300.jpg "
expect "registry: no lock left" "$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" 0

# --- a bad original: one attempt, every waiter gets the same 422 ---------
printf 'not an image at all' >"$SRC/e2e/img/6.jpg"
herd /e2e/img/6/w300.jpg 16
expect "bad original: every answer 422" "$(cut -d' ' -f1 "$OUT/herd" | sort -u)" 422
expect "bad original: error key left for waiters, with a TTL" \
	"$(rcli ttl "${PREFIX}error:e2e/img/6/original" | awk '$1 > 0 && $1 <= 10 {print "ok"}')" ok

# --- Redis stopped in the middle of a herd ------------------------------
herd /e2e/img/2/x400.jpg 64 &
herd_pid=$!
sleep 0.3
rcli shutdown nosave >/dev/null 2>&1
wait "$herd_pid"
expect "redis stopped mid-herd: every answer 200" "$(cut -d' ' -f1 "$OUT/herd" | sort -u)" 200
expect "redis stopped mid-herd: identical bodies" "$(cut -d' ' -f2 "$OUT/herd" | sort -u | wc -l)" 1
# Without Redis each process still de-duplicates its own threads: at most
# one decode per responder.
expect_re "redis stopped mid-herd: made at most once per process" \
	"$(made_ab /e2e/img/2/x400.jpg)" '^[12]$'
herd /e2e/img/3/w200.webp 16
expect "redis down: every answer 200" "$(cut -d' ' -f1 "$OUT/herd" | sort -u)" 200
expect_re "redis down: outage logged" \
	"$(grep -c 'redis .* is down' "$STACK_DIR"/a.log "$STACK_DIR"/b.log | awk -F: '{s+=$2} END {print s}')" '^[12]$'

# Redis back: the responders reconnect by themselves.
stack_redis "$RPORT" || exit 1
sleep 1.2 # past the reconnect back-off
herd /e2e/img/4/w100.jpg 8
expect "redis back: every answer 200" "$(cut -d' ' -f1 "$OUT/herd" | sort -u)" 200
expect "redis back: registry written again" \
	"$(rcli sismember "${PREFIX}outputs:e2e/img/4" w100.jpg)" 1
expect_re "redis back: logged" "$(cat "$STACK_DIR"/a.log "$STACK_DIR"/b.log | grep -c 'is back')" '^[12]$'

# --- a lock holder killed with kill -9 ----------------------------------
# Responder a fetches id 5 from the slow origin (200 bytes/s) and holds the
# lock on its original; kill it; b, with a fast source, takes over once the
# lock's TTL (3 s) runs out.
stack_responder c "${common[@]}" -source "http://127.0.0.1:$OPORT/slow/{model}/{field}/{id}.jpg" || exit 1
PID_C=${STACK_PIDS[-1]}
stack_nginx c "$PC" "$STORE" "$STACK_DIR/c.sock" || exit 1
curl -s --max-time 30 -o /dev/null "http://127.0.0.1:$PC/e2e/img/5/w300.jpg" &
curl_pid=$!
for _ in $(seq 50); do
	[ "$(rcli exists "${PREFIX}lock:e2e/img/5/original")" = 1 ] && break
	sleep 0.1
done
expect "kill -9: the slow worker holds the original's lock" \
	"$(rcli exists "${PREFIX}lock:e2e/img/5/original")" 1
kill_server "$PID_C"
wait "$curl_pid" 2>/dev/null
start=$(date +%s.%N)
code=$(curl -s --max-time 30 -o "$OUT/k.jpg" -w '%{http_code}' "http://127.0.0.1:$PB/e2e/img/5/w300.jpg")
took=$(echo "$(date +%s.%N) - $start" | bc)
expect "kill -9: another worker makes it" "$code" 200
expect "kill -9: 300 wide" "$(identify -format '%w' "$OUT/k.jpg" 2>/dev/null)" 300
expect_re "kill -9: it waited for the dead lock to expire (${took}s)" "$took" '^[1-9]'
expect "kill -9: no temporary file left" \
	"$(find "$STORE" -name '.*' -type f | wc -l)" 0

# --- exactly the documented keys ---------------------------------------
others=$(rcli --scan --pattern '*' | grep -v -E "^${PREFIX}((outputs|error|worker):|workers$)" | tr '\n' ' ')
expect "keys: only ${PREFIX}outputs:*, ${PREFIX}error:*, ${PREFIX}worker:* and ${PREFIX}workers" "$others" ""
beats=$(rcli --scan --pattern "${PREFIX}worker:*" | while read -r k; do
	[ "$(rcli type "$k")" = string ] && [ "$(rcli pttl "$k")" -gt 0 ] && echo ok || echo bad; done | sort -u)
expect "keys: worker:* are heartbeats that expire" "$beats" ok
types=$(rcli --scan --pattern "${PREFIX}outputs:*" | while read -r k; do rcli type "$k"; done | sort -u)
expect "keys: outputs:* are sets" "$types" set
ttls=$(rcli --scan --pattern "${PREFIX}outputs:*" | while read -r k; do rcli ttl "$k"; done | sort -u)
expect "keys: outputs:* never expire" "$ttls" -1

# --- SIGTERM: the request in flight finishes, then a clean exit ----------
curl -s --max-time 30 -o "$OUT/term.png" -w '%{http_code}' \
	"http://127.0.0.1:$PA/e2e/img/3/full_size.png" >"$OUT/term.code" &
term_curl=$!
sleep 0.3
start=$(date +%s.%N)
kill -TERM "$PID_A"
wait "$PID_A"
status=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
wait "$term_curl"
expect "SIGTERM: the request in flight is answered 200" "$(cat "$OUT/term.code")" 200
expect "SIGTERM: its image is complete (3000 wide)" \
	"$(identify -format '%w' "$OUT/term.png" 2>/dev/null)" 3000
expect "SIGTERM: exit status 0" "$status" 0
expect_re "SIGTERM: exited within 10 s (${took}s)" "$took" '^[0-9]?\.|^[0-9]\.'
expect "SIGTERM: logged its stop" "$(grep -c 'image-server stopped' "$STACK_DIR/a.log")" 1
