# tests/e2e/lib.sh: the helpers the end-to-end scripts share, besides the
# checks themselves. check.sh sources it, so a script that sources check.sh
# has them all; a script without checks (tests/bench/bench.sh) may source
# it alone. Bash; free_ports and kill_server need deploy/stack.sh.
#
#   get PORT PATH [CURL_ARGS...]  one request to 127.0.0.1:PORT (or to
#                                 ADDR:PORT, given so); sets $code
#                                 and $took, body in $T/body, headers in
#                                 $T/headers
#   header NAME, headers NAME     a header's value in the last response; how
#                                 many NAME headers it had
#   status DESC PORT PATH WANT [CURL_ARGS...]
#                                 check: the responder answers WANT with its
#                                 one line of text
#   made DESC PORT PATH           check: a 200 made by the responder, with
#                                 the headers of the contract
#   shard ID                      the store's shard directories for ID
#   store_path STORE MODEL FIELD ID [NAME]
#                                 where the store keeps an id (or its NAME)
#   log_count HOW PATH LOG...     responder log lines: GET PATH, 200, HOW
#   rcli ARGS...                  redis-cli on 127.0.0.1:$RPORT
#   urlenc STRING                 STRING percent-encoded for a query value
#   json FILE PATH                a value of the JSON in FILE ("a.b.0.c")
#   free_ports BASE VAR...        free loopback ports, apart for each run
#   wait_until SECONDS CMD...     run CMD every 0.1 s until it succeeds
#   wait_line FILE REGEX [SECONDS], wait_file FILE [SECONDS]
#   kill_server PID               kill -9 one of our servers, as a crash
#
# The sourcing script sets T (a work directory) before it calls get,
# status or made, and RPORT before rcli. GET_MAX_TIME is get's curl
# --max-time (20 s unless set); a --max-time in CURL_ARGS overrides it for
# one request (curl takes the last).
#
# The checks (status, made) call pass and fail from check.sh.

# The Cache-Control of an output, made or served from the store.
IMMUTABLE="public, max-age=31536000, immutable"
# What the last get found (set here too, for scripts under set -u).
code="" took=""

