#!/bin/bash
# tests/e2e/test_color.sh: colour through nginx. Originals tagged with a
# wide-gamut ICC profile (ProPhoto, from colord-data) as JPEG, PNG and
# WebP come out as sRGB: near a colour-managed reference (ImageMagick
# with lcms2, to sRGB, then resized), far from the untagged reading; the
# outputs carry no profile, unless -embed_srgb tags them sRGB; a CMYK
# JPEG (Adobe's inverted kind, as ImageMagick writes it) keeps its red; a
# broken profile is ignored with one log line and the output still made.
# Work files: tests/out/color/.
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/check.sh
NAME=color

OUT=$PWD/tests/out/color
SRC=$OUT/src
rm -rf "$OUT"
mkdir -p "$SRC/c/img" "$OUT/store" "$OUT/store-tag"
check_start "$OUT/run"
T=$OUT

PROPHOTO=/usr/share/color/icc/colord/ProPhotoRGB.icc
SRGB=/usr/share/color/icc/colord/sRGB.icc
if [ ! -r "$PROPHOTO" ] || [ ! -r "$SRGB" ]; then
	skip "colour through nginx" "colord-data is not installed (make test installs it)"
	exit 0
fi
free_ports 28500 PORT TPORT

# psnr A B: ImageMagick's PSNR of two images of one size ("inf" if equal).
psnr() {
	compare -metric PSNR "$1" "$2" null: 2>&1 | awk '{print $1}'
}
# at_least X MIN: X (a number or inf) >= MIN.
at_least() {
	[ "$1" = inf ] || awk -v x="$1" -v m="$2" 'BEGIN { exit !(x >= m) }'
}

# The picture: saturated colours, as a camera sees them, in sRGB.
convert -size 1200x800 -seed 3 plasma:fractal -modulate 100,160 "png:$OUT/srgb.png"
# Tagged ProPhoto: converted into it and the profile embedded.
for fmt in jpg png webp; do
	convert "$OUT/srgb.png" -profile "$SRGB" -profile "$PROPHOTO" -quality 95 \
		"$fmt:$SRC/c/img/pro-$fmt"
done
convert "$OUT/srgb.png" -colorspace CMYK -quality 95 "jpg:$SRC/c/img/cmyk"
convert -size 600x400 xc:'#d01010' -colorspace CMYK -quality 95 "jpg:$SRC/c/img/red-cmyk"
# A JPEG with a broken profile: an APP2 ICC_PROFILE segment of junk.
convert "$OUT/srgb.png" -quality 90 "jpg:$OUT/plain.jpg"
python3 - "$OUT/plain.jpg" "$SRC/c/img/broken" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
junk = b'ICC_PROFILE\x00\x01\x01' + bytes((i * 7) & 255 for i in range(300))
seg = b'\xFF\xE2' + (len(junk) + 2).to_bytes(2, 'big') + junk
open(sys.argv[2], 'wb').write(d[:2] + seg + d[2:])
PY

stack_responder c -threads 2 -store "$OUT/store" \
	-source "file://$SRC/{model}/{field}/{id}" -log_level debug || die "responder started"
stack_nginx c "$PORT" "$OUT/store" "$STACK_DIR/c.sock" || die "nginx started"
stack_responder tag -threads 2 -store "$OUT/store-tag" -embed_srgb \
	-source "file://$SRC/{model}/{field}/{id}" || die "responder tag started"
stack_nginx tag "$TPORT" "$OUT/store-tag" "$STACK_DIR/tag.sock" || die "nginx tag started"

# The references, 400 wide: colour-managed (to sRGB first) and untagged
# (the profile dropped, the numbers read as sRGB).
for fmt in jpg png webp; do
	convert "$SRC/c/img/pro-$fmt" -profile "$SRGB" -strip -resize 400x \
		"png:$OUT/ref-$fmt.png"
	convert "$SRC/c/img/pro-$fmt" -strip -resize 400x "png:$OUT/naive-$fmt.png"
done

# At quality 95: the colour is what is measured, not the encoder.
for fmt in jpg png webp; do
	for out in jpg png webp; do
		get "$PORT" "/c/img/pro-$fmt/w400-q95.$out"
		expect "ProPhoto $fmt → $out: 200" "$code" 200
		cp "$T/body" "$OUT/got-$fmt.$out"
		good=$(psnr "$OUT/got-$fmt.$out" "$OUT/ref-$fmt.png")
		bad=$(psnr "$OUT/got-$fmt.$out" "$OUT/naive-$fmt.png")
		if at_least "$good" 30 && ! at_least "$bad" "$good"; then
			pass "ProPhoto $fmt → $out: $good dB from the colour-managed reference, $bad from the untagged reading"
		else
			fail "ProPhoto $fmt → $out: near the colour-managed reference" \
				"$good dB from it, $bad dB from the untagged reading"
		fi
		expect "ProPhoto $fmt → $out: no profile in the output" \
			"$(identify -format '%[profile:icc]' "$OUT/got-$fmt.$out" 2>/dev/null | wc -c)" 0
	done
done
# The untagged reading really is off: the test can tell the two apart.
n=$(psnr "$OUT/ref-jpg.png" "$OUT/naive-jpg.png")
if at_least "$n" 25; then
	fail "ProPhoto read untagged is visibly off" "$n dB from the reference"
else
	pass "ProPhoto read untagged is visibly off ($n dB from the reference)"
fi

# -embed_srgb: the same pixels, tagged sRGB.
for out in jpg png webp; do
	get "$TPORT" "/c/img/pro-jpg/w400-q95.$out"
	desc=$(identify -format '%[profile:icc]' "$T/body" 2>/dev/null)
	cp "$T/body" "$OUT/tag.$out"
	expect_re "-embed_srgb: $out tagged sRGB" "$desc" 'sRGB'
	at_least "$(psnr "$OUT/tag.$out" "$OUT/got-jpg.$out")" 45 &&
		pass "-embed_srgb: $out the same pixels" ||
		fail "-embed_srgb: $out the same pixels" "$(psnr "$OUT/tag.$out" "$OUT/got-jpg.$out") dB"
done

# CMYK: the picture, and a plain red that must stay red.
get "$PORT" /c/img/cmyk/w400.jpg
expect "CMYK JPEG: 200" "$code" 200
at_least "$(psnr "$T/body" "$OUT/ref-jpg.png")" 20 &&
	pass "CMYK JPEG: near the picture" ||
	fail "CMYK JPEG: near the picture" "$(psnr "$T/body" "$OUT/ref-jpg.png") dB"
get "$PORT" /c/img/red-cmyk/w100.png
rgb=$(convert "$T/body" -format '%[fx:int(255*p{50,30}.r)] %[fx:int(255*p{50,30}.g)] %[fx:int(255*p{50,30}.b)]' info: 2>/dev/null)
expect_re "CMYK red stays red" "$rgb" '^(19[0-9]|2[0-5][0-9]) ([0-9]|[1-4][0-9]) ([0-9]|[1-4][0-9])$'

# A broken profile: ignored, said once in the log, the output made.
get "$PORT" /c/img/broken/w400.jpg
expect "broken profile: 200" "$code" 200
expect "broken profile: one log line" \
	"$(grep -c "ignoring the original's ICC profile" "$STACK_DIR/c.log")" 1
at_least "$(psnr "$T/body" "$(echo "$OUT"/ref-jpg.png)")" 0 && pass "broken profile: a real image" ||
	fail "broken profile: a real image" "compare failed"
