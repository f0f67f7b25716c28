#!/bin/bash
# tests/e2e/test_images.sh: images(1) against a real redis-server and an
# nginx origin (stack_origin: ids missing there give 404, /status500/ gives
# 500). Covers: a range with missing originals (exact counts, store paths,
# sizes, the registry), a rerun that skips all, the -namespace alias form,
# flag checks (exit 2), a corrupt original (failed 1, exit 1), the Redis
# lock shared with the responder, SIGINT mid-run (prompt exit, no
# temporary file, no lock left, a rerun finishes the rest), images fetch
# (stored, skipped, missing, one request per id, retries on 500, the byte
# cap, a corrupt original), and the progress display on and off a
# terminal. Work files: tests/out/images/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=images

BIN=$PWD/bin/images
OUT=$PWD/tests/out/images
SRC=$OUT/src
STORE=$OUT/store
rm -rf "$OUT"
mkdir -p "$SRC/product/image" "$SRC/user/avatar" "$STORE"
check_start "$OUT/run"

# interrupt PID: SIGINT to a job of ours; waits for it and sets $status
# (its exit status) and $took (seconds from the signal to its end).
interrupt() {
	local start
	start=$(date +%s.%N)
	kill -INT "$1"
	wait "$1"
	status=$?
	took=$(echo "$(date +%s.%N) - $start" | bc)
}

if [ ! -x "$BIN" ]; then
	fail "bin/images exists" "run make bin/images first"
	exit 1
fi

free_ports 10000 RPORT OPORT
PREFIX="imgsrv:"
ORIGIN="http://127.0.0.1:$OPORT"
common=(-store "$STORE" -redis "127.0.0.1:$RPORT" -source "$ORIGIN/{model}/{field}/{id}.jpg")

# spath MODEL FIELD ID [NAME]: where STORE keeps that id (or its NAME).
spath() {
	store_path "$STORE" "$@"
}

# counts FILE: the counts of the summary line in FILE ("made 1, ...").
counts() {
	sed -n -E 's/^images( fetch)?: (done|interrupted): ([^;]*);.*/\3/p' "$1"
}

# requests PATH: how often the origin was asked for PATH.
requests() {
	grep -c "\"GET $1 " "$STACK_DIR/origin-access.log"
}

# Originals: product/image 1000-1029 but five, 800x600; a text file as
# 1030; user/avatar 3000-3011 but 3002 and 3005; a big one for SIGINT.
convert -size 800x600 gradient:'#ff1493-#00ced1' -quality 85 "jpg:$OUT/orig.jpg"
MISSING="1003 1007 1011 1019 1023"
for id in $(seq 1000 1029) 1031; do
	[[ " $MISSING " == *" $id "* ]] || ln "$OUT/orig.jpg" "$SRC/product/image/$id.jpg"
done
echo 'not an image at all' >"$SRC/product/image/1030.jpg"
for id in $(seq 3000 3011); do
	[ "$id" = 3002 ] || [ "$id" = 3005 ] || ln "$OUT/orig.jpg" "$SRC/user/avatar/$id.jpg"
done
echo 'not an image either' >"$SRC/user/avatar/3020.jpg"
convert -size 2000x1500 gradient:'#1e90ff-#ff8c00' -fill '#ffd700' \
	-draw 'circle 1000,750 1000,300' -quality 85 "jpg:$OUT/big.jpg"
for id in $(seq 5000 5039); do
	ln "$OUT/big.jpg" "$SRC/product/image/$id.jpg"
done

stack_redis "$RPORT" || exit 1
stack_origin origin "$OPORT" "$SRC" || exit 1

# --- flags --------------------------------------------------------------
"$BIN" -h >"$OUT/h.out" 2>&1
expect "-h exits 0" "$?" 0
expect "-h lists the tool's flags and the responder's options" \
	"$(grep -c -E '^  -(model|field|namespace|aliases|outputs|start|end|concurrency|progress|store|redis|source) ' "$OUT/h.out")" 12
"$BIN" fetch -h >"$OUT/fh.out" 2>&1
expect "fetch -h exits 0" "$?" 0
expect "fetch -h lists -retries and -retry_ms, not -outputs" \
	"$(grep -c -E '^  -(retries|retry_ms|outputs) ' "$OUT/fh.out")" 2

"$BIN" -model product -field image -start 1 -end 2 -outputs x300.jpg,w0500.jpg \
	"${common[@]}" >"$OUT/bad.out" 2>&1
expect "bad -outputs entry: exit 2" "$?" 2
expect_re "bad -outputs entry: named" "$(cat "$OUT/bad.out")" "^images: -outputs: 'w0500.jpg': "
"$BIN" -model product -field image -start 1 -end 2 -outputs x3000.jpg \
	"${common[@]}" >"$OUT/bad.out" 2>&1
