#!/bin/bash
# tests/e2e/test_purge.sh: purging and replacing originals, through the
# shipped nginx configuration with a real Redis: DELETE /{model}/{field}/{id}
# (204, 404, its outputs and Redis record gone, made again from the
# source), POST ?replace=1 (the old original's outputs gone, the new
# outputs queued, no GET after the 201 gets an old output), the purged
# channel and -purge_hook, a make in flight when its image is purged (on
# the same responder, on another one sharing the Redis and the store, and
# on a responder without Redis), and images purge over a range and over
# ids on standard input, killed with -9 halfway and run again.
# Work: tests/out/purge/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=purge

OUT=$PWD/tests/out/purge
SRC=$OUT/src
STORE=$OUT/store
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$SRC/pg/img" "$SRC/pg/slow" "$STORE" "$OUT/store-local"
check_start "$OUT/run"
[ -x bin/images ] || die "bin/images is built" "run make first"

free_ports 12000 RPORT OPORT PA PB PC
stored() { store_path "$STORE" pg "$1" "$2" "$3"; }
in_store() { [ -e "$(stored "$1" "$2" "$3")" ] && echo stored || echo none; }
files_of() { ls -A "$(store_path "$STORE" pg "$1" "$2")" 2>/dev/null | tr '\n' ' '; }
body() { tr -d '\n' <"$T/body"; }
# colour FILE: "red" or "blue", whichever the image has more of
colour() {
	convert "$1[0]" -resize 1x1\! -format '%[fx:r>b?1:0]' info: 2>/dev/null |
		sed 's/^1$/red/; s/^0$/blue/'
}
sha() { sha256sum "$1" | cut -c1-64; }

# Originals: red ones at the source, blue ones to replace them.
convert -size 640x480 plasma:red-orange -quality 90 "$OUT/red.jpg"
convert -size 640x480 plasma:blue-cyan -quality 90 "$OUT/blue.jpg"
# About 600 kB, so that the slow field's origin takes 3 s over it.
convert -size 1600x1200 plasma:red-orange -quality 97 "$OUT/bigred.jpg"
convert -size 1600x1200 plasma:blue-cyan -quality 97 "$OUT/bigblue.jpg"
for id in 1 2 3; do cp "$OUT/red.jpg" "$SRC/pg/img/$id.jpg"; done
for id in $(seq 10 49); do cp "$OUT/red.jpg" "$SRC/pg/img/$id.jpg"; done

cat >"$STACK_DIR/origin-server.conf" <<CONF
server {
    listen 127.0.0.1:$OPORT;
    root $SRC;
    location / { }
    location /pg/slow/ { limit_rate 500k; }
}
CONF
stack_redis "$RPORT" || exit 1
_stack_nginx_run origin "$OPORT" "$STACK_DIR/origin-server.conf" || exit 1
source_opt=(-source "http://127.0.0.1:$OPORT/{model}/{field}/{id}.jpg"
	-source_timeout 20 -wait_timeout 15)
# No queue workers: a POST's jobs stay in the queue to be looked at.
stack_responder a -threads 4 -store "$STORE" -redis "127.0.0.1:$RPORT" \
	"${source_opt[@]}" -queue_workers 0 -log_level info \
	-purge_hook "cat >>'$OUT/hook.out'; echo >>'$OUT/hook.out'; ls /proc/self/fd >'$OUT/hook-fds.out'" || exit 1
stack_nginx a "$PA" "$STORE" "$STACK_DIR/a.sock" || exit 1
# Another responder on the same Redis and store: another host.
stack_responder b -threads 2 -store "$STORE" -redis "127.0.0.1:$RPORT" \
	"${source_opt[@]}" -queue_workers 0 -log_level info || exit 1
stack_nginx b "$PB" "$STORE" "$STACK_DIR/b.sock" || exit 1
# A responder without Redis, on a store of its own.
stack_responder c -threads 4 -store "$OUT/store-local" \
	"${source_opt[@]}" -log_level info || exit 1
stack_nginx c "$PC" "$OUT/store-local" "$STACK_DIR/c.sock" || exit 1
jpeg=(-H 'Content-Type: image/jpeg')
redis-cli -p "$RPORT" SUBSCRIBE imgsrv:purged >"$OUT/subscribed.out" &
_stack_add $! "redis-cli SUBSCRIBE"

