#!/bin/bash
# tests/e2e/test_e2e.sh: end-to-end tests of image-server through real nginx.
#
# Starts, on free loopback ports, with deploy/stack.sh:
#   redis   used by a and b
#   a       image-server + nginx, file:// source (the fixtures)
#   origin  a static nginx serving the fixtures, for http:// sources
#   b       image-server + nginx, http:// source from origin
#   c, d, e image-server + nginx whose source answers 500 (c), is slow (d,
#           -source_timeout 1) or refuses connections (e)
# then drives them with curl and reads the results with identify, convert
# and exiftool. Prints "ok - ..." / "not ok - ..." per check and, last,
# "e2e: N passed, M failed"; exits 1 if any check failed. Everything it
# started is stopped on exit. Work files: tests/out/e2e/ (or $E2E_OUT).
set -u

cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh

OUT=${E2E_OUT:-$PWD/tests/out/e2e}
FIX=$OUT/fixtures
T=$OUT/tmp
rm -rf "$OUT"
mkdir -p "$FIX" "$T"

. tests/e2e/check.sh
NAME=e2e

check_start "$OUT/run"

# --- helpers (get, header, made, status, shard: lib.sh) --------------------

# info FILE: "width height quality colorspace format" of an image.
info() {
	identify -format '%w %h %Q %[colorspace] %m\n' "$1" 2>/dev/null | head -n 1
}

# rgb FILE X Y: "R G B" (0..255) of one pixel.
rgb() {
	convert "$1" -format \
		"%[fx:int(255*p{$2,$3}.r+0.5)] %[fx:int(255*p{$2,$3}.g+0.5)] %[fx:int(255*p{$2,$3}.b+0.5)]" \
		info: 2>/dev/null
}

# count_lines FILE STRING: how many lines of FILE contain STRING.
count_lines() {
	grep -c -F -- "$2" "$1" 2>/dev/null
}

# image DESC PORT PATH WANT: made, and the "width height quality
# colorspace format" of the body matches the regex WANT.
image() {
	made "$1" "$2" "$3" || return 1
	expect_re "$1: identify matches /$4/" "$(info "$T/made")" "$4"
}

# --- start the stack ------------------------------------------------------

tests/e2e/fixtures.sh "$FIX" || die "fixtures made"

free_ports 17000 PA PB PC PD PE PO PR PX
# nobody listens on PX: the refused source of responder e

RUN=$STACK_DIR
src_file="file://$FIX/{model}/{field}/{id}.jpg"
src_http="http://127.0.0.1:$PO"
flags=(-threads 4 -log_level info -default_quality 75 -maximum_width 2000
	-maximum_height 2000 -background white)

# a and b register their outputs in one redis, apart by key prefix.
stack_redis "$PR" || die "redis-server started"
stack_origin origin "$PO" "$FIX" || die "origin nginx started"

stack_responder a "${flags[@]}" -redis "127.0.0.1:$PR" -redis_prefix e2e-a: \
	-store "$OUT/store-a" -source "$src_file" || die "responder a started"
stack_nginx a "$PA" "$OUT/store-a" "$RUN/a.sock" || die "nginx a started"
stack_responder b "${flags[@]}" -redis "127.0.0.1:$PR" -redis_prefix e2e-b: \
	-store "$OUT/store-b" \
	-source "$src_http/{model}/{field}/{id}.jpg" || die "responder b started"
stack_nginx b "$PB" "$OUT/store-b" "$RUN/b.sock" || die "nginx b started"
stack_responder c -threads 2 -store "$OUT/store-c" \
	-source "$src_http/status500/{model}/{field}/{id}.jpg" || die "responder c started"
stack_nginx c "$PC" "$OUT/store-c" "$RUN/c.sock" || die "nginx c started"
stack_responder d -threads 2 -store "$OUT/store-d" -source_timeout 1 \
	-source "$src_http/slow/{model}/{field}/{id}.jpg" || die "responder d started"