expect "-outputs over -maximum_width: exit 2" "$?" 2
"$BIN" -model Product -field image -start 1 -end 2 -outputs x300.jpg >"$OUT/bad.out" 2>&1
expect "bad -model: exit 2" "$?" 2
"$BIN" -namespace q -aliases p=product/image -start 1 -end 2 -outputs x300.jpg >"$OUT/bad.out" 2>&1
expect "unknown -namespace: exit 2" "$?" 2
"$BIN" -model product -field image -start 9 -end 2 -outputs x300.jpg >"$OUT/bad.out" 2>&1
expect "-end below -start: exit 2" "$?" 2
"$BIN" -model product -field image -start 1 -end 2 -outputs x300.jpg -bogus 1 >"$OUT/bad.out" 2>&1
expect "unknown responder option: exit 2" "$?" 2

# --- a range with missing originals --------------------------------------
"$BIN" -model product -field image -outputs x300.jpg,w200.webp -start 1000 -end 1029 \
	-concurrency 4 "${common[@]}" >"$OUT/run1.out" 2>&1
expect "range: exit 0" "$?" 0
expect "range: made 50, skipped 0, missing 5, failed 0" "$(counts "$OUT/run1.out")" \
	"made 50, skipped 0, missing 5, failed 0"
sizes=""
for id in $(seq 1000 1029); do
	[[ " $MISSING " == *" $id "* ]] && continue
	sizes="$sizes$(identify -format '%w %h %m' "$(spath product image "$id" x300.jpg)" 2>/dev/null),"
	sizes="$sizes$(identify -format '%w %h %m' "$(spath product image "$id" w200.webp)" 2>/dev/null)"$'\n'
done
expect "range: every output at its store path, the right size and format" \
	"$(echo -n "$sizes" | sort | uniq -c | sed 's/^ *//')" "25 300 300 JPEG,200 150 WEBP"
expect "range: nothing stored for the missing ids" \
	"$(for id in $MISSING; do ls "$(spath product image "$id")" 2>/dev/null; done | wc -l)" 0
expect "range: store layout (1005 -> 05/10/1005)" \
	"$(ls "$STORE/product/image/05/10/1005" | tr '\n' ' ')" "original w200.webp x300.jpg "
expect "range: registry has the id's files" \
	"$(rcli smembers "${PREFIX}outputs:product/image/1005" | sort | tr '\n' ' ')" \
	"original w200.webp x300.jpg "
expect "range: no lock left" "$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" 0

"$BIN" -model product -field image -outputs x300.jpg,w200.webp -start 1000 -end 1029 \
	-concurrency 4 "${common[@]}" >"$OUT/run2.out" 2>&1
expect "rerun: exit 0" "$?" 0
expect "rerun: makes nothing, skips all" "$(counts "$OUT/run2.out")" \
	"made 0, skipped 50, missing 5, failed 0"

"$BIN" -aliases p=product/image,u=user/avatar -namespace p -outputs x300.jpg \
	-start 1000 -end 1009 "${common[@]}" >"$OUT/alias.out" 2>&1
expect "-namespace p through -aliases: exit 0" "$?" 0
expect "-namespace p through -aliases: product/image" "$(counts "$OUT/alias.out")" \
	"made 0, skipped 8, missing 2, failed 0"

# --- a corrupt original ------------------------------------------------------
"$BIN" -model product -field image -outputs x300.jpg,w200.webp -start 1028 -end 1030 \
	"${common[@]}" >"$OUT/corrupt.out" 2>&1
expect "corrupt original: exit 1" "$?" 1
expect "corrupt original: failed 1" "$(counts "$OUT/corrupt.out")" \
	"made 0, skipped 4, missing 0, failed 1"
expect_re "corrupt original: named" "$(grep failed "$OUT/corrupt.out" | head -n 1)" \
	'^images: failed product/image/1030: '
expect "corrupt original: nothing stored" \
	"$(ls "$(spath product image 1030)" 2>/dev/null | wc -l)" 0

# --- the responder's lock: an output someone else is making -----------------
# A lock taken "by a responder" that then dies: images waits for it to
# expire, then makes the output itself, once.
rcli set "${PREFIX}lock:product/image/1031/x300.jpg" other-worker PX 1500 >/dev/null
start=$(date +%s.%N)
"$BIN" -model product -field image -outputs x300.jpg -start 1031 -end 1031 \
	"${common[@]}" >"$OUT/lock.out" 2>&1
took=$(echo "$(date +%s.%N) - $start" | bc)
expect "held lock: made once it expired" "$(counts "$OUT/lock.out")" \
	"made 1, skipped 0, missing 0, failed 0"