# --- 1. DELETE ---------------------------------------------------------------------
made "w100.jpg of image 1" "$PA" /pg/img/1/w100.jpg
made "x50.webp of image 1" "$PA" /pg/img/1/x50.webp
expect "its original and outputs are stored" "$(files_of img 1)" "original w100.jpg x50.webp "
expect "and recorded" "$(rcli SMEMBERS imgsrv:outputs:pg/img/1 | sort | tr '\n' ' ')" "original w100.jpg x50.webp "
get "$PA" /pg/img/1/w100.jpg
expect "w100.jpg is a hit, served by nginx" "$code $(header X-Image-Server)" "200 "
get "$PA" /pg/img/1 -X DELETE
expect "DELETE: 204, no body" "$code $(stat -c %s "$T/body")" "204 0"
expect "DELETE: no-store" "$(header Cache-Control)" no-store
expect "DELETE: nothing of the image is left in the store" "$(files_of img 1)" ""
expect "DELETE: nor in Redis" "$(rcli EXISTS imgsrv:outputs:pg/img/1)" 0
expect "DELETE: the image's generation went up twice" "$(rcli GET imgsrv:gen:pg/img/1)" 2
wait_line "$OUT/hook.out" 'x50.webp' ||
	fail "-purge_hook was run" "$OUT/hook.out is $(wc -c <"$OUT/hook.out" 2>&1)"
expect "-purge_hook got the paths removed, one a line" \
	"$(sort "$OUT/hook.out" | tr '\n' ' ')" " /pg/img/1/w100.jpg /pg/img/1/x50.webp "
wait_file "$OUT/hook-fds.out" 5 || true
expect "-purge_hook has none of the responder's descriptors (ls: 0 1 2 and its own)" \
	"$(tr '\n' ' ' <"$OUT/hook-fds.out")" "0 1 2 3 "
wait_line "$OUT/subscribed.out" 'x50.webp' || true
expect "the purged channel got them too" "$(grep -c '^/pg/img/1/' "$OUT/subscribed.out")" 2
get "$PA" /pg/img/1/w100.jpg
expect "after a DELETE the source still has it: made again" "$code $(header X-Image-Server)" "200 made"
get "$PA" /pg/img/1 -X DELETE
expect "DELETE again: 204" "$code" 204
get "$PA" /pg/img/1 -X DELETE
expect_re "DELETE of nothing: 404" "$code $(body)" '^404 nothing is stored for pg/img/1'
get "$PA" /pg/img/2/w100.jpg -X DELETE
expect_re "DELETE of one output: 405, the image is what goes" "$code $(header Allow) $(body)" \
	'^405 GET, HEAD, POST, DELETE method DELETE is not allowed on one output'
for p in /pg/img /pg/img/2/ '/pg/img/2?outputs=x' /pg/IMG/2; do
	get "$PA" "$p" -X DELETE
	expect "DELETE $p: 400" "$code" 400
done

# A POSTed original with queued jobs: all go, and then it is a 404.
get "$PA" '/pg/posted/5?outputs=w100.jpg,w200.jpg' -X POST "${jpeg[@]}" --data-binary "@$OUT/red.jpg"
expect "POST with outputs: 201" "$code" 201
expect "its two jobs wait in the queue" "$(rcli LLEN imgsrv:queue) $(rcli SCARD imgsrv:pending)" "2 2"
get "$PA" /pg/posted/5 -X DELETE
expect "DELETE of a POSTed original: 204" "$code" 204
expect "its jobs are off the queue" "$(rcli LLEN imgsrv:queue) $(rcli SCARD imgsrv:pending)" "0 0"
status "its outputs: 404, no source has it" "$PA" /pg/posted/5/w100.jpg 404
expect "nothing stored for it" "$(ls -A "$(store_path "$STORE" pg posted 5)" 2>/dev/null | wc -l)" 0

