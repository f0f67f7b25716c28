#!/bin/bash
# tests/fresh/fresh-check.sh: the README's two first commands on a new
# Debian 12 machine, for real (`make fresh-check`; not in `make test`).
#
# Makes a Debian 12 root with `debootstrap --variant=minbase bookworm`,
# adds only make and git, clones this repository's HEAD into it, and makes
# two copies of it; in a chroot of each, as a newcomer's first command:
#   1. `make run PORT=...`: waits until the demo answers through nginx,
#      checks an output, stops it with SIGINT (Ctrl-C) and checks that
#      nothing it started is left running;
#   2. `make test`, in the other copy: must pass.
# Needs root, network access to a Debian mirror, and about 30 minutes.
# Environment: FRESH_DIR (the root; default /var/tmp/image-server-fresh,
# made anew each run), FRESH_MIRROR (http://deb.debian.org/debian),
# FRESH_PORT (17100), FRESH_KEEP=1 (keep the root afterwards).
# Ends with "fresh: N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
REPO=$PWD

. tests/e2e/check.sh
NAME=fresh

DIR=${FRESH_DIR:-/var/tmp/image-server-fresh}
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}
PORT=${FRESH_PORT:-17100}
LOG=$REPO/tests/out/fresh
RUN_PID=""
MOUNTS=()

# in_root ROOT CMD...: run CMD in the chroot ROOT, as root, with a plain
# environment.
in_root() {
	local root=$1
	shift
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# procs_inside ROOT: the processes whose root is ROOT (what it left running).
procs_inside() {
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$root" = "$1" ] && echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" | cut -c1-80)"
	done
}

# mount_root ROOT: ROOT a mount point of its own (as / is on a machine:
# unshare -m needs one), then /proc, /sys, /dev and /dev/pts inside it.
mount_root() {
	local m
	mount --bind "$1" "$1" || return 1
	MOUNTS+=("$1")
	for m in proc sys dev dev/pts; do
		mkdir -p "$1/$m"
		case $m in
		proc) mount -t proc proc "$1/proc" ;;
		*) mount --bind "/$m" "$1/$m" ;;
		esac || return 1
		MOUNTS+=("$1/$m")
	done
}

stack_stop() {
	local p r
	[ -n "$RUN_PID" ] && kill -KILL -- "-$RUN_PID" 2>/dev/null
	for r in "$DIR"/*; do
		for p in $(procs_inside "$r" | cut -d' ' -f1); do kill -KILL "$p" 2>/dev/null; done
	done
	for ((p = ${#MOUNTS[@]} - 1; p >= 0; p--)); do
		umount -l "${MOUNTS[$p]}" 2>/dev/null
	done
	[ "${FRESH_KEEP:-0}" = 1 ] || rm -rf --one-file-system "$DIR"
}
trap check_finish EXIT
trap 'fail "run to the end" "interrupted"; exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: needs root (chroot, mounts)" >&2; exit 1; }
mkdir -p "$LOG"
if ! command -v debootstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		debootstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
			-y -qq --no-install-recommends debootstrap; } >/dev/null 2>&1 ||
		die "debootstrap installs"
fi

# --- a new machine -------------------------------------------------------------
BASE=$DIR/base
rm -rf --one-file-system "$DIR"
mkdir -p "$DIR"
echo "# debootstrap into $BASE (log: $LOG/debootstrap.log)"
debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" >"$LOG/debootstrap.log" 2>&1 ||
	die "debootstrap --variant=minbase bookworm" "see $LOG/debootstrap.log"
pass "debootstrap --variant=minbase bookworm"
cp -L /etc/resolv.conf "$BASE/etc/resolv.conf"
# Debian's images say no to starting services from package scripts; so do
# we: the project starts its own servers.
printf '#!/bin/sh\nexit 101\n' >"$BASE/usr/sbin/policy-rc.d"
chmod +x "$BASE/usr/sbin/policy-rc.d"
mount_root "$BASE" || die "mounts in the root"
in_root "$BASE" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make git ca-certificates' \
	>"$LOG/make-git.log" 2>&1 || die "make and git install" "see $LOG/make-git.log"
for ((p = ${#MOUNTS[@]} - 1; p >= 0; p--)); do umount "${MOUNTS[$p]}"; done
MOUNTS=()
git clone -q --no-hardlinks "$REPO" "$BASE/root/image-server" || die "git clone"
pass "make and git installed, repository cloned ($(git rev-parse --short HEAD))"
RUN=$DIR/run TEST=$DIR/test
cp -a "$BASE" "$RUN" && cp -a "$BASE" "$TEST" && rm -rf --one-file-system "$BASE" ||
	die "two copies of the root"
mount_root "$RUN" && mount_root "$TEST" || die "mounts in the roots"

# --- make run ------------------------------------------------------------------
echo "# make run PORT=$PORT (log: $LOG/make-run.log)"
start=$(date +%s)
# Its own process group, as a terminal would make it, for the Ctrl-C (job
# control on: a background job would otherwise ignore SIGINT).
set -m
chroot "$RUN" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	sh -c "cd /root/image-server && exec make run PORT=$PORT" >"$LOG/make-run.log" 2>&1 &
RUN_PID=$!
set +m
up=0
for ((i = 0; i < 1800; i++)); do
	kill -0 "$RUN_PID" 2>/dev/null || break
	if grep -q 'image-server is running' "$LOG/make-run.log"; then up=1; break; fi
	sleep 1
done
if [ "$up" -eq 1 ]; then
	pass "make run: serving after $(($(date +%s) - start)) s"
	got=$(in_root "$RUN" sh -c "curl -s localhost:$PORT/user/avatar/3589782/w500.jpg | identify -format '%m %w %h' -")
	expect "make run: the README's first URL is a 500x375 JPEG" "$got" "JPEG 500 375"
	status=$(in_root "$RUN" curl -s -o /dev/null -w '%{http_code}' "localhost:$PORT/user/avatar/3589782/w500.jpg")
	expect "make run: the second request is served from the store" "$status" 200
else
	fail "make run: serving" "see $LOG/make-run.log"
fi
kill -INT -- "-$RUN_PID" 2>/dev/null
for ((i = 0; i < 150; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$RUN_PID" 2>/dev/null; then
	fail "make run: stops on Ctrl-C" "still running after 15 s"
else
	pass "make run: stops on Ctrl-C"
fi
wait "$RUN_PID" 2>/dev/null
RUN_PID=""
sleep 0.5
expect "make run: nothing of its own left running" "$(procs_inside "$RUN")" ""
if grep -q 'has died' "$LOG/make-run.log"; then
	fail "make run: Ctrl-C stops it, not a server's death" "$(grep 'has died' "$LOG/make-run.log")"
else
	pass "make run: Ctrl-C stops it, not a server's death"
fi

# --- make test -----------------------------------------------------------------
echo "# make test (log: $LOG/make-test.log)"
start=$(date +%s)
in_root "$TEST" sh -c 'cd /root/image-server && make test' >"$LOG/make-test.log" 2>&1
rc=$?
expect "make test: passes as the first command ($(($(date +%s) - start)) s)" "$rc" 0
grep -E '^[a-z_-]+: [0-9]+ passed, [0-9]+ failed' "$LOG/make-test.log" | sed 's/^/# /'
grep '^not ok' "$LOG/make-test.log" | sed 's/^/# /'