stack_nginx d "$PD" "$OUT/store-d" "$RUN/d.sock" || die "nginx d started"
stack_responder e -threads 2 -store "$OUT/store-e" -connect_timeout 2 \
	-source "http://127.0.0.1:$PX/{model}/{field}/{id}.jpg" || die "responder e started"
stack_nginx e "$PE" "$OUT/store-e" "$RUN/e.sock" || die "nginx e started"
pass "stack started (nginx :$PA :$PB :$PC :$PD :$PE, origin :$PO, redis :$PR)"

# --- sizes, crops, quality, formats (file:// source) ----------------------

image "w500 keeps the aspect" "$PA" /e2e/img/big/w500.jpg '^500 33[34] 75 sRGB JPEG$'
expect "default quality is 75" "$(identify -format %Q "$T/made")" 75
expect "Content-Type of jpg" "$(header Content-Type)" image/jpeg
cp "$T/made" "$T/w500.jpg"
image "x400 is a square" "$PA" /e2e/img/big/x400.jpg '^400 400 '
image "300x400 is exact" "$PA" /e2e/img/big/300x400.jpg '^300 400 '
image "-q50 sets the quality" "$PA" /e2e/img/big/w300-q50.jpg '^300 200 50 '
image "full_size keeps the size" "$PA" /e2e/img/big/full_size.jpg '^3000 2000 75 sRGB JPEG$'
image "jpeg extension" "$PA" /e2e/img/big/w100.jpeg '^100 67 .* JPEG$'
expect "Content-Type of jpeg" "$(header Content-Type)" image/jpeg

image "png output" "$PA" /e2e/img/big/x200.png '^200 200 .* PNG$'
expect "png magic" "$(head -c 4 "$T/made" | od -An -tx1 | tr -d ' \n')" 89504e47
expect "Content-Type of png" "$(header Content-Type)" image/png
image "gif output" "$PA" /e2e/img/big/x200.gif '^200 200 .* GIF$'
expect "gif magic" "$(head -c 6 "$T/made")" GIF89a
expect "Content-Type of gif" "$(header Content-Type)" image/gif
image "webp output" "$PA" /e2e/img/big/x200.webp '^200 200 .* WEBP$'
expect "webp magic" "$(head -c 4 "$T/made")$(tail -c +9 "$T/made" | head -c 4)" RIFFWEBP
expect "Content-Type of webp" "$(header Content-Type)" image/webp
image "avif output" "$PA" /e2e/img/big/x100.avif '^100 100 .* HEIC$'
expect "avif brand" "$(tail -c +5 "$T/made" | head -c 8)" ftypavif
expect "Content-Type of avif" "$(header Content-Type)" image/avif

image "no upscaling past the original" "$PA" /e2e/img/7/w2000.jpg '^1200 900 '

# --- what the original holds ----------------------------------------------

image "EXIF orientation applied (portrait)" "$PA" /e2e/img/exif6/w400.jpg '^400 600 '
left=$(rgb "$T/made" 20 300) right=$(rgb "$T/made" 379 300)
expect_re "orientation: stored top (red) is on the right" "$right" '^2[0-9][0-9] [0-4]?[0-9] [0-4]?[0-9]$'
expect_re "orientation: stored bottom (blue) is on the left" "$left" '^[0-4]?[0-9] [0-4]?[0-9] 2[0-9][0-9]$'
meta=$(exiftool -s -s -s -Orientation -GPS:all -Comment -Artist -Make "$T/made")
expect "EXIF, GPS and comment stripped" "$meta" ""
image "full_size applies the orientation" "$PA" /e2e/img/exif6/full_size.jpg '^800 1200 '

image "CMYK original gives sRGB" "$PA" /e2e/img/cmyk/w400.jpg '^400 300 [0-9]+ sRGB JPEG$'
expect_re "CMYK cyan stays cyan" "$(rgb "$T/made" 200 150)" '^[0-5]?[0-9] 2[0-9][0-9] 2[0-9][0-9]$'

