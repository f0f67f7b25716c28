#!/bin/bash
# tests/bench/bench.sh: image-server against its peers, on this machine.
#
# Generates originals (3000x2000 and 6000x4000 JPEGs, a 1600x1200 PNG with
# alpha), starts on loopback redis-server, the responder under spawn-fcgi
# with nginx in front (deploy/nginx/image-server.conf), a plain static
# nginx, nginx with image_filter, and sharp (tests/bench/sharp-server.js),
# drives each with wrk and prints a markdown table:
#
#   hit     a stored w300.jpg through our nginx config vs plain nginx
#           serving the same file by its store path (64 connections)
#   miss    3000x2000 JPEG -> w300.jpg, 8 connections: ours, sharp,
#           image_filter; the same, 16 connections: ours (the memory
#           target), sharp; 6000x4000 JPEG -> x400.jpg, 1 connection (p50
#           latency): ours, sharp; 1600x1200 PNG with alpha -> w300.webp,
#           8 connections: ours, sharp
#   herd    64 concurrent requests for one new output: the responder's log
#           must show it made once
#
# Every miss request asks for a different output (another id; the ids are
# all hard links to one original in the store; see tests/bench/bench.lua),
# so nothing is a hit.  Peak RSS is VmHWM, reset before each run (clear_refs):
# the responder's for our misses, node's for sharp, the nginx workers' for
# the static servers and image_filter.  Then a quality check: each of our
# outputs against a reference made by `convert` (Lanczos, same size, from
# the same original), PSNR >= BENCH_PSNR_MIN dB (30) or the script fails;
# it fails too on herd duplicates and on non-2xx answers or socket errors.
# The targets (ratios) are reported, not enforced.  Then, with its own
# servers, the table of real photographs (tests/bench/photos.sh), appended
# to the same file; it fails the run as its own PSNR check does.
#
# Environment: BENCH_SECONDS (5 per wrk run), BENCH_ROUNDS (3: each server
# and scenario runs that many times, in turn with its peers, and the best
# round is kept), BENCH_THREADS (responder threads; 2 per core, at least
# 4), BENCH_PSNR_MIN (30), BENCH_PERF=1 (perf profile of the responder
# during the first 8-connection miss run), BENCH_PHOTOS=0 (without the
# table of real photographs).
# Needs wrk, nginx, libnginx-mod-http-image-filter (else its row is
# skipped), node >= 20.9 and npm (else sharp's rows are skipped; sharp is
# installed from package-lock.json into tests/out/bench-npm), ImageMagick.
# Work files: tests/out/bench/ (the table: tests/out/bench/bench.md).
set -u
cd "$(dirname "$0")/../.." || exit 1
. deploy/stack.sh
. tests/e2e/lib.sh # log_count
. tests/bench/lib.sh

SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CORES=$(nproc)
THREADS=${BENCH_THREADS:-$((CORES * 2 > 4 ? CORES * 2 : 4))}
PSNR_MIN=${BENCH_PSNR_MIN:-30}
OUT=$PWD/tests/out/bench
ORIG=$PWD/tests/out/bench-orig # generated once, kept between runs
NPM_DIR=$PWD/tests/out/bench-npm
BENCH=$PWD/tests/bench
ID0=1000 NIDS=8000 # ids 1000..8999, 4 digits: shard = last two / first two
FAIL=0

fail() {
	echo "bench: FAIL: $*"
	FAIL=1
}

for c in wrk nginx redis-server redis-cli spawn-fcgi convert compare identify curl perl; do
	command -v "$c" >/dev/null || { echo "bench: $c is missing (see /tmp/deps-bench.txt)"; exit 1; }
