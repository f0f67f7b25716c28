#!/bin/bash
# tests/bench/photos.sh: the responder against sharp on real photographs,
# one class of original a row (`make bench-photos`; `make bench` runs it
# after its own table).
#
# The originals come from Debian 12 packages, fetched with `apt-get
# download` into tests/out/bench-photos-cache/ (kept between runs, never
# committed) and unpacked with dpkg-deb; where no package has a class, it
# is made from a packaged photograph and the table says so.  Each original
# is the original of ids 1000-1008 of /photo/CLASS/ in the responder's
# store (hard links); sharp-server.js reads the same files.
#
# Per row, on a responder (default flags) and a sharp server both started
# afresh for it:
#   latency  one request at a time: w390 first (not counted), then the
#            five misses w400 ... w404 of id 1000, ours and sharp's in
#            turn; p50 = the median of the five, ratio = ours / sharp's
#            (lower is better; ours goes through nginx and writes the
#            output to the store, sharp writes nothing)
#   memory   8 concurrent misses (w400 of ids 1001-1008): the peak RSS
#            (VmHWM, reset before) of the responder and of sharp's node
#   quality  our w400 against a reference made by ImageMagick: full
#            decode (a GIF's first frame), converted to sRGB with lcms2
#            (convert -profile, colord's sRGB.icc) when the original
#            embeds an ICC profile, EXIF orientation applied, flattened on
#            white, Lanczos to the same size; PSNR >= BENCH_PSNR_MIN (30)
#            or the script fails
#   decoder  what the responder's log says made the output, if it says
# It fails too on an answer of ours that is not 200 or of the wrong size.
# The targets are reported, not enforced.
#
# Environment: BENCH_PSNR_MIN (30), BENCH_PHOTOS_ROWS (the rows to run,
# by key, comma-separated: "prog422,webp"; all by default).  Needs apt-get and dpkg-deb (and the
# Debian archive), nginx, redis-server, spawn-fcgi, ImageMagick, exiftool,
# colord-data or icc-profiles-free (an sRGB profile), node >= 20.9 and npm
# for sharp (else its columns read n/a).  Work files: tests/out/bench-photos/
# (the table: tests/out/bench-photos/photos.md).
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/bench/lib.sh

PSNR_MIN=${BENCH_PSNR_MIN:-30}
OUT=$PWD/tests/out/bench-photos
CACHE=$PWD/tests/out/bench-photos-cache
NPM_DIR=$PWD/tests/out/bench-npm
FAIL=0

fail() {
	echo "photos: FAIL: $*"
	FAIL=1
}

for c in apt-get dpkg-deb nginx redis-server redis-cli spawn-fcgi convert compare identify exiftool curl perl; do
	command -v "$c" >/dev/null || { echo "photos: $c is missing (deploy/install-deps.sh bench)"; exit 1; }
done
[ -x "$STACK_BIN" ] || { echo "photos: $STACK_BIN is missing: run make first (or set STACK_BIN)"; exit 1; }
SRGB_ICC=""
for f in /usr/share/color/icc/colord/sRGB.icc /usr/share/color/icc/sRGB.icc; do
	[ -f "$f" ] && SRGB_ICC=$f && break
done
[ -n "$SRGB_ICC" ] || { echo "photos: no sRGB profile (apt-get install colord-data)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/store" "$OUT/samples" "$CACHE/debs" "$CACHE/orig"

# --- the originals ---------------------------------------------------------------
# The packages, unpacked once into $CACHE/x/PKG.
PKGS="mate-backgrounds gnome-backgrounds ukui-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"
fetch_pkg() {
	local pkg=$1 deb
	deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | head -n 1)
	if [ -z "$deb" ]; then
		echo "photos: apt-get download $pkg"
		(cd "$CACHE/debs" && apt-get download -q "$pkg") >"$OUT/apt-$pkg.log" 2>&1 ||
			{ [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1 &&
				(cd "$CACHE/debs" && apt-get download -q "$pkg") >"$OUT/apt-$pkg.log" 2>&1; } ||
			{ tail -n 3 "$OUT/apt-$pkg.log"; return 1; }
		deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | head -n 1)
	fi
	if [ ! -d "$CACHE/x/$pkg" ]; then
		dpkg-deb -x "$deb" "$CACHE/x/$pkg.tmp" && mv "$CACHE/x/$pkg.tmp" "$CACHE/x/$pkg" || return 1
	fi
	PKG_VERSION[$pkg]=$(basename "$deb" | cut -d_ -f2)
}
declare -A PKG_VERSION
mkdir -p "$CACHE/x"
for p in $PKGS; do
	fetch_pkg "$p" || { echo "photos: could not fetch $p"; exit 1; }
