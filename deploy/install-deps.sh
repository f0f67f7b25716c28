#!/bin/sh
# deploy/install-deps.sh [build|run|test|bench]...: install the Debian 12
# packages that each use of the repository needs, and only those that are
# missing; safe to run twice.  Each set includes the ones before it:
#
#   build   compiler, pkg-config and the -dev libraries (`make`)
#   run     + redis-server, nginx, spawn-fcgi, ImageMagick's tools (`make run`)
#   test    + Apache, lighttpd, clang (fuzzing), mandoc, exiftool... (`make test`)
#   bench   + wrk, nginx's image_filter, Node.js for sharp (`make bench`)
#
# As root it calls apt-get; otherwise through sudo.  Without either it
# names the packages and exits 1.
#
#   deploy/install-deps.sh --list SET...     the packages of SET..., one line
#   deploy/install-deps.sh --pkg-config      the pkg-config names the build uses
#   deploy/install-deps.sh --check-libs      exit 1 naming the Debian package
#                                            of each missing library
set -eu

# The libraries: pkg-config name and the Debian package that ships it.
# The Makefile reads its pkg-config list from here (--pkg-config).
LIBS="MagickCore:libmagickcore-6.q16-dev
libcurl:libcurl4-openssl-dev
hiredis:libhiredis-dev
fcgi:libfcgi-dev
libcrypto:libssl-dev
libjpeg:libjpeg62-turbo-dev
libwebp:libwebp-dev
libwebpdemux:libwebp-dev
libpng:libpng-dev
libdeflate:libdeflate-dev
lcms2:liblcms2-dev"

BUILD="build-essential pkg-config"
RUN="redis-server redis-tools nginx-light spawn-fcgi imagemagick curl
ca-certificates procps"
# mandoc lints the man pages (manpages-dev: the pages they cite);
# systemd-analyze verifies the units (procps: the /bin/kill they name);
# redis-sentinel for the failover tests (test_redis, test_sentinel.sh);
# prometheus for its promtool, which lints /metrics (test_ops, test_metrics:
# Debian 12 ships promtool in no smaller package); icc-profiles-free,
# colord-data and libgs-common for the ICC profiles the colour tests
# convert from (ProPhoto, Adobe RGB, grey, CMYK).
TEST="clang libclang-rt-14-dev apache2-bin lighttpd lighttpd-modules-lua
mandoc manpages-dev logrotate systemd libimage-exiftool-perl bc perl
util-linux iproute2
icc-profiles-free colord-data libgs-common redis-sentinel prometheus"
# Node.js and npm for sharp, unless a node is there already (one from
# elsewhere brings its own npm, and Debian's npm would conflict with it).
BENCH="wrk libnginx-mod-http-image-filter"
command -v node >/dev/null || BENCH="$BENCH nodejs npm"

lib_field() { # 1: pkg-config names, 2: Debian packages
	echo "$LIBS" | cut -d: -f"$1"
}

case ${1:-} in
--pkg-config)
	lib_field 1 | tr '\n' ' '
	echo
	exit 0
	;;
--check-libs)
	if ! command -v pkg-config >/dev/null; then
		echo "missing: pkg-config (Debian package pkg-config); run 'make deps'" >&2
		exit 1
	fi
	missing=""
	for pair in $LIBS; do
		pkg-config --exists "${pair%%:*}" && continue
		case " $missing " in *" ${pair#*:} "*) ;; *) missing="$missing ${pair#*:}" ;; esac
	done
	[ -z "$missing" ] && exit 0
	echo "missing libraries; install the Debian packages$missing (or run 'make deps')" >&2
	exit 1
	;;
esac

list=0
[ "${1:-}" = --list ] && list=1 && shift
[ $# -eq 0 ] && set -- build
want="$BUILD $(lib_field 2 | tr '\n' ' ')"
for set in "$@"; do
	case $set in
	build) ;;
	run) want="$want $RUN" ;;
	test) want="$want $RUN $TEST" ;;
	bench) want="$want $RUN $TEST $BENCH" ;;
	*)
		echo "usage: $0 [build|run|test|bench]..." >&2
		exit 2
		;;
	esac
done

if [ $list -eq 1 ]; then
	echo $want | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' '
	echo
	exit 0
fi

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "install-deps: these Debian packages are missing:$missing" >&2
		echo "install-deps: run this as root, or install them: apt-get install$missing" >&2
		exit 1
	fi
	SUDO="sudo"
fi
echo "install-deps: installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends $missing >/dev/null