# --- 2. POST ?replace=1 ------------------------------------------------------------
get "$PA" /pg/img/2/w100.jpg
get "$PA" /pg/img/2/w50.png
expect "image 2's outputs are red" "$(colour "$(stored img 2 w100.jpg)") $(colour "$(stored img 2 w50.png)")" "red red"
get "$PA" /pg/img/2/w100.jpg
expect "image 2's w100.jpg is a hit" "$code $(header X-Image-Server)" "200 "
get "$PA" /pg/img/2 -X POST "${jpeg[@]}" --data-binary "@$OUT/blue.jpg"
expect_re "another original without replace=1: still 409" "$code $(body)" '^409 '
get "$PA" '/pg/img/2?replace=1' -X POST
expect_re "replace=1 without an original: 400" "$code $(body)" '^400 replace=1 needs the new original'
get "$PA" '/pg/img/2?replace=1&outputs=w300.jpg' -X POST "${jpeg[@]}" --data-binary "@$OUT/blue.jpg"
expect "replace=1: 201" "$code" 201
expect "the JSON names the new original" "$(json "$T/body" sha256)" "$(sha "$OUT/blue.jpg")"
expect "the new original is stored" "$(sha "$(stored img 2 original)")" "$(sha "$OUT/blue.jpg")"
expect "the old outputs are gone" "$(files_of img 2)" "original "
expect "the record keeps the original only" "$(rcli SMEMBERS imgsrv:outputs:pg/img/2 | tr '\n' ' ')" "original "
expect "the listed output is queued" "$(rcli LRANGE imgsrv:queue 0 -1)" "0 0 pg/img/2/w300.jpg"
get "$PA" /pg/img/2/w100.jpg
expect "a GET after the 201: made from the new original" "$code $(header X-Image-Server) $(colour "$T/body")" "200 made blue"
get "$PB" /pg/img/2/w50.png
expect "and on the other responder" "$code $(colour "$T/body")" "200 blue"
wait_line "$OUT/hook.out" 'pg/img/2/w50.png' || true
expect "-purge_hook got the replaced outputs" "$(grep -c '^/pg/img/2/' "$OUT/hook.out")" 2
get "$PA" '/pg/img/2?replace=1' -X POST "${jpeg[@]}" --data-binary "@$OUT/blue.jpg"
expect "replace=1 with the same bytes: 201, purged again" "$code $(files_of img 2)" "201 original "
printf 'not an image' >"$OUT/junk.jpg"
get "$PA" /pg/img/2/w100.jpg
get "$PA" '/pg/img/2?replace=1' -X POST "${jpeg[@]}" --data-binary "@$OUT/junk.jpg"
expect "replace=1 with a bad original: 4xx, nothing changed" \
	"${code:0:1} $(sha "$(stored img 2 original)") $(files_of img 2)" "4 $(sha "$OUT/blue.jpg") original w100.jpg "
rcli DEL imgsrv:queue imgsrv:pending >/dev/null

# --- 3. a make in flight when its image is purged --------------------------------
# The slow field's original takes 3 s to come from the source: a purge
# lands while its output is being made.
lock_held() { [ "$(rcli EXISTS "imgsrv:lock:pg/slow/$1/original")" = 1 ]; }

cp "$OUT/bigred.jpg" "$SRC/pg/slow/7.jpg"
# (curl of its own: $T is the foreground's)
curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$PA/pg/slow/7/w100.jpg" &
bg=$!
wait_until 10 lock_held 7 || fail "the slow make began" "no lock on pg/slow/7/original"
cp "$OUT/bigblue.jpg" "$SRC/pg/slow/7.tmp" && mv "$SRC/pg/slow/7.tmp" "$SRC/pg/slow/7.jpg"
get "$PB" /pg/slow/7 -X DELETE
expect "DELETE (on another responder) while the original is on its way: nothing stored yet, 404" "$code" 404
wait "$bg"
wait_until 15 test -e "$(stored slow 7 w100.jpg)" || true
expect "the make in flight kept nothing of the purged original: the new one's output" \
	"$(colour "$(stored slow 7 w100.jpg)") $(sha "$(stored slow 7 original)")" "blue $(sha "$OUT/bigblue.jpg")"
expect "it said so in its log, for the original and the output" \
	"$(grep 'purged while being made: made again' "$STACK_DIR/a.log" | grep -c pg/slow/7/)" 2

cp "$OUT/bigred.jpg" "$SRC/pg/slow/8.jpg"
curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$PA/pg/slow/8/w100.jpg" &
bg=$!
wait_until 10 lock_held 8 || fail "the slow make began" "no lock on pg/slow/8/original"
get "$PB" '/pg/slow/8?replace=1' -X POST "${jpeg[@]}" --data-binary "@$OUT/blue.jpg"
expect "replace=1 (on another responder) waits for the original's fetch: 201" "$code" 201
wait "$bg"
if [ -e "$(stored slow 8 w100.jpg)" ]; then
	expect "then the output stored is the new original's" "$(colour "$(stored slow 8 w100.jpg)")" blue
else
	expect "then no output of the old original is stored" "$(files_of slow 8)" "original "
fi
get "$PA" /pg/slow/8/w100.jpg
expect "and a GET after the 201 gets the new one's" "$code $(colour "$T/body")" "200 blue"

# Without Redis the same, within one responder.
mkdir -p "$SRC/pg/slow" && cp "$OUT/bigred.jpg" "$SRC/pg/slow/9.jpg"
curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$PC/pg/slow/9/w100.jpg" &
bg=$!
sleep 1
cp "$OUT/bigblue.jpg" "$SRC/pg/slow/9.tmp" && mv "$SRC/pg/slow/9.tmp" "$SRC/pg/slow/9.jpg"
get "$PC" /pg/slow/9 -X DELETE
expect "without Redis: DELETE while the original is on its way: 404" "$code" 404
wait "$bg"
local_path=$(store_path "$OUT/store-local" pg slow 9)
expect "without Redis: the make in flight kept nothing of the purged original" \
	"$(colour "$local_path/w100.jpg") $(sha "$local_path/original")" "blue $(sha "$OUT/bigblue.jpg")"

