# shellcheck shell=bash disable=SC2034 # it sets variables for the scripts that source it
# tests/bench/lib.sh: what bench.sh and photos.sh share.  A bash library,
# sourced after deploy/stack.sh, from the repository's root:
#
#   bench_sharp_install NPM_DIR LOG_DIR  # sets HAVE_SHARP (0/1), SHARP_WHY
#   bench_sharp_start PORT STORE         # node sharp-server.js; SHARP=pid
#   bench_sharp_versions                 # one line: node, sharp, libvips
#   bench_link STORE FIRST COUNT MODEL/FIELD ORIG...  # ids as hard links
#   cpu_busy                             # % of CPU busy over one second
#   hwm_reset PID...; hwm_mb PID...      # peak RSS (VmHWM) in MB
#   cpu_ticks PID...                     # user + system time, in ticks
#   psnr FILE REF                        # dB, "inf" when identical
#
# Messages go to stdout prefixed "bench:".

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_sharp_install NPM_DIR LOG_DIR: sharp from package-lock.json (npm
# ci into NPM_DIR, again only when the lock file changed).  HAVE_SHARP=1
# when it loads, else 0 with the reason in SHARP_WHY.
bench_sharp_install() {
	local npm_dir=$1 logs=$2
	HAVE_SHARP=0
	SHARP_WHY=""
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		SHARP_WHY="node or npm is missing"
		return
	fi
	if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=9)?0:1)'; then
		SHARP_WHY="sharp 0.35 needs node >= 20.9 (this is $(node --version))"
		return
	fi
	if ! cmp -s "$BENCH_LIB/package-lock.json" "$npm_dir/package-lock.json" ||
		[ ! -d "$npm_dir/node_modules/sharp" ]; then
		echo "bench: installing sharp (npm ci) into $npm_dir"
		rm -rf "$npm_dir" && mkdir -p "$npm_dir" &&
			cp "$BENCH_LIB/package.json" "$BENCH_LIB/package-lock.json" "$npm_dir/" &&
			(cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$logs/npm.log" 2>&1 ||
			{ rm -f "$npm_dir/package-lock.json"; tail -n 5 "$logs/npm.log"; }
	fi
	if NODE_PATH=$npm_dir/node_modules node -e 'require("sharp")' 2>"$logs/sharp-load.log"; then
		HAVE_SHARP=1
		BENCH_NPM_DIR=$npm_dir
	else
		SHARP_WHY="sharp does not load: $(head -n 1 "$logs/sharp-load.log")"
	fi
}

# bench_sharp_start PORT STORE: sharp-server.js on 127.0.0.1:PORT reading
# originals from STORE, log in $STACK_DIR/sharp.log; SHARP is its pid.
# Call bench_sharp_install first.  Returns non-zero when it does not answer.
bench_sharp_start() {
	NODE_PATH=$BENCH_NPM_DIR/node_modules node "$BENCH_LIB/sharp-server.js" "$1" "$2" \
		>>"$STACK_DIR/sharp.log" 2>&1 &
	_stack_add $! "sharp-server :$1"
	SHARP=$!
	_stack_wait 100 $! "sharp-server :$1 (see $STACK_DIR/sharp.log)" \
		curl -sf -o /dev/null "http://127.0.0.1:$1/health"
}

bench_sharp_versions() {
	echo "node $(node --version), $(NODE_PATH=$BENCH_NPM_DIR/node_modules node -e 'const s=require("sharp"); console.log(`sharp ${s.versions.sharp} (libvips ${s.versions.vips}), libvips threads per image ${s.concurrency()}, libuv pool ${process.env.UV_THREADPOOL_SIZE || 4}`)')"
}

# bench_link STORE FIRST COUNT MODEL/FIELD ORIG [MODEL/FIELD ORIG]...: ids
# FIRST..FIRST+COUNT-1 (4 digits: shard = last two / first two) of each
# MODEL/FIELD become hard links to ORIG in the store, where the responder
# looks first and sharp-server.js reads them.
bench_link() {
	perl -e '
		use File::Path qw(make_path);
		my ($store, $id0, $n, @pairs) = @ARGV;
		while (my ($mf, $orig) = splice(@pairs, 0, 2)) {
			for my $id ($id0 .. $id0 + $n - 1) {
				my $d = "$store/$mf/" . substr($id, 2, 2) . "/" . substr($id, 0, 2) . "/$id";
				make_path($d);
				link($orig, "$d/original") or die "link $d: $!\n";
			}
		}' "$@"
}

# cpu_busy: how busy the CPUs are (all processes), in %, over one second.
cpu_busy() {
	local a b
	a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat)
	echo "$a $b" | awk '{busy = $3 - $1; all = busy + $4 - $2; printf "%d", all ? 100 * busy / all : 0}'
}

# VmHWM is the peak RSS; writing 5 to clear_refs resets it to the current
# RSS.  HWM_RESET becomes 0 when a reset failed (then peaks are since start).
HWM_RESET=1
hwm_reset() {
	local p
	for p in "$@"; do
		echo 5 >"/proc/$p/clear_refs" 2>/dev/null || HWM_RESET=0
	done
}

# proc_sum FILE AWK PID...: the sum over the processes of what the awk
# program AWK prints for /proc/PID/FILE (0 for a process gone).
proc_sum() {
	local file=$1 prog=$2 p v t=0
	shift 2
	for p in "$@"; do
		v=$(awk "$prog" "/proc/$p/$file" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

hwm_mb() {
	echo $((($(proc_sum status '/^VmHWM/ {print $2}' "$@") + 512) / 1024))
}

# cpu_ticks PID...: user + system time of the processes (all threads), in ticks.
cpu_ticks() {
	proc_sum stat '{print $14 + $15}' "$@"
}

# psnr FILE REF: PSNR in dB of FILE against REF ("inf" when identical).
psnr() {
	compare -metric PSNR "$1" "$2" null: 2>&1 >/dev/null | awk '{print $1}'
}
