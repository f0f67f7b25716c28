#!/bin/bash
# tests/e2e/test_hostile.sh: the gate on originals through nginx, against
# files crafted to get past a lax sniffer (made here, never committed):
# a GIF with a stray byte before an 8000x8000 frame, a JPEG whose SOI is
# followed by FF 00 and a real 7500x7500 frame; an original cut short at
# the source; and MagickCore running out of pixel cache, which is an
# overload (503, Retry-After, not remembered), never the image's fault.
# Work files: tests/out/hostile/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=hostile

OUT=$PWD/tests/out/hostile
SRC=$OUT/src
rm -rf "$OUT"
mkdir -p "$SRC/h/img" "$OUT/store" "$OUT/store-x"
check_start "$OUT/run"
T=$OUT

free_ports 27000 PORT XPORT RPORT

# The crafted originals, from real images ImageMagick makes.
convert -size 10x10 xc:white -colors 2 "gif:$OUT/small.gif"
python3 - "$OUT/small.gif" "$SRC/h/img/gifjunk" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
at = 13 + (3 * (1 << ((d[10] & 7) + 1)) if d[10] & 0x80 else 0)
# A 10x10 screen, a stray 0x00, then the frame, now said to be 8000x8000.
frame = bytearray(d[at:])
i = frame.index(0x2C)
frame[i + 5:i + 9] = (8000).to_bytes(2, 'little') * 2
open(sys.argv[2], 'wb').write(d[:at] + b'\x00' + bytes(frame))
PY
convert -size 7500x7500 xc:gray -quality 50 "jpg:$OUT/big.jpg"
python3 - "$OUT/big.jpg" "$SRC/h/img/jpegjunk" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
# SOI, FF 00, 64 KB of stray bytes with a fake 10x10 SOF in them, then
# the real file after its SOI.
fake = bytes([0xFF, 0xC0, 0, 17, 8, 0, 10, 0, 10, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
junk = (b'\x00' * 65536) + fake
open(sys.argv[2], 'wb').write(b'\xFF\xD8\xFF\x00' + junk + d[2:])
PY
convert -size 1200x900 plasma:fractal -quality 90 "jpg:$OUT/whole.jpg"
head -c $(($(stat -c %s "$OUT/whole.jpg") * 6 / 10)) "$OUT/whole.jpg" >"$SRC/h/img/cut"
convert -size 3000x2000 gradient:red-blue -colors 32 "gif:$SRC/h/img/gif6mp"
convert -size 2000x2000 plasma:fractal -colors 64 "gif:$SRC/h/img/gif4mp"
convert -size 300x200 gradient:red-blue -quality 85 "jpg:$SRC/h/img/small"

stack_redis "$RPORT" || die "redis-server started"
stack_responder h -threads 2 -store "$OUT/store" -redis "127.0.0.1:$RPORT" \
	-source "file://$SRC/{model}/{field}/{id}" || die "responder started"
stack_nginx h "$PORT" "$OUT/store" "$STACK_DIR/h.sock" || die "nginx started"

# refused ID DESC: a miss for ID's w100.jpg is 422, fast, and nothing of
# the id is stored.
refused() {
	get "$PORT" "/h/img/$1/w100.jpg"
	expect "$2: 422" "$code" 422
	expect_re "$2: refused at once (${took} s)" "$took" '^(0|1)\.'
	expect "$2: nothing stored" "$(find "$(store_path "$OUT/store" h img "$1")" -type f 2>/dev/null | wc -l)" 0
}
refused gifjunk "GIF with a stray byte before an 8000x8000 frame"
refused jpegjunk "JPEG with FF 00 after SOI and a 7500x7500 frame"
refused cut "a JPEG cut short at the source"
expect_re "a JPEG cut short: says it cannot be decoded" "$(cat "$T/body")" 'cannot be decoded'
get "$PORT" /h/img/cut/w101.jpg
expect "a JPEG cut short: still 422 on the next request, still not stored" \
	"$code $(find "$(store_path "$OUT/store" h img cut)" -type f 2>/dev/null | wc -l)" "422 0"

# After all that, real images are made as ever: nothing was poisoned.
get "$PORT" /h/img/gif6mp/w200.jpg --max-time 60
expect "a legitimate 6 MP GIF afterwards: 200" "$code" 200
get "$PORT" /h/img/small/w100.jpg
expect "a small JPEG afterwards: 200" "$code" 200

# --- MagickCore out of pixel cache: an overload, not a bad image --------------
# Its limits come from the environment and code only ever lowers them: a
# responder with 8 MiB of pixel cache cannot hold a 2000x2000 GIF.
MAGICK_MEMORY_LIMIT=8MiB MAGICK_MAP_LIMIT=8MiB MAGICK_DISK_LIMIT=8MiB \
	stack_responder x -threads 2 -store "$OUT/store-x" -redis "127.0.0.1:$RPORT" \
	-redis_prefix x: -source "file://$SRC/{model}/{field}/{id}" || die "responder x started"
stack_nginx x "$XPORT" "$OUT/store-x" "$STACK_DIR/x.sock" || die "nginx x started"
get "$XPORT" /h/img/gif4mp/w100.jpg
expect "out of pixel cache: 503" "$code" 503
expect_re "out of pixel cache: Retry-After" "$(header Retry-After)" '^[0-9]+$'
expect "out of pixel cache: no error remembered for waiters" \
	"$(rcli exists x:error:h/img/gif4mp/original x:error:h/img/gif4mp/w100.jpg)" 0
expect "out of pixel cache: the original not stored" \
	"$(find "$(store_path "$OUT/store-x" h img gif4mp)" -type f 2>/dev/null | wc -l)" 0
get "$XPORT" /h/img/gif4mp/w100.jpg
expect "out of pixel cache: 503 again, not a remembered 422" "$code" 503
get "$XPORT" /h/img/small/w100.jpg
expect "out of pixel cache: a small image is still made" "$code" 200