done
BG=usr/share/backgrounds
PHOTOS=$CACHE/x/lomiri-wallpapers-16.04/$BG

# The rows: KEY (the store's field), class, original file in $CACHE/orig,
# output, p50 target (ours / sharp's, "" for none), where it came from.
ROWS=()
row() {
	case ",${BENCH_PHOTOS_ROWS:-$1}," in *",$1,"*) ROWS+=("$1|$2|$3|$4|$5|$6") ;; esac
}
# take PKG PATH NAME: a packaged file as $CACHE/orig/NAME.
take() {
	[ -f "$CACHE/orig/$3" ] && return
	cp "$CACHE/x/$1/$2" "$CACHE/orig/$3.tmp" && mv "$CACHE/orig/$3.tmp" "$CACHE/orig/$3"
}
take mate-backgrounds $BG/mate/abstract/Elephants_5640x3172.jpg Elephants_5640x3172.jpg
take lomiri-wallpapers-16.04 $BG/seeding_by_Clements_Engelhardt.jpg seeding_by_Clements_Engelhardt.jpg
take ukui-wallpapers $BG/rhythm.jpg rhythm.jpg
take mate-backgrounds $BG/mate/nature/Dune.jpg Dune.jpg
take lomiri-wallpapers-20.04 $BG/Kleiber_by_Lukas_Baubkus.jpg Kleiber_by_Lukas_Baubkus.jpg
take lomiri-wallpapers-20.04 $BG/Painting-Colors_by__herobrine7gamer.jpg Painting-Colors_by__herobrine7gamer.jpg
take gnome-backgrounds $BG/gnome/adwaita-l.webp adwaita-l.webp
take gnome-backgrounds $BG/gnome/pixels-l.webp pixels-l.webp
take mate-backgrounds $BG/mate/abstract/Arc-Colors-Transparent-Wallpaper.png Arc-Colors-Transparent-Wallpaper.png
take ukui-wallpapers $BG/calla.png calla.png
# Made from packaged photographs (again when the recipe changes):
#   phone: Kleiber's centre 4032x3024 (a 12 MP phone's frame), baseline
#          4:2:0 at quality 92, then EXIF Orientation 6 (rotate 90 CW)
#   alpha: picosdeeuropa 3264x2448 with a radial alpha (opaque in the
#          middle, clear in the corners), an RGBA PNG
#   png16: aitzgorri 3088x2056 as a 16-bit RGB PNG
#   gif:   six 1200x900 centre crops of six photographs, 256 colours
#          each, 10/100 s a frame, looping
RECIPE="v2 phone alpha png16 gif"
if [ "$(cat "$CACHE/orig/recipe" 2>/dev/null)" != "$RECIPE" ]; then
	echo "photos: making the derived originals in $CACHE/orig"
	frames=()
	for f in life_by_Aitzol_Berasategi sunset_by_Aitzol_Berasategi picosdeeuropa_by_Aitzol_Berasategi \
		Dragonfly_by_Bolly Bridge_by_Sander_Klootwijk umang_by_Abhishek_Mudgal; do
		frames+=('(' "$PHOTOS/$f.jpg" -resize '1200x900^' -gravity center -extent 1200x900 ')')
	done
	convert "$CACHE/x/lomiri-wallpapers-20.04/$BG/Kleiber_by_Lukas_Baubkus.jpg" \
		-gravity center -crop 4032x3024+0+0 +repage -sampling-factor 2x2 -quality 92 \
		-interlace none "$CACHE/orig/phone-4032x3024-o6.jpg" &&
		exiftool -q -overwrite_original -Orientation=6 -n "$CACHE/orig/phone-4032x3024-o6.jpg" &&
		convert "$PHOTOS/picosdeeuropa_by_Aitzol_Berasategi.jpg" \
			'(' -size 3264x2448 radial-gradient:white-black ')' -alpha off \
			-compose CopyOpacity -composite PNG32:"$CACHE/orig/picosdeeuropa-alpha.png" &&
		convert "$PHOTOS/aitzgorri_by_Aitzol_Berasategi.jpg" -depth 16 \
			PNG48:"$CACHE/orig/aitzgorri-16bit.png" &&
		convert "${frames[@]}" -delay 10 -loop 0 "$CACHE/orig/six-photos-animated.gif" &&
		echo "$RECIPE" >"$CACHE/orig/recipe" || { echo "photos: could not make the derived originals"; exit 1; }
