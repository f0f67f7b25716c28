#!/bin/bash
# tests/e2e/test_security.sh: who may write and what a stranger can make,
# through the shipped nginx configuration (deploy/stack.sh): writes only
# from trusted hosts and with -api_key (401, 403; the key reloaded from
# the -config file); misses bounded by -sizes and signed URLs (images
# sign, -signing_key_old); one pending job per output and a POST's jobs
# all or nothing against -queue_max; POST sources that trickle hold no
# more than -post_fetches request threads; one writer per original (a GET
# fetching it and a POST of another); -allowed_sources prefixes compared
# as the origin sees the path; one spelling per file on hits too, and
# other methods answered alike on hits and misses; generic 403 bodies.
# Work: tests/out/security/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=security

OUT=$PWD/tests/out/security
SRC=$OUT/src
STORE=$OUT/store
T=$OUT # get's body and headers
rm -rf "$OUT"
mkdir -p "$SRC/src/sec/img" "$SRC/src/sec/slow" "$SRC/pub/a" "$STORE"
check_start "$OUT/run"
[ -x bin/images ] || die "bin/images is built" "run make first"

free_ports 28000 RPORT OPORT LPORT PORT
KEY=app-key-0123456789abcdef
KEY2=app-key-fedcba9876543210
SIGN=sign-key-0123456789abcdef
SIGN_OLD=sign-key-old-0123456789ab
stored() { store_path "$STORE" sec "$1" "$2" "$3"; }
none_stored() { [ -e "$(stored "$1" "$2" "$3")" ] && echo stored || echo none; }
body() { tr -d '\n' <"$T/body"; }
# the log lines of the responder since mark (set with mark_log)
mark_log() { mark=$(wc -l <"$STACK_DIR/s.log"); }
log_since() { tail -n +"$((mark + 1))" "$STACK_DIR/s.log"; }

# Originals: landscape ones at the source, a portrait one to POST.
for id in 1 2 3 4 5 6 7; do
	convert -size 1200x800 "plasma:fractal" -quality 90 "$SRC/src/sec/img/$id.jpg"
done
convert -size 1200x800 "plasma:fractal" -quality 95 "$SRC/src/sec/slow/5.jpg"
convert -size 600x900 "plasma:fractal" -quality 90 "$OUT/portrait.jpg"
cp "$SRC/src/sec/img/1.jpg" "$SRC/pub/ok.jpg"
cp "$SRC/src/sec/img/2.jpg" "$SRC/secret.jpg"

# The origin: the source of GET misses (/src/), slow for the field
# "slow" (about 3 s for its original), and /pub/ for POST source= URLs.
cat >"$STACK_DIR/origin-server.conf" <<CONF
server {
    listen 127.0.0.1:$OPORT;
    root $SRC;
    location / { }
    location /src/sec/slow/ { limit_rate 100k; }
}
CONF
stack_redis "$RPORT" || exit 1
_stack_nginx_run origin "$OPORT" "$STACK_DIR/origin-server.conf" || exit 1
perl tests/e2e/lying_origin.pl "$LPORT" "$SRC/src/sec/img/1.jpg" 2>"$OUT/lying.err" &
_stack_add $! "lying origin"

# The API key from the -config file, so that a reload can change it.
echo "api_key $KEY" >"$OUT/s.conf"
# No queue workers: the jobs stay in the queue to be counted.
stack_responder s -config "$OUT/s.conf" -threads 4 -store "$STORE" \
	-redis "127.0.0.1:$RPORT" -queue_workers 0 -queue_max 6 \
	-source "http://127.0.0.1:$OPORT/src/{model}/{field}/{id}.jpg" \
	-source_timeout 8 -connect_timeout 2 -wait_timeout 10 \
	-sizes w100,x50 -signing_key "$SIGN" -signing_key_old "$SIGN_OLD" \
	-allowed_sources "http://127.0.0.1:$OPORT/pub/,http://127.0.0.1:$LPORT/" \
	-log_level info || exit 1
stack_nginx s "$PORT" "$STORE" "$STACK_DIR/s.sock" || exit 1
other=(--interface 127.0.0.2)
auth=(-H "Authorization: Bearer $KEY")
jpeg=(-H 'Content-Type: image/jpeg')

