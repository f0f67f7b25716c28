#!/bin/sh
# tests/bench/pixels_bench.sh [PHOTO...]: the 8-bit resizer and encoders
# against MagickCore on this machine (not in `make test`; about a minute
# on 2 cores): resize_bench (ms and PSNR against ResizeImage's Lanczos)
# and encode_bench (ms, bytes and PSNR against ImageToBlob); with PHOTOs,
# make_bench too (where the time of a whole output goes: decode and
# colour, resize, encode).  Prints markdown tables.
#
# Inputs are MagickCore's plasma:fractal and a gradient, and each PHOTO
# given.  Debian's mate-backgrounds carries photographs:
#   apt-get download mate-backgrounds && dpkg-deb -x mate-backgrounds_*.deb /tmp/mb
#   tests/bench/pixels_bench.sh /tmp/mb/usr/share/backgrounds/mate/nature/Dune.jpg
# BUILD (build) is the make build directory; RUNS (7) the runs per figure,
# of which the fastest is shown.
set -eu
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
make -s --no-print-directory BUILD="$build" \
	"$build/tests/bench/resize_bench" "$build/tests/bench/encode_bench" \
	"$build/tests/bench/make_bench"
echo "## resize_pixels() against MagickCore's ResizeImage (Lanczos, 1 thread)"
echo
"$build/tests/bench/resize_bench" -r "${RUNS:-7}" "$@"
echo
echo "## encode_*() against MagickCore's ImageToBlob (1 thread)"
echo
"$build/tests/bench/encode_bench" -r "${RUNS:-7}" "$@"
if [ $# -gt 0 ]; then
	echo
	echo "## image_make() of each PHOTO, by stage (1 thread)"
	echo
	"$build/tests/bench/make_bench" -r "${RUNS:-7}" "$@" -- w400.jpg w400.webp 300x200.jpg
fi
