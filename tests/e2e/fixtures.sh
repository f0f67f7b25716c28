#!/bin/sh
# tests/e2e/fixtures.sh DIR: make the originals the end-to-end tests use, as
# a source laid out DIR/e2e/img/{id}.jpg. Every file is named .jpg whatever
# it holds: the responder must sniff the bytes, not trust the name.
#
#   big      3000x2000 JPEG (gradient and shapes)
#   exif6    1200x800 JPEG stored landscape, EXIF Orientation=6 (shown
#            portrait 800x1200), top half red, bottom half blue, with
#            GPS, Artist, Make and a JPEG comment
#   cmyk     800x600 CMYK JPEG, plain cyan
#   alpha    600x400 PNG, transparent but for a red rectangle in the middle
#   gif      400x300 GIF
#   webp     400x300 WebP
#   gray     64x48 grayscale PNG
#   7 42 123 3589782    1200x900 JPEGs (ids of 1, 2, 3 and 7 characters)
#   text     a text file
#   svg      an SVG drawing
#   trunc    the first 2 KB of big
#   huge     a PNG whose header says 30000x30000 (a few KB; its data stops
#            after a few rows)
# Quiet on success.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
d=$1/e2e/img
mkdir -p "$d"

convert -size 3000x2000 gradient:'#1e90ff-#ff8c00' \
	-fill '#ffd700' -draw 'circle 1500,1000 1500,400' \
	-fill '#228b22' -draw 'rectangle 200,200 900,700' \
	-quality 90 "jpg:$d/big.jpg"

# Orientation 6 means "rotate 90 degrees clockwise to show": the red top
# half of the stored pixels ends up on the right.
convert -size 1200x400 xc:red -size 1200x400 xc:blue -append \
	-quality 90 "jpg:$d/exif6.jpg"
exiftool -q -overwrite_original -n -Orientation=6 \
	-GPSLatitude=48.8583 -GPSLatitudeRef=N \
	-GPSLongitude=2.2945 -GPSLongitudeRef=E \
	-Artist='E2E Artist' -Make='E2E Camera' -Comment='e2e secret comment' \
	"$d/exif6.jpg"

convert -size 800x600 xc:cyan -colorspace CMYK -quality 90 "jpg:$d/cmyk.jpg"

convert -size 600x400 xc:none -fill red -draw 'rectangle 150,100 449,299' \
	"png32:$d/alpha.jpg"

convert -size 400x300 gradient:yellow-green "gif:$d/gif.jpg"
convert -size 400x300 gradient:purple-orange -quality 80 "webp:$d/webp.jpg"
convert -size 64x48 gradient:white-black -colorspace Gray "png:$d/gray.jpg"

convert -size 1200x900 gradient:'#ff1493-#00ced1' -quality 85 "jpg:$d/7.jpg"
for id in 42 123 3589782; do
	cp "$d/7.jpg" "$d/$id.jpg"
done

echo 'this is a text file, not an image' >"$d/text.jpg"

cat >"$d/svg.jpg" <<'SVG'
<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">
  <rect width="400" height="300" fill="red"/>
</svg>
SVG

head -c 2048 "$d/big.jpg" >"$d/trunc.jpg"

# A valid PNG header for a 30000x30000 1-bit grayscale image (900 Mpixel),
# then the zlib data of 8 rows only: a decoder that trusts the header would
# try to allocate gigabytes. Chunk CRCs by Compress::Zlib (part of perl).
perl -MCompress::Zlib -e '
	sub chunk { my ($t, $d) = @_;
		return pack("N", length $d) . $t . $d . pack("N", crc32($t . $d)); }
	my ($w, $h) = (30000, 30000);
	my $row = "\0" x (1 + int(($w + 7) / 8));
	binmode STDOUT;
	print "\x89PNG\r\n\x1a\n",
		chunk("IHDR", pack("NNCCCCC", $w, $h, 1, 0, 0, 0, 0)),
		chunk("IDAT", compress($row x 8)),
		chunk("IEND", "");
' >"$d/huge.jpg"
