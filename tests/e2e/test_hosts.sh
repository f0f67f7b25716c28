#!/bin/bash
# tests/e2e/test_hosts.sh: image-server on three hosts (tests/e2e/hosts.sh:
# each with its own loopback address, hostname, responder over TCP and
# nginx with deploy/nginx/multi-host.conf), sharing one store and one
# Redis.  Covers:
#   1. a herd of 96 requests spread over the hosts: made once, one fetch
#      of the original, identical bytes everywhere
#   2. a responder killed with kill -9 while it holds the lock: another
#      host makes the output within -lock_ttl_ms plus the make time, and
#      no request ends in a 5xx (nginx sends the dead host's to the next)
#   3. queue workers on every host share the queue: no job made twice or
#      lost, every host took jobs under its own hostname
#   4. a host killed with jobs in hand: the others recover them
#   5. a store read-only on one host: its misses answer 503, and nginx
#      has them made by another host; a full store on one host: 507 there,
#      nothing partial, the other hosts keep making
#   6. the Apache and lighttpd forms of the multi-host configuration
#      (deploy/apache/multi-host.conf, deploy/lighttpd/multi-host.conf)
#      across the three responders
# Needs root (UTS and mount namespaces). Work files: tests/out/hosts/ (under
# /tmp instead when Apache's workers could not reach the checkout).
# Runs in about 90 s, a third of it waiting for a dead host's heartbeat.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. deploy/stack-web.sh
. tests/e2e/check.sh
. tests/e2e/hosts.sh
NAME=hosts