# --- 4. images purge -------------------------------------------------------------
opts=(-store "$STORE" -redis "127.0.0.1:$RPORT" "${source_opt[@]}")
# images [SUBCOMMAND] ARGS...: with this run's store, Redis and source
images() {
	case $1 in purge) bin/images purge "${@:2}" "${opts[@]}" ;; *) bin/images "$@" "${opts[@]}" ;; esac
}
images -namespace pg/img -start 10 -end 49 -outputs w20.jpg,w30.jpg,w40.png,w50.webp,x20.jpg,x30.jpg \
	-progress 0 >"$OUT/images.out" 2>&1
expect "images made the outputs of ids 10 to 49" "$? $(files_of img 49 | wc -w)" "0 7"
script -qec "bin/images purge -namespace pg/img -start 10 -end 11 ${opts[*]}" /dev/null >"$OUT/tty.out" 2>&1
expect "images purge on a terminal without -yes: 2" "$?" 2
expect_re "it says what it would do" "$(tr -d '\r' <"$OUT/tty.out")" 'removes the originals and every output of 2 id\(s\) of pg/img, 10 to 11.*give -yes'
expect "and purged nothing" "$(in_store img 10 w20.jpg)" stored
script -qec "bin/images purge -namespace pg/img -start 10 -end 11 -yes -progress 0 ${opts[*]}" /dev/null >"$OUT/tty.out" 2>&1
expect "with -yes it goes on" "$? $(in_store img 10 original) $(in_store img 11 w20.jpg)" "0 none none"
images purge -namespace pg/img -start 12 -end 13 -progress 0 2>"$OUT/purge.out"
expect "off a terminal it needs no -yes" "$? $(files_of img 12)$(files_of img 13)" "0 "
expect_re "its summary" "$(tail -n 1 "$OUT/purge.out")" 'images purge: done: purged 2, skipped 0, missing 0, failed 0'
printf '14\n\n15\n99\n' | images purge -namespace pg/img -progress 0 2>"$OUT/purge.out"
expect "ids on standard input" "$? $(files_of img 14)$(files_of img 15)" "0 "
expect_re "an id with nothing stored is missing" "$(tail -n 1 "$OUT/purge.out")" 'purged 2, skipped 0, missing 1'
printf 'pg/img/16\npg/img/17\n' | images purge -progress 0 2>"$OUT/purge.out"
expect "MODEL/FIELD/ID lines on standard input" "$? $(files_of img 16)$(files_of img 17)" "0 "
printf '18\nx/../y\n' | images purge -namespace pg/img -progress 0 2>"$OUT/purge.out"
expect "a bad line: 2, and nothing purged" "$? $(in_store img 18 original)" "2 stored"
expect_re "naming the line" "$(cat "$OUT/purge.out")" 'line 2: not an id'

# kill -9 halfway: whatever is left is still in the record, and a rerun
# finishes it. A hook that takes a while makes each id slow.
bin/images purge -namespace pg/img -start 18 -end 49 -progress 0 "${opts[@]}" \
	-purge_hook 'cat >/dev/null; sleep 0.1' 2>"$OUT/purge.out" &
pid=$!
wait_until 10 test ! -e "$(stored img 20 original)" || true
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null # (without bash's "Killed" line)
left=0 hidden=0
for id in $(seq 18 49); do
	for f in $(files_of img "$id"); do
		left=$((left + 1))
		[ "$(rcli SISMEMBER "imgsrv:outputs:pg/img/$id" "$f")" = 1 ] ||
			{ hidden=$((hidden + 1)) && echo "# $id/$f is not in the record: $(rcli SMEMBERS "imgsrv:outputs:pg/img/$id" | tr '\n' ' ')"; }
	done
	if [ -e "$(stored img "$id" w20.jpg)" ] && [ ! -e "$(stored img "$id" original)" ]; then
		hidden=$((hidden + 1)) # an output without its original
	fi
done
[ "$left" -gt 0 ] && [ -z "$(files_of img 18)" ] &&
	pass "killed halfway: ids 18.. purged, $left files left" ||
	fail "killed halfway" "$left files left; id 18 has: $(files_of img 18)"
expect "every file left is still in the record, each output with its original" "$hidden" 0
images purge -namespace pg/img -start 18 -end 49 -progress 0 2>"$OUT/purge.out"
expect "run again, it finishes" "$? $(find "$STORE/pg/img" -type f | grep -c -E '/(1[89]|[2-4][0-9])/')" "0 0"
expect "and the record is gone" "$(rcli --scan --pattern 'imgsrv:outputs:pg/img/[1-4][0-9]' | wc -l)" 0

get "$PA" /status
expect "the responders are still up" "$code $(stack_alive && echo alive)" "200 alive"