# --- 1. writes: trusted hosts, and the API key ---------------------------------
mark_log
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" "${other[@]}" "${auth[@]}"
expect "POST from another host: 403 from nginx" "$code" 403
expect "POST from another host: nothing stored" "$(none_stored img 1 original)" none
get "$PORT" /sec/img/1/w100.jpg -X DELETE "${other[@]}" "${auth[@]}"
expect "DELETE from another host: 403" "$code" 403
get "$PORT" /sec/img/1/w100.jpg -X PUT "${other[@]}" -d x
expect "PUT from another host: 403" "$code" 403
expect "the responder never saw them" "$(log_since | grep -c -E ' (POST|DELETE|PUT) ')" 0

get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg"
expect "POST without a key: 401" "$code" 401
expect "401 asks for a bearer token" "$(header WWW-Authenticate)" Bearer
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" -H "Authorization: Bearer $KEY2"
expect "POST with a wrong key: 401" "$code" 401
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" -H "Authorization: Bearer ${KEY}x"
expect "POST with the key and more: 401" "$code" 401
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" -H "Authorization: Basic $KEY"
expect "POST with the key as Basic: 401" "$code" 401
expect "no key, no original" "$(none_stored img 1 original)" none
get "$PORT" /sec/img/1/w100.jpg -X DELETE
expect "DELETE without a key: 401" "$code" 401
get "$PORT" /sec/img/1/w100.jpg -X DELETE "${auth[@]}"
expect "DELETE with the key: on to the method check (405)" "$code $(header Allow)" "405 GET, HEAD, POST, DELETE"
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$SRC/src/sec/img/1.jpg" -H "authorization: bearer  $KEY"
expect "POST with the key: 201 (scheme in any case)" "$code" 201
expect "the application's original is the one stored" \
	"$(cmp -s "$(stored img 1 original)" "$SRC/src/sec/img/1.jpg" && echo same)" same

# The key is reloaded from the -config file.
echo "api_key $KEY2" >"$OUT/s.conf"
mark_log
kill -HUP "$(cat "$STACK_DIR/s.pid")"
wait_until 5 sh -c "tail -n +$((mark + 1)) '$STACK_DIR/s.log' | grep -q 'configuration reloaded'" ||
	fail "reload logged" "no line"
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$SRC/src/sec/img/1.jpg" "${auth[@]}"
expect "after a reload, the old key: 401" "$code" 401
get "$PORT" /sec/img/1 -X POST "${jpeg[@]}" --data-binary "@$SRC/src/sec/img/1.jpg" -H "Authorization: Bearer $KEY2"
expect "after a reload, the new key: 200 (stored already)" "$code" 200
auth=(-H "Authorization: Bearer $KEY2")

# --- 2. misses: -sizes and signed URLs -------------------------------------------
made "a listed size" "$PORT" /sec/img/2/w100.jpg
mark_log
get "$PORT" /sec/img/2/w101.jpg
expect "an unlisted size: 403" "$code" 403
expect "403: a generic body" "$(body)" forbidden
expect_re "403: the reason in the log" "$(log_since)" 'w101.jpg 403 .*size w101 is not in -sizes'
expect "an unlisted size: nothing stored" "$(none_stored img 2 w101.jpg)" none
n=0
for q in $(seq 1 20); do
	get "$PORT" "/sec/img/2/w1600-q$q.jpg"
	[ "$code" = 403 ] && n=$((n + 1))
done
expect "w1600-q1 ... q20: all 403" "$n" 20
expect "... and not one file made" "$(find "$STORE" -name 'w1600*' | wc -l)" 0

url=$(bin/images sign -signing_key "$SIGN" /sec/img/2/w123.jpg)
expect_re "images sign prints the path with ?sig=" "$url" '^/sec/img/2/w123\.jpg\?sig=[0-9a-f]{64}$'
expect "images sign: the HMAC-SHA256 of the path" "${url#*sig=}" \
	"$(printf %s /sec/img/2/w123.jpg | openssl dgst -sha256 -hmac "$SIGN" | sed 's/^.*= //')"
