#!/bin/bash
# tests/bench/soak.sh [SECONDS] [CONNECTIONS]: a bounded soak through nginx.
#
# Starts redis-server, the responder and nginx on loopback with 20
# generated originals, warms up one output per image, then drives nginx
# with wrk (default 120 s, 64 connections): 60% hits, 30% misses, 10% bad
# requests.  Prints the answers by status, wrk's figures and the
# responder's RSS before and after; fails on any 5xx or transport error,
# or when RSS grows by more than half (plus 32 MB of slack for caches).
# Not part of `make test`: run it with `make soak`.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh

SECS=${1:-120}
CONNS=${2:-64}
OUT=$PWD/tests/out/soak
rm -rf "$OUT"
mkdir -p "$OUT/src/soak/img" "$OUT/store"
stack_init "$OUT/run" || exit 1
trap stack_stop EXIT
trap 'exit 1' INT TERM
command -v wrk >/dev/null || { echo "soak: wrk is missing (apt-get install wrk)"; exit 1; }

for i in $(seq 20); do
	convert -size 1600x1200 "plasma:fractal" -quality 85 "$OUT/src/soak/img/$i.jpg"
done
RPORT=$(stack_free_port 26379)
PORT=$(stack_free_port 26080)
stack_redis "$RPORT" || exit 1
stack_responder soak -store "$OUT/store" -threads 8 -e production \
	-redis "127.0.0.1:$RPORT" \
	-source "file://$OUT/src/{model}/{field}/{id}.jpg" || exit 1
PID=${STACK_PIDS[-1]}
stack_nginx soak "$PORT" "$OUT/store" "$STACK_DIR/soak.sock" || exit 1

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
for i in $(seq 20); do
	curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$PORT/soak/img/$i/w200.jpg"
done
# A quarter of the time (at most 30 s) warms the responder up: its
# allocator arenas and MagickCore's caches reach their working size.
WARM=$((SECS / 4 > 30 ? 30 : SECS / 4))
echo "soak: warm-up ${WARM}s; responder RSS at start: $(rss) kB"
wrk -t 4 -c "$CONNS" -d "${WARM}s" --timeout 30s -s tests/bench/soak.lua \
	"http://127.0.0.1:$PORT" >"$OUT/warm.txt"
before=$(rss)
echo "soak: ${SECS}s, $CONNS connections, $(nproc) cores; responder RSS after warm-up: ${before} kB"
wrk -t 4 -c "$CONNS" -d "${SECS}s" --timeout 30s -s tests/bench/soak.lua \
	"http://127.0.0.1:$PORT" | tee "$OUT/wrk.txt"
after=$(rss)
echo "responder RSS after: ${after} kB"

fail=0
fives=$(awk '$1 == "status" && $2 >= 500 {s += $3} END {print s + 0}' "$OUT/wrk.txt")
errs=$(awk '$1 == "errors" {print $3 + $5 + $7 + $9}' "$OUT/wrk.txt")
[ "$fives" -eq 0 ] || { echo "soak: $fives answers were 5xx"; fail=1; }
[ "${errs:-1}" -eq 0 ] || { echo "soak: $errs transport errors"; fail=1; }
if [ "$after" -gt $((before * 3 / 2 + 32768)) ]; then
	echo "soak: RSS grew from $before kB to $after kB"
	fail=1
fi
stack_alive || fail=1
[ "$fail" -eq 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit "$fail"
