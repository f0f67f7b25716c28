#!/bin/bash
# tests/e2e/test_firstrun.sh: `make run` and `make test` as the first
# command on a new machine, without a new machine.
#
# A copy of the repository is driven with a pkg-config that fails for the
# project's libraries until the install step has run (a stand-in for
# install-deps.sh that only leaves a mark), as on a machine where the
# Makefile is read before the -dev packages exist.  Each of `make run` and
# `make test` must then install and build in one invocation, with -j4.
# Also: a plain `make` with a library missing stops with one line naming
# its Debian package (no compiler error), and install-deps.sh's sets keep
# Apache, lighttpd, clang and wrk out of `make run`.  The real thing, on a
# debootstrap root, is `make fresh-check` (not in `make test`).
set -u

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD

. tests/e2e/check.sh
NAME=firstrun

OUT=$(mktemp -d /tmp/image-server-firstrun.XXXXXX) || exit 1
stack_stop() {
	if [ "$failed" -eq 0 ]; then rm -rf "$OUT"; else echo "firstrun: work files kept in $OUT"; fi
}
check_traps

REAL_PKG_CONFIG=$(command -v pkg-config) || { fail "pkg-config is installed" "not found"; exit 1; }
FAKE=$OUT/bin
mkdir -p "$FAKE"

# pkg-config as on a new machine: nothing of ours exists until the mark.
cat >"$FAKE/pkg-config" <<EOF
#!/bin/sh
[ -e "\$FIRSTRUN_MARK" ] && exec $REAL_PKG_CONFIG "\$@"
exit 1
EOF
# The install step: leaves the mark, after a pause in which a make that
# did not wait for it would already be compiling.
cat >"$FAKE/install-deps" <<'EOF'
#!/bin/sh
echo "install-deps $*" >>"$FIRSTRUN_LOG"
sleep 1
touch "$FIRSTRUN_MARK"
EOF
chmod +x "$FAKE/pkg-config" "$FAKE/install-deps"

# A make of its own: not the jobs or variables of a `make test` around us.
MAKE="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory"

# copy DIR: the working tree as git sees it (tracked and new files).
copy() {
	mkdir -p "$1"
	git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$1" 2>/dev/null
	[ -f "$1/Makefile" ]
}

# first GOAL DIR ARGS...: run `make -j4 GOAL ARGS` in a fresh copy with no
# mark yet; its output in DIR.log.
first() {
	local goal=$1 dir=$2
	shift 2
	copy "$dir" || return 1
	rm -f "$dir.mark"
	(cd "$dir" && PATH=$FAKE:$PATH FIRSTRUN_MARK=$dir.mark FIRSTRUN_LOG=$dir.deps \
		$MAKE -j4 "$goal" INSTALL_DEPS="$FAKE/install-deps" "$@" >"$dir.log" 2>&1)
}

# --- make run ---------------------------------------------------------------
first run "$OUT/run" RUN_STACK="touch $OUT/run.stack"
expect "make run: installs, builds and starts in one invocation" "$?" 0
expect "make run: asked for the run set" "$(cat "$OUT/run.deps" 2>/dev/null)" "install-deps run"
[ -x "$OUT/run/bin/image-server" ] && [ -x "$OUT/run/bin/images" ] &&
	pass "make run: built bin/image-server and bin/images" ||
	fail "make run: built bin/image-server and bin/images" "see $OUT/run.log"
[ -e "$OUT/run.stack" ] && pass "make run: started the stack after the build" ||
	fail "make run: started the stack after the build" "see $OUT/run.log"
if grep -q 'fatal error' "$OUT/run.log"; then
	fail "make run: no compiler error about a header" "see $OUT/run.log"
else
	pass "make run: no compiler error about a header"
fi

# --- make test ----------------------------------------------------------------
first test "$OUT/test" TEST_GOALS="all build-tests"
expect "make test: installs and builds the suite in one invocation" "$?" 0
expect "make test: asked for the test set" "$(cat "$OUT/test.deps" 2>/dev/null)" "install-deps test"
n=$(find "$OUT/test/build/tests" -maxdepth 1 -type f -name 'test_*' 2>/dev/null | wc -l)
want=$(ls tests/test_*.c | wc -l)
expect "make test: every unit test program built" "$n" "$want"

# --- a library still missing ------------------------------------------------
# Plain make installs nothing: with no mark, every library is missing.
rm -f "$OUT/test.mark"
(cd "$OUT/test" && make clean >/dev/null 2>&1 &&
	PATH=$FAKE:$PATH FIRSTRUN_MARK=$OUT/test.mark $MAKE -j4 >"$OUT/missing.log" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && pass "make with libraries missing fails" ||
	fail "make with libraries missing fails" "exit 0"
expect "make with libraries missing: names the Debian packages" \
	"$(grep -c 'missing libraries; install the Debian packages .*libhiredis-dev' "$OUT/missing.log")" 1
expect "make with libraries missing: no compile started" "$(grep -c 'fatal error\|  CC ' "$OUT/missing.log")" 0

# --- what each set installs -------------------------------------------------
# dpkg-query finds nothing installed; apt-get only writes down its packages.
APT=$OUT/apt
mkdir -p "$APT"
printf '#!/bin/sh\nexit 1\n' >"$APT/dpkg-query"
printf '#!/bin/sh\necho "$*" >>"$APT_LOG"\n' >"$APT/apt-get"
printf '#!/bin/sh\nexec "$@"\n' >"$APT/sudo"
chmod +x "$APT"/*
for set in run test; do
	PATH=$APT:$PATH APT_LOG=$OUT/apt-$set.log sh deploy/install-deps.sh "$set" 2>/dev/null
	expect "install-deps.sh $set exits 0" "$?" 0
done
has() { grep -qw -- "$2" "$OUT/apt-$1.log" 2>/dev/null; }
for p in nginx-light redis-server spawn-fcgi libhiredis-dev imagemagick; do
	has run "$p" && pass "run set installs $p" || fail "run set installs $p" "see $OUT/apt-run.log"
done
for p in clang apache2-bin lighttpd wrk; do
	has run "$p" && fail "run set leaves out $p" "it is there" || pass "run set leaves out $p"
done
for p in clang apache2-bin lighttpd manpages-dev procps libimage-exiftool-perl; do
	has test "$p" && pass "test set installs $p" || fail "test set installs $p" "see $OUT/apt-test.log"
done
has test wrk && fail "test set leaves out wrk" "it is there" || pass "test set leaves out wrk"