made "a signed miss" "$PORT" "$url"
get "$PORT" /sec/img/2/w123.jpg
expect "its hit needs no signature (nginx, from the store)" "$code $(header X-Image-Server)" "200 "
old=$(bin/images sign -signing_key "$SIGN_OLD" /sec/img/2/w124.jpg)
made "signed with -signing_key_old" "$PORT" "$old"
other_sig=$(bin/images sign -signing_key "$SIGN" /sec/img/2/w125.jpg)
get "$PORT" "/sec/img/2/w126.jpg?sig=${other_sig#*sig=}"
expect "another path's signature: 403" "$code" 403
upper=$(tr a-f A-F <<<"${other_sig#*sig=}")
get "$PORT" "/sec/img/2/w125.jpg?sig=$upper"
expect "upper-case hex: 403" "$code" 403
get "$PORT" "/sec/img/2/w125.jpg?v=2&sig=${other_sig#*sig=}&x=1"
expect "the right one, among other parameters: 200" "$code" 200
get "$PORT" "/sec/img/2/w127.jpg?sig=$(bin/images sign -signing_key "not-the-key-0123456789" /sec/img/2/w127.jpg | sed 's/.*sig=//')"
expect "another key's signature: 403" "$code" 403
expect "images sign without a key fails" "$(bin/images sign /sec/img/2/w1.jpg >/dev/null 2>&1; echo $?)" 2

# --- 3. the queue: one pending job per output, all or nothing -------------------
get "$PORT" "/sec/img/3?outputs=w100.jpg,x50.jpg,w60.jpg&force=1" -X POST "${jpeg[@]}" \
	--data-binary "@$SRC/src/sec/img/3.jpg" "${auth[@]}"
expect "POST of three outputs: 201" "$code" 201
expect_re "... all three queued" "$(body)" '"queued":\["w100.jpg","x50.jpg","w60.jpg"\],"pending":\[\]'
for _ in $(seq 20); do
	get "$PORT" "/sec/img/3?outputs=w100.jpg,x50.jpg,w60.jpg&force=1" -X POST "${auth[@]}" -d ''
done
expect "the same POST 20 times more: 200" "$code" 200
expect_re "... with the three pending, none queued" "$(body)" '"queued":\[\],"pending":\["w100.jpg","x50.jpg","w60.jpg"\]'
expect "... and three jobs in the queue, one per output" "$(rcli llen imgsrv:queue)" 3
get "$PORT" "/sec/img/4?outputs=w100.jpg,x50.jpg,w60.jpg,w70.jpg" -X POST "${jpeg[@]}" \
	--data-binary "@$SRC/src/sec/img/4.jpg" "${auth[@]}"
expect "four more jobs would make 7 of -queue_max 6: 503" "$code $(header Retry-After)" "503 5"
expect "... with none of them queued" "$(rcli llen imgsrv:queue)" 3
get "$PORT" "/sec/img/4?outputs=w100.jpg,x50.jpg,w60.jpg" -X POST "${auth[@]}" -d ''
expect "three fit: 200 (the original was stored by the 503)" "$code" 200
expect "... six jobs" "$(rcli llen imgsrv:queue)" 6

# --- 4. POST sources that trickle ------------------------------------------------
pids=()
for i in 1 2 3 4; do
	curl -s -o /dev/null -D "$OUT/trickle$i.h" -w '%{http_code} %{time_total}\n' --max-time 30 \
		-X POST "${auth[@]}" -d '' \
		"http://127.0.0.1:$PORT/sec/img/t$i?source=$(urlenc "http://127.0.0.1:$LPORT/trickle/$i")" \
		>"$OUT/trickle$i" &
	pids+=($!)
done
sleep 0.5
get "$PORT" /sec/img/6/w100.jpg
expect "a GET miss while four POST sources trickle: 200" "$code" 200
expect_re "... in under 3 s ($took s)" "$took" '^[0-2]\.'
wait "${pids[@]}"
codes=$(cut -d' ' -f1 "$OUT"/trickle? | sort | tr '\n' ' ')
expect "the trickling POSTs: two over -post_fetches told 503, two timed out" "$codes" "503 503 504 504 "
expect "... the 503s with Retry-After" "$(cat "$OUT"/trickle?.h | grep -c -i '^Retry-After: 5')" 2
expect_re "... told at once ($(sort -n -k2 "$OUT"/trickle? | head -1))" \
	"$(grep '^503' "$OUT"/trickle? | sort -n -k2 | tail -1 | cut -d' ' -f2)" '^[0-2]\.'

# --- 5. one writer per original -------------------------------------------------
# A GET fetches the original of sec/slow/5 from the slow source; a POST of
# another original for it meanwhile waits, then finds the source's: 409.
curl -s -o "$OUT/race.jpg" -w '%{http_code}' --max-time 30 \
	"http://127.0.0.1:$PORT/sec/slow/5/w100.jpg" >"$OUT/race.code" &
