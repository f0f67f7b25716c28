#!/bin/bash
# run.sh - build the libFuzzer targets into build-fuzz/ and run each one.
#
#   bash tests/fuzz/run.sh [SECONDS]     (default 30 seconds per target)
#
# Each target fuzzes a working corpus in build-fuzz/corpus/NAME, seeded from
# the kept corpus tests/fuzz/corpus/NAME, which is also passed read-only:
# libFuzzer writes new inputs only to the first directory, so the kept seeds
# stay small.  A crash leaves its input in build-fuzz/artifacts/.  Ends with
# "fuzz: N passed, M failed"; exits non-zero if any target crashed or did
# not build.  Environment: FUZZ_CC (default clang), FUZZ_FLAGS (extra
# libFuzzer options, e.g. "-jobs=2").
set -u
cd "$(dirname "$0")/../.." || exit 2

secs=${1:-30}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
cc=${FUZZ_CC:-clang}
out=build-fuzz
# -fno-sanitize-recover: an UBSan finding must stop the run like an ASan one,
# or libFuzzer would log it and carry on.
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -fno-omit-frame-pointer -Wall -Wextra -Ilib"

declare -A srcs=(
	[url]="lib/url.c lib/err.c"
	[sniff]="lib/sniff.c lib/err.c"
	[jpegdc]="lib/jpegdc.c lib/jpegdc_split.c lib/err.c -ljpeg -lpthread"
	[decode]="lib/gate.c lib/sniff.c lib/err.c lib/dec_jpeg.c lib/dec_png.c lib/png_rows.c lib/png_shrink.c lib/dec_webp.c lib/decode.c lib/pixels.c lib/jpegdc.c lib/jpegdc_split.c lib/jpegprog.c -lpthread $(pkg-config --cflags --libs libjpeg libpng libdeflate libwebp libwebpdemux 2>/dev/null)"
	[png]="lib/dec_png.c lib/png_rows.c lib/png_shrink.c lib/decode.c lib/dec_jpeg.c lib/dec_webp.c lib/jpegdc.c lib/jpegdc_split.c lib/jpegprog.c lib/sniff.c lib/pixels.c lib/err.c -lpthread $(pkg-config --cflags --libs libjpeg libpng libdeflate libwebp libwebpdemux 2>/dev/null)"
	[color]="lib/color.c lib/pixels.c lib/log.c lib/log_syslog.c lib/err.c $(pkg-config --cflags --libs lcms2 libcrypto 2>/dev/null) -lpthread"
	[gate]="lib/gate.c lib/sniff.c lib/err.c lib/dec_jpeg.c lib/dec_png.c lib/png_rows.c lib/png_shrink.c lib/dec_webp.c lib/decode.c lib/pixels.c lib/jpegdc.c lib/jpegdc_split.c lib/jpegprog.c -lpthread $(pkg-config --cflags --libs MagickCore libjpeg libpng libdeflate libwebp libwebpdemux 2>/dev/null)"
)
# MagickCore (fuzz_gate) keeps caches of its own for the process's life:
# not leaks of ours.
declare -A opts=([gate]="-detect_leaks=0")
passed=0 failed=0

# run_target NAME: builds build-fuzz/fuzz_NAME and fuzzes it for $secs.
run_target() {
	local name=$1 bin=$out/fuzz_$1 log=$out/fuzz_$1.log
	local work=$out/corpus/$1 kept=tests/fuzz/corpus/$1
	local art=$out/artifacts/$1/

	mkdir -p "$work" "$art"
	echo "fuzz_$name: building"
	# shellcheck disable=SC2086 # the flag and source lists split on purpose
	if ! $cc $cflags -o "$bin" "tests/fuzz/fuzz_$name.c" ${srcs[$name]}; then
		echo "fuzz_$name: FAILED to build"
		return 1
	fi
	cp -n "$kept"/* "$work"/ 2>/dev/null
	# The profile target starts from the real profiles `make test`
	# installs (not kept in the repository: they are Debian's).
	if [ "$name" = color ]; then
		find /usr/share/color/icc -name '*.ic[cm]' -size -8k \
			-exec cp -n {} "$work"/ \; 2>/dev/null
	fi
	echo "fuzz_$name: running for ${secs}s (log: $log)"
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of options
	"$bin" -max_len=4096 -max_total_time="$secs" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$art" ${opts[$name]:-} ${FUZZ_FLAGS:-} \
		"$work" "$kept" >"$log" 2>&1
	local rc=$?

	# The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E ...".
	grep -E '^#[0-9]+' "$log" | tail -n 1 | sed "s/^/fuzz_$name: /"
	if [ "$rc" -ne 0 ]; then
		echo "fuzz_$name: CRASHED (exit $rc)"
		grep -E 'ERROR: |runtime error|invariant violated|SUMMARY' "$log" |
			head -n 5 | sed 's/^/  /'
		# The first stack, down to the target's entry point.
		awk '/^ +#[0-9]+ /{print; if (/LLVMFuzzerTestOneInput/) exit}' "$log"
		grep -o 'Test unit written to .*' "$log" |
			sed "s|Test unit written to |  artifact: |"
		grep -o 'Test unit written to .*' "$log" | head -n 1 |
			sed "s|Test unit written to \(.*\)|  reproduce: $bin \1|"
		echo "  full log: $log"
		return 1
	fi
	return 0
}

for name in url sniff jpegdc gate decode png color; do
	if run_target "$name"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
