#!/bin/bash
# tests/e2e/test_post.sh: POST /{model}/{field}/{id}: originals from a
# source URL or the body, outputs made from the Redis queue after the
# answer; guarded sources; a responder killed with jobs in flight loses
# none; failing jobs end in the dead-letter list.  Work: tests/out/post/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=post

OUT=$PWD/tests/out/post
SRC=$OUT/src
STORE=$OUT/store
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$SRC/post/img" "$STORE"
check_start "$OUT/run"

free_ports 27000 RPORT OPORT LPORT PORT
PREFIX=imgsrv:

for id in 1 2 3; do
	convert -size 1200x800 "plasma:fractal" -quality 90 "$SRC/post/img/$id.jpg"
done
convert -size 3000x2000 "plasma:fractal" -quality 90 "$SRC/post/img/big.jpg"

# An origin that also redirects to another loopback address.
cat >"$STACK_DIR/origin-server.conf" <<CONF
server {
    listen 127.0.0.1:$OPORT;
    root $SRC;
    location / { }
    # "localhost" is not in the allow-list, though the address is the same.
    location /to-loopback/ { return 302 http://localhost:$OPORT/post/img/1.jpg; }
}
CONF
stack_redis "$RPORT" || exit 1
_stack_nginx_run origin "$OPORT" "$STACK_DIR/origin-server.conf" || exit 1
perl tests/e2e/lying_origin.pl "$LPORT" "$SRC/post/img/1.jpg" 2>"$OUT/lying.err" &
_stack_add $! "lying origin"

# Short timeouts: a dead worker's heartbeat lasts their sum + 10 s.
common=(-store "$STORE" -redis "127.0.0.1:$RPORT" -source_timeout 2
	-connect_timeout 1 -wait_timeout 3 -image_timeout 20
	-max_source_bytes 3000000 -e development)
stack_responder p "${common[@]}" -queue_workers 2 \
	-allowed_sources "http://127.0.0.1:$OPORT/,http://127.0.0.1:$LPORT/" || exit 1
PID_P=${STACK_PIDS[-1]}
stack_nginx p "$PORT" "$STORE" "$STACK_DIR/p.sock" || exit 1

post() { # post PATH_AND_QUERY [CURL_ARGS...]: sets $code, body in $T/body
	local pq=$1
	shift
	get "$PORT" "$pq" -X POST "$@"
}
stored() { # stored ID FILE: the store path of an output of post/img/ID
	store_path "$STORE" post img "$1" "$2"
}

# --- POST with a source URL -------------------------------------------------
src1=$(urlenc "http://127.0.0.1:$OPORT/post/img/1.jpg")
post "/post/img/1?outputs=x300.jpg,x300.webp&source=$src1"
expect "source URL: 201 Created" "$code" 201
expect_re "source URL: JSON id" "$(cat "$T/body")" '"id":"post/img/1"'
expect_re "source URL: width and height" "$(cat "$T/body")" '"width":1200,"height":800'
expect_re "source URL: format and bytes" "$(cat "$T/body")" "\"format\":\"jpeg\",\"bytes\":$(stat -c %s "$SRC/post/img/1.jpg"),"
expect_re "source URL: content hash" "$(cat "$T/body")" "\"sha256\":\"$(sha256sum <"$SRC/post/img/1.jpg" | cut -c1-64)\""
expect_re "source URL: outputs queued" "$(cat "$T/body")" '"queued":\["x300.jpg","x300.webp"\]'
expect "source URL: original stored" "$(cmp -s "$(stored 1 original)" "$SRC/post/img/1.jpg" && echo same)" same
wait_file "$(stored 1 x300.jpg)" && wait_file "$(stored 1 x300.webp)"
expect "queue: x300.jpg made" "$(identify -format '%w %h %m' "$(stored 1 x300.jpg)" 2>/dev/null)" "300 300 JPEG"
expect "queue: x300.webp made" "$(identify -format '%w %h %m' "$(stored 1 x300.webp)" 2>/dev/null)" "300 300 WEBP"
expect "queue: registry records them" "$(rcli smembers "${PREFIX}outputs:post/img/1" | sort | tr '\n' ' ')" "original x300.jpg x300.webp "
post "/post/img/1?outputs=x300.jpg,x300.webp&source=$src1"
expect "again: 200 OK" "$code" 200
expect_re "again: nothing queued" "$(cat "$T/body")" '"queued":\[\]'
before=$(stat -c %Y.%s "$(stored 1 x300.jpg)")
sleep 1
post "/post/img/1?outputs=x300.jpg&force=1"
expect "force=1 without a source uses the stored original" "$code" 200
expect_re "force=1: queued again" "$(cat "$T/body")" '"queued":\["x300.jpg"\]'
for _ in $(seq 100); do
	[ "$(stat -c %Y.%s "$(stored 1 x300.jpg)" 2>/dev/null)" != "$before" ] && [ -s "$(stored 1 x300.jpg)" ] && break
	sleep 0.1
done
expect "force=1: remade" "$([ "$(stat -c %Y.%s "$(stored 1 x300.jpg)")" != "$before" ] && echo yes)" yes

# --- POST with the original in the body -------------------------------------
post "/post/img/2?outputs=w200.png" --data-binary "@$SRC/post/img/2.jpg" -H 'Content-Type: image/jpeg'
expect "body: 201" "$code" 201
wait_file "$(stored 2 w200.png)"
expect "body: w200.png made" "$(identify -format '%w %h %m' "$(stored 2 w200.png)" 2>/dev/null)" "200 133 PNG"
post "/post/img/2" --data-binary "@$SRC/post/img/3.jpg" -H 'Content-Type: image/jpeg'
expect "body: a different original for the same id is refused" "$code" 409
post "/post/img/7" --data-binary "not an image" -H 'Content-Type: image/jpeg'
expect "body: not an image" "$code" 422
expect "body: nothing stored" "$([ -e "$(stored 7 original)" ] && echo stored || echo none)" none

# --- bad requests ---------------------------------------------------------------
post "/post/img/3?outputs=x300.jpg,w0.png&source=$src1"
expect "bad outputs entry: 400" "$code" 400
expect_re "bad outputs entry: named" "$(cat "$T/body")" "'w0.png'"
post "/post/img/3?outputs=x300.bmp&source=$src1"
expect "unknown format in outputs: 400" "$code" 400
post "/post/img/3?outputs=w5000.jpg&source=$src1"
expect "output over the maximum: 406" "$code" 406
post "/post/img/3?bogus=1"
expect "unknown parameter: 400" "$code" 400
post "/post/img/3/w100.jpg?source=$src1"
expect "POST to an output path: 400" "$code" 400
post "/post/img/3?outputs=x100.jpg"
expect "no original and no source: 400" "$code" 400

# --- guarded sources -----------------------------------------------------------
post "/post/img/3?outputs=x100.jpg&source=$(urlenc "http://127.0.0.1:$RPORT/x.jpg")"
expect "loopback source not in the allow-list: 403" "$code" 403
expect "403 names nothing" "$(cat "$T/body")" forbidden
wait_line "$STACK_DIR/p.log" "POST /post/img/3 403 .*source address 127.0.0.1 is not public" ||
	fail "403: the reason is logged" "no line in $STACK_DIR/p.log"
post "/post/img/3?outputs=x100.jpg&source=$(urlenc "http://127.0.0.1:$OPORT/to-loopback/x")"
expect "redirect to loopback: 403" "$code" 403
post "/post/img/3?outputs=x100.jpg&source=$(urlenc "file:///etc/passwd")"
expect "file:// source: 403" "$code" 403
post "/post/img/3?outputs=x100.jpg&source=$(urlenc "http://127.0.0.1:$LPORT/endless/3")"
expect "endless body: 422" "$code" 422
post "/post/img/3?outputs=x100.jpg&source=$(urlenc "http://127.0.0.1:$LPORT/trickle/3")"
expect "trickling body: 504" "$code" 504
expect "hostile sources: nothing stored" "$([ -e "$(stored 3 original)" ] && echo stored || echo none)" none

# --- an original that does not decode is never stored -----------------------
# A JPEG cut short has a whole header but no whole image: refused with 422
# at the POST, nothing stored, and a good original can still be POSTed.
head -c 6000 "$SRC/post/img/big.jpg" >"$OUT/cut.jpg"
post "/post/img/3?outputs=x100.jpg,x101.jpg" --data-binary "@$OUT/cut.jpg" -H 'Content-Type: image/jpeg'
expect "an original cut short: 422" "$code" 422
expect_re "an original cut short: says why" "$(cat "$T/body")" 'cannot be decoded'
expect "an original cut short: nothing stored" "$([ -e "$(stored 3 original)" ] && echo stored || echo none)" none
printf 'GIF89a\x0a\x00\x0a\x00\x00\x00\x00\x3b' >"$OUT/empty.gif"
post "/post/img/3" --data-binary "@$OUT/empty.gif" -H 'Content-Type: image/gif'
expect "a GIF without a frame: 422" "$code" 422
expect "a GIF without a frame: nothing stored" "$([ -e "$(stored 3 original)" ] && echo stored || echo none)" none

# --- failing jobs end in the dead-letter list ----------------------------------
# Jobs whose original is nowhere (no source for id 404): no retry mends
# that, so they are dead at once, with their error.
rcli lpush "${PREFIX}queue" "0 0 post/img/404/x100.jpg" "0 0 post/img/404/x101.jpg" >/dev/null
for _ in $(seq 100); do
	[ "$(rcli llen "${PREFIX}dead")" -ge 2 ] && break
	sleep 0.1
done
dead=$(rcli lrange "${PREFIX}dead" 0 -1)
expect_re "dead letters: the failed jobs with their error" "$dead" '^1 0 post/img/404/x10[01].jpg \| not_found: '
expect "dead letters: at once, as no retry mends a missing original" "$(rcli llen "${PREFIX}dead")" 2

get "$PORT" /status --max-time 10
expect_re "status page: queue depth, in progress and dead letters" "$(cat "$T/body")" '"queue":\{"waiting":0,"in_progress":0,"dead":2\}'
get "$PORT" /metrics --max-time 10
expect_re "metrics: dead jobs" "$(cat "$T/body")" 'image_server_queue_jobs\{state="dead"\} 2'

# --- kill -9 with jobs in flight, restart: every job done ----------------------
outs=$(seq -s, -f 'w%g.png' 2000 -20 1820)
post "/post/img/big?outputs=$outs&source=$(urlenc "http://127.0.0.1:$OPORT/post/img/big.jpg")"
expect "ten slow jobs queued" "$code" 201
sleep 1.5
kill_server "$PID_P"
left=$(( $(rcli llen "${PREFIX}queue") + $(rcli --scan --pattern "${PREFIX}processing:*" | while read -r k; do rcli llen "$k"; done | awk '{s+=$1} END {print s+0}') ))
expect_re "kill -9: jobs left in Redis ($left)" "$left" '^([1-9]|10)$'
stack_responder p2 "${common[@]}" -queue_workers 2 || exit 1
done_all=no
# The dead worker's heartbeat lasts 36 s here; then ten slow jobs (slower
# still under a sanitizer).
for _ in $(seq 1500); do
	n=0
	for w in $(seq 2000 -20 1820); do [ -s "$(stored big "w$w.png")" ] && n=$((n + 1)); done
	if [ "$n" -eq 10 ] && [ "$(rcli llen "${PREFIX}queue")" = 0 ] &&
		[ -z "$(rcli --scan --pattern "${PREFIX}processing:*")" ]; then
		done_all=yes
		break
	fi
	sleep 0.1
done
expect "kill -9: after a restart every job is done" "$done_all" yes
expect "kill -9: outputs whole" "$(identify -format '%w ' "$(stored big w2000.png)" "$(stored big w1820.png)" 2>/dev/null)" "2000 1820 "
expect "kill -9: no temporary file readable as an output" \
	"$(find "$STORE" -name '*.png' ! -name '.*' -size 0 | wc -l)" 0

# --- the queue on the status page, and the keys -------------------------------
keys=$(rcli --scan --pattern '*' | sed -E 's/^imgsrv:(outputs|error|worker|processing):.*/\1/; s/^imgsrv:(dead|workers|queue|pending)$/\1/' | sort -u | tr '\n' ' ')
expect_re "keys: only the documented ones ($keys)" "$keys" '^((dead|workers|queue|pending|outputs|error|worker|processing) ?)+$'
