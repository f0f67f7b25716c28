#!/bin/bash
# tests/e2e/test_sentinel.sh: Redis Sentinel under three hosts
# (tests/e2e/hosts.sh), each responder on -redis sentinel://S1,S2,S3/mm
# with -redis_wait_replicas 1: a real master, its replica and three
# redis-sentinel processes (quorum 2).  The master is killed with kill -9
# under load.  Covers:
#   1. the master found through the sentinels, the keys and jobs written
#   2. a POST answered 201 only once the replica holds its jobs (WAIT),
#      with the replica's link cut just before: its jobs survive a kill
#      of the master right after the answer
#   3. the failover under load: no 5xx, each host logs the outage once
#      and finds the new master without a restart
#   4. after it: keys and queued jobs on the new master, a herd of 48 made
#      once, images(1) on the sentinels, the queue worked off, the old
#      master back as a replica, and POST confirmed by it again
# Needs root (the bed) and redis-sentinel. Work files:
# tests/out/sentinel/. Runs in about 40 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
. tests/e2e/hosts.sh
NAME=sentinel

OUT=$PWD/tests/out/sentinel
SRC=$OUT/src
STORE=$OUT/store
T=$OUT/tmp
rm -rf "$OUT"
mkdir -p "$SRC/s/img" "$T"
check_start "$OUT/run"
if [ "$(id -u)" -ne 0 ]; then
	skip "Sentinel failover under three hosts" "needs root (unshare -u)"
	exit 0
fi
if ! command -v redis-sentinel >/dev/null; then
	skip "Sentinel failover under three hosts" "redis-sentinel is not installed"
	exit 0
fi

free_ports 13000 PM PR S1 S2 S3 OPORT FPORT HPORT
hosts_init 3 "$STORE" "$FPORT" "$HPORT" || die "the bed of three hosts"
PREFIX=imgsrv:
MASTER=mm

convert -size 2000x1400 plasma:fractal -quality 90 "$SRC/big.jpg" || die "fixtures"
convert "$SRC/big.jpg" -resize 800x -quality 85 "$SRC/medium.jpg" || die "fixtures"
for id in $(seq 1 250); do ln -s ../../big.jpg "$SRC/s/img/$id.jpg"; done

# --- Redis: master, replica, three sentinels ---------------------------
stack_redis "$PM" || die "the master"
PID_M=${STACK_PIDS[-1]}
stack_redis_replica "$PR" "$PM" || die "the replica"
PID_R=${STACK_PIDS[-1]}
for s in "$S1" "$S2" "$S3"; do
	stack_sentinel "$s" "$MASTER" "$PM" 2 || die "sentinel :$s"
done
# sen PORT ARGS...: redis-cli to a sentinel; r PORT ARGS...: to a server.
sen() { redis-cli -h 127.0.0.1 -p "$@"; }
r() { redis-cli -h 127.0.0.1 -p "$@"; }
ready() { # every sentinel knows the replica and the two other sentinels
	local s
	for s in "$S1" "$S2" "$S3"; do
		sen "$s" sentinel master "$MASTER" | grep -A1 -x num-slaves | tail -n 1 | grep -qx 1 || return 1
		sen "$s" sentinel master "$MASTER" | grep -A1 -x num-other-sentinels | tail -n 1 | grep -qx 2 || return 1
	done
}
wait_until 30 ready || die "the sentinels know the replica and each other"
pass "three sentinels watch the master and its replica"

stack_origin origin "$OPORT" "$SRC" || die "origin"
SENT="sentinel://127.0.0.1:$S1,127.0.0.1:$S2,127.0.0.1:$S3/$MASTER"
# -redis_timeout_ms 4000: WAIT gets half of it, longer than a replica
# takes to come back after its link is cut.
common=(-redis "$SENT" -redis_wait_replicas 1 -redis_timeout_ms 4000
	-threads 4 -lock_ttl_ms 2000 -wait_timeout 15 -e development
	-source "http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg")
for i in 1 2 3; do
	host_responder "$i" "${common[@]}" -queue_workers 0 || die "responder of host $i"
	host_nginx "$i" || die "nginx of host $i"
done
now_ms() { echo $(($(date +%s%N) / 1000000)); }
post() { # post HOST ID OUTPUTS
	get "$(host_to "$1")" "/s/img/$2?outputs=$3" -X POST \
		--data-binary "@$SRC/medium.jpg" -H 'Content-Type: image/jpeg'
}

# ========================================================================
# 1. Before: the master found, keys and jobs written
# ========================================================================
hosts_herd /s/img/1/w300.jpg 24
expect "before: a herd of 24, every answer 200" "$(cut -d' ' -f1 "$T/herd" | sort -u | tr '\n' ' ')" "200 "
expect "before: made once" "$(hosts_made /s/img/1/w300.jpg)" 1
expect_re "before: each host found the master through the sentinels" \
	"$(grep -l "master $MASTER is 127.0.0.1:$PM" "$STACK_DIR"/host[123].log | wc -l)" '^3$'
posted=""
for id in 101 102 103; do
	post $((id % 3 + 1)) "$id" "w100.jpg,w200.jpg"
	posted+="$code "
done
expect "before: three POSTs, 201" "$posted" "201 201 201 "
expect "before: their jobs are queued on the master" "$(r "$PM" llen "${PREFIX}queue")" 6

# ========================================================================
# 2. WAIT: a POST's jobs are on the replica before the 201
# ========================================================================
# GETs of new outputs on every host, from before the kill to after the
# failover: "CODE ID END_MS" lines.
load_pids=()
for h in 1 2 3; do
	(
		for k in $(seq 0 24); do
			id=$((120 + h * 25 + k))
			c=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' \
				"http://$(host_to "$h")/s/img/$id/w150.jpg")
			echo "$c $id $(now_ms)"
			sleep 0.2
		done
	) >"$T/load.$h" &
	load_pids+=($!)