fi
V() { echo "${PKG_VERSION[$1]}"; }
row prog422 "progressive JPEG 4:2:2, 8x+" Elephants_5640x3172.jpg w400.jpg 0.25 \
	"mate-backgrounds $(V mate-backgrounds) (a painting)"
row prog420 "progressive JPEG 4:2:0, 8x+" seeding_by_Clements_Engelhardt.jpg w400.jpg 0.25 \
	"lomiri-wallpapers-16.04 $(V lomiri-wallpapers-16.04) (a photograph)"
row prog444 "progressive JPEG 4:4:4, 8x+" rhythm.jpg w400.jpg 0.25 \
	"ukui-wallpapers $(V ukui-wallpapers) (a rendering)"
row phone "phone baseline JPEG 4:2:0, EXIF orientation 6, 2-8x" phone-4032x3024-o6.jpg w400.jpg 0.8 \
	"made: Kleiber_by_Lukas_Baubkus.jpg's centre, re-encoded, exiftool -Orientation=6"
row base422 "baseline JPEG 4:2:2, 2-8x" Dune.jpg w400.jpg 0.8 \
	"mate-backgrounds $(V mate-backgrounds) (a photograph)"
row base422b "baseline JPEG 4:2:2, 8x+" Kleiber_by_Lukas_Baubkus.jpg w400.jpg 0.8 \
	"lomiri-wallpapers-20.04 $(V lomiri-wallpapers-20.04) (a photograph)"
row base444 "baseline JPEG 4:4:4 + ICC profile, 8x+" Painting-Colors_by__herobrine7gamer.jpg w400.jpg 0.8 \
	"lomiri-wallpapers-20.04 $(V lomiri-wallpapers-20.04) (a photograph)"
row webp "WebP lossy 4096x4096" adwaita-l.webp w400.webp 0.8 \
	"gnome-backgrounds $(V gnome-backgrounds) (a rendering)"
row webp2 "WebP lossy 4096x4096" pixels-l.webp w400.webp 0.8 \
	"gnome-backgrounds $(V gnome-backgrounds) (a rendering)"
row pngalpha "PNG with alpha -> WebP" Arc-Colors-Transparent-Wallpaper.png w400.webp 0.8 \
	"mate-backgrounds $(V mate-backgrounds) (white, its alpha draws: all white once flattened)"
row pngalpha2 "PNG with alpha -> WebP" picosdeeuropa-alpha.png w400.webp 0.8 \
	"made: picosdeeuropa_by_Aitzol_Berasategi.jpg (lomiri-wallpapers-16.04) with a radial alpha"
row png "PNG (RGBA, opaque) -> JPEG" calla.png w400.jpg 0.8 \
	"ukui-wallpapers $(V ukui-wallpapers) (a drawing)"
row png16 "16-bit PNG -> JPEG" aitzgorri-16bit.png w400.jpg 0.8 \
	"made: aitzgorri_by_Aitzol_Berasategi.jpg (lomiri-wallpapers-16.04), convert -depth 16"