expect_re "held lock: waited for it (${took}s)" "$took" '^[1-9]'

# --- SIGINT in the middle ---------------------------------------------------
big=(-model product -field image -outputs w1400.jpg -start 5000 -end 5039 -concurrency 2)
"$BIN" "${big[@]}" "${common[@]}" -progress 1 >"$OUT/int.out" 2>&1 &
pid=$!
for _ in $(seq 200); do
	[ "$(find "$STORE/product/image" -name w1400.jpg | wc -l)" -ge 4 ] && break
	sleep 0.05
done
kill -0 "$pid" 2>/dev/null && pass "SIGINT: still running when sent" ||
	fail "SIGINT: still running when sent" "it had ended"
interrupt "$pid"
expect "SIGINT: exit status 130" "$status" 130
limit=$((3 * $(slowdown)))
expect "SIGINT: exited within $limit s (${took}s)" "$(echo "$took < $limit" | bc)" 1
expect_re "SIGINT: summary says interrupted" "$(grep '^images: interrupted: ' "$OUT/int.out")" \
	'^images: interrupted: made [0-9]+, skipped 0, missing 0, failed 0; '

made1=$(counts "$OUT/int.out" | sed -E 's/^made ([0-9]+),.*/\1/')
expect_re "SIGINT: stopped part way ($made1 of 40)" "$made1" '^([4-9]|[1-3][0-9])$'
expect "SIGINT: outputs in the store are the ones counted" \
	"$(find "$STORE/product/image" -name w1400.jpg | wc -l)" "$made1"
expect "SIGINT: no temporary file left" "$(find "$STORE" -name '.*' | wc -l)" 0
expect "SIGINT: no lock left in Redis" "$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" 0
"$BIN" "${big[@]}" "${common[@]}" >"$OUT/int2.out" 2>&1
expect "SIGINT: the rerun exits 0" "$?" 0
expect "SIGINT: the rerun makes the rest" "$(counts "$OUT/int2.out")" \
	"made $((40 - made1)), skipped $made1, missing 0, failed 0"
expect "SIGINT: every output there after the rerun" \
	"$(find "$STORE/product/image" -name w1400.jpg | wc -l)" 40

# --- images fetch -----------------------------------------------------------
mkdir -p "$(spath user avatar 3000)"
cp "$OUT/orig.jpg" "$(spath user avatar 3000 original)"
fetch=(fetch -model user -field avatar -concurrency 4 "${common[@]}" -retry_ms 300)
"$BIN" "${fetch[@]}" -start 3000 -end 3011 >"$OUT/fetch.out" 2>&1
expect "fetch: exit 0" "$?" 0
expect "fetch: fetched 9, skipped 1, missing 2" "$(counts "$OUT/fetch.out")" \
	"fetched 9, skipped 1, missing 2, failed 0"
same=0
for id in 3001 3003 3004 3006 3007 3008 3009 3010 3011; do
	cmp -s "$OUT/orig.jpg" "$(spath user avatar "$id" original)" && same=$((same + 1))
done
expect "fetch: the originals are in the store, byte for byte" "$same" 9
expect "fetch: registered in Redis" \
	"$(rcli sismember "${PREFIX}outputs:user/avatar/3004" original)" 1
asked=""
for id in $(seq 3000 3011); do
	asked="$asked$(requests "/user/avatar/$id.jpg") "
done
expect "fetch: one request per id at the origin, none for the stored one" \
	"$asked" "0 1 1 1 1 1 1 1 1 1 1 1 "
expect "fetch: no lock left" "$(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" 0
"$BIN" "${fetch[@]}" -start 3000 -end 3011 >"$OUT/fetch2.out" 2>&1
expect "fetch rerun: skips the stored, asks only for the missing" \
	"$(counts "$OUT/fetch2.out") $(requests /user/avatar/3001.jpg) $(requests /user/avatar/3002.jpg)" \
	"fetched 0, skipped 10, missing 2, failed 0 1 2"

# 500 from the origin: retried with back-off, then failed; not a TTY, so
# plain progress lines.
"$BIN" "${fetch[@]}" -source "$ORIGIN/status500/{model}/{field}/{id}.jpg" \
	-start 4000 -end 4001 -retries 3 -progress 1 >"$OUT/f500.out" 2>&1
expect "fetch 500: exit 1" "$?" 1
expect "fetch 500: both failed" "$(counts "$OUT/f500.out")" \
	"fetched 0, skipped 0, missing 0, failed 2"
expect "fetch 500: 1 try + 3 retries per id" \
	"$(requests /status500/user/avatar/4000.jpg) $(requests /status500/user/avatar/4001.jpg)" "4 4"