image "PNG with alpha to jpg" "$PA" /e2e/img/alpha/w300.jpg '^300 200 .* JPEG$'
expect_re "transparent corner is white" "$(rgb "$T/made" 0 0)" '^2[45][0-9] 2[45][0-9] 2[45][0-9]$'
expect_re "opaque centre stays red" "$(rgb "$T/made" 150 100)" '^2[0-9][0-9] [0-3]?[0-9] [0-3]?[0-9]$'

image "GIF original" "$PA" /e2e/img/gif/w200.jpg '^200 150 .* JPEG$'
image "WebP original" "$PA" /e2e/img/webp/w200.png '^200 150 .* PNG$'
image "grayscale PNG original" "$PA" /e2e/img/gray/w32.jpg '^32 24 .* JPEG$'

# --- the store: second request from nginx, layout, no temp files -----------

get "$PA" /e2e/img/big/w500.jpg
expect "second request: 200" "$code" 200
expect "second request: served by nginx (no X-Image-Server)" "$(header X-Image-Server)" ""
if cmp -s "$T/body" "$T/w500.jpg"; then pass "second request: same bytes"; else fail "second request: same bytes" "differs from the first"; fi
expect "second request: Content-Type" "$(header Content-Type)" image/jpeg
expect "second request: Cache-Control" "$(header Cache-Control)" "$IMMUTABLE"
expect "responder saw the URL once" "$(count_lines "$RUN/a.log" /e2e/img/big/w500.jpg)" 1

for id in 7 42 123 3589782; do
	made "id $id ($(shard "$id"))" "$PA" "/e2e/img/$id/w120.jpg"
	f=$OUT/store-a/e2e/img/$(shard "$id")/$id/w120.jpg
	if cmp -s "$f" "$T/made"; then pass "id $id: stored at $(shard "$id")/$id/w120.jpg"; else fail "id $id: stored at the documented path" "no $f"; fi
	get "$PA" "/e2e/img/$id/w120.jpg"
	expect "id $id: second request from nginx" "$code $(header X-Image-Server)" "200 "
done
expect "big stored at ig/_b" "$(test -f "$OUT/store-a/e2e/img/ig/_b/big/w500.jpg" && echo yes)" yes

# 6 requests at once for one new output: all get the same image.
pids=()
for i in 1 2 3 4 5 6; do
	curl -s --max-time 20 -o "$T/par$i" -w '%{http_code}\n' \
		"http://127.0.0.1:$PA/e2e/img/big/w321.jpg" >"$T/par$i.code" &
	pids+=($!)
done
wait "${pids[@]}"  # (a bare wait would wait for the servers too)
codes=$(cat "$T"/par?.code | sort | uniq -c | tr -s ' ')
same=yes
for i in 2 3 4 5 6; do cmp -s "$T/par1" "$T/par$i" || same=no; done
expect "6 parallel requests: all 200" "$codes" " 6 200"
expect "6 parallel requests: identical bytes" "$same" yes

# Temporary names and the original are never served, even when present.
shardbig=$OUT/store-a/e2e/img/ig/_b/big
cp "$T/w500.jpg" "$shardbig/.tmp-w500.jpg"
get "$PA" /e2e/img/big/.tmp-w500.jpg
expect_re "a temp file in the store is not served" "$code" '^4'
rm -f "$shardbig/.tmp-w500.jpg"
# (the file:// responder may not keep originals: put one there if not)
keep=yes
[ -e "$shardbig/original" ] || { keep=no; cp "$FIX/e2e/img/big.jpg" "$shardbig/original"; }
status "GET .../original is refused" "$PA" /e2e/img/big/original 400
[ "$keep" = yes ] || rm -f "$shardbig/original"
# nginx itself refuses to go above the root (with its own HTML page).
get "$PA" /e2e/../../etc/passwd
expect "path above the root: 400" "$code" 400

# --- errors (file:// source) -----------------------------------------------