row gif "animated GIF (first frame) -> GIF" six-photos-animated.gif w400.gif "" \
	"made: six photographs of lomiri-wallpapers-16.04, convert -delay 10 -loop 0"

# The store: ids 1000-1008 of /photo/KEY/ are the row's original.
for r in "${ROWS[@]}"; do
	IFS='|' read -r key _ file _ <<<"$r"
	bench_link "$OUT/store" 1000 9 "photo/$key" "$CACHE/orig/$file" ||
		{ echo "photos: could not fill the store"; exit 1; }
done

# --- servers -----------------------------------------------------------------------
stack_init "$OUT/run" || exit 1
trap stack_stop EXIT
trap 'exit 1' INT TERM
bench_sharp_install "$NPM_DIR" "$OUT"
RPORT=$(stack_free_port 28379)
stack_redis "$RPORT" || exit 1
P_OURS=$(stack_free_port 28080)
P_SHARP=$(stack_free_port $((P_OURS + 1)))
RESP=""
SHARP=""
# fresh_servers: a new responder (default flags but the store, Redis and
# no source; debug log) and a new sharp server, so that each row's peak
# RSS is its own and not what earlier rows left allocated.
fresh_servers() {
	local pid
	for pid in $RESP $SHARP; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		stack_forget "$pid"
	done
	rm -f "$STACK_DIR/img.sock"
	stack_responder img -store "$OUT/store" -redis "127.0.0.1:$RPORT" -log_level debug \
		-source "file://$OUT/no-source/{model}/{field}/{id}" || return 1
	RESP=${STACK_PIDS[-1]}
	if [ "$HAVE_SHARP" -eq 1 ]; then
		bench_sharp_start "$P_SHARP" "$OUT/store" || return 1
	fi
}
fresh_servers || exit 1
stack_nginx img "$P_OURS" "$OUT/store" "$STACK_DIR/img.sock" || exit 1
OURS=http://127.0.0.1:$P_OURS
SHARP_URL=http://127.0.0.1:$P_SHARP

