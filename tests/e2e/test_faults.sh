#!/bin/bash
# tests/e2e/test_faults.sh: image-server when the world around it fails,
# through real nginx (deploy/stack.sh). Covers:
#   1. a full store (a 512 KB tmpfs): 507, and nothing partial is left
#   2. lying sources (tests/e2e/lying_origin.pl): short body, HTML, endless
#      body, trickle; nothing stored
#   3. a source that refuses connections: 502, and the responder goes on
#   4. the responder killed with kill -9 while it makes a big output
#   5. one thread stuck on a trickling source does not hold up the others
#   6. Redis stopped and restarted under load
# Needs root (mount -t tmpfs). Prints "ok - ..." / "not ok - ..." per check
# and, last, "faults: N passed, M failed"; exits 1 if any check failed.
# Work files: tests/out/faults/. Runs in about 20 s (check 5 runs before
# 3, 4 and 6; its stuck request, 504 after 6 s, is collected at the end).
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=faults

OUT=$PWD/tests/out/faults
SRC=$OUT/src      # file:// originals: SRC/{model}/{field}/{id}.jpg
FULL=$OUT/full    # the tmpfs store of check 1
T=$OUT/tmp
# A tmpfs left mounted by a run that was killed would survive rm -r.
mountpoint -q "$FULL" 2>/dev/null && umount "$FULL"
rm -rf "$OUT"
mkdir -p "$SRC" "$FULL" "$T"
mounted=0
bg_pids=()

# Stop the servers (they may hold the tmpfs), unmount it, stop any curl of
# ours still running, then report.
finish() {
	local rc=$?
	local p
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	stack_stop
	if [ "$mounted" = 1 ]; then
		if umount "$FULL" 2>/dev/null || umount -l "$FULL"; then
			mounted=0
		else
			fail "cleanup: unmount the tmpfs $FULL" "umount failed"
		fi
	fi
	check_finish "$rc"
}
check_start "$OUT/run" finish

# --- helpers -------------------------------------------------------------

# (get, status, store_path, rcli, free_ports, kill_server: lib.sh)

# place STORE MODEL FIELD ID FILE: put FILE in the store as the original.
place() {
	local d
	d=$(store_path "$1" "$2" "$3" "$4")
	mkdir -p "$d" && cp "$5" "$d/original"
}

# nothing_partial DESC DIR: no temporary (dot) file, no empty file.
nothing_partial() {
	local dots empty
	dots=$(find "$2" -name '.*' | tr '\n' ' ')
	empty=$(find "$2" -type f -empty | tr '\n' ' ')
	expect "$1: no temporary file left" "$dots" ""
	expect "$1: no empty file" "$empty" ""
}

