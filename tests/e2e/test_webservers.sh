#!/bin/bash
# tests/e2e/test_webservers.sh: the Apache httpd and lighttpd configs of
# deploy/ (apache/image-server.conf; lighttpd/image-server.conf with its Lua
# script), each in front of its own responder (file:// source, no Redis),
# started with deploy/stack.sh and deploy/stack-web.sh on free loopback
# ports. For each: a miss made by the responder, the second request served
# from the store, the store path of ids of 1, 2, 3 and 7 characters, the
# responder's 400 and 404 (with their no-store) passed through, the client's
# own URL reaching the responder, another spelling or method of a hit
# answered as on a miss (400, 405), writes from another host refused (403)
# and the API key passed on to the responder, the original and temporary
# files never served, and the responder's /status and /metrics for
# 127.0.0.1 only (also under other spellings). Prints "ok - ..." / "not ok - ..." per check and, last,
# "webservers: N passed, M failed"; exits 1 if any check failed. Work files:
# tests/out/webservers/ (or $WEBSERVERS_OUT); under /tmp instead when, as
# root, Apache's workers (www-data) could not reach the checkout (a clone
# in /root).
set -u

cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. deploy/stack-web.sh

OUT=${WEBSERVERS_OUT:-$(stack_web_dir "$PWD/tests/out/webservers" /tmp/image-server-webservers)}
case $OUT in /tmp/*) echo "# work files in $OUT: www-data cannot reach $PWD" ;; esac
FIX=$OUT/fixtures
T=$OUT/tmp
rm -rf "$OUT"
mkdir -p "$FIX/ws/img" "$T"

. tests/e2e/check.sh
NAME=webservers

check_start "$OUT/run"
RUN=$STACK_DIR

# (get, header, headers, made, shard and IMMUTABLE: lib.sh)
# shellcheck disable=SC2034 # get's curl --max-time
GET_MAX_TIME=10

# static DESC PORT PATH FILE: a 200 served by the web server from the store
# (no X-Image-Server), with the bytes of FILE and the Cache-Control of hits.
static() {
	local desc=$1 port=$2 path=$3 file=$4
	get "$port" "$path"
	if [ "$code" != 200 ] || [ -n "$(header X-Image-Server)" ]; then
		fail "$desc: served from the store" "GET $path: $code, X-Image-Server '$(header X-Image-Server)'"
	elif ! cmp -s "$T/body" "$file"; then
		fail "$desc: served from the store" "GET $path: not the bytes of $file"
	elif [ "$(header Cache-Control)" != "$IMMUTABLE" ] || [ "$(headers Cache-Control)" != 1 ]; then
		fail "$desc: served from the store" "GET $path: $(headers Cache-Control) Cache-Control, '$(header Cache-Control)'"
	elif [ "$(header Content-Type)" != image/jpeg ]; then
		fail "$desc: served from the store" "GET $path: Content-Type '$(header Content-Type)'"
	else
		pass "$desc: served from the store, same bytes, Cache-Control"
	fi
}

# refused DESC PORT PATH WANT REGEX [CURL_ARGS...]: the responder's answer
# WANT passed through: one line of text matching REGEX, Cache-Control:
# no-store only.
refused() {
	local desc=$1 port=$2 path=$3 want=$4 re=$5 body
	shift 5
	get "$port" "$path" "$@"
	body=$(head -c 300 "$T/body")
	if [ "$code" != "$want" ]; then
		fail "$desc: $want" "GET $path: $code $(tr '\n' ' ' <<<"$body")"
	elif [ "$(wc -l <"$T/body")" != 1 ] || ! [[ $body =~ $re ]]; then
		fail "$desc: $want" "body is not the responder's one line /$re/: $(tr '\n' '|' <<<"$body")"
	elif [ "$(header Cache-Control)" != no-store ] || [ "$(headers Cache-Control)" != 1 ]; then
		fail "$desc: $want" "$(headers Cache-Control) Cache-Control, '$(header Cache-Control)', want no-store"
	else
		pass "$desc: $want with the responder's reason"
	fi
}

# not_served DESC PORT PATH FILE: anything but a 200 with FILE's bytes.
not_served() {
	local desc=$1 port=$2 path=$3 file=$4
	get "$port" "$path"
	if [ "$code" = 200 ] || cmp -s "$T/body" "$file"; then
		fail "$desc" "GET $path: $code, $(stat -c %s "$T/body") bytes"
	else
		pass "$desc ($code)"
	fi
}

. tests/e2e/pages.sh


# --- fixtures and servers --------------------------------------------------

# Two small JPEGs (different sizes and aspect ratios), as the originals of
# ids of 1, 2, 3 and 7 characters and of "big".
convert -size 640x480 gradient:'#1e90ff-#ff8c00' -fill '#228b22' \
	-draw 'rectangle 60,60 300,240' -quality 90 "jpg:$FIX/ws/img/big.jpg" ||
	die "fixtures made" "convert failed"
convert -size 300x400 plasma:fractal -seed 7 -quality 90 "jpg:$FIX/ws/img/7.jpg" ||
	die "fixtures made" "convert failed"
for id in 42 123 3589782; do cp "$FIX/ws/img/7.jpg" "$FIX/ws/img/$id.jpg"; done

free_ports 25000 PAP PLI

src="file://$FIX/{model}/{field}/{id}.jpg"
KEY=webservers-key-0123456789
stack_responder ap -threads 2 -log_level info -store "$OUT/store-ap" -source "$src" \
	-api_key "$KEY" || die "responder for apache started"
stack_apache ap "$PAP" "$OUT/store-ap" "$RUN/ap.sock" || die "apache started"
stack_responder li -threads 2 -log_level info -store "$OUT/store-li" -source "$src" \
	-api_key "$KEY" || die "responder for lighttpd started"
stack_lighttpd li "$PLI" "$OUT/store-li" "$RUN/li.sock" || die "lighttpd started"
pass "stack started (apache :$PAP, lighttpd :$PLI)"

# --- the same checks through each server -----------------------------------

# server NAME WHAT PORT: NAME is the responder's name (its log and store).
server() {
	local n=$1 what=$2 port=$3 store=$OUT/store-$1 log=$RUN/$1.log id f
	local big=$store/ws/img/ig/_b/big p seen

	made "$what: miss" "$port" /ws/img/big/w200.jpg &&
		expect "$what: the made image is 200x150 JPEG" \
			"$(identify -format '%w %h %m' "$T/made" 2>/dev/null)" "200 150 JPEG"
	cp "$T/made" "$T/$n-w200.jpg"
	static "$what: second request" "$port" /ws/img/big/w200.jpg "$T/$n-w200.jpg"
	static "$what: hit with a query string" "$port" '/ws/img/big/w200.jpg?v=2' "$T/$n-w200.jpg"
	get "$port" /ws/img/big/w200.jpg -I
	expect "$what: HEAD of a hit" "$code $(header Content-Length) $(header X-Image-Server)" \
		"200 $(stat -c %s "$T/$n-w200.jpg") "
	expect "$what: the responder was asked once" \
		"$(grep -c -F 'GET /ws/img/big/w200.jpg ' "$log")" 1

	# The responder must get the client's URL, not the rewritten one: it
	# logs the path it parsed.
	made "$what: miss with a query string" "$port" '/ws/img/big/x64.jpg?v=1' &&
		expect "$what: the responder got the URL as sent" \
			"$(grep -c -F 'GET /ws/img/big/x64.jpg 200 ' "$log")" 1

	for id in 7 42 123 3589782; do
		made "$what: id $id (${#id} characters)" "$port" "/ws/img/$id/w120.jpg" || continue
		expect "$what: id $id is 120x160" \
			"$(identify -format '%w %h' "$T/made" 2>/dev/null)" "120 160"
		cp "$T/made" "$T/$n-$id.jpg"
		f=$store/ws/img/$(shard "$id")/$id/w120.jpg
		if cmp -s "$f" "$T/$n-$id.jpg"; then
			pass "$what: id $id stored at $(shard "$id")/$id/w120.jpg"
		else
			fail "$what: id $id stored at $(shard "$id")/$id/w120.jpg" "no $f"
		fi
		static "$what: id $id second request" "$port" "/ws/img/$id/w120.jpg" "$T/$n-$id.jpg"
	done

	refused "$what: malformed spec" "$port" /ws/img/big/wabc.jpg 400 '^bad size'
	refused "$what: too many segments" "$port" /ws/img/big/x/w200.jpg 400 'segments'
	refused "$what: root" "$port" / 400 '^bad model'
	# (the web server resolves "..", the responder must see it as sent)
	refused "$what: a miss with .. reaches the responder as sent" "$port" \
		/ws/img/big/../big/w90.jpg 400 'segments'
	refused "$what: a miss with %XX reaches the responder as sent" "$port" \
		/ws/img/%62ig/w90.jpg 400 'percent'
	refused "$what: original missing at the source" "$port" /ws/img/nosuch/w100.jpg 404 'not found'
	# POST goes to /{model}/{field}/{id}: to an output's path it is a 400
	# from the responder (the web server does not serve it statically),
	# once the API key, which the web server passes on, is right.
	refused "$what: POST to an existing output's path" "$port" /ws/img/big/w200.jpg 400 \
		'^POST /' -X POST -d x=1 -H "Authorization: Bearer $KEY"
	refused "$what: POST without the API key" "$port" /ws/img/big 401 '^an API key' \
		-X POST -d x=1
	expect "$what: 401 asks for a bearer token" "$(header WWW-Authenticate)" Bearer

	# A hit answers another spelling and another method as a miss does:
	# the responder's 400 and 405, never the file or the server's own page.
	for p in '/ws/img/big/w20%30.jpg' '/ws/img/big/%77200.jpg' '//ws/img/big/w200.jpg' \
		'/ws/img/./big/w200.jpg'; do
		refused "$what: a hit spelled $p" "$port" "$p" 400 '^(percent|bad)'
	done
	for p in /ws/img/big/w200.jpg /ws/img/big/w201.jpg; do
		refused "$what: DELETE of $p" "$port" "$p" 405 '^method DELETE' -X DELETE \
			-H "Authorization: Bearer $KEY"
		expect "$what: DELETE of $p: Allow" "$(header Allow)" "GET, HEAD, POST, DELETE"
		refused "$what: PUT of $p" "$port" "$p" 405 '^method PUT' -X PUT -d x
	done

	# A purge: a file the server served a moment ago is served no more.
	static "$what: id 42 just before its purge" "$port" /ws/img/42/w120.jpg "$T/$n-42.jpg"
	get "$port" /ws/img/42 -X DELETE -H "Authorization: Bearer $KEY"
	expect "$what: DELETE /ws/img/42: 204" "$code" 204
	get "$port" /ws/img/42/w120.jpg
	expect "$what: then its output is a miss, made again from the source" \
		"$code $(header X-Image-Server)" "200 made"

	# Writes from any other host are the web server's 403: the responder
	# never sees them.
	seen=$(grep -c -E ' (POST|DELETE) ' "$log")
	get "$port" /ws/img/big -X POST -d x=1 --interface 127.0.0.2 -H "Authorization: Bearer $KEY"
	expect "$what: POST from 127.0.0.2: 403" "$code" 403
	get "$port" /ws/img/big/w200.jpg -X DELETE --interface 127.0.0.2
	expect "$what: DELETE from 127.0.0.2: 403" "$code" 403
	expect "$what: the responder saw neither" "$(grep -c -E ' (POST|DELETE) ' "$log")" "$seen"
	get "$port" /ws/img/big/w200.jpg --interface 127.0.0.2
	expect "$what: a GET from 127.0.0.2 is a hit" "$code $(header X-Image-Server)" "200 "

	# The original and temporary files are never served, even when present.
	[ -f "$big/original" ] || cp "$FIX/ws/img/big.jpg" "$big/original"
	not_served "$what: .../original not served" "$port" /ws/img/big/original "$big/original"
	not_served "$what: original by its store path not served" "$port" \
		/ws/img/ig/_b/big/original "$big/original"
	cp "$T/$n-w200.jpg" "$big/.tmp-w200.jpg"
	not_served "$what: temp file not served" "$port" /ws/img/big/.tmp-w200.jpg "$T/$n-w200.jpg"
	not_served "$what: temp file by its store path not served" "$port" \
		/ws/img/ig/_b/big/.tmp-w200.jpg "$T/$n-w200.jpg"
	get "$port" /ws/img/ig/_b/big/
	expect_re "$what: no directory listing" "$code" '^4'
	rm -f "$big/.tmp-w200.jpg"
	expect "$what: no temp files left in the store" "$(find "$store" -name '.*')" ""
}

start=$SECONDS
server ap apache "$PAP"
server li lighttpd "$PLI"
private_pages apache "$PAP" "$RUN/ap.log"
private_pages lighttpd "$PLI" "$RUN/li.log"

if stack_alive; then pass "every server still running"; else fail "every server still running" "see $RUN"; fi
expect_re "checks took under 30 s" "$((SECONDS - start))" '^([0-9]|[12][0-9])$'