long_id=$(printf 'a%.0s' $(seq 65))
long_model=$(printf 'm%.0s' $(seq 33))
for path in /e2e/img/big/foo.jpg /e2e/img/big/w0.jpg /e2e/img/big/wabc.jpg \
	/e2e/img/big/w500-q0.jpg /e2e/img/big/w500-q101.jpg /E2E/img/big/w500.jpg \
	"/e2e/img/$long_id/w500.jpg" "/$long_model/img/big/w500.jpg" \
	/e2e/img/big/w500 /e2e/img/big/../w500.jpg /e2e/img/%2e%2e/w500.jpg \
	/e2e/img/big/ /; do
	status "malformed $path" "$PA" "$path" 400
done
status "original missing at the source" "$PA" /e2e/img/nosuch/w100.jpg 404
status "DELETE" "$PA" /e2e/img/big/w77.jpg 405 -X DELETE
expect "405 says Allow: GET, HEAD, POST, DELETE" "$(header Allow)" "GET, HEAD, POST, DELETE"
# (with -I curl writes the headers as the body: anything more is a body)
get "$PA" /e2e/img/big/w78.jpg -I
expect_re "HEAD of a new output: 200, a length, no body" \
	"$code $(header Content-Length) $(cmp -s "$T/body" "$T/headers" && echo none)" '^200 [1-9][0-9]* none$'
status "w2001 over maximum_width" "$PA" /e2e/img/big/w2001.jpg 406
status "x2001 over the maximum" "$PA" /e2e/img/big/x2001.jpg 406
status "10x2001 over maximum_height" "$PA" /e2e/img/big/10x2001.jpg 406
status "bmp not enabled" "$PA" /e2e/img/big/w100.bmp 415
status "tiff not enabled" "$PA" /e2e/img/big/w100.tiff 415
status "text file named .jpg" "$PA" /e2e/img/text/w100.jpg 422
status "SVG" "$PA" /e2e/img/svg/w100.jpg 422
status "truncated JPEG" "$PA" /e2e/img/trunc/w100.jpg 422
status "PNG claiming 30000x30000" "$PA" /e2e/img/huge/w100.jpg 422
expect "no store output for refused requests" \
	"$(find "$OUT/store-a" -name 'w2001.jpg' -o -name 'w100.bmp' -o -path '*text*' -name 'w100.jpg')" ""

# --- http:// source ---------------------------------------------------------

image "http source: w300" "$PB" /e2e/img/3589782/w300.jpg '^300 225 75 sRGB JPEG$'
image "http source: second output of the same id" "$PB" /e2e/img/3589782/x150.png '^150 150 .* PNG$'
expect "origin asked once for the original" \
	"$(count_lines "$RUN/origin-access.log" /e2e/img/3589782.jpg)" 1
orig=$OUT/store-b/e2e/img/82/97/3589782/original
if cmp -s "$orig" "$FIX/e2e/img/3589782.jpg"; then pass "original kept in the store"; else fail "original kept in the store" "no $orig, or not the source's bytes"; fi
get "$PB" /e2e/img/3589782/w300.jpg
expect "http source: second request from nginx" "$code $(header X-Image-Server)" "200 "
get "$PB" /e2e/img/3589782/original
expect_re "the stored original is not served" "$code" '^4'
status "http source: 404 at the origin" "$PB" /e2e/img/nosuch/w100.jpg 404
status "http source: text file" "$PB" /e2e/img/text/w100.jpg 422

# --- a broken, slow or absent origin ----------------------------------------

status "origin answers 500" "$PC" /e2e/img/big/w100.jpg 502
status "origin refuses connections" "$PE" /e2e/img/big/w100.jpg 502
start=$SECONDS
status "origin too slow (-source_timeout 1)" "$PD" /e2e/img/big/w100.jpg 504
expect_re "the timeout took under 5 s" "$((SECONDS - start))" '^[0-4]$'

# --- at the end --------------------------------------------------------------

expect "no temp files left in the stores" "$(find "$OUT"/store-? -name '.*')" ""
if stack_alive; then pass "every server still running"; else fail "every server still running" "see $RUN"; fi

# --- /status and /metrics: 127.0.0.1 only ----------------------------------

. tests/e2e/pages.sh


private_pages nginx "$PA" "$RUN/a.log"
