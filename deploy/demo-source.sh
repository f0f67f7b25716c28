#!/bin/sh
# deploy/demo-source.sh DIR: make the demo originals that `make run` serves,
# as a file:// source laid out DIR/{model}/{field}/{id}.jpg:
#   user/avatar/3589782       1600x1200 plasma (seeded, so always the same)
#   product/image/10855050    1600x1200 gradient with coloured discs
# Quiet on success; skips files that already exist.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1

avatar=$dir/user/avatar/3589782.jpg
product=$dir/product/image/10855050.jpg
mkdir -p "$(dirname "$avatar")" "$(dirname "$product")"

# Write to a temporary name and rename, so an interrupted run leaves no
# half-written original behind.
if [ ! -s "$avatar" ]; then
	convert -size 1600x1200 -seed 7 plasma:gold-firebrick \
		-quality 90 "jpg:$avatar.tmp"
	mv "$avatar.tmp" "$avatar"
fi

if [ ! -s "$product" ]; then
	convert -size 1600x1200 gradient:'#1e90ff-#ff1493' \
		-fill '#ffd700' -draw 'circle 400,600 400,300' \
		-fill '#32cd32' -draw 'circle 1000,400 1000,250' \
		-fill '#ffffff' -draw 'circle 1250,900 1250,780' \
		-quality 90 "jpg:$product.tmp"
	mv "$product.tmp" "$product"
fi