done
sleep 0.5
# The replica stopped for 0.8 s (SIGSTOP) and its link cut: until it
# runs again and reconnects, the master's writes reach no replica.  The
# POST must wait for it; then the master dies at once after the answer.
# Timed from the stop, not from the POST's start, which a busy machine
# can delay by a good part of the 0.8 s.
kill -STOP "$PID_R"
stopped=$(now_ms)
r "$PM" client kill type replica >/dev/null
(sleep 0.8 && kill -CONT "$PID_R") &
cont=$!
post 1 104 "w100.jpg,w200.jpg"
answered=$(now_ms)
kill_server "$PID_M"
killed=$(now_ms)
wait "$cont"
kill -CONT "$PID_R" 2>/dev/null
waited=$((answered - stopped))
expect "WAIT: the POST just before the kill answered 201" "$code" 201
expect_re "WAIT: ... once the replica was back (${waited} ms after it stopped)" \
	"$waited" '^([7-9][0-9]{2}|[1-2][0-9]{3})$'

# ========================================================================
# 3. The failover under load
# ========================================================================
new_master() { [ "$(sen "$S1" sentinel get-master-addr-by-name "$MASTER" | tail -n 1)" = "$PR" ]; }
wait_until 20 new_master
expect "failover: the sentinels promoted the replica" "$(new_master && echo yes)" yes
found() { [ "$(grep -l "is back (master 127.0.0.1:$PR)" "$STACK_DIR"/host[123].log | wc -l)" = 3 ]; }
wait_until 20 found
echo "# failover: every host on the new master $(($(now_ms) - killed)) ms after the kill"
expect "failover: every host found the new master, without a restart" "$(found && echo yes)" yes
wait "${load_pids[@]}"
cat "$T"/load.[123] >"$T/load"
expect "failover: 75 GETs under load" "$(wc -l <"$T/load")" 75
expect "failover: no 5xx, every answer 200" "$(cut -d' ' -f1 "$T/load" | sort -u | tr '\n' ' ')" "200 "
during=$(awk -v a="$killed" '$3 > a' "$T/load" | wc -l)
expect_re "failover: answers after the kill ($during)" "$during" '^[1-9]'
for i in 1 2 3; do
	l=$STACK_DIR/host$i.log
	expect "failover: host $i logged the outage once, its end once, the move once" \
		"$(grep -c 'is down (' "$l") $(grep -c 'is still down' "$l") $(grep -c 'is back (master' "$l") $(grep -c "master $MASTER moved from 127.0.0.1:$PM to 127.0.0.1:$PR" "$l")" \
		"1 0 1 1"
done

# ========================================================================
# 4. After: the new master has it all
# ========================================================================
expect "after: the new master says it is one" "$(r "$PR" role | head -n 1)" master
expect "after: the outputs set written before the kill" \
	"$(r "$PR" smembers "${PREFIX}outputs:s/img/1" | sort | tr '\n' ' ')" "original w300.jpg "
jobs=$(r "$PR" lrange "${PREFIX}queue" 0 -1 | sort | tr '\n' ' ')
want=""
for id in 101 102 103 104; do
	for f in w100.jpg w200.jpg; do want+="0 0 s/img/$id/$f "; done
done
want=$(tr ' ' '\n' <<<"$want" | paste -d' ' - - - | sed '/^ *$/d' | sort | tr '\n' ' ')
expect "after: every queued job on the new master, the last POST's too" "$jobs" "$want"
hosts_herd /s/img/2/x250.jpg 48
expect "after: a herd of 48, every answer 200" "$(cut -d' ' -f1 "$T/herd" | sort -u | tr '\n' ' ')" "200 "
expect "after: identical bytes" "$(cut -d' ' -f2 "$T/herd" | sort -u | wc -l)" 1
expect "after: made once" "$(hosts_made /s/img/2/x250.jpg)" 1
expect "after: recorded on the new master" "$(r "$PR" sismember "${PREFIX}outputs:s/img/2" x250.jpg)" 1
# images(1) finds the master through the sentinels too.
"$(dirname "$STACK_BIN")/images" -model s -field img -start 230 -end 232 -outputs w90.jpg \
	-store "$STORE" -redis "$SENT" -source "http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg" \
	-progress 0 >"$T/images.out" 2>&1
expect "after: images(1) on the sentinels made its outputs (exit $?)" \
	"$(for id in 230 231 232; do r "$PR" sismember "${PREFIX}outputs:s/img/$id" w90.jpg; done | tr '\n' ' ')" "1 1 1 "
# Queue workers on host 1 work the queue off the new master.
host_stop 1
host_responder 1 "${common[@]}" -queue_workers 2 || die "host 1 with queue workers"
done_all() { [ "$(r "$PR" llen "${PREFIX}queue")" = 0 ] &&
	[ "$(r "$PR" --scan --pattern "${PREFIX}processing:*" | wc -l)" = 0 ]; }
wait_until 30 done_all
missing=""
for id in 101 102 103 104; do
	for f in w100.jpg w200.jpg; do
		[ -s "$(store_path "$STORE" s img "$id" "$f")" ] || missing+="$id/$f "
	done
done
expect "after: the queue worked off, every output made" "$missing" ""
# The old master comes back: the sentinels make it a replica of the new.
stack_redis_replica "$PM" "$PR" || die "the old master, back as a replica"
post 2 105 "w100.jpg"
expect "after: with the old master back as a replica, a POST is confirmed: 201" "$code" 201
stack_alive || fail "every server still running at the end" "see $STACK_DIR"