# --- the machine -------------------------------------------------------------------
BUSY=$(cpu_busy)
{
	echo "## real photographs: ours against sharp, one class of original a row"
	echo
	echo "- $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr); responder $STACK_BIN with default flags (-threads 4, -max_memory 192 MiB)"
	[ "$HAVE_SHARP" -eq 1 ] && echo "- $(bench_sharp_versions)"
	echo "- CPU busy with other work just before the run: $BUSY%$([ "$BUSY" -gt 10 ] && echo " (the latencies will be noisy; CPU ms/request less so)"), load average $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/head.md"
cat "$OUT/head.md"
[ "$HAVE_SHARP" -eq 1 ] || echo "photos: no sharp columns: $SHARP_WHY"

# --- measuring ---------------------------------------------------------------------
# get URL FILE: one GET; prints "STATUS MS".
get() {
	curl -s -o "$2" --max-time 120 -w '%{http_code} %{time_total}\n' "$1" |
		awk '{printf "%s %.1f\n", $1, $2 * 1000}'
}
# dB X: a PSNR to one place (anything else as it is).
dB() { awk -v v="$1" 'BEGIN {if (v ~ /^[0-9.]+$/) printf "%.1f", v; else printf "%s", v}'; }
# div A B: A / B to two places, "n/a" when either is missing or 0.
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0 || a + 0 == 0) print "n/a"; else printf "%.2f", a / b}'; }
TCK=$(getconf CLK_TCK)
median() { sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : "-"}'; }
# shown_size FILE: the original's width and height as shown (EXIF
# orientation 5-8 swaps them); a GIF's first frame.
shown_size() {
	identify -format '%w %h %[orientation]\n' "${1}[0]" 2>/dev/null | head -n 1 |
		awk '{if ($3 ~ /^(LeftTop|RightTop|RightBottom|LeftBottom)$/) print $2, $1; else print $1, $2}'
}
# reference ORIG W H OUT: ImageMagick's full decode, to sRGB when ORIG has
# an ICC profile (-profile: lcms2 from the embedded profile to $SRGB_ICC),
# oriented, flattened on white, Lanczos to exactly W x H.
reference() {
	local icc=()
	identify -format '%[profiles]\n' "${1}[0]" 2>/dev/null | grep -qw icc && icc=(-profile "$SRGB_ICC")
	convert "${1}[0]" "${icc[@]}" -auto-orient -background white -alpha remove -alpha off \
		-filter Lanczos -resize "${2}x${3}!" -strip "$4"
}
# quality KEY FILE REF W H GATE: Q = FILE's PSNR against REF, to one place,
# after flattening it on white (a PNG output keeps its alpha); "size WxH"
# when FILE is not W x H.  GATE (ours): "size", the run fails unless FILE
# is W x H; "psnr", unless it is W x H and at least PSNR_MIN dB too.
quality() {
	local key=$1 file=$2 ref=$3 w=$4 h=$5 gate=$6 size p
	local url="/photo/$key/1000/${file##*-}"
	size=$(identify -format '%wx%h' "${file}[0]" 2>/dev/null)
	if [ "$size" != "${w}x$h" ]; then
		[ -n "$gate" ] && fail "$key: GET $url is ${size:-unreadable}, not ${w}x$h"
		Q="size ${size:-?}"
		return
	fi
	convert "${file}[0]" -background white -alpha remove -alpha off "$file.flat.png"
	p=$(psnr "$file.flat.png" "$ref")
	if [ "$gate" = psnr ] && ! awk -v p="$p" -v m="$PSNR_MIN" 'BEGIN {exit !(p == "inf" || p + 0 >= m)}'; then
		fail "$key: GET $url has PSNR $p dB against ImageMagick's reference, under $PSNR_MIN"
	fi
	Q=$(dB "$p")
}
# concurrent BASE KEY OUTPUT PID: 8 misses at once (ids 1001-1008); prints
# the peak RSS in MB and the statuses that were not 200.
concurrent() {
	local base=$1 key=$2 output=$3 pid=$4 codes
	hwm_reset "$pid"
	codes=$(seq 1001 1008 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 120 -w '%{http_code}\n' \
		"$base/photo/$key/{}/$output" | grep -v '^200$' | sort | uniq -c | awk '{printf "%s%sx%s", (NR > 1 ? "," : ""), $1, $2}')
	echo "$(hwm_mb "$pid") $codes"
}