# whole FILE: "W H" when FILE decodes completely without a warning.
whole() {
	identify -regard-warnings -format '%w %h %#\n' "$1" 2>/dev/null | head -n 1 | cut -d' ' -f1,2
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# reap PID...: wait for background jobs of ours and drop them from bg_pids.
reap() {
	local p q keep=()
	wait "$@" 2>/dev/null
	for p in "${bg_pids[@]}"; do
		for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
		keep+=("$p")
	done
	bg_pids=("${keep[@]}")
}

# --- originals and ports -------------------------------------------------

# big: 3000x2000 plasma JPEG, ~2 MB (more than the 512 KB tmpfs holds; its
# full_size.png takes a while to encode). medium: 800x533, ~150 KB. small:
# 400x267, fits anywhere.
convert -size 3000x2000 plasma:fractal -quality 92 "$SRC/big.jpg" || die "fixtures made"
convert "$SRC/big.jpg" -resize 800x -quality 85 "$SRC/medium.jpg" || die "fixtures made"
convert "$SRC/big.jpg" -resize 400x -quality 80 "$SRC/small.jpg" || die "fixtures made"

free_ports 25000 P1 P2 P3 P4 P5 P6 PL RPORT PX
# nobody listens on PX: the refused source of check 3
RUN=$STACK_DIR
src_file="file://$SRC/{model}/{field}/{id}.jpg"

# ========================================================================
# 1. Full store: 507 and nothing partial
# ========================================================================
if ! merr=$(mount -t tmpfs -o size=512k tmpfs "$FULL" 2>&1); then
	fail "full store: mount a 512k tmpfs on $FULL" "mount: $merr"
else
	mounted=1
	mkdir -p "$SRC/fs/img"
	cp "$SRC/big.jpg" "$SRC/fs/img/1.jpg"
	cp "$SRC/medium.jpg" "$SRC/fs/img/2.jpg"
	stack_responder full -threads 2 -store "$FULL" -source "$src_file" ||
		die "responder full started"
	stack_nginx full "$P1" "$FULL" "$RUN/full.sock" || die "nginx full started"

	# The original (2.1 MB) cannot be stored in 512 KB.
	status "full store: original too big for the store" "$P1" /fs/img/1/w100.jpg 507
	expect "full store: no original kept for id 1" \
		"$(find "$FULL" -path '*/1/*' -type f | tr '\n' ' ')" ""
	nothing_partial "full store (original)" "$FULL"

	# An original that fits, then a disk with ~20 KB left, then an output
	# (full_size.png, some MB) that does not fit.
	get "$P1" /fs/img/2/w50.jpg
	expect "full store: a small output while there is room" "$code" 200
	dd if=/dev/zero of="$FULL/filler" bs=64k 2>/dev/null # until ENOSPC
	truncate -s -20K "$FULL/filler"
	avail=$(df -B1 --output=avail "$FULL" | tail -n 1 | tr -d ' ')
	expect_re "full store: ~20 KB left (${avail} B)" "$avail" '^(1[0-9]|2[0-9])[0-9]{3}$'
	d2=$(store_path "$FULL" fs img 2)
	status "full store: output too big for the store" "$P1" /fs/img/2/full_size.png 507
	expect "full store: no full_size.png" "$(find "$d2" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')" "original w50.jpg "
	nothing_partial "full store (output)" "$FULL"
	expect "full store: the stored original is intact" "$(whole "$d2/original")" "800 533"
	# Room again: the same URL works, no restart needed.
	rm -f "$FULL/filler"
	get "$P1" /fs/img/2/x300.png
	expect "full store: room again, 200" "$code" 200
fi

# ========================================================================
# 2. Lying sources
# ========================================================================
# The source URL is http://127.0.0.1:PL/{field}/{id}: the field picks the lie.
perl tests/e2e/lying_origin.pl "$PL" "$SRC/small.jpg" >"$RUN/lying.log" 2>&1 &
_stack_add $! "lying origin :$PL"
_stack_wait 50 $! "lying origin :$PL" stack_port_open "$PL" || die "lying origin started"
S2=$OUT/store-lie
stack_responder lie -threads 4 -store "$S2" -source "http://127.0.0.1:$PL/{field}/{id}" \
	-source_timeout 2 -max_source_bytes 1000000 || die "responder lie started"
stack_nginx lie "$P2" "$S2" "$RUN/lie.sock" || die "nginx lie started"

# Content-Length 100000, 1000 bytes, close: libcurl ends with
# CURLE_PARTIAL_FILE, which lib/source.c maps to ERR_SOURCE (502): the
# source failed the transfer; the bytes are never sniffed (and a JPEG
# cut short would fail to decode, 422, if they were).
status "lying source: short body" "$P2" /lo/short/1/w100.jpg 502
status "lying source: HTML page" "$P2" /lo/html/1/w100.jpg 422
status "lying source: endless body (over -max_source_bytes)" "$P2" /lo/endless/1/w100.jpg 422
expect_re "lying source: endless body cut at the cap (${took}s)" "$took" '^[0-1]\.'
status "lying source: trickle, -source_timeout 2" "$P2" /lo/trickle/1/w100.jpg 504 \
	--max-time 10
expect_re "lying source: trickle gives up after ~2 s (${took}s)" "$took" '^(1\.9|2\.|3\.)'
expect "lying sources: nothing stored" "$(find "$S2" -type f | tr '\n' ' ')" ""
# Each again: a refused original is not remembered as good, nor half-kept.
get "$P2" /lo/html/1/w100.jpg
expect "lying source: HTML again, 422 again" "$code" 422

# ========================================================================
# 5. One thread stuck on a trickling source does not stop the others
# ========================================================================
# (Before 3 and 4, so the stuck request runs while they do.) Every id's
# source trickles; ids 11-20 have their original in the store already.
S5=$OUT/store-stuck
for id in $(seq 11 20); do place "$S5" st trickle "$id" "$SRC/small.jpg"; done
stack_responder stuck -threads 4 -store "$S5" -source "http://127.0.0.1:$PL/{field}/{id}" \
	-source_timeout 6 || die "responder stuck started"
stack_nginx stuck "$P5" "$S5" "$RUN/stuck.sock" || die "nginx stuck started"
curl -s --max-time 15 -o /dev/null -w '%{http_code} %{time_total}' \
	"http://127.0.0.1:$P5/st/trickle/1/w100.jpg" >"$T/stuck.code" &
stuck_pid=$!
bg_pids+=("$stuck_pid")
sleep 1 # the request is in the responder, trickling
slow=""
codes=""
for id in $(seq 11 20); do
	get "$P5" "/st/trickle/$id/w100.jpg" --max-time 5
	codes+="$code "
	[[ $took =~ ^[0-1]\. ]] || slow+="$id:${took}s "
done
expect "stuck thread: 10 stored-original requests, all 200" "$codes" \
	"200 200 200 200 200 200 200 200 200 200 "
expect "stuck thread: each answered within 2 s" "$slow" ""
if kill -0 "$stuck_pid" 2>/dev/null; then
	pass "stuck thread: the trickling request was in flight throughout"
else
	fail "stuck thread: the trickling request was in flight throughout" \
		"it ended early: $(cat "$T/stuck.code")"
fi

# ========================================================================
# 3. Source down: connection refused
# ========================================================================
S3=$OUT/store-down
place "$S3" dn img 2 "$SRC/small.jpg"
stack_responder down -threads 2 -store "$S3" -connect_timeout 2 \
	-source "http://127.0.0.1:$PX/{model}/{field}/{id}.jpg" || die "responder down started"
stack_nginx down "$P3" "$S3" "$RUN/down.sock" || die "nginx down started"
status "source down: connection refused" "$P3" /dn/img/1/w100.jpg 502
expect_re "source down: refused at once, not after a timeout (${took}s)" "$took" '^0\.'
get "$P3" /dn/img/2/w100.jpg
expect "source down: the next request (original in the store) 200" "$code" 200
expect "source down: ... 100 wide" "$(whole "$T/body" | cut -d' ' -f1)" 100
get "$P3" /dn/img/1/w100.jpg
expect "source down: still 502 on a retry" "$code" 502
expect "source down: nothing stored for id 1" "$(find "$S3" -path '*/1/*' | tr '\n' ' ')" ""

# ========================================================================
# 4. kill -9 while the responder makes a big output
# ========================================================================
S4=$OUT/store-k9
mkdir -p "$SRC/k9/img"
cp "$SRC/big.jpg" "$SRC/k9/img/1.jpg"
stack_responder k9 -threads 2 -store "$S4" -source "$src_file" || die "responder k9 started"
K9=${STACK_PIDS[-1]}
stack_nginx k9 "$P4" "$S4" "$RUN/k9.sock" || die "nginx k9 started"
# The original first, so that the request below spends its time encoding
# (~3 s) and writing the PNG (~9 MB).
get "$P4" /k9/img/1/w10.jpg
expect "kill -9: original stored first" "$code" 200
d4=$(store_path "$S4" k9 img 1)
curl -s --max-time 30 -o "$T/k9.png" -w '%{http_code}' \
	"http://127.0.0.1:$P4/k9/img/1/full_size.png" >"$T/k9.code" &
k9_curl=$!
bg_pids+=("$k9_curl")
start=$(now_ms)
# Kill it as soon as its temporary file appears (mid-write); should that be
# missed, once the output is in place (too late), or after 8 s (on a loaded
# machine, while it is still encoding). The write of ~9 MB and its fsync
# take a few ms, so the loop uses builtins only: a glob, a test, and a read
# with a timeout on a FIFO of ours as a 2 ms sleep.
mkfifo "$T/tick" && exec 9<>"$T/tick"
landed="while encoding (8 s passed)"
t0=${EPOCHREALTIME//[!0-9]/}
while ((${EPOCHREALTIME//[!0-9]/} - t0 < 8000000)); do
	if compgen -G "$d4/.full_size.png.tmp.*" >/dev/null; then
		landed="mid-write (temporary file seen)"
		break
	fi
	if [ -e "$d4/full_size.png" ]; then
		landed="too late (output in place)"
		break
	fi
	read -r -t 0.002 -u 9
done
kill_server "$K9"
exec 9<&-
reap "$k9_curl"
# Best effort: say where the kill landed, without failing on timing.
echo "# kill -9 after $(($(now_ms) - start)) ms, $landed;" \
	"curl got $(cat "$T/k9.code"); in the id dir: $(find "$d4" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')"
if [ -e "$d4/full_size.png" ]; then
	expect "kill -9: full_size.png, if there, is complete" "$(whole "$d4/full_size.png")" "3000 2000"
else
	pass "kill -9: no full_size.png (not written before the kill)"
fi
expect "kill -9: the original is complete" "$(whole "$d4/original")" "3000 2000"
# A kill just after the temporary file is created leaves it empty: that
# one may be (it is never served: below); no other file may.
expect "kill -9: no empty file but a temporary one" \
	"$(find "$S4" -type f -empty ! -name '.*.tmp.*' | tr '\n' ' ')" ""

# A new responder on the same store (and socket: spawn-fcgi replaces a
# socket nobody listens on).
stack_responder k9 -threads 2 -store "$S4" -source "$src_file" || die "responder k9 restarted"
# Temporary files that the kill left, if any, are never served. If none
# was left, a complete image under a temporary name stands in for one.
tmps=$(cd "$d4" && find . -maxdepth 1 -name '.*.tmp.*' -printf '%f\n')
if [ -z "$tmps" ]; then
	tmps=.full_size.png.tmp.AbC123
	cp "$SRC/small.jpg" "$d4/$tmps"
fi
served=""
for f in $tmps; do
	get "$P4" "/k9/img/1/$f"
	[ "$code" = 200 ] && served+="$f "
	echo "# GET /k9/img/1/$f: $code $(head -c 100 "$T/body" | tr -d '\n')"
	[ "$f" = .full_size.png.tmp.AbC123 ] && rm -f "$d4/$f"
done
expect "kill -9: temporary files are not served (${tmps//$'\n'/ })" "$served" ""
get "$P4" /k9/img/1/full_size.png --max-time 30
expect "kill -9: after a restart, 200" "$code" 200
expect "kill -9: ... a whole 3000x2000 PNG" "$(whole "$T/body")" "3000 2000"
expect "kill -9: ... and stored whole" "$(whole "$d4/full_size.png")" "3000 2000"

# ========================================================================
# 6. Redis stopped and restarted under load
# ========================================================================
S6=$OUT/store-rd
mkdir -p "$SRC/rd/img"
for id in $(seq 1001 1100); do ln -s ../../small.jpg "$SRC/rd/img/$id.jpg"; done
stack_redis "$RPORT" || die "redis-server started"
RD_REDIS=${STACK_PIDS[-1]}
stack_responder rd -threads 8 -store "$S6" -source "$src_file" -redis "127.0.0.1:$RPORT" ||
	die "responder rd started"
stack_nginx rd "$P6" "$S6" "$RUN/rd.sock" || die "nginx rd started"

# 8 loops in parallel; loop k asks for ids 1000+k, 1008+k, ... (13 or
# 12 each, 100 in all), one every 0.3 s: about 4 s of load. Redis goes
# down at 0.8 s and is back at 1.4 s. Each line: "CODE ID END_MS".
load_pids=()
for k in $(seq 1 8); do
	(
		for ((id = 1000 + k; id <= 1100; id += 8)); do
			c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
				"http://127.0.0.1:$P6/rd/img/$id/w100.jpg")
			echo "$c $id $(now_ms)"
			sleep 0.3
		done
	) >"$T/load.$k" &
	load_pids+=($!)
done
bg_pids+=("${load_pids[@]}")
sleep 0.8
down_ms=$(now_ms)
rcli shutdown nosave >/dev/null 2>&1
wait "$RD_REDIS" 2>/dev/null
stack_forget "$RD_REDIS"
sleep 0.6
up_ms=$(now_ms)
stack_redis "$RPORT" || die "redis-server restarted"
reap "${load_pids[@]}"
cat "$T"/load.* | sort -k2,2n >"$T/load"
expect "redis restart: 100 answers" "$(wc -l <"$T/load")" 100
expect "redis restart: every answer 200" "$(cut -d' ' -f1 "$T/load" | sort -u | tr '\n' ' ')" "200 "
during=$(awk -v a="$down_ms" -v b="$up_ms" '$3 > a && $3 < b' "$T/load" | wc -l)
expect_re "redis restart: answers while Redis was down ($during)" "$during" '^[1-9]'
expect_re "redis restart: outage logged" "$(grep -c 'is down' "$RUN/rd.log")" '^[1-9]'
expect_re "redis restart: return logged" "$(grep -c 'is back' "$RUN/rd.log")" '^[1-9]'
expect "redis restart: the last id is in the registry" \
	"$(rcli smembers "imgsrv:outputs:rd/img/1100" | sort | tr '\n' ' ')" "original w100.jpg "
# A connection that failed is retried at most once a second: every output
# made 2 s after the restart must be recorded.
after=$(awk -v b="$up_ms" '$3 > b + 2000 {print $2}' "$T/load")
missing=""
for id in $after; do
	[ "$(rcli sismember "imgsrv:outputs:rd/img/$id" w100.jpg)" = 1 ] || missing+="$id "
done
expect_re "redis restart: outputs made 2 s after the restart ($(wc -w <<<"$after"))" \
	"$(wc -w <<<"$after")" '^[1-9]'
expect "redis restart: every one of them is recorded" "$missing" ""
expect "redis restart: no lock left" "$(rcli --scan --pattern 'imgsrv:lock:*' | wc -l)" 0

# ========================================================================
# 5 (end). The stuck request ends with the source timeout.
# ========================================================================
reap "$stuck_pid"
expect_re "stuck thread: the trickling request ends in 504 after -source_timeout" \
	"$(cat "$T/stuck.code")" '^504 [5-7]\.'
stack_alive || fail "every server still running at the end" "see $RUN"