OUT=$(stack_web_dir "$PWD/tests/out/hosts" /tmp/image-server-hosts)
case $OUT in /tmp/*) echo "# work files in $OUT: www-data cannot reach $PWD" ;; esac
SRC=$OUT/src
STORE=$OUT/store
T=$OUT/tmp
rm -rf "$OUT"
mkdir -p "$SRC" "$T"
check_start "$OUT/run"
if [ "$(id -u)" -ne 0 ]; then
	skip "several hosts on one machine" "needs root (unshare -u, mount)"
	exit 0
fi

free_ports 11000 RPORT OPORT FPORT HPORT AP LP OP
hosts_init 3 "$STORE" "$FPORT" "$HPORT" || die "the bed of three hosts"
PREFIX=imgsrv:

# Originals: big (3000x2000, ~2 MB) so that a make takes a while and
# requests overlap; medium (1600x1067) for the queue.
convert -size 3000x2000 plasma:fractal -quality 90 "$SRC/big.jpg" || die "fixtures"
convert "$SRC/big.jpg" -resize 1600x -quality 85 "$SRC/medium.jpg" || die "fixtures"
for m in herd kill ro full web; do
	mkdir -p "$SRC/$m/img"
	for id in 1 2 3 4 5 6; do ln -s ../../big.jpg "$SRC/$m/img/$id.jpg"; done
done

stack_redis "$RPORT" || die "redis-server"
stack_origin origin "$OPORT" "$SRC" || die "origin"
fast="http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg"
slow="http://127.0.0.1:$OPORT/slow/{model}/{field}/{id}.jpg"
TTL=2000
common=(-redis "127.0.0.1:$RPORT" -threads 4 -lock_ttl_ms "$TTL" -wait_timeout 15
	-e development)
for i in 1 2 3; do
	host_responder "$i" "${common[@]}" -source "$fast" -queue_workers 0 ||
		die "responder of host $i"
	host_nginx "$i" || die "nginx of host $i"
done
# A second nginx on host 3, on port OP, for its own responder alone: what
# host 3 itself answers.
host_nginx 3 only "$OP" || die "nginx of host 3 alone"

# fetched PATH: how often the origin was asked for PATH.
fetched() {
	grep -c "\"GET $1 " "$STACK_DIR/origin-access.log"
}
col() { # col N: the sorted distinct values of column N of $T/herd
	cut -d' ' -f"$1" "$T/herd" | sort -u | tr '\n' ' '
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ========================================================================
# 1. A herd of 96 over three hosts
# ========================================================================
hosts_herd /herd/img/1/w300.jpg 96
expect "herd: 96 answers" "$(wc -l <"$T/herd")" 96
expect "herd: every answer 200" "$(col 1)" "200 "
expect "herd: identical bytes" "$(cut -d' ' -f2 "$T/herd" | sort -u | wc -l)" 1
expect "herd: the hosts' logs say made once" "$(hosts_made /herd/img/1/w300.jpg)" 1
made=0
for i in 1 2 3; do
	get "$(host_to "$i")" /status
	made=$((made + $(json "$T/body" made)))
done
expect "herd: the hosts' made counters (/status) add up to 1" "$made" 1
expect "herd: the original fetched once" "$(fetched /herd/img/1.jpg)" 1
answered=0
for i in 1 2 3; do
	grep -q "GET /herd/img/1/w300.jpg 200" "$STACK_DIR/host$i.log" && answered=$((answered + 1))
done
expect "herd: every host's responder answered some" "$answered" 3
expect "herd: 300 wide" "$(identify -format '%w' "$T/h/0" 2>/dev/null)" 300
expect "herd: recorded once, no lock left" \
	"$(rcli smembers "${PREFIX}outputs:herd/img/1" | sort | tr '\n' ' ')/$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" \
	"original w300.jpg /0"

# ========================================================================
# 2. kill -9 of the host that holds the lock
# ========================================================================
# Host 1 fetches its originals from the slow origin (200 bytes/s), so it
# holds the locks of the output and of the original for long; hosts 2
# and 3 fetch from the fast one.
# The make time: the same output of another id, fetch included, on host 2.
get "$(host_to 2)" /kill/img/2/x500.jpg
make_ms=$(awk -v t="$took" 'BEGIN { printf "%d", t * 1000 }')
expect "kill -9: a make of the same output on host 2 ($make_ms ms)" "$code" 200
host_stop 1
host_responder 1 "${common[@]}" -source "$slow" -queue_workers 0 || die "host 1 on the slow source"
P=/kill/img/1/x500.jpg
curl -s --max-time 60 -o "$T/k1" -w '%{http_code}' "http://$(host_to 1)$P" >"$T/k1.code" &
k1=$!
wait_until 10 test "$(rcli exists "${PREFIX}lock:kill/img/1/x500.jpg")" = 1
expect "kill -9: host 1 holds the output's lock" "$(rcli exists "${PREFIX}lock:kill/img/1/x500.jpg")" 1
expect "kill -9: ... and the original's" "$(rcli exists "${PREFIX}lock:kill/img/1/original")" 1
curl -s --max-time 60 -o "$T/k2" -w '%{http_code}' "http://$(host_to 2)$P" >"$T/k2.code" &
k2=$!
curl -s --max-time 60 -o "$T/k3" -w '%{http_code}' "http://$(host_to 3)$P" >"$T/k3.code" &
k3=$!
sleep 0.5 # hosts 2 and 3 wait on the lock
t0=$(now_ms)
host_kill 1
wait "$k1" "$k2" "$k3"
took=$(($(now_ms) - t0))
expect "kill -9: the three requests (hosts 1, 2, 3) answered 200" \
	"$(cat "$T/k1.code") $(cat "$T/k2.code") $(cat "$T/k3.code")" "200 200 200"
expect "kill -9: identical bytes" "$(md5sum "$T/k1" "$T/k2" "$T/k3" | cut -c1-32 | sort -u | wc -l)" 1
expect "kill -9: made once, by host 2 or 3" \
	"$(log_count made "$P" "$STACK_DIR/host2.log" "$STACK_DIR/host3.log")" 1
limit=$((TTL + make_ms + 1500))
if [ "$took" -le "$limit" ]; then
	pass "kill -9: replaced within -lock_ttl_ms + make time (${took} ms <= $TTL + ${make_ms} + 1500 slack)"
else
	fail "kill -9: replaced within -lock_ttl_ms + make time" "${took} ms > $limit ms"
fi
expect "kill -9: the original fetched once from the fast source" "$(fetched /kill/img/1.jpg)" 1
expect "kill -9: ... and once from the slow one, by host 1" "$(fetched /slow/kill/img/1.jpg)" 1
host_responder 1 "${common[@]}" -source "$fast" -queue_workers 0 || die "host 1 again"
codes=""
for i in 1 2 3; do
	get "$(host_to "$i")" "$P"
	codes+="$code "
done
expect "kill -9: afterwards every host answers 200, no 5xx left" "$codes" "200 200 200 "
expect "kill -9: no lock and no error left" \
	"$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l) $(rcli --scan --pattern "${PREFIX}error:*" | wc -l)" "0 0"

# ========================================================================
# 3. Queue workers on every host share the queue
# ========================================================================
# Short timeouts: a dead worker's heartbeat lasts their sum + 10 s (23 s).
qargs=(-queue_workers 2 -connect_timeout 1 -source_timeout 1 -wait_timeout 1
	-image_timeout 10 -job_attempts 3)
for i in 1 2 3; do
	host_stop "$i"
	host_responder "$i" "${common[@]}" -source "$fast" "${qargs[@]}" || die "host $i with queue workers"
done
post() { # post HOST ID OUTPUTS: POST the medium original with OUTPUTS
	get "$(host_to "$1")" "/q/img/$2?outputs=$3" -X POST \
		--data-binary "@$SRC/medium.jpg" -H 'Content-Type: image/jpeg'
}
jobs=() posted=""
for id in $(seq 1 12); do
	post $((id % 3 + 1)) "$id" "w400.jpg,w420.jpg,x300.png"
	posted+="$code "
	for f in w400.jpg w420.jpg x300.png; do jobs+=("q/img/$id/$f"); done
done
expect "queue: 12 POSTs over the hosts, each 201" "$posted" "$(printf '201 %.0s' $(seq 12))"
all_made() {
	local j
	for j in "${jobs[@]}"; do
		j=${j#q/img/}
		[ -s "$(store_path "$STORE" q img "${j%%/*}" "${j#*/}")" ] || return 1
	done
}
wait_until 40 all_made
expect "queue: all 36 outputs made" "$(all_made && echo yes)" yes
cat "$STACK_DIR"/host[123].log >"$T/q.log"
twice="" lost="" runs=""
for j in "${jobs[@]}"; do
	n=$(grep -c " job $j made " "$T/q.log")
	[ "$n" -gt 1 ] && twice+="$j "
	[ "$n" -eq 0 ] && lost+="$j "
	n=$(grep -c -E " job $j (made|store|waited) " "$T/q.log")
	[ "$n" -ne 1 ] && runs+="$j:$n "