done
[ -x "$STACK_BIN" ] || { echo "bench: $STACK_BIN is missing: run make first (or set STACK_BIN)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/store" "$OUT/samples" "$OUT/herd" "$ORIG"
stack_init "$OUT/run" || exit 1
trap stack_stop EXIT
trap 'exit 1' INT TERM

# --- sharp -------------------------------------------------------------------
bench_sharp_install "$NPM_DIR" "$OUT"
HAVE_IF=0
[ -f /usr/lib/nginx/modules/ngx_http_image_filter_module.so ] && HAVE_IF=1

# --- the machine ---------------------------------------------------------------
echo "## machine"
echo
echo "- cores: $CORES ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), memory $(awk '/^MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "- $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(convert -version | head -n 1 | sed 's/^Version: //; s/ https.*//'), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')"
[ "$HAVE_SHARP" -eq 1 ] && echo "- $(bench_sharp_versions)"
echo "- responder: $STACK_BIN, -threads $THREADS (OpenMP threads per image: cores / threads, at least 1)"
echo "- wrk: $ROUNDS rounds of ${SECS}s per server and scenario"
BUSY=$(cpu_busy)
echo "- CPU busy with other work just before the run: $BUSY%$([ "$BUSY" -gt 10 ] && echo " (the figures will be noisy; the CPU ms/req column less so)")"
echo

# --- originals -------------------------------------------------------------------
# plasma:fractal with a little Gaussian noise: colour gradients plus
# sensor-like grain, so the JPEGs are as large as a camera's (q90, 4:2:0).
GEN_STAMP="v1 3000x2000 6000x4000 1600x1200a"
if [ "$(cat "$ORIG/stamp" 2>/dev/null)" != "$GEN_STAMP" ]; then
	echo "bench: generating originals in $ORIG"
	convert -size 3000x2000 -seed 7 plasma:fractal -attenuate 0.4 +noise Gaussian \
		-sampling-factor 2x2 -quality 90 "$ORIG/a3k.jpg" &&
		convert -size 6000x4000 -seed 8 plasma:fractal -attenuate 0.4 +noise Gaussian \
			-sampling-factor 2x2 -quality 90 "$ORIG/a6k.jpg" &&
		convert -size 1600x1200 -seed 9 plasma:fractal \
			\( -size 1600x1200 radial-gradient:white-black \) -alpha off \
			-compose CopyOpacity -composite PNG32:"$ORIG/alpha.png" &&
		echo "$GEN_STAMP" >"$ORIG/stamp" || { echo "bench: could not generate originals"; exit 1; }
fi
for f in a3k.jpg a6k.jpg alpha.png; do
	identify -format "- original $f: %wx%h %m %[channels], %b\n" "$ORIG/$f"
done
echo

# The store: ids ID0.. of bench/a3k, bench/a6k and bench/png are hard links
# to the three originals, where the responder looks first (and sharp and
# image_filter read them from there too).
STORE=$OUT/store
bench_link "$STORE" "$ID0" "$NIDS" bench/a3k "$ORIG/a3k.jpg" bench/a6k "$ORIG/a6k.jpg" \
	bench/png "$ORIG/alpha.png" ||
	{ echo "bench: could not fill the store"; exit 1; }

# --- servers ---------------------------------------------------------------------
RPORT=$(stack_free_port 27379)
stack_redis "$RPORT" || exit 1
stack_responder img -store "$STORE" -threads "$THREADS" -e production \
	-redis "127.0.0.1:$RPORT" -source "file://$OUT/no-source/{model}/{field}/{id}" || exit 1
RESP=${STACK_PIDS[-1]}
P_OURS=$(stack_free_port 27080)
stack_nginx img "$P_OURS" "$STORE" "$STACK_DIR/img.sock" || exit 1
NG_OURS=${STACK_PIDS[-1]}
P_STATIC=$(stack_free_port $((P_OURS + 1)))
sed -e "s|@PORT@|$P_STATIC|; s|@STORE@|$STORE|" "$BENCH/nginx-static.conf" >"$STACK_DIR/static-server.conf"
_stack_nginx_run static "$P_STATIC" "$STACK_DIR/static-server.conf" || exit 1
NG_STATIC=${STACK_PIDS[-1]}
if [ "$HAVE_IF" -eq 1 ]; then
	P_IF=$(stack_free_port $((P_STATIC + 1)))
	mkdir -p "$STACK_DIR/tmp/imgfilter"
	user=""
	[ "$(id -u)" -eq 0 ] && user="user root;"
	sed -e "s|@PORT@|$P_IF|; s|@STORE@|$STORE|; s|@DIR@|$STACK_DIR|g; s|@USER@|$user|; s|@WORKERS@|$CORES|" \
		"$BENCH/nginx-image-filter.conf" >"$STACK_DIR/imgfilter-nginx.conf"
	if nginx -t -q -p "$STACK_DIR" -c "$STACK_DIR/imgfilter-nginx.conf" \
		-e "$STACK_DIR/imgfilter-error.log" 2>>"$STACK_DIR/imgfilter.out"; then
		nginx -p "$STACK_DIR" -c "$STACK_DIR/imgfilter-nginx.conf" \
			-e "$STACK_DIR/imgfilter-error.log" >>"$STACK_DIR/imgfilter.out" 2>&1 &
		_stack_add $! "nginx imgfilter :$P_IF"
		NG_IF=$!
		_stack_wait 100 $! "nginx imgfilter :$P_IF" stack_port_open "$P_IF" || exit 1
	else
		echo "bench: nginx with image_filter does not start; skipping it:"
		tail -n 3 "$STACK_DIR/imgfilter.out"
		HAVE_IF=0
	fi
fi
if [ "$HAVE_SHARP" -eq 1 ]; then
	P_SHARP=$(stack_free_port $((P_STATIC + 2)))
	bench_sharp_start "$P_SHARP" "$STORE" || exit 1
fi
[ "$HAVE_SHARP" -eq 1 ] || echo "bench: no sharp rows: $SHARP_WHY"
[ "$HAVE_IF" -eq 1 ] || echo "bench: no image_filter row (apt-get install libnginx-mod-http-image-filter)"

# --- measuring ---------------------------------------------------------------------
# nginx's workers (the children of its master) into the array named $2.
workers() { mapfile -t "$2" < <(pgrep -P "$1"); }
declare -A RPS P50 P99 RSS PEAK CPU NOTE
RESP_PEAK=0
TCK=$(getconf CLK_TCK)

# measure KEY BASE TEMPLATE START COUNT CONNS PID...: one wrk run of
# bench.lua.  PIDs are the server's processes: their peak RSS (summed) and
# their CPU time per request are recorded.  Run once per round: KEY keeps
# the round with the most req/s (the least disturbed by whatever else runs
# on the machine), the peak RSS of the first round (RSS) and the highest
# of all rounds (PEAK).  A server keeps memory it once needed (malloc does
# not give everything back), so later runs start from the earlier ones'
# high-water mark: the first round, in the table's order, shows what each
# scenario needs after the ones above it.
measure() {
	local key=$1 base=$2 tmpl=$3 start=$4 count=$5 conns=$6
	shift 6
	local t=$((conns < CORES ? conns : CORES)) f=$OUT/wrk-$key-$ROUND.txt
	local rps p50 p99 reqs non2xx errs wrapped c0 c1 cpu rss note=""
	hwm_reset "$@"
	c0=$(cpu_ticks "$@")
	wrk -t "$t" -c "$conns" -d "${SECS}s" --timeout 30s -s "$BENCH/bench.lua" \
		"$base" -- "$tmpl" "$start" "$count" "$t" >"$f" 2>&1
	c1=$(cpu_ticks "$@")
	read -r _ rps p50 p99 reqs non2xx errs wrapped < <(grep '^result ' "$f")
	if [ -z "${rps:-}" ] || [ "${reqs:-0}" -eq 0 ]; then
		fail "$key: wrk gave no result (see $f)"
		return
	fi
	rss=$(hwm_mb "$@")
	cpu=$(awk -v d=$((c1 - c0)) -v tck="$TCK" -v n="$reqs" 'BEGIN {printf "%.3f", d * 1000 / tck / n}')
	[ "$non2xx" -eq 0 ] || { note=" (!$non2xx non-2xx)"; fail "$key: $non2xx non-2xx answers of $reqs"; }
	[ "$errs" -eq 0 ] || { note="$note (!$errs socket errors)"; fail "$key: $errs socket errors"; }
	[ "$wrapped" -eq 0 ] || { note="$note (ids wrapped: some hits)"; echo "bench: $key: more than $count requests, some were hits"; }
	printf 'bench: round %d %-14s %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  peak RSS %4d MB  CPU %7.3f ms/req  (%d requests)\n' \
		"$ROUND" "$key" "$rps" "$p50" "$p99" "$rss" "$cpu" "$reqs"
	if [ -z "${RPS[$key]:-}" ] || awk -v a="$rps" -v b="${RPS[$key]}" 'BEGIN {exit !(a > b)}'; then
		RPS[$key]=$rps P50[$key]=$p50 P99[$key]=$p99 CPU[$key]=$cpu NOTE[$key]=$note
	fi
	[ "$ROUND" -eq 0 ] && RSS[$key]=$rss
	PEAK[$key]=$((rss > ${PEAK[$key]:-0} ? rss : ${PEAK[$key]:-0}))
}

OURS=http://127.0.0.1:$P_OURS
SHARP_URL=http://127.0.0.1:${P_SHARP:-0}
IF_URL=http://127.0.0.1:${P_IF:-0}
# A few requests to every server first (another output than the runs ask
# for): page cache, nginx's open files, node's JIT, the allocators.
warm() {
	local base=$1 spec
	shift
	for spec in "$@"; do
		curl -s -o /dev/null --max-time 60 "$base/bench/$spec"
	done
}
warm "$OURS" a3k/1000/w301.jpg a3k/1001/w301.jpg a6k/1000/x401.jpg png/1000/w301.webp
[ "$HAVE_SHARP" -eq 1 ] && warm "$SHARP_URL" a3k/1000/w301.jpg a3k/1001/w301.jpg \
	a6k/1000/x401.jpg png/1000/w301.webp
[ "$HAVE_IF" -eq 1 ] && warm "$IF_URL" a3k/1000/w301.jpg a3k/1001/w301.jpg

# hit: one stored output, by our URL through our config, and by its store
# path through plain nginx.
HIT=/bench/a3k/1000/w300.jpg
curl -s -o /dev/null --max-time 60 "$OURS$HIT"
if [ ! -f "$STORE/bench/a3k/00/10/1000/w300.jpg" ] ||
	curl -sI "$OURS$HIT" | grep -qi '^X-Image-Server'; then
	fail "hit: $HIT is not served by nginx from the store"
fi

# The rounds: in each, every server in turn, so that a burst of other work
# on the machine hurts one round, not one server.  Each round of our misses
# asks for ids no earlier round made: round r uses ids from ID0 + r * SPAN.
SPAN=$((NIDS / ROUNDS))
PERF_PID=""
for ((ROUND = 0; ROUND < ROUNDS; ROUND++)); do
	ID=$((ID0 + ROUND * SPAN + 1)) # + 1: id 1000 is the hit
	workers "$NG_OURS" W_OURS
	workers "$NG_STATIC" W_STATIC
	measure hit-ours "$OURS" "$HIT" 0 0 64 "${W_OURS[@]}"
	measure hit-static "http://127.0.0.1:$P_STATIC" /bench/a3k/00/10/1000/w300.jpg 0 0 64 "${W_STATIC[@]}"

	# miss: 3000x2000 -> w300.jpg, 8 connections
	if [ "${BENCH_PERF:-0}" = 1 ] && [ "$ROUND" -eq 0 ] && command -v perf >/dev/null; then
		perf record -F 499 -g -p "$RESP" -o "$OUT/perf.data" -- sleep $((SECS > 3 ? SECS - 2 : 1)) \
			>"$OUT/perf.log" 2>&1 &
		PERF_PID=$!
	fi
	measure w300-ours "$OURS" "/bench/a3k/{id}/w300.jpg" "$ID" $((SPAN - 1)) 8 "$RESP"
	[ -n "$PERF_PID" ] && wait "$PERF_PID" && PERF_PID=""
	[ "$HAVE_SHARP" -eq 1 ] &&
		measure w300-sharp "$SHARP_URL" "/bench/a3k/{id}/w300.jpg" "$ID" $((SPAN - 1)) 8 "$SHARP"
	[ "$HAVE_IF" -eq 1 ] && workers "$NG_IF" W_IF &&
		measure w300-imgfilter "$IF_URL" "/bench/a3k/{id}/w300.jpg" "$ID" $((SPAN - 1)) 8 "${W_IF[@]}"

	# memory: 3000x2000 -> w300, 16 connections (w300-q75.jpg: the same
	# work as w300.jpg under another name, so these are misses too)
	measure mem-ours "$OURS" "/bench/a3k/{id}/w300-q75.jpg" "$ID" $((SPAN - 1)) 16 "$RESP"
	[ "$HAVE_SHARP" -eq 1 ] &&
		measure mem-sharp "$SHARP_URL" "/bench/a3k/{id}/w300.jpg" "$ID" $((SPAN - 1)) 16 "$SHARP"

	# miss: 6000x4000 -> x400.jpg, 1 connection: the latency of one image
	measure x400-ours "$OURS" "/bench/a6k/{id}/x400.jpg" "$ID" $((SPAN - 1)) 1 "$RESP"
	[ "$HAVE_SHARP" -eq 1 ] &&
		measure x400-sharp "$SHARP_URL" "/bench/a6k/{id}/x400.jpg" "$ID" $((SPAN - 1)) 1 "$SHARP"

	# miss: 1600x1200 PNG with alpha -> w300.webp (flattened on white)
	measure webp-ours "$OURS" "/bench/png/{id}/w300.webp" "$ID" $((SPAN - 1)) 8 "$RESP"
	[ "$HAVE_SHARP" -eq 1 ] &&
		measure webp-sharp "$SHARP_URL" "/bench/png/{id}/w300.webp" "$ID" $((SPAN - 1)) 8 "$SHARP"
done
SHARP_PEAK=0
for k in w300-ours mem-ours x400-ours webp-ours; do
	RESP_PEAK=$((${PEAK[$k]:-0} > RESP_PEAK ? ${PEAK[$k]:-0} : RESP_PEAK))
done
for k in w300-sharp mem-sharp x400-sharp webp-sharp; do
	SHARP_PEAK=$((${PEAK[$k]:-0} > SHARP_PEAK ? ${PEAK[$k]:-0} : SHARP_PEAK))
done
if [ -f "$OUT/perf.data" ]; then
	perf report -i "$OUT/perf.data" --stdio --no-children --sort dso 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n 8 >"$OUT/perf.txt"
	echo "bench: perf profile of the responder, 8-connection misses, by library:"
	sed 's/^/    /' "$OUT/perf.txt"
fi
if [ "$HAVE_SHARP" -eq 1 ]; then
	curl -s -o "$OUT/samples/sharp-w300.jpg" "$SHARP_URL/bench/a3k/1001/w300.jpg"
	curl -s -o "$OUT/samples/sharp-x400.jpg" "$SHARP_URL/bench/a6k/1000/x400.jpg"
	curl -s -o "$OUT/samples/sharp-w300.webp" "$SHARP_URL/bench/png/1000/w300.webp"
fi
[ "$HAVE_IF" -eq 1 ] &&
	curl -s -o "$OUT/samples/imgfilter-w300.jpg" "$IF_URL/bench/a3k/1001/w300.jpg"

# herd: 64 concurrent requests for one output nobody asked for yet
HERD=/bench/a6k/1000/x800.jpg
seq 64 | xargs -P 64 -I{} curl -s -o "$OUT/herd/{}.jpg" -w '%{http_code}\n' --max-time 60 \
	"$OURS$HERD" >"$OUT/herd/codes.txt"
sleep 0.5 # the log line is written after the answer
H_OK=$(grep -c '^200$' "$OUT/herd/codes.txt")
H_SAME=$(md5sum "$OUT"/herd/*.jpg | awk '{print $1}' | sort -u | wc -l)
H_MADE=$(log_count made "$HERD" "$STACK_DIR/img.log")
H_WAITED=$(log_count waited "$HERD" "$STACK_DIR/img.log")
H_STORE=$(log_count store "$HERD" "$STACK_DIR/img.log")
H_NGINX=$((64 - H_MADE - H_WAITED - H_STORE))
HERD_LINE="herd: 64 concurrent GET $HERD: $H_OK answered 200, $H_SAME distinct bodies; responder: made $H_MADE, waited $H_WAITED, store $H_STORE; nginx from the store: $H_NGINX; decodes: $H_MADE"
[ "$H_OK" -eq 64 ] || fail "herd: $((64 - H_OK)) answers were not 200"
[ "$H_SAME" -eq 1 ] || fail "herd: the answers differ"
[ "$H_MADE" -eq 1 ] || fail "herd: made $H_MADE times, not once"

stack_alive || fail "a server died during the run"

# --- quality ---------------------------------------------------------------------
# reference ORIG FIT W H OUT: convert's Lanczos resize of ORIG, flattened on
# white; FIT is "w" (W x H exactly) or "fill" (cover, centre crop).
reference() {
	local geo
	case $2 in
	w) geo=(-resize "${3}x${4}!") ;;
	fill) geo=(-resize "${3}x${4}^" -gravity center -extent "${3}x${4}") ;;
	esac
	convert "$1" -auto-orient -background white -alpha remove -alpha off \
		-filter Lanczos "${geo[@]}" "$5"
}
QUALITY=()
# check WHO FILE ORIG FIT W H: compare one output with its reference.
check() {
	local who=$1 file=$2 orig=$3 fit=$4 w=$5 h=$6 size p ok="" ref
	ref=$OUT/samples/ref-${orig##*/}-$fit-${w}x$h.png
	[ -f "$ref" ] || reference "$orig" "$fit" "$w" "$h" "$ref"
	size=$(identify -format '%wx%h' "$file" 2>/dev/null)
	if [ "$size" != "${w}x$h" ]; then
		[ "$who" = ours ] && fail "quality: $file is '$size', not ${w}x$h"
		QUALITY+=("| $(basename "$file") | $who | ${size:-unreadable} (expected ${w}x$h) | - | |")
		return
	fi
	p=$(psnr "$file" "$ref")
	if [ "$who" = ours ]; then
		if awk -v p="$p" -v m="$PSNR_MIN" 'BEGIN {exit !(p == "inf" || p + 0 >= m)}'; then
			ok="ok"
		else
			ok="UNDER $PSNR_MIN dB"
			fail "quality: $file has PSNR $p dB against convert's, under $PSNR_MIN"
		fi
	fi
	QUALITY+=("| $3 -> $(basename "$file") | $who | ${w}x$h | $p | $ok |")
}
# sample MF NAME: copy one output the responder made during a run.
sample() {
	local f
	for f in "$STORE/bench/$1"/*/*/*/"$2"; do
		[ -f "$f" ] && cp "$f" "$OUT/samples/ours-$2" && return
	done
}
sample a3k w300.jpg
sample a6k x400.jpg
sample png w300.webp
sample a6k x800.jpg
check ours "$OUT/samples/ours-w300.jpg" "$ORIG/a3k.jpg" w 300 200
check ours "$OUT/samples/ours-x400.jpg" "$ORIG/a6k.jpg" fill 400 400
check ours "$OUT/samples/ours-w300.webp" "$ORIG/alpha.png" w 300 225
check ours "$OUT/samples/ours-x800.jpg" "$ORIG/a6k.jpg" fill 800 800
if [ "$HAVE_SHARP" -eq 1 ]; then
	check sharp "$OUT/samples/sharp-w300.jpg" "$ORIG/a3k.jpg" w 300 200
	check sharp "$OUT/samples/sharp-x400.jpg" "$ORIG/a6k.jpg" fill 400 400
	check sharp "$OUT/samples/sharp-w300.webp" "$ORIG/alpha.png" w 300 225