TABLE=()
MEM=()
DECODERS=0 # 1 once the log names a decoder: then the table has the column
for r in "${ROWS[@]}"; do
	IFS='|' read -r key class file output bound origin <<<"$r"
	orig=$CACHE/orig/$file
	ext=${output##*.}
	echo "photos: $key: $file -> $output"
	fresh_servers || { fail "$key: the servers did not start"; break; }
	read -r ow oh < <(shown_size "$orig")
	osize=$(identify -format '%wx%h' "${orig}[0]")
	mp=$(awk -v w="$ow" -v h="$oh" 'BEGIN {printf "%.1f", w * h / 1e6}')
	bytes=$(stat -c %s "$orig")

	# latency: w390 to warm up, then w400..w404, ours and sharp's in turn
	get "$OURS/photo/$key/1000/w390.$ext" /dev/null >/dev/null
	[ "$HAVE_SHARP" -eq 1 ] && get "$SHARP_URL/photo/$key/1000/w390.$ext" /dev/null >/dev/null
	ours=() sharp=() bad=""
	t_ours=0 t_sharp=0
	for w in 400 401 402 403 404; do
		c0=$(cpu_ticks "$RESP")
		read -r code ms < <(get "$OURS/photo/$key/1000/w$w.$ext" "$OUT/samples/ours-$key-w$w.$ext")
		t_ours=$((t_ours + $(cpu_ticks "$RESP") - c0))
		if [ "$code" = 200 ]; then ours+=("$ms"); else
			bad="$bad ours:$code"
			fail "$key: GET /photo/$key/1000/w$w.$ext ($file) answered $code: $(head -c 200 "$OUT/samples/ours-$key-w$w.$ext")"
		fi
		if [ "$HAVE_SHARP" -eq 1 ]; then
			c0=$(cpu_ticks "$SHARP")
			read -r code ms < <(get "$SHARP_URL/photo/$key/1000/w$w.$ext" "$OUT/samples/sharp-$key-w$w.$ext")
			t_sharp=$((t_sharp + $(cpu_ticks "$SHARP") - c0))
			if [ "$code" = 200 ]; then sharp+=("$ms"); else bad="$bad sharp:$code"; fi
		fi
	done
	p_ours=$(printf '%s\n' "${ours[@]}" | median)
	p_sharp=n/a
	[ "$HAVE_SHARP" -eq 1 ] && p_sharp=$(printf '%s\n' "${sharp[@]}" | median)
	ratio=$(div "$p_ours" "$p_sharp")
	# CPU time per request (user + system, all threads; ours without nginx
	# and Redis): less disturbed than latency by other work on the machine
	cpu_ours=$(awk -v t="$t_ours" -v hz="$TCK" 'BEGIN {printf "%.0f", t * 1000 / hz / 5}')
	cpu_sharp=n/a
	[ "$HAVE_SHARP" -eq 1 ] && cpu_sharp=$(awk -v t="$t_sharp" -v hz="$TCK" 'BEGIN {printf "%.0f", t * 1000 / hz / 5}')
	met="-"
	if [ -n "$bound" ]; then
		met=$(awk -v r="$ratio" -v b="$bound" 'BEGIN {if (r == "n/a") print "n/a"; else print (r + 0 <= b) ? "met" : "NOT met"}')
	fi

	# memory: 8 concurrent misses each
	read -r rss_ours codes < <(concurrent "$OURS" "$key" "w400.$ext" "$RESP")
	[ -z "$codes" ] || fail "$key: 8 concurrent misses of /photo/$key/100[1-8]/w400.$ext ($file): answers other than 200: $codes"
	rss_sharp=n/a
	if [ "$HAVE_SHARP" -eq 1 ]; then
		read -r rss_sharp scodes < <(concurrent "$SHARP_URL" "$key" "w400.$ext" "$SHARP")
		[ -z "$scodes" ] || bad="$bad sharp:$scodes"
	fi

	# quality: the reference, then our w400.png (lossless: the pixels the
	# pipeline made) and our timed w400 output, and sharp's of each
	want_h=$(awk -v w="$ow" -v h="$oh" 'BEGIN {printf "%d", h * 400 / w + 0.5}')
	ref=$OUT/samples/ref-$key-400x$want_h.png
	reference "$orig" 400 "$want_h" "$ref"
	code=$(get "$OURS/photo/$key/1000/w400.png" "$OUT/samples/ours-$key-w400.png" | cut -d' ' -f1)
	[ "$code" = 200 ] || fail "$key: GET /photo/$key/1000/w400.png ($file) answered $code"
	quality "$key" "$OUT/samples/ours-$key-w400.png" "$ref" 400 "$want_h" psnr
	q_px=$Q
	quality "$key" "$OUT/samples/ours-$key-w400.$ext" "$ref" 400 "$want_h" size
	q_out=$Q
	if [ "$HAVE_SHARP" -eq 1 ]; then
		get "$SHARP_URL/photo/$key/1000/w400.png" "$OUT/samples/sharp-$key-w400.png" >/dev/null
		quality "$key" "$OUT/samples/sharp-$key-w400.png" "$ref" 400 "$want_h" ""
		q_px="$q_px ($Q)"
		quality "$key" "$OUT/samples/sharp-$key-w400.$ext" "$ref" 400 "$want_h" ""
		q_out="$q_out ($Q)"
	fi

	# decoder: the word before "made" on the log line of our w400
	dec=$(awk -v p="/photo/$key/1000/w400.$ext" '$3 == "GET" && $4 == p && $NF == "made" && NF == 9 {print $8; exit}' \
		"$STACK_DIR/img.log")
	[ -n "$dec" ] && DECODERS=1
	TABLE+=("| $class | $file, ${osize} (${mp} MP), $((bytes / 1024)) KB; $origin | $output | $p_ours | $p_sharp | $ratio | $([ -n "$bound" ] && echo "<= $bound") | $met | $cpu_ours / $cpu_sharp = $(div "$cpu_ours" "$cpu_sharp") | $rss_ours | $rss_sharp | $q_px | $q_out |${dec:+ $dec |}${bad:+ errors:$bad}")
	case $key in prog422 | webp | webp2) MEM+=("$key|$file|$rss_ours|$rss_sharp") ;; esac
	printf 'photos: %-9s p50 ours %7s ms  sharp %7s ms  ratio %5s  CPU ms %s / %s  RSS ours %4s MB  sharp %4s MB  PSNR %s%s%s\n' \
		"$key" "$p_ours" "$p_sharp" "$ratio" "$cpu_ours" "$cpu_sharp" "$rss_ours" "$rss_sharp" "$q_px / $q_out" "" "${bad:+  errors:$bad}"