# get PORT PATH [CURL_ARGS...]: request http://127.0.0.1:PORT/PATH as is
# (no dot-segment folding), or http://ADDR:PORT/PATH when PORT is given as
# ADDR:PORT (another host of tests/e2e/hosts.sh); sets $code (000 when
# nothing answered) and $took (seconds, as curl's time_total). The body
# is in $T/body, the
# headers in $T/headers; both are emptied first, so nothing of an earlier
# response is left in them.
get() {
	local to=$1 path=$2 r
	shift 2
	[[ $to == *:* ]] || to=127.0.0.1:$to
	: >"$T/body"
	: >"$T/headers"
	r=$(curl -s --path-as-is --max-time "${GET_MAX_TIME:-20}" -o "$T/body" \
		-D "$T/headers" -w '%{http_code} %{time_total}' "$@" \
		"http://$to$path")
	# shellcheck disable=SC2034 # took is for the caller
	code=${r% *} took=${r#* }
}

# header NAME: the value of header NAME in the last response ("" if none).
header() {
	grep -i "^$1:" "$T/headers" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

# headers NAME: how many NAME headers the last response had.
headers() {
	grep -c -i "^$1:" "$T/headers"
}

# status DESC PORT PATH WANT [CURL_ARGS...]: check that the responder
# answers WANT with its one line of text, not a web server's own error
# page: a body of exactly one non-empty line, without "<html".
status() {
	local desc=$1 port=$2 path=$3 want=$4
	shift 4
	get "$port" "$path" "$@"
	if [ "$code" != "$want" ]; then
		fail "$desc: $want" "GET $path: $code $(head -c 200 "$T/body" | tr '\n' ' ')"
	elif [ ! -s "$T/body" ] || [ "$(wc -l <"$T/body")" -ne 1 ] ||
		grep -qi '<html' "$T/body"; then
		fail "$desc: $want" "body is not one line of text: $(head -c 200 "$T/body" | tr '\n' '|')"
	else
		pass "$desc: $want ($(tr -d '\n' <"$T/body"))"
	fi
}

# made DESC PORT PATH: check that the first request for PATH is a 200 made
# by the responder with the headers the contract promises: X-Image-Server:
# made, the body's Content-Length, and one Cache-Control, $IMMUTABLE.
# Returns 1 if not. Leaves the body in $T/made.
made() {
	local desc=$1 port=$2 path=$3 size
	get "$port" "$path"
	cp "$T/body" "$T/made"
	if [ "$code" != 200 ]; then
		fail "$desc: 200 from the responder" "GET $path: $code $(head -c 200 "$T/body")"
		return 1
	fi
	size=$(stat -c %s "$T/body")
	if [ "$(header X-Image-Server)" = made ] &&
		[ "$(header Content-Length)" = "$size" ] &&
		[ "$(header Cache-Control)" = "$IMMUTABLE" ] && [ "$(headers Cache-Control)" = 1 ]; then
		pass "$desc: 200 made by the responder"
	else
		fail "$desc: 200 made by the responder" "GET $path: X-Image-Server '$(header X-Image-Server)', Content-Length '$(header Content-Length)' for $size bytes, $(headers Cache-Control) Cache-Control '$(header Cache-Control)'"
		return 1
	fi
}

# shard ID: the store's shard directories for ID, "s1/s2": the id's last
# two characters, then the two before them, the id padded on the left
# with "_" to four.
shard() {
	local p=$1
	while [ ${#p} -lt 4 ]; do p=_$p; done
	echo "${p: -2}/${p: -4:2}"
}

# store_path STORE MODEL FIELD ID [NAME]: the directory of an id in the
# store STORE, or its file NAME (original, w300.jpg, ...).
store_path() {
	echo "$1/$2/$3/$(shard "$4")/$4${5:+/$5}"
}

# log_count HOW PATH LOG...: how many lines of the responder logs LOG... say
# that GET PATH was answered 200 by HOW: made (this process made it),
# waited (another made it meanwhile) or store (it was there already).
# A log line: TIME LEVEL METHOD PATH STATUS BYTES MS HOW.
log_count() {
	local how=$1 path=$2
	shift 2
	cat "$@" | awk -v how="$how" -v path="$path" \
		'$3 == "GET" && $4 == path && $5 == 200 && $NF == how { n++ } END { print n + 0 }'
}

# rcli ARGS...: redis-cli against the run's Redis, 127.0.0.1:$RPORT.
rcli() {
	redis-cli -h 127.0.0.1 -p "$RPORT" "$@"
}

# urlenc STRING: STRING with every byte but A-Z a-z 0-9 . _ ~ - written as
# %XX, for a query value such as POST's source= (perl's core only).
urlenc() {
	perl -e '$_ = $ARGV[0]; s/([^A-Za-z0-9._~-])/sprintf("%%%02X", ord $1)/ge; print' "$1"
}

# json FILE PATH: the value at PATH (keys and array indexes joined by
# dots: "queue.waiting", "errors.0.path") of the JSON document in FILE,
# printed as is (a string without quotes, an object or array as JSON);
# "" when there is none.
json() {
	perl -MJSON::PP -e '
		local $/; open(my $f, "<", $ARGV[0]) or exit 1;
		my $v = eval { JSON::PP->new->allow_nonref->decode(<$f>) };
		for my $k (split /\./, $ARGV[1]) {
			$v = ref $v eq "ARRAY" ? $v->[$k] : ref $v eq "HASH" ? $v->{$k} : undef;
		}
		print ref $v ? JSON::PP->new->canonical->encode($v) :
			JSON::PP::is_bool($v) ? ($v ? "true" : "false") : $v // "";' "$1" "$2"
}

# slowdown: how many times slower than a plain build the programs under test
# run: 5 under ThreadSanitizer (make SANITIZER=thread check passes
# SANITIZER on), else 1. For the few checks that count work done in a
# window of time, not for timeouts that bound a wait.
slowdown() {
	case ${SANITIZER:-} in thread) echo 5 ;; *) echo 1 ;; esac
}

# free_ports BASE VAR...: set each VAR to a free loopback port: the first
# at or above BASE plus a step that depends on our pid (so that runs in
# parallel start apart), each next one above the one before. A server
# that then finds its port taken fails to start (deploy/stack.sh). The
# ports stay below 32768, where Linux's ephemeral ports begin: there a
# client's connection (a replica's to its master, nginx's to a source)
# can take a port between our check and the server's bind. So BASE is at
# most 28000.
free_ports() {
	local base=$1 v
	local port=$((base + ($$ % 400) * 10))
	shift
	if ((port + 10 * $# >= 32768)); then
		echo "free_ports: base $base reaches the ephemeral ports" >&2
		port=$((20000 + ($$ % 400) * 10))
	fi
	for v in "$@"; do
		port=$(stack_free_port "$port")
		printf -v "$v" %s "$port"
		port=$((port + 1))
	done
}

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds (true)
# or SECONDS (whole) have passed (false).
wait_until() {
	local n=$(($1 * 10))
	shift
	while ((n-- > 0)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_line FILE REGEX [SECONDS]: wait up to SECONDS (5) for a line of FILE
# to match the basic REGEX.
wait_line() {
	wait_until "${3:-5}" grep -q -s -- "$2" "$1"
}

# wait_file FILE [SECONDS]: wait up to SECONDS (15) for FILE to exist and
# not be empty.
wait_file() {
	wait_until "${2:-15}" test -s "$1"
}

# kill_server PID: kill -9 a server we started, as a crash would, wait for
# it, and take it out of deploy/stack.sh's lists (stack_alive, stack_stop).
kill_server() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	stack_forget "$1"
}