done
expect "queue: no job made twice" "$twice" ""
expect "queue: no job lost (each made by a job)" "$lost" ""
expect "queue: each job run once, by one worker of one host" "$runs" ""
by=""
for i in 1 2 3; do
	grep -q " job q/img/.* made " "$STACK_DIR/host$i.log" && by+="$i "
done
expect "queue: every host's workers made jobs" "$by" "1 2 3 "
expect "queue: the workers are named after their hosts" \
	"$(rcli smembers "${PREFIX}workers" | cut -d: -f1 | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" \
	"host1x2 host2x2 host3x2 "
expect "queue: nothing waiting, in hand or dead" \
	"$(rcli llen "${PREFIX}queue") $(rcli --scan --pattern "${PREFIX}processing:*" | wc -l) $(rcli llen "${PREFIX}dead")" "0 0 0"

# ========================================================================
# 4. A host killed with jobs in hand: the others recover them
# ========================================================================
# Jobs that take a while (PNGs of 500 px and more from the big original),
# more than one per worker.
jobs=()
for id in 21 22 23; do
	get "$(host_to 1)" "/q/img/$id?outputs=x800.png,x700.png,x600.png,x500.png" -X POST \
		--data-binary "@$SRC/big.jpg" -H 'Content-Type: image/jpeg'
	expect "dead host: POST of id $id, 201" "$code" 201
	for f in x800.png x700.png x600.png x500.png; do jobs+=("q/img/$id/$f"); done
done
in_hand3() { [ "$(rcli --scan --pattern "${PREFIX}processing:host3:*" | wc -l)" -gt 0 ]; }
wait_until 10 in_hand3
held=$(rcli --scan --pattern "${PREFIX}processing:host3:*" | while read -r k; do rcli lrange "$k" 0 -1; done | tr '\n' ' ')
expect_re "dead host: host 3 has jobs in hand ($held)" "$held" 'q/img/'
host_kill 3
t0=$(now_ms)
wait_until 40 grep -q -s 'worker host3:.* is gone' "$STACK_DIR/host1.log" "$STACK_DIR/host2.log"
expect_re "dead host: host 1 or 2 logged host 3's workers gone, jobs back in the queue ($(($(now_ms) - t0)) ms)" \
	"$(cat "$STACK_DIR"/host[12].log | grep -c 'worker host3:.* is gone')" '^[1-9]'
