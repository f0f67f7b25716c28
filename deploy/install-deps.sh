#!/bin/sh
# Installs the Debian 12 packages that building, running and testing
# image-server need. Installs only what is missing; safe to run twice.
set -eu

PKGS="build-essential pkg-config ca-certificates curl
libfcgi-dev libmagickcore-6.q16-dev libjpeg62-turbo-dev libcurl4-openssl-dev libhiredis-dev libssl-dev
imagemagick libimage-exiftool-perl
nginx-light redis-server redis-tools spawn-fcgi wrk bc clang
apache2-bin lighttpd lighttpd-modules-lua mandoc logrotate systemd
libnginx-mod-http-image-filter"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