expect_re "fetch 500: plain progress lines off a terminal" \
	"$(grep -c -E '^images fetch: [0-9]+/2 ids \([0-9]+%\), .* ids/s, ETA ' "$OUT/f500.out")" '^[1-9]'
expect "fetch 500: no carriage return or escape off a terminal" \
	"$(tr -d -c '\r\033' <"$OUT/f500.out" | wc -c)" 0
expect "fetch 500: nothing stored" "$(ls "$(spath user avatar 4000)" 2>/dev/null | wc -l)" 0

"$BIN" "${fetch[@]}" -store "$OUT/store2" -max_source_bytes 1000 -start 3001 -end 3001 \
	>"$OUT/fcap.out" 2>&1
expect "fetch over -max_source_bytes: exit 1, failed" "$? $(counts "$OUT/fcap.out")" \
	"1 fetched 0, skipped 0, missing 0, failed 1"
expect "fetch over -max_source_bytes: nothing stored" "$(find "$OUT/store2" -type f 2>/dev/null | wc -l)" 0
"$BIN" "${fetch[@]}" -start 3020 -end 3020 >"$OUT/fbad.out" 2>&1
expect "fetch of a corrupt original: exit 1, failed, not stored" \
	"$? $(counts "$OUT/fbad.out") $(ls "$(spath user avatar 3020)" 2>/dev/null | wc -l)" \
	"1 fetched 0, skipped 0, missing 0, failed 1 0"

# The responder holds the lock on an original: fetch waits for it.
rcli set "${PREFIX}lock:user/avatar/3011/original" other-worker PX 1500 >/dev/null
rm -f "$(spath user avatar 3011 original)"
start=$(date +%s.%N)
"$BIN" "${fetch[@]}" -start 3011 -end 3011 >"$OUT/flock.out" 2>&1
took=$(echo "$(date +%s.%N) - $start" | bc)
expect "fetch, lock held elsewhere: fetched once it expired" "$(counts "$OUT/flock.out")" \
	"fetched 1, skipped 0, missing 0, failed 0"
expect_re "fetch, lock held elsewhere: waited for it (${took}s)" "$took" '^[1-9]'

# SIGINT during a slow download (the origin's /slow/ trickles 200 bytes/s).
"$BIN" "${fetch[@]}" -source "$ORIGIN/slow/{model}/{field}/{id}.jpg" -store "$OUT/store3" \
	-start 3001 -end 3004 >"$OUT/fint.out" 2>&1 &
pid=$!
for _ in $(seq 50); do
	[ "$(rcli --scan --pattern "${PREFIX}lock:user/avatar/300*" | wc -l)" -ge 4 ] && break
	sleep 0.1
done
expect "fetch SIGINT: four downloads in flight, each under its lock" \
	"$(rcli --scan --pattern "${PREFIX}lock:user/avatar/300*" | wc -l)" 4
interrupt "$pid"
expect "fetch SIGINT: exit status 130" "$status" 130
expect_re "fetch SIGINT: exited within 1 s (${took}s)" "$took" '^0?\.'
expect_re "fetch SIGINT: summary says interrupted" "$(cat "$OUT/fint.out")" \
	'images fetch: interrupted: fetched 0, skipped 0, missing 0, failed 0; 0 of 4 ids'
expect "fetch SIGINT: nothing stored, no lock left" \
	"$(find "$OUT/store3" -type f 2>/dev/null | wc -l) $(rcli --scan --pattern "${PREFIX}lock:*" | wc -l)" "0 0"

# --- the bar on a terminal ---------------------------------------------------
if command -v script >/dev/null; then
	script -qec "$(printf '%q ' "$BIN" "${fetch[@]}" -source "$ORIGIN/status500/{model}/{field}/{id}.jpg" \
		-start 4010 -end 4010 -retries 2)" /dev/null >"$OUT/tty.out" 2>&1
	expect_re "terminal: a bar redrawn in place, with the rate and ETA" \
		"$(tr '\r' '\n' <"$OUT/tty.out" | grep -c -E '^images fetch \[[#.]+\] +[0-9]+% 0/1 .*/s ETA ')" '^[1-9]'
	expect_re "terminal: then the summary" "$(tr '\r' '\n' <"$OUT/tty.out" | grep -c 'images fetch: done: ')" '^1$'
else
	skip "terminal: a bar redrawn in place, with the rate and ETA" "script(1) is not installed"
	skip "terminal: then the summary" "script(1) is not installed"
fi

expect "no dot-temp file anywhere in the store" "$(find "$STORE" -name '.*' | wc -l)" 0
stack_alive || fail "servers still up" "one died"