fi
[ "$HAVE_IF" -eq 1 ] &&
	check image_filter "$OUT/samples/imgfilter-w300.jpg" "$ORIG/a3k.jpg" w 300 200

# --- the table -------------------------------------------------------------------
# ratio A B: A / B to two places ("-" when B is 0 or missing).
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
# meets VALUE OP BOUND: "met" or "not met" (OP is >= or <=).
meets() {
	awk -v v="$1" -v op="$2" -v b="$3" 'BEGIN {
		if (v == "-") { print "-"; exit }
		ok = (op == ">=") ? (v + 0 >= b) : (v + 0 <= b)
		print ok ? "met" : "NOT met" }'
}
# row SCENARIO SERVER KEY RATIO TARGET
row() {
	local k=$3
	if [ -z "${RPS[$k]:-}" ]; then
		return
	fi
	printf '| %s | %s | %.1f | %.1f | %.1f | %s | %s | %s | %s |\n' "$1" "$2${NOTE[$k]:-}" \
		"${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${RSS[$k]}" "$4" "$5" "${CPU[$k]}"
}
target() { # target KEY_OURS KEY_PEER METRIC OP BOUND
	local r
	if [ "$3" = p50 ]; then r=$(ratio "${P50[$1]:-}" "${P50[$2]:-}"); else r=$(ratio "${RPS[$1]:-}" "${RPS[$2]:-}"); fi
	echo "$r ($3)|$([ -n "$5" ] && echo "$4 $5: $(meets "$r" "$4" "$5")")"
}
{
	echo "## results ($CORES cores; best of $ROUNDS rounds of ${SECS}s)"
	echo
	echo "| scenario | server | req/s | p50 ms | p99 ms | peak RSS MB | ratio ours/peer | target | server CPU ms/req |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |"
	row "hit w300.jpg, 64 conns" "ours: nginx, image-server.conf" hit-ours "" ""
	IFS='|' read -r r t < <(target hit-ours hit-static req/s ">=" 0.9)
	row "" "plain nginx, static file" hit-static "$r" "$t"
	row "miss 3000x2000 JPEG -> w300.jpg, 8 conns" "ours: responder -threads $THREADS" w300-ours "" ""
	IFS='|' read -r r t < <(target w300-ours w300-sharp req/s ">=" 1.25)
	row "" "sharp" w300-sharp "$r" "$t"
	IFS='|' read -r r t < <(target w300-ours w300-imgfilter req/s "" "")
	row "" "nginx image_filter ($CORES workers)" w300-imgfilter "$r" ""
	row "miss 3000x2000 JPEG -> w300, 16 conns" "ours" mem-ours "" \
		"RSS <= 128 MB: $(meets "${RSS[mem-ours]:-}" "<=" 128)"
	IFS='|' read -r r t < <(target mem-ours mem-sharp req/s "" "")
	row "" "sharp" mem-sharp "$r" ""
	row "miss 6000x4000 JPEG -> x400.jpg, 1 conn" "ours" x400-ours "" ""
	IFS='|' read -r r t < <(target x400-ours x400-sharp p50 "<=" 0.8)
	row "" "sharp" x400-sharp "$r" "$t"
	row "miss 1600x1200 PNG+alpha -> w300.webp, 8 conns" "ours" webp-ours "" ""
	IFS='|' read -r r t < <(target webp-ours webp-sharp req/s "" "")
	row "" "sharp" webp-sharp "$r" ""
	echo
	echo "- each row: the round with the most req/s; peak RSS: the first round's (run in the table's order, so each includes what the rows above left allocated)."
	echo "- peak RSS and CPU: ours = the responder for misses (nginx's worker in front adds a few MB), the nginx workers for hits; sharp = the node process; image_filter = its workers.$([ "$HWM_RESET" -eq 1 ] && echo " VmHWM reset before each run." || echo " VmHWM could not be reset: peaks since start.") CPU ms/req is user + system time of those processes over the run, per request: less disturbed than req/s by other work on the machine; wrk, and for ours nginx and redis-server, are not in it."
	echo "- peak RSS over all miss runs of all rounds (later rounds start after the PNG misses): responder $RESP_PEAK MB$([ "$HAVE_SHARP" -eq 1 ] && echo ", sharp's node $SHARP_PEAK MB")"
	echo "- our misses also write each output to the store (temp file, fsync, rename, fsync of the directory) and record it in Redis; sharp and image_filter write nothing."
	echo "- $HERD_LINE"
	echo
	echo "## quality: PSNR against convert -filter Lanczos (same original, same size), bound for ours: >= $PSNR_MIN dB"
	echo
	echo "| output | server | size | PSNR dB | check |"
	echo "| --- | --- | --- | ---: | --- |"
	for q in "${QUALITY[@]}"; do
		echo "${q//$ORIG\//}"
	done
} | tee "$OUT/bench.md"
[ "$HAVE_SHARP" -eq 1 ] || echo "(no sharp rows: $SHARP_WHY)" | tee -a "$OUT/bench.md"

# --- real photographs (tests/bench/photos.sh, its own servers) --------------------
if [ "${BENCH_PHOTOS:-1}" = 1 ]; then
	stack_stop
	echo
	bash tests/bench/photos.sh || fail "real photographs (tests/bench/photos.sh)"
	[ -f tests/out/bench-photos/photos.md ] &&
		{ echo; cat tests/out/bench-photos/photos.md; } >>"$OUT/bench.md"
fi
echo
if [ "$FAIL" -eq 0 ]; then
	echo "bench: passed (table in $OUT/bench.md)"
else
	echo "bench: FAILED"
fi
exit "$FAIL"