done
stack_alive || fail "a server died during the run"

# --- the table ---------------------------------------------------------------------
{
	cat "$OUT/head.md"
	echo
	echo "| class | original | output | ours p50 ms | sharp p50 ms | ratio ours/sharp | target | met? | CPU ms/request ours / sharp = ratio | our peak RSS MB, 8 concurrent | sharp peak RSS MB, 8 concurrent | PSNR dB of w400.png, ours (sharp) | PSNR dB of the output, ours (sharp) |$([ "$DECODERS" -eq 1 ] && echo " decoder (our log) |")"
	echo "| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |$([ "$DECODERS" -eq 1 ] && echo " --- |")"
	printf '%s\n' "${TABLE[@]}"
	if [ "${#MEM[@]}" -gt 0 ]; then
		echo
		echo "| memory: 8 concurrent misses, default flags | our peak RSS MB | target | met? | sharp's node MB |"
		echo "| --- | ---: | --- | --- | ---: |"
	fi
	for m in "${MEM[@]}"; do
		IFS='|' read -r key file ro rs <<<"$m"
		echo "| $file -> w400 | $ro | <= 256 | $(awk -v v="$ro" 'BEGIN {print (v + 0 <= 256) ? "met" : "NOT met"}') | $rs |"
	done
	echo
	echo "- p50: the median of five misses (w400 ... w404 of one id) one at a time, after one not counted (w390); ours through nginx, including the write to the store and Redis. The target is on this ratio."
	echo "- CPU ms/request: user + system time of the responder (not nginx, not Redis) and of sharp's node over the same five requests, per request (10 ms ticks): less disturbed than latency by other work on the machine."
	echo "- peak RSS: VmHWM$([ "$HWM_RESET" -eq 1 ] && echo ", reset before the 8 concurrent misses" || echo " (could not be reset: since start)"), of a responder and a sharp server started afresh for each row (after its six requests one at a time)."
	echo "- PSNR: against ImageMagick's full decode, -profile $SRGB_ICC when the original embeds an ICC profile (lcms2), -auto-orient, flattened on white, -filter Lanczos to the same size. w400.png is lossless: it measures decode, colour, orientation and resize, and ours must be >= $PSNR_MIN dB; the output column adds the encoder's loss (quality 75, GIF's 256 colours)."
	[ "$DECODERS" -eq 1 ] || echo "- the responder's log does not name the decoder that made an output."
	[ "$HAVE_SHARP" -eq 1 ] || echo "- no sharp: $SHARP_WHY"
} >"$OUT/photos.md"
echo
cat "$OUT/photos.md"
echo
if [ "$FAIL" -eq 0 ]; then
	echo "photos: passed (table in $OUT/photos.md)"
else
	echo "photos: FAILED"
fi
exit "$FAIL"