race=$!
sleep 0.7
get "$PORT" /sec/slow/5 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" "${auth[@]}"
wait "$race"
expect "a POST while a GET fetches the original: 409" "$code" 409
expect "the GET: 200" "$(cat "$OUT/race.code")" 200
expect "its output was made from the source's original" "$(identify -format '%w %h' "$OUT/race.jpg")" "100 67"
expect "the original stored is the source's" \
	"$(cmp -s "$(stored slow 5 original)" "$SRC/src/sec/slow/5.jpg" && echo source)" source
expect "the output stored is the GET's" "$(cmp -s "$(stored slow 5 w100.jpg)" "$OUT/race.jpg" && echo same)" same
# And the other way round: a POSTed original is what a GET then makes from.
get "$PORT" /sec/img/7 -X POST "${jpeg[@]}" --data-binary "@$OUT/portrait.jpg" "${auth[@]}"
expect "a POST first: 201" "$code" 201
made "then a GET" "$PORT" /sec/img/7/w100.jpg && expect "... from the POSTed original" \
	"$(identify -format '%w %h' "$T/made")" "100 150"

# --- 6. -allowed_sources prefixes, as the origin sees the path ----------------
before=$(grep -c 'secret.jpg' "$STACK_DIR/origin-access.log")
for src in "/pub/%2e%2e/secret.jpg" "/pub/%2E%2E/secret.jpg" "/pub/../secret.jpg" \
	"/pub/a/../../secret.jpg" "/pub/..%2fsecret.jpg" "/pub%2f..%2fsecret.jpg"; do
	get "$PORT" "/sec/img/p1?source=$(urlenc "http://127.0.0.1:$OPORT$src")" -X POST "${auth[@]}" -d ''
	expect "source $src: 403" "$code" 403
done
expect "the origin was never asked for /secret.jpg" \
	"$(grep -c 'secret.jpg' "$STACK_DIR/origin-access.log")" "$before"
expect "nothing stored" "$(none_stored img p1 original)" none
get "$PORT" "/sec/img/p2?source=$(urlenc "http://127.0.0.1:$OPORT/pub/a/../ok.jpg")" -X POST "${auth[@]}" -d ''
expect "source /pub/a/../ok.jpg (still under /pub/): 201" "$code" 201

# --- 7. one spelling per file, and other methods, on hits as on misses ---------
[ -s "$(stored img 2 w100.jpg)" ] || fail "w100.jpg of sec/img/2 is a hit" "not in the store"
for path in '/sec/img/2/w10%30.jpg' '/sec/img/2/%77100.jpg' '//sec/img/2/w100.jpg' \
	'/sec/img/./2/w100.jpg' '/sec/x/../img/2/w100.jpg' '/sec/img/2/w100%2Ejpg'; do
	status "a hit spelled $path" "$PORT" "$path" 400
done
for how in hit miss; do
	p=/sec/img/2/w100.jpg
	[ "$how" = miss ] && p=/sec/img/2/x50.jpg
	[ "$how" = miss ] && expect "x50.jpg is a miss" "$(none_stored img 2 x50.jpg)" none
	get "$PORT" "$p" -X DELETE "${auth[@]}"
	expect "DELETE of a $how: 405, Allow, no-store" \
		"$code|$(header Allow)|$(header Cache-Control)" "405|GET, HEAD, POST, DELETE|no-store"
	get "$PORT" "$p" -X PUT -d x
	expect "PUT of a $how: 405, Allow, no-store" \
		"$code|$(header Allow)|$(header Cache-Control)" "405|GET, HEAD, POST, DELETE|no-store"
	get "$PORT" "$p" -X POST "${auth[@]}" -d ''
	expect_re "POST to a $how: the responder's 400" "$code $(body)" '^400 POST /\{model\}'
	get "$PORT" "$p" -X DELETE "${other[@]}"
	expect "DELETE of a $how from another host: 403" "$code" 403
done

# --- 8. 403 bodies name nothing --------------------------------------------------
mark_log
get "$PORT" "/sec/img/p3?source=$(urlenc "http://localhost:$RPORT/x.jpg")" -X POST "${auth[@]}" -d ''
expect "a private source: 403 with a generic body" "$code $(body)" "403 forbidden"
expect_re "... its address in the log only" "$(log_since)" 'POST /sec/img/p3 403 .*source address (127\.0\.0\.1|::1) is not public'

if stack_alive; then pass "every server still running"; else fail "every server still running" "see $STACK_DIR"; fi