wait_until 40 all_made
expect "dead host: all 12 outputs made" "$(all_made && echo yes)" yes
bad=""
for j in "${jobs[@]}"; do
	j=${j#q/img/}
	f=$(store_path "$STORE" q img "${j%%/*}" "${j#*/}")
	w=${j#*/x}
	[ "$(identify -format '%w' "$f" 2>/dev/null)" = "${w%.png}" ] || bad+="$j "
done
expect "dead host: every output whole" "$bad" ""
cat "$STACK_DIR"/host[123].log >"$T/q.log"
twice=""
for j in "${jobs[@]}"; do
	[ "$(grep -c " job $j made " "$T/q.log")" -gt 1 ] && twice+="$j "
done
expect "dead host: no job made twice" "$twice" ""
expect "dead host: nothing waiting, in hand or dead" \
	"$(rcli llen "${PREFIX}queue") $(rcli --scan --pattern "${PREFIX}processing:*" | wc -l) $(rcli llen "${PREFIX}dead")" "0 0 0"
expect "dead host: host 3's workers left the set" \
	"$(rcli smembers "${PREFIX}workers" | grep -c '^host3:')" 0

# ========================================================================
# 5. A store read-only, or full, on one host
# ========================================================================
host_responder 3 --ro "${common[@]}" -source "$fast" -queue_workers 0 || die "host 3, store read-only"
wait_line "$STACK_DIR/host3.log" 'mounted read-only'
expect_re "read-only store: host 3 says so as it starts" \
	"$(grep 'warn store ' "$STACK_DIR/host3.log" | tr '\n' ' ')" 'Read-only file system.*mounted read-only'
status "read-only store: a miss on host 3 alone" "$(host_to 3 "$OP")" /ro/img/1/w200.jpg 503
expect_re "read-only store: ... saying why" "$(cat "$T/body")" 'not writable on this host'
expect_re "read-only store: ... with Retry-After" "$(header Retry-After)" '^[0-9]+$'
# Host 3's own nginx sends the miss to host 3 first: 503 there, then to a
# backup host, which makes it.
get "$(host_to 3)" /ro/img/2/w200.jpg
expect "read-only store: a miss through host 3's nginx is answered 200" "$code" 200
expect "read-only store: host 3 answered it 503 first" \
	"$(grep -c 'GET /ro/img/2/w200.jpg 503' "$STACK_DIR/host3.log")" 1
expect "read-only store: ... and host 1 or 2 made it" \
	"$(log_count made /ro/img/2/w200.jpg "$STACK_DIR/host1.log" "$STACK_DIR/host2.log")" 1
# A POST is never sent twice: it gets host 3's 503 as it is.
get "$(host_to 3 "$OP")" "/ro/img/9" -X POST --data-binary "@$SRC/medium.jpg" -H 'Content-Type: image/jpeg'
expect "read-only store: a POST on host 3: 503" "$code" 503
get "$(host_to 3 "$OP")" /herd/img/1/w300.jpg
expect "read-only store: hits are still served on host 3" "$code $(header X-Image-Server)" "200 "
host_stop 3

host_responder 3 --tmpfs 256k "${common[@]}" -source "$fast" -queue_workers 0 || die "host 3, a full store"
ro_pid=${HOST_PID[3]}
status "full store: a miss on host 3" "$(host_to 3 "$OP")" /full/img/1/w200.jpg 507
get "$(host_to 1)" /full/img/2/w200.jpg
expect "full store: host 1 still makes" "$code" 200
get "$(host_to 2)" /full/img/1/w200.jpg
expect "full store: host 2 makes what failed on host 3" "$code" 200
expect "full store: nothing partial in host 3's store" \
	"$(find "/proc/$ro_pid/root$STORE" -name '.*' -type f 2>/dev/null | wc -l)" 0
host_stop 3
host_responder 3 "${common[@]}" -source "$fast" -queue_workers 0 || die "host 3 again"

# ========================================================================
# 6. The Apache and lighttpd forms, across the three responders
# ========================================================================
# web_spread NAME PORT: six misses at once through a web server: each
# 200, and answered by at least two responders.
web_spread() {
	local name=$1 port=$2 id codes n=0 i pids=()
	for id in 1 2 3 4 5 6; do
		curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$port/web/img/$id/w$((60 + ${#name}))$id.jpg" >"$T/$name.$id" &
		pids+=($!)
	done
	wait "${pids[@]}"
	codes=$(cat "$T/$name".[1-6] | tr '\n' ' ')
	expect "$name multi-host: six misses, each 200" "$codes" "200 200 200 200 200 200 "
	for i in 1 2 3; do
		grep -q "GET /web/img/[1-6]/w$((60 + ${#name}))[1-6].jpg 200" "$STACK_DIR/host$i.log" &&
			n=$((n + 1))
	done
	expect_re "$name multi-host: answered by several responders ($n)" "$n" '^[23]$'
	get "$port" "/web/img/1/w$((60 + ${#name}))1.jpg"
	expect "$name multi-host: then a hit from the store" "$code $(header X-Image-Server)" "200 "
}
upstreams=()
for i in 1 2 3; do upstreams+=("${HOST_ADDR[i]}:$FPORT"); done
if stack_apache_multi apache "$AP" "$STORE" "${upstreams[@]}"; then
	web_spread apache "$AP"
else
	fail "apache multi-host: started" "see $STACK_DIR/apache.out"
fi
if stack_lighttpd_multi lighttpd "$LP" "$STORE" "${upstreams[@]}"; then
	web_spread lighttpd "$LP"
else
	fail "lighttpd multi-host: started" "see $STACK_DIR/lighttpd.out"
fi

# One responder down: both send its share to the others.
host_stop 2
for w in apache:"$AP" lighttpd:"$LP"; do
	codes=""
	for id in 1 2 3 4; do
		get "${w#*:}" "/web/img/$id/x$((70 + id)).jpg"
		codes+="$code "
	done
	expect "${w%%:*} multi-host: with host 2's responder down, four misses, each 200" \
		"$codes" "200 200 200 200 "
done
stack_alive || fail "every server still running at the end" "see $STACK_DIR"
